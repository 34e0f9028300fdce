"""Vector index and index store: real FAISS, real files, the hashing embedder."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from core.catalogue import indexable_documents
from core.db import Database
from core.models import Solution
from index.faiss_index import FaissIndex, atomic_write_bytes
from index.store import KINDS, IndexStore, pack, unpack
from tests.helpers import add_solution


def _unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _documents(session: Session, *kinds: str) -> dict[str, dict[int, str]]:
    """What the caller of the store passes it: the searchable texts of each kind."""
    return {kind: indexable_documents(session, kind) for kind in kinds or KINDS}


def test_upsert_keeps_exactly_one_vector_per_id() -> None:
    rng = np.random.default_rng(0)
    index = FaissIndex(8)
    vecs = _unit(rng, 3)
    index.upsert(np.array([1, 2, 3]), vecs)
    index.upsert(np.array([2]), vecs[:1])  # same id again: replaces, never duplicates
    index.upsert(np.array([2]), vecs[:1])
    assert index.count() == 3
    assert sorted(index.ids().tolist()) == [1, 2, 3]
    scores, ids = index.search(vecs[:1], 3)
    assert set(ids[0].tolist()) == {1, 2, 3}
    assert scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert index.remove(np.array([2, 99])) == 1
    assert sorted(index.ids().tolist()) == [1, 3]
    with pytest.raises(ValueError, match="duplicate ids"):
        index.upsert(np.array([5, 5]), vecs[:2])
    with pytest.raises(ValueError, match="shape"):
        index.upsert(np.array([6]), np.ones((1, 4), np.float32))


def test_search_on_empty_index_returns_nothing() -> None:
    scores, ids = FaissIndex(8).search(np.ones((1, 8), np.float32), 5)
    assert scores.shape == (1, 0) and ids.shape == (1, 0)


def test_pack_round_trip_and_damaged_file_is_refused(tmp_path: Path) -> None:
    from index.store import IndexMeta

    rng = np.random.default_rng(1)
    index = FaissIndex(8)
    index.upsert(np.array([10, 20]), _unit(rng, 2))
    meta = IndexMeta("solution", "m", 8, 2, "now", {10: "a", 20: "b"})
    data = pack(meta, index)
    meta2, index2 = unpack(data)
    assert meta2.items == {10: "a", 20: "b"} and index2.count() == 2
    with pytest.raises(ValueError):
        unpack(b"garbage" + data)
    with pytest.raises(Exception):  # noqa: B017 - FAISS raises RuntimeError on truncation
        unpack(data[: len(data) // 2])


def _writer(path: str, rounds: int) -> None:
    for i in range(rounds):
        atomic_write_bytes(Path(path), bytes([i % 256]) * 200_000)


def test_reader_never_sees_a_partial_index_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    atomic_write_bytes(path, b"\x00" * 200_000)
    proc = mp.get_context("spawn").Process(target=_writer, args=(str(path), 300))
    proc.start()
    seen = 0
    deadline = time.monotonic() + 30
    while proc.is_alive() and time.monotonic() < deadline:
        data = path.read_bytes()
        assert len(data) == 200_000 and len(set(data)) == 1
        seen += 1
    proc.join(10)
    assert proc.exitcode == 0 and seen > 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_store_survives_restart_and_syncs_only_changes(
    db: Database, settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    a = add_solution(db, "a", "Vélos partagés", "Location de vélos en libre-service")
    b = add_solution(db, "b", "Cantine", "Réduire le gaspillage alimentaire à la cantine")
    store = IndexStore(settings.index_dir, hashing_embedder)
    with db.session() as s:
        first = {r.kind: r for r in store.sync(_documents(s))}
    assert first["solution"].embedded == 2 and first["solution"].count == 2

    # A new process (new store object) loads the file instead of re-embedding.
    store2 = IndexStore(settings.index_dir, hashing_embedder)
    with db.session() as s:
        again = {r.kind: r for r in store2.sync(_documents(s))}
    assert again["solution"].loaded and again["solution"].embedded == 0
    query = hashing_embedder.encode_queries(["gaspillage dans les cantines scolaires"])[0]
    assert store2.search("solution", query, 1)[0][0] == b

    # An edit in the database re-embeds that one document; a deletion removes it.
    with db.session() as s:
        s.get(Solution, a).mission = "Compteurs de vélos et de piétons"
    with db.session() as s:
        edited = {
            r.kind: r for r in IndexStore(settings.index_dir, hashing_embedder).sync(_documents(s))
        }
    assert edited["solution"].embedded == 1 and edited["solution"].count == 2
    with db.session() as s:
        s.delete(s.get(Solution, b))
    store3 = IndexStore(settings.index_dir, hashing_embedder)
    with db.session() as s:
        removed = {r.kind: r for r in store3.sync(_documents(s))}
    assert removed["solution"].removed == 1 and store3.ids("solution") == [a]


def test_model_change_triggers_a_rebuild(db: Database, settings, hashing_embedder) -> None:  # type: ignore[no-untyped-def]
    add_solution(db, "a", "Vélos partagés", "Location de vélos en libre-service")
    with db.session() as s:
        IndexStore(settings.index_dir, hashing_embedder).sync(_documents(s))

    class Renamed:
        """The same vectors under another model identity (what a model swap looks like)."""

        model_id = hashing_embedder.model_id + "-other"
        dim = hashing_embedder.dim
        encode_queries = staticmethod(hashing_embedder.encode_queries)
        encode_passages = staticmethod(hashing_embedder.encode_passages)

    with db.session() as s:
        report = IndexStore(settings.index_dir, Renamed()).sync(_documents(s))[0]
    assert not report.loaded and report.embedded == 1
    assert report.reason.startswith("model changed")


def test_damaged_index_file_is_rebuilt(db: Database, settings, hashing_embedder) -> None:  # type: ignore[no-untyped-def]
    add_solution(db, "a", "Vélos partagés", "Location de vélos en libre-service")
    store = IndexStore(settings.index_dir, hashing_embedder)
    with db.session() as s:
        store.sync(_documents(s))
    store.path("solution").write_bytes(b"PIUIDX1\n\x00\x01garbage")
    with db.session() as s:
        report = IndexStore(settings.index_dir, hashing_embedder).sync(_documents(s, "solution"))[0]
    assert not report.loaded and report.count == 1


def test_stale_temp_files_of_a_killed_writer_are_removed(
    db: Database, settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    settings.index_dir.mkdir(parents=True)
    old = settings.index_dir / ".solution.piuindex.abc123.tmp"
    fresh = settings.index_dir / ".solution.piuindex.def456.tmp"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"another worker writing now")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    with db.session() as s:
        IndexStore(settings.index_dir, hashing_embedder).sync(_documents(s, "solution"))
    assert not old.exists() and fresh.exists()


def _clustered(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    """Unit vectors around 50 centres: the shape of a real catalogue's embeddings."""
    centres = _unit(rng, 50, dim)
    v = centres[rng.integers(0, 50, n)] + rng.normal(0, 0.25, (n, dim)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_a_large_index_is_approximate_with_the_recall_it_was_built_for(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import index.faiss_index as fi

    monkeypatch.setattr(fi, "ANN_MIN_VECTORS", 4000)
    rng = np.random.default_rng(3)
    vectors = _clustered(rng, 6000)
    ids = np.arange(6000, dtype=np.int64) * 7 + 3
    index = FaissIndex(32)
    index.build(ids, vectors)
    assert index.approximate and index.nprobe is not None
    queries = _clustered(rng, 100)
    exact = ids[fi.exact_top(vectors, queries, 10)]
    found = np.stack([index.search(q.reshape(1, -1), 10)[1][0] for q in queries])
    assert fi.recall_at(found, exact) >= 0.99
    # the same id operations as the exact index: one vector per id, remove, read back
    index.upsert(ids[:2], vectors[2:4])
    assert index.count() == 6000
    assert np.allclose(index.vectors_for([int(ids[0])])[int(ids[0])], vectors[2], atol=1e-3)
    assert index.remove(np.array([ids[5], 999_999])) == 1 and index.count() == 5999
    assert sorted(index.ids().tolist()) == sorted(set(ids.tolist()) - {int(ids[5])})
    again = FaissIndex.from_bytes(index.to_bytes())
    assert again.approximate and again.nprobe == index.nprobe and again.count() == 5999
    # shrunk below half the threshold: back to the exact index, same vectors
    index.remove(ids[:4500])
    assert index.rebalance() and not index.approximate and index.count() == 1500
    assert index.search(vectors[5999:6000], 1)[1][0][0] == ids[5999]


def test_stored_vectors_serve_only_their_model_and_text(
    db: Database, settings, hashing_embedder
) -> None:  # type: ignore[no-untyped-def]
    from core.vectors import StoredVectors

    a = add_solution(db, "a", "Vélos partagés", "Location de vélos en libre-service")
    store = IndexStore(settings.index_dir, hashing_embedder, vectors=StoredVectors(db))
    with db.session() as s:
        docs = _documents(s, "solution")
    assert store.sync(docs)[0].embedded == 1
    stored = StoredVectors(db)
    model = hashing_embedder.model_id
    h = store.meta("solution").items[a]  # type: ignore[union-attr]
    assert set(stored.get("solution", model, {a: h})) == {a}
    assert stored.get("solution", model, {a: "another text"}) == {}
    assert stored.get("solution", model + "-other", {a: h}) == {}
    assert stored.get("need", model, {a: h}) == {}
    # a fresh store with no index file takes the stored vector: nothing embedded
    fresh = IndexStore(settings.index_dir / "other", hashing_embedder, vectors=stored)
    report = fresh.sync(docs)[0]
    assert report.embedded == 0 and fresh.loaded_vectors == 1 and fresh.ids("solution") == [a]
    # a deleted entry's vector goes with it
    with db.session() as s:
        s.delete(s.get(Solution, a))
    with db.session() as s:
        assert fresh.sync(_documents(s, "solution"))[0].removed == 1
    assert stored.get("solution", model, {a: h}) == {}


def test_bm25_top_k_is_the_head_of_the_full_ranking() -> None:
    from matcher.bm25 import LexicalIndex
    from matcher.text import tokenize

    rng = np.random.default_rng(5)
    words = ["velo", "cantine", "eau", "capteur", "ecole", "dechet", "bus", "arbre"]
    lexical = LexicalIndex()
    lexical.set_documents({i: " ".join(rng.choice(words, 6).tolist()) for i in range(10, 400)})
    query = tokenize("capteur eau école")
    _, scores = lexical.scores(query)
    top, score_of = lexical.top(query, 20)
    assert len(top) == 20
    assert np.allclose(score_of(top), np.sort(scores)[::-1][:20])
    assert score_of([999_999]).tolist() == [0.0]
