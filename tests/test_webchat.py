"""The web chat router through FastAPI's TestClient (real engine, real SQLite file)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.chat import router
from api.wiring import build_engine
from core.config import Settings
from core.db import Database
from core.models import ChatIdentity, Outbox
from matcher.service import MatchService

SID = "session-1234"


@pytest.fixture
def _client(db: Database, settings: Settings) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    app.state.engine = build_engine(db, MatchService(db, settings), settings)
    return TestClient(app)


def test_page_is_served(_client: TestClient) -> None:
    page = _client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text
    script = _client.get("/static/chat.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "<script>" not in page.text and '<script src="/static/chat.js"' in page.text
    assert "innerHTML" not in script.text and "textContent" in script.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert "/api/chat/resume" in script.text  # a reload resumes the conversation


def test_chat_text_and_choice(_client: TestClient) -> None:
    reply = _client.post("/api/chat", json={"session_id": SID, "text": "bonjour"})
    assert reply.status_code == 200
    messages = reply.json()["messages"]
    assert "Vous êtes" in messages[0]["text"]
    buyer = messages[0]["buttons"][0]
    assert buyer["label"] == "Une collectivité"
    reply = _client.post("/api/chat", json={"session_id": SID, "choice": buyer["id"]})
    assert "Décrivez votre besoin" in reply.json()["messages"][0]["text"]
    # the same button again is stale: polite notice and the current question
    reply = _client.post("/api/chat", json={"session_id": SID, "choice": buyer["id"]})
    texts = [m["text"] for m in reply.json()["messages"]]
    assert "étape précédente" in texts[0]


def test_a_reload_resumes_where_the_session_was(_client: TestClient, db: Database) -> None:
    first = _client.post("/api/chat/resume", json={"session_id": SID})
    assert first.status_code == 200
    assert "Vous êtes" in first.json()["messages"][-1]["text"]  # a new session: welcome
    buyer = first.json()["messages"][-1]["buttons"][0]["id"]
    _client.post("/api/chat", json={"session_id": SID, "choice": buyer})
    need = "Nous voulons réduire le gaspillage alimentaire dans nos cantines scolaires"
    asked = _client.post("/api/chat", json={"session_id": SID, "text": need}).json()
    question = asked["messages"][-1]
    # the page is reloaded: the same question with working buttons, nothing reset
    again = _client.post("/api/chat/resume", json={"session_id": SID}).json()["messages"]
    assert [m["text"] for m in again] == [question["text"]]
    skip = next(b["id"] for b in again[0]["buttons"] if b["label"] == "Passer")
    after = _client.post("/api/chat", json={"session_id": SID, "choice": skip}).json()
    assert "étape précédente" not in after["messages"][0]["text"]
    assert _client.post("/api/chat/resume", json={"session_id": "bad id"}).status_code == 422
    assert _client.post("/api/chat/resume", json={}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "short", "text": "bonjour"},
        {"session_id": "bad id with spaces", "text": "bonjour"},
        {"session_id": SID},
        {"session_id": SID, "text": "a", "choice": "b"},
        {"session_id": SID, "text": "bonjour", "extra": 1},
        {"session_id": SID, "choice": "x" * 65},
    ],
)
def test_bad_requests_are_422(_client: TestClient, body: dict) -> None:
    assert _client.post("/api/chat", json=body).status_code == 422


def test_inbox_delivers_outbox_once(_client: TestClient, db: Database) -> None:
    _client.post("/api/chat", json={"session_id": SID, "text": "bonjour"})
    with db.session() as session:
        ident = session.scalar(select(ChatIdentity).where(ChatIdentity.external_id == SID))
        session.add(Outbox(person_id=ident.person_id, payload={"text": "Un message pour vous."}))
    inbox = _client.get("/api/chat/inbox", params={"session_id": SID}).json()
    assert inbox["messages"] == [{"text": "Un message pour vous.", "buttons": []}]
    assert _client.get("/api/chat/inbox", params={"session_id": SID}).json()["messages"] == []
    assert _client.get("/api/chat/inbox", params={"session_id": "x"}).status_code == 422


def test_outbox_comes_with_the_next_reply(_client: TestClient, db: Database) -> None:
    _client.post("/api/chat", json={"session_id": SID, "text": "bonjour"})
    with db.session() as session:
        ident = session.scalar(select(ChatIdentity).where(ChatIdentity.external_id == SID))
        session.add(Outbox(person_id=ident.person_id, payload={"text": "Nouvelle demande."}))
    texts = [m["text"] for m in _client.post(
        "/api/chat", json={"session_id": SID, "text": "/aide"}).json()["messages"]]  # fmt: skip
    assert texts[-1] == "Nouvelle demande."


def test_no_engine_is_503() -> None:
    app = FastAPI()
    app.include_router(router)
    assert (
        TestClient(app).post("/api/chat", json={"session_id": SID, "text": "x"}).status_code == 503
    )
