"""Background indexing, the ranking cache and the catalogue version under concurrency.

Real SQLite/PostgreSQL, real FAISS files; the hashing embedder (no model semantics needed).
"""

from __future__ import annotations

import threading
import time

from core.db import Database, bump_catalogue_version, catalogue_version
from core.domain import NeedStatus
from core.models import Need, Solution
from index.store import IndexStore
from matcher.indexer import BackgroundIndexer
from matcher.service import MatchService
from matcher.types import Scope
from tests.helpers import add_solution


def _need(db: Database, text: str, status: NeedStatus = NeedStatus.OPEN) -> int:
    with db.session() as session:
        need = Need(raw_text=text, themes=[], status=status)
        session.add(need)
        session.flush()
        return need.id


def _saved_ids(settings, embedder, kind: str) -> set[int]:  # type: ignore[no-untyped-def]
    """What the index file on disk holds (a fresh store reading it, no database sync)."""
    store = IndexStore(settings.index_dir, embedder)
    loaded = store._load(kind)
    return set() if loaded is None else set(loaded[0].items)


def test_queued_need_is_searchable_then_saved(db: Database, settings, hashing_embedder) -> None:  # type: ignore[no-untyped-def]
    service = MatchService(db, settings, hashing_embedder)
    service.ensure_ready()
    before = catalogue_version_of(db)
    need = _need(db, "Réduire le gaspillage alimentaire dans les cantines scolaires")
    service.index_later("need", need)
    assert service.flush_indexing(timeout=60)
    hits = service.search_needs("gaspillage à la cantine")
    assert hits and hits[0][0] == need
    assert catalogue_version_of(db) > before  # other workers learn of it
    assert service.flush_indexing(save=True, timeout=60)
    assert need in _saved_ids(settings, hashing_embedder, "need")
    service.close()


def test_a_need_closed_before_its_turn_is_not_indexed(
    db: Database, settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    service = MatchService(db, settings, hashing_embedder)
    service.ensure_ready()
    kept = _need(db, "Capteurs de qualité de l'air dans les écoles")
    closed = _need(db, "Capteurs de bruit près des écoles", status=NeedStatus.CLOSED)
    service.index_later("need", kept)
    service.index_later("need", closed)
    service.close()  # indexes and saves what is queued
    assert service.store.ids("need") == [kept]
    assert _saved_ids(settings, hashing_embedder, "need") == {kept}


def test_a_crash_before_the_save_loses_nothing(db: Database, settings, hashing_embedder) -> None:  # type: ignore[no-untyped-def]
    service = MatchService(db, settings, hashing_embedder)
    service.ensure_ready()
    service._indexer.save_interval = 3600.0  # the process "dies" before any save
    need = _need(db, "Plateforme de covoiturage pour les agents")
    service.index_later("need", need)
    assert service.flush_indexing(timeout=60)
    assert need not in _saved_ids(settings, hashing_embedder, "need")
    # a new process over the same files: the start-up sync finds the missing need and
    # takes the vector the first process stored in the database (no second embedding)
    restarted = MatchService(db, settings, hashing_embedder)
    reports = {r.kind: r for r in restarted.ensure_ready()}
    assert reports["need"].embedded == 0 and restarted.store.loaded_vectors == 1
    assert restarted.search_needs("covoiturage des agents")[0][0] == need


def test_flush_waits_for_what_was_submitted_before_it() -> None:
    done: list[tuple[str, list[int]]] = []
    saved: list[set[str]] = []
    gate, busy = threading.Event(), threading.Event()

    def apply(kind: str, ids: list[int]) -> bool:
        busy.set()
        gate.wait(10)
        done.append((kind, ids))
        return True

    indexer = BackgroundIndexer(apply, saved.append, save_interval=3600.0)
    indexer.submit("need", 0)
    assert busy.wait(10)  # the worker holds [0]; the next ones queue up behind it
    for i in range(1, 5):
        indexer.submit("need", i)
    indexer.submit("need", 2)  # queued twice before its turn: indexed once, last
    assert not indexer.flush(timeout=0.2)  # the worker is blocked
    gate.set()
    assert indexer.flush(timeout=10)
    assert done == [("need", [0]), ("need", [1, 3, 4, 2])]
    assert saved == []  # saving waits for the interval...
    assert indexer.flush(save=True, timeout=10)
    assert saved == [{"need"}]  # ...or for a flush that asks for it
    indexer.close()


def test_a_failing_batch_is_logged_and_the_worker_goes_on() -> None:
    seen: list[int] = []

    def apply(kind: str, ids: list[int]) -> bool:
        if 1 in ids:
            raise RuntimeError("database went away")
        seen.extend(ids)
        return True

    indexer = BackgroundIndexer(apply, lambda kinds: None, max_batch=1)
    indexer.submit("need", 1)
    indexer.submit("need", 2)
    assert indexer.flush(timeout=10)
    assert seen == [2] and indexer.failures == 1
    indexer.close()


def catalogue_version_of(db: Database) -> int:
    with db.session() as session:
        return catalogue_version(session)


def test_concurrent_catalogue_bumps_are_never_lost(db: Database) -> None:
    def bump(n: int) -> None:
        for _ in range(n):
            for attempt in range(20):
                try:
                    with db.session() as session:
                        bump_catalogue_version(session)
                    break
                except Exception:  # the very first insert may race: try again
                    if attempt == 19:
                        raise
                    time.sleep(0.01)

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert catalogue_version_of(db) == 100


def test_more_results_page_through_one_ranking_and_edits_show(
    db: Database, settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    ids = [
        add_solution(db, f"s{i}", f"Vélos partagés {i}", f"Vélos en libre-service, station {i}")
        for i in range(8)
    ]
    service = MatchService(db, settings, hashing_embedder)
    service.ensure_ready()
    scope = Scope(text="vélos en libre-service pour la commune")
    whole = [m.solution_id for m in service.search(scope, top=8).matches]
    pages = [m.solution_id for m in service.search(scope, top=4).matches]
    pages += [m.solution_id for m in service.search(scope, top=4, offset=4).matches]
    assert pages == whole and sorted(whole) == sorted(ids)
    # an edited solution is re-ranked with its new text, not served from the cache
    with db.session() as session:
        session.get(Solution, ids[0]).title = "Bornes de recharge électrique"
    service.index_solution(ids[0])
    titles = {m.solution_id: m.title for m in service.search(scope, top=8).matches}
    assert titles.get(ids[0], "Bornes de recharge électrique") == "Bornes de recharge électrique"
