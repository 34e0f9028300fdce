"""BM25 over the same documents as the dense index (bm25s, French tokenisation)."""

from __future__ import annotations

import threading

import bm25s
import numpy as np
from numpy.typing import NDArray

from matcher.text import tokenize


class LexicalIndex:
    """An in-memory BM25 index keyed by database ids, rebuilt lazily after changes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._docs: dict[int, list[str]] = {}
        self._ids: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._position: dict[int, int] = {}
        self._model: bm25s.BM25 | None = None
        self._dirty = True

    def set_documents(self, docs: dict[int, str]) -> None:
        with self._lock:
            self._docs = {i: tokenize(t) for i, t in docs.items()}
            self._dirty = True

    def upsert(self, doc_id: int, text: str) -> None:
        with self._lock:
            self._docs[doc_id] = tokenize(text)
            self._dirty = True

    def remove(self, doc_id: int) -> None:
        with self._lock:
            if self._docs.pop(doc_id, None) is not None:
                self._dirty = True

    def __len__(self) -> int:
        return len(self._docs)

    def _ensure(self) -> bm25s.BM25 | None:
        if not self._dirty:
            return self._model
        ids = sorted(self._docs)
        self._ids = np.array(ids, dtype=np.int64)
        self._position = {doc_id: pos for pos, doc_id in enumerate(ids)}
        if not ids:
            self._model = None
        else:
            model = bm25s.BM25()
            corpus = [self._docs[i] or ["\u2205"] for i in ids]
            model.index(corpus, show_progress=False)
            self._model = model
        self._dirty = False
        return self._model

    def scores(self, query_tokens: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """BM25 score of every document for the query (ids, scores), in id order."""
        with self._lock:
            model = self._ensure()
            if model is None:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            vocab = model.vocab_dict
            known = [t for t in query_tokens if t in vocab]
            if not known:
                return self._ids, np.zeros(len(self._ids), dtype=np.float32)
            return self._ids, np.asarray(model.get_scores(known), dtype=np.float32)

    def tokens(self, doc_id: int) -> list[str]:
        return self._docs.get(doc_id, [])
