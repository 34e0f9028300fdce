"""One digest run: compose for due subscribers, record deliveries, send, commit.

Exactly-once protocol
---------------------
1. A lease (Meta row ``digest_lock``) makes one worker run at a time.
2. Compose: for each due subscriber (no delivery for this period, none pending),
   the rendered parts are stored in a ``DigestDelivery`` row (unique per
   subscription and period) *before* anything is sent. Its ``created_at`` is the
   run time: the watermark the subscriber moves to once it is delivered.
3. Send every pending delivery, part ``parts_sent`` onwards; each successful send
   commits ``parts_sent`` (and the subscriber's watermark) at once. After a crash
   (even ``kill -9``), the next run resumes from ``parts_sent``: nobody gets a part
   twice, except the single message in flight at the instant of the kill, which
   Telegram may have accepted before the commit.
   ``RetryAfter`` waits and retries the same part; ``Forbidden`` pauses the
   subscription; any other error leaves the delivery pending for the next run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from core.config import Settings
from core.db import Database
from core.models import ChatIdentity, DigestDelivery, Meta, Person, Subscription, as_utc
from digest.compose import DigestMatcher, Part, collect, render
from digest.schedule import due_period, is_active, period_key
from digest.sender import Clock, Forbidden, RetryAfter, Sender, SystemClock, retry_after_seconds

__all__ = [
    "LOCK_KEY",
    "DigestRunner",
    "Lease",
    "RunReport",
]

log = logging.getLogger(__name__)

LOCK_KEY = "digest_lock"
TRANSPORT = "telegram"
PENDING, SENT, EMPTY, BLOCKED = "pending", "sent", "empty", "blocked"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- lease --------------------------------------------------------------------------------
class Lease:
    """A database lease: ``Meta[digest_lock] = "<owner>:<expires iso>"``, taken by compare-and-swap.

    Portable (SQLite and PostgreSQL): the UPDATE only succeeds when the row still
    holds the value read, so two workers can never both take it.
    """

    def __init__(
        self,
        db: Database,
        *,
        owner: str | None = None,
        seconds: float = 900,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.seconds = seconds
        self.now = now
        self._value: str | None = None

    def _new_value(self) -> str:
        expires = self.now() + dt.timedelta(seconds=self.seconds)
        return f"{self.owner}:{expires.isoformat()}"

    @staticmethod
    def parse(value: str) -> tuple[str, dt.datetime]:
        owner, _, expires = value.partition(":")
        return owner, dt.datetime.fromisoformat(expires)

    def acquire(self) -> bool:
        new = self._new_value()
        with self.db.session() as session:
            current = session.scalar(select(Meta.value).where(Meta.key == LOCK_KEY))
            if current is None:
                try:
                    session.execute(insert(Meta).values(key=LOCK_KEY, value=new))
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    return False
                self._value = new
                return True
            try:
                owner, expires = self.parse(current)
            except ValueError:
                owner, expires = "", dt.datetime.min.replace(tzinfo=dt.UTC)
            if owner != self.owner and expires > self.now():
                return False
            done = session.execute(
                update(Meta).where(Meta.key == LOCK_KEY, Meta.value == current).values(value=new)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
        self._value = new
        return True

    def renew(self) -> bool:
        if self._value is None:
            return False
        new = self._new_value()
        with self.db.session() as session:
            done = session.execute(
                update(Meta)
                .where(Meta.key == LOCK_KEY, Meta.value == self._value)
                .values(value=new)
            )
            ok = done.rowcount == 1  # type: ignore[attr-defined]
        if ok:
            self._value = new
        return ok

    def release(self) -> None:
        if self._value is None:
            return
        expired = f"{self.owner}:{dt.datetime(1970, 1, 1, tzinfo=dt.UTC).isoformat()}"
        with self.db.session() as session:
            session.execute(
                update(Meta)
                .where(Meta.key == LOCK_KEY, Meta.value == self._value)
                .values(value=expired)
            )
        self._value = None


# -- run ----------------------------------------------------------------------------------
@dataclass
class Preview:
    """What one subscriber would receive (dry run)."""

    person_id: int
    chat_id: str | None
    period: str
    parts: list[Part]


@dataclass
class RunReport:
    locked: bool = False  # another worker holds the lease: nothing done
    considered: int = 0
    composed: int = 0  # deliveries created with something to send
    empty: int = 0  # due, but nothing new
    messages_sent: int = 0
    deliveries_completed: int = 0
    paused: int = 0
    errors: int = 0
    retry_after_waits: int = 0
    compose_seconds: float = 0.0
    send_seconds: float = 0.0
    previews: list[Preview] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "previews"}
        data["compose_seconds"] = round(self.compose_seconds, 3)
        data["send_seconds"] = round(self.send_seconds, 3)
        return data


class DigestRunner:
    """Runs digests. ``matcher`` is a DigestMatcher or a factory making one per run."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        sender: Sender,
        matcher: DigestMatcher | Callable[[], DigestMatcher],
        *,
        now: Callable[[], dt.datetime] = utcnow,
        clock: Clock | None = None,
        concurrency: int = 8,
        max_retry_after: int = 5,
        lease_seconds: float = 900,
        owner: str | None = None,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sender = sender
        self._matcher = matcher
        self.now = now
        self.clock: Clock = clock or SystemClock()
        self.tz = ZoneInfo(settings.timezone)
        self.concurrency = concurrency
        self.max_retry_after = max_retry_after
        self.lease = Lease(db, owner=owner, seconds=lease_seconds, now=now)
        self.batch = batch
        self._lock = asyncio.Lock()

    def _make_matcher(self) -> DigestMatcher:
        m = self._matcher
        if hasattr(m, "solutions_for_need") and not isinstance(m, type):
            return m  # type: ignore[return-value]
        return m()  # type: ignore[operator]

    async def run(self, *, force: bool = False, dry_run: bool = False) -> RunReport:
        """One run; ``force`` ignores each subscriber's day and hour (this week's period)."""
        if self._lock.locked():
            return RunReport(locked=True)
        async with self._lock:
            report = RunReport()
            if dry_run:
                self.compose(report, force=force, dry_run=True)
                return report
            if not self.lease.acquire():
                log.info("digest: another worker holds the lease")
                return RunReport(locked=True)
            try:
                self.compose(report, force=force)
                await self.send_pending(report)
            finally:
                self.lease.release()
            log.info("digest run: %s", report.summary())
            return report

    # -- compose ------------------------------------------------------------------------
    def compose(self, report: RunReport, *, force: bool = False, dry_run: bool = False) -> None:
        started = time.perf_counter()
        now = as_utc(self.now())
        matcher: DigestMatcher | None = None
        cache: dict[object, object] = {}
        with self.db.session() as session:
            rows = session.execute(
                select(Subscription, Person, ChatIdentity.external_id)
                .join(Person, Person.id == Subscription.person_id)
                .outerjoin(
                    ChatIdentity,
                    (ChatIdentity.person_id == Person.id) & (ChatIdentity.transport == TRANSPORT),
                )
                .order_by(Subscription.id)
            ).all()
            delivered = {
                (sid, period)
                for sid, period in session.execute(
                    select(DigestDelivery.subscription_id, DigestDelivery.period)
                )
            }
            pending = set(
                session.scalars(
                    select(DigestDelivery.subscription_id).where(DigestDelivery.status == PENDING)
                )
            )
            seen: set[int] = set()
            new_rows: list[dict[str, Any]] = []
            for sub, person, chat_id in rows:
                if sub.id in seen:
                    continue  # several Telegram identities: the first one
                seen.add(sub.id)
                report.considered += 1
                if force:
                    period = period_key(now, self.tz) if is_active(sub) else None
                else:
                    period = due_period(sub, now, self.tz)
                if period is None or chat_id is None:
                    continue
                if (sub.id, period) in delivered or sub.id in pending:
                    continue
                since = as_utc(sub.watermark or sub.created_at or now)
                if matcher is None:
                    matcher = self._make_matcher()
                with session.no_autoflush:  # read-only: no O(identity map) flush per query
                    content = collect(
                        session, matcher, sub, person, since=since, until=now, cache=cache
                    )
                parts = render(content, sub.language or person.language or "fr")
                if dry_run:
                    if parts:
                        report.previews.append(Preview(person.id, chat_id, period, parts))
                        report.composed += 1
                    else:
                        report.empty += 1
                    continue
                new_rows.append(
                    {
                        "subscription_id": sub.id,
                        "period": period,
                        "payload": [p.to_json() for p in parts],
                        "parts_sent": 0,
                        "status": PENDING if parts else EMPTY,
                        "attempts": 0,
                        "created_at": now,
                        "sent_at": None if parts else now,
                    }
                )
                if parts:
                    report.composed += 1
                else:
                    report.empty += 1
                if len(new_rows) >= self.batch:
                    self._record(new_rows)
                    new_rows = []
            if new_rows:
                self._record(new_rows)
        report.compose_seconds += time.perf_counter() - started

    def _record(self, rows: list[dict[str, Any]]) -> None:
        """Insert delivery rows (and move empty ones' watermark) in one transaction."""
        try:
            with self.db.session() as session:
                self._insert(session, rows)
        except IntegrityError:  # someone recorded one of them meanwhile: one by one
            for row in rows:
                try:
                    with self.db.session() as session:
                        self._insert(session, [row])
                except IntegrityError:
                    log.info("digest: delivery %s/%s exists", row["subscription_id"], row["period"])

    @staticmethod
    def _insert(session: Any, rows: list[dict[str, Any]]) -> None:
        session.execute(insert(DigestDelivery), rows)
        empty = [r for r in rows if r["status"] == EMPTY]
        for row in empty:
            session.execute(
                update(Subscription)
                .where(Subscription.id == row["subscription_id"])
                .values(watermark=row["created_at"])
            )

    # -- send ---------------------------------------------------------------------------
    async def send_pending(self, report: RunReport) -> None:
        started = time.perf_counter()
        with self.db.session() as session:
            jobs = session.execute(
                select(DigestDelivery.id, ChatIdentity.external_id)
                .join(Subscription, Subscription.id == DigestDelivery.subscription_id)
                .join(
                    ChatIdentity,
                    (ChatIdentity.person_id == Subscription.person_id)
                    & (ChatIdentity.transport == TRANSPORT),
                )
                .where(DigestDelivery.status == PENDING, Subscription.paused.is_(False))
                .order_by(DigestDelivery.id)
            ).all()
        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        seen: set[int] = set()
        for delivery_id, chat_id in jobs:
            if delivery_id not in seen:
                seen.add(delivery_id)
                queue.put_nowait((delivery_id, chat_id))
        last_renew = [time.monotonic()]

        async def worker() -> None:
            while not queue.empty():
                delivery_id, chat_id = queue.get_nowait()
                await self._deliver(delivery_id, chat_id, report)
                if time.monotonic() - last_renew[0] > self.lease.seconds / 3:
                    last_renew[0] = time.monotonic()
                    self.lease.renew()

        workers = [asyncio.ensure_future(worker()) for _ in range(max(1, self.concurrency))]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
        report.send_seconds += time.perf_counter() - started

    async def _deliver(self, delivery_id: int, chat_id: str, report: RunReport) -> None:
        with self.db.session() as session:
            delivery = session.get(DigestDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING:
                return
            parts = [Part.from_json(p) for p in delivery.payload]
            index = delivery.parts_sent
            watermark = delivery.created_at
            subscription_id = delivery.subscription_id
        waits = 0
        while index < len(parts):
            part = parts[index]
            try:
                await self.sender.send(chat_id, part.text, part.buttons)
            except RetryAfter as exc:
                report.retry_after_waits += 1
                waits += 1
                if waits > self.max_retry_after:
                    self._fail(delivery_id, f"RetryAfter x{waits}: {exc}")
                    report.errors += 1
                    return
                await self.clock.sleep(retry_after_seconds(exc))
                continue
            except Forbidden as exc:
                self._block(delivery_id, subscription_id, str(exc))
                report.paused += 1
                return
            except Exception as exc:
                log.warning("digest: delivery %s part %s failed: %r", delivery_id, index, exc)
                self._fail(delivery_id, repr(exc))
                report.errors += 1
                return
            index += 1
            report.messages_sent += 1
            self._commit_part(delivery_id, subscription_id, index, len(parts), watermark)
        report.deliveries_completed += 1

    def _commit_part(
        self, delivery_id: int, subscription_id: int, sent: int, total: int, watermark: dt.datetime
    ) -> None:
        now = as_utc(self.now())
        with self.db.session() as session:
            values: dict[str, Any] = {"parts_sent": sent}
            if sent >= total:
                values.update(status=SENT, sent_at=now)
            session.execute(
                update(DigestDelivery).where(DigestDelivery.id == delivery_id).values(**values)
            )
            session.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id)
                .values(watermark=watermark, last_sent_at=now)
            )

    def _fail(self, delivery_id: int, error: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.id == delivery_id)
                .values(attempts=DigestDelivery.attempts + 1, last_error=error[:2000])
            )

    def _block(self, delivery_id: int, subscription_id: int, error: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.id == delivery_id)
                .values(
                    status=BLOCKED,
                    attempts=DigestDelivery.attempts + 1,
                    last_error=error[:2000],
                )
            )
            session.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id)
                .values(paused=True, paused_reason="blocked: the user blocked the bot")
            )
