"""The FastAPI application: ``create_app(settings, services=None)``.

Layers, outermost first: body size limit (413) → rate limit (429) → FastAPI routes.
Errors are JSON ``{"detail": ...}``. The indexes are loaded in the lifespan (blocking
start-up until they are ready), unless ``load_indexes=False`` (tests).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import chat, privacy
from api.asgi import send_json_error
from api.crud import Conflict, NotFound
from api.ratelimit import RateLimitMiddleware, SlidingWindowLimiter
from api.routes import (
    admin,
    analytics,
    directory,
    email,
    exports,
    financing,
    public,
    subscriptions,
)
from api.wiring import Services, build_services
from core.config import Settings

log = logging.getLogger(__name__)

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "BodyLimitMiddleware",
    "SecurityHeadersMiddleware",
    "create_app",
]

#: The policy of every HTML page: scripts only from static files of this origin (no inline
#: script), no framing, no plugins; inline styles stay allowed (the pages carry their CSS).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
#: The interactive API docs load FastAPI's Swagger UI (inline script, CDN): no framing only.
_DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeadersMiddleware:
    """Security headers on every response; the Content-Security-Policy on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(_DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                html = any(
                    k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers
                )
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if html:
                    own = [v for k, v in headers if k.lower() == b"content-security-policy"]
                    if not own:
                        policy = "frame-ancestors 'none'" if docs else CONTENT_SECURITY_POLICY
                        extra.append((b"content-security-policy", policy.encode()))
                    elif b"frame-ancestors" not in own[0]:  # a page's own, stricter policy
                        headers = [
                            (k, v + b"; frame-ancestors 'none'")
                            if k.lower() == b"content-security-policy"
                            else (k, v)
                            for k, v in headers
                        ]
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


DESCRIPTION = """
PIU connects French collectivités with urban-innovation solutions and peers.

* **Public** (`/api/health`, `/api/solutions`, `/api/rex`): read-only, no personal data.
* **Admin** (`/api/admin/*`): header `X-API-Key` (create one with `piu admin key create NAME`).
* Lists are paginated: `limit` (≤ 100) and `offset`; answers are
  `{items, total, limit, offset}`.
* Limits: request body (413), text lengths (422), rate per key and per IP (429 + Retry-After).
* Analytics page for facilitators: `/admin/analytics` (log in at `/admin/login`).
"""


class BodyLimitMiddleware:
    """413 with a JSON detail when the body exceeds ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._detail())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:
            if exc.status_code != 413 or started:
                raise
            await self._reject(send)

    def _detail(self) -> str:
        return f"request body too large (limit {self.max_bytes} bytes)"

    async def _reject(self, send: Send) -> None:
        await send_json_error(send, 413, self._detail(), (b"connection", b"close"))


def create_app(
    settings: Settings, services: Services | None = None, *, load_indexes: bool = True
) -> FastAPI:
    """The whole HTTP application. ``services``: prebuilt (``piu serve``, tests) or built
    here with :func:`api.wiring.build_services`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc: Services = app.state.services
        if load_indexes and not svc.indexes_loaded:
            await run_in_threadpool(svc.load_indexes)
        yield
        await run_in_threadpool(svc.matcher.close)  # what the chat queued gets indexed, saved

    app = FastAPI(
        title="PIU API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services if services is not None else build_services(settings)
    app.state.engine = app.state.services.engine

    _install_error_handlers(app)
    app.include_router(public.router)
    app.include_router(admin.router)
    app.include_router(financing.router)
    app.include_router(exports.router)
    app.include_router(analytics.router)
    app.include_router(chat.router)
    app.include_router(privacy.router)
    app.include_router(subscriptions.router)
    app.include_router(email.router)
    app.include_router(directory.router)

    # added last = outermost: the body limit runs before anything reads the body
    app.add_middleware(
        RateLimitMiddleware, limiter=SlidingWindowLimiter(settings.api_rate_limit_per_minute)
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: errors get the headers too
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # The default handler echoes the input, which may not be encodable (a lone
        # surrogate): answer 422 with ASCII-escaped JSON instead of failing with a 500.
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse({"detail": "conflict with existing data"}, status_code=409)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
