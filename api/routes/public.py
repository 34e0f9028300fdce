"""Public, read-only endpoints: health, solutions (search and list), REX."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text

from api import crud
from api.convert import experience_out, solution_public
from api.deps import PagingDep, ServicesDep, SessionDep
from api.schemas import (
    ExperienceOut,
    Health,
    MatchReason,
    Page,
    SolutionHit,
    SolutionOut,
    SolutionSearchPage,
)
from core.db import catalogue_version
from core.domain import Maturity, Outcome, TrustLevel
from core.models import Experience, Solution
from index.store import KINDS
from matcher.service import QueryError
from matcher.types import Scope

router = APIRouter(prefix="/api", tags=["public"])

#: With ``q``, filters apply to this many best matches (then paginated).
SEARCH_WINDOW = 200

ExternalIdPath = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/health", response_model=Health)
def health(services: ServicesDep) -> Health:
    """Database reachable, index sizes, model and catalogue version."""
    version: int | None = None
    db_ok = True
    try:
        with services.db.session() as session:
            session.execute(text("SELECT 1"))
            version = catalogue_version(session)
    except Exception:
        db_ok = False
    counts: dict[str, int | None] = dict.fromkeys(KINDS)
    model = services.settings.embedding_model
    if services.indexes_loaded:
        counts = {kind: services.matcher.store.count(kind) for kind in KINDS}
        model = services.matcher.embedder.model_id
    result = Health(
        status="ok" if db_ok else "unavailable",
        db=db_ok,
        indexes_loaded=services.indexes_loaded,
        indexes=counts,
        model=model,
        catalogue_version=version,
    )
    if not db_ok:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable")
    return result


@router.get("/solutions", response_model=SolutionSearchPage)
async def list_solutions(
    services: ServicesDep,
    paging: PagingDep,
    q: Annotated[
        str | None,
        Query(max_length=1000, description="free text: ranked like the chat"),
    ] = None,
    theme: Annotated[str | None, Query(max_length=100)] = None,
    trust: TrustLevel | None = None,
    maturity: Maturity | None = None,
) -> SolutionSearchPage:
    """Search (with ``q``, same ranking as the chat) or list by title, with filters."""
    if q is not None and q.strip():
        return await run_in_threadpool(
            _search, services, q, theme, trust, maturity, paging.limit, paging.offset
        )
    with services.db.session() as session:
        rows, total = crud.list_solutions(
            session,
            limit=paging.limit,
            offset=paging.offset,
            theme=theme,
            trust=trust,
            maturity=maturity.value if maturity else None,
        )
        items = [
            SolutionHit.model_validate({**solution_public(s), "score": 0.0, "reasons": []})
            for s in rows
        ]
    return SolutionSearchPage(items=items, total=total, limit=paging.limit, offset=paging.offset)


def _search(
    services: ServicesDep,
    q: str,
    theme: str | None,
    trust: TrustLevel | None,
    maturity: Maturity | None,
    limit: int,
    offset: int,
) -> SolutionSearchPage:
    scope = Scope(text=q, themes=[theme] if theme else [])
    try:
        result = services.matcher.search(scope, top=SEARCH_WINDOW)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None
    keep = crud.has_theme(theme)
    with services.db.session() as session:
        rows = crud.solutions_by_ids(session, ids=[m.solution_id for m in result.matches])
        hits = []
        for match in result.matches:
            sol: Solution | None = rows.get(match.solution_id)
            if sol is None:
                continue
            if (trust and sol.trust_level != trust) or (maturity and sol.maturity != maturity):
                continue
            if keep is not None and not keep(sol):
                continue
            hits.append(
                SolutionHit.model_validate(
                    {
                        **solution_public(sol),
                        "score": match.score,
                        "reasons": [
                            MatchReason(code=r.code, params=r.params) for r in match.reasons
                        ],
                    }
                )
            )
    return SolutionSearchPage(
        items=hits[offset : offset + limit],
        total=len(hits),
        limit=limit,
        offset=offset,
        notices=result.notices,
    )


@router.get(
    "/solutions/{external_id}",
    response_model=SolutionOut,
    responses={404: {"description": "unknown or not public"}},
)
def get_solution(external_id: ExternalIdPath, session: SessionDep) -> SolutionOut:
    """One public catalogue entry."""
    sol = crud.get_solution(session, external_id=external_id, public=True)
    return SolutionOut.model_validate(solution_public(sol))


@router.get("/rex", response_model=Page[ExperienceOut])
def list_rex(
    session: SessionDep,
    paging: PagingDep,
    outcome: Outcome | None = None,
    dep: Annotated[str | None, Query(max_length=8)] = None,
) -> Page[ExperienceOut]:
    """REX (retours d'expérience), by title."""
    rows, total = crud.list_experiences(
        session,
        limit=paging.limit,
        offset=paging.offset,
        outcome=outcome.value if outcome else None,
        dep=dep,
    )
    return Page[ExperienceOut](
        items=_rex_items(session, rows), total=total, limit=paging.limit, offset=paging.offset
    )


@router.get(
    "/rex/{external_id}", response_model=ExperienceOut, responses={404: {"description": "unknown"}}
)
def get_rex(external_id: ExternalIdPath, session: SessionDep) -> ExperienceOut:
    """One REX."""
    return _rex_items(
        session, [crud.get_experience(session, external_id=external_id, public=True)]
    )[0]


def _rex_items(session: SessionDep, rows: list[Experience]) -> list[ExperienceOut]:
    ext = crud.external_ids(session, Solution, {r.solution_id for r in rows})
    return [experience_out(r, ext.get(r.solution_id or -1)) for r in rows]
