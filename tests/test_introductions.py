"""Double opt-in introductions, end to end at the service level (real SQLite file)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.domain import IntroStatus, NeedStatus, Outcome, Role
from core.models import (
    ChatIdentity,
    Experience,
    Introduction,
    IntroductionEvent,
    Need,
    Organisation,
    Outbox,
    Person,
    Solution,
    Territory,
)
from matcher.introductions import (
    can_reach,
    expire_stale,
    parse_button,
    queued_introductions,
    request_introduction,
    respond,
    route,
)

NOW = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)


def _person(session, name: str | None, *, chat: bool, email: str | None = None, **kw) -> Person:  # type: ignore[no-untyped-def]
    person = Person(display_name=name, email=email, role=Role.BUYER, **kw)
    if chat:
        person.identities.append(ChatIdentity(transport="terminal", external_id=f"ext-{name}"))
    session.add(person)
    session.flush()
    return person


@pytest.fixture
def world(db: Database) -> dict[str, int]:
    """A requester, a REX whose contact is a chat user, a REX from an import, a need."""
    with db.session() as session:
        session.add(
            Territory(kind="commune", code="39300", name="Lons-le-Saunier",
                      name_folded="lons le saunier", population=16_618, dep="39")
        )  # fmt: skip
        org = Organisation(kind="collectivite", name="Ville de Dole")
        session.add(org)
        session.flush()
        requester = _person(
            session, "Alice Martin", chat=True, email="alice@dole.fr", organisation_id=org.id
        )
        peer = _person(
            session, "Bruno Petit", chat=True, email="bruno@lons.fr", phone="0384000000",
            territory_code="39300", territory_kind="commune",
        )  # fmt: skip
        other = _person(session, "Chloé Durand", chat=True, email="chloe@x.fr")
        offline = _person(session, "Denis Roy", chat=False, email="denis@x.fr")
        sharing_owner = _person(session, "Eve", chat=True, email="eve@x.fr", share_contact=True)
        private_owner = _person(session, "Fred", chat=True, email="fred@x.fr")
        rex = Experience(
            external_id="rex-chat", title="Compostage collectif", territory_code="39300",
            territory_kind="commune", territory_name="Lons-le-Saunier", population=16_618,
            outcome=Outcome.SUCCESS, contact_person_id=peer.id, contact_consent=True,
        )  # fmt: skip
        rex_import = Experience(
            external_id="rex-anct", title="Tiers-lieu numérique", territory_name="Boulogne",
            contact_role="DGS", contact_consent=True, outcome=Outcome.FAILED,
        )  # fmt: skip
        rex_no_consent = Experience(
            external_id="rex-private", title="Capteurs", contact_consent=False
        )
        rex_offline = Experience(
            external_id="rex-offline", title="Navette autonome", contact_person_id=offline.id,
            contact_consent=True,
        )  # fmt: skip
        need_shared = Need(raw_text="Réduire les biodéchets", owner_id=sharing_owner.id,
                           status=NeedStatus.OPEN)  # fmt: skip
        need_private = Need(raw_text="Réduire les biodéchets", owner_id=private_owner.id,
                            status=NeedStatus.OPEN)  # fmt: skip
        sol = Solution(external_id="sol-1", title="Composteur connecté", submitted_by_id=other.id)
        session.add_all(
            [rex, rex_import, rex_no_consent, rex_offline, need_shared, need_private, sol]
        )
        session.flush()
        return {
            "requester": requester.id,
            "peer": peer.id,
            "other": other.id,
            "offline": offline.id,
            "sharing_owner": sharing_owner.id,
            "rex": rex.id,
            "rex_import": rex_import.id,
            "rex_no_consent": rex_no_consent.id,
            "rex_offline": rex_offline.id,
            "need_shared": need_shared.id,
            "need_private": need_private.id,
            "solution": sol.id,
        }


def _outbox(db: Database, person_id: int) -> list[dict]:  # type: ignore[type-arg]
    with db.session() as session:
        return [
            row.payload
            for row in session.scalars(
                select(Outbox).where(Outbox.person_id == person_id).order_by(Outbox.id)
            )
        ]


def _events(db: Database, intro_id: int) -> list[str]:
    with db.session() as session:
        return [
            str(e.status)
            for e in session.scalars(
                select(IntroductionEvent)
                .where(IntroductionEvent.introduction_id == intro_id)
                .order_by(IntroductionEvent.id)
            )
        ]


def _count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_request_then_accept_shares_both_contacts(db: Database, world: dict[str, int]) -> None:
    result = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"],
        message="Bonjour, comment avez-vous financé le projet ?", now=NOW,
    )  # fmt: skip
    assert result.code == "sent" and result.status is IntroStatus.REQUESTED
    intro_id = result.introduction_id
    assert intro_id is not None

    # the peer gets a request with accept/decline buttons, and no contact of anyone yet
    (request,) = _outbox(db, world["peer"])
    assert request["key"] == "intro_request"
    assert request["params"]["who"] == "Ville de Dole"
    assert request["params"]["about"] == "Compostage collectif"
    assert "alice@dole.fr" not in str(request)
    ids = [b["id"] for b in request["buttons"]]
    assert ids == [f"intro:accept:{intro_id}", f"intro:decline:{intro_id}"]
    assert parse_button(ids[0]) == (True, intro_id)
    assert parse_button(ids[1]) == (False, intro_id)
    assert _outbox(db, world["requester"]) == []

    accepted = respond(db, introduction_id=intro_id, responder_id=world["peer"], accept=True)
    assert accepted.code == "accepted"
    (to_requester,) = _outbox(db, world["requester"])
    assert to_requester["key"] == "intro_accepted"
    assert "bruno@lons.fr" in to_requester["params"]["contact"]
    assert "Bruno Petit" in to_requester["params"]["contact"]
    assert "0384000000" in to_requester["params"]["contact"]
    to_peer = _outbox(db, world["peer"])[-1]
    assert to_peer["key"] == "intro_accepted_target"
    assert "alice@dole.fr" in to_peer["params"]["contact"]
    assert _events(db, intro_id) == ["requested", "accepted"]

    # answered once only
    again = respond(db, introduction_id=intro_id, responder_id=world["peer"], accept=False)
    assert again.code == "already_answered"


def test_decline_shares_nothing(db: Database, world: dict[str, int]) -> None:
    result = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"], now=NOW
    )
    declined = respond(
        db, introduction_id=result.introduction_id, responder_id=world["peer"], accept=False
    )
    assert declined.code == "declined"
    (to_requester,) = _outbox(db, world["requester"])
    assert to_requester["key"] == "intro_declined"
    assert "bruno@lons.fr" not in str(to_requester) and "0384" not in str(to_requester)
    peer_box = _outbox(db, world["peer"])
    assert len(peer_box) == 1 and "alice@dole.fr" not in str(peer_box)
    assert _events(db, result.introduction_id) == ["requested", "declined"]
    with db.session() as session:
        assert session.get(Introduction, result.introduction_id).status == IntroStatus.DECLINED


def test_only_the_target_may_respond(db: Database, world: dict[str, int]) -> None:
    result = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"], now=NOW
    )
    for intruder in (world["requester"], world["other"]):
        refused = respond(
            db, introduction_id=result.introduction_id, responder_id=intruder, accept=True
        )
        assert refused.code == "not_target"
    assert _outbox(db, world["requester"]) == []
    assert respond(db, introduction_id=999_999, responder_id=world["peer"], accept=True).code == (
        "not_found"
    )


def test_cap_reached_is_a_polite_refusal_creating_nothing(
    db: Database, world: dict[str, int]
) -> None:
    with db.session() as session:
        requesters = [_person(session, f"R{i}", chat=True).id for i in range(4)]
    for i, rid in enumerate(requesters[:3]):
        res = request_introduction(
            db, requester_id=rid, experience_id=world["rex"], cap_per_month=3,
            now=NOW - dt.timedelta(days=20 - i),
        )  # fmt: skip
        assert res.code == "sent"
    intros, events, boxes = (
        _count(db, Introduction),
        _count(db, IntroductionEvent),
        _count(db, Outbox),
    )
    capped = request_introduction(
        db, requester_id=requesters[3], experience_id=world["rex"], cap_per_month=3, now=NOW
    )
    assert capped.code == "cap_reached" and capped.introduction_id is None
    assert capped.params == {"cap": 3, "days": 30}
    assert (_count(db, Introduction), _count(db, IntroductionEvent), _count(db, Outbox)) == (
        intros,
        events,
        boxes,
    )
    # the window is rolling: 31 days later the oldest requests no longer count
    later = request_introduction(
        db, requester_id=requesters[3], experience_id=world["rex"], cap_per_month=3,
        now=NOW + dt.timedelta(days=12),
    )  # fmt: skip
    assert later.code == "sent"


def test_cap_uses_settings(db: Database, world: dict[str, int], settings) -> None:  # type: ignore[no-untyped-def]
    settings.intro_cap_per_month = 1
    first = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"], settings=settings, now=NOW
    )
    assert first.code == "sent"
    second = request_introduction(
        db, requester_id=world["other"], experience_id=world["rex"], settings=settings, now=NOW
    )
    assert second.code == "cap_reached"


def test_duplicate_pending_request(db: Database, world: dict[str, int]) -> None:
    first = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"], now=NOW
    )
    again = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"], now=NOW
    )
    assert again.code == "already_requested"
    assert again.introduction_id == first.introduction_id
    assert _count(db, Introduction) == 1


def test_queued_when_target_is_not_a_chat_user(db: Database, world: dict[str, int]) -> None:
    for exp_key in ("rex_import", "rex_offline"):
        result = request_introduction(
            db, requester_id=world["requester"], experience_id=world[exp_key], now=NOW
        )
        assert result.code == "queued" and result.status is IntroStatus.QUEUED
        assert _events(db, result.introduction_id) == ["requested", "queued"]
    assert _outbox(db, world["offline"]) == []
    queued = queued_introductions(db)
    assert [q["about"] for q in queued] == ["Tiers-lieu numérique", "Navette autonome"]
    assert queued[0]["target_label"] == "DGS — Boulogne"
    # a queued request cannot be answered in chat by someone else
    assert (
        respond(
            db, introduction_id=queued[0]["id"], responder_id=world["requester"], accept=True
        ).code
        == "not_target"
    )


def test_every_rex_is_reachable_a_private_need_is_not(db: Database, world: dict[str, int]) -> None:
    # a REX without a consented contact goes to the facilitators' queue
    result = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex_no_consent"], now=NOW
    )
    assert result.code == "queued" and result.status == IntroStatus.QUEUED
    assert [q["id"] for q in queued_introductions(db)] == [result.introduction_id]
    private = request_introduction(
        db, requester_id=world["requester"], need_id=world["need_private"], now=NOW
    )
    assert private.code == "no_contact"
    assert _count(db, Introduction) == 1


def test_a_rex_contact_without_consent_is_never_asked_directly(
    db: Database, world: dict[str, int]
) -> None:
    with db.session() as session:
        rex = session.get(Experience, world["rex_no_consent"])
        assert rex is not None
        rex.contact_person_id = world["other"]  # a chat user, who did not agree
        assert route(session, experience_id=rex.id) == "facilitator"
    result = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex_no_consent"], now=NOW
    )
    assert result.code == "queued"
    assert _outbox(db, world["other"]) == []


def test_need_owner_and_solution_carrier(db: Database, world: dict[str, int]) -> None:
    need = request_introduction(
        db, requester_id=world["requester"], need_id=world["need_shared"], now=NOW
    )
    assert need.code == "sent"
    assert _outbox(db, world["sharing_owner"])[0]["params"]["about"] == "Réduire les biodéchets"
    sol = request_introduction(
        db, requester_id=world["requester"], solution_id=world["solution"], now=NOW
    )
    assert sol.code == "sent"
    assert _outbox(db, world["other"])[0]["key"] == "intro_request"
    own = request_introduction(db, requester_id=world["peer"], experience_id=world["rex"], now=NOW)
    assert own.code == "self"
    with pytest.raises(ValueError):
        request_introduction(
            db, requester_id=world["requester"], experience_id=world["rex"],
            need_id=world["need_shared"],
        )  # fmt: skip


def test_expire_stale(db: Database, world: dict[str, int]) -> None:
    old = request_introduction(
        db, requester_id=world["requester"], experience_id=world["rex"],
        now=NOW - dt.timedelta(days=20),
    )  # fmt: skip
    fresh = request_introduction(
        db, requester_id=world["requester"], need_id=world["need_shared"], now=NOW
    )
    assert expire_stale(db, NOW, days=14) == 1
    assert _events(db, old.introduction_id) == ["requested", "expired"]
    assert _events(db, fresh.introduction_id) == ["requested"]
    (told,) = _outbox(db, world["requester"])
    assert told["key"] == "intro_expired"
    late = respond(db, introduction_id=old.introduction_id, responder_id=world["peer"], accept=True)
    assert late.code == "already_answered"
    assert expire_stale(db, NOW, days=14) == 0


def test_can_reach_says_whether_a_request_could_be_passed_on(
    db: Database, world: dict[str, int]
) -> None:
    with db.session() as session:
        assert can_reach(session, experience_id=world["rex"])  # a chat user who agreed
        assert route(session, experience_id=world["rex"]) == "direct"
        assert can_reach(session, experience_id=world["rex_import"])  # a facilitator relays
        assert route(session, experience_id=world["rex_import"]) == "facilitator"
        assert route(session, experience_id=world["rex_offline"]) == "facilitator"
        assert can_reach(session, experience_id=world["rex_no_consent"])  # every REX
        assert route(session, need_id=world["need_private"]) is None
        assert can_reach(session, need_id=world["need_shared"])
        assert not can_reach(session, need_id=world["need_private"])  # owner shares nothing
        assert can_reach(session, solution_id=world["solution"])  # its start-up is in chat
        assert not can_reach(session, experience_id=10**9)
    # and request_introduction agrees
    refused = request_introduction(db, requester_id=world["requester"],
                                   need_id=world["need_private"], now=NOW)  # fmt: skip
    assert refused.code == "no_contact"


def test_an_acceptance_names_who_accepted_even_without_a_name(
    db: Database, world: dict[str, int]
) -> None:
    with db.session() as session:
        carrier = _person(session, None, chat=True, email="hello@zerogaspi.fr")
        sol = Solution(
            external_id="sol-anon", title="Cantine zéro gaspi", organisation_name="Zéro Gaspi",
            submitted_by_id=carrier.id,
        )  # fmt: skip
        session.add(sol)
        session.flush()
        carrier_id, sol_id = carrier.id, sol.id
    sent = request_introduction(db, requester_id=world["requester"], solution_id=sol_id, now=NOW)
    assert sent.introduction_id is not None
    answer = respond(
        db, introduction_id=sent.introduction_id, responder_id=carrier_id, accept=True, now=NOW
    )
    assert answer.ok
    accepted = [p for p in _outbox(db, world["requester"]) if p["key"] == "intro_accepted"]
    assert accepted[0]["params"]["who"] == "Zéro Gaspi"
