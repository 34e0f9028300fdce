"""In-memory sliding-window rate limit per API key and per client IP.

One process keeps its own counters (run one API worker per limit domain, or put a
shared limiter in front). Limits apply to ``/api/*`` and ``/admin/*``; an exceeded
window answers ``429`` with ``Retry-After`` (seconds) and a JSON ``detail``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RateLimitMiddleware", "SlidingWindowLimiter"]

LIMITED_PREFIXES = ("/api/", "/admin")
_MAX_BUCKETS = 50_000


class SlidingWindowLimiter:
    """At most ``limit`` hits per ``window`` seconds for each bucket name."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *buckets: str) -> float | None:
        """Record a hit in every bucket, or return seconds to wait if any is full."""
        now = self.clock()
        with self._lock:
            if len(self._hits) > _MAX_BUCKETS:
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

    def _prune(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in stale:
            del self._hits[key]


class RateLimitMiddleware:
    """ASGI middleware applying a :class:`SlidingWindowLimiter` per IP and per key."""

    def __init__(self, app: ASGIApp, limiter: SlidingWindowLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        buckets = [f"ip:{client[0] if client else 'unknown'}"]
        key = Headers(scope=scope).get("x-api-key")
        if key:
            buckets.append("key:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest())
        wait = self.limiter.check(*buckets)
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        body = json.dumps({"detail": f"rate limit exceeded: retry in {retry_after} s"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
