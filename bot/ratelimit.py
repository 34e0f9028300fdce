"""Per-user chat rate limit: at most N messages per rolling minute per (transport, user).

The conversation engine asks :meth:`ChatRateLimiter.allow` at the very top of
``handle()``; beyond the limit the user gets a polite notice and nothing is
processed (no state loaded or saved, no search). Counters live in the process
memory: with several API workers each one counts its own share (see
docs/DEPLOYMENT.md). Button presses count as messages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from core.ratelimit import SlidingWindowLimiter

__all__ = ["ChatRateLimiter"]


class ChatRateLimiter:
    """``limit`` messages per ``window`` seconds for each (transport, user); ``<= 0`` disables."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = SlidingWindowLimiter(limit, window, clock)

    @property
    def limit(self) -> int:
        return self._window.limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._window.limit = value

    def allow(self, transport: str, external_id: str) -> bool:
        """Record one message and say whether it may be processed."""
        return self.retry_after(transport, external_id) is None

    def retry_after(self, transport: str, external_id: str) -> int | None:
        """``None`` (hit recorded) if allowed, else whole seconds until the next allowed one."""
        wait = self._window.check(f"{transport}:{external_id}")
        return None if wait is None else max(1, math.ceil(wait))

    def reset(self) -> None:
        self._window.reset()
