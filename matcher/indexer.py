"""Background indexing: documents written by chat steps are embedded off the request path.

A buyer's need must be searchable soon, but the buyer should not wait for its passage
embedding, nor for the index file to be rewritten. The conversation step commits the
need, then :meth:`BackgroundIndexer.submit` queues its id; one daemon thread drains the
queue in batches (one embedding call per batch), updates the in-memory FAISS and BM25
indexes, bumps the catalogue version once per batch and saves the index files at most
every ``save_interval`` seconds.

The database stays the source of truth: if the process dies before a save, the
start-up sync sees the missing text hashes and embeds those documents again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["BackgroundIndexer"]

#: apply(kind, ids) indexes the current database text of ``ids`` (or removes them) and
#: returns whether anything changed; save(kinds) writes the files and rebuilds BM25.
ApplyBatch = Callable[[str, list[int]], bool]
SaveKinds = Callable[[set[str]], None]


class BackgroundIndexer:
    """One worker thread, a de-duplicated queue, sequence numbers for :meth:`flush`."""

    def __init__(
        self,
        apply: ApplyBatch,
        save: SaveKinds,
        *,
        max_batch: int = 32,
        save_interval: float = 5.0,
        name: str = "piu-indexer",
    ) -> None:
        self._apply = apply
        self._save = save
        self.max_batch = max_batch
        self.save_interval = save_interval
        self._name = name
        self._cond = threading.Condition()
        self._queue: dict[tuple[str, int], int] = {}  # (kind, id) -> sequence, in order
        self._submitted = 0  # last sequence number handed out
        self._done = 0  # every sequence <= this one is indexed
        self._saved = 0  # every sequence <= this one is on disk
        self._unsaved: set[str] = set()
        self._last_save = time.monotonic()
        self._save_asap = False
        self._thread: threading.Thread | None = None
        self._closing = False
        self.failures = 0

    # -- producer side ----------------------------------------------------------
    def submit(self, kind: str, doc_id: int) -> int:
        """Queue ``kind``/``doc_id`` for indexing; returns its sequence number."""
        with self._cond:
            self._submitted += 1
            self._queue.pop((kind, doc_id), None)  # re-queued: index it once, later
            self._queue[(kind, doc_id)] = self._submitted
            self._start()
            self._cond.notify_all()
            return self._submitted

    def flush(self, *, save: bool = False, timeout: float = 60.0) -> bool:
        """Wait until everything submitted before this call is indexed (and saved)."""
        with self._cond:
            target = self._submitted
            if save:
                self._save_asap = True  # save as soon as this target is indexed
                self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while (self._saved if save else self._done) < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self._thread is None or not self._thread.is_alive():
                    self._start()
                self._cond.wait(min(left, 1.0))
            return True

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 60.0) -> None:
        """Index and save what is queued, then stop the thread (a later submit restarts it)."""
        self.flush(save=True, timeout=timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._closing = False
            if self._thread is thread:
                self._thread = None
            if self._queue:  # submitted while closing
                self._start()

    # -- worker side ------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _take(self) -> tuple[str, list[int], int] | None:
        """The oldest kind's next batch (ids, highest sequence taken), or None if idle."""
        if not self._queue:
            return None
        kind = next(iter(self._queue))[0]
        ids, last = [], 0
        for key, seq in list(self._queue.items()):
            if key[0] != kind:
                continue
            ids.append(key[1])
            last = max(last, seq)
            del self._queue[key]
            if len(ids) >= self.max_batch:
                break
        return kind, ids, last

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._save_due() and not self._closing:
                    left = self.save_interval - (time.monotonic() - self._last_save)
                    self._cond.wait(max(0.05, left) if self._unsaved else None)
                if self._closing and not self._queue and not self._unsaved:
                    return
                batch = self._take()
                # sequences below the smallest still queued are all done once this batch is
                done_upto = min(self._queue.values(), default=self._submitted + 1) - 1
            if batch is not None:
                kind, ids, _ = batch
                try:
                    changed = self._apply(kind, ids)
                except Exception:  # the database still holds them: the next sync retries
                    self.failures += 1
                    log.exception("background indexing of %s %s failed", kind, ids)
                    changed = False
                with self._cond:
                    if changed:
                        self._unsaved.add(kind)
                    self._done = max(self._done, done_upto)
                    if not self._unsaved:
                        self._saved = max(self._saved, self._done)
                    self._cond.notify_all()
            with self._cond:
                if not (self._save_due() or (self._closing and self._unsaved)):
                    continue
                kinds, self._unsaved = set(self._unsaved), set()
                upto = self._done
                if not self._queue:
                    self._save_asap = False
            if kinds:
                try:
                    self._save(kinds)
                except Exception:
                    self.failures += 1
                    log.exception("saving the indexes %s failed", sorted(kinds))
            with self._cond:
                self._last_save = time.monotonic()
                self._saved = max(self._saved, upto)
                self._cond.notify_all()

    def _save_due(self) -> bool:
        """Called with the condition held."""
        if not self._unsaved:
            return False
        if self._save_asap and not self._queue:
            return True
        return time.monotonic() - self._last_save >= self.save_interval
