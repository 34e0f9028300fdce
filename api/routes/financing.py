"""Admin endpoints for the financing table (header ``X-API-Key``): list, read, create,
change and delete schemes, each write with an audit row. A body is validated exactly like
a row of ``piu ingest financing`` (same fields, same problems reported)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, status
from sqlalchemy import select

from api.crud import Conflict, NotFound, page
from api.deps import AdminDep, PagingDep, SessionDep
from api.schemas import FinancingOut, Page
from core.financing import SCHEME_FIELDS, create_scheme, delete_scheme, update_scheme
from core.models import FinancingScheme
from ingest import IngestError
from ingest.validate import validate_records

router = APIRouter(prefix="/api/admin/financing", tags=["admin"])

SchemeId = Annotated[str, Path(min_length=1, max_length=64)]
_COMMON: dict[int | str, dict[str, Any]] = {401: {"description": "missing or invalid key"}}
_ONE = {**_COMMON, 404: {"description": "unknown scheme"}}
_BODY = Body(
    description="The fields of a row of data/financing.csv (native names: external_id, "
    "sources); lists as JSON arrays or ';'-separated text.",
)


def _valid(body: dict[str, Any]) -> dict[str, Any]:
    """The clean row, or 422 with every problem (as the import reports them)."""
    try:
        return validate_records("financing", [("body", body)])[0][1]
    except IngestError as exc:
        raise HTTPException(422, {"message": "invalid scheme", "problems": exc.problems}) from None


def _get(session: SessionDep, external_id: str) -> FinancingScheme:
    scheme = session.scalar(
        select(FinancingScheme).where(FinancingScheme.external_id == external_id)
    )
    if scheme is None:
        raise NotFound(f"no financing scheme {external_id!r}")
    return scheme


def _out(scheme: FinancingScheme) -> FinancingOut:
    return FinancingOut.model_validate(scheme, from_attributes=True)


@router.get("", response_model=Page[FinancingOut], responses=_COMMON)
def list_financing(admin: AdminDep, session: SessionDep, paging: PagingDep) -> Page[FinancingOut]:
    """Every scheme (closed ones included), in the table's order."""
    stmt = select(FinancingScheme).order_by(FinancingScheme.id)
    rows, total = page(session, stmt, limit=paging.limit, offset=paging.offset)
    return Page[FinancingOut](
        items=[_out(s) for s in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.get("/{external_id}", response_model=FinancingOut, responses=_ONE)
def get_financing(external_id: SchemeId, admin: AdminDep, session: SessionDep) -> FinancingOut:
    return _out(_get(session, external_id))


@router.post(
    "",
    response_model=FinancingOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_COMMON, 409: {"description": "external_id taken"}, 422: {}},
)
def create_financing(
    admin: AdminDep, session: SessionDep, body: Annotated[dict[str, Any], _BODY]
) -> FinancingOut:
    """Add a scheme; buyers whose open needs it fits hear of it in their next digest."""
    row = _valid(body)
    taken = session.scalar(
        select(FinancingScheme.id).where(FinancingScheme.external_id == row["external_id"])
    )
    if taken is not None:
        raise Conflict(f"external_id {row['external_id']!r} is taken")
    scheme = create_scheme(session, row=row, actor=admin.name)
    session.commit()
    return _out(scheme)


@router.patch("/{external_id}", response_model=FinancingOut, responses={**_ONE, 422: {}})
def patch_financing(
    external_id: SchemeId,
    admin: AdminDep,
    session: SessionDep,
    body: Annotated[dict[str, Any], _BODY],
) -> FinancingOut:
    """Change the fields given; the whole row is validated again."""
    unknown = sorted(set(body) - set(SCHEME_FIELDS))
    if unknown:
        raise HTTPException(422, {"message": "unknown or read-only fields", "fields": unknown})
    scheme = _get(session, external_id)
    current: dict[str, Any] = {"external_id": scheme.external_id}
    for name in SCHEME_FIELDS:
        value = getattr(scheme, name)
        current[name] = value.isoformat() if name == "checked" else value
    row = _valid({**current, **body})
    update_scheme(session, scheme=scheme, values=row, actor=admin.name)
    session.commit()
    return _out(scheme)


@router.delete("/{external_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ONE)
def delete_financing(external_id: SchemeId, admin: AdminDep, session: SessionDep) -> None:
    """Delete a scheme (the audit row keeps a full copy)."""
    delete_scheme(session, scheme=_get(session, external_id), actor=admin.name)
    session.commit()
