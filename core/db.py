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


def bump_catalogue_version(session: Session) -> int:
    """Mark that searchable content changed (API workers reload their index on it).

    One atomic ``UPDATE``: concurrent bumps (threads, workers) never lose one.
    """
    key = "catalogue_version"
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


def catalogue_version(session: Session) -> int:
    return int(session.scalar(select(Meta.value).where(Meta.key == "catalogue_version")) or 0)
