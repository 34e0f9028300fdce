"""``piu serve``: the HTTP API, the web chat and the analytics page (uvicorn)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from core.config import Settings, get_settings


def run_server(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    services: Any = None,
) -> None:
    """Build the app (services wired, indexes loaded at start) and serve it until stopped."""
    import uvicorn

    from api.app import create_app

    app = create_app(settings, services)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,  # client IPs for the rate limit, from trusted proxies only
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
    )


def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default PIU_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default PIU_PORT)")] = None,
) -> None:
    """Serve the HTTP API (docs at /docs), the web chat and /admin/analytics."""
    run_server(get_settings(), host=host, port=port)
