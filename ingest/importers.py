"""Upsert validated rows into the database, all-or-nothing.

Everything is checked first (format, every row, duplicates, references to solutions);
only then are rows written, with bulk statements, inside the caller's transaction
(``Database.session()`` commits on success and rolls back on any error).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from tqdm import tqdm

from core.catalogue import chunks, import_entries
from core.domain import fold
from core.financing import upsert_schemes
from core.models import Experience, Solution, Territory
from ingest import ImportSummary, IngestError
from ingest.readers import Record, read_records
from ingest.validate import check_kind, validate_records

#: Above this many rows, a progress bar is shown when ``progress=True``.
PROGRESS_MIN_ROWS = 2_000


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
    if kind == "financing":
        created, updated, unchanged = upsert_schemes(session, [r for _, r in rows])
        return ImportSummary(kind=kind, created=created, updated=updated, unchanged=unchanged)
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
        for chunk in chunks(sorted(codes)):
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


def _upsert_keyed(
    session: Session,
    model: type[Solution] | type[Experience],
    kind: str,
    rows: list[tuple[str, dict[str, Any]]],
    *,
    progress: bool,
) -> ImportSummary:
    done = import_entries(
        session, model, [r for _, r in rows], each=lambda items: _bar(items, progress, kind)
    )
    return ImportSummary(
        kind=kind, created=done.created, updated=done.updated, unchanged=done.unchanged
    )


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
    for chunk in chunks(inserts, 5_000):
        session.execute(insert(table), chunk)
    if updates:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({f: bindparam(f) for f in _T_FIELDS})
        )
        for chunk in chunks(updates, 5_000):
            session.connection().execute(stmt, chunk)
    summary.created = len(inserts)
    summary.updated = len(updates)
    session.flush()
    return summary
