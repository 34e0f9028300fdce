"""A sliding-window rate limiter (in memory, per process), shared by the API and the chat."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter"]

#: Above this many tracked buckets, idle ones are dropped (bounded memory).
MAX_BUCKETS = 100_000


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds for each bucket name.

    ``limit <= 0`` disables the limit. A refused hit is not recorded, so a client
    who keeps sending is let through again once the window slides.
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *buckets: str) -> float | None:
        """Record a hit in every bucket, or return the seconds to wait if any is full."""
        if self.limit <= 0:
            return None
        now = self.clock()
        with self._lock:
            if len(self._hits) > MAX_BUCKETS:
                self._prune(now)
            wait = 0.0
            for name in buckets:
                hits = self._hits.get(name)
                if hits is None:
                    continue
                while hits and hits[0] <= now - self.window:
                    hits.popleft()
                if len(hits) >= self.limit:
                    wait = max(wait, hits[0] + self.window - now)
            if wait > 0:
                return wait
            for name in buckets:
                self._hits.setdefault(name, deque()).append(now)
        return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
