"""Alembic migrations: the chain builds exactly the models' schema, and unwinds cleanly.

Runs on SQLite and, with ``PIU_TEST_DB=postgres``, on PostgreSQL (the production path).
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from core.config import Settings
from core.db import alembic_config, downgrade, make_engine, upgrade
from core.models import Base


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_match_the_models_and_downgrade_to_nothing(settings: Settings) -> None:
    url = settings.db_url
    revisions = [
        r.revision for r in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()
    ]
    assert revisions[-1] == "0001" and len(revisions) == len(set(revisions)) >= 2
    upgrade(url)
    assert _diff(url) == []  # a model change without its migration fails here
    assert set(Base.metadata.tables) <= _tables(url)
    # each step down and up again, from the newest
    for older in revisions[1:]:
        downgrade(url, older)
        upgrade(url)
        assert _diff(url) == []
    downgrade(url, "base")
    assert _tables(url) <= {"alembic_version"}
    upgrade(url)
    assert _diff(url) == []
