"""Database engine, sessions and migrations (Alembic, run programmatically)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Integer, String, cast, create_engine, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from core.models import Meta

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kw)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (creates every table on an empty database)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


class Database:
    """The engine and its session factory, created once and passed down."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            upgrade(url)
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self._before_dispose: list[Callable[[], None]] = []

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def before_dispose(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the database is disposed, first (e.g. drain a background writer)."""
        self._before_dispose.append(action)

    def dispose(self) -> None:
        actions, self._before_dispose = self._before_dispose, []
        for action in actions:
            try:
                action()
            except Exception:
                log.exception("could not finish %r before closing the database", action)
        self.engine.dispose()


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return row.value if row else None


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


#: The kinds of searchable documents, each with a version of its own besides the
#: catalogue's (the index layer's ``KINDS``; ``core`` imports nothing above it).
CATALOGUE_KINDS = ("solution", "need", "experience")
_VERSION_KEY = "catalogue_version"


def _kind_key(kind: str) -> str:
    return f"{_VERSION_KEY}:{kind}"


def bump_catalogue_version(session: Session, kind: str | None = None) -> int:
    """Mark that searchable content changed (API workers reload their index on it);
    returns the catalogue version.

    ``kind``: what changed (``solution``, ``need``, ``experience``); its own version moves
    as well, so another worker re-reads that kind only (a need written leaves its
    100,000 solutions alone). ``None``: every kind's. One atomic ``UPDATE`` (or upsert)
    per key: concurrent bumps (threads, workers) never lose one.
    """
    if kind is not None and kind not in CATALOGUE_KINDS:
        raise ValueError(f"unknown catalogue kind {kind!r}")
    for k in (kind,) if kind is not None else CATALOGUE_KINDS:
        _bump_key(session, _kind_key(k))
    key = _VERSION_KEY
    bumped = session.execute(
        update(Meta)
        .where(Meta.key == key)
        .values(value=cast(cast(Meta.value, Integer) + 1, String))
        .execution_options(synchronize_session=False)
    )
    if not bumped.rowcount:  # type: ignore[attr-defined]
        session.add(Meta(key=key, value="1"))
        session.flush()
        return 1
    return catalogue_version(session)


def _bump_key(session: Session, key: str) -> None:
    """Add one to the counter ``key`` (created at 1): one upsert, no insert race."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(Meta).values(key=key, value="1")
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"], set_={"value": cast(cast(Meta.value, Integer) + 1, String)}
        )
    )


def catalogue_version(session: Session) -> int:
    return int(session.scalar(select(Meta.value).where(Meta.key == _VERSION_KEY)) or 0)


def catalogue_versions(session: Session) -> dict[str | None, int]:
    """The catalogue version (key ``None``) and each kind's, read in one statement (one
    snapshot: a bump moves the catalogue's and its kind's together)."""
    keys = {_VERSION_KEY: None, **{_kind_key(k): k for k in CATALOGUE_KINDS}}
    out: dict[str | None, int] = dict.fromkeys(keys.values(), 0)
    for key, value in session.execute(select(Meta.key, Meta.value).where(Meta.key.in_(keys))):
        out[keys[key]] = int(value)
    return out
