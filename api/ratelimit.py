"""In-memory sliding-window rate limit per API key and per client IP.

One process keeps its own counters (run one API worker per limit domain, or put a
shared limiter in front). Limits apply to ``/api/*`` and ``/admin/*``; an exceeded
window answers ``429`` with ``Retry-After`` (seconds) and a JSON ``detail``.
"""

from __future__ import annotations

import hashlib
import math

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.asgi import send_json_error
from core.ratelimit import SlidingWindowLimiter

__all__ = ["RateLimitMiddleware", "SlidingWindowLimiter"]

LIMITED_PREFIXES = ("/api/", "/admin")


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
        await send_json_error(
            send,
            429,
            f"rate limit exceeded: retry in {retry_after} s",
            (b"retry-after", str(retry_after).encode()),
        )
