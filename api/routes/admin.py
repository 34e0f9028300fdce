"""Admin endpoints (header ``X-API-Key``): catalogue and REX edits, import,
qualification with audit trail, moderation queue, needs and introductions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api import crud
from api.convert import experience_out, introduction_out, need_out, solution_admin
from api.deps import AdminDep, PagingDep, ServicesDep, SessionDep
from api.schemas import (
    AuditOut,
    ExperienceCreate,
    ExperienceFields,
    ExperienceOut,
    ExperiencePatch,
    ImportResult,
    IntroductionOut,
    IntroductionPatch,
    MergeIn,
    NeedOut,
    Page,
    QualifyIn,
    RejectIn,
    SolutionAdminOut,
    SolutionCreate,
    SolutionFields,
    SolutionPatch,
)
from core.catalogue import Written
from core.domain import IntroStatus, NeedStatus, SizeBand
from core.models import Experience, Introduction, Solution
from ingest import KINDS as IMPORT_KINDS
from ingest import IngestError
from ingest.importers import import_rows
from ingest.readers import parse_bytes

router = APIRouter(prefix="/api/admin", tags=["admin"])

ExternalIdPath = Annotated[str, Path(min_length=1, max_length=200)]
Responses = dict[int | str, dict[str, Any]]
_COMMON: Responses = {401: {"description": "missing, invalid or revoked key"}}
_ONE: Responses = {**_COMMON, 404: {"description": "unknown entity"}}
_STATE: Responses = {**_ONE, 409: {"description": "not possible in the entity's current state"}}


def _solution_out(session: SessionDep, sol: Solution) -> SolutionAdminOut:
    merged = crud.external_ids(session, Solution, {sol.merged_into_id})
    return solution_admin(sol, merged.get(sol.merged_into_id or -1))


def _rex_out(session: SessionDep, rex: Experience) -> ExperienceOut:
    ext = crud.external_ids(session, Solution, {rex.solution_id})
    return experience_out(rex, ext.get(rex.solution_id or -1))


def _commit(session: SessionDep, services: ServicesDep, written: Written[Any]) -> None:
    """Commit a catalogue write, then bring the index in line with what it changed."""
    session.commit()
    for doc_id in written.ids:
        services.reindex(written.kind, doc_id)


def _patch_values(
    body: BaseModel,
    *,
    required: tuple[str, ...],
    listed: tuple[str, ...],
    text: tuple[str, ...],
) -> dict[str, Any]:
    """The fields a PATCH gives: an explicit null is refused for a ``required`` field and
    stands for ``[]`` (``listed``) or ``""`` (``text``) otherwise."""
    values = body.model_dump(mode="json", exclude_unset=True)
    for name in required:
        if name in values and values[name] is None:
            raise HTTPException(422, f"{name} cannot be null")
    for name in listed:
        if name in values and values[name] is None:
            values[name] = []
    for name in text:
        if name in values and values[name] is None:
            values[name] = ""
    return values


# --------------------------------------------------------------------------- solutions


@router.get("/solutions", response_model=Page[SolutionAdminOut], responses=_COMMON)
def list_solutions(
    admin: AdminDep,
    session: SessionDep,
    paging: PagingDep,
    theme: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[SolutionAdminOut]:
    """Every catalogue entry (archived, pending and merged included), by title."""
    rows, total = crud.list_solutions(
        session, limit=paging.limit, offset=paging.offset, theme=theme, public=False
    )
    merged = crud.external_ids(session, Solution, {s.merged_into_id for s in rows})
    return Page[SolutionAdminOut](
        items=[solution_admin(s, merged.get(s.merged_into_id or -1)) for s in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/solutions/{external_id}", response_model=SolutionAdminOut, responses=_ONE)
def get_solution(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep
) -> SolutionAdminOut:
    return _solution_out(session, crud.get_solution(session, external_id=external_id))


@router.post(
    "/solutions",
    response_model=SolutionAdminOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_COMMON, 409: {"description": "external_id taken"}},
)
def create_solution(
    body: SolutionCreate, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> SolutionAdminOut:
    """Add a catalogue entry (trust level: declared)."""
    written = crud.create_solution(session, data=body, actor=admin.name)
    _commit(session, services, written)
    return _solution_out(session, written.row)


@router.put("/solutions/{external_id}", response_model=SolutionAdminOut, responses=_STATE)
def replace_solution(
    external_id: ExternalIdPath,
    body: SolutionFields,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> SolutionAdminOut:
    """Replace every editable field (trust level and moderation are kept)."""
    return _update(session, services, admin.name, external_id, body.model_dump(mode="json"))


@router.patch("/solutions/{external_id}", response_model=SolutionAdminOut, responses=_STATE)
def patch_solution(
    external_id: ExternalIdPath,
    body: SolutionPatch,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> SolutionAdminOut:
    """Change only the fields given."""
    values = _patch_values(
        body,
        required=("title", "status"),
        listed=("themes", "usertypes", "target_kinds", "target_size_bands", "references"),
        text=("mission", "description"),
    )
    return _update(session, services, admin.name, external_id, values)


def _update(
    session: SessionDep, services: ServicesDep, actor: str, external_id: str, values: Any
) -> SolutionAdminOut:
    sol = crud.get_solution(session, external_id=external_id)
    _commit(session, services, crud.update_solution(session, sol=sol, values=values, actor=actor))
    return _solution_out(session, sol)


@router.delete("/solutions/{external_id}", response_model=SolutionAdminOut, responses=_ONE)
def archive_solution(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> SolutionAdminOut:
    """Archive (never delete): the entry leaves the search and the public API."""
    sol = crud.get_solution(session, external_id=external_id)
    _commit(session, services, crud.archive_solution(session, sol=sol, actor=admin.name))
    return _solution_out(session, sol)


@router.post("/solutions/{external_id}/qualify", response_model=AuditOut, responses=_STATE)
def qualify_solution(
    external_id: ExternalIdPath,
    body: QualifyIn,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> AuditOut:
    """Set the trust level (declared → qualified → pilot_confirmed), with the reason."""
    sol = crud.get_solution(session, external_id=external_id)
    written = crud.qualify_solution(
        session, sol=sol, level=body.level, reason=body.reason, actor=admin.name
    )
    _commit(session, services, written)
    return AuditOut.model_validate(written.audit, from_attributes=True)


@router.get("/solutions/{external_id}/audit", response_model=Page[AuditOut], responses=_ONE)
def solution_audit(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep, paging: PagingDep
) -> Page[AuditOut]:
    """Who changed this entry, when and why (oldest first)."""
    sol = crud.get_solution(session, external_id=external_id)
    rows, total = crud.audit_trail(
        session, entity_type="solution", entity_id=sol.id, limit=paging.limit, offset=paging.offset
    )
    return Page[AuditOut](
        items=[AuditOut.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


# --------------------------------------------------------------------------- moderation


@router.get("/moderation", response_model=Page[SolutionAdminOut], responses=_COMMON)
def moderation_queue(
    admin: AdminDep, session: SessionDep, paging: PagingDep
) -> Page[SolutionAdminOut]:
    """Chat registrations waiting for a facilitator, oldest first."""
    rows, total = crud.moderation_queue(session, limit=paging.limit, offset=paging.offset)
    return Page[SolutionAdminOut](
        items=[solution_admin(s) for s in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post("/moderation/{external_id}/approve", response_model=SolutionAdminOut, responses=_STATE)
def approve(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> SolutionAdminOut:
    """Publish a chat registration; the start-up is told through its outbox."""
    sol = crud.get_solution(session, external_id=external_id)
    _commit(session, services, crud.approve_solution(session, sol=sol, actor=admin.name))
    return _solution_out(session, sol)


@router.post("/moderation/{external_id}/reject", response_model=SolutionAdminOut, responses=_STATE)
def reject(
    external_id: ExternalIdPath,
    body: RejectIn,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> SolutionAdminOut:
    """Reject with a reason, sent to the start-up; the entry leaves the search."""
    sol = crud.get_solution(session, external_id=external_id)
    written = crud.reject_solution(session, sol=sol, reason=body.reason, actor=admin.name)
    _commit(session, services, written)
    return _solution_out(session, sol)


@router.post("/moderation/{external_id}/merge", response_model=SolutionAdminOut, responses=_STATE)
def merge(
    external_id: ExternalIdPath,
    body: MergeIn,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> SolutionAdminOut:
    """A duplicate of an existing entry: archive it and point it to ``into``."""
    sol = crud.get_solution(session, external_id=external_id)
    _commit(
        session, services, crud.merge_solution(session, sol=sol, into=body.into, actor=admin.name)
    )
    return _solution_out(session, sol)


# --------------------------------------------------------------------------- REX


@router.get("/moderation/rex", response_model=Page[ExperienceOut], responses=_COMMON)
def rex_drafts(admin: AdminDep, session: SessionDep, paging: PagingDep) -> Page[ExperienceOut]:
    """REX told in chat (``/rex``) waiting for a facilitator, oldest first."""
    rows, total = crud.rex_drafts(session, limit=paging.limit, offset=paging.offset)
    return Page[ExperienceOut](
        items=[_rex_out(session, r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post(
    "/moderation/rex/{external_id}/approve", response_model=ExperienceOut, responses=_STATE
)
def approve_rex(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> ExperienceOut:
    """Publish a REX draft: it is indexed (peers see it); its author is told."""
    rex = crud.get_experience(session, external_id=external_id)
    written = crud.moderate_experience(
        session, rex=rex, approve=True, reason=None, actor=admin.name
    )
    _commit(session, services, written)
    return _rex_out(session, rex)


@router.post("/moderation/rex/{external_id}/reject", response_model=ExperienceOut, responses=_STATE)
def reject_rex(
    external_id: ExternalIdPath,
    body: RejectIn,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> ExperienceOut:
    """Reject a REX draft with a reason, sent to its author; it stays out of the search."""
    rex = crud.get_experience(session, external_id=external_id)
    written = crud.moderate_experience(
        session, rex=rex, approve=False, reason=body.reason, actor=admin.name
    )
    _commit(session, services, written)
    return _rex_out(session, rex)


@router.post(
    "/rex",
    response_model=ExperienceOut,
    status_code=status.HTTP_201_CREATED,
    responses={**_COMMON, 409: {"description": "external_id taken or unknown solution"}},
)
def create_rex(
    body: ExperienceCreate, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> ExperienceOut:
    written = crud.create_experience(session, data=body, actor=admin.name)
    _commit(session, services, written)
    return _rex_out(session, written.row)


@router.put("/rex/{external_id}", response_model=ExperienceOut, responses=_STATE)
def replace_rex(
    external_id: ExternalIdPath,
    body: ExperienceFields,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> ExperienceOut:
    return _update_rex(session, services, admin.name, external_id, body.model_dump(mode="json"))


@router.patch("/rex/{external_id}", response_model=ExperienceOut, responses=_STATE)
def patch_rex(
    external_id: ExternalIdPath,
    body: ExperiencePatch,
    admin: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> ExperienceOut:
    values = _patch_values(
        body,
        required=("title", "outcome", "contact_consent"),
        listed=("themes", "links"),
        text=("problem", "tried", "lessons"),
    )
    return _update_rex(session, services, admin.name, external_id, values)


def _update_rex(
    session: SessionDep, services: ServicesDep, actor: str, external_id: str, values: Any
) -> ExperienceOut:
    rex = crud.get_experience(session, external_id=external_id)
    _commit(session, services, crud.update_experience(session, rex=rex, values=values, actor=actor))
    return _rex_out(session, rex)


@router.delete("/rex/{external_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ONE)
def delete_rex(
    external_id: ExternalIdPath, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> None:
    """Delete a REX (a full copy is kept in the audit log)."""
    rex = crud.get_experience(session, external_id=external_id)
    _commit(session, services, crud.delete_experience(session, rex=rex, actor=admin.name))


# --------------------------------------------------------------------------- import

_FORMATS = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
}

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of objects, JSON Lines or CSV (UTF-8, optionally gzip); "
        "same fields and validation as `piu ingest`.",
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/import/{kind}",
    response_model=ImportResult,
    openapi_extra=_IMPORT_BODY,
    responses={
        **_COMMON,
        413: {"description": "body too large"},
        422: {"description": "invalid rows: nothing was imported"},
    },
)
async def import_catalogue(
    kind: Annotated[str, Path(max_length=20, description="catalogue, rex or territories")],
    request: Request,
    admin: AdminDep,
    services: ServicesDep,
    background: BackgroundTasks,
) -> ImportResult:
    """Bulk upsert, all-or-nothing: one invalid row and nothing is written.

    The answer comes once the rows are committed; re-embedding the changed entries runs
    after it (searches meanwhile wait for the index sync).
    """
    if kind not in IMPORT_KINDS:
        raise HTTPException(404, f"unknown kind {kind!r} (expected {', '.join(IMPORT_KINDS)})")
    data = await request.body()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    result = await run_in_threadpool(_import, services, admin.name, kind, data, _FORMATS.get(media))
    if (result.created or result.updated) and kind in ("catalogue", "rex"):
        background.add_task(run_in_threadpool, services.resync)
    return result


def _import(
    services: ServicesDep, actor: str, kind: str, data: bytes, fmt: str | None
) -> ImportResult:
    try:
        rows = [row for _, row in parse_bytes(data, "", fmt)]
        with services.db.session() as session:
            summary = import_rows(session, kind, rows)
            crud.audit(
                session,
                actor=actor,
                action="import",
                entity_type=kind,
                entity_id=None,
                detail=summary.as_dict(),
            )
    except IngestError as exc:
        raise HTTPException(
            422, {"message": "nothing was imported", "problems": exc.problems[:200]}
        ) from None
    return ImportResult(
        kind=kind,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        rejected=summary.rejected,
        seconds=round(summary.seconds, 3),
    )


# --------------------------------------------------------------------------- needs, intros


@router.get("/needs", response_model=Page[NeedOut], responses=_COMMON)
def list_needs(
    admin: AdminDep,
    session: SessionDep,
    paging: PagingDep,
    status: NeedStatus | None = None,
    theme: Annotated[str | None, Query(max_length=100)] = None,
    size_band: SizeBand | None = None,
    dep: Annotated[str | None, Query(max_length=8)] = None,
) -> Page[NeedOut]:
    """Buyers' needs, newest first."""
    rows, total = crud.list_needs(
        session,
        limit=paging.limit,
        offset=paging.offset,
        status=status.value if status else None,
        theme=theme,
        size_band=size_band.value if size_band else None,
        dep=dep,
    )
    return Page[NeedOut](
        items=[need_out(n) for n in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.get("/introductions", response_model=Page[IntroductionOut], responses=_COMMON)
def list_introductions(
    admin: AdminDep, session: SessionDep, paging: PagingDep, status: IntroStatus | None = None
) -> Page[IntroductionOut]:
    """Introductions, newest first (``status=queued``: the ones a facilitator relays)."""
    rows, total = crud.list_introductions(
        session, limit=paging.limit, offset=paging.offset, status=status.value if status else None
    )
    return Page[IntroductionOut](
        items=_intro_items(session, rows), total=total, limit=paging.limit, offset=paging.offset
    )


@router.patch("/introductions/{intro_id}", response_model=IntroductionOut, responses=_STATE)
def relay_introduction(
    intro_id: Annotated[int, Path(ge=1, le=2**62)],
    body: IntroductionPatch,
    admin: AdminDep,
    session: SessionDep,
) -> IntroductionOut:
    """Record the answer to a queued introduction relayed by a facilitator."""
    intro = crud.relay_introduction(
        session,
        intro_id=intro_id,
        status=body.status,
        note=body.note,
        message=body.message,
        actor=admin.name,
    )
    return _intro_items(session, [intro])[0]


def _intro_items(session: SessionDep, rows: list[Introduction]) -> list[IntroductionOut]:
    sols = crud.external_ids(session, Solution, {i.solution_id for i in rows})
    rexes = crud.external_ids(session, Experience, {i.experience_id for i in rows})
    return [introduction_out(i, sols, rexes) for i in rows]
