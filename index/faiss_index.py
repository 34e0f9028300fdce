"""FAISS vector index: inner product on L2-normalised vectors, keyed by database ids
(exact below ``ANN_MIN_VECTORS`` vectors, approximate IVF from there on)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
from numpy.typing import NDArray

from index.base import Vectors

#: One OpenMP thread: PIU searches one query at a time, from several threads of its own.
#: Measured here (6,200 vectors of 384 dims, k=300, both cores busy): 13 ms per search
#: with FAISS's default of one thread per core, 1 ms with one (its threads spin-wait for
#: cores that other work holds).
faiss.omp_set_num_threads(1)


def _ids(ids: NDArray[np.int64] | list[int]) -> NDArray[np.int64]:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _vecs(vectors: Vectors, dim: int) -> Vectors:
    arr = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of shape (n, {dim}), got {arr.shape}")
    return arr


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old or the new file, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


#: From this many vectors up, :meth:`FaissIndex.build` makes an approximate IVF index
#: (scanning a few lists instead of every vector); below it, the exact flat index.
ANN_MIN_VECTORS = 20_000
#: Approximate search must find at least this share of the exact top 10.
ANN_TARGET_RECALL = 0.995
_NPROBES = (16, 32, 64, 128, 256)

# One query vector per search: on a shared 2-core machine, OpenMP threads cost more
# than they save (flat search at 100,000 vectors: ~19 ms on one thread, ~60 ms with two
# contended ones), and the API serves searches from several threads already.
faiss.omp_set_num_threads(1)


def _flat(dim: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def exact_top(vectors: Vectors, queries: Vectors, k: int) -> NDArray[np.int64]:
    """Row numbers of the ``k`` best ``vectors`` for each query (inner product), best first:
    an exhaustive scan."""
    scores = queries @ vectors.T
    k = min(k, vectors.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def recall_at(found: NDArray[np.int64], exact: NDArray[np.int64], k: int = 10) -> float:
    """Mean share of each row's exact top ``k`` that ``found``'s top ``k`` holds."""
    hits = [
        len(set(f[:k].tolist()) & set(e[:k].tolist())) for f, e in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits) / min(k, exact.shape[1])) if hits else 1.0


def _ivf(ids: NDArray[np.int64], vecs: Vectors, seed: int = 0) -> faiss.IndexIVF:
    """An IVF index over ``vecs`` (float16 codes: half the memory of float32) whose
    ``nprobe`` is the smallest that finds ``ANN_TARGET_RECALL`` of the exact top 10 for
    sample queries near stored vectors."""
    n, dim = vecs.shape
    nlist = max(64, int(np.sqrt(n)))
    rng = np.random.default_rng(seed)
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        nlist,
        faiss.ScalarQuantizer.QT_fp16,
        faiss.METRIC_INNER_PRODUCT,
    )
    index.cp.seed = seed
    index.train(vecs[rng.choice(n, min(n, 40 * nlist), replace=False)])
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]  # reconstruct() and remove by id
    index.add_with_ids(vecs, ids)
    sample = vecs[rng.choice(n, min(n, 100), replace=False)]
    # about as far from their nearest document as a search query is (cosine ~0.7)
    queries = sample + rng.normal(0, 1.0 / np.sqrt(dim), sample.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    exact = ids[exact_top(vecs, queries, 10)]
    for nprobe in _NPROBES:
        index.nprobe = min(nprobe, nlist)
        if recall_at(index.search(queries, 10)[1], exact) >= ANN_TARGET_RECALL:
            break
    return index


class FaissIndex:
    """Inner-product search keyed by database primary keys, exact or approximate.

    Below ``ANN_MIN_VECTORS`` vectors: ``IndexIDMap2(IndexFlatIP)``, exact. From there
    on (chosen by :meth:`build`, or by :meth:`rebalance` as the catalogue grows):
    ``IndexIVFScalarQuantizer`` (float16 codes, ids kept by the inverted lists, a hash
    table from id to entry), with the ``nprobe`` measured at build time.

    FAISS's id map silently accepts duplicate ids, so :meth:`upsert` removes
    before it adds: there is always exactly one vector per id.
    """

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        # a flat index in an id map, or an IVF one (the stubs know neither's attributes)
        self._index: Any = index if index is not None else _flat(dim)

    @property
    def approximate(self) -> bool:
        return isinstance(self._index, faiss.IndexIVF)

    @property
    def nprobe(self) -> int | None:
        return int(self._index.nprobe) if self.approximate else None

    def build(self, ids: NDArray[np.int64], vectors: Vectors) -> None:
        ids_arr, vecs = _ids(ids), _vecs(vectors, self.dim)
        if len(ids_arr) >= ANN_MIN_VECTORS and len(set(ids_arr.tolist())) == len(ids_arr):
            self._index = _ivf(ids_arr, vecs)
            return
        self._index = _flat(self.dim)
        self.upsert(ids_arr, vecs)

    def rebalance(self) -> bool:
        """Rebuild as the other kind of index when the size calls for it (exact past
        ``ANN_MIN_VECTORS``, approximate below half of it or with too few lists for its
        size); returns whether it did."""
        n = self.count()
        if self.approximate:
            nlist = int(self._index.nlist)
            due = n < ANN_MIN_VECTORS // 2 or nlist < max(64, int(np.sqrt(n))) // 2
        else:
            due = n >= ANN_MIN_VECTORS
        if not due:
            return False
        ids = self.ids()
        vectors = self.vectors_for(ids.tolist())
        self.build(ids, np.stack([vectors[int(i)] for i in ids]).astype(np.float32))
        return True

    def upsert(self, ids: NDArray[np.int64], vectors: Vectors) -> None:
        ids_arr, vecs = _ids(ids), _vecs(vectors, self.dim)
        if len(ids_arr) != len(vecs):
            raise ValueError("ids and vectors differ in length")
        if len(set(ids_arr.tolist())) != len(ids_arr):
            raise ValueError("duplicate ids in one upsert")
        if not len(ids_arr):
            return
        self.remove(ids_arr)
        self._index.add_with_ids(vecs, ids_arr)

    def remove(self, ids: NDArray[np.int64]) -> int:
        ids_arr = _ids(ids)
        if not len(ids_arr) or self._index.ntotal == 0:
            return 0
        if self.approximate:  # the hash table removes by an explicit array of ids
            return int(
                self._index.remove_ids(faiss.IDSelectorArray(len(ids_arr), faiss.swig_ptr(ids_arr)))
            )
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids_arr)))

    def search(self, query: Vectors, k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        q = _vecs(np.atleast_2d(query), self.dim)
        k = min(k, self._index.ntotal)
        if k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        scores, ids = self._index.search(q, k)
        return scores, ids

    def vectors_for(self, ids: list[int]) -> dict[int, Vectors]:
        """The stored vector of each id present in the index."""
        out: dict[int, Vectors] = {}
        for i in ids:
            try:
                # the stubs' first overload is the torch one (faiss.contrib.torch_utils,
                # never imported here): without a buffer, faiss returns a numpy array
                out[i] = cast(Vectors, self._index.reconstruct(int(i)))
            except RuntimeError:
                continue
        return out

    def ids(self) -> NDArray[np.int64]:
        if not self.approximate:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(self._index.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def count(self) -> int:
        return int(self._index.ntotal)

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index))

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> FaissIndex:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVF):
            index = faiss.IndexIDMap2(index)  # pragma: no cover - defensive
        return cls(index.d, index)

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        return cls.from_bytes(path.read_bytes())
