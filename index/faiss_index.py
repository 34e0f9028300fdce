"""FAISS vector index: inner product on L2-normalised vectors, keyed by database ids."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import cast

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


class FaissIndex:
    """``IndexIDMap2(IndexFlatIP)``: exact search, ids are database primary keys.

    FAISS's id map silently accepts duplicate ids, so :meth:`upsert` removes
    before it adds: there is always exactly one vector per id.
    """

    def __init__(self, dim: int, index: faiss.IndexIDMap2 | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def build(self, ids: NDArray[np.int64], vectors: Vectors) -> None:
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        self.upsert(ids, vectors)

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
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def count(self) -> int:
        return int(self._index.ntotal)

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index))

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> FaissIndex:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(index, faiss.IndexIDMap2):
            index = faiss.IndexIDMap2(index)  # pragma: no cover - defensive
        return cls(index.d, index)

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        return cls.from_bytes(path.read_bytes())
