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

Channels (``DigestDelivery.channel``), per subscriber
-----------------------------------------------------
* ``telegram``: the person has a Telegram chat: the parts are sent there.
* ``email``: no Telegram chat, a confirmed address: one mail with every part (the
  delivery is one message: ``parts_sent`` goes from 0 to all at once). A 5xx refusal
  pauses the subscription; a 4xx or a connection error leaves it pending.
* ``inbox``: otherwise (web chat users): nothing to send.
For ``email`` and ``inbox`` the parts are also written to the person's outbox in the
transaction that records the delivery (exactly once by construction): the web chat
shows them when the person comes back (``/api/chat/resume``, ``/api/chat/inbox``).

Alerts: a subscriber with ``alerts`` on gets, at most once a day (period
``alert-YYYY-MM-DD``), the new entries that fit one of their open needs with a score
>= :data:`ALERT_MIN_SCORE`; the weekly digest still lists them (alerts move no watermark).
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

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.config import Settings
from core.db import Database
from core.messages import t
from core.models import (
    ChatIdentity,
    DigestDelivery,
    Meta,
    Outbox,
    Person,
    Subscription,
    as_utc,
)
from digest.compose import DigestContent, DigestMatcher, Part, collect, render
from digest.mail import (
    UNSUBSCRIBE,
    Mailer,
    MailRefused,
    MailTemporary,
    digest_message,
    sign,
    unsubscribe_url,
)
from digest.schedule import due_period, is_active, period_key
from digest.sender import Clock, Forbidden, RetryAfter, Sender, SystemClock, retry_after_seconds

__all__ = [
    "ALERT_MIN_SCORE",
    "LOCK_KEY",
    "DigestRunner",
    "Lease",
    "RunReport",
    "alert_items",
]

log = logging.getLogger(__name__)

LOCK_KEY = "digest_lock"
TRANSPORT = "telegram"
PENDING, SENT, EMPTY, BLOCKED = "pending", "sent", "empty", "blocked"
TELEGRAM, EMAIL, INBOX = "telegram", "email", "inbox"
ALERT_PREFIX = "alert-"
#: Score from which a new solution "fits an open need very well" (instant alert): its
#: dense similarity to the need (digest.match). Calibrated with ``piu bench
#: digest-threshold``: from 0.76 no unlabelled pair of the 5 x 660 remains (6 of the 13
#: relevant pairs are above it); 0.72 lets 7 in.
ALERT_MIN_SCORE = 0.76


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
    emails_sent: int = 0
    inbox: int = 0  # deliveries written to the web chat's inbox only
    alerts: int = 0  # alert deliveries recorded
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
        sender: Sender | None,
        matcher: DigestMatcher | Callable[[], DigestMatcher],
        *,
        mailer: Mailer | None = None,
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
        self.mailer = mailer
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
                self.compose_alerts(report)
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
            rows = session.execute(_subscribers()).all()
            delivered = {
                (sid, period)
                for sid, period in session.execute(
                    select(DigestDelivery.subscription_id, DigestDelivery.period)
                )
            }
            pending = set(
                session.scalars(
                    select(DigestDelivery.subscription_id).where(
                        DigestDelivery.status == PENDING,
                        DigestDelivery.period.not_like(f"{ALERT_PREFIX}%"),
                    )
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
                if period is None:
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
                row = self._row(sub, person.id, chat_id, period, parts, now)
                new_rows.append(row)
                report.inbox += bool(parts) and row["channel"] == INBOX
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

    @staticmethod
    def _row(
        sub: Subscription,
        person_id: int,
        chat_id: str | None,
        period: str,
        parts: list[Part],
        now: dt.datetime,
    ) -> dict[str, Any]:
        """A delivery row to insert (``_person_id``: whose outbox gets an inbox copy)."""
        if chat_id is not None:
            channel = TELEGRAM
        elif sub.email and sub.email_confirmed_at is not None:
            channel = EMAIL
        else:
            channel = INBOX
        done = not parts or channel == INBOX
        return {
            "subscription_id": sub.id,
            "period": period,
            "channel": channel,
            "payload": [p.to_json() for p in parts],
            "parts_sent": len(parts) if channel == INBOX else 0,
            "status": (SENT if parts else EMPTY) if done else PENDING,
            "attempts": 0,
            "created_at": now,
            "sent_at": now if done else None,
            "_person_id": person_id,
        }

    def compose_alerts(self, report: RunReport) -> None:
        """Today's alert for subscribers with ``alerts`` on, when a new entry fits one of
        their open needs with a score >= ALERT_MIN_SCORE (at most one a day: the period)."""
        now = as_utc(self.now())
        period = f"{ALERT_PREFIX}{now.astimezone(self.tz).date().isoformat()}"
        matcher: DigestMatcher | None = None
        cache: dict[object, object] = {}
        new_rows: list[dict[str, Any]] = []
        with self.db.session() as session:
            rows = session.execute(
                _subscribers(Subscription.alerts.is_(True), Subscription.paused.is_(False))
            ).all()
            if not rows:
                return
            last_alert = {
                sid: as_utc(at)
                for sid, at in session.execute(
                    select(DigestDelivery.subscription_id, func.max(DigestDelivery.created_at))
                    .where(DigestDelivery.period.like(f"{ALERT_PREFIX}%"))
                    .group_by(DigestDelivery.subscription_id)
                )
            }
            today = set(
                session.scalars(
                    select(DigestDelivery.subscription_id).where(DigestDelivery.period == period)
                )
            )
            seen: set[int] = set()
            for sub, person, chat_id in rows:
                if sub.id in seen or sub.id in today or not is_active(sub):
                    continue
                seen.add(sub.id)
                since = as_utc(sub.watermark or sub.created_at or now)
                if sub.id in last_alert:
                    since = max(since, last_alert[sub.id])
                if matcher is None:
                    matcher = self._make_matcher()
                with session.no_autoflush:
                    content = collect(
                        session, matcher, sub, person, since=since, until=now, cache=cache
                    )
                strong = alert_items(content)
                if strong.is_empty:
                    continue
                lang = sub.language or person.language or "fr"
                parts = render(strong, lang)
                parts[0].text = t("alert_header", lang) + "\n\n" + parts[0].text
                new_rows.append(self._row(sub, person.id, chat_id, period, parts, now))
                report.alerts += 1
        if new_rows:
            self._record(new_rows)

    async def run_alerts(self) -> RunReport:
        """Alerts only (a frequent job): compose them and send what is pending."""
        if self._lock.locked():
            return RunReport(locked=True)
        async with self._lock:
            if not self.lease.acquire():
                return RunReport(locked=True)
            report = RunReport()
            try:
                self.compose_alerts(report)
                if report.alerts:
                    await self.send_pending(report)
            finally:
                self.lease.release()
            return report

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
        session.execute(
            insert(DigestDelivery), [{k: v for k, v in r.items() if k[0] != "_"} for r in rows]
        )
        inbox = [
            {
                "person_id": r["_person_id"],
                "payload": {"kind": "digest", "period": r["period"], **_outbox_payload(part)},
                "created_at": r["created_at"],
            }
            for r in rows
            if r["channel"] != TELEGRAM
            for part in r["payload"]
        ]
        if inbox:
            session.execute(insert(Outbox), inbox)
        for row in rows:
            if row["period"].startswith(ALERT_PREFIX):
                continue  # alerts move no watermark: the digest lists them again
            if row["status"] == EMPTY:
                values = {"watermark": row["created_at"]}
            elif row["status"] == SENT:  # the inbox only: delivered by this insert
                values = {"watermark": row["created_at"], "last_sent_at": row["created_at"]}
            else:
                continue
            session.execute(
                update(Subscription)
                .where(Subscription.id == row["subscription_id"])
                .values(**values)
            )

    # -- send ---------------------------------------------------------------------------
    async def send_pending(self, report: RunReport) -> None:
        started = time.perf_counter()
        with self.db.session() as session:
            jobs = session.execute(
                select(DigestDelivery.id, DigestDelivery.channel, ChatIdentity.external_id)
                .join(Subscription, Subscription.id == DigestDelivery.subscription_id)
                .outerjoin(
                    ChatIdentity,
                    (ChatIdentity.person_id == Subscription.person_id)
                    & (ChatIdentity.transport == TRANSPORT),
                )
                .where(DigestDelivery.status == PENDING, Subscription.paused.is_(False))
                .order_by(DigestDelivery.id)
            ).all()
        queue: asyncio.Queue[tuple[int, str, str | None]] = asyncio.Queue()
        seen: set[int] = set()
        for delivery_id, channel, chat_id in jobs:
            if delivery_id in seen:
                continue
            if channel == EMAIL and self.mailer is None:
                continue  # no relay configured here: stays pending
            if channel == TELEGRAM and (self.sender is None or chat_id is None):
                continue
            seen.add(delivery_id)
            queue.put_nowait((delivery_id, channel, chat_id))
        last_renew = [time.monotonic()]

        async def worker() -> None:
            while not queue.empty():
                delivery_id, channel, chat_id = queue.get_nowait()
                if channel == EMAIL:
                    await self._deliver_email(delivery_id, report)
                elif chat_id is not None:
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
            alert = delivery.period.startswith(ALERT_PREFIX)
        assert self.sender is not None  # send_pending queues Telegram only with a sender
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
            self._commit_part(
                delivery_id, subscription_id, index, len(parts), watermark, move=not alert
            )
        report.deliveries_completed += 1

    async def _deliver_email(self, delivery_id: int, report: RunReport) -> None:
        """The delivery as one mail; exactly once like a Telegram part (see the module)."""
        assert self.mailer is not None
        with self.db.session() as session:
            delivery = session.get(DigestDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING:
                return
            sub = session.get(Subscription, delivery.subscription_id)
            assert sub is not None
            parts = [Part.from_json(p) for p in delivery.payload]
            watermark, subscription_id = delivery.created_at, sub.id
            alert = delivery.period.startswith(ALERT_PREFIX)
            if not sub.email or sub.email_confirmed_at is None:  # unsubscribed meanwhile
                delivery.status, delivery.sent_at = SENT, as_utc(self.now())
                delivery.last_error = "no confirmed e-mail address: the inbox copy only"
                if not alert:
                    sub.watermark = watermark
                return
            lang = sub.language if sub.language in ("fr", "en") else "fr"
            token = sign(self.settings, UNSUBSCRIBE, sub.id, sub.email, expires=None)
            subject_key = "email_alert_subject" if alert else "email_digest_subject"
            msg = digest_message(
                self.settings,
                to=sub.email,
                subject=t(subject_key, lang, date=_local_date(watermark, self.tz, lang)),
                parts=[(_for_mail(p.text, lang), p.buttons) for p in parts],
                lang=lang,
                unsubscribe=unsubscribe_url(self.settings, token),
                message_id=f"<piu-digest-{delivery_id}@piu.invalid>",  # same id on a resend
            )
        try:
            await asyncio.to_thread(self.mailer.send, msg)
        except MailRefused as exc:
            self._block(delivery_id, subscription_id, str(exc), reason=f"e-mail refused: {exc}")
            report.paused += 1
            return
        except MailTemporary as exc:
            log.warning("digest: e-mail delivery %s failed (will retry): %s", delivery_id, exc)
            self._fail(delivery_id, str(exc))
            report.errors += 1
            return
        report.emails_sent += 1
        self._commit_part(
            delivery_id, subscription_id, len(parts), len(parts), watermark, move=not alert
        )
        report.deliveries_completed += 1

    def _commit_part(
        self,
        delivery_id: int,
        subscription_id: int,
        sent: int,
        total: int,
        watermark: dt.datetime,
        *,
        move: bool = True,
    ) -> None:
        now = as_utc(self.now())
        with self.db.session() as session:
            values: dict[str, Any] = {"parts_sent": sent}
            if sent >= total:
                values.update(status=SENT, sent_at=now)
            session.execute(
                update(DigestDelivery).where(DigestDelivery.id == delivery_id).values(**values)
            )
            values = {"watermark": watermark, "last_sent_at": now} if move else {}
            if values:
                session.execute(
                    update(Subscription).where(Subscription.id == subscription_id).values(**values)
                )

    def _fail(self, delivery_id: int, error: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(DigestDelivery)
                .where(DigestDelivery.id == delivery_id)
                .values(attempts=DigestDelivery.attempts + 1, last_error=error[:2000])
            )

    def _block(
        self,
        delivery_id: int,
        subscription_id: int,
        error: str,
        *,
        reason: str = "blocked: the user blocked the bot",
    ) -> None:
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
                .values(paused=True, paused_reason=reason[:200])
            )


# -- helpers --------------------------------------------------------------------------------
def _subscribers(*where: Any) -> Any:
    """(subscription, person, Telegram chat id or None) rows, by subscription."""
    return (
        select(Subscription, Person, ChatIdentity.external_id)
        .join(Person, Person.id == Subscription.person_id)
        .outerjoin(
            ChatIdentity,
            (ChatIdentity.person_id == Person.id) & (ChatIdentity.transport == TRANSPORT),
        )
        .where(*where)
        .order_by(Subscription.id)
    )


def alert_items(content: DigestContent) -> DigestContent:
    """Only the new solutions that fit one of a buyer's open needs very well (score >=
    ALERT_MIN_SCORE); a start-up's new needs wait for the digest (their score is a ranking
    score, not calibrated for alerts)."""
    return DigestContent(
        role=content.role,
        since=content.since,
        until=content.until,
        solutions=[s for s in content.solutions if s.score >= ALERT_MIN_SCORE],
    )


def _outbox_payload(part: dict[str, Any]) -> dict[str, Any]:
    """A stored part (``Part.to_json``) as an outbox payload the engine renders."""
    return {
        "text": part["text"],
        "buttons": [{"id": data, "label": label} for row in part["buttons"] for label, data in row],
    }


def _for_mail(text: str, lang: str) -> str:
    """A part's text for a mail: the chat footer (buttons, /digest) says links instead."""
    footer = t("digest_footer", lang)
    return text[: -len(footer)] + t("email_digest_footer", lang) if text.endswith(footer) else text


def _local_date(value: dt.datetime, tz: ZoneInfo, lang: str) -> str:
    local = as_utc(value).astimezone(tz)
    return local.strftime("%d/%m/%Y") if lang == "fr" else local.strftime("%Y-%m-%d")
