"""Services and request dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from api.schemas import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from api.security import AuthError, KeyRing, Principal, principal_for
from core.config import Settings
from core.db import Database
from matcher.service import MatchService

log = logging.getLogger(__name__)

ADMIN_COOKIE = "piu_admin"

_INDEX_METHODS = {
    "solution": "index_solution",
    "need": "index_need",
    "experience": "index_experience",
}


@dataclass
class Services:
    """What the API needs: the database, the match service, the chat engine (optional)."""

    settings: Settings
    db: Database
    matcher: MatchService
    engine: Any = None
    keyring: KeyRing = field(init=False)
    indexes_loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.settings)

    @classmethod
    def adopt(cls, settings: Settings, wired: Any) -> Services:
        """Wrap whatever the wiring function returned (needs ``db``, a matcher, ``engine``)."""
        if isinstance(wired, Services):
            return wired
        matcher = next(
            (
                getattr(wired, name)
                for name in ("matcher", "match_service", "service", "match")
                if isinstance(getattr(wired, name, None), MatchService)
            ),
            None,
        )
        if matcher is None:
            raise TypeError("the wired services have no MatchService")
        db = getattr(wired, "db", None) or matcher.db
        return cls(settings=settings, db=db, matcher=matcher, engine=getattr(wired, "engine", None))

    def load_indexes(self) -> None:
        """Load (or rebuild) the indexes; from then on every change is re-indexed at once."""
        self.matcher.ensure_ready()
        self.indexes_loaded = True

    def reindex(self, kind: str, doc_id: int) -> None:
        """Bring the index in line with the committed row ``kind``/``doc_id``.

        Before the indexes are loaded there is nothing to update: the write already
        bumped the catalogue version, so the next load or search syncs from the DB.
        """
        if not self.indexes_loaded:
            log.debug("indexes not loaded: %s %s will be synced on load", kind, doc_id)
            return
        getattr(self.matcher, _INDEX_METHODS[kind])(doc_id)

    def resync(self) -> None:
        """After a bulk change: re-sync every index with the database."""
        if self.indexes_loaded:
            self.matcher.ensure_ready()


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
