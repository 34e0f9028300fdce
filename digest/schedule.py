"""When each subscriber is due: weekly slots in the configured time zone (Europe/Paris).

A subscriber is due when the latest slot (weekday, hour, local time) at or before
``now`` has no delivery yet for its period. Because only the latest slot counts,
a digest missed while the bot was down is caught up at the next start, once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from core.domain import Cadence
from core.models import Subscription, as_utc

__all__ = [
    "due_period",
    "is_active",
    "last_slot",
    "next_slot",
    "period_key",
    "register_digest_jobs",
    "run_forever",
]

log = logging.getLogger(__name__)


def _slot_on(day: dt.date, hour: int, tz: ZoneInfo) -> dt.datetime:
    """``hour`` o'clock local time on ``day``, as UTC (a non-existent DST hour shifts on)."""
    local = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
    return local.astimezone(dt.UTC)


def last_slot(weekday: int, hour: int, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The latest weekly slot at or before ``now`` (UTC)."""
    local_now = as_utc(now).astimezone(tz)
    day = local_now.date() - dt.timedelta(days=(local_now.weekday() - weekday) % 7)
    slot = _slot_on(day, hour, tz)
    if slot > as_utc(now):
        slot = _slot_on(day - dt.timedelta(days=7), hour, tz)
    return slot


def next_slot(weekday: int, hour: int, now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The first weekly slot strictly after ``now`` (UTC)."""
    previous = last_slot(weekday, hour, now, tz).astimezone(tz).date()
    return _slot_on(previous + dt.timedelta(days=7), hour, tz)


def period_key(slot: dt.datetime, tz: ZoneInfo) -> str:
    """The ISO week of a slot in local time, e.g. ``2026-W03``: one digest per week."""
    year, week, _ = slot.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def is_active(sub: Subscription) -> bool:
    return sub.cadence == Cadence.WEEKLY and not sub.paused


def due_period(sub: Subscription, now: dt.datetime, tz: ZoneInfo) -> str | None:
    """The period ``sub`` should receive at ``now``, or None (off, paused, or too new).

    Whether that period was already delivered is checked by the caller (the
    delivery row is the record of it).
    """
    if not is_active(sub):
        return None
    slot = last_slot(sub.weekday, sub.hour, now, tz)
    if sub.created_at is not None and slot <= as_utc(sub.created_at):
        return None  # subscribed after this week's slot: start with the next one
    return period_key(slot, tz)


def register_digest_jobs(
    application: Any, settings: Any, runner: Any, *, every: float = 3600
) -> None:
    """Schedule digests on PTB's JobQueue (jobs are not persisted: call at every start-up).

    An immediate run catches up digests missed while the bot was down; then an
    hourly run sends whoever became due. The runner's lease keeps it to one worker.
    """
    del settings  # the runner already carries them (time zone)

    async def _job(context: Any) -> None:
        try:
            await runner.run()
        except Exception:
            log.exception("digest run failed")

    async def _alerts(context: Any) -> None:
        try:
            await runner.run_alerts()
        except Exception:
            log.exception("alert run failed")

    queue = application.job_queue
    if queue is None:
        raise RuntimeError('PTB JobQueue missing: install "python-telegram-bot[job-queue]"')
    queue.run_once(_job, when=5, name="digest-catch-up")
    # Slots are on the hour: check just after each full hour.
    first = every - dt.datetime.now(dt.UTC).timestamp() % every + 30
    queue.run_repeating(_job, interval=every, first=first, name="digest-hourly")
    queue.run_repeating(_alerts, interval=ALERT_EVERY, first=60, name="digest-alerts")


#: How often instant alerts are looked for (seconds).
ALERT_EVERY = 600


async def run_forever(runner: Any, *, every: float = 3600) -> None:
    """The same schedule without Telegram (``piu serve`` alone): a catch-up run, the
    alerts every ALERT_EVERY seconds and the digests just after each full hour."""
    await asyncio.sleep(5)
    next_digest = 0.0
    while True:
        now = dt.datetime.now(dt.UTC).timestamp()
        try:
            if now >= next_digest:
                await runner.run()
                next_digest = now - now % every + every + 30
            else:
                await runner.run_alerts()
        except Exception:
            log.exception("digest run failed")
        await asyncio.sleep(max(1.0, min(ALERT_EVERY, next_digest - time.time())))
