"""Per-user chat rate limit: at most N messages per rolling minute per (transport, user).

The conversation engine asks :meth:`ChatRateLimiter.allow` at the very top of
``handle()``; beyond the limit the user gets a polite notice and nothing is
processed (no state loaded or saved, no search). Counters live in the process
memory: with several API workers each one counts its own share (see
docs/DEPLOYMENT.md). Button presses count as messages.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["ChatRateLimiter"]

#: Above this many tracked users, idle ones are dropped (bounded memory).
MAX_TRACKED = 100_000


class ChatRateLimiter:
    """A sliding window of ``limit`` hits per ``window`` seconds for each (transport, user).

    ``limit <= 0`` disables the limit.
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, transport: str, external_id: str) -> bool:
        """Record one message and say whether it may be processed (a refused one is not
        recorded, so a user who keeps sending is let through again once the window slides)."""
        return self.retry_after(transport, external_id) is None

    def retry_after(self, transport: str, external_id: str) -> int | None:
        """``None`` (hit recorded) if allowed, else whole seconds until the next allowed one."""
        if self.limit <= 0:
            return None
        now = self.clock()
        key = (transport, external_id)
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= MAX_TRACKED:
                    self._prune(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]
