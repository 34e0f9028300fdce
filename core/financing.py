"""The one write path of the financing table (``FinancingScheme``): the import, the demo
loader and the admin API share it. Every admin write leaves an audit row; functions take
the session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalogue import audit
from core.domain import FinancingStatus
from core.models import FinancingScheme

__all__ = [
    "SCHEME_FIELDS",
    "create_scheme",
    "delete_scheme",
    "list_schemes",
    "scheme_values",
    "update_scheme",
    "upsert_schemes",
]

#: The editable fields of a scheme (everything but its id and timestamps).
SCHEME_FIELDS = (
    "name",
    "name_en",
    "funder",
    "kinds",
    "min_population",
    "max_population",
    "themes",
    "funds",
    "stages",
    "rate",
    "cap",
    "summary_fr",
    "summary_en",
    "url",
    "sources",
    "checked",
    "status",
    "notes",
)

_DEFAULTS: dict[str, Any] = {
    "kinds": [],
    "themes": [],
    "funds": [],
    "stages": [],
    "summary_fr": "",
    "summary_en": "",
    "sources": [],
    "status": FinancingStatus.OPEN,
    "notes": "",
}


def scheme_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of a validated row (JSON types: ``checked`` as an ISO date)."""
    values: dict[str, Any] = {}
    for name in SCHEME_FIELDS:
        if name not in row:
            continue
        value = row[name]
        if name == "checked" and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        elif name == "status" and value is not None:
            value = FinancingStatus(value)
        elif value is None and name in _DEFAULTS:
            value = _DEFAULTS[name]
        values[name] = value
    return values


def list_schemes(session: Session) -> list[FinancingScheme]:
    """Every scheme, in the order they were added (the file's order)."""
    return list(session.scalars(select(FinancingScheme).order_by(FinancingScheme.id)))


def _changes(scheme: FinancingScheme, values: Mapping[str, Any]) -> list[str]:
    changed = []
    for name, value in values.items():
        if getattr(scheme, name) != value:
            setattr(scheme, name, value)
            changed.append(name)
    return sorted(changed)


def upsert_schemes(session: Session, rows: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Create or update schemes by ``external_id``: (created, updated, unchanged)."""
    existing = {s.external_id: s for s in list_schemes(session)}
    created = updated = unchanged = 0
    for row in rows:
        values = scheme_values(row)
        scheme = existing.get(row["external_id"])
        if scheme is None:
            session.add(FinancingScheme(external_id=row["external_id"], **values))
            created += 1
        elif _changes(scheme, values):
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return created, updated, unchanged


def create_scheme(session: Session, *, row: Mapping[str, Any], actor: str) -> FinancingScheme:
    """A new scheme from a validated row; one audit row."""
    scheme = FinancingScheme(external_id=row["external_id"], **scheme_values(row))
    session.add(scheme)
    session.flush()
    audit(
        session,
        actor=actor,
        action="create",
        entity_type="financing",
        entity_id=scheme.id,
        detail={"external_id": scheme.external_id},
    )
    return scheme


def update_scheme(
    session: Session, *, scheme: FinancingScheme, values: Mapping[str, Any], actor: str
) -> list[str]:
    """Set the fields that differ; the audit row names them. Returns the changed fields."""
    changed = _changes(scheme, scheme_values(values))
    if changed:
        audit(
            session,
            actor=actor,
            action="update",
            entity_type="financing",
            entity_id=scheme.id,
            detail={"external_id": scheme.external_id, "fields": changed},
        )
    session.flush()
    return changed


def delete_scheme(session: Session, *, scheme: FinancingScheme, actor: str) -> None:
    """Delete a scheme; the audit row keeps a full copy."""
    copy = {"external_id": scheme.external_id}
    for name in SCHEME_FIELDS:
        value = getattr(scheme, name)
        copy[name] = value.isoformat() if isinstance(value, dt.date) else value
    audit(
        session,
        actor=actor,
        action="delete",
        entity_type="financing",
        entity_id=scheme.id,
        detail=copy,
    )
    session.delete(scheme)
    session.flush()
