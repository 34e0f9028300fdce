"""The one write path of the catalogue (core.catalogue): one content-hash rule for the API
and the import, one audit row and one catalogue version per write, nothing for a no-op."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.security import create_key
from api.wiring import build_services
from core.catalogue import content_hash, entry_fields
from core.config import Settings
from core.db import Database, catalogue_version
from core.models import AuditLog, Solution
from ingest.importers import import_rows

#: A whole entry: every field that defines a solution, as an import row or an API body.
ENTRY: dict[str, Any] = {
    "external_id": "velo-cargo",
    "title": "Vélos cargo partagés",
    "mission": "Livrer le dernier kilomètre sans moteur",
    "description": "Une flotte de vélos cargo pour les services municipaux.",
    "themes": ["Mobilité"],
    "usertypes": ["Collectivité territoriale"],
    "target_kinds": ["commune", "epci"],
    "target_size_bands": ["2k-10k"],
    "maturity": "pilot",
    "phase": None,
    "pricing_model": "abonnement",
    "references": ["Dole"],
    "website": "https://example.org/velo",
    "contact": None,
    "organisation_name": "Vélo SAS",
    "status": "published",
}


def _client(settings: Settings, db: Database) -> tuple[TestClient, dict[str, str]]:
    services = build_services(settings, db=db, ready=False)
    with db.session() as session:
        _, key = create_key(session, name="catalogue-test")
    client = TestClient(create_app(settings, services, load_indexes=False))
    return client, {"X-API-Key": key}


def _stored(db: Database, external_id: str) -> tuple[str, dict[str, Any], int]:
    """The stored hash and fields of an entry, and the catalogue version."""
    with db.session() as session:
        sol = session.scalars(select(Solution).where(Solution.external_id == external_id)).one()
        return sol.content_hash, entry_fields(sol), catalogue_version(session)


def _audit_actions(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_the_api_and_the_import_hash_an_entry_alike(settings: Settings, db: Database) -> None:
    client, headers = _client(settings, db)
    with client:
        assert client.post("/api/admin/solutions", json=ENTRY, headers=headers).status_code == 201
    digest, fields, version = _stored(db, ENTRY["external_id"])
    assert fields == ENTRY and digest == content_hash(ENTRY)
    with db.session() as session:  # the same entry in a file: nothing to write
        summary = import_rows(session, "catalogue", [dict(ENTRY)])
    assert (summary.created, summary.updated, summary.unchanged) == (0, 0, 1)
    assert _stored(db, ENTRY["external_id"]) == (digest, fields, version)

    # imported first, the entry has the hash the API would give it
    other = {**ENTRY, "external_id": "velo-cargo-2"}
    with db.session() as session:
        assert import_rows(session, "catalogue", [other]).created == 1
    assert _stored(db, "velo-cargo-2")[0] == content_hash(other)


def test_an_unchanged_reimport_does_nothing(settings: Settings, db: Database) -> None:
    rows = [
        {"external_id": "a", "title": "Éclairage public intelligent", "themes": ["Énergie"]},
        {"external_id": "b", "title": "Fuites d'eau", "maturity": "deployed"},
    ]
    with db.session() as session:
        first = import_rows(session, "catalogue", [dict(r) for r in rows])
        version = catalogue_version(session)
    assert first.created == 2
    with db.session() as session:
        again = import_rows(session, "catalogue", [dict(r) for r in rows])
        assert catalogue_version(session) == version
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


def test_each_write_leaves_one_audit_row_and_one_version(settings: Settings, db: Database) -> None:
    client, headers = _client(settings, db)
    url = f"/api/admin/solutions/{ENTRY['external_id']}"
    writes = [
        ("create", lambda: client.post("/api/admin/solutions", json=ENTRY, headers=headers)),
        ("update", lambda: client.patch(url, json={"title": "Vélos cargo"}, headers=headers)),
        (
            "qualify",
            lambda: client.post(
                f"{url}/qualify", json={"level": "qualified", "reason": "vu"}, headers=headers
            ),
        ),
        ("archive", lambda: client.delete(url, headers=headers)),
    ]
    with client:
        with db.session() as session:
            version = catalogue_version(session)
        for action, write in writes:
            assert write().status_code in (200, 201), action
            digest, fields, now = _stored(db, ENTRY["external_id"])
            assert _audit_actions(db)[-1] == action and now == version + 1, action
            assert digest == content_hash(fields), action
            version = now
        assert _audit_actions(db) == [action for action, _ in writes]
        # writes that change nothing: no audit row, no new version
        assert client.patch(url, json={"title": "Vélos cargo"}, headers=headers).status_code == 200
        assert client.delete(url, headers=headers).status_code == 200
    assert _audit_actions(db) == [action for action, _ in writes]
    assert _stored(db, ENTRY["external_id"])[2] == version
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == len(writes)
