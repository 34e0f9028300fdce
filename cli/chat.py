"""``piu chat``: talk to PIU in the terminal (same engine as Telegram and the web chat)."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(help="Chat with PIU in the terminal.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def chat(
    user: str = typer.Option("local", help="Conversation identity (resume it later)."),
) -> None:
    """Start (or resume) a conversation; numbers pick buttons, Ctrl-D quits."""
    from api.wiring import build_services
    from bot.terminal import run_terminal
    from cli.common import settings

    logging.basicConfig(level=logging.WARNING)
    services = build_services(settings(), progress=True)
    try:
        run_terminal(services.engine, user_id=user)
    finally:
        services.close()
