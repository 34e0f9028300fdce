"""Interfaces of the index layer: an embedder and a vector index.

Both are small protocols so that a deployment can swap the model (any
sentence-transformers model) or the vector backend without touching callers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


def l2_normalise(vectors: np.ndarray) -> Vectors:
    """Rows scaled to unit length, as contiguous float32 (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    #: Identity of the model that makes the vectors, recorded with every index.
    model_id: str
    dim: int

    def encode_queries(self, texts: list[str]) -> Vectors:
        """Vectors for search queries (e5: with the ``query: `` prompt)."""
        ...

    def encode_passages(self, texts: list[str], *, show_progress: bool = False) -> Vectors:
        """Vectors for indexed documents (e5: with the ``passage: `` prompt)."""
        ...


class VectorIndex(Protocol):
    """Ids and vectors only; the content lives in the database."""

    dim: int

    def __init__(self, dim: int) -> None:
        """An empty index of vectors of ``dim`` floats."""
        ...

    def build(self, ids: NDArray[np.int64], vectors: Vectors) -> None: ...

    def rebalance(self) -> bool:
        """Rebuild in the form the current size calls for; whether it did."""
        ...

    def upsert(self, ids: NDArray[np.int64], vectors: Vectors) -> None: ...

    def remove(self, ids: NDArray[np.int64]) -> int: ...

    def search(self, query: Vectors, k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]: ...

    def vectors_for(self, ids: list[int]) -> dict[int, Vectors]: ...

    def ids(self) -> NDArray[np.int64]: ...

    def count(self) -> int: ...

    def to_bytes(self) -> bytes: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex: ...

    @classmethod
    def load(cls, path: Path) -> VectorIndex: ...
