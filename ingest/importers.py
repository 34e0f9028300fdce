"""Upsert validated rows into the database, all-or-nothing.

Everything is checked first (format, every row, duplicates, references to solutions);
only then are rows written, with bulk statements, inside the caller's transaction
(``Database.session()`` commits on success and rolls back on any error).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from tqdm import tqdm

from core.db import bump_catalogue_version
from core.domain import Moderation, SolutionStatus, TrustLevel, fold
from core.models import Experience, Solution, Territory, utcnow
from ingest import ImportSummary, IngestError
from ingest.readers import Record, read_records
from ingest.validate import check_kind, validate_records

#: Above this many rows, a progress bar is shown when ``progress=True``.
PROGRESS_MIN_ROWS = 2_000
_CHUNK = 500


def content_hash(row: dict[str, Any]) -> str:
    """A stable SHA-256 of a clean row (keys sorted, JSON)."""
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def import_file(
    session: Session, kind: str, path: Path, *, progress: bool = False
) -> ImportSummary:
    """Read, validate and upsert the file at ``path``; raises :class:`IngestError`."""
    check_kind(kind)
    start = time.perf_counter()
    records = read_records(Path(path))
    summary = _import(session, kind, records, progress=progress)
    summary.source = Path(path).name
    summary.seconds = time.perf_counter() - start
    return summary


def import_rows(
    session: Session, kind: str, rows: list[dict[str, Any]], *, progress: bool = False
) -> ImportSummary:
    """Validate and upsert rows already parsed (e.g. a JSON body); problems name ``item N``."""
    check_kind(kind)
    if not isinstance(rows, list) or not rows:
        raise IngestError("no rows")
    start = time.perf_counter()
    records: list[Record] = [(f"item {i}", row) for i, row in enumerate(rows, start=1)]
    summary = _import(session, kind, records, progress=progress)
    summary.seconds = time.perf_counter() - start
    return summary


def validate_file(kind: str, path: Path) -> int:
    """Dry run without a database: the number of valid rows, or an :class:`IngestError`."""
    return len(validate_records(check_kind(kind), read_records(Path(path))))


def _import(session: Session, kind: str, records: list[Record], *, progress: bool) -> ImportSummary:
    rows = validate_records(kind, records)
    if kind == "territories":
        return _upsert_territories(session, [r for _, r in rows], progress=progress)
    if kind == "catalogue":
        return _upsert_keyed(session, Solution, "catalogue", rows, progress=progress)
    return _upsert_keyed(session, Experience, "rex", _prepare_rex(session, rows), progress=progress)


def _bar(items: list[Any], progress: bool, desc: str) -> Iterable[Any]:
    if progress and len(items) >= PROGRESS_MIN_ROWS:
        return tqdm(items, desc=desc, unit="row", leave=False)
    return items


# --------------------------------------------------------------------------- REX


def _prepare_rex(
    session: Session, rows: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """Resolve solution links and fill territory facts from the territory table."""
    wanted = {r["solution_external_id"] for _, r in rows if r.get("solution_external_id")}
    solution_ids: dict[str, int] = {}
    if wanted:
        for ext, sid in session.execute(
            select(Solution.external_id, Solution.id).where(Solution.external_id.in_(wanted))
        ):
            solution_ids[ext] = sid
    problems = [
        f"{where}: field 'solution_external_id': unknown solution {r['solution_external_id']!r}"
        for where, r in rows
        if r.get("solution_external_id") and r["solution_external_id"] not in solution_ids
    ]
    if problems:
        raise IngestError(problems, rejected=len(problems))

    codes = {r["territory_code"] for _, r in rows if r.get("territory_code")}
    territories: dict[str, list[tuple[Any, ...]]] = {}
    if codes:
        for chunk in _chunks(sorted(codes)):
            for t in session.execute(
                select(
                    Territory.kind,
                    Territory.code,
                    Territory.name,
                    Territory.population,
                    Territory.dep,
                    Territory.region,
                ).where(Territory.code.in_(chunk))
            ):
                territories.setdefault(t.code, []).append(tuple(t))

    out: list[tuple[str, dict[str, Any]]] = []
    for where, row in rows:
        row = dict(row)
        ext = row.pop("solution_external_id", None)
        if ext:
            row["solution_id"] = solution_ids[ext]
        code = row.get("territory_code")
        if code and code in territories:
            matches = territories[code]
            kind = row.get("territory_kind")
            if kind:
                matches = [m for m in matches if str(m[0]) == kind]
            if len(matches) == 1:
                t_kind, _, name, pop, dep, region = matches[0]
                row.setdefault("territory_kind", str(t_kind))
                if not row.get("territory_name"):
                    row["territory_name"] = name
                if row.get("population") is None and pop is not None:
                    row["population"] = pop
                if not row.get("dep") and dep:
                    row["dep"] = dep
                if not row.get("region") and region:
                    row["region"] = region
        out.append((where, row))
    return out


# --------------------------------------------------------------------------- keyed upsert

_CREATE_DEFAULTS: dict[type, dict[str, Any]] = {
    Solution: {
        "trust_level": TrustLevel.DECLARED.value,
        "status": SolutionStatus.PUBLISHED.value,
        "moderation": Moderation.NONE.value,
        "source": "import",
    },
    Experience: {"source": "import"},
}


def _upsert_keyed(
    session: Session,
    model: type[Solution] | type[Experience],
    kind: str,
    rows: list[tuple[str, dict[str, Any]]],
    *,
    progress: bool,
) -> ImportSummary:
    summary = ImportSummary(kind=kind)
    existing: dict[str, tuple[int, str]] = {}
    keys = [r["external_id"] for _, r in rows]
    for chunk in _chunks(keys):
        for ext, ident, digest in session.execute(
            select(model.external_id, model.id, model.content_hash).where(
                model.external_id.in_(chunk)
            )
        ):
            existing[ext] = (ident, digest)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    for _, row in _bar(rows, progress, kind):
        digest = content_hash(row)
        found = existing.get(row["external_id"])
        if found is None:
            values = {**_CREATE_DEFAULTS[model], **row, "content_hash": digest}
            values.setdefault("created_at", now)
            values.setdefault("updated_at", now)
            inserts.append(values)
        elif found[1] != digest:
            updates.append({**row, "id": found[0], "content_hash": digest, "updated_at": now})
        else:
            summary.unchanged += 1
    # rows may carry different key sets: group them so every executemany is homogeneous
    for group in _by_keys(inserts):
        session.execute(insert(model), group)
    for group in _by_keys(updates):
        session.execute(update(model), group)
    summary.created = len(inserts)
    summary.updated = len(updates)
    if summary.changed:
        bump_catalogue_version(session)
    session.flush()
    return summary


# --------------------------------------------------------------------------- territories

_T_FIELDS = (
    "siren",
    "name",
    "name_folded",
    "subtype",
    "population",
    "dep",
    "dep_name",
    "region",
    "region_name",
    "epci",
    "epci_name",
    "chef_lieu",
)


def _upsert_territories(
    session: Session, rows: list[dict[str, Any]], *, progress: bool
) -> ImportSummary:
    summary = ImportSummary(kind="territories")
    table = cast(Table, Territory.__table__)  # declared as FromClause; a mapped class has a Table
    existing: dict[tuple[str, str], tuple[int, tuple[Any, ...]]] = {}
    cols = [table.c.id, table.c.kind, table.c.code] + [table.c[f] for f in _T_FIELDS]
    for rec in session.execute(select(*cols)):
        existing[(str(rec[1]), rec[2])] = (rec[0], tuple(rec[3:]))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in _bar(rows, progress, "territories"):
        values = {f: row.get(f) for f in _T_FIELDS}
        values["name_folded"] = fold(row["name"])
        key = (row["kind"], row["code"])
        found = existing.get(key)
        if found is None:
            inserts.append({"kind": row["kind"], "code": row["code"], **values})
        elif found[1] != tuple(values[f] for f in _T_FIELDS):
            updates.append({"_id": found[0], **values})
        else:
            summary.unchanged += 1
    for chunk in _chunks(inserts, 5_000):
        session.execute(insert(table), chunk)
    if updates:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({f: bindparam(f) for f in _T_FIELDS})
        )
        for chunk in _chunks(updates, 5_000):
            session.connection().execute(stmt, chunk)
    summary.created = len(inserts)
    summary.updated = len(updates)
    session.flush()
    return summary


# --------------------------------------------------------------------------- utils


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _by_keys(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups.values()
