"""Request dependencies, declared once as ``Annotated`` aliases (the services come from
:mod:`api.wiring`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from api.schemas import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from api.security import AuthError, Principal, principal_for
from api.wiring import Services

ADMIN_COOKIE = "piu_admin"


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One session per request, committed at the end (routes commit before re-indexing)."""
    with services.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A facilitator's admin key (`piu admin key create NAME`).",
)


def require_admin(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The calling facilitator. The login cookie is accepted for reads only (no CSRF)."""
    token = request.cookies.get(ADMIN_COOKIE) if request.method in ("GET", "HEAD") else None
    try:
        return principal_for(session, services.keyring, key=key, token=token)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "X-API-Key"}
        ) from None


AdminDep = Annotated[Principal, Depends(require_admin)]


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def get_paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Paging:
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(get_paging)]
