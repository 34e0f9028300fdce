"""``piu bot``: the Telegram bot (long polling, or a webhook when one is configured)."""

from __future__ import annotations

import logging

import typer

from cli.common import settings as load_settings

app = typer.Typer(
    help="Run the Telegram bot (polling, or webhook when PIU_TELEGRAM_WEBHOOK_URL is set).",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)

log = logging.getLogger(__name__)


@app.callback()
def bot(
    listen: str = typer.Option("127.0.0.1", help="Webhook mode: address to listen on"),
    port: int = typer.Option(8443, help="Webhook mode: port to listen on"),
) -> None:
    """Build the services and serve Telegram until interrupted."""
    from api.wiring import attach_digest, build_services
    from bot.telegram import build_application, run

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # the outbox job, every 5 s
    s = load_settings()
    if s.telegram_token is None:
        typer.echo("PIU_TELEGRAM_TOKEN is not set.", err=True)
        raise typer.Exit(2)
    services = build_services(s)
    try:
        application = build_application(s, services.engine)
        attach_digest(application, services)
        mode = "webhook " + s.telegram_webhook_url if s.telegram_webhook_url else "polling"
        log.info("Telegram bot starting (%s)", mode)
        run(application, s, listen=listen, port=port)
    finally:
        services.close()


if __name__ == "__main__":
    app()
