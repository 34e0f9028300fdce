"""``piu digest run [--dry-run] [--now]``: send the weekly digests (cron, or by hand)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from cli.common import database, settings
from core.console import print_json

app = typer.Typer(help="Weekly digests: run them from cron or by hand.", no_args_is_help=True)


@app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what each user would receive; send nothing.")
    ] = False,
    now: Annotated[
        bool, typer.Option("--now", help="Ignore each user's day and hour (this week's digest).")
    ] = False,
) -> None:
    """Compose and send the digests that are due (exactly once per user and week): Telegram
    chats through the bot (PIU_TELEGRAM_TOKEN), confirmed addresses through the SMTP relay
    (PIU_SMTP_HOST), web chat users' inbox always."""
    from digest.mail import mailer_for
    from digest.match import IndexMatcher
    from digest.run import DigestRunner
    from digest.sender import FakeSender, TelegramSender

    s = settings()
    db = database(s)

    def matcher() -> IndexMatcher:
        from matcher.service import MatchService

        return IndexMatcher(MatchService.ready(s, db, progress=False))

    async def go() -> None:
        if dry_run:
            runner = DigestRunner(db, s, FakeSender(), matcher)
            report = await runner.run(force=now, dry_run=True)
            for preview in report.previews:
                typer.echo(
                    f"=== person {preview.person_id} (chat {preview.chat_id}) {preview.period}"
                )
                for i, part in enumerate(preview.parts, 1):
                    typer.echo(f"--- part {i}/{len(preview.parts)}\n{part.text}")
                    for row in part.buttons:
                        typer.echo(
                            "    [" + "] [".join(f"{lbl} -> {data}" for lbl, data in row) + "]"
                        )
            print_json(report.summary())
            return
        mailer = mailer_for(s)
        if s.telegram_token is None:
            if mailer is None:
                typer.echo("no PIU_TELEGRAM_TOKEN nor PIU_SMTP_HOST: the web chat inbox only")
            report = await DigestRunner(db, s, None, matcher, mailer=mailer).run(force=now)
        else:
            from telegram import Bot

            kwargs: dict[str, Any] = (
                {"base_url": s.telegram_api_base_url} if s.telegram_api_base_url else {}
            )
            async with Bot(s.telegram_token.get_secret_value(), **kwargs) as bot:
                runner = DigestRunner(db, s, TelegramSender(bot), matcher, mailer=mailer)
                report = await runner.run(force=now)
        print_json(report.summary())
        if report.locked:
            raise typer.Exit(2)

    asyncio.run(go())
