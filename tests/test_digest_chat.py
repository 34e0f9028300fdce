"""``/digest`` in chat, the digest's detail buttons, and the subscription endpoints.

Real engine over a real SQLite file (or PostgreSQL); the match service is never queried,
so no model is loaded.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.wiring import build_engine, build_services
from bot.engine import ConversationEngine
from bot.types import OutMessage
from core.config import Settings
from core.db import Database
from core.domain import Cadence, IntroStatus, NeedStatus, Outcome, Role, TrustLevel
from core.models import (
    AuditLog,
    ChatIdentity,
    Experience,
    Introduction,
    Need,
    Outbox,
    Person,
    Solution,
    Subscription,
)
from matcher.introductions import request_introduction
from matcher.service import MatchService
from tests.helpers import admin_key, chat_client

T = "test"
BUYER_EMAIL = "claire.buyer@ville-exemple.fr"
BUYER_NAME = "Claire Acheteuse"
BUYER_PHONE = "+33 6 98 76 54 32"
SID = "web-digest-0001"


# --------------------------------------------------------------------------- fixtures


def _engine(db: Database, settings: Settings) -> ConversationEngine:
    return build_engine(db, MatchService(db, settings), settings)


@pytest.fixture
def _eng(db: Database, settings: Settings) -> ConversationEngine:
    return _engine(db, settings)


class _Chat:
    def __init__(self, engine: ConversationEngine, user: str = "u1") -> None:
        self.engine, self.user = engine, user
        self.last: list[OutMessage] = []

    def say(self, text: str) -> list[OutMessage]:
        self.last = self.engine.handle(T, self.user, text=text)
        return self.last

    def choose(self, choice: str) -> list[OutMessage]:
        self.last = self.engine.handle(T, self.user, choice=choice)
        return self.last

    def press(self, label: str) -> list[OutMessage]:
        return self.choose(self.button(label))

    def button(self, label: str) -> str:
        for m in reversed(self.last):
            for b in m.buttons:
                if label.lower() in b.label.lower():
                    return b.id
        raise AssertionError(f"no button {label!r} in {self.labels()}")

    def labels(self) -> list[str]:
        return [b.label for m in self.last for b in m.buttons]

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.last)


def _person(db: Database, user: str) -> int:
    with db.session() as s:
        return int(s.scalar(select(ChatIdentity.person_id).where(ChatIdentity.external_id == user)))


def _sub(db: Database, person_id: int) -> Subscription | None:
    with db.session() as s:
        sub = s.scalar(select(Subscription).where(Subscription.person_id == person_id))
        if sub is not None:
            s.expunge(sub)
        return sub


def _seed(db: Database) -> dict[str, int]:
    """A buyer (with contact details) and their open need, a catalogue solution, two REX."""
    with db.session() as s:
        buyer = Person(
            role=Role.BUYER,
            language="fr",
            display_name=BUYER_NAME,
            email=BUYER_EMAIL,
            phone=BUYER_PHONE,
            share_contact=True,
        )
        s.add(buyer)
        s.flush()
        s.add(ChatIdentity(person_id=buyer.id, transport=T, external_id="buyer"))
        need = Need(
            owner_id=buyer.id,
            raw_text="Réduire le gaspillage alimentaire dans nos cantines scolaires",
            themes=["Agriculture et alimentation"],
            territory_name="Dole",
            population=23_000,
            size_band="10k-50k",
            stage="experiment",
            budget_eur=30_000,
            budget_band="lt40k",
            status=NeedStatus.OPEN,
        )
        closed = Need(owner_id=buyer.id, raw_text="Ancien besoin", status=NeedStatus.CLOSED)
        sol = Solution(
            external_id="cantine-zero",
            title="Cantine zéro gaspi",
            mission="Pesée des restes et menus ajustés",
            themes=["Agriculture et alimentation"],
            maturity="deployed",
            trust_level=TrustLevel.QUALIFIED,
            website="https://cantine.example",
            contact="contact@cantine.example",
            organisation_name="Cantine SAS",
        )
        chat_sol = Solution(
            external_id="chat-sol",
            title="Solution inscrite en chat",
            mission="Une solution",
            contact="fondatrice@startup.example",
            submitted_by_id=buyer.id,
            source="chat",
        )
        s.add_all([need, closed, sol, chat_sol])
        s.flush()
        failed = Experience(
            external_id="rex-fail",
            title="Capteurs de bruit",
            territory_name="Pontarlier",
            population=17_000,
            problem="Nuisances sonores la nuit",
            tried="Capteurs connectés dans trois rues",
            period_start="2021",
            period_end="2022",
            outcome=Outcome.FAILED,
            lessons="Associer les riverains dès le départ",
            contact_role="Chargée de mission",
            contact_consent=True,
        )
        ok = Experience(
            external_id="rex-ok",
            title="Pesée des restes",
            territory_name="Dole",
            population=23_000,
            outcome=Outcome.SUCCESS,
        )
        s.add_all([failed, ok])
        s.flush()
        return {"buyer": buyer.id, "need": need.id, "closed": closed.id, "sol": sol.id,
                "chat_sol": chat_sol.id, "failed": failed.id, "ok": ok.id}  # fmt: skip


# --------------------------------------------------------------------------- /digest


def test_digest_shows_status_and_changes_settings_fr(_eng: ConversationEngine, db) -> None:  # type: ignore[no-untyped-def]
    chat = _Chat(_eng)
    chat.say("/digest")
    assert "Vous ne recevez pas la lettre hebdomadaire" in chat.text
    assert chat.labels() == [
        "Hebdomadaire", "Changer le jour", "Changer l'heure", "Thèmes", "Recevoir par e-mail",
        "Alertes immédiates",
    ]  # fmt: skip
    pid = _person(db, "u1")
    assert _sub(db, pid) is None  # looking changes nothing

    chat.press("Hebdomadaire")
    assert "C'est enregistré" in chat.text and "chaque lundi à 9 h" in chat.text
    chat.say("/lettre")  # the French alias
    assert "Désactiver" in chat.labels() and "Hebdomadaire" not in chat.labels()

    chat.press("Changer le jour")
    assert chat.labels()[:2] == ["Lundi", "Mardi"] and len(chat.labels()) == 7
    chat.press("Jeudi")
    assert "chaque jeudi" in chat.text
    chat.say("/digest")
    chat.press("Changer l'heure")
    assert chat.labels() == ["8 h", "9 h", "12 h", "14 h", "17 h", "18 h"]
    chat.press("17 h")
    assert "chaque jeudi à 17 h (heure de Paris)" in chat.text
    sub = _sub(db, pid)
    assert sub is not None and (sub.weekday, sub.hour, sub.cadence) == (3, 17, Cadence.WEEKLY)

    chat.say("/digest")
    chat.press("Thèmes")
    assert len(chat.labels()) == 22 and chat.labels()[-1] == "Terminé"
    chat.press("Mobilité")
    assert "✓ Mobilité" in chat.labels() and "Thèmes suivis" in chat.text
    chat.press("Énergie")
    chat.press("✓ Mobilité")  # toggled off again
    assert "✓ Énergie" in chat.labels() and "Mobilité" in chat.labels()
    chat.press("Terminé")
    assert "Thèmes : Énergie." in chat.text.replace("\u00a0", " ")
    assert _sub(db, pid).themes == ["Énergie"]  # type: ignore[union-attr]
    chat.say("/digest")
    chat.press("Thèmes")
    chat.press("✓ Énergie")  # nothing chosen: every theme
    assert "tous les thèmes" in chat.text
    assert _sub(db, pid).themes == []  # type: ignore[union-attr]

    chat.say("/digest")
    chat.press("Désactiver")
    assert "plus de lettre hebdomadaire" in chat.text
    assert _sub(db, pid).cadence == Cadence.OFF  # type: ignore[union-attr]
    chat.say("/digest")
    assert "Vous ne recevez pas" in chat.text and "Hebdomadaire" in chat.labels()


def test_digest_in_english(_eng: ConversationEngine, db) -> None:  # type: ignore[no-untyped-def]
    chat = _Chat(_eng)
    chat.say("/language en")
    chat.say("/digest")
    assert "You do not receive the weekly digest" in chat.text
    assert chat.labels() == [
        "Weekly", "Change day", "Change time", "Themes", "Get it by e-mail", "Instant alerts"
    ]  # fmt: skip
    chat.press("Change day")
    chat.press("Friday")
    assert "Saved." in chat.text and "every Friday at 9:00 (Paris time)" in chat.text
    chat.say("/digest")
    chat.press("Change time")
    chat.press("8:00")
    chat.say("/digest")
    chat.press("Themes")
    chat.press("Mobility")
    chat.press("Done")
    assert "every Friday at 8:00 (Paris time). Themes: Mobility." in chat.text
    sub = _sub(db, _person(db, "u1"))
    assert sub is not None and sub.themes == ["Mobilité"] and sub.language == "en"
    chat.say("/help")
    assert "/digest" in chat.text


def test_digest_buttons_do_not_break_an_ongoing_flow(_eng: ConversationEngine, db) -> None:  # type: ignore[no-untyped-def]
    chat = _Chat(_eng)
    chat.say("/besoin")
    chat.say("Nous voulons réduire le gaspillage alimentaire dans les cantines scolaires")
    question = chat.last[-1]
    assert question.buttons  # the territory question, with its "skip" button
    skip = question.buttons[0].id

    chat.say("/digest")
    assert chat.last[-1] == question  # the menu, then the flow's question again
    for label in ("Changer le jour", "Mercredi", "/digest", "Thèmes", "Eau", "Terminé"):
        chat.say(label) if label.startswith("/") else chat.press(label)
        assert chat.last[-1] == question, label
    chat.choose("dset:nonsense")  # a forged or unknown value: said so, question again
    assert "pas compris" in chat.text and chat.last[-1] == question
    chat.choose("digest:sol:999999")  # a card that no longer exists
    assert "plus disponible" in chat.text and chat.last[-1] == question

    chat.choose(skip)  # the flow's own button is still valid: the flow goes on
    assert "plus valable" not in chat.text and chat.last[-1] != question
    sub = _sub(db, _person(db, "u1"))
    assert sub is not None and sub.weekday == 2 and sub.themes == ["Eau"]


# --------------------------------------------------------------------------- digest buttons


def test_solution_card(_eng: ConversationEngine, db) -> None:  # type: ignore[no-untyped-def]
    ids = _seed(db)
    chat = _Chat(_eng)
    chat.choose(f"digest:sol:{ids['sol']}")
    text = chat.text.replace("\u00a0", " ")
    for part in ("Solution : Cantine zéro gaspi", "Porteur : Cantine SAS",
                 "Mission : Pesée des restes", "Thèmes : Agriculture et alimentation",
                 "Maturité : déployée", "Niveau de confiance : qualifiée",
                 "Site : https://cantine.example",
                 "Contact (catalogue public) : contact@cantine.example"):  # fmt: skip
        assert part in text, part
    assert chat.labels() == ["Demander une mise en relation"]
    # a solution registered in chat: its submitter's e-mail is personal data
    chat.choose(f"digest:sol:{ids['chat_sol']}")
    assert "Solution inscrite en chat" in chat.text
    assert "fondatrice@startup.example" not in chat.text
    chat.say("/langue en")
    chat.choose(f"digest:sol:{ids['sol']}")
    assert "Trust level: qualified" in chat.text and "Maturity: deployed" in chat.text


def test_rex_card_labels_failures_and_offers_an_introduction(
    _eng: ConversationEngine, db: Database
) -> None:
    ids = _seed(db)
    chat = _Chat(_eng)
    chat.choose(f"digest:rex:{ids['failed']}")
    text = chat.text.replace("\u00a0", " ")
    for part in ("Retour d'expérience : Capteurs de bruit",
                 "Qui : Pontarlier (10 000 à 50 000 habitants)",
                 "Problème : Nuisances sonores la nuit",
                 "Ce qui a été essayé : Capteurs connectés", "Période : 2021 – 2022",
                 "Résultat : ⚠ échec", "Enseignements : Associer les riverains"):  # fmt: skip
        assert part in text, part
    assert "Chargée de mission" not in text
    assert "Les joindre : par un facilitateur PIU" in text  # the route, before asking
    chat.press("Demander un contact")
    assert "PIU peut conserver une adresse e-mail" in chat.text  # no contact yet: offered
    chat.press("Continuer sans")  # no chat user behind it: queued for a facilitator
    assert "facilitat" in chat.text.lower() or "relai" in chat.text.lower(), chat.text
    with db.session() as s:
        intro = s.scalar(select(Introduction).where(Introduction.experience_id == ids["failed"]))
        assert intro is not None and intro.status == IntroStatus.QUEUED
    chat.choose(f"digest:rex:{ids['ok']}")
    assert "Résultat : réussite" in chat.text.replace("\u00a0", " ")
    # nobody agreed to be contacted: a facilitator relays, so the request is still offered
    assert chat.labels() == ["Demander un contact"]


def test_need_card_is_anonymised_and_answered_with_a_proposal(
    _eng: ConversationEngine, db: Database
) -> None:
    ids = _seed(db)
    with db.session() as s:
        need = s.get(Need, ids["need"])
        assert need is not None
        need.raw_text = "À Dole, réduire le gaspillage alimentaire dans nos cantines scolaires"
        need.dep = "39"
        founder = Person(role=Role.STARTUP, language="en")
        s.add(founder)
        s.flush()
        s.add(ChatIdentity(person_id=founder.id, transport=T, external_id="startup"))
        s.add(
            Solution(
                external_id="peson",
                title="Peson de cantine",
                mission="Réduire le gaspillage alimentaire dans les cantines scolaires",
                themes=["Agriculture et alimentation"],
                submitted_by_id=founder.id,
                source="chat",
            )
        )
    _eng.service.ensure_ready()
    _eng.service.need_similarity_threshold = 0.0  # the hashing embedder: every need fits
    startup = _Chat(_eng, "startup")
    startup.say("/langue en")  # locked: the French pitch below does not switch it
    startup.choose(f"digest:need:{ids['need']}")
    text = startup.text
    for part in ("A local authority's need", "Need: À […], réduire le gaspillage",
                 "Size: 10,000 to 50,000 inhabitants", "Stage: Testing, piloting",
                 "Budget: Under €60k"):  # fmt: skip
        assert part in text, part
    for secret in ("Dole", BUYER_EMAIL, BUYER_NAME, BUYER_PHONE, "30,000", "30 000"):
        assert secret not in text, secret
    # answered with a proposal (the buyer opts in), not with a request for their contact
    assert startup.labels() == ["Propose my solution"]
    startup.press("Propose my solution")
    assert "two lines" in startup.text, startup.text  # straight to the pitch for this need
    startup.say("Nous pesons les restes chaque jour.")
    startup.press("Send")
    with db.session() as s:
        intro = s.scalar(select(Introduction).where(Introduction.need_id == ids["need"]))
        assert intro is not None and intro.kind == "proposal"
        assert intro.status == IntroStatus.REQUESTED and intro.target_person_id == ids["buyer"]
    startup.choose(f"digest:need:{ids['closed']}")
    assert "no longer available" in startup.text
    # the buyer reads their own need as written, with nothing to answer
    buyer = _Chat(_eng, "buyer")
    buyer.choose(f"digest:need:{ids['need']}")
    assert "À Dole, réduire le gaspillage" in buyer.text and buyer.labels() == []


def test_intro_card_shows_the_pending_request_with_accept_decline(
    _eng: ConversationEngine, db: Database, settings: Settings
) -> None:
    ids = _seed(db)
    with db.session() as s:
        startup = Person(role=Role.STARTUP, language="fr")
        s.add(startup)
        s.flush()
        s.add(ChatIdentity(person_id=startup.id, transport=T, external_id="startup"))
        startup_id = startup.id
    result = request_introduction(
        db, requester_id=startup_id, need_id=ids["need"], settings=settings,
        message="Nous avons une solution",
    )  # fmt: skip
    assert result.code == "sent"
    intro_id = result.introduction_id
    buyer = _Chat(_eng, "buyer")
    buyer.choose(f"digest:intro:{intro_id}")
    assert "Nous avons une solution" in buyer.text
    ids_shown = [b.id for m in buyer.last for b in m.buttons]
    assert ids_shown == [f"intro:accept:{intro_id}", f"intro:decline:{intro_id}"]
    # not addressed to the start-up
    other = _Chat(_eng, "startup")
    other.choose(f"digest:intro:{intro_id}")
    assert "n'existe plus" in other.text and other.labels() == []
    buyer.press("Refuser")
    buyer.choose(f"digest:intro:{intro_id}")
    assert "déjà reçu une réponse" in buyer.text and buyer.labels() == []
    buyer.choose("digest:intro:999999999999999999999")  # too long: refused, no crash
    assert buyer.labels() == []


# --------------------------------------------------------------------------- API


@pytest.fixture
def _client(db: Database, settings: Settings) -> TestClient:
    from api.routes import subscriptions

    return chat_client(build_services(settings, db=db, ready=False), subscriptions.router)


def _admin_key(db: Database) -> str:
    return admin_key(db, "facilitateur-digest")


def test_admin_subscription_endpoints(_client: TestClient, db: Database) -> None:
    ids = _seed(db)
    url = f"/api/admin/persons/{ids['buyer']}/subscription"
    assert _client.get(url).status_code == 401
    assert _client.put(url, json={"hour": 8}, headers={"X-API-Key": "piu_wrong"}).status_code == 401
    key = {"X-API-Key": _admin_key(db)}
    got = _client.get(url, headers=key)
    assert got.status_code == 200 and got.json()["subscribed"] is False
    assert got.json()["description"] == "Vous ne recevez pas la lettre hebdomadaire."
    assert _client.get("/api/admin/persons/99999/subscription", headers=key).status_code == 404

    put = _client.put(
        url, json={"cadence": "weekly", "weekday": 4, "hour": 8, "themes": ["mobilite", "Energy"]},
        headers=key,
    )  # fmt: skip
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["subscribed"] and (body["weekday"], body["hour"]) == (4, 8)
    assert body["themes"] == ["Mobilité", "Énergie"]
    assert body["theme_ids"] == ["mobilite", "energie"]
    assert "vendredi à 8 h" in body["description"]
    assert _client.get(url, headers=key).json() == body

    bad = _client.put(url, json={"hour": 24}, headers=key)
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "hour"
    bad = _client.put(url, json={"weekday": 7}, headers=key)
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "weekday"
    bad = _client.put(url, json={"themes": ["astrologie"]}, headers=key)
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "themes"
    assert _client.put(url, json={"cadence": "daily"}, headers=key).status_code == 422
    assert _client.get(url, headers=key).json()["hour"] == 8  # nothing changed
    with db.session() as s:
        audited = s.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "subscription_set")
        )
        assert audited == 1


def test_web_chat_subscription_endpoints(_client: TestClient, db: Database) -> None:
    url = "/api/chat/subscription"
    assert _client.get(url, params={"session_id": SID}).status_code == 404
    assert _client.get(url, params={"session_id": "x"}).status_code == 422
    reply = _client.post("/api/chat", json={"session_id": SID, "text": "/digest"})
    assert "Hebdomadaire" in [b["label"] for m in reply.json()["messages"] for b in m["buttons"]]
    got = _client.get(url, params={"session_id": SID})
    assert got.status_code == 200 and got.json()["subscribed"] is False
    put = _client.put(url, params={"session_id": SID}, json={"cadence": "weekly", "weekday": 2})
    assert put.status_code == 200 and put.json()["weekday"] == 2
    assert "mercredi" in put.json()["description"]
    bad = _client.put(url, params={"session_id": SID}, json={"hour": -1})
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "hour"
    # the chat sees what the API set
    reply = _client.post("/api/chat", json={"session_id": SID, "text": "/digest"})
    assert "chaque mercredi" in reply.json()["messages"][0]["text"]
    off = _client.put(url, params={"session_id": SID}, json={"cadence": "off"})
    assert off.json()["subscribed"] is False


def test_outbox_untouched_by_cards(_eng: ConversationEngine, db: Database) -> None:
    """Showing cards writes nothing but the conversation state."""
    ids = _seed(db)
    chat = _Chat(_eng)
    for choice in (
        f"digest:sol:{ids['sol']}",
        f"digest:rex:{ids['failed']}",
        f"digest:need:{ids['need']}",
    ):
        chat.choose(choice)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 0
        assert s.scalar(select(func.count()).select_from(Introduction)) == 0
