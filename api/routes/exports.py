"""Exports (admin): ``GET /api/admin/export/{solutions|rex|needs|introductions}.{csv|json}``.

Solutions and REX are written with the import field names (lists as JSON arrays in CSV
cells), so an export re-imports through ``POST /api/admin/import/{catalogue|rex}``.
No personal data: no person ids, names, e-mails or phone numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import crud
from api.deps import AdminDep, SessionDep
from core.catalogue import EXPERIENCE_COLUMNS, SOLUTION_COLUMNS
from core.models import Experience, Introduction, Need, Solution

router = APIRouter(prefix="/api/admin/export", tags=["admin"])

SOLUTION_FIELDS = list(SOLUTION_COLUMNS)
REX_FIELDS = list(EXPERIENCE_COLUMNS)
NEED_FIELDS = [
    "id",
    "created_at",
    "status",
    "language",
    "raw_text",
    "themes",
    "territory_code",
    "territory_kind",
    "territory_name",
    "population",
    "size_band",
    "dep",
    "region",
    "competence_level",
    "stage",
    "budget_band",
    "timing",
    "constraints",
]
INTRO_FIELDS = [
    "id",
    "created_at",
    "status",
    "responded_at",
    "need_id",
    "solution_external_id",
    "experience_external_id",
    "target_label",
]


class Dataset(StrEnum):
    solutions = "solutions"
    rex = "rex"
    needs = "needs"
    introductions = "introductions"


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    return value


def solution_rows(session: Session) -> Iterator[dict[str, Any]]:
    for sol in session.scalars(select(Solution).order_by(Solution.id)):
        yield {f: _value(getattr(sol, f)) for f in SOLUTION_FIELDS}


def rex_rows(session: Session) -> Iterator[dict[str, Any]]:
    ext = dict(session.execute(select(Solution.id, Solution.external_id)).all())
    for rex in session.scalars(select(Experience).order_by(Experience.id)):
        row = {f: _value(getattr(rex, f)) for f in REX_FIELDS if f != "solution_external_id"}
        row["solution_external_id"] = ext.get(rex.solution_id) if rex.solution_id else None
        yield {f: row[f] for f in REX_FIELDS}


def need_rows(session: Session) -> Iterator[dict[str, Any]]:
    for need in session.scalars(select(Need).order_by(Need.id)):
        yield {f: _value(getattr(need, f)) for f in NEED_FIELDS}


def intro_rows(session: Session) -> Iterator[dict[str, Any]]:
    intros = list(session.scalars(select(Introduction).order_by(Introduction.id)))
    sols = crud.external_ids(session, Solution, {i.solution_id for i in intros})
    rexes = crud.external_ids(session, Experience, {i.experience_id for i in intros})
    for intro in intros:
        yield {
            "id": intro.id,
            "created_at": _value(intro.created_at),
            "status": _value(intro.status),
            "responded_at": _value(intro.responded_at),
            "need_id": intro.need_id,
            "solution_external_id": sols.get(intro.solution_id or -1),
            "experience_external_id": rexes.get(intro.experience_id or -1),
            "target_label": intro.target_label,
        }


DATASETS: dict[Dataset, tuple[list[str], Callable[[Session], Iterator[dict[str, Any]]]]] = {
    Dataset.solutions: (SOLUTION_FIELDS, solution_rows),
    Dataset.rex: (REX_FIELDS, rex_rows),
    Dataset.needs: (NEED_FIELDS, need_rows),
    Dataset.introductions: (INTRO_FIELDS, intro_rows),
}


def to_csv(fields: list[str], rows: Iterator[dict[str, Any]]) -> str:
    """UTF-8 CSV with a header; lists as JSON arrays, booleans as true/false, None empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(row[f]) for f in fields])
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_CSV_RESPONSE = {"content": {"text/csv": {"schema": {"type": "string"}}}}


@router.get(
    "/{dataset}.{fmt}",
    response_class=Response,
    responses={
        200: {
            "description": "the whole dataset",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        },
        401: {"description": "missing, invalid or revoked key"},
    },
)
def export(dataset: Dataset, fmt: Format, admin: AdminDep, session: SessionDep) -> Response:
    """Download a whole dataset as CSV or JSON."""
    fields, rows = DATASETS[dataset]
    name = f"piu-{dataset.value}.{fmt.value}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == Format.csv:
        return Response(
            to_csv(fields, rows(session)), media_type="text/csv; charset=utf-8", headers=disposition
        )
    body = json.dumps(list(rows(session)), ensure_ascii=False, indent=None)
    return Response(body, media_type="application/json", headers=disposition)
