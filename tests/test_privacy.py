"""Privacy (GDPR): export, erasure, consent, retention; chat commands and web endpoints.

Real SQLite file (or PostgreSQL with PIU_TEST_DB=postgres), real engine; only the index
removal test builds indexes (with the hashing embedder).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.wiring import build_engine, build_services
from bot.engine import ConversationEngine
from bot.flows.privacy import CHUNK_CHARS, chunk_text
from bot.types import OutMessage
from core.config import Settings
from core.db import Database, get_meta
from core.domain import Cadence, IntroStatus, NeedStatus, Outcome
from core.models import (
    AuditLog,
    Base,
    ChatIdentity,
    ConsentRecord,
    ConversationState,
    DigestDelivery,
    Experience,
    Introduction,
    IntroductionEvent,
    MatchEvent,
    Need,
    Outbox,
    Person,
    Solution,
    Subscription,
)
from core.privacy import (
    DELETED_COUNTER,
    delete_person,
    export_person,
    record_consent,
    retention_sweep,
    withdraw_consent,
)
from matcher.service import MatchService
from tests.helpers import admin_key, chat_client

NOW = dt.datetime(2026, 11, 15, 10, 0, tzinfo=dt.UTC)
EMAIL = "zoe.quintard@exemple-collectivite.fr"
NAME = "Zoé Quintard-Lemaire"
PHONE = "+33 6 12 34 56 78"
INTRO_MESSAGE = "Bonjour, nous aimerions échanger sur votre composteur connecté."
SID = "web-session-0001"


# --------------------------------------------------------------------------- fixtures


def _seed(db: Database) -> dict[str, int]:
    """A person with data in every table, plus a peer and a start-up they deal with."""
    with db.session() as s:
        zoe = Person(
            language="fr",
            display_name=NAME,
            email=EMAIL,
            phone=PHONE,
            share_contact=True,
            territory_code="39300",
            territory_kind="commune",
        )
        peer = Person(language="fr", display_name="Paul Martin")
        startup = Person(language="en")
        s.add_all([zoe, peer, startup])
        s.flush()
        s.add_all(
            [
                ChatIdentity(person_id=zoe.id, transport="telegram", external_id="777001"),
                ChatIdentity(person_id=zoe.id, transport="web", external_id=SID),
                ChatIdentity(person_id=peer.id, transport="telegram", external_id="777002"),
                ChatIdentity(person_id=startup.id, transport="telegram", external_id="777003"),
            ]
        )
        record_consent(s, zoe.id, purpose="contact", policy_version="2026-11", now=NOW)
        need = Need(
            owner_id=zoe.id,
            raw_text="Réduire le gaspillage dans nos cantines",
            status=NeedStatus.OPEN,
            themes=["Alimentation"],
        )
        own_sol = Solution(
            external_id="chat-compost-zoe",
            title="Compost collectif",
            submitted_by_id=zoe.id,
            contact=EMAIL,
            organisation_name="Asso Zoé",
            source="chat",
        )
        other_sol = Solution(
            external_id="sol-startup",
            title="Composteur connecté",
            submitted_by_id=startup.id,
            contact="hello@startup.example",
        )
        s.add_all([need, own_sol, other_sol])
        s.flush()
        rex = Experience(
            external_id="rex-zoe",
            title="Pesée des restes",
            contact_person_id=zoe.id,
            contact_consent=True,
            contact_role="Chargée de mission",
            outcome=Outcome.SUCCESS,
            need_id=need.id,
        )
        s.add(rex)
        s.add(MatchEvent(need_id=need.id, solution_id=other_sol.id, rank=1, score=0.9))
        # Zoé asks the start-up (pending, with a request waiting in the start-up's outbox)
        asked = Introduction(
            requester_id=zoe.id,
            solution_id=other_sol.id,
            target_person_id=startup.id,
            target_label="Start-up",
            status=IntroStatus.REQUESTED,
            message=INTRO_MESSAGE,
        )
        # the peer asked Zoé; she accepted: the peer received her contact details
        received = Introduction(
            requester_id=peer.id,
            experience_id=None,
            target_person_id=zoe.id,
            target_label="Lons-le-Saunier",
            status=IntroStatus.ACCEPTED,
            message="Pouvons-nous parler ?",
        )
        s.add_all([asked, received])
        s.flush()
        for intro, statuses in (
            (asked, [IntroStatus.REQUESTED]),
            (received, [IntroStatus.REQUESTED, IntroStatus.ACCEPTED]),
        ):
            for st in statuses:
                s.add(IntroductionEvent(introduction_id=intro.id, status=st, at=NOW))
        s.add(
            Outbox(
                person_id=startup.id,
                payload={
                    "kind": "introduction",
                    "introduction_id": asked.id,
                    "key": "intro_request",
                    "params": {
                        "who": "Lons-le-Saunier",
                        "about": "Composteur connecté",
                        "message": INTRO_MESSAGE,
                    },
                },
            )
        )
        s.add(
            Outbox(
                person_id=peer.id,
                delivered_at=NOW,
                payload={
                    "kind": "introduction",
                    "introduction_id": received.id,
                    "key": "intro_accepted",
                    "params": {"who": NAME, "contact": f"{NAME} — {EMAIL}", "contact_email": EMAIL},
                },
            )
        )
        s.add(Outbox(person_id=zoe.id, payload={"text": "Un message pour Zoé."}))
        sub = Subscription(person_id=zoe.id, cadence=Cadence.WEEKLY, themes=["Alimentation"])
        peer_sub = Subscription(person_id=peer.id)
        s.add_all([sub, peer_sub])
        s.flush()
        s.add(DigestDelivery(subscription_id=sub.id, period="2026-W46", payload=["Votre lettre"]))
        s.add(
            DigestDelivery(
                subscription_id=peer_sub.id,
                period="2026-W46",
                payload=[{"intros": [{"who": NAME, "message": "…"}]}],
            )
        )
        s.add(
            ConversationState(
                person_id=zoe.id,
                flow="buyer",
                step="b_stage",
                data={"n": 3, "need": {"text": "cantines"}},
            )
        )
        s.add(
            AuditLog(
                actor="facilitateur",
                action="solution_update",
                entity_type="solution",
                entity_id=own_sol.id,
                detail={"old_contact": EMAIL},
            )
        )
        return {"zoe": zoe.id, "peer": peer.id, "startup": startup.id, "need": need.id,
                "own_sol": own_sol.id, "other_sol": other_sol.id, "rex": rex.id,
                "asked": asked.id, "received": received.id}  # fmt: skip


def _engine(db: Database, settings: Settings) -> ConversationEngine:
    return build_engine(db, MatchService(db, settings), settings)


class _Chat:
    def __init__(self, engine: ConversationEngine, user: str = "42") -> None:
        self.engine, self.user = engine, user
        self.last: list[OutMessage] = []

    def say(self, message: str) -> list[OutMessage]:
        self.last = self.engine.handle("telegram", self.user, text=message)
        return self.last

    def press(self, label: str) -> list[OutMessage]:
        for m in self.last:
            for b in m.buttons:
                if b.label == label:
                    self.last = self.engine.handle("telegram", self.user, choice=b.id)
                    return self.last
        raise AssertionError(f"no button {label!r}")

    def button_id(self, label: str) -> str:
        return next(b.id for m in self.last for b in m.buttons if b.label == label)

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.last)


def _person_id(db: Database, external_id: str, transport: str = "telegram") -> int | None:
    with db.session() as s:
        return s.scalar(
            select(ChatIdentity.person_id).where(
                ChatIdentity.transport == transport, ChatIdentity.external_id == external_id
            )
        )


def _person_refs(db: Database, person_id: int) -> list[str]:
    """Every (table.column) still pointing at ``person_id``."""
    hits = []
    with db.session() as s:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                points_at_person = any(
                    fk.column.table.name == "person" for fk in column.foreign_keys
                )
                is_person_pk = table.name == "person" and column.name == "id"
                if points_at_person or is_person_pk:
                    n = s.scalar(select(func.count()).select_from(table).where(column == person_id))
                    if n:
                        hits.append(f"{table.name}.{column.name}")
        n = s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "person", AuditLog.entity_id == person_id))  # fmt: skip
        if n:
            hits.append("audit_log.entity_id")
    return hits


def _string_hits(db: Database, *needles: str) -> list[str]:
    """Tables whose raw stored text contains a needle (plain or JSON-escaped)."""
    forms = {f for n in needles for f in (n, json.dumps(n)[1:-1])}
    hits = []
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                blob = " ".join(str(v) for v in row)
                hits += [f"{table.name}: {f}" for f in forms if f in blob]
    return hits


# --------------------------------------------------------------------------- export


def test_export_contains_everything(db: Database) -> None:
    ids = _seed(db)
    with db.session() as s:
        data = export_person(s, ids["zoe"])
    json.dumps(data)  # JSON-ready
    assert data["person"]["email"] == EMAIL and data["person"]["display_name"] == NAME
    assert {i["transport"] for i in data["chat_identities"]} == {"telegram", "web"}
    assert data["consents"][0]["purpose"] == "contact"
    assert data["consents"][0]["policy_version"] == "2026-11"
    assert [n["raw_text"] for n in data["needs"]] == ["Réduire le gaspillage dans nos cantines"]
    assert [x["title"] for x in data["registered_solutions"]] == ["Compost collectif"]
    assert [x["title"] for x in data["experiences_as_contact"]] == ["Pesée des restes"]
    (asked,) = data["introductions_requested"]
    assert asked["message"] == INTRO_MESSAGE and "target_person_id" not in asked
    assert [e["status"] for e in asked["events"]] == ["requested"]
    (received,) = data["introductions_received"]
    assert "requester_id" not in received  # the other party's id is not exported
    assert [e["status"] for e in received["events"]] == ["requested", "accepted"]
    assert data["subscription"]["themes"] == ["Alimentation"]
    assert [d["period"] for d in data["digest_deliveries"]] == ["2026-W46"]
    assert data["conversation_state"]["step"] == "b_stage"
    assert [o["payload"] for o in data["outbox"]] == [{"text": "Un message pour Zoé."}]
    # nothing about the other people
    dumped = json.dumps(data, ensure_ascii=False)
    assert "Paul Martin" not in dumped and "777002" not in dumped


def test_export_unknown_person(db: Database) -> None:
    with db.session() as s, pytest.raises(LookupError):
        export_person(s, 999)


# --------------------------------------------------------------------------- erasure


def test_delete_removes_personal_data_everywhere(db: Database) -> None:
    ids = _seed(db)
    with db.session() as s:
        match_events = s.scalar(select(func.count()).select_from(MatchEvent))
        events_before = s.scalar(select(func.count()).select_from(IntroductionEvent))
    assert _string_hits(db, EMAIL, NAME)  # the seed really stores them

    with db.session() as s:
        report = delete_person(s, ids["zoe"], now=NOW)
    assert report.found and report.need_ids == [ids["need"]]
    assert report.introductions_expired == 1 and report.introductions_anonymised == 2
    assert report.solutions_kept == 1 and report.experiences_unlinked == 1

    assert _person_refs(db, ids["zoe"]) == []
    assert _string_hits(db, EMAIL, NAME, PHONE, INTRO_MESSAGE, SID, "777001") == []
    with db.session() as s:
        # anonymised counts remain
        assert get_meta(s, DELETED_COUNTER) == "1"
        assert s.scalar(select(func.count()).select_from(MatchEvent)) == match_events
        assert s.scalar(select(func.count()).select_from(Introduction)) == 2
        assert s.scalar(select(func.count()).select_from(IntroductionEvent)) == events_before + 1
        asked = s.get(Introduction, ids["asked"])
        assert asked.status == IntroStatus.EXPIRED and asked.requester_id is None
        assert asked.message is None
        received = s.get(Introduction, ids["received"])
        assert received.status == IntroStatus.ACCEPTED and received.target_person_id is None
        assert received.requester_id == ids["peer"]  # the other party's data is theirs
        # the start-up's pending request (with Zoé's message) is withdrawn
        assert s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.person_id == ids["startup"])) == 0  # fmt: skip
        # the solution stays as organisation data, without contact or link
        sol = s.get(Solution, ids["own_sol"])
        assert sol.title == "Compost collectif" and sol.organisation_name == "Asso Zoé"
        assert sol.contact is None and sol.submitted_by_id is None
        rex = s.get(Experience, ids["rex"])
        assert rex.contact_person_id is None and rex.contact_consent is False
        assert rex.need_id is None and rex.title == "Pesée des restes"
        # other people are untouched
        assert s.get(Person, ids["peer"]).display_name == "Paul Martin"
        assert s.get(Solution, ids["other_sol"]).contact == "hello@startup.example"
        assert s.scalar(select(func.count()).select_from(Subscription)) == 1
    with db.session() as s:
        again = delete_person(s, ids["zoe"], now=NOW)
    assert not again.found


# --------------------------------------------------------------------------- consent


def test_withdrawing_contact_consent_clears_the_contact(db: Database) -> None:
    ids = _seed(db)
    with db.session() as s:
        assert withdraw_consent(s, ids["zoe"], purpose="newsletter", now=NOW) == 0
        assert withdraw_consent(s, ids["zoe"], purpose="contact", now=NOW) == 1
    with db.session() as s:
        zoe = s.get(Person, ids["zoe"])
        assert (zoe.email, zoe.phone, zoe.display_name, zoe.share_contact) == (
            None, None, None, False)  # fmt: skip
        record = s.scalar(select(ConsentRecord).where(ConsentRecord.person_id == ids["zoe"]))
        assert record.withdrawn_at is not None and record.policy_version == "2026-11"
        assert s.get(Solution, ids["own_sol"]).contact is None
        assert s.get(Solution, ids["other_sol"]).contact == "hello@startup.example"
        # withdrawing again: nothing in force
        assert withdraw_consent(s, ids["zoe"], purpose="contact", now=NOW) == 0


def test_contact_kept_while_another_contact_consent_remains(db: Database) -> None:
    ids = _seed(db)
    with db.session() as s:
        record_consent(s, ids["zoe"], purpose="solution_contact", policy_version="2026-11", now=NOW)
        withdraw_consent(s, ids["zoe"], purpose="contact", now=NOW)
        assert s.get(Person, ids["zoe"]).email == EMAIL


# --------------------------------------------------------------------------- retention


def _person(db: Database, last_active: dt.datetime, external_id: str) -> int:
    with db.session() as s:
        p = Person(language="fr", last_active_at=last_active, email=f"{external_id}@x.example")
        s.add(p)
        s.flush()
        s.add(ChatIdentity(person_id=p.id, transport="telegram", external_id=external_id))
        return p.id


def _sweep(db: Database, now: dt.datetime, **kw: Any) -> tuple[list[int], list[int]]:
    with db.session() as s:
        return retention_sweep(s, now=now, years=3, **kw)


def _warnings(db: Database, person_id: int) -> list[dict[str, Any]]:
    with db.session() as s:
        return [
            o.payload
            for o in s.scalars(select(Outbox).where(Outbox.person_id == person_id))
            if o.payload.get("key") == "privacy_retention_warning"
        ]


def test_retention_warns_once_then_deletes_after_the_grace_period(db: Database) -> None:
    three_years_ago = NOW.replace(year=NOW.year - 3)
    idle = _person(db, three_years_ago + dt.timedelta(days=10), "idle")
    active = _person(db, NOW - dt.timedelta(days=100), "active")
    comeback = _person(db, three_years_ago + dt.timedelta(days=5), "comeback")

    assert _sweep(db, NOW, dry_run=True) == ([idle, comeback], [])
    assert _warnings(db, idle) == []  # dry run: nothing written
    assert _sweep(db, NOW) == ([idle, comeback], [])
    (warning,) = _warnings(db, idle)
    assert warning["params"] == {"date": (NOW + dt.timedelta(days=30)).date().isoformat(),
                                 "years": 3}  # fmt: skip
    # warned once only
    assert _sweep(db, NOW + dt.timedelta(days=1)) == ([], [])
    assert len(_warnings(db, idle)) == 1

    # the comeback user talks to the bot: the warning is cancelled
    engine_time = NOW + dt.timedelta(days=2)
    with db.session() as s:
        s.get(Person, comeback).last_active_at = engine_time

    # three years of inactivity reached, but the notice period is not over
    assert _sweep(db, NOW + dt.timedelta(days=12)) == ([], [])
    with db.session() as s:
        assert s.get(Person, comeback).retention_warned_at is None
    # notice period over: erased
    assert _sweep(db, NOW + dt.timedelta(days=30)) == ([], [idle])
    assert _person_id(db, "idle") is None and _person_refs(db, idle) == []
    assert _person_id(db, "active") == active and _person_id(db, "comeback") == comeback
    with db.session() as s:
        assert get_meta(s, DELETED_COUNTER) == "1"
        assert get_meta(s, "retention_deleted_persons") == "1"


# --------------------------------------------------------------------------- chat


def test_chunking_keeps_parts_under_the_limit() -> None:
    text = json.dumps({"a": "x" * 9000, "b": list(range(2000))}, indent=2)
    parts = chunk_text(text)
    assert len(parts) > 2 and all(len(p) <= CHUNK_CHARS for p in parts)
    assert json.loads("".join(parts))["a"] == "x" * 9000


def test_chat_mydata_fr_and_long_export(db: Database, settings: Settings) -> None:
    chat = _Chat(_engine(db, settings))
    chat.say("bonjour")
    pid = _person_id(db, "42")
    with db.session() as s:
        s.add(Need(owner_id=pid, raw_text="mobilité " * 1500, status=NeedStatus.DRAFT))
    out = chat.say("/mesdonnees")
    assert "toutes les données" in out[0].text and "JSON" in out[0].text
    assert all(len(m.text) <= CHUNK_CHARS for m in out)
    data = json.loads("".join(m.text for m in out[1:]))
    assert data["person"]["id"] == pid
    assert data["chat_identities"][0]["external_id"] == "42"
    assert data["needs"][0]["raw_text"].startswith("mobilité")


def test_chat_delete_with_cancel_then_confirm_fr(db: Database, settings: Settings) -> None:
    ids = _seed(db)
    chat = _Chat(_engine(db, settings), "777001")  # Zoé on Telegram
    chat.say("/supprimer")
    assert "supprimer toutes vos données" in chat.text
    assert "1 solution(s)" in chat.text  # her registered solution stays, she is told
    assert [b.label for m in chat.last for b in m.buttons] == [
        "Confirmer la suppression",
        "Annuler",
    ]
    stale_confirm = chat.button_id("Confirmer la suppression")
    chat.press("Annuler")
    assert "Rien n'a été supprimé" in chat.text
    assert _person_id(db, "777001") == ids["zoe"]
    # the old confirmation button no longer deletes anything
    chat.last = chat.engine.handle("telegram", "777001", choice=stale_confirm)
    assert _person_id(db, "777001") == ids["zoe"]

    chat.say("/supprimer")
    chat.press("Confirmer la suppression")
    assert "ont été supprimées" in chat.text
    assert "restent au catalogue" in chat.text
    assert _person_refs(db, ids["zoe"]) == []
    assert _string_hits(db, EMAIL, NAME) == []
    # the next message starts afresh, as a new user
    chat.say("bonjour")
    assert "Vous êtes" in chat.text
    new_id = _person_id(db, "777001")
    assert new_id is not None
    with db.session() as s:
        assert s.get(Person, new_id).email is None
        state = s.scalar(select(ConversationState).where(ConversationState.person_id == new_id))
        assert state.step == "role"


def test_chat_mydata_and_delete_en(db: Database, settings: Settings) -> None:
    chat = _Chat(_engine(db, settings), "99")
    chat.say("/language en")
    assert "English" in chat.text
    chat.say("/mydata")
    assert chat.last[0].text.startswith("Here is everything PIU stores about you")
    chat.say("/delete")
    assert "This cannot be undone" in chat.text
    chat.press("Cancel")
    assert chat.text == "Nothing was deleted."
    chat.say("/delete")
    chat.press("Confirm deletion")
    assert "Your personal data has been deleted" in chat.text
    assert _person_id(db, "99") is None


def test_chat_privacy_notice_withdraw_and_help(db: Database, settings: Settings) -> None:
    ids = _seed(db)
    chat = _Chat(_engine(db, settings), "777001")
    chat.say("/confidentialite")
    assert "Responsable du traitement" in chat.text and "3 ans sans activité" in chat.text
    assert "l'exploitant de la plateforme PIU" in chat.text
    assert "/mesdonnees" in chat.text and "/supprimer" in chat.text
    chat.say("/aide")
    assert "/confidentialite" in chat.text
    chat.say("/retrait")
    assert "effacées" in chat.text
    with db.session() as s:
        assert s.get(Person, ids["zoe"]).email is None
    chat.say("/retrait")
    assert "aucun consentement" in chat.text

    engine = _engine(db, settings.model_copy(update={"privacy_contact": "dpo@ville.example"}))
    en = _Chat(engine, "55")
    en.say("/langue en")
    en.say("/privacy")
    assert "Data controller: dpo@ville.example." in en.text


def test_privacy_contact_required_in_production(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="PIU_PRIVACY_CONTACT"):
        Settings(environment="production", database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
    ok = Settings(environment="production", database_url="sqlite://",  # type: ignore[call-arg]
                  privacy_contact="dpo@ville.example", _env_file=None)  # fmt: skip
    assert ok.privacy_contact == "dpo@ville.example"


# --------------------------------------------------------------------------- web


@pytest.fixture
def _client(db: Database, settings: Settings) -> TestClient:
    from api import privacy

    return chat_client(build_services(settings, db=db, ready=False), privacy.router)


def _admin_key(db: Database) -> str:
    return admin_key(db, "facilitateur-test")


def test_privacy_page(_client: TestClient) -> None:
    page = _client.get("/confidentialite")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert body.index("Responsable du traitement") < body.index("Data controller")
    assert "http://" not in body and "https://" not in body  # no CDN, no external resource
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert _client.get("/privacy").text == body


def test_web_chat_mydata_and_delete(_client: TestClient, db: Database) -> None:
    assert _client.post("/api/chat/mydata", json={"session_id": SID}).status_code == 404
    ids = _seed(db)
    export = _client.post("/api/chat/mydata", json={"session_id": SID})
    assert export.status_code == 200 and export.json()["person"]["email"] == EMAIL
    assert _client.post("/api/chat/mydata", json={"session_id": "x"}).status_code == 422
    refused = _client.post("/api/chat/delete", json={"session_id": SID, "confirm": False})
    assert refused.status_code == 422
    assert _person_id(db, SID, "web") == ids["zoe"]
    done = _client.post("/api/chat/delete", json={"session_id": SID, "confirm": True})
    assert done.status_code == 200
    body = done.json()
    assert body["deleted"] and body["needs"] == 1 and body["solutions_kept"] == 1
    assert "restent au catalogue" in body["note"]
    assert _person_refs(db, ids["zoe"]) == [] and _string_hits(db, EMAIL, NAME) == []
    assert _client.post("/api/chat/mydata", json={"session_id": SID}).status_code == 404
    # the web chat itself starts afresh
    reply = _client.post("/api/chat", json={"session_id": SID, "text": "bonjour"})
    assert "Vous êtes" in reply.json()["messages"][0]["text"]


def test_admin_export_and_delete(_client: TestClient, db: Database) -> None:
    ids = _seed(db)
    url = f"/api/admin/persons/{ids['zoe']}"
    assert _client.get(f"{url}/export").status_code == 401
    assert _client.delete(url, headers={"X-API-Key": "piu_wrong"}).status_code == 401
    key = {"X-API-Key": _admin_key(db)}
    export = _client.get(f"{url}/export", headers=key)
    assert export.status_code == 200 and export.json()["person"]["display_name"] == NAME
    assert _client.get("/api/admin/persons/9999/export", headers=key).status_code == 404
    done = _client.delete(url, headers=key)
    assert done.status_code == 200 and done.json()["introductions_expired"] == 1
    assert _client.delete(url, headers=key).status_code == 404
    assert _person_refs(db, ids["zoe"]) == [] and _string_hits(db, EMAIL, NAME) == []
    with db.session() as s:
        actions = dict(s.execute(select(AuditLog.action, AuditLog.entity_id)).all())
        assert actions["person_export"] is None  # unlinked by the erasure
        assert actions["person_erased"] is None
        assert s.scalar(text("select count(*) from person")) == 2


# --------------------------------------------------------------------------- index


def test_deleted_needs_leave_the_index(db: Database, settings: Settings, hashing_embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.flows.privacy import remove_from_index

    ids = _seed(db)
    service = MatchService(db, settings, hashing_embedder)
    service.ensure_ready()
    assert ids["need"] in service.store.ids("need")
    with db.session() as s:
        report = delete_person(s, ids["zoe"], now=NOW)
    remove_from_index(service, report.need_ids)
    assert ids["need"] not in service.store.ids("need")
    # a fresh process (index loaded from disk and synced with the DB) does not see it either
    fresh = MatchService(db, settings, hashing_embedder)
    fresh.ensure_ready()
    assert ids["need"] not in fresh.store.ids("need")


# --------------------------------------------------------------------------- CLI


def test_cli_sweep_export_delete(db: Database, settings: Settings) -> None:
    from typer.testing import CliRunner

    from cli.privacy import app

    ids = _seed(db)
    idle = _person(db, NOW.replace(year=NOW.year - 5), "idle")
    env = {"PIU_DATABASE_URL": settings.db_url, "PIU_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    dry = runner.invoke(app, ["sweep", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert idle in json.loads(dry.output)["warned"] and _warnings(db, idle) == []
    out = runner.invoke(app, ["export", str(ids["zoe"])], env=env)
    assert out.exit_code == 0 and json.loads(out.output)["person"]["email"] == EMAIL
    assert runner.invoke(app, ["delete", str(ids["zoe"])], env=env).exit_code != 0
    assert _person_id(db, "777001") == ids["zoe"]
    done = runner.invoke(app, ["delete", str(ids["zoe"]), "--yes"], env=env)
    assert done.exit_code == 0 and json.loads(done.output)["needs"] == 1
    assert _person_refs(db, ids["zoe"]) == []
    assert runner.invoke(app, ["export", str(ids["zoe"])], env=env).exit_code == 1
