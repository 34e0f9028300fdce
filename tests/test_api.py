"""HTTP API on a real SQLite database (TestClient): auth, limits, CRUD, moderation,
qualification audit trail, exports round trip, analytics, CLI keys.

These tests never load the model: the indexes are not loaded (``load_indexes=False``),
so writes only bump the catalogue version and searches are tested in
``test_api_search.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.app import create_app
from api.security import KeyRing, create_key, open_session, revoke_key
from api.wiring import Services, build_services
from core.config import Settings
from core.db import Database, catalogue_version
from core.domain import IntroStatus, Moderation, NeedStatus, Role, SolutionStatus
from core.models import (
    AdminSession,
    AuditLog,
    ChatIdentity,
    Experience,
    Introduction,
    IntroductionEvent,
    MatchEvent,
    Need,
    Outbox,
    Person,
    Solution,
    utcnow,
)

# --------------------------------------------------------------------------- helpers


def _services(settings: Settings, db: Database) -> Services:
    return build_services(settings, db=db, ready=False)


def _client(settings: Settings, db: Database) -> TestClient:
    return TestClient(create_app(settings, _services(settings, db), load_indexes=False))


def _key(db: Database, name: str = "incubateur-test") -> str:
    with db.session() as session:
        _, key = create_key(session, name=name)
    return key


def _solution_rows(n: int, prefix: str = "sol") -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"{prefix}-{i:03d}",
            "title": f"Solution {i:03d} éclairage public",
            "mission": "Réduire la facture d'éclairage des petites communes",
            "themes": ["Énergie", "Éclairage"] if i % 2 else ["Mobilité"],
            "target_kinds": ["commune"],
            "maturity": "pilot",
            "website": f"https://example.org/{i}",
        }
        for i in range(n)
    ]


def _pending(db: Database, external_id: str, title: str) -> tuple[int, int]:
    """A chat registration waiting for moderation, submitted by a start-up person."""
    with db.session() as session:
        person = Person(role=Role.STARTUP, display_name="Start-up founder")
        person.identities.append(ChatIdentity(transport="terminal", external_id=external_id))
        session.add(person)
        session.flush()
        sol = Solution(
            external_id=external_id,
            title=title,
            mission="Capteurs de qualité de l'air pour écoles",
            source="chat",
            moderation=Moderation.PENDING,
            status=SolutionStatus.PUBLISHED,
            submitted_by_id=person.id,
        )
        session.add(sol)
        session.flush()
        return sol.id, person.id


@pytest.fixture
def _api(settings: Settings, db: Database) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with _client(settings, db) as client:
        yield client, {"X-API-Key": _key(db)}


def _import(client: TestClient, headers: dict[str, str], rows: list[dict[str, Any]]) -> Any:
    response = client.post("/api/admin/import/catalogue", json=rows, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- auth


def test_admin_requires_a_valid_unrevoked_key(settings: Settings, db: Database) -> None:
    env_settings = settings.model_copy(update={"admin_api_keys": ["piu_from-the-environment"]})
    with _client(env_settings, db) as client:
        url = "/api/admin/moderation"
        missing = client.get(url)
        assert missing.status_code == 401
        assert "missing API key" in missing.json()["detail"]
        assert client.get(url, headers={"X-API-Key": "piu_wrong"}).status_code == 401
        assert client.get(url, headers={"X-API-Key": "x" * 5000}).status_code == 401

        key = _key(db, "lyon")
        assert client.get(url, headers={"X-API-Key": key}).status_code == 200
        assert client.get(url, headers={"X-API-Key": "piu_from-the-environment"}).status_code == 200

        with db.session() as session:
            revoke_key(session, name_or_prefix="lyon")
        revoked = client.get(url, headers={"X-API-Key": key})
        assert revoked.status_code == 401
        assert revoked.json() == {"detail": "API key revoked"}
        # the login cookie holds a session token, never a key: a key there is refused
        client.cookies.set("piu_admin", _key(db, "cookie"))
        assert client.get(url).status_code == 401
        # a session opens reads; a write with the cookie only is refused (no CSRF)
        with db.session() as session:
            keyring = KeyRing(env_settings)
            token, principal = open_session(session, keyring, _key(db, "web"), seconds=60)
        assert principal.name == "web"
        client.cookies.set("piu_admin", token)
        assert client.get(url).status_code == 200
        assert client.post("/api/admin/solutions", json={}).status_code == 401


def test_keys_are_stored_hashed(db: Database) -> None:
    with db.session() as session:
        row, key = create_key(session, name="nantes")
        assert key.startswith("piu_") and len(key) > 40
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
        with pytest.raises(ValueError, match="already exists"):
            create_key(session, name="nantes")


# --------------------------------------------------------------------------- limits


def test_validation_errors_are_422_with_json_detail(_api) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    too_long = {"external_id": "x1", "title": "t" * 301}
    response = client.post("/api/admin/solutions", json=too_long, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "title"
    for bad in (
        {"external_id": "x1", "title": "ok", "unknown": 1},
        {"external_id": "x1", "title": "ok", "maturity": "great"},
        {"external_id": "a/b", "title": "ok"},
        {"external_id": "x1", "title": "ok", "description": "d" * 20001},
        {"external_id": "x1", "title": "ok", "themes": ["t"] * 51},
    ):
        assert client.post("/api/admin/solutions", json=bad, headers=headers).status_code == 422
    rex = {"external_id": "r1", "title": "ok", "contact_role": "jean@ville.fr"}
    assert client.post("/api/admin/rex", json=rex, headers=headers).status_code == 422
    q = client.get("/api/solutions", params={"q": "x" * 1001})
    assert q.status_code == 422


def test_body_limit_is_413(settings: Settings, db: Database) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1_000})
    with _client(small, db) as client:
        headers = {"X-API-Key": _key(db)}
        body = json.dumps(_solution_rows(50)).encode()
        declared = client.post(
            "/api/admin/import/catalogue",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert declared.status_code == 413
        assert "too large" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(body), 100):
                yield body[i : i + 100]

        streamed = client.post(
            "/api/admin/import/catalogue",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Solution)) == 0


def test_rate_limit_per_ip_and_key(settings: Settings, db: Database) -> None:
    limited = settings.model_copy(update={"api_rate_limit_per_minute": 3})
    with _client(limited, db) as client:
        for _ in range(3):
            assert client.get("/api/rex").status_code == 200
        blocked = client.get("/api/rex")
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) >= 1
        assert "rate limit" in blocked.json()["detail"]
        assert client.get("/docs").status_code == 200  # docs are not limited


def test_pagination(_api) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    _import(client, headers, _solution_rows(25))
    page = client.get("/api/solutions", params={"limit": 10, "offset": 20}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (25, 10, 20, 5)
    titles = [
        s["title"] for s in client.get("/api/solutions", params={"limit": 100}).json()["items"]
    ]
    assert titles == sorted(titles)
    themed = client.get("/api/solutions", params={"theme": "energie", "limit": 5}).json()
    assert themed["total"] == 12 and len(themed["items"]) == 5
    assert client.get("/api/solutions", params={"limit": 101}).status_code == 422
    assert client.get("/api/solutions", params={"offset": -1}).status_code == 422
    admin_page = client.get("/api/admin/solutions", params={"limit": 3}, headers=headers).json()
    assert admin_page["total"] == 25 and len(admin_page["items"]) == 3


# --------------------------------------------------------------------------- CRUD


def test_solution_crud_and_archive(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    body = {"external_id": "lum-1", "title": "Lumio", "themes": ["Énergie"]}
    created = client.post("/api/admin/solutions", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["trust_level"] == "declared"
    assert client.post("/api/admin/solutions", json=body, headers=headers).status_code == 409
    patched = client.patch(
        "/api/admin/solutions/lum-1", json={"mission": "Moins de lumière"}, headers=headers
    )
    assert patched.json()["mission"] == "Moins de lumière"
    assert patched.json()["themes"] == ["Énergie"]
    replaced = client.put("/api/admin/solutions/lum-1", json={"title": "Lumio 2"}, headers=headers)
    assert replaced.json()["themes"] == [] and replaced.json()["title"] == "Lumio 2"
    assert client.get("/api/solutions/lum-1").status_code == 200
    version = client.get("/api/health").json()["catalogue_version"]
    archived = client.delete("/api/admin/solutions/lum-1", headers=headers)
    assert archived.json()["status"] == "archived"
    assert client.get("/api/health").json()["catalogue_version"] > version
    assert client.get("/api/solutions/lum-1").status_code == 404
    assert client.get("/api/admin/solutions/lum-1", headers=headers).status_code == 200
    assert client.patch("/api/admin/solutions/nope", json={}, headers=headers).status_code == 404
    actions = [
        a["action"]
        for a in client.get("/api/admin/solutions/lum-1/audit", headers=headers).json()["items"]
    ]
    assert actions == ["create", "update", "update", "archive"]


def test_rex_crud_exposes_no_person(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    _import(client, headers, _solution_rows(1))
    rex = {
        "external_id": "rex-1",
        "title": "Extinction nocturne à Dole",
        "solution_external_id": "sol-000",
        "outcome": "success",
        "dep": "39",
        "contact_role": "Directeur des services techniques",
    }
    created = client.post("/api/admin/rex", json=rex, headers=headers)
    assert created.status_code == 201, created.text
    bad_link = {**rex, "external_id": "rex-2", "solution_external_id": "nope"}
    assert client.post("/api/admin/rex", json=bad_link, headers=headers).status_code == 409
    with db.session() as session:
        person = Person(display_name="Jeanne Secret", email="jeanne@secret.fr")
        session.add(person)
        session.flush()
        row = session.scalar(select(Experience).where(Experience.external_id == "rex-1"))
        assert row is not None
        row.contact_person_id = person.id
    public = client.get("/api/rex/rex-1").json()
    assert public["solution_external_id"] == "sol-000"
    text = json.dumps(public) + client.get("/api/rex", params={"dep": "39"}).text
    assert "Jeanne" not in text and "secret.fr" not in text and "contact_person" not in text
    assert client.get("/api/rex", params={"outcome": "failed"}).json()["total"] == 0
    patched = client.patch("/api/admin/rex/rex-1", json={"outcome": "stopped"}, headers=headers)
    assert patched.json()["outcome"] == "stopped"
    assert client.delete("/api/admin/rex/rex-1", headers=headers).status_code == 204
    assert client.get("/api/rex/rex-1").status_code == 404
    with db.session() as session:
        snapshot = session.scalar(select(AuditLog).where(AuditLog.action == "delete"))
        assert snapshot is not None and snapshot.detail["snapshot"]["title"].startswith(
            "Extinction"
        )


# --------------------------------------------------------------------------- qualification


def test_qualification_audit_trail(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    _import(client, headers, _solution_rows(1))
    url = "/api/admin/solutions/sol-000/qualify"
    first = client.post(
        url, json={"level": "qualified", "reason": "Démo vue en atelier"}, headers=headers
    )
    assert first.status_code == 200, first.text
    second = client.post(
        url,
        json={"level": "pilot_confirmed", "reason": "Pilote confirmé par la mairie de Dole"},
        headers=headers,
    )
    assert second.json()["detail"] == {
        "from": "qualified",
        "to": "pilot_confirmed",
        "reason": "Pilote confirmé par la mairie de Dole",
    }
    assert (
        client.post(url, json={"level": "gold", "reason": "x"}, headers=headers).status_code == 422
    )
    assert client.post(url, json={"level": "qualified"}, headers=headers).status_code == 422
    assert (
        client.post(
            url, json={"level": "qualified", "reason": "r" * 1001}, headers=headers
        ).status_code
        == 422
    )
    assert client.get("/api/solutions/sol-000").json()["trust_level"] == "pilot_confirmed"
    trail = client.get("/api/admin/solutions/sol-000/audit", headers=headers).json()
    qualify = [e for e in trail["items"] if e["action"] == "qualify"]
    assert [e["detail"]["to"] for e in qualify] == ["qualified", "pilot_confirmed"]
    assert {e["actor"] for e in qualify} == {"incubateur-test"}
    assert all(dt.datetime.fromisoformat(e["at"]) for e in qualify)
    assert client.get("/api/solutions", params={"trust": "pilot_confirmed"}).json()["total"] == 1


# --------------------------------------------------------------------------- moderation


def test_moderation_approve_reject_merge(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    _import(client, headers, _solution_rows(1))
    _, approved_by = _pending(db, "chat-1", "AirÉcole")
    _, rejected_by = _pending(db, "chat-2", "Spam Inc")
    _pending(db, "chat-3", "Solution 000 éclairage (doublon)")
    queue = client.get("/api/admin/moderation", headers=headers).json()
    assert [s["external_id"] for s in queue["items"]] == ["chat-1", "chat-2", "chat-3"]

    ok = client.post("/api/admin/moderation/chat-1/approve", headers=headers)
    assert ok.status_code == 200 and ok.json()["moderation"] == "approved"
    again = client.post("/api/admin/moderation/chat-1/approve", headers=headers)
    assert again.status_code == 409 and "not waiting" in again.json()["detail"]

    assert (
        client.post("/api/admin/moderation/chat-2/reject", json={}, headers=headers).status_code
        == 422
    )
    rejected = client.post(
        "/api/admin/moderation/chat-2/reject",
        json={"reason": "Hors sujet : pas une solution pour les collectivités"},
        headers=headers,
    )
    assert rejected.json()["moderation"] == "rejected"
    assert client.get("/api/solutions/chat-2").status_code == 404

    assert (
        client.post(
            "/api/admin/moderation/chat-3/merge", json={"into": "nope"}, headers=headers
        ).status_code
        == 404
    )
    merged = client.post(
        "/api/admin/moderation/chat-3/merge", json={"into": "sol-000"}, headers=headers
    )
    body = merged.json()
    assert (body["moderation"], body["status"], body["merged_into"]) == (
        "merged",
        "archived",
        "sol-000",
    )
    assert client.get("/api/solutions/chat-3").status_code == 404
    assert client.get("/api/admin/moderation", headers=headers).json()["total"] == 0

    with db.session() as session:
        outbox = {o.person_id: o.payload for o in session.scalars(select(Outbox))}
    assert outbox[rejected_by] == {
        "key": "moderation_rejected",
        "params": {
            "title": "Spam Inc",
            "reason": "Hors sujet : pas une solution pour les collectivités",
        },
    }
    assert outbox[approved_by]["key"] == "moderation_approved"


# --------------------------------------------------------------------------- import, export


def test_import_is_all_or_nothing(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    rows = _solution_rows(3)
    rows[1]["title"] = ""
    response = client.post("/api/admin/import/catalogue", json=rows, headers=headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["message"] == "nothing was imported"
    assert any("item 2" in p and "title" in p for p in detail["problems"])
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Solution)) == 0
    bad = client.post(
        "/api/admin/import/catalogue",
        content=b"not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert bad.status_code == 422
    assert client.post("/api/admin/import/nope", json=rows, headers=headers).status_code == 404
    csv_body = "external_id;title;themes\ncsv-1;Depuis un CSV;Énergie|Eau\n".encode()
    imported = client.post(
        "/api/admin/import/catalogue",
        content=csv_body,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert imported.json()["created"] == 1
    assert client.get("/api/solutions/csv-1").json()["themes"] == ["Énergie", "Eau"]


def _export(client: TestClient, headers: dict[str, str], name: str) -> Any:
    response = client.get(f"/api/admin/export/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_export_round_trip_through_import(  # type: ignore[no-untyped-def]
    _api, settings: Settings, tmp_path
) -> None:
    client, headers = _api
    rows = _solution_rows(4)
    rows[0]["description"] = 'Texte avec "guillemets", virgules; et\nretour à la ligne'
    _import(client, headers, rows)
    client.post(
        "/api/admin/solutions/sol-001/qualify",
        json={"level": "qualified", "reason": "vu"},
        headers=headers,
    )
    client.delete("/api/admin/solutions/sol-002", headers=headers)
    client.post(
        "/api/admin/rex",
        json={"external_id": "rex-1", "title": "REX", "solution_external_id": "sol-000",
              "contact_consent": True, "population": 1200, "links": ["https://a.fr"]},
        headers=headers,
    )  # fmt: skip
    sol_json = _export(client, headers, "solutions.json").json()
    sol_csv = _export(client, headers, "solutions.csv")
    assert sol_csv.headers["content-type"].startswith("text/csv")
    assert next(csv.reader(io.StringIO(sol_csv.text)))[0] == "external_id"
    rex_json = _export(client, headers, "rex.json").json()
    rex_csv = _export(client, headers, "rex.csv").text
    assert {s["trust_level"] for s in sol_json} == {"declared", "qualified"}

    # a fresh database: CSV in, same JSON out (solutions and REX)
    for fmt in ("csv", "json"):
        other = settings.model_copy(
            update={"database_url": f"sqlite:///{tmp_path / f'other-{fmt}.sqlite3'}"}
        )
        other_db = Database(other.database_url or "")
        with _client(other, other_db) as fresh:
            fresh_headers = {"X-API-Key": _key(other_db)}
            if fmt == "csv":
                sol_body, rex_body, media = sol_csv.text, rex_csv, "text/csv"
            else:
                sol_body, rex_body, media = (
                    json.dumps(sol_json),
                    json.dumps(rex_json),
                    ("application/json"),
                )
            for kind, body in (("catalogue", sol_body), ("rex", rex_body)):
                result = fresh.post(
                    f"/api/admin/import/{kind}",
                    content=body.encode(),
                    headers={**fresh_headers, "Content-Type": media},
                )
                assert result.status_code == 200, result.text
            assert _export(fresh, fresh_headers, "solutions.json").json() == sol_json
            assert _export(fresh, fresh_headers, "rex.json").json() == rex_json
        other_db.dispose()

    # and the export re-imports into the database it came from without changing anything
    again = client.post(
        "/api/admin/import/catalogue", content=sol_csv.text.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )  # fmt: skip
    assert again.status_code == 200
    assert _export(client, headers, "solutions.json").json() == sol_json


# --------------------------------------------------------------------------- needs, analytics


def _activity(db: Database) -> dict[str, int]:
    """Needs, introductions (one stalled, one queued), match events, a REX on a need."""
    now = utcnow()
    with db.session() as session:
        person = Person(role=Role.BUYER, display_name="Acheteuse", email="a@ville.fr")
        session.add(person)
        pilot_sol = Solution(external_id="pilot-sol", title="Pilot", trust_level="pilot_confirmed")
        plain_sol = Solution(external_id="plain-sol", title="Plain")
        session.add_all([pilot_sol, plain_sol])
        session.flush()
        needs = [
            Need(
                owner_id=person.id,
                raw_text=f"besoin {i}",
                themes=["Énergie"] if i % 2 else ["Mobilité"],
                size_band="2k-10k" if i < 3 else "50k-200k",
                dep="39" if i < 2 else "69",
                status=NeedStatus.OPEN,
                created_at=now - dt.timedelta(days=7 * i),
            )
            for i in range(6)
        ]
        session.add_all(needs)
        session.flush()
        intros = [
            Introduction(need_id=needs[0].id, solution_id=pilot_sol.id,
                         status=IntroStatus.ACCEPTED, created_at=now),
            Introduction(need_id=needs[1].id, solution_id=plain_sol.id,
                         status=IntroStatus.ACCEPTED, created_at=now),
            Introduction(need_id=needs[2].id, solution_id=plain_sol.id,
                         status=IntroStatus.DECLINED, created_at=now),
            Introduction(need_id=needs[3].id, solution_id=plain_sol.id,
                         status=IntroStatus.REQUESTED, target_label="Ville de Lons",
                         created_at=now - dt.timedelta(days=20)),
            Introduction(need_id=needs[4].id, solution_id=plain_sol.id,
                         status=IntroStatus.QUEUED, target_label="Mairie de Dole",
                         created_at=now - dt.timedelta(days=2)),
        ]  # fmt: skip
        session.add_all(intros)
        session.add(Experience(external_id="rex-need", title="REX", need_id=needs[5].id))
        session.add_all(
            MatchEvent(need_id=needs[0].id, solution_id=plain_sol.id, rank=r, score=0.5)
            for r in range(3)
        )
        session.flush()
        return {"queued": intros[4].id, "accepted": intros[0].id}


def test_needs_and_introductions(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    ids = _activity(db)
    needs = client.get("/api/admin/needs", params={"dep": "39"}, headers=headers).json()
    assert needs["total"] == 2
    assert "email" not in json.dumps(needs) and "a@ville.fr" not in json.dumps(needs)
    by_theme = client.get("/api/admin/needs", params={"theme": "ENERGIE"}, headers=headers)
    assert by_theme.json()["total"] == 3
    band = client.get("/api/admin/needs", params={"size_band": "2k-10k"}, headers=headers)
    assert band.json()["total"] == 3
    assert (
        client.get("/api/admin/needs", params={"size_band": "huge"}, headers=headers).status_code
        == 422
    )
    queued = client.get("/api/admin/introductions", params={"status": "queued"}, headers=headers)
    assert [i["id"] for i in queued.json()["items"]] == [ids["queued"]]

    url = f"/api/admin/introductions/{ids['queued']}"
    relayed = client.patch(
        url, json={"status": "accepted", "note": "Appel le 3/11"}, headers=headers
    )
    assert relayed.status_code == 200 and relayed.json()["status"] == "accepted"
    assert client.patch(url, json={"status": "declined"}, headers=headers).status_code == 409
    not_queued = f"/api/admin/introductions/{ids['accepted']}"
    assert client.patch(not_queued, json={"status": "declined"}, headers=headers).status_code == 409
    assert (
        client.patch(
            "/api/admin/introductions/999", json={"status": "accepted"}, headers=headers
        ).status_code
        == 404
    )
    with db.session() as session:
        event = session.scalar(
            select(IntroductionEvent).where(IntroductionEvent.introduction_id == ids["queued"])
        )
        assert event is not None and event.status == IntroStatus.ACCEPTED
        assert event.note == "relayed by incubateur-test: Appel le 3/11"

    intro_csv = _export(client, headers, "introductions.csv").text
    needs_json = _export(client, headers, "needs.json").json()
    assert len(needs_json) == 6 and "owner_id" not in needs_json[0]
    assert "a@ville.fr" not in intro_csv


def test_funnel_json_csv_and_page(_api, db: Database, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from tests.test_followups import _funnel_world

    client, headers = _api
    _activity(db)  # hand-made needs and a stalled request (no requester need: not counted)
    _funnel_world(db, settings)  # requests, answers and follow-ups through the product
    funnel = client.get("/api/admin/analytics/funnel", headers=headers).json()
    counts = {s["stage"]: s["count"] for s in funnel["stages"]}
    # 6 + 4 needs; 3 asked the start-up, 2 accepted, 1 pilot, 1 contract
    assert counts == {"need": 10, "introduction": 3, "accepted": 2, "pilot": 1, "contract": 1}
    assert funnel["stages"][3]["rate_from_previous"] == 0.5
    future = client.get(
        "/api/admin/analytics/funnel", params={"since": "2999-01-01"}, headers=headers
    )
    assert future.json()["stages"][0]["count"] == 0
    as_csv = client.get("/api/admin/analytics/funnel.csv", headers=headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "stage,count,rate_from_previous,rate_from_start"
    assert lines[4].startswith("pilot,1,0.5000,")
    assert lines[5].startswith("contract,1,1.0000,")
    stalled = client.get("/api/admin/analytics/stalled-pilots", headers=headers).json()
    assert stalled["weeks"] == settings.stalled_pilot_weeks and stalled["total"] == 0

    page = client.get("/admin/analytics", headers=headers)
    assert page.status_code == 200
    assert page.text.count("<svg") == 6
    assert "Ville de Lons" in page.text  # the stalled introduction (20 days)
    assert 'id="stalled-pilots"' in page.text
    for external in ("<script", "<link", "src=", "url(http", 'href="http'):
        assert external not in page.text.replace('href="/', "")  # nothing loaded from outside
    assert client.get("/admin/analytics").status_code == 401


def test_analytics_login_cookie(_api) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    refused = client.post(
        "/admin/login",
        content=b"key=piu_wrong",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert refused.status_code == 401
    logged = client.post(
        "/admin/login",
        content=f"key={headers['X-API-Key']}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    cookie = logged.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    token = client.cookies["piu_admin"]
    assert token and headers["X-API-Key"] not in cookie  # the key never leaves the form
    assert client.get("/admin/analytics").status_code == 200
    assert client.get("/api/admin/analytics/funnel.csv").status_code == 200
    client.get("/admin/logout")
    assert client.get("/admin/analytics").status_code == 401
    # logging out ends the session on the server: the old cookie, replayed, is refused
    client.cookies.set("piu_admin", token)
    assert client.get("/admin/analytics").status_code == 401
    assert client.get("/api/admin/analytics/funnel.csv").status_code == 401


def test_login_session_ends_with_its_key_and_its_time(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, headers = _api
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    client.post("/admin/login", content=f"key={headers['X-API-Key']}".encode(), headers=form)
    assert client.get("/admin/analytics").status_code == 200
    with db.session() as session:  # the key is revoked: its sessions end with it
        revoke_key(session, name_or_prefix="incubateur-test")
    assert client.get("/admin/analytics").status_code == 401
    assert client.get("/api/admin/moderation").status_code == 401
    key = _key(db, "second")
    client.post("/admin/login", content=f"key={key}".encode(), headers=form)
    assert client.get("/api/admin/moderation").status_code == 200
    with db.session() as session:  # 8 hours later
        stored = session.scalars(select(AdminSession)).all()
        assert [len(s.token_hash) for s in stored] == [64, 64]  # only hashes are stored
        for row in stored:
            row.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert client.get("/api/admin/moderation").status_code == 401
    client.post("/admin/login", content=f"key={key}".encode(), headers=form)
    with db.session() as session:  # logging in again purged the expired sessions
        assert session.scalar(select(func.count()).select_from(AdminSession)) == 1


def test_health_without_loaded_indexes(_api, db: Database) -> None:  # type: ignore[no-untyped-def]
    client, _ = _api
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["db"] is True
    assert health["indexes_loaded"] is False
    with db.session() as session:
        assert health["catalogue_version"] == catalogue_version(session)


# --------------------------------------------------------------------------- CLI


def test_cli_key_create_list_revoke(settings: Settings, db: Database) -> None:
    from cli.admin import app

    runner = CliRunner()
    created = runner.invoke(app, ["key", "create", "grand-testeur"], obj=settings)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("piu_")
    listed = runner.invoke(app, ["key", "list"], obj=settings)
    assert "grand-testeur" in listed.stdout and key not in listed.stdout
    with TestClient(create_app(settings, _services(settings, db), load_indexes=False)) as client:
        url = "/api/admin/moderation"
        assert client.get(url, headers={"X-API-Key": key}).status_code == 200
        revoked = runner.invoke(app, ["key", "revoke", key[:12]], obj=settings)
        assert revoked.exit_code == 0 and "revoked grand-testeur" in revoked.stdout
        assert client.get(url, headers={"X-API-Key": key}).status_code == 401
    assert runner.invoke(app, ["key", "revoke", "nobody"], obj=settings).exit_code == 1
