"""Several workers over one PostgreSQL database: a change made through one is searched by
the others, and only the process that wrote a text embeds it (vectors in ``entry_vector``).

Two ``MatchService`` instances stand for two workers (each its own ``Database`` engine,
embedder and index directory, as on two hosts); the e2e test runs the real
``piu serve --workers 2``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from core.config import REPO_ROOT, Settings
from core.db import Database, bump_catalogue_version
from core.domain import NeedStatus
from core.models import EntryVector, Need, Solution
from index.hashing import HashingEmbedder
from matcher.service import MatchService
from tests.conftest import make_settings
from tests.helpers import add_solution, free_port
from tests.pg import PostgresServer, PostgresUnavailable, create_database, find_pg_bin

pytestmark = pytest.mark.postgres


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the passages it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.passages = 0

    def encode_passages(self, texts: list[str], *, show_progress: bool = False):  # type: ignore[no-untyped-def]
        self.passages += len(texts)
        return super().encode_passages(texts, show_progress=show_progress)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if not os.environ.get("CI"):  # in CI a missing server is an error; locally, a skip
        try:
            find_pg_bin()
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
    with PostgresServer() as server:
        yield server


def _worker(url: str, data_dir: Path, model_cache: Path) -> tuple[MatchService, CountingEmbedder]:
    settings = make_settings(data_dir, url, model_cache, embedder="hashing")
    embedder = CountingEmbedder()
    return MatchService(Database(url), settings, embedder), embedder


def test_a_change_through_one_worker_is_searched_by_the_other_without_re_embedding(
    postgres: PostgresServer, tmp_path: Path, model_cache: Path
) -> None:
    url = create_database(postgres.url_base, "workers_shared")
    first, first_model = _worker(url, tmp_path / "a", model_cache)
    ids = [
        add_solution(first.db, "velo", "Vélos partagés", "Location de vélos en libre-service"),
        add_solution(first.db, "cantine", "Cantine", "Réduire le gaspillage à la cantine"),
    ]
    first.ensure_ready()
    assert first_model.passages == 2

    # a new worker (another host: no index file) loads the stored vectors
    second, second_model = _worker(url, tmp_path / "b", model_cache)
    reports = {r.kind: r for r in second.ensure_ready()}
    assert reports["solution"].count == 2 and reports["solution"].embedded == 0
    assert second_model.passages == 0 and second.store.loaded_vectors == 2

    # a solution registered through the first worker is embedded there, once
    new = add_solution(
        first.db, "compost", "Composteurs", "Composteurs de quartier pour biodéchets"
    )
    first.index_solution(new)
    assert first_model.passages == 3
    assert second.rank_ids("composteurs de quartier pour les biodéchets", top=1) == ["compost"]
    assert second_model.passages == 0

    # an edit through the first worker shows in the second's answers (vector read back)
    with first.db.session() as session:
        edited = session.get(Solution, ids[0])
        assert edited is not None
        edited.mission = "Bornes de recharge pour voitures électriques"
    first.index_solution(ids[0])
    assert second.rank_ids("bornes de recharge voitures électriques", top=1) == ["velo"]
    assert second_model.passages == 0
    with second.db.session() as session:
        row = session.get(EntryVector, ("solution", ids[0]))
        assert row is not None and row.model_id == first_model.model_id
    stored = np.frombuffer(row.vector, dtype="<f2").astype(np.float32)
    assert np.allclose(
        second.store._indexes["solution"].vectors_for([ids[0]])[ids[0]], stored
    )  # the second worker searches the very vector the first one stored

    # a need written by the chat on the first worker (background indexer)
    with first.db.session() as session:
        need = Need(
            raw_text="Capteurs de qualité de l'air dans les écoles",
            themes=[],
            status=NeedStatus.OPEN,
        )
        session.add(need)
        session.flush()
        need_id = need.id
    first.index_later("need", need_id)
    assert first.flush_indexing(timeout=60)
    assert second.search_needs("qualité de l'air écoles")[0][0] == need_id
    assert second_model.passages == 0

    # a closed need leaves both indexes and the vector table
    with first.db.session() as session:
        closed = session.get(Need, need_id)
        assert closed is not None
        closed.status = NeedStatus.CLOSED
    first.remove("need", need_id)
    assert need_id not in [i for i, _ in second.search_needs("qualité de l'air écoles")]
    with first.db.session() as session:
        assert session.get(EntryVector, ("need", need_id)) is None
    first.db.dispose()
    second.db.dispose()


def test_a_text_whose_writer_died_is_embedded_by_a_reader_after_the_grace_time(
    postgres: PostgresServer, tmp_path: Path, model_cache: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import index.store

    url = create_database(postgres.url_base, "workers_orphan")
    reader, reader_model = _worker(url, tmp_path / "r", model_cache)
    add_solution(reader.db, "velo", "Vélos partagés", "Location de vélos en libre-service")
    reader.ensure_ready()
    # another process commits a text (the version moves) and dies before embedding it
    orphan = add_solution(reader.db, "eau", "Compteurs d'eau", "Télérelève des compteurs d'eau")
    with reader.db.session() as session:
        bump_catalogue_version(session)
    before = reader_model.passages
    reader.rank_ids("compteurs d'eau", top=1)  # the writer may still be embedding it
    assert reader_model.passages == before
    assert orphan not in reader.store.ids("solution")
    # an entry deleted while it waited is not waited for any more
    gone = add_solution(reader.db, "gone", "Éphémère", "Entrée supprimée aussitôt")
    with reader.db.session() as session:
        bump_catalogue_version(session)
    reader.rank_ids("compteurs d'eau", top=1)
    assert ("solution", gone) in reader.store._waiting
    with reader.db.session() as session:
        session.delete(session.get(Solution, gone))
        bump_catalogue_version(session)
    reader.rank_ids("compteurs d'eau", top=1)
    assert set(reader.store._waiting) == {("solution", orphan)}
    monkeypatch.setattr(index.store, "WRITER_GRACE_S", 0.0)
    assert reader.rank_ids("télérelève des compteurs d'eau", top=1) == ["eau"]
    assert reader_model.passages == before + 1
    reader.db.dispose()


@pytest.mark.e2e
def test_piu_serve_with_two_workers(
    postgres: PostgresServer, tmp_path: Path, model_cache: Path
) -> None:
    """The real ``piu serve --workers 2``: two processes answer on one port, and a solution
    registered through the API is found on every connection afterwards."""
    url = create_database(postgres.url_base, "workers_e2e")
    port = free_port()
    env = {
        **os.environ,
        "PIU_DATA_DIR": str(tmp_path / "data"),
        "PIU_DATABASE_URL": url,
        "PIU_EMBEDDER": "hashing",
        "PIU_MODEL_CACHE_DIR": str(model_cache),
        "PIU_ENVIRONMENT": "development",
        "PIU_API_RATE_LIMIT_PER_MINUTE": "100000",
    }
    env.pop("PIU_TELEGRAM_TOKEN", None)
    piu = [sys.executable, "-m", "cli.main"]
    subprocess.run([*piu, "init"], env=env, check=True, capture_output=True, timeout=600)
    db = Database(url)
    before = _vector_rows(db)
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*piu, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "workers did not start"
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        assert _vector_rows(db) == before  # the workers loaded what `piu init` stored
        with db.session() as session:
            sol = Solution(
                external_id="zz-tram",
                title="Tramway à hydrogène",
                mission="Tramways urbains roulant à l'hydrogène vert",
                description="",
            )
            session.add(sol)
            session.flush()
            new_id = sol.id
        _settings = Settings(database_url=url, data_dir=tmp_path / "writer", embedder="hashing")  # type: ignore[call-arg]
        writer = MatchService(db, _settings, CountingEmbedder())
        writer.index_solution(new_id)  # the writing process embeds and bumps the version
        seen = set()
        for _ in range(30):  # a new connection each time: both workers answer
            with httpx.Client(base_url=base, trust_env=False) as client:
                found = client.get("/api/solutions", params={"q": "tramway à hydrogène"})
            assert found.status_code == 200, found.text
            items = found.json()["items"]
            seen.add(items[0]["external_id"] if items else None)
        assert seen == {"zz-tram"}
        assert _vector_rows(db) == before + 1  # embedded once, by the writer
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        db.dispose()


def _vector_rows(db: Database) -> int:
    from sqlalchemy import func, select

    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(EntryVector)) or 0)


def _children(pid: int) -> list[int]:
    """The worker processes of ``pid`` (multiprocessing's resource tracker left out)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    pids = [int(p) for p in out.stdout.split()]
    return [p for p in pids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
