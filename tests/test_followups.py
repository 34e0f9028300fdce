"""The follow-up loop: introduction → pilot → contract → a REX for the next town.

Fast tests drive matcher.introductions / matcher.followups and the engine (hashing
embedder); the end-to-end test uses the real model, the real engine and the admin API.
Every introduction, answer and REX here is made by the product's own code paths.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import analytics
from api.app import create_app
from api.wiring import Services, build_services
from bot.types import OutMessage
from core import catalogue
from core.config import Settings
from core.db import Database
from core.domain import IntroStatus, Moderation, NeedStatus, Role, TerritoryKind, TrustLevel, fold
from core.models import (
    AuditLog,
    Experience,
    FollowUp,
    Introduction,
    Need,
    Outbox,
    Person,
    Solution,
    Territory,
    utcnow,
)
from matcher import followups
from matcher.followup_runner import FollowUpRunner
from matcher.introductions import request_introduction, respond
from tests.helpers import ARTIFACTS, admin_key, chat_person, flat
from tests.test_engine import Chat

T = "test"
SHOTS = ARTIFACTS


_flat = flat


def _chat_person(session, external_id: str, **kw) -> Person:  # type: ignore[no-untyped-def]
    return chat_person(session, T, external_id, **kw)  # type: ignore[no-any-return]


def _startup_solution(db: Database, title: str = "Cantine zéro gaspi") -> tuple[int, int]:
    """A start-up (chat user) and its solution, written like a chat registration."""
    with db.session() as session:
        startup = _chat_person(session, "startup", role=Role.STARTUP, email="hello@zerogaspi.fr")
        written = catalogue.create_solution(
            session,
            external_id="zero-gaspi",
            values={
                "title": title,
                "mission": "Pesée des restes et menus ajustés pour réduire le gaspillage "
                "alimentaire dans les cantines scolaires.",
                "themes": ["Agriculture et alimentation"],
                "target_kinds": ["commune"],
            },
            actor="test",
            source="chat",
            submitted_by_id=startup.id,
        )
        return startup.id, written.row.id


def _buyer(db: Database, name: str, text: str) -> tuple[int, int]:
    """A buyer (chat user) with one open need, the shape the buyer flow saves."""
    with db.session() as session:
        buyer = _chat_person(session, name, role=Role.BUYER, email=f"{name}@ville.fr")
        need = Need(owner_id=buyer.id, raw_text=text, status=NeedStatus.OPEN, themes=[])
        session.add(need)
        session.flush()
        return buyer.id, need.id


def _in_window(after: dt.datetime, settings: Settings) -> dt.datetime:
    return followups.next_window(after, settings)


def _outbox(db: Database, person_id: int) -> list[dict]:  # type: ignore[type-arg]
    with db.session() as session:
        return [
            o.payload
            for o in session.scalars(
                select(Outbox).where(Outbox.person_id == person_id).order_by(Outbox.id)
            )
        ]


def _answer(db: Database, settings: Settings, person_id: int, verb: str, now: dt.datetime):  # type: ignore[no-untyped-def]
    with db.session() as session:
        (row,) = session.scalars(
            select(FollowUp).where(
                FollowUp.person_id == person_id,
                FollowUp.sent_at.is_not(None),
                FollowUp.answered_at.is_(None),
            )
        )
        return followups.answer(
            session, followup_id=row.id, person_id=person_id, verb=verb, now=now, settings=settings
        )


def _funnel_world(db: Database, settings: Settings) -> dict[str, int]:
    """Three buyers ask the start-up: one goes to a signed contract, one is accepted, one
    declined; a fourth buyer only has a need."""
    startup_id, sol_id = _startup_solution(db)
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)  # a Monday, 10:30 in Paris
    ids = {"startup": startup_id, "solution": sol_id}
    for name, accept in (("a", True), ("b", True), ("c", False)):
        buyer_id, need_id = _buyer(db, name, f"Réduire le gaspillage à la cantine ({name})")
        ids[name], ids[f"need_{name}"] = buyer_id, need_id
        result = request_introduction(db, requester_id=buyer_id, solution_id=sol_id, now=t0)
        assert result.code == "sent"
        assert respond(
            db, introduction_id=result.introduction_id or 0, responder_id=startup_id,
            accept=accept, now=t0, settings=settings,
        ).ok  # fmt: skip
        ids[f"intro_{name}"] = result.introduction_id or 0
    _buyer(db, "d", "Un besoin sans mise en relation")
    # A: the follow-up, a pilot of 3 months, shared with the start-up, success, a contract
    first = _in_window(t0 + dt.timedelta(days=settings.followup_days), settings)
    assert followups.send_due(db, settings, first) == 2  # A and B (C declined)
    assert _answer(db, settings, ids["a"], "pilot", first).next == "duration"
    assert _answer(db, settings, ids["b"], "talks", first).code == "ok"
    with db.session() as session:
        kw = {"introduction_id": ids["intro_a"], "person_id": ids["a"], "now": first}
        assert followups.record_pilot_plan(session, months=3, **kw)
        assert followups.record_share(session, share=True, **kw)
    end = _in_window(first + dt.timedelta(days=93), settings)
    FollowUpRunner(db, settings).run(end)
    assert _answer(db, settings, ids["a"], "success", end).next == "contract"
    with db.session() as session:
        assert followups.record_contract(
            session, introduction_id=ids["intro_a"], person_id=ids["a"], signed=True, now=end
        )
    ids["end"] = int(end.timestamp())
    return ids


def test_funnel_counts_come_from_the_real_paths(db: Database, settings: Settings) -> None:
    ids = _funnel_world(db, settings)
    with db.session() as session:
        counts = {r.stage: r.count for r in analytics.funnel(session)}
        intro_a = session.get(Introduction, ids["intro_a"])
        assert intro_a is not None and intro_a.requester_need_id == ids["need_a"]
        assert intro_a.status == IntroStatus.CONTRACT_SIGNED
        sol = session.get(Solution, ids["solution"])
        assert sol is not None and sol.trust_level == TrustLevel.PILOT_CONFIRMED
        (audit,) = session.scalars(select(AuditLog).where(AuditLog.action == "qualify"))
        assert audit.detail["to"] == "pilot_confirmed" and audit.actor == "followup"
    assert counts == {"need": 4, "introduction": 3, "accepted": 2, "pilot": 1, "contract": 1}
    # the start-up heard the pilot start, its outcome and the contract (A consented)
    keys = [p["key"] for p in _outbox(db, ids["startup"])]
    assert keys[-3:] == ["fu_startup_pilot", "fu_startup_outcome", "fu_startup_contract"]


def test_followups_exactly_once_in_the_day_once_a_week_and_never_after_stop(
    db: Database, settings: Settings
) -> None:
    startup_id, sol_id = _startup_solution(db)
    buyer_id, _ = _buyer(db, "a", "Réduire le gaspillage à la cantine")
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    intro = request_introduction(db, requester_id=buyer_id, solution_id=sol_id, now=t0)
    respond(db, introduction_id=intro.introduction_id or 0, responder_id=startup_id, accept=True,
            now=t0, settings=settings)  # fmt: skip
    due = t0 + dt.timedelta(days=settings.followup_days)  # a Monday
    saturday = due + dt.timedelta(days=5)
    night = dt.datetime.combine(due.date(), dt.time(21, 30), tzinfo=dt.UTC)  # 22:30 in Paris
    assert followups.send_due(db, settings, saturday) == 0
    assert followups.send_due(db, settings, night) == 0
    assert followups.send_due(db, settings, t0) == 0  # not due yet
    morning = _in_window(due, settings)
    assert followups.send_due(db, settings, morning) == 1
    assert followups.send_due(db, settings, morning) == 0  # exactly once
    (question,) = [p for p in _outbox(db, buyer_id) if p.get("kind") == "followup"]
    assert question["key"] == "fu_after_accept" and question["params"]["about"]
    assert [b["key"] for b in question["buttons"]] == [
        "fu_btn_pilot", "fu_btn_talks", "fu_btn_none", "fu_btn_stop"
    ]  # fmt: skip
    # "in discussion": asked again later, never twice within a week for the same need
    _answer(db, settings, buyer_id, "talks", morning)
    with db.session() as session:
        again = session.scalar(select(FollowUp).where(FollowUp.round == 1))
        assert again is not None
        again.due_at = morning + dt.timedelta(days=2)  # as if the setting were 2 days
    assert (
        followups.send_due(db, settings, _in_window(morning + dt.timedelta(days=3), settings)) == 0
    )
    later = _in_window(morning + dt.timedelta(days=8), settings)
    assert followups.send_due(db, settings, later) == 1
    assert _answer(db, settings, buyer_id, "stop", later).code == "stopped"
    with db.session() as session:
        session.add(FollowUp(person_id=buyer_id, introduction_id=intro.introduction_id,
                             kind="after_accept", round=9, due_at=later))  # fmt: skip
    assert followups.send_due(db, settings, _in_window(later + dt.timedelta(days=9), settings)) == 0


def test_expire_stale_runs_from_the_runner(db: Database, settings: Settings) -> None:
    _, sol_id = _startup_solution(db)
    buyer_id, _ = _buyer(db, "a", "Un besoin")
    t0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    request_introduction(db, requester_id=buyer_id, solution_id=sol_id, now=t0)
    report = FollowUpRunner(db, settings).run(
        t0 + dt.timedelta(days=settings.intro_expiry_days + 1)
    )
    assert report["expired"] == 1
    assert [p["key"] for p in _outbox(db, buyer_id)] == ["intro_expired"]


def test_stalled_pilots_are_listed(db: Database, settings: Settings) -> None:
    ids = _funnel_world(db, settings)
    end = dt.datetime.fromtimestamp(ids["end"], dt.UTC)
    with db.session() as session:  # B starts a pilot and then says nothing
        (row,) = session.scalars(
            select(FollowUp).where(FollowUp.person_id == ids["b"], FollowUp.round == 1)
        )
        row.due_at = end
    FollowUpRunner(db, settings).run(end)
    assert _answer(db, settings, ids["b"], "pilot", end).code == "ok"
    with db.session() as session:
        followups.record_pilot_plan(
            session, introduction_id=ids["intro_b"], person_id=ids["b"], months=3, now=end
        )
        weeks = settings.stalled_pilot_weeks
        assert analytics.stalled_pilots(session, now=end, weeks=weeks)[0] == 0
        late = end + dt.timedelta(days=92 + 7 * weeks + 1)
        total, rows = analytics.stalled_pilots(session, now=late, weeks=weeks)
    assert total == 1 and rows[0]["id"] == ids["intro_b"] and rows[0]["solution"]


def test_closing_a_need_asks_why_and_offers_its_solutions(
    db: Database, settings: Settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    from tests.test_engine import _make_engine

    _, sol_id = _startup_solution(db)
    buyer_id, need_id = _buyer(db, "a", "Réduire le gaspillage à la cantine")
    request_introduction(db, requester_id=buyer_id, solution_id=sol_id)
    engine = _make_engine(db, settings, hashing_embedder)
    buyer = Chat(engine, "a")
    buyer.say("/mesbesoins")
    buyer.press("Clore le n°1")
    assert "pourquoi clore ce besoin" in _flat(buyer.text)
    assert buyer.labels()[:3] == ["Résolu avec Cantine zéro gaspi", "Abandonné", "Autre raison"]
    buyer.press("Résolu avec")
    assert "/rex pour le raconter" in _flat(buyer.text)
    with db.session() as session:
        need = session.get(Need, need_id)
        assert need is not None and need.close_reason == "met" and need.met_by_solution_id == sol_id


# --------------------------------------------------------------------------- end to end

SIMILAR_A = (
    "Je suis adjointe au maire de Champagnole. Nous voulons réduire le gaspillage "
    "alimentaire dans les cantines scolaires."
)
SIMILAR_B = (
    "Bonjour, mairie de Poligny : trop de repas jetés à la cantine de nos écoles, "
    "comment limiter ces restes ?"
)


def _territories(db: Database) -> None:
    rows = [
        dict(kind=TerritoryKind.COMMUNE, code="39097", name="Champagnole", population=8_100,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
        dict(kind=TerritoryKind.COMMUNE, code="39434", name="Poligny", population=12_000,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
        dict(kind=TerritoryKind.DEPARTEMENT, code="39", name="Jura", population=259_000,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
    ]  # fmt: skip
    with db.session() as session:
        for row in rows:
            session.add(Territory(name_folded=fold(str(row["name"])), **row))
        for i, (title, mission) in enumerate(
            [
                ("Covoit'Agents", "Covoiturage domicile-travail pour les agents."),
                ("Éclairage intelligent", "Éclairage public piloté à distance."),
            ]
        ):
            session.add(Solution(external_id=f"other-{i}", title=title, mission=mission))
        session.add(
            Experience(external_id="rex-lights", title="Éclairage public abaissé la nuit",
                       problem="Abaisser l'intensité de l'éclairage public la nuit",
                       territory_kind="commune", territory_code="39478",
                       territory_name="Saint-Claude", population=9_000, dep="39")
        )  # fmt: skip


def _log(transcript: list[str], who: str, said: str, out: list[OutMessage]) -> None:
    transcript.append(f"> {who}: {said}")
    for m in out:
        transcript.append(m.text)
        if m.buttons:
            transcript.append("   " + " ".join(f"[{b.label}]" for b in m.buttons))


class LoggedChat(Chat):
    def __init__(self, services: Services, user: str, transcript: list[str]) -> None:
        super().__init__(services.engine, user)
        self.transcript = transcript

    def say(self, text: str) -> list[OutMessage]:
        out = super().say(text)
        _log(self.transcript, self.user, text, out)
        return out

    def press(self, label: str) -> list[OutMessage]:
        button = self.button(label)
        out = super().choose(button)
        _log(self.transcript, self.user, f"[{label}]", out)
        return out

    def to_results(self) -> None:
        """Answer the scoping questions with their default (skip, done, confirm)."""
        for _ in range(10):
            labels = self.labels()
            pick = next((x for x in ("Confirmer", "Terminé", "Passer") if x in labels), None)
            if pick is None:
                raise AssertionError(f"no way on from {labels}")
            self.press(pick)
            if pick == "Confirmer":
                return
        raise AssertionError("the scoping never ended")

    def inbox(self) -> list[OutMessage]:
        out = self.engine.pending_outbox(T, self.user)
        self._got(out)
        _log(self.transcript, self.user, "(messages PIU sent meanwhile)", out)
        return out


@pytest.mark.slow
def test_a_pilot_in_one_town_becomes_a_peer_for_the_next(
    db: Database, settings: Settings, embedder
) -> None:  # type: ignore[no-untyped-def]
    _territories(db)
    _, sol_id = _startup_solution(db)
    # two people talking for a long while: above the per-minute flood limit
    settings = settings.model_copy(update={"chat_rate_limit_per_minute": 1000})
    services = build_services(settings, db=db, embedder=embedder)
    client = TestClient(create_app(settings, services, load_indexes=False))
    headers = {"X-API-Key": admin_key(db, "incubateur")}
    runner = FollowUpRunner(db, settings)
    transcript: list[str] = []

    # A (about 8,000 inhabitants) leaves a contact, states a need, asks the start-up
    a = LoggedChat(services, "a", transcript)
    a.say("/contact")
    a.press("J'accepte et je la donne")
    a.say("elu@champagnole.example")
    a.press("Non")
    a.say(SIMILAR_A)
    a.to_results()
    assert "Cantine zéro gaspi" in a.text
    a.press("mise en relation")
    a.press("Cantine zéro gaspi")
    assert "Demande envoyée" in _flat(a.text)
    startup = Chat(services.engine, "startup")
    (request,) = services.engine.pending_outbox(T, "startup")
    startup.choose(next(b.id for b in request.buttons if b.label == "Accepter"))
    a.inbox()

    # the follow-up, 21 days later within office hours: a pilot of 3 months, shared
    asked = followups.next_window(utcnow() + dt.timedelta(days=settings.followup_days), settings)
    assert runner.run(asked)["followups_sent"] == 1
    a.inbox()
    assert "Où en êtes-vous" in _flat(a.text)
    a.press("Expérimentation lancée")
    a.press("3 mois")
    a.press("Oui, prévenez-les")
    told = [m.text for m in services.engine.pending_outbox(T, "startup")]
    assert any("a lancé une expérimentation" in _flat(x) for x in told), told
    with db.session() as session:
        sol = session.get(Solution, sol_id)
        assert sol is not None and sol.trust_level == TrustLevel.PILOT_CONFIRMED

    # the pilot's end: success, a contract, then the REX interview with contact consent
    assert (
        runner.run(followups.next_window(utcnow() + dt.timedelta(days=95), settings))[
            "followups_sent"
        ]
        == 1
    )
    a.inbox()
    assert "arrive à son terme" in _flat(a.text)
    a.press("Réussie")
    a.press("Oui, signé")
    a.press("Raconter maintenant")
    a.say("Pesée des restes chaque midi et menus ajustés dans nos deux cantines scolaires.")
    a.press("10 000 à 40 000")
    a.say("Les cuisiniers ont adopté la pesée, les enfants jettent moins de pain.")
    a.say("Le logiciel de réservation des repas était trop compliqué pour les familles.")
    a.press("Oui")
    assert "au plus 3 par mois" in _flat(a.text)
    a.press("Oui, j'accepte")
    assert "un facilitateur la relit" in _flat(a.text)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "followup-transcript-A.txt").write_text("\n".join(transcript) + "\n")

    # a facilitator approves the draft (admin API): it is indexed
    drafts = client.get("/api/admin/moderation/rex", headers=headers).json()
    assert drafts["total"] == 1
    draft = drafts["items"][0]
    assert draft["moderation"] == "pending" and draft["territory_name"] == "Champagnole"
    assert draft["duration_months"] == 3 and draft["outcome"] == "success"
    with db.session() as session:
        rex = session.scalar(
            select(Experience).where(Experience.external_id == draft["external_id"])
        )
        assert rex is not None and rex.need_id is not None and rex.contact_person_id is not None
        assert rex.contact_consent and rex.solution_id == sol_id
    assert client.get(f"/api/rex/{draft['external_id']}").status_code == 404  # not public yet
    approved = client.post(
        f"/api/admin/moderation/rex/{draft['external_id']}/approve", headers=headers
    )
    assert approved.status_code == 200 and approved.json()["moderation"] == "approved"
    services.load_indexes()
    services.reindex("experience", rex.id)
    assert "est publiée" in _flat(" ".join(m.text for m in a.inbox()))

    # B (about 12,000 inhabitants) says it in other words: A is a peer, with that REX
    b_transcript: list[str] = []
    b = LoggedChat(services, "b", b_transcript)
    b.say("/contact")
    b.press("J'accepte et je la donne")
    b.say("dgs@poligny.example")
    b.press("Non")
    b.say(SIMILAR_B)
    b.to_results()
    text = _flat(b.text)
    assert "Champagnole" in text and "réussite" in text, text
    b.press("mise en relation")
    b.press("Champagnole")
    assert "Demande envoyée" in _flat(b.text)
    (ask,) = a.inbox()
    assert "Poligny" in _flat(ask.text)
    a.press("Accepter")
    assert "dgs@poligny.example" in _flat(a.text)
    (got,) = b.inbox()
    assert "elu@champagnole.example" in got.text
    (SHOTS / "followup-transcript-B.txt").write_text("\n".join(b_transcript) + "\n")
    (SHOTS / "followup-transcript-A.txt").write_text("\n".join(transcript) + "\n")

    funnel = client.get("/api/admin/analytics/funnel", headers=headers).json()
    counts = {s["stage"]: s["count"] for s in funnel["stages"]}
    # two needs (A's and B's); A's went all the way with the start-up
    assert counts == {"need": 2, "introduction": 1, "accepted": 1, "pilot": 1, "contract": 1}
    page = client.get("/admin/analytics", headers=headers)
    assert page.status_code == 200 and "stalled-pilots" in page.text
    with db.session() as session:
        assert (
            session.scalar(select(Experience).where(Experience.moderation == Moderation.PENDING))
            is None
        )
