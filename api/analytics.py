"""Aggregations for the facilitators' analytics (pure queries: session in, numbers out).

Weeks are ISO weeks (``2026-W07``) of the UTC timestamp; bucketing is done in Python
so that SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.domain import SIZE_BAND_ORDER, TRUST_ORDER, IntroKind, IntroStatus, SolutionStatus
from core.models import Introduction, IntroductionEvent, MatchEvent, Need, Solution
from matcher.followups import buyer_need_of

__all__ = [
    "FUNNEL_STAGES",
    "STALL_DAYS",
    "FunnelRow",
    "funnel",
    "introductions_by_status",
    "matches_shown_weekly",
    "needs_weekly",
    "solutions_by_trust",
    "stalled_introductions",
    "stalled_pilots",
    "week_of",
    "weeks_back",
]

STALL_DAYS = 14
FUNNEL_STAGES = ("need", "introduction", "accepted", "pilot", "contract")
#: The funnel stage (index in FUNNEL_STAGES) an introduction event stands for.
_STAGE_OF = {
    IntroStatus.REQUESTED: 1,
    IntroStatus.ACCEPTED: 2,
    IntroStatus.PILOT_STARTED: 3,
    IntroStatus.CONTRACT_SIGNED: 4,
}
UNKNOWN = "?"


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def week_of(value: dt.datetime | dt.date) -> str:
    year, week, _ = value.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_back(now: dt.datetime, count: int) -> list[str]:
    """The ``count`` ISO weeks ending with the one of ``now``, oldest first."""
    return [week_of(now - dt.timedelta(weeks=i)) for i in range(count - 1, -1, -1)]


def _start_of_weeks(now: dt.datetime, count: int) -> dt.datetime:
    monday = (now - dt.timedelta(weeks=count - 1)).date()
    monday -= dt.timedelta(days=monday.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)


def needs_weekly(
    session: Session, *, by: str, now: dt.datetime, weeks: int, top: int = 8
) -> tuple[list[str], dict[str, list[int]]]:
    """New needs per week, split by ``theme`` (top themes, rest in "autres") or ``size_band``."""
    labels = weeks_back(now, weeks)
    position = {w: i for i, w in enumerate(labels)}
    rows = session.execute(
        select(Need.created_at, Need.themes, Need.size_band).where(
            Need.created_at >= _start_of_weeks(now, weeks)
        )
    ).all()
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(labels))
    for created, themes, band in rows:
        index = position.get(week_of(_aware(created)))
        if index is None:
            continue
        keys = (themes or [UNKNOWN]) if by == "theme" else [band or UNKNOWN]
        for key in keys:
            counts[key][index] += 1
    if by == "size_band":
        order = [b.value for b in SIZE_BAND_ORDER] + [UNKNOWN]
        return labels, {k: counts[k] for k in order if k in counts}
    ranked = sorted(counts, key=lambda k: (-sum(counts[k]), k))
    series = {k: counts[k] for k in ranked[:top]}
    rest = ranked[top:]
    if rest:
        series["autres / other"] = [sum(counts[k][i] for k in rest) for i in range(len(labels))]
    return labels, series


def solutions_by_trust(session: Session) -> dict[str, int]:
    """Catalogue entries that are not archived, per trust level."""
    rows = dict(
        session.execute(
            select(Solution.trust_level, func.count())
            .where(Solution.status != SolutionStatus.ARCHIVED)
            .group_by(Solution.trust_level)
        ).all()
    )
    return {level.value: int(rows.get(level, 0)) for level in TRUST_ORDER}


def matches_shown_weekly(
    session: Session, *, now: dt.datetime, weeks: int
) -> tuple[list[str], list[int]]:
    labels = weeks_back(now, weeks)
    position = {w: i for i, w in enumerate(labels)}
    values = [0] * len(labels)
    for (shown,) in session.execute(
        select(MatchEvent.shown_at).where(MatchEvent.shown_at >= _start_of_weeks(now, weeks))
    ):
        index = position.get(week_of(_aware(shown)))
        if index is not None:
            values[index] += 1
    return labels, values


def introductions_by_status(session: Session) -> dict[str, int]:
    """``requested`` counts every introduction ever asked; the others their current status."""
    rows = dict(
        session.execute(
            select(Introduction.status, func.count()).group_by(Introduction.status)
        ).all()
    )
    out = {"requested": int(sum(rows.values()))}
    for status in (
        IntroStatus.ACCEPTED,
        IntroStatus.DECLINED,
        IntroStatus.QUEUED,
        IntroStatus.EXPIRED,
    ):
        out[status.value] = int(rows.get(status, 0))
    out["pending"] = int(rows.get(IntroStatus.REQUESTED, 0))
    return out


@dataclass(frozen=True)
class FunnelRow:
    stage: str
    count: int
    rate_from_previous: float | None
    rate_from_start: float | None


def funnel(session: Session, *, since: dt.date | None = None) -> list[FunnelRow]:
    """Needs that reached each stage: need → introduction to a start-up → accepted →
    pilot → contract.

    An introduction belongs to the buyer's need: the one its requester had when asking
    (``Introduction.requester_need_id``), or, for a start-up's proposal, the need it was
    proposed to (``Introduction.need_id``); the stages an introduction reached are its
    events (:class:`~core.models.IntroductionEvent`, written by matcher.introductions and
    matcher.followups). A need counts in every stage up to the furthest one any of its
    introductions reached, so the counts never grow down the funnel.
    """
    needs_stmt = select(Need.id)
    if since is not None:
        needs_stmt = needs_stmt.where(
            Need.created_at >= dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
        )
    need_ids = set(session.scalars(needs_stmt))
    buyer_need = case(
        (Introduction.kind == IntroKind.PROPOSAL, Introduction.need_id),
        else_=Introduction.requester_need_id,
    )
    rows = session.execute(
        select(buyer_need, IntroductionEvent.status)
        .join(IntroductionEvent, IntroductionEvent.introduction_id == Introduction.id)
        .where(buyer_need.is_not(None), Introduction.solution_id.is_not(None))
    ).all()
    furthest: dict[int, int] = {}
    for need_id, status in rows:
        if need_id in need_ids and status in _STAGE_OF:
            furthest[need_id] = max(furthest.get(need_id, 0), _STAGE_OF[status])
    counts = [len(need_ids)] + [
        sum(1 for reached in furthest.values() if reached >= stage)
        for stage in range(1, len(FUNNEL_STAGES))
    ]
    rows_out = []
    for i, (stage, count) in enumerate(zip(FUNNEL_STAGES, counts, strict=True)):
        previous = counts[i - 1] if i else None
        rows_out.append(
            FunnelRow(
                stage=stage,
                count=count,
                rate_from_previous=_rate(count, previous) if i else None,
                rate_from_start=_rate(count, counts[0]) if i else None,
            )
        )
    return rows_out


def _rate(count: int, base: int | None) -> float | None:
    return round(count / base, 4) if base else None


def stalled_introductions(
    session: Session, *, now: dt.datetime, days: int = STALL_DAYS, limit: int = 100
) -> tuple[int, list[dict[str, Any]]]:
    """Introductions still ``requested`` ``days`` after being asked: (total, oldest first)."""
    cutoff = now - dt.timedelta(days=days)
    where = (
        Introduction.status == IntroStatus.REQUESTED,
        Introduction.responded_at.is_(None),
        Introduction.created_at < cutoff,
    )
    total = int(session.scalar(select(func.count()).select_from(Introduction).where(*where)) or 0)
    rows = session.scalars(
        select(Introduction).where(*where).order_by(Introduction.created_at).limit(limit)
    )
    out = [
        {
            "id": r.id,
            "need_id": r.need_id,
            "target": r.target_label or "",
            "created_at": _aware(r.created_at).date().isoformat(),
            "days": (now - _aware(r.created_at)).days,
        }
        for r in rows
    ]
    return total, out


def stalled_pilots(
    session: Session, *, now: dt.datetime, weeks: int, limit: int = 100
) -> tuple[int, list[dict[str, Any]]]:
    """Pilots with no news: still ``pilot_started`` ``weeks`` after their planned end (or
    their start, when no duration was given). (total, oldest first)."""
    cutoff = now - dt.timedelta(weeks=weeks)
    since = func.coalesce(Introduction.pilot_end_at, Introduction.pilot_started_at)
    where = (Introduction.status == IntroStatus.PILOT_STARTED, since < cutoff)
    total = int(session.scalar(select(func.count()).select_from(Introduction).where(*where)) or 0)
    rows = session.execute(
        select(Introduction, Solution.title)
        .join(Solution, Solution.id == Introduction.solution_id, isouter=True)
        .where(*where)
        .order_by(since)
        .limit(limit)
    ).all()
    out = []
    for intro, title in rows:
        started = _aware(intro.pilot_started_at or intro.updated_at)
        last = _aware(intro.pilot_end_at or started)
        out.append(
            {
                "id": intro.id,
                "need_id": buyer_need_of(intro),
                "solution": title or intro.target_label or "",
                "started_at": started.date().isoformat(),
                "planned_end": last.date().isoformat(),
                "weeks": (now - last).days // 7,
            }
        )
    return total, out
