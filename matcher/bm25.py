"""BM25 over the same documents as the dense index (bm25s, French tokenisation)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import bm25s
import numpy as np
from numpy.typing import NDArray

from matcher.text import tokenize


class LexicalIndex:
    """An in-memory BM25 index keyed by database ids.

    A direct change (``upsert``, ``remove``) makes the next query rebuild the model, so
    a caller reads its own writes. A *deferred* change (``defer=True``, the background
    indexer) keeps serving the previous model until :meth:`rebuild` runs off the query
    path: a document added that way is found by its vector at once and by its words a
    moment later, and no query pays for a rebuild under load.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._docs: dict[int, list[str]] = {}
        self._text_hash: dict[int, int] = {}  # what set_documents last saw, by id
        self._ids: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._position: dict[int, int] = {}
        self._model: bm25s.BM25 | None = None
        self._dirty = True  # the next query rebuilds
        self._pending = False  # a deferred change waits for rebuild()
        self._generation = 0  # bumped on every change

    def set_documents(self, docs: dict[int, str]) -> None:
        """Make ``docs`` the documents; only the texts that changed are tokenised again,
        and the model is rebuilt only if something changed."""
        hashes = {i: hash(t) for i, t in docs.items()}
        with self._lock:
            changed = {i: t for i, t in docs.items() if self._text_hash.get(i) != hashes[i]}
            gone = [i for i in self._docs if i not in docs]
            if not changed and not gone and self._model is not None:
                return
            for i in gone:
                del self._docs[i]
            self._docs.update({i: tokenize(t) for i, t in changed.items()})
            self._text_hash = hashes
            self._changed(defer=False)

    def upsert(self, doc_id: int, text: str, *, defer: bool = False) -> None:
        tokens = tokenize(text)
        with self._lock:
            self._docs[doc_id] = tokens
            self._text_hash[doc_id] = hash(text)
            self._changed(defer)

    def remove(self, doc_id: int, *, defer: bool = False) -> None:
        with self._lock:
            self._text_hash.pop(doc_id, None)
            if self._docs.pop(doc_id, None) is not None:
                self._changed(defer)

    def _changed(self, defer: bool) -> None:
        self._generation += 1
        if defer and self._model is not None:
            self._pending = True
        else:
            self._dirty = True

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def pending(self) -> bool:
        return self._pending or self._dirty

    @staticmethod
    def _build(docs: dict[int, list[str]]) -> tuple[NDArray[np.int64], bm25s.BM25 | None]:
        ids = sorted(docs)
        if not ids:
            return np.zeros(0, dtype=np.int64), None
        model = bm25s.BM25()
        model.index([docs[i] or ["\u2205"] for i in ids], show_progress=False)
        return np.array(ids, dtype=np.int64), model

    def _install(self, ids: NDArray[np.int64], model: bm25s.BM25 | None) -> None:
        self._ids = ids
        self._position = {int(doc_id): pos for pos, doc_id in enumerate(ids.tolist())}
        self._model = model

    def _ensure(self) -> bm25s.BM25 | None:
        if self._dirty:
            self._install(*self._build(self._docs))
            self._dirty = self._pending = False
        return self._model

    def rebuild(self) -> None:
        """Apply deferred changes; builds outside the lock, so queries go on meanwhile."""
        with self._lock:
            if not self.pending:
                return
            generation, docs = self._generation, dict(self._docs)
        ids, model = self._build(docs)
        with self._lock:
            self._install(ids, model)
            if self._generation == generation:  # nothing changed while building
                self._dirty = self._pending = False
            else:
                self._pending = True

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

    def top(
        self, query_tokens: list[str], k: int
    ) -> tuple[list[int], Callable[[list[int]], NDArray[np.float32]]]:
        """The ids of the (at most) ``k`` best documents with a positive score, best
        first, and the BM25 score of any ids of this query (0 for unknown ids).

        One pass of the postings of the query's words; ``argpartition`` picks the top
        ``k`` without sorting every document.
        """
        with self._lock:  # the scores and the positions of one model
            ids, scores = self.scores(query_tokens)
            position = self._position
        if not scores.size or float(scores.max()) <= 0:
            top: list[int] = []
        else:
            k = min(k, len(scores))
            part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(k)
            part = part[np.argsort(-scores[part], kind="stable")]
            top = [int(ids[i]) for i in part if scores[i] > 0]

        def score_of(doc_ids: list[int]) -> NDArray[np.float32]:
            out = np.zeros(len(doc_ids), dtype=np.float32)
            for n, doc_id in enumerate(doc_ids):
                pos = position.get(doc_id)
                if pos is not None and pos < len(scores):
                    out[n] = scores[pos]
            return out

        return top, score_of

    def tokens(self, doc_id: int) -> list[str] | None:
        """The document's tokens (``None`` if it is not in this index)."""
        return self._docs.get(doc_id)
