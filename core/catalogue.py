"""The one write path of the catalogue (solutions and REX), shared by every entry point:
the API, the chat and the bulk import.

Each write decides here, once:

* the **content hash** (:func:`content_hash`): the SHA-256 of the entry's fields as last
  written, as JSON with sorted keys. A bulk import writes the fields its clean row gives
  (so re-importing an unchanged file is a no-op and never resets what the file does not
  set); every other write hashes the entry's :data:`SOLUTION_FIELDS` /
  :data:`EXPERIENCE_FIELDS`, the same keys an import row of the whole entry has. A stored
  hash therefore equals an import row's only if the entry already holds that row;
* the **audit row** (actor, action, entity, detail), one per write that changed something;
* the **catalogue version** bump, so every worker reloads its indexes and cards;
* what the **index** must do: the result names the documents to re-read, and the caller
  that owns a MatchService re-indexes them once it has committed.

Which rows are searchable is decided here too (:func:`indexable_documents`); the index
layer stores ids and vectors only. Functions take the session and never commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, insert, select, update
from sqlalchemy.orm import Session

from core.db import bump_catalogue_version
from core.domain import Moderation, NeedStatus, SolutionStatus, TrustLevel
from core.models import AuditLog, Experience, Need, Outbox, Solution, utcnow

__all__ = [
    "EXPERIENCE_COLUMNS",
    "EXPERIENCE_FIELDS",
    "SOLUTION_COLUMNS",
    "SOLUTION_FIELDS",
    "Imported",
    "Written",
    "approve_experience",
    "approve_solution",
    "archive_solution",
    "audit",
    "chunks",
    "content_hash",
    "create_experience",
    "create_solution",
    "delete_experience",
    "entry_fields",
    "import_entries",
    "indexable_documents",
    "merge_solution",
    "public_experience",
    "publishable_solution",
    "qualify_solution",
    "reject_experience",
    "reject_solution",
    "update_entry",
]

Entry = Solution | Experience
EntryT = TypeVar("EntryT", Solution, Experience)

#: The columns of a catalogue file, in the order an export writes them (an import reads
#: them back).
SOLUTION_COLUMNS = (
    "external_id",
    "title",
    "mission",
    "description",
    "themes",
    "usertypes",
    "target_kinds",
    "target_size_bands",
    "maturity",
    "phase",
    "pricing_model",
    "references",
    "website",
    "contact",
    "organisation_name",
    "trust_level",
    "status",
    "source",
)
#: The columns of a REX file (the solution used, by its external id), in export order.
EXPERIENCE_COLUMNS = (
    "external_id",
    "title",
    "territory_code",
    "territory_kind",
    "territory_name",
    "population",
    "dep",
    "region",
    "organisation_name",
    "problem",
    "tried",
    "themes",
    "solution_external_id",
    "period_start",
    "period_end",
    "outcome",
    "lessons",
    "contact_role",
    "contact_consent",
    "links",
    "source",
)
#: What defines a solution: its columns but the trust level and the source, decisions
#: about the entry made through their own writes (moderation is no column).
SOLUTION_FIELDS = tuple(c for c in SOLUTION_COLUMNS if c not in ("trust_level", "source"))
#: What defines a REX: its columns but the source, with the solution used by id (as an
#: import row holds it once resolved).
EXPERIENCE_FIELDS = tuple(
    "solution_id" if c == "solution_external_id" else c for c in EXPERIENCE_COLUMNS if c != "source"
)
_FIELDS: dict[type, tuple[str, ...]] = {Solution: SOLUTION_FIELDS, Experience: EXPERIENCE_FIELDS}
_KIND: dict[type, str] = {Solution: "solution", Experience: "experience"}


@dataclass(frozen=True, slots=True)
class Written(Generic[EntryT]):
    """What one write did: the entry, its audit row (None: nothing changed) and the index
    documents of ``kind`` to re-read once the caller has committed."""

    row: EntryT
    audit: AuditLog | None
    kind: str
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Imported:
    """What a bulk import did; the caller re-syncs the indexes if anything changed."""

    created: int
    updated: int
    unchanged: int


# --------------------------------------------------------------------------- the rules


def content_hash(fields: Mapping[str, Any]) -> str:
    """The one content-hash rule: SHA-256 of ``fields`` as compact JSON, keys sorted."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def entry_fields(row: Entry) -> dict[str, Any]:
    """The fields that define ``row``, as JSON values (what an import row of it holds)."""
    return {name: _json(getattr(row, name)) for name in _FIELDS[type(row)]}


def _json(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def publishable_solution() -> list[ColumnElement[bool]]:
    """The solutions the public sees and the search holds: published, neither rejected
    nor merged."""
    return [
        Solution.status == SolutionStatus.PUBLISHED,
        Solution.moderation.not_in([Moderation.REJECTED, Moderation.MERGED]),
    ]


def public_experience() -> list[ColumnElement[bool]]:
    """The REX the public sees and the search holds: not a draft told in chat waiting for
    a facilitator, nor a rejected one."""
    return [Experience.moderation.not_in([Moderation.PENDING, Moderation.REJECTED])]


def indexable_documents(
    session: Session, kind: str, ids: Iterable[int] | None = None
) -> dict[int, str]:
    """The texts that must be searchable for ``kind`` (among ``ids`` if given), by id."""
    model: Any
    if kind == "solution":
        model, where = Solution, publishable_solution()
    elif kind == "need":
        model, where = Need, [Need.status == NeedStatus.OPEN]
    elif kind == "experience":
        model, where = Experience, public_experience()
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    # the text's columns only, as plain rows: no ORM object per entry (100,000 of them
    # on every worker's refresh)
    columns = [getattr(model, name) for name in model.index_columns]
    query: Select[Any] = select(model.id, *columns).where(*where)
    if ids is not None:
        query = query.where(model.id.in_(list(ids)))
    return {row[0]: model.text_of(*row[1:]) for row in session.execute(query)}


# --------------------------------------------------------------------------- recording


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


def _written(
    session: Session,
    row: EntryT,
    *,
    actor: str,
    action: str,
    detail: dict[str, Any] | None = None,
) -> Written[EntryT]:
    """Record a change of ``row``: its hash, one audit row and one catalogue version."""
    session.flush()
    row.content_hash = content_hash(entry_fields(row))
    kind = _KIND[type(row)]
    entry = audit(
        session, actor=actor, action=action, entity_type=kind, entity_id=row.id, detail=detail
    )
    bump_catalogue_version(session, kind)
    session.flush()
    return Written(row, entry, kind, (row.id,))


def _notify(session: Session, person_id: int | None, key: str, params: dict[str, Any]) -> None:
    if person_id is not None:
        session.add(Outbox(person_id=person_id, payload={"key": key, "params": params}))


# --------------------------------------------------------------------------- any entry


def update_entry(
    session: Session, *, row: EntryT, values: Mapping[str, Any], actor: str
) -> Written[EntryT]:
    """Set the fields of a solution or a REX that differ; the audit row names them."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            changed.append(name)
            setattr(row, name, value)
    if not changed:
        session.flush()
        return Written(row, None, _KIND[type(row)], ())
    detail = {"fields": sorted(changed)}
    return _written(session, row, actor=actor, action="update", detail=detail)


# --------------------------------------------------------------------------- solutions


def create_solution(
    session: Session,
    *,
    external_id: str | Callable[[int], str],
    values: Mapping[str, Any],
    actor: str,
    source: str,
    moderation: Moderation = Moderation.NONE,
    submitted_by_id: int | None = None,
) -> Written[Solution]:
    """A new entry, trust level declared. ``external_id`` may be made from the new row's
    id (the chat's ``chat-<slug>-<id>``)."""
    sol = Solution(
        **values,
        external_id=external_id if isinstance(external_id, str) else f"pending-{uuid.uuid4()}",
        trust_level=TrustLevel.DECLARED,
        moderation=moderation,
        source=source,
        submitted_by_id=submitted_by_id,
    )
    session.add(sol)
    session.flush()
    if not isinstance(external_id, str):
        sol.external_id = external_id(sol.id)
    return _written(session, sol, actor=actor, action="create")


def qualify_solution(
    session: Session, *, sol: Solution, level: TrustLevel, reason: str, actor: str
) -> Written[Solution]:
    """Set the trust level, with the reason. Like every write it moves the catalogue
    version and names the entry to re-index, so no cached card keeps the old level."""
    previous = TrustLevel(sol.trust_level)
    sol.trust_level = level
    detail = {"from": previous.value, "to": level.value, "reason": reason}
    return _written(session, sol, actor=actor, action="qualify", detail=detail)


def archive_solution(session: Session, *, sol: Solution, actor: str) -> Written[Solution]:
    """Take a solution out of the catalogue (kept, searchable no more); idempotent."""
    if sol.status == SolutionStatus.ARCHIVED:
        session.flush()
        return Written(sol, None, "solution", ())
    sol.status = SolutionStatus.ARCHIVED
    return _written(session, sol, actor=actor, action="archive")


def approve_solution(session: Session, *, sol: Solution, actor: str) -> Written[Solution]:
    """Publish a registration waiting for moderation; its author is told."""
    sol.moderation = Moderation.APPROVED
    sol.moderation_reason = None
    if sol.status == SolutionStatus.DRAFT:
        sol.status = SolutionStatus.PUBLISHED
    _notify(session, sol.submitted_by_id, "moderation_approved", {"title": sol.title})
    return _written(session, sol, actor=actor, action="approve")


def reject_solution(
    session: Session, *, sol: Solution, reason: str, actor: str
) -> Written[Solution]:
    """Reject a registration with a reason, sent to its author."""
    sol.moderation = Moderation.REJECTED
    sol.moderation_reason = reason
    params = {"title": sol.title, "reason": reason}
    _notify(session, sol.submitted_by_id, "moderation_rejected", params)
    return _written(session, sol, actor=actor, action="reject", detail={"reason": reason})


def merge_solution(
    session: Session, *, sol: Solution, into: Solution, actor: str
) -> Written[Solution]:
    """A duplicate registration: archived and pointed to ``into``; its author is told."""
    sol.moderation = Moderation.MERGED
    sol.status = SolutionStatus.ARCHIVED
    sol.merged_into_id = into.id
    params = {"title": sol.title, "into_title": into.title}
    _notify(session, sol.submitted_by_id, "moderation_merged", params)
    detail = {"into": into.external_id}
    return _written(session, sol, actor=actor, action="merge", detail=detail)


# --------------------------------------------------------------------------- REX


def create_experience(
    session: Session, *, external_id: str, values: Mapping[str, Any], actor: str, source: str
) -> Written[Experience]:
    rex = Experience(**values, external_id=external_id, source=source)
    session.add(rex)
    return _written(session, rex, actor=actor, action="create")


def approve_experience(session: Session, *, rex: Experience, actor: str) -> Written[Experience]:
    """Publish a REX told in chat: it becomes searchable (peers); its author is told."""
    rex.moderation = Moderation.APPROVED
    _notify(session, rex.contact_person_id, "rex_approved", {"title": rex.title})
    return _written(session, rex, actor=actor, action="approve")


def reject_experience(
    session: Session, *, rex: Experience, reason: str, actor: str
) -> Written[Experience]:
    """Reject a REX told in chat, with a reason sent to its author; it stays out of search."""
    rex.moderation = Moderation.REJECTED
    params = {"title": rex.title, "reason": reason}
    _notify(session, rex.contact_person_id, "rex_rejected", params)
    return _written(session, rex, actor=actor, action="reject", detail={"reason": reason})


def delete_experience(session: Session, *, rex: Experience, actor: str) -> Written[Experience]:
    """REX have no status column: the row is deleted and a full copy kept in the audit log."""
    rex_id = rex.id
    snapshot = {
        c.name: getattr(rex, c.name)
        for c in Experience.__table__.columns
        if c.name not in ("created_at", "updated_at", "contact_person_id")
    }
    entry = audit(
        session,
        actor=actor,
        action="delete",
        entity_type="experience",
        entity_id=rex_id,
        detail={"snapshot": {k: v for k, v in snapshot.items() if _jsonable(v)}},
    )
    session.delete(rex)
    bump_catalogue_version(session, "experience")
    session.flush()
    return Written(rex, entry, "experience", (rex_id,))


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list)


# --------------------------------------------------------------------------- bulk import

_IMPORT_DEFAULTS: dict[type, dict[str, Any]] = {
    Solution: {
        "trust_level": TrustLevel.DECLARED.value,
        "status": SolutionStatus.PUBLISHED.value,
        "moderation": Moderation.NONE.value,
        "source": "import",
    },
    Experience: {"source": "import"},
}


def import_entries(
    session: Session,
    model: type[Solution] | type[Experience],
    rows: list[dict[str, Any]],
    *,
    each: Callable[[list[dict[str, Any]]], Iterable[dict[str, Any]]] = iter,
) -> Imported:
    """Upsert clean rows (keyed by ``external_id``) with bulk statements: the rows whose
    hash differs from the stored one are written, and the version is bumped once.

    ``each`` walks the rows (e.g. with a progress bar). The caller audits the import.
    """
    existing: dict[str, tuple[int, str]] = {}
    for chunk in chunks([r["external_id"] for r in rows]):
        for ext, ident, digest in session.execute(
            select(model.external_id, model.id, model.content_hash).where(
                model.external_id.in_(chunk)
            )
        ):
            existing[ext] = (ident, digest)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    now = utcnow()
    for row in each(rows):
        digest = content_hash(row)
        found = existing.get(row["external_id"])
        if found is None:
            values = {**_IMPORT_DEFAULTS[model], **row, "content_hash": digest}
            values.setdefault("created_at", now)
            values.setdefault("updated_at", now)
            inserts.append(values)
        elif found[1] != digest:
            updates.append({**row, "id": found[0], "content_hash": digest, "updated_at": now})
        else:
            unchanged += 1
    # rows may carry different key sets: group them so every executemany is homogeneous
    for group in _by_keys(inserts):
        session.execute(insert(model), group)
    for group in _by_keys(updates):
        session.execute(update(model), group)
    if inserts or updates:
        bump_catalogue_version(session, _KIND[model])
    session.flush()
    return Imported(created=len(inserts), updated=len(updates), unchanged=unchanged)


def chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    """``items`` in slices of ``size`` (bounded ``IN`` lists and executemany batches)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _by_keys(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups.values()
