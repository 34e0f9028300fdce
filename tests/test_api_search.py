"""Search through the HTTP API (hashing embedder): same ranking as the chat, filters, and
the index kept in sync by admin writes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.security import create_key
from api.wiring import Services, build_services
from core.config import Settings
from core.db import Database
from index.base import Embedder
from matcher.service import MatchService
from matcher.types import Scope


def test_search_ranks_like_the_chat(hashing_service: MatchService, demo_db: Database) -> None:
    settings = hashing_service.settings
    services = build_services(settings, db=demo_db, matcher=hashing_service, ready=False)
    with TestClient(create_app(settings, services)) as client:
        q = "réduire l'éclairage public la nuit dans une petite commune"
        page = client.get("/api/solutions", params={"q": q, "limit": 5}).json()
        expected = hashing_service.search(Scope(text=q), top=5).matches
        assert [s["external_id"] for s in page["items"]] == [m.external_id for m in expected]
        assert page["items"][0]["reasons"] and page["total"] >= 5
        second = client.get("/api/solutions", params={"q": q, "limit": 5, "offset": 5}).json()
        assert not {s["external_id"] for s in second["items"]} & {
            s["external_id"] for s in page["items"]
        }
        declared = client.get("/api/solutions", params={"q": q, "trust": "declared"}).json()
        assert all(s["trust_level"] == "declared" for s in declared["items"])
        assert client.get("/api/solutions", params={"q": "!!! ???"}).status_code == 422
        health = client.get("/api/health").json()
        assert health["indexes_loaded"] and health["indexes"]["solution"] > 100


#: A catalogue entry written through the admin API, and a query it answers best.
LUM = {
    "external_id": "lum",
    "title": "Extinction intelligente de l'éclairage public",
    "mission": "Couper les lampadaires la nuit quand personne ne passe",
}
LUM_QUERY = "couper l'éclairage public la nuit"


def _admin(
    settings: Settings, db: Database, embedder: Embedder, name: str
) -> tuple[Services, dict[str, str]]:
    """Services searching with ``embedder``, and the headers of an admin key."""
    services = build_services(settings, db=db, embedder=embedder, ready=False)
    with db.session() as session:
        _, key = create_key(session, name=name)
    return services, {"X-API-Key": key}


def test_admin_writes_keep_the_index_in_sync(  # type: ignore[no-untyped-def]
    settings: Settings, db: Database, hashing_embedder
) -> None:
    services, headers = _admin(settings, db, hashing_embedder, "sync")
    with TestClient(create_app(settings, services)) as client:
        rows = [
            {"external_id": "velo", "title": "Vélos cargo partagés", "mission": "Mobilité douce"},
            {"external_id": "eau", "title": "Détection de fuites d'eau", "mission": "Réseau"},
        ]
        assert (
            client.post("/api/admin/import/catalogue", json=rows, headers=headers).status_code
            == 200
        )
        assert client.post("/api/admin/solutions", json=LUM, headers=headers).status_code == 201
        q = {"q": LUM_QUERY, "limit": 3}
        assert client.get("/api/solutions", params=q).json()["items"][0]["external_id"] == "lum"
        client.delete("/api/admin/solutions/lum", headers=headers)
        ids = [s["external_id"] for s in client.get("/api/solutions", params=q).json()["items"]]
        assert "lum" not in ids
        assert services.matcher.store.count("solution") == 2


def test_a_qualification_shows_in_the_next_search(  # type: ignore[no-untyped-def]
    settings: Settings, db: Database, hashing_embedder
) -> None:
    services, headers = _admin(settings, db, hashing_embedder, "qualify")
    q = LUM_QUERY
    with TestClient(create_app(settings, services)) as client:
        assert client.post("/api/admin/solutions", json=LUM, headers=headers).status_code == 201
        assert services.matcher.search(Scope(text=q), top=1).matches[0].trust_level == "declared"
        version = services.matcher._version
        qualified = client.post(
            "/api/admin/solutions/lum/qualify",
            json={"level": "qualified", "reason": "Démo vue en atelier"},
            headers=headers,
        )
        assert qualified.status_code == 200, qualified.text
        assert services.matcher._version > version  # every worker reloads its cards
        # the chat's cards and the API's hits both show the new level at once
        match = services.matcher.search(Scope(text=q), top=1).matches[0]
        assert (match.external_id, match.trust_level) == ("lum", "qualified")
        hit = client.get("/api/solutions", params={"q": q, "limit": 1}).json()["items"][0]
        assert (hit["external_id"], hit["trust_level"]) == ("lum", "qualified")
