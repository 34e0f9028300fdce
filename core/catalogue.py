"""Changes to the catalogue shared by every entry point (the API, the chat), each one
written to the audit log. Functions take the session and never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.db import bump_catalogue_version
from core.domain import SolutionStatus
from core.models import AuditLog, Solution, utcnow

__all__ = ["archive_solution", "audit"]


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    row = AuditLog(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        detail=detail or {},
        at=utcnow(),
    )
    session.add(row)
    return row


def archive_solution(session: Session, *, sol: Solution, actor: str) -> Solution:
    """Take a solution out of the catalogue (kept, searchable no more); idempotent."""
    if sol.status != SolutionStatus.ARCHIVED:
        sol.status = SolutionStatus.ARCHIVED
        sol.content_hash = ""
        audit(session, actor=actor, action="archive", entity_type="solution", entity_id=sol.id)
        bump_catalogue_version(session)
    session.flush()
    return sol
