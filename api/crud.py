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
from core.catalogue import archive_solution, audit
from core.db import bump_catalogue_version
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
    Outbox,
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
    "moderation_queue",
    "qualify_solution",
    "reject_solution",
    "relay_introduction",
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


def _apply_update(
    session: Session,
    row: Solution | Experience,
    values: dict[str, Any],
    *,
    actor: str,
    entity_type: str,
) -> None:
    """Set the fields that differ; if any did, audit their names and bump the catalogue."""
    changed = {}
    for name, value in values.items():
        if getattr(row, name) != value:
            changed[name] = value
            setattr(row, name, value)
    if changed:
        row.content_hash = ""  # the next import of this entry must rewrite it
        audit(
            session,
            actor=actor,
            action="update",
            entity_type=entity_type,
            entity_id=row.id,
            detail={"fields": sorted(changed)},
        )
        bump_catalogue_version(session)
    session.flush()


def audit_trail(
    session: Session, *, entity_type: str, entity_id: int, limit: int, offset: int
) -> tuple[list[AuditLog], int]:
    stmt = (
        select(AuditLog)
        .where(AuditLog.entity_type == entity_type, AuditLog.entity_id == entity_id)
        .order_by(AuditLog.at, AuditLog.id)
    )
    return page(session, stmt, limit=limit, offset=offset)


def _notify(session: Session, person_id: int | None, key: str, params: dict[str, Any]) -> None:
    if person_id is not None:
        session.add(Outbox(person_id=person_id, payload={"key": key, "params": params}))


# --------------------------------------------------------------------------- solutions


def public_solution_filter() -> list[Any]:
    """What the public sees: exactly what the search index holds."""
    return [
        Solution.status == SolutionStatus.PUBLISHED,
        Solution.moderation.not_in([Moderation.REJECTED, Moderation.MERGED]),
    ]


def get_solution(session: Session, *, external_id: str, public: bool = False) -> Solution:
    stmt = select(Solution).where(Solution.external_id == external_id)
    if public:
        stmt = stmt.where(*public_solution_filter())
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
        stmt = stmt.where(*public_solution_filter())
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


def create_solution(session: Session, *, data: SolutionCreate, actor: str) -> Solution:
    exists = session.scalar(select(Solution.id).where(Solution.external_id == data.external_id))
    if exists is not None:
        raise Conflict(f"solution {data.external_id!r} already exists")
    values = data.model_dump(mode="json")
    sol = Solution(
        **values,
        trust_level=TrustLevel.DECLARED,
        moderation=Moderation.NONE,
        source="api",
        content_hash="",
    )
    session.add(sol)
    session.flush()
    audit(session, actor=actor, action="create", entity_type="solution", entity_id=sol.id)
    bump_catalogue_version(session)
    return sol


def update_solution(
    session: Session, *, sol: Solution, values: dict[str, Any], actor: str
) -> Solution:
    if sol.moderation == Moderation.MERGED:
        raise Conflict(f"solution {sol.external_id!r} was merged: edit the entry it went into")
    _apply_update(session, sol, values, actor=actor, entity_type="solution")
    return sol


def qualify_solution(
    session: Session, *, sol: Solution, level: TrustLevel, reason: str, actor: str
) -> AuditLog:
    if sol.status == SolutionStatus.ARCHIVED:
        raise Conflict(f"solution {sol.external_id!r} is archived")
    previous = TrustLevel(sol.trust_level)
    sol.trust_level = level
    sol.content_hash = ""
    entry = audit(
        session,
        actor=actor,
        action="qualify",
        entity_type="solution",
        entity_id=sol.id,
        detail={"from": previous.value, "to": level.value, "reason": reason},
    )
    session.flush()
    return entry


def moderation_queue(session: Session, *, limit: int, offset: int) -> tuple[list[Solution], int]:
    stmt = (
        select(Solution)
        .where(Solution.moderation == Moderation.PENDING)
        .order_by(Solution.created_at, Solution.id)
    )
    return page(session, stmt, limit=limit, offset=offset)


def _pending(sol: Solution) -> None:
    if sol.moderation != Moderation.PENDING:
        raise Conflict(f"solution {sol.external_id!r} is not waiting for moderation")


def approve_solution(session: Session, *, sol: Solution, actor: str) -> Solution:
    _pending(sol)
    sol.moderation = Moderation.APPROVED
    sol.moderation_reason = None
    if sol.status == SolutionStatus.DRAFT:
        sol.status = SolutionStatus.PUBLISHED
    audit(session, actor=actor, action="approve", entity_type="solution", entity_id=sol.id)
    _notify(session, sol.submitted_by_id, "moderation_approved", {"title": sol.title})
    bump_catalogue_version(session)
    session.flush()
    return sol


def reject_solution(session: Session, *, sol: Solution, reason: str, actor: str) -> Solution:
    _pending(sol)
    sol.moderation = Moderation.REJECTED
    sol.moderation_reason = reason
    audit(
        session,
        actor=actor,
        action="reject",
        entity_type="solution",
        entity_id=sol.id,
        detail={"reason": reason},
    )
    _notify(
        session,
        sol.submitted_by_id,
        "moderation_rejected",
        {"title": sol.title, "reason": reason},
    )
    bump_catalogue_version(session)
    session.flush()
    return sol


def merge_solution(session: Session, *, sol: Solution, into: str, actor: str) -> Solution:
    _pending(sol)
    target = get_solution(session, external_id=into)
    if target.id == sol.id:
        raise Conflict("a solution cannot be merged into itself")
    if target.moderation in (Moderation.MERGED, Moderation.REJECTED) or (
        target.status == SolutionStatus.ARCHIVED
    ):
        raise Conflict(f"solution {into!r} is archived, merged or rejected")
    sol.moderation = Moderation.MERGED
    sol.status = SolutionStatus.ARCHIVED
    sol.merged_into_id = target.id
    audit(
        session,
        actor=actor,
        action="merge",
        entity_type="solution",
        entity_id=sol.id,
        detail={"into": target.external_id},
    )
    _notify(
        session,
        sol.submitted_by_id,
        "moderation_merged",
        {"title": sol.title, "into_title": target.title},
    )
    bump_catalogue_version(session)
    session.flush()
    return sol


# --------------------------------------------------------------------------- REX


def get_experience(session: Session, *, external_id: str) -> Experience:
    rex = session.scalar(select(Experience).where(Experience.external_id == external_id))
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
    stmt = select(Experience).order_by(Experience.title, Experience.id)
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


def create_experience(session: Session, *, data: ExperienceCreate, actor: str) -> Experience:
    exists = session.scalar(select(Experience.id).where(Experience.external_id == data.external_id))
    if exists is not None:
        raise Conflict(f"REX {data.external_id!r} already exists")
    try:
        values = _rex_values(session, data.model_dump(mode="json"))
    except NotFound as exc:
        raise Conflict(str(exc)) from None
    rex = Experience(**values, source="api", content_hash="")
    session.add(rex)
    session.flush()
    audit(session, actor=actor, action="create", entity_type="experience", entity_id=rex.id)
    bump_catalogue_version(session)
    return rex


def update_experience(
    session: Session, *, rex: Experience, values: dict[str, Any], actor: str
) -> Experience:
    try:
        values = _rex_values(session, values)
    except NotFound as exc:
        raise Conflict(str(exc)) from None
    _apply_update(session, rex, values, actor=actor, entity_type="experience")
    return rex


def delete_experience(session: Session, *, rex: Experience, actor: str) -> None:
    """REX have no status column: the row is deleted and a full copy kept in the audit log."""
    snapshot = {
        c.name: getattr(rex, c.name)
        for c in Experience.__table__.columns
        if c.name not in ("created_at", "updated_at", "contact_person_id")
    }
    audit(
        session,
        actor=actor,
        action="delete",
        entity_type="experience",
        entity_id=rex.id,
        detail={"snapshot": {k: v for k, v in snapshot.items() if _jsonable(v)}},
    )
    session.delete(rex)
    bump_catalogue_version(session)
    session.flush()


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list)


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
