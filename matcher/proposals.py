"""Open needs for start-ups, and proposals: a start-up proposes its solution to a need.

Until now a start-up saw matching needs once, at registration, and could reach a buyer
only if that buyer had agreed to share a contact. Here:

1. :func:`open_needs_for` — the open needs that fit a start-up's solutions (one
   :meth:`MatchService.needs_for_solution` search per solution, merged per need keeping
   the best solution), best fit first, **anonymised** (:mod:`matcher.anonymise`): theme,
   size band, département, stage, budget and timing bands, and the problem statement with
   the territory, organisation and contact details masked. Who asked is shown only when
   the buyer agreed to share a contact (``Person.share_contact``). Left out: the
   person's own needs, closed needs, needs whose owner turned proposals off
   (``Need.proposals_open``) or cannot be reached in chat. Needs already proposed to are
   kept, marked, so the start-up sees what it did.
2. :func:`propose` — a short pitch (the solution card plus two lines) sent to the buyer
   through the outbox with "Accepter / Refuser / Ne plus recevoir de propositions pour ce
   besoin". It is an :class:`~core.models.Introduction` of kind ``proposal``
   (requester: the start-up; target: the need's owner; ``need_id``: the buyer's need;
   ``solution_id``; ``fit``), so the buyer's answer goes through
   :func:`matcher.introductions.respond` (double opt-in: contacts on accept only; a
   decline tells the start-up without naming the buyer), it counts in the funnel, and
   an accepted proposal's follow-up question goes to the buyer.

Caps (``core.config``): a start-up sends at most ``proposals_per_week`` proposals per
rolling 7 days (all its solutions together); a need holds at most
``proposals_per_need`` proposals waiting for an answer — once the buyer answers one, the
next may come; one proposal per (solution, need), ever (a declined one is not sent again).
The buyer sees the waiting proposals of a need best fit first (:func:`received`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.catalogue import publishable_solution
from core.config import Settings
from core.db import Database
from core.domain import IntroKind, IntroStatus, NeedStatus, shorten
from core.models import (
    Introduction,
    Need,
    Outbox,
    Person,
    Solution,
    utcnow,
)
from matcher.anonymise import anonymous_label, dep_name, masked_problem
from matcher.introductions import (
    IntroResult,
    accept_button_id,
    decline_button_id,
    is_chat_user,
    record_event,
)
from matcher.types import Reason

if TYPE_CHECKING:
    from matcher.service import MatchService

__all__ = [
    "MAX_PITCH_CHARS",
    "MAX_PITCH_LINES",
    "WEEK_DAYS",
    "OpenNeed",
    "Received",
    "card_of",
    "clean_pitch",
    "need_of_proposal",
    "off_button_id",
    "open_needs_for",
    "propose",
    "received",
    "set_proposals_open",
    "solutions_of",
    "waiting_counts",
]

WEEK_DAYS = 7
MAX_PITCH_LINES = 2
MAX_PITCH_CHARS = 300
#: Needs looked at per solution (the listing is paged in chat).
CANDIDATES_PER_SOLUTION = 50
#: Solutions of one person searched (the most recent ones).
MAX_SOLUTIONS = 10
OFF_ACTION = "prop"


def off_button_id(introduction_id: int) -> str:
    """The buyer's "no more proposals for this need" button on a proposal."""
    return f"{OFF_ACTION}:off:{introduction_id}"


@dataclass
class OpenNeed:
    """One open need as a start-up sees it (no name, no commune, no contact)."""

    need_id: int
    score: float
    solution_id: int  # the person's solution that fits it best
    solution_title: str
    problem: str  # masked, shortened
    themes: list[str] = field(default_factory=list)  # labels as stored (French)
    size_band: str | None = None
    dep_name: str | None = None
    stage: str | None = None
    budget_band: str | None = None
    timing: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    proposed: bool = False  # this start-up already proposed to it
    who: str | None = None  # only when the buyer agreed to share a contact


@dataclass
class Received:
    """A proposal waiting for the buyer's answer (best fit first)."""

    introduction_id: int
    solution_id: int | None
    solution_title: str
    organisation: str | None
    pitch: str
    fit: float | None


# --------------------------------------------------------------------------- listing


def solutions_of(session: Session, person_id: int) -> list[Solution]:
    """The person's published solutions, newest first (at most :data:`MAX_SOLUTIONS`)."""
    return list(
        session.scalars(
            select(Solution)
            .where(Solution.submitted_by_id == person_id, *publishable_solution())
            .order_by(Solution.id.desc())
            .limit(MAX_SOLUTIONS)
        )
    )


def _reachable(session: Session, person_id: int | None) -> bool:
    return person_id is not None and is_chat_user(session, person_id)


def _fit_reasons(need: Need, sol: Solution, found: list[Reason]) -> list[Reason]:
    """Why it fits: the shared words (or meaning), the shared themes, the size band the
    solution targets."""
    reasons = list(found)
    shared = [x for x in need.themes or [] if x in set(sol.themes or [])]
    if shared:
        reasons.append(Reason("themes", {"themes": shared[:3]}))
    if need.size_band and need.size_band in (sol.target_size_bands or []):
        reasons.append(Reason("size_fit", {"band": need.size_band}))
    return reasons


def open_needs_for(db: Database, service: MatchService, person_id: int) -> list[OpenNeed]:
    """The open needs that fit ``person_id``'s solutions, best fit first, anonymised."""
    with db.session() as session:
        solutions = {s.id: s.title for s in solutions_of(session, person_id)}
    best: dict[int, tuple[float, int, list[Reason]]] = {}
    for sol_id in solutions:  # the search runs outside any transaction
        for match in service.needs_for_solution(sol_id, top=CANDIDATES_PER_SOLUTION):
            if match.need_id not in best or match.score > best[match.need_id][0]:
                best[match.need_id] = (match.score, sol_id, list(match.reasons))
    if not best:
        return []
    out: list[OpenNeed] = []
    with db.session() as session:
        needs = {n.id: n for n in session.scalars(select(Need).where(Need.id.in_(list(best))))}
        proposed = set(
            session.scalars(
                select(Introduction.need_id).where(
                    Introduction.requester_id == person_id,
                    Introduction.kind == IntroKind.PROPOSAL,
                    Introduction.need_id.in_(list(best)),
                )
            )
        )
        for need_id, (score, sol_id, reasons) in best.items():
            need = needs.get(need_id)
            if (
                need is None
                or need.status != NeedStatus.OPEN
                or not need.proposals_open
                or need.owner_id == person_id
                or not _reachable(session, need.owner_id)
            ):
                continue
            sol = session.get(Solution, sol_id)
            if sol is None:
                continue
            owner = session.get(Person, need.owner_id) if need.owner_id else None
            who = None
            if owner is not None and owner.share_contact:
                who = (
                    owner.organisation.name if owner.organisation is not None else None
                ) or need.territory_name
            out.append(
                OpenNeed(
                    need_id=need.id,
                    score=score,
                    solution_id=sol_id,
                    solution_title=sol.title,
                    problem=masked_problem(session, need),
                    themes=list(need.themes or []),
                    size_band=need.size_band,
                    dep_name=dep_name(session, need),
                    stage=need.stage,
                    budget_band=need.budget_band,
                    timing=need.timing,
                    reasons=_fit_reasons(need, sol, reasons),
                    proposed=need.id in proposed,
                    who=who,
                )
            )
    out.sort(key=lambda n: (-n.score, n.need_id))
    return out


# --------------------------------------------------------------------------- proposing


def clean_pitch(text: str | None) -> str | None:
    """The pitch as stored: at most two non-empty lines, spaces collapsed, at most
    :data:`MAX_PITCH_CHARS` characters (cut at a word); ``None`` if nothing is left."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    lines = [line for line in lines if line][:MAX_PITCH_LINES]
    pitch = "\n".join(lines)
    if len(pitch) > MAX_PITCH_CHARS:
        pitch = pitch[: MAX_PITCH_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:.") + "…"
    return pitch or None


def _setting(settings: Settings | None, name: str) -> int:
    if settings is not None:
        return int(getattr(settings, name))
    return int(Settings.model_fields[name].default)


def card_of(sol: Solution) -> str:
    """The solution in one short block for the buyer (language-neutral: the catalogue's
    own words)."""
    parts = [sol.mission or sol.description or ""]
    if sol.website:
        parts.append(sol.website)
    return " ".join(" ".join(p.split()) for p in parts if p)[:400]


def propose(
    db: Database,
    *,
    startup_person_id: int,
    solution_id: int,
    need_id: int,
    pitch: str | None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    fit: float | None = None,
) -> IntroResult:
    """Propose ``solution_id`` to the owner of ``need_id``, with a two-line ``pitch``.

    Codes: ``sent``; refusals (nothing created): ``not_yours`` (not this person's
    published solution), ``not_found`` (no such need), ``closed`` (the need is closed or
    its owner turned proposals off, or cannot be reached in chat), ``self`` (one's own
    need), ``empty_pitch``, ``already_proposed``, ``cap_week`` (``params``: cap, days),
    ``cap_need`` (``params``: cap).
    """
    now = now or utcnow()
    text = clean_pitch(pitch)
    if text is None:
        return IntroResult("empty_pitch")
    caps = (_setting(settings, "proposals_per_week"), _setting(settings, "proposals_per_need"))
    try:
        with db.session() as session:
            return _propose(session, startup_person_id, solution_id, need_id, text, caps, now, fit)
    except IntegrityError:  # the same proposal, sent a moment ago (a double click)
        return IntroResult("already_proposed")


def _propose(
    session: Session,
    startup_person_id: int,
    solution_id: int,
    need_id: int,
    text: str,
    caps: tuple[int, int],
    now: dt.datetime,
    fit: float | None,
) -> IntroResult:
    week_cap, need_cap = caps
    sol = session.scalar(
        select(Solution).where(
            Solution.id == solution_id,
            Solution.submitted_by_id == startup_person_id,
            *publishable_solution(),
        )
    )
    if sol is None:
        return IntroResult("not_yours")
    need = session.get(Need, need_id)
    if need is None:
        return IntroResult("not_found")
    if need.owner_id == startup_person_id:
        return IntroResult("self")
    if (
        need.status != NeedStatus.OPEN
        or not need.proposals_open
        or not _reachable(session, need.owner_id)
    ):
        return IntroResult("closed")
    done = session.scalar(
        select(Introduction.id).where(
            Introduction.kind == IntroKind.PROPOSAL,
            Introduction.solution_id == sol.id,
            Introduction.need_id == need.id,
        )
    )
    if done is not None:
        return IntroResult("already_proposed", introduction_id=done)
    sent_this_week = session.scalar(
        select(func.count())
        .select_from(Introduction)
        .where(
            Introduction.kind == IntroKind.PROPOSAL,
            Introduction.requester_id == startup_person_id,
            Introduction.created_at >= now - dt.timedelta(days=WEEK_DAYS),
        )
    )
    if (sent_this_week or 0) >= week_cap:
        return IntroResult("cap_week", params={"cap": week_cap, "days": WEEK_DAYS})
    if waiting_counts(session, [need.id]).get(need.id, 0) >= need_cap:
        return IntroResult("cap_need", params={"cap": need_cap})
    assert need.owner_id is not None  # _reachable
    intro = Introduction(
        kind=IntroKind.PROPOSAL,
        requester_id=startup_person_id,
        requester_need_id=None,
        target_person_id=need.owner_id,
        target_label=anonymous_label(session, need)[:300] or None,
        need_id=need.id,
        solution_id=sol.id,
        status=IntroStatus.REQUESTED,
        message=text,
        fit=fit,
        created_at=now,
        updated_at=now,
    )
    session.add(intro)
    session.flush()
    record_event(session, intro, IntroStatus.REQUESTED, now, note="proposal")
    session.add(
        Outbox(
            person_id=need.owner_id,
            payload=_payload(session, intro, sol, need, text),
            created_at=now,
        )
    )
    return IntroResult("sent", IntroStatus.REQUESTED, intro.id)


def _payload(
    session: Session, intro: Introduction, sol: Solution, need: Need, pitch: str
) -> dict[str, Any]:
    return {
        "kind": "introduction",
        "introduction_id": intro.id,
        "key": "prop_request",
        "params": {
            "solution": sol.title,
            "organisation": sol.organisation_name or "",
            "card": card_of(sol),
            "pitch": pitch,
            "about": shorten(need.problem or need.raw_text, 160),
        },
        "buttons": [
            {"id": accept_button_id(intro.id), "key": "intro_accept_button"},
            {"id": decline_button_id(intro.id), "key": "intro_decline_button"},
            {"id": off_button_id(intro.id), "key": "prop_off_button"},
        ],
    }


# --------------------------------------------------------------------------- buyer side


def received(session: Session, need_id: int) -> list[Received]:
    """The proposals waiting for an answer on ``need_id``, best fit first."""
    rows = session.execute(
        select(Introduction, Solution.title, Solution.organisation_name)
        .join(Solution, Solution.id == Introduction.solution_id, isouter=True)
        .where(
            Introduction.kind == IntroKind.PROPOSAL,
            Introduction.need_id == need_id,
            Introduction.status == IntroStatus.REQUESTED,
        )
        .order_by(Introduction.fit.desc().nulls_last(), Introduction.id)
    ).all()
    return [
        Received(
            introduction_id=intro.id,
            solution_id=intro.solution_id,
            solution_title=title or "",
            organisation=org,
            pitch=intro.message or "",
            fit=intro.fit,
        )
        for intro, title, org in rows
    ]


def waiting_counts(session: Session, need_ids: list[int]) -> dict[int, int]:
    """Per need, how many proposals wait for the buyer's answer."""
    if not need_ids:
        return {}
    rows = session.execute(
        select(Introduction.need_id, func.count())
        .where(
            Introduction.kind == IntroKind.PROPOSAL,
            Introduction.need_id.in_(need_ids),
            Introduction.status == IntroStatus.REQUESTED,
        )
        .group_by(Introduction.need_id)
    ).all()
    return {int(need_id): int(n) for need_id, n in rows if need_id is not None}


def set_proposals_open(
    session: Session, *, need_id: int, owner_id: int, open_: bool
) -> Need | None:
    """Turn proposals on or off for a need; only its owner may. ``None``: not theirs.
    Proposals already waiting stay: the buyer still answers them."""
    need = session.get(Need, need_id)
    if need is None or need.owner_id != owner_id:
        return None
    need.proposals_open = open_
    return need


def need_of_proposal(session: Session, introduction_id: int, owner_id: int) -> Need | None:
    """The buyer's need a proposal was made to, if ``owner_id`` owns it."""
    intro = session.get(Introduction, introduction_id)
    if intro is None or intro.kind != IntroKind.PROPOSAL or intro.need_id is None:
        return None
    need = session.get(Need, intro.need_id)
    return need if need is not None and need.owner_id == owner_id else None
