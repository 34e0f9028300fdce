"""What runs on a schedule after introductions: expire unanswered requests, send the due
follow-up questions (:mod:`matcher.followups`). On the bot's JobQueue, and ``piu followups
run`` for cron."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from core.config import Settings
from core.db import Database
from core.models import as_utc, utcnow
from matcher.followups import send_due
from matcher.introductions import expire_stale

__all__ = ["FollowUpRunner"]

log = logging.getLogger(__name__)


class FollowUpRunner:
    """What runs on a schedule: expire unanswered requests, send due follow-ups."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    def run(self, now: dt.datetime | None = None) -> dict[str, int]:
        now = as_utc(now or utcnow())
        expired = expire_stale(self.db, now, days=self.settings.intro_expiry_days)
        return {"expired": expired, "followups_sent": send_due(self.db, self.settings, now)}

    def register_jobs(self, application: Any, *, every: float = 900) -> None:
        """Run every ``every`` seconds on PTB's JobQueue (first run shortly after start)."""

        async def _job(context: Any) -> None:
            try:
                report = await asyncio.to_thread(self.run)
                if any(report.values()):
                    log.info("follow-ups: %s", report)
            except Exception:
                log.exception("follow-up run failed")

        queue = application.job_queue
        if queue is None:
            raise RuntimeError('PTB JobQueue missing: install "python-telegram-bot[job-queue]"')
        queue.run_repeating(_job, interval=every, first=10, name="followups")
