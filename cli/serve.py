"""``piu serve``: the HTTP API, the web chat, the analytics page — and the Telegram bot
in the same process when ``PIU_TELEGRAM_TOKEN`` is set."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.config import Settings, get_settings

if TYPE_CHECKING:
    from api.wiring import Services

log = logging.getLogger(__name__)


def _uvicorn_config(app: Any, settings: Settings, host: str | None, port: int | None) -> Any:
    import uvicorn

    return uvicorn.Config(app, **_uvicorn_options(settings, host, port))


def _uvicorn_options(settings: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    return dict(
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,  # client IPs for the rate limit, from trusted proxies only
        forwarded_allow_ips="127.0.0.1",
        # longer than the idle timeout of clients and proxies (httpx and nginx: 5 s and
        # 60-75 s): the server must not close a kept-alive connection a client is reusing
        timeout_keep_alive=75,
        log_level="info",
    )


def run_server(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    services: Services | None = None,
) -> None:
    """Build the app (services wired, indexes loaded at start) and serve it until stopped."""
    import uvicorn

    from api.app import create_app
    from api.wiring import build_services

    services = services or build_services(settings, progress=True)
    app = create_app(settings, services)
    server = uvicorn.Server(_uvicorn_config(app, settings, host, port))
    if settings.telegram_token is None:
        asyncio.run(_serve_alone(server, services))
        return
    asyncio.run(_serve_with_bot(server, settings, services))


async def _serve_alone(server: Any, services: Services) -> None:
    """uvicorn, and the digests and alerts for the web chat (inbox, e-mail) on a timer."""
    from api.wiring import digest_runner
    from digest.schedule import run_forever

    digests = asyncio.ensure_future(run_forever(digest_runner(services, None)))
    try:
        await server.serve()
    finally:
        digests.cancel()


async def _serve_with_bot(server: Any, settings: Settings, services: Services) -> None:
    """uvicorn and the Telegram bot (polling) in one event loop; stopping one stops both."""
    from telegram import Update

    from api.wiring import attach_digest
    from bot.telegram import build_application, start_webhook, webhook_endpoint, webhook_path

    application = build_application(settings, services.engine)
    attach_digest(application, services)
    webhook = settings.telegram_webhook_url is not None
    if webhook:
        secret = settings.telegram_webhook_secret
        endpoint = webhook_endpoint(application, secret.get_secret_value() if secret else None)
        server.config.app.add_route(webhook_path(settings), endpoint, methods=["POST"])
    async with application:
        await application.start()
        assert application.updater is not None
        if webhook:
            await start_webhook(application, settings)
        else:
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info("Telegram bot (%s) alongside the HTTP server", "webhook" if webhook else "polling")
        try:
            await server.serve()
        finally:
            if application.updater.running:
                await application.updater.stop()
            await application.stop()


def worker_app() -> Any:
    """The application of one ``--workers`` process: its own services, wired by
    :func:`api.wiring.build_services`; the lifespan loads the indexes (stored vectors and
    index files: no embedding of what another process already embedded)."""
    from api.app import create_app
    from api.wiring import build_services

    settings = get_settings()
    return create_app(settings, build_services(settings, ready=False))


def run_workers(
    settings: Settings, workers: int, *, host: str | None = None, port: int | None = None
) -> None:
    """``workers`` uvicorn processes on one port, each with its own services (PostgreSQL)."""
    import uvicorn

    from core.console import fail
    from core.db import upgrade

    if not settings.db_url.startswith("postgresql"):
        fail(
            "--workers needs PostgreSQL (PIU_DATABASE_URL=postgresql+psycopg://...): "
            "SQLite is for a single process"
        )
    if settings.telegram_token is not None:
        fail(
            "--workers serves the HTTP API only: unset PIU_TELEGRAM_TOKEN here and run "
            "`piu bot` once, separately (Telegram accepts one poller per bot)"
        )
    upgrade(settings.db_url)  # once, before the workers start: they must not race on it
    options = _uvicorn_options(settings, host, port)
    uvicorn.run("cli.serve:worker_app", factory=True, workers=workers, **options)


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default PIU_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default PIU_PORT)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API worker processes on this port (PostgreSQL only; each loads the "
            "stored vectors, none re-embeds what another one embedded)",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs), the web chat and /admin/analytics."""
    settings = get_settings()
    if workers > 1:
        run_workers(settings, workers, host=host, port=port)
        return
    run_server(settings, host=host, port=port)
