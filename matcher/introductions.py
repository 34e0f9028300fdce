"""Introductions with double opt-in: a peer's contact is never shown directly.

Flow:

1. :func:`request_introduction` — the requester asks to meet the person behind a REX,
   an open need or a catalogue solution. When that person is a chat user, an
   :class:`~core.models.Introduction` (``requested``) is created and an
   :class:`~core.models.Outbox` message with accept/decline buttons is queued for
   them; otherwise the request is ``queued`` for a facilitator (nothing is sent).
   Every REX is reachable one way or the other: directly when its contact agreed to be
   asked (``Experience.contact_consent``) and uses PIU in chat, else through the
   facilitators, who relay (the REX says where it comes from). :func:`route` says which.
   Requests per target are capped (``settings.intro_cap_per_month`` per rolling
   30 days, all requesters together) so nobody becomes a hotline.
2. :func:`respond` — only the target answers. Accept: both sides receive the
   other's contact details (only the fields stored on their ``Person`` row, which
   are stored with consent). Decline: the requester is told politely, nothing shared.
3. :func:`expire_stale` — requests left unanswered are expired (the requester is told).
4. What happens after an accept (pilot, contract) is asked and recorded by
   :mod:`matcher.followups`.

Each introduction records the requester's own need (``requester_need_id``: the one given,
else their most recent open need), whatever its target.

Every step is logged as an :class:`~core.models.IntroductionEvent`.

Outbox payloads are language-neutral; the transport renders them with the bot's
catalogue in the recipient's language::

    {"kind": "introduction", "introduction_id": 12,
     "key": "intro_request", "params": {"who": "...", "about": "...", "message": "..."},
     "buttons": [{"id": "intro:accept:12", "key": "intro_accept_button"},
                 {"id": "intro:decline:12", "key": "intro_decline_button"}]}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import Database
from core.domain import IntroKind, IntroStatus, NeedStatus, shorten
from core.models import (
    ChatIdentity,
    Experience,
    Introduction,
    IntroductionEvent,
    Need,
    Outbox,
    Person,
    Solution,
    Territory,
    utcnow,
)
from matcher.anonymise import masked_problem
from matcher.communities import member_of_need
from matcher.followups import requester_need, schedule_after_accept

__all__ = [
    "CAP_WINDOW_DAYS",
    "IntroResult",
    "accept_button_id",
    "can_reach",
    "decline_button_id",
    "expire_stale",
    "is_chat_user",
    "parse_button",
    "queued_introductions",
    "record_event",
    "relay_outcome",
    "request_introduction",
    "respond",
    "route",
]

CAP_WINDOW_DAYS = 30
PENDING = (IntroStatus.REQUESTED, IntroStatus.QUEUED)
MAX_MESSAGE_CHARS = 1000


@dataclass
class IntroResult:
    """What happened, for the renderer.

    ``code`` is one of: ``sent`` (target notified in chat), ``queued`` (a facilitator
    relays), ``cap_reached``, ``already_requested``, ``no_contact`` (nobody agreed to
    be contacted), ``self`` (asking oneself), ``not_found``; for :func:`respond`:
    ``accepted``, ``declined``, ``not_target``, ``already_answered``.
    """

    code: str
    status: IntroStatus | None = None
    introduction_id: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code in ("sent", "queued", "accepted", "declined")


def accept_button_id(introduction_id: int) -> str:
    return f"intro:accept:{introduction_id}"


def decline_button_id(introduction_id: int) -> str:
    return f"intro:decline:{introduction_id}"


def parse_button(button_id: str) -> tuple[bool, int] | None:
    """``"intro:accept:12"`` -> ``(True, 12)``; ``None`` if not an introduction button."""
    parts = button_id.split(":")
    if len(parts) != 3 or parts[0] != "intro" or parts[1] not in ("accept", "decline"):
        return None
    try:
        return parts[1] == "accept", int(parts[2])
    except ValueError:
        return None


# --------------------------------------------------------------------------- targets


@dataclass
class _Target:
    person: Person | None  # the person to ask (None: only a facilitator can relay)
    label: str  # who, for the facilitator and the messages (no contact details)
    about: str  # the subject: REX title, need text, solution title
    reachable: bool  # a facilitator may relay even without a chat user


def _resolve_target(
    session: Session,
    *,
    experience_id: int | None,
    need_id: int | None,
    solution_id: int | None,
) -> _Target | None:
    if experience_id is not None:
        exp = session.get(Experience, experience_id)
        if exp is None:
            return None
        # asked directly only with their consent; otherwise a facilitator relays
        person = (
            session.get(Person, exp.contact_person_id)
            if exp.contact_person_id and exp.contact_consent
            else None
        )
        where = exp.territory_name or exp.organisation_name or ""
        label = " — ".join(p for p in (exp.contact_role, where) if p) or exp.title
        return _Target(person, label, exp.title, reachable=True)
    if need_id is not None:
        need = session.get(Need, need_id)
        if need is None or need.status != NeedStatus.OPEN:
            return None
        person = session.get(Person, need.owner_id) if need.owner_id else None
        if person is not None and not person.share_contact and not member_of_need(session, need.id):
            person = None  # the owner did not agree to be asked (neither at all nor in a group)
        label = need.territory_name or _org_name(person) or ""
        return _Target(person, label, shorten(need.raw_text, 160), reachable=False)
    if solution_id is not None:
        sol = session.get(Solution, solution_id)
        if sol is None:
            return None
        person = session.get(Person, sol.submitted_by_id) if sol.submitted_by_id else None
        label = sol.organisation_name or sol.title
        return _Target(person, label, sol.title, reachable=bool(sol.contact or sol.website))
    return None


def can_reach(
    session: Session,
    *,
    experience_id: int | None = None,
    need_id: int | None = None,
    solution_id: int | None = None,
) -> bool:
    """Whether a request to this target can be passed on: a chat user agreed to be asked,
    or a facilitator may relay it (every REX, a solution with a contact or a website)."""
    return (
        route(session, experience_id=experience_id, need_id=need_id, solution_id=solution_id)
        is not None
    )


def route(
    session: Session,
    *,
    experience_id: int | None = None,
    need_id: int | None = None,
    solution_id: int | None = None,
) -> str | None:
    """How a request to this target would travel: ``"direct"`` (a chat user who agreed
    is asked, double opt-in), ``"facilitator"`` (the facilitators' queue relays it), or
    ``None`` (nobody can be asked)."""
    target = _resolve_target(
        session, experience_id=experience_id, need_id=need_id, solution_id=solution_id
    )
    if target is None:
        return None
    if target.person is not None and is_chat_user(session, target.person.id):
        return "direct"
    return "facilitator" if target.reachable else None


def is_chat_user(session: Session, person_id: int) -> bool:
    """Whether the person can be reached in chat (has a chat identity)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(ChatIdentity)
            .where(ChatIdentity.person_id == person_id)
        )
        or 0
    ) > 0


def _org_name(person: Person | None) -> str | None:
    if person is None or person.organisation is None:
        return None
    return person.organisation.name


def _public_label(session: Session, person: Person) -> str | None:
    """Who a person is, without contact details: organisation, else territory name."""
    org = _org_name(person)
    if org:
        return org
    if person.territory_code:
        query = select(Territory.name).where(Territory.code == person.territory_code)
        if person.territory_kind:
            query = query.where(Territory.kind == person.territory_kind)
        name = session.scalar(query.limit(1))
        if name:
            return name
    return None


def _contact(session: Session, person: Person) -> dict[str, str]:
    """The contact details a person stored (with consent), and who they are."""
    out: dict[str, str] = {}
    if person.display_name:
        out["name"] = person.display_name
    label = _public_label(session, person)
    if label:
        out["organisation"] = label
    if person.email:
        out["email"] = person.email
    if person.phone:
        out["phone"] = person.phone
    return out


def record_event(session: Session, intro: Introduction, status: IntroStatus, now: dt.datetime,
                 note: str | None = None) -> None:  # fmt: skip
    """One step of an introduction, for the audit and the facilitators' funnel."""
    session.add(IntroductionEvent(introduction_id=intro.id, status=status, at=now, note=note))


def _outbox(
    session: Session, person_id: int, key: str, params: dict[str, Any], intro_id: int,
    now: dt.datetime, buttons: list[dict[str, str]] | None = None,
) -> None:  # fmt: skip
    payload: dict[str, Any] = {
        "kind": "introduction",
        "introduction_id": intro_id,
        "key": key,
        "params": params,
    }
    if buttons:
        payload["buttons"] = buttons
    session.add(Outbox(person_id=person_id, payload=payload, created_at=now))


def _target_filter(intro_target: _Target, *, experience_id, need_id, solution_id):  # type: ignore[no-untyped-def]
    """SQL condition selecting introductions aimed at the same target."""
    if intro_target.person is not None:
        return Introduction.target_person_id == intro_target.person.id
    if experience_id is not None:
        return Introduction.experience_id == experience_id
    if need_id is not None:
        return Introduction.need_id == need_id
    return Introduction.solution_id == solution_id


# --------------------------------------------------------------------------- API


def request_introduction(
    db: Database,
    *,
    requester_id: int,
    experience_id: int | None = None,
    need_id: int | None = None,
    solution_id: int | None = None,
    message: str | None = None,
    settings: Settings | None = None,
    cap_per_month: int | None = None,
    now: dt.datetime | None = None,
    requester_need_id: int | None = None,
) -> IntroResult:
    """Ask to be introduced to the person behind a REX, an open need or a solution.

    Exactly one of ``experience_id``, ``need_id``, ``solution_id`` is given. The cap is
    ``cap_per_month`` if given, else ``settings.intro_cap_per_month`` (default 3).
    ``requester_need_id``: the requester's need this serves (default: their current one).
    """
    if sum(x is not None for x in (experience_id, need_id, solution_id)) != 1:
        raise ValueError("give exactly one of experience_id, need_id, solution_id")
    now = now or utcnow()
    if cap_per_month is not None:
        cap = cap_per_month
    elif settings is not None:
        cap = settings.intro_cap_per_month
    else:
        cap = int(Settings.model_fields["intro_cap_per_month"].default)
    if message is not None:
        message = " ".join(message.split())[:MAX_MESSAGE_CHARS] or None
    ids = {"experience_id": experience_id, "need_id": need_id, "solution_id": solution_id}

    with db.session() as session:
        requester = session.get(Person, requester_id)
        if requester is None:
            return IntroResult("not_found")
        target = _resolve_target(session, **ids)
        if target is None:
            return IntroResult("not_found")
        if target.person is not None and target.person.id == requester_id:
            return IntroResult("self")
        chat_user = target.person is not None and is_chat_user(session, target.person.id)
        if not chat_user and not target.reachable:
            return IntroResult("no_contact", params={"who": target.label})

        same_target = _target_filter(target, **ids)
        duplicate = session.scalar(
            select(Introduction.id)
            .where(
                same_target,
                Introduction.requester_id == requester_id,
                Introduction.status.in_(PENDING),
            )
            .limit(1)
        )
        if duplicate is not None:
            return IntroResult("already_requested", introduction_id=duplicate)
        recent = session.scalar(
            select(func.count())
            .select_from(Introduction)
            .where(same_target, Introduction.created_at >= now - dt.timedelta(CAP_WINDOW_DAYS))
        )
        if (recent or 0) >= cap:
            return IntroResult("cap_reached", params={"cap": cap, "days": CAP_WINDOW_DAYS})

        status = IntroStatus.REQUESTED if chat_user else IntroStatus.QUEUED
        own_need = session.get(Need, requester_need_id) if requester_need_id else None
        intro = Introduction(
            requester_id=requester_id,
            requester_need_id=own_need.id
            if own_need is not None and own_need.owner_id == requester_id
            else requester_need(session, requester_id),
            target_person_id=target.person.id if target.person is not None else None,
            target_label=target.label[:300] or None,
            status=status,
            message=message,
            created_at=now,
            updated_at=now,
            **ids,
        )
        session.add(intro)
        session.flush()
        record_event(session, intro, IntroStatus.REQUESTED, now)
        if status is IntroStatus.QUEUED:
            record_event(session, intro, IntroStatus.QUEUED, now, note="target is not a chat user")
            return IntroResult("queued", status, intro.id, {"who": target.label})

        assert target.person is not None
        who = _public_label(session, requester)
        _outbox(
            session,
            target.person.id,
            "intro_request" if who else "intro_request_anonymous",
            {"who": who or "", "about": target.about, "message": message or ""},
            intro.id,
            now,
            buttons=[
                {"id": accept_button_id(intro.id), "key": "intro_accept_button"},
                {"id": decline_button_id(intro.id), "key": "intro_decline_button"},
            ],
        )
        return IntroResult("sent", status, intro.id, {"who": target.label})


def respond(
    db: Database,
    *,
    introduction_id: int,
    responder_id: int,
    accept: bool,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> IntroResult:
    """The target accepts or declines. Only the target may answer, once. An accepted
    introduction to a start-up schedules a follow-up question to the buyer (the requester;
    for a start-up's proposal, the target).

    A proposal (:mod:`matcher.proposals`) is answered here too, with its own words: a
    decline tells the start-up without naming the buyer; an accept shares both contacts.
    """
    now = now or utcnow()
    with db.session() as session:
        intro = session.get(Introduction, introduction_id)
        if intro is None:
            return IntroResult("not_found")
        if intro.target_person_id is None or intro.target_person_id != responder_id:
            return IntroResult("not_target", intro.status, intro.id)
        if intro.status not in PENDING:
            return IntroResult("already_answered", intro.status, intro.id)
        target = session.get(Person, intro.target_person_id)
        requester = session.get(Person, intro.requester_id) if intro.requester_id else None
        about = _about(session, intro)
        intro.responded_at = now
        intro.updated_at = now
        proposal = intro.kind == IntroKind.PROPOSAL
        solution = _solution_title(session, intro)
        if not accept:
            intro.status = IntroStatus.DECLINED
            record_event(session, intro, IntroStatus.DECLINED, now)
            if requester is not None:
                _outbox(
                    session,
                    requester.id,
                    "prop_declined" if proposal else "intro_declined",
                    {"who": "" if proposal else intro.target_label or "", "about": about,
                     "solution": solution},
                    intro.id,
                    now,
                )  # fmt: skip
            return IntroResult("declined", IntroStatus.DECLINED, intro.id)

        intro.status = IntroStatus.ACCEPTED
        record_event(session, intro, IntroStatus.ACCEPTED, now)
        schedule_after_accept(session, intro, now, settings)
        if requester is not None and target is not None:
            keys = ("prop_accepted", "prop_accepted_target") if proposal else (
                "intro_accepted", "intro_accepted_target")  # fmt: skip
            for recipient, other in ((requester, target), (target, requester)):
                contact = _contact(session, other)
                _outbox(
                    session,
                    recipient.id,
                    keys[0] if recipient is requester else keys[1],
                    {
                        # who accepted, as the requester asked for them when nothing else
                        # names them (a start-up person without an organisation)
                        "who": contact.get("organisation")
                        or contact.get("name")
                        or (intro.target_label if recipient is requester else None)
                        or "",
                        "about": about,
                        "solution": solution,
                        "contact": " — ".join(contact.values()),
                        **{f"contact_{k}": v for k, v in contact.items()},
                    },
                    intro.id,
                    now,
                )
        return IntroResult("accepted", IntroStatus.ACCEPTED, intro.id)


#: Outcome of a facilitator's relay -> what the requester is told.
RELAY_KEYS = {
    IntroStatus.ACCEPTED: "intro_relayed_accepted",
    IntroStatus.DECLINED: "intro_declined",
    IntroStatus.EXPIRED: "intro_expired",
}


def relay_outcome(
    session: Session, intro: Introduction, *, message: str | None, now: dt.datetime
) -> None:
    """Tell the requester what a facilitator's relay of a queued request came to, with
    the facilitator's message to them, if any (outbox; the bot delivers it)."""
    key = RELAY_KEYS.get(IntroStatus(intro.status))
    if key is None or intro.requester_id is None:
        return
    if intro.status == IntroStatus.ACCEPTED:
        schedule_after_accept(session, intro, now)
    params = {"who": intro.target_label or "", "about": _about(session, intro)}
    _outbox(session, intro.requester_id, key, params, intro.id, now)
    if message:
        note = " ".join(message.split())[:MAX_MESSAGE_CHARS]
        _outbox(session, intro.requester_id, "intro_facilitator_message", {"message": note},
                intro.id, now)  # fmt: skip


def expire_stale(
    db: Database, now: dt.datetime | None = None, days: int = 14, *, include_queued: bool = False
) -> int:
    """Expire requests unanswered for ``days``; the requester is told. Returns how many."""
    now = now or utcnow()
    statuses = list(PENDING) if include_queued else [IntroStatus.REQUESTED]
    with db.session() as session:
        stale = list(
            session.scalars(
                select(Introduction).where(
                    Introduction.status.in_(statuses),
                    Introduction.created_at < now - dt.timedelta(days=days),
                )
            )
        )
        for intro in stale:
            intro.status = IntroStatus.EXPIRED
            intro.updated_at = now
            record_event(session, intro, IntroStatus.EXPIRED, now, note=f"no answer in {days} days")
            if intro.requester_id is not None:
                _outbox(
                    session,
                    intro.requester_id,
                    "intro_expired",
                    {"who": intro.target_label or "", "about": _about(session, intro)},
                    intro.id,
                    now,
                )
        return len(stale)


def queued_introductions(db: Database) -> list[dict[str, Any]]:
    """Requests waiting for a facilitator (the target is not a chat user), oldest first."""
    with db.session() as session:
        rows = session.scalars(
            select(Introduction)
            .where(Introduction.status == IntroStatus.QUEUED)
            .order_by(Introduction.created_at, Introduction.id)
        )
        return [
            {
                "id": i.id,
                "requester_id": i.requester_id,
                "experience_id": i.experience_id,
                "need_id": i.need_id,
                "solution_id": i.solution_id,
                "target_person_id": i.target_person_id,
                "target_label": i.target_label,
                "about": _about(session, i),
                "message": i.message,
                "created_at": i.created_at.isoformat() if i.created_at else None,
            }
            for i in rows
        ]


def _solution_title(session: Session, intro: Introduction) -> str:
    sol = session.get(Solution, intro.solution_id) if intro.solution_id is not None else None
    return sol.title if sol is not None else ""


def _about(session: Session, intro: Introduction) -> str:
    """What the introduction is about, for the requester. A proposal's need is the
    buyer's: the start-up reads it anonymised until the buyer accepts."""
    if intro.kind == IntroKind.PROPOSAL:
        need = session.get(Need, intro.need_id) if intro.need_id is not None else None
        return masked_problem(session, need, limit=160) if need is not None else ""
    if intro.experience_id is not None:
        exp = session.get(Experience, intro.experience_id)
        if exp is not None:
            return exp.title
    if intro.need_id is not None:
        need = session.get(Need, intro.need_id)
        if need is not None:
            return shorten(need.raw_text, 160)
    if intro.solution_id is not None:
        sol = session.get(Solution, intro.solution_id)
        if sol is not None:
            return sol.title
    return ""
