"""Database operations of the API: keyword-only functions taking the session explicitly.

They raise :class:`NotFound` / :class:`Conflict` (mapped to 404 / 409 by the app) and
never commit: the caller commits, then re-indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.schemas import (
    ExperienceCreate,
    SolutionCreate,
)
from core import catalogue
from core.catalogue import Written, archive_solution, audit, delete_experience, public_experience
from core.domain import (
    IntroStatus,
    Moderation,
    SolutionStatus,
    TrustLevel,
    fold,
)
from core.models import (
    AuditLog,
    Experience,
    Introduction,
    IntroductionEvent,
    Need,
    Solution,
    utcnow,
)
from matcher.introductions import relay_outcome

__all__ = [
    "Conflict",
    "NotFound",
    "approve_solution",
    "archive_solution",
    "audit",
    "audit_trail",
    "create_experience",
    "create_solution",
    "delete_experience",
    "get_experience",
    "get_solution",
    "list_experiences",
    "list_introductions",
    "list_needs",
    "list_solutions",
    "merge_solution",
    "moderate_experience",
    "moderation_queue",
    "qualify_solution",
    "reject_solution",
    "relay_introduction",
    "rex_drafts",
    "update_experience",
    "update_solution",
]

R = TypeVar("R")


class NotFound(LookupError):
    """No such entity (404)."""


class Conflict(ValueError):
    """The request contradicts the current state (409)."""


# --------------------------------------------------------------------------- helpers


def page(
    session: Session,
    stmt: Select[Any],
    *,
    limit: int,
    offset: int,
    keep: Callable[[Any], bool] | None = None,
) -> tuple[list[Any], int]:
    """One page of ``stmt`` (already ordered) and the total; ``keep`` filters in Python."""
    if keep is None:
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
        rows = list(session.scalars(stmt.limit(limit).offset(offset)))
        return rows, int(total or 0)
    kept = [row for row in session.scalars(stmt) if keep(row)]
    return kept[offset : offset + limit], len(kept)


def has_theme(theme: str | None) -> Callable[[Any], bool] | None:
    """A predicate on ``row.themes`` (accent- and case-insensitive), or None for no filter."""
    if not theme:
        return None
    wanted = fold(theme)
    return lambda row: any(fold(t) == wanted for t in row.themes or [])


def audit_trail(
    session: Session, *, entity_type: str, entity_id: int, limit: int, offset: int
) -> tuple[list[AuditLog], int]:
    stmt = (
        select(AuditLog)
        .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
        .order_by(AuditLog.at, AuditLog.id)
    )
    return page(session, stmt, limit=limit, offset=offset)


# --------------------------------------------------------------------------- solutions


def get_solution(session: Session, *, external_id: str, public: bool = False) -> Solution:
    stmt = select(Solution).where(Solution.external_id == external_id)
    if public:
        stmt = stmt.where(*catalogue.publishable_solution())
    sol = session.scalar(stmt)
    if sol is None:
        raise NotFound(f"no solution {external_id!r}")
    return sol


def list_solutions(
    session: Session,
    *,
    limit: int,
    offset: int,
    theme: str | None = None,
    trust: TrustLevel | None = None,
    maturity: str | None = None,
    public: bool = True,
) -> tuple[list[Solution], int]:
    stmt = select(Solution).order_by(Solution.title, Solution.id)
    if public:
        stmt = stmt.where(*catalogue.publishable_solution())
    if trust is not None:
        stmt = stmt.where(Solution.trust_level == trust)
    if maturity is not None:
        stmt = stmt.where(Solution.maturity == maturity)
    return page(session, stmt, limit=limit, offset=offset, keep=has_theme(theme))


def solutions_by_ids(session: Session, *, ids: Sequence[int]) -> dict[int, Solution]:
    if not ids:
        return {}
    return {s.id: s for s in session.scalars(select(Solution).where(Solution.id.in_(ids)))}


def external_ids(session: Session, model: Any, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(select(model.id, model.external_id).where(model.id.in_(wanted)))
    return {int(i): str(e) for i, e in rows}


def create_solution(session: Session, *, data: SolutionCreate, actor: str) -> Written[Solution]:
    exists = session.scalar(select(Solution.id).where(Solution.external_id == data.external_id))
    if exists is not None:
        raise Conflict(f"solution {data.external_id!r} already exists")
    values = data.model_dump(mode="json", exclude={"external_id"})
    return catalogue.create_solution(
        session, external_id=data.external_id, values=values, actor=actor, source="api"
    )


def update_solution(
    session: Session, *, sol: Solution, values: dict[str, Any], actor: str
) -> Written[Solution]:
    if sol.moderation == Moderation.MERGED:
        raise Conflict(f"solution {sol.external_id!r} was merged: edit the entry it went into")
    return catalogue.update_entry(session, row=sol, values=values, actor=actor)


def qualify_solution(
    session: Session, *, sol: Solution, level: TrustLevel, reason: str, actor: str
) -> Written[Solution]:
    if sol.status == SolutionStatus.ARCHIVED:
        raise Conflict(f"solution {sol.external_id!r} is archived")
    return catalogue.qualify_solution(session, sol=sol, level=level, reason=reason, actor=actor)


def moderation_queue(session: Session, *, limit: int, offset: int) -> tuple[list[Solution], int]:
    stmt = (
        select(Solution)
        .where(Solution.moderation == Moderation.PENDING)
        .order_by(Solution.created_at, Solution.id)
    )
    return page(session, stmt, limit=limit, offset=offset)


def rex_drafts(session: Session, *, limit: int, offset: int) -> tuple[list[Experience], int]:
    """REX told in chat waiting for a facilitator, oldest first."""
    stmt = (
        select(Experience)
        .where(Experience.moderation == Moderation.PENDING)
        .order_by(Experience.created_at, Experience.id)
    )
    return page(session, stmt, limit=limit, offset=offset)


def moderate_experience(
    session: Session, *, rex: Experience, approve: bool, reason: str | None, actor: str
) -> Written[Experience]:
    """Approve (published, indexed) or reject (with the reason) a REX draft."""
    if rex.moderation != Moderation.PENDING:
        raise Conflict(f"REX {rex.external_id!r} is not waiting for moderation")
    if approve:
        return catalogue.approve_experience(session, rex=rex, actor=actor)
    return catalogue.reject_experience(session, rex=rex, reason=reason or "", actor=actor)


def _pending(sol: Solution) -> None:
    if sol.moderation != Moderation.PENDING:
        raise Conflict(f"solution {sol.external_id!r} is not waiting for moderation")


def approve_solution(session: Session, *, sol: Solution, actor: str) -> Written[Solution]:
    _pending(sol)
    return catalogue.approve_solution(session, sol=sol, actor=actor)


def reject_solution(
    session: Session, *, sol: Solution, reason: str, actor: str
) -> Written[Solution]:
    _pending(sol)
    return catalogue.reject_solution(session, sol=sol, reason=reason, actor=actor)


def merge_solution(session: Session, *, sol: Solution, into: str, actor: str) -> Written[Solution]:
    _pending(sol)
    target = get_solution(session, external_id=into)
    if target.id == sol.id:
        raise Conflict("a solution cannot be merged into itself")
    if target.moderation in (Moderation.MERGED, Moderation.REJECTED) or (
        target.status == SolutionStatus.ARCHIVED
    ):
        raise Conflict(f"solution {into!r} is archived, merged or rejected")
    return catalogue.merge_solution(session, sol=sol, into=target, actor=actor)


# --------------------------------------------------------------------------- REX


def get_experience(session: Session, *, external_id: str, public: bool = False) -> Experience:
    """A REX by external id; ``public``: not a draft waiting for moderation (or rejected)."""
    stmt = select(Experience).where(Experience.external_id == external_id)
    if public:
        stmt = stmt.where(*public_experience())
    rex = session.scalar(stmt)
    if rex is None:
        raise NotFound(f"no REX {external_id!r}")
    return rex


def list_experiences(
    session: Session,
    *,
    limit: int,
    offset: int,
    outcome: str | None = None,
    dep: str | None = None,
) -> tuple[list[Experience], int]:
    stmt = select(Experience).where(*public_experience()).order_by(Experience.title, Experience.id)
    if outcome is not None:
        stmt = stmt.where(Experience.outcome == outcome)
    if dep is not None:
        stmt = stmt.where(Experience.dep == dep)
    return page(session, stmt, limit=limit, offset=offset)


def _rex_values(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if "solution_external_id" in values:
        ext = values.pop("solution_external_id")
        values["solution_id"] = None if ext is None else get_solution(session, external_id=ext).id
    return values


def create_experience(
    session: Session, *, data: ExperienceCreate, actor: str
) -> Written[Experience]:
    exists = session.scalar(select(Experience.id).where(Experience.external_id == data.external_id))
    if exists is not None:
        raise Conflict(f"REX {data.external_id!r} already exists")
    try:
        values = _rex_values(session, data.model_dump(mode="json", exclude={"external_id"}))
    except NotFound as exc:
        raise Conflict(str(exc)) from None
    return catalogue.create_experience(
        session, external_id=data.external_id, values=values, actor=actor, source="api"
    )


def update_experience(
    session: Session, *, rex: Experience, values: dict[str, Any], actor: str
) -> Written[Experience]:
    try:
        values = _rex_values(session, values)
    except NotFound as exc:
        raise Conflict(str(exc)) from None
    return catalogue.update_entry(session, row=rex, values=values, actor=actor)


# --------------------------------------------------------------------------- needs, intros


def list_needs(
    session: Session,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    theme: str | None = None,
    size_band: str | None = None,
    dep: str | None = None,
) -> tuple[list[Need], int]:
    stmt = select(Need).order_by(Need.created_at.desc(), Need.id.desc())
    if status is not None:
        stmt = stmt.where(Need.status == status)
    if size_band is not None:
        stmt = stmt.where(Need.size_band == size_band)
    if dep is not None:
        stmt = stmt.where(Need.dep == dep)
    return page(session, stmt, limit=limit, offset=offset, keep=has_theme(theme))


def list_introductions(
    session: Session, *, limit: int, offset: int, status: str | None = None
) -> tuple[list[Introduction], int]:
    stmt = select(Introduction).order_by(Introduction.created_at.desc(), Introduction.id.desc())
    if status is not None:
        stmt = stmt.where(Introduction.status == status)
    return page(session, stmt, limit=limit, offset=offset)


RELAY_OUTCOMES = (IntroStatus.ACCEPTED, IntroStatus.DECLINED, IntroStatus.EXPIRED)


def relay_introduction(
    session: Session,
    *,
    intro_id: int,
    status: IntroStatus,
    note: str | None,
    actor: str,
    message: str | None = None,
) -> Introduction:
    """A facilitator records the answer to a queued introduction they relayed; the
    requester is told (with ``message``, the facilitator's words to them, if given)."""
    intro = session.get(Introduction, intro_id)
    if intro is None:
        raise NotFound(f"no introduction {intro_id}")
    if intro.status != IntroStatus.QUEUED:
        raise Conflict(f"introduction {intro_id} is {intro.status}, not queued")
    if status not in RELAY_OUTCOMES:
        raise Conflict("status must be accepted, declined or expired")
    now = utcnow()
    intro.status = status
    intro.responded_at = now
    text = f"relayed by {actor}" + (f": {note}" if note else "")
    session.add(IntroductionEvent(introduction_id=intro.id, status=status, at=now, note=text))
    relay_outcome(session, intro, message=message, now=now)
    audit(
        session,
        actor=actor,
        action="relay",
        entity_type="introduction",
        entity_id=intro.id,
        detail={"status": status.value, "note": note},
    )
    session.flush()
    return intro
