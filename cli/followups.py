"""``piu followups run``: expire unanswered introductions and queue the follow-up questions
that are due (cron; ``piu bot`` also runs it every 15 minutes)."""

from __future__ import annotations

import typer

from cli.common import database, settings
from core.console import print_json

app = typer.Typer(
    help="The follow-up loop after introductions: run it from cron or by hand.",
    no_args_is_help=True,
)


@app.command("run")
def run() -> None:
    """Expire requests unanswered for PIU_INTRO_EXPIRY_DAYS; queue due follow-up questions
    (weekdays within PIU_FOLLOWUP_HOURS, Europe/Paris; delivered by the chat transports)."""
    from matcher.followup_runner import FollowUpRunner

    s = settings()
    db = database(s)
    try:
        print_json(FollowUpRunner(db, s).run())
    finally:
        db.dispose()
