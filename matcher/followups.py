"""The follow-up loop after an introduction: introduction → pilot → contract → a REX.

What happens after an accepted introduction to a start-up is reported by the buyer, in
chat, when asked:

1. :func:`schedule` — a :class:`~core.models.FollowUp` row per question due: ``after_accept``
   (``settings.followup_days`` after the accept) and ``pilot_end`` (at the pilot's planned
   end, given when the pilot starts).
2. :func:`send_due` — run on a schedule (:mod:`matcher.followup_runner`): each
   due question is claimed (``sent_at`` set by a conditional update, so two workers never
   both send it) and queued in the outbox in the same transaction: exactly once, on
   whatever transport the buyer uses, rendered in their language. Questions go out on
   weekdays within ``settings.followup_hours`` (local time, ``settings.timezone``), at most
   one per need per week, and never to someone who said stop.
3. :func:`answer` and the ``record_*`` functions — the buyer's answers move the
   introduction on (``pilot_started`` → ``pilot_ended`` → ``contract_signed`` /
   ``no_contract``), each step an :class:`~core.models.IntroductionEvent` (the funnel
   counts those). A pilot raises the solution's trust level to ``pilot_confirmed``
   (:func:`core.catalogue.qualify_solution`: audit row, version bump; the caller
   re-indexes); with the buyer's consent the start-up hears how it went.

Outbox payloads (rendered by the transports with the message catalogue)::

    {"kind": "followup", "followup_id": 4, "introduction_id": 12, "key": "fu_after_accept",
     "params": {"about": "..."}, "buttons": [{"id": "fu:pilot:4", "key": "fu_btn_pilot"}, ...]}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import catalogue
from core.config import Settings
from core.db import Database
from core.domain import TRUST_ORDER, IntroKind, IntroStatus, NeedStatus, PilotOutcome, TrustLevel
from core.models import (
    FollowUp,
    Introduction,
    IntroductionEvent,
    MatchEvent,
    Need,
    Outbox,
    Person,
    Solution,
    as_utc,
    utcnow,
)

__all__ = [
    "AFTER_ACCEPT",
    "ANSWERS",
    "PILOT_END",
    "Answered",
    "answer",
    "buyer_is",
    "buyer_need_of",
    "buyer_of",
    "closing_options",
    "in_window",
    "next_window",
    "record_contract",
    "record_pilot_plan",
    "record_share",
    "requester_need",
    "schedule",
    "send_due",
    "startup_of",
]

AFTER_ACCEPT = "after_accept"
PILOT_END = "pilot_end"
#: At most one follow-up question per need within this many days.
MIN_GAP_DAYS = 7
#: The buttons of each kind of question (verb -> catalogue key of its label).
ANSWERS: dict[str, tuple[tuple[str, str], ...]] = {
    AFTER_ACCEPT: (
        ("pilot", "fu_btn_pilot"),
        ("talks", "fu_btn_talks"),
        ("none", "fu_btn_none"),
        ("stop", "fu_btn_stop"),
    ),
    PILOT_END: (
        ("success", "fu_btn_success"),
        ("partial", "fu_btn_partial"),
        ("stopped", "fu_btn_stopped"),
        ("stop", "fu_btn_stop"),
    ),
}
#: Which status an introduction must still have for its question to make sense.
_EXPECTS = {AFTER_ACCEPT: IntroStatus.ACCEPTED, PILOT_END: IntroStatus.PILOT_STARTED}


def _days(settings: Settings | None) -> int:
    if settings is not None:
        return settings.followup_days
    return int(Settings.model_fields["followup_days"].default)


# --------------------------------------------------------------------------- scheduling


def requester_need(session: Session, person_id: int) -> int | None:
    """The buyer's current need: their most recent open one (None if they have none)."""
    return session.scalar(
        select(Need.id)
        .where(Need.owner_id == person_id, Need.status == NeedStatus.OPEN)
        .order_by(Need.id.desc())
        .limit(1)
    )


def buyer_of(intro: Introduction) -> int | None:
    """Who reports what happened: the buyer — the requester of an introduction, the
    target of a start-up's proposal."""
    return intro.target_person_id if intro.kind == IntroKind.PROPOSAL else intro.requester_id


def startup_of(intro: Introduction) -> int | None:
    """The other side: the target of an introduction, the requester of a proposal."""
    return intro.requester_id if intro.kind == IntroKind.PROPOSAL else intro.target_person_id


def buyer_is(person_id: int) -> ColumnElement[bool]:
    """SQL: the introductions whose buyer is ``person_id`` (see :func:`buyer_of`)."""
    return or_(
        and_(Introduction.kind != IntroKind.PROPOSAL, Introduction.requester_id == person_id),
        and_(Introduction.kind == IntroKind.PROPOSAL, Introduction.target_person_id == person_id),
    )


def buyer_need_of(intro: Introduction) -> int | None:
    """The buyer's need this introduction serves: the requester's need of a request, the
    need proposed to of a proposal."""
    return intro.need_id if intro.kind == IntroKind.PROPOSAL else intro.requester_need_id


def schedule(
    session: Session, intro: Introduction, kind: str, due: dt.datetime, *, round_: int = 0
) -> FollowUp | None:
    """A question ``kind`` about ``intro`` due at ``due``, to the buyer (nothing if there
    is none any more)."""
    buyer = buyer_of(intro)
    if buyer is None:
        return None
    row = FollowUp(
        person_id=buyer,
        introduction_id=intro.id,
        need_id=buyer_need_of(intro),
        kind=kind,
        round=round_,
        due_at=due,
    )
    session.add(row)
    return row


def schedule_after_accept(
    session: Session, intro: Introduction, now: dt.datetime, settings: Settings | None = None
) -> None:
    """After an accept: ask the buyer what happened, for introductions to a start-up."""
    if intro.solution_id is not None:
        schedule(session, intro, AFTER_ACCEPT, now + dt.timedelta(days=_days(settings)))


def in_window(now: dt.datetime, settings: Settings) -> bool:
    """Whether ``now`` is a weekday within the follow-up hours, local time."""
    local = as_utc(now).astimezone(ZoneInfo(settings.timezone))
    start, end = settings.followup_hours
    return local.weekday() < 5 and start <= local.hour < end


def next_window(now: dt.datetime, settings: Settings) -> dt.datetime:
    """The first moment at or after ``now`` when follow-ups may go out (UTC)."""
    tz = ZoneInfo(settings.timezone)
    local = as_utc(now).astimezone(tz)
    start, end = settings.followup_hours
    day = local.date()
    for _ in range(8):
        opening = dt.datetime.combine(day, dt.time(start), tzinfo=tz)
        closing = dt.datetime.combine(day, dt.time(end), tzinfo=tz)
        if day.weekday() < 5 and local < closing:
            return max(opening, local).astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    raise AssertionError("a weekday comes within a week")


# --------------------------------------------------------------------------- sending


def _payload(row: FollowUp, about: str) -> dict[str, Any]:
    return {
        "kind": "followup",
        "followup_id": row.id,
        "introduction_id": row.introduction_id,
        "key": f"fu_{row.kind}",
        "params": {"about": about},
        "buttons": [{"id": f"fu:{verb}:{row.id}", "key": key} for verb, key in ANSWERS[row.kind]],
    }


def _about(session: Session, intro: Introduction) -> str:
    sol = session.get(Solution, intro.solution_id) if intro.solution_id else None
    return sol.title if sol is not None else intro.target_label or ""


def send_due(db: Database, settings: Settings, now: dt.datetime | None = None) -> int:
    """Queue every follow-up question that is due now; returns how many were sent."""
    now = as_utc(now or utcnow())
    if not in_window(now, settings):
        return 0
    with db.session() as session:
        due = list(
            session.scalars(
                select(FollowUp.id)
                .where(FollowUp.sent_at.is_(None), FollowUp.due_at <= now)
                .order_by(FollowUp.due_at, FollowUp.id)
            )
        )
    sent = 0
    for followup_id in due:
        with db.session() as session:
            sent += _send_one(session, followup_id, now)
    return sent


def _send_one(session: Session, followup_id: int, now: dt.datetime) -> int:
    row = session.get(FollowUp, followup_id)
    if row is None or row.sent_at is not None:
        return 0
    intro = session.get(Introduction, row.introduction_id)
    person = session.get(Person, row.person_id)
    if (
        intro is None
        or person is None
        or person.followups_off
        or intro.status != _EXPECTS[row.kind]
    ):
        # the buyer said stop, or already told us (a later answer, a closed need): never sent
        _claim(session, row.id, now, answer="skipped")
        return 0
    if row.need_id is not None:
        recent = session.scalar(
            select(func.count())
            .select_from(FollowUp)
            .where(
                FollowUp.need_id == row.need_id,
                FollowUp.id != row.id,
                FollowUp.sent_at >= now - dt.timedelta(days=MIN_GAP_DAYS),
                FollowUp.answer.is_distinct_from("skipped"),
            )
        )
        if recent:
            return 0  # one question per need per week: this one waits
    if not _claim(session, row.id, now):
        return 0  # another worker sent it
    session.add(Outbox(person_id=row.person_id, payload=_payload(row, _about(session, intro))))
    return 1


def _claim(session: Session, followup_id: int, now: dt.datetime, answer: str | None = None) -> bool:
    values: dict[str, Any] = {"sent_at": now}
    if answer is not None:
        values.update(answer=answer, answered_at=now)
    result = session.execute(
        update(FollowUp)
        .where(FollowUp.id == followup_id, FollowUp.sent_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


# --------------------------------------------------------------------------- answers


@dataclass
class Answered:
    """What an answer did, for the conversation.

    ``code``: ``ok``, ``already`` (answered before), ``not_yours``, ``not_found``,
    ``stopped`` (no more questions). ``next``: what to ask now (``duration`` after a pilot
    start, ``contract`` after a pilot end, or None). ``reindex``: solution ids whose trust
    level changed (re-index them once committed).
    """

    code: str
    next: str | None = None
    introduction_id: int | None = None
    solution: str = ""
    reindex: list[int] = field(default_factory=list)


def _event(session: Session, intro: Introduction, status: IntroStatus, now: dt.datetime,
           note: str | None = None) -> None:  # fmt: skip
    intro.status = status
    intro.updated_at = now
    session.add(IntroductionEvent(introduction_id=intro.id, status=status, at=now, note=note))


def answer(
    session: Session,
    *,
    followup_id: int,
    person_id: int,
    verb: str,
    now: dt.datetime,
    settings: Settings | None = None,
) -> Answered:
    """The buyer pressed a follow-up button (``fu:<verb>:<id>``)."""
    row = session.get(FollowUp, followup_id)
    if row is None:
        return Answered("not_found")
    if row.person_id != person_id:
        return Answered("not_yours")
    if verb not in {v for v, _ in ANSWERS[row.kind]}:
        return Answered("not_found")
    intro = session.get(Introduction, row.introduction_id)
    if intro is None:
        return Answered("not_found")
    done = Answered("ok", introduction_id=intro.id, solution=_about(session, intro))
    if verb == "stop":
        person = session.get(Person, person_id)
        if person is not None:
            person.followups_off = True
        _close(row, verb, now)
        session.execute(
            update(FollowUp)
            .where(FollowUp.person_id == person_id, FollowUp.sent_at.is_(None))
            .values(sent_at=now, answered_at=now, answer="stopped")
            .execution_options(synchronize_session=False)
        )
        done.code = "stopped"
        return done
    if row.answered_at is not None or intro.status != _EXPECTS[row.kind]:
        done.code = "already"
        return done
    _close(row, verb, now)
    if verb == "pilot":
        intro.pilot_started_at = now
        _event(session, intro, IntroStatus.PILOT_STARTED, now, note="reported by the buyer")
        done.reindex = _confirm_pilot(session, intro)
        done.next = "duration"
    elif verb == "talks":
        due = now + dt.timedelta(days=_days(settings))
        schedule(session, intro, AFTER_ACCEPT, due, round_=row.round + 1)
    elif verb == "none":
        _event(session, intro, IntroStatus.NO_CONTRACT, now, note="no follow-up")
    else:  # the pilot's end: success / partial / stopped
        intro.pilot_outcome = PilotOutcome(verb)
        # asked at the planned end: the pilot ended then, or when the buyer answers
        planned = as_utc(intro.pilot_end_at) if intro.pilot_end_at else now
        intro.pilot_end_at = max(planned, now)
        _event(session, intro, IntroStatus.PILOT_ENDED, now, note=verb)
        _tell_startup(session, intro, "fu_startup_outcome", now)
        done.next = "contract"
    return done


def _close(row: FollowUp, verb: str, now: dt.datetime) -> None:
    row.answer = verb
    row.answered_at = now
    if row.sent_at is None:
        row.sent_at = now


def _confirm_pilot(session: Session, intro: Introduction) -> list[int]:
    """A pilot reported by a buyer confirms the solution (audit row, version bump)."""
    sol = session.get(Solution, intro.solution_id) if intro.solution_id else None
    if sol is None:
        return []
    if TRUST_ORDER.index(TrustLevel(sol.trust_level)) >= TRUST_ORDER.index(
        TrustLevel.PILOT_CONFIRMED
    ):
        return []
    written = catalogue.qualify_solution(
        session,
        sol=sol,
        level=TrustLevel.PILOT_CONFIRMED,
        reason=f"pilot reported by the buyer (introduction {intro.id})",
        actor="followup",
    )
    return list(written.ids)


def _tell_startup(session: Session, intro: Introduction, key: str, now: dt.datetime) -> None:
    """With the buyer's consent, the start-up hears how the pilot goes."""
    startup_id, buyer_id = startup_of(intro), buyer_of(intro)
    if not intro.share_outcome or startup_id is None:
        return
    buyer = session.get(Person, buyer_id) if buyer_id else None
    who = ""
    if buyer is not None and buyer.organisation is not None:
        who = buyer.organisation.name
    need_id = buyer_need_of(intro)
    need = session.get(Need, need_id) if need_id else None
    if not who and need is not None:
        who = need.territory_name or ""
    outcome = intro.pilot_outcome.value if intro.pilot_outcome else ""
    params = {"who": who, "about": _about(session, intro), "outcome": outcome}
    session.add(
        Outbox(
            person_id=startup_id,
            payload={"kind": "followup", "introduction_id": intro.id, "key": key, "params": params},
            created_at=now,
        )
    )


def _own_intro(session: Session, introduction_id: int, person_id: int) -> Introduction | None:
    intro = session.get(Introduction, introduction_id)
    return intro if intro is not None and buyer_of(intro) == person_id else None


def record_pilot_plan(
    session: Session, *, introduction_id: int, person_id: int, months: int, now: dt.datetime
) -> bool:
    """The pilot's planned duration: the next question comes at its end."""
    intro = _own_intro(session, introduction_id, person_id)
    if intro is None or intro.status != IntroStatus.PILOT_STARTED or not 0 < months <= 36:
        return False
    start = as_utc(intro.pilot_started_at or now)
    intro.pilot_end_at = start + dt.timedelta(days=round(months * 30.44))
    taken = session.scalar(
        select(func.count())
        .select_from(FollowUp)
        .where(FollowUp.introduction_id == intro.id, FollowUp.kind == PILOT_END)
    )
    if not taken:
        schedule(session, intro, PILOT_END, intro.pilot_end_at)
    return True


def record_share(
    session: Session, *, introduction_id: int, person_id: int, share: bool, now: dt.datetime
) -> bool:
    """Whether the start-up may hear how it goes; if so it hears the pilot started."""
    intro = _own_intro(session, introduction_id, person_id)
    if intro is None:
        return False
    intro.share_outcome = share
    if share and intro.status == IntroStatus.PILOT_STARTED:
        _tell_startup(session, intro, "fu_startup_pilot", now)
    return True


def record_contract(
    session: Session, *, introduction_id: int, person_id: int, signed: bool, now: dt.datetime
) -> bool:
    """After the pilot: a contract signed, or none."""
    intro = _own_intro(session, introduction_id, person_id)
    if intro is None or intro.status != IntroStatus.PILOT_ENDED:
        return False
    status = IntroStatus.CONTRACT_SIGNED if signed else IntroStatus.NO_CONTRACT
    _event(session, intro, status, now, note="reported by the buyer")
    if signed:
        _tell_startup(session, intro, "fu_startup_contract", now)
    return True


# --------------------------------------------------------------------------- closing a need


def closing_options(session: Session, need_id: int, limit: int = 3) -> list[tuple[int, str]]:
    """The solutions that may have met a need: those of its introductions, then of its
    results (best ranked first); ``(solution id, title)``."""
    out: dict[int, str] = {}
    intro_sols = session.execute(
        select(Solution.id, Solution.title)
        .join(Introduction, Introduction.solution_id == Solution.id)
        .where(
            or_(
                Introduction.requester_need_id == need_id,
                and_(Introduction.kind == IntroKind.PROPOSAL, Introduction.need_id == need_id),
            )
        )
        .order_by(Introduction.id.desc())
    ).all()
    shown = session.execute(
        select(Solution.id, Solution.title)
        .join(MatchEvent, MatchEvent.solution_id == Solution.id)
        .where(MatchEvent.need_id == need_id)
        .order_by(MatchEvent.rank, MatchEvent.id)
    ).all()
    for sol_id, title in [*intro_sols, *shown]:
        if len(out) >= limit:
            break
        out.setdefault(sol_id, title)
    return list(out.items())
