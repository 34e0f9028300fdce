"""Sending digest parts: the Sender protocol, a rate-limited Telegram sender and a fake.

Errors a sender raises (PTB's own classes, so the real bot and the fake agree):

- ``telegram.error.RetryAfter``: flood control; wait ``retry_after`` seconds, then retry.
- ``telegram.error.Forbidden``: the user blocked the bot; the subscription is paused.
- anything else: the delivery stays pending and is retried on the next run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from telegram.error import Forbidden, RetryAfter

__all__ = [
    "Buttons",
    "Clock",
    "FakeSender",
    "Forbidden",
    "RateLimiter",
    "RetryAfter",
    "Sender",
    "SentMessage",
    "SimulatedCrash",
    "SystemClock",
    "TelegramSender",
    "VirtualClock",
    "make_retry_after",
    "retry_after_seconds",
]

#: Rows of (label, callback_data) buttons, JSON-serialisable.
Buttons = list[list[tuple[str, str]]]

T = TypeVar("T")


class Sender(Protocol):
    async def send(self, chat_id: str, text: str, buttons: Buttons) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Monotonic seconds and real sleeping."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Simulated time for benchmarks: sleeping costs nothing, time jumps to the next wake-up.

    Drive a coroutine with :meth:`run`; whenever every task is waiting on this clock,
    time advances to the earliest wake-up (a discrete-event simulation).
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (self._now + seconds, next(self._seq), future))
        await future

    async def run(self, coro: Coroutine[Any, Any, T], *, idle_spins: int = 20) -> T:
        task = asyncio.ensure_future(coro)
        while not task.done():
            for _ in range(idle_spins):
                await asyncio.sleep(0)
                if task.done():
                    break
            if task.done() or not self._waiting:
                continue
            wake = self._waiting[0][0]
            self._now = max(self._now, wake)
            while self._waiting and self._waiting[0][0] <= self._now:
                _, _, future = heapq.heappop(self._waiting)
                if not future.done():
                    future.set_result(None)
        return task.result()


class RateLimiter:
    """At most ``per_second`` messages overall and one per ``per_chat_interval`` per chat.

    ``acquire(chat_id)`` waits for the chat's own interval, then reserves the next
    global slot (reservations are synchronous, so concurrent tasks never collide).
    """

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        per_chat_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.interval = 1.0 / per_second
        self.per_chat_interval = per_chat_interval
        self.clock: Clock = clock or SystemClock()
        self._next_global = float("-inf")
        self._next_chat: dict[str, float] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}

    async def acquire(self, chat_id: str) -> None:
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:  # one waiter per chat, so its interval is measured from the last slot
            wait = self._next_chat.get(chat_id, float("-inf")) - self.clock.now()
            if wait > 0:
                await self.clock.sleep(wait)
            now = self.clock.now()
            slot = max(now, self._next_global)
            self._next_global = slot + self.interval
            self._next_chat[chat_id] = slot + self.per_chat_interval
            if slot > now:
                await self.clock.sleep(slot - now)

    def penalise(self, seconds: float) -> None:
        """Flood control hit: nobody sends for ``seconds``."""
        self._next_global = max(self._next_global, self.clock.now() + seconds)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` as seconds (int or timedelta, without PTB's deprecation warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def make_retry_after(seconds: float) -> RetryAfter:
    """PTB's RetryAfter (its constructor warns about a future type change: silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RetryAfter(dt.timedelta(seconds=seconds))


def inline_keyboard(buttons: Buttons) -> Any:
    """PTB InlineKeyboardMarkup for ``buttons`` (None when there are none)."""
    if not buttons:
        return None
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


class TelegramSender:
    """Sends through a PTB ``Bot`` within Telegram's limits (30 msg/s, 1 msg/s per chat)."""

    def __init__(self, bot: Any, *, limiter: RateLimiter | None = None) -> None:
        self.bot = bot
        self.limiter = limiter or RateLimiter()

    async def send(self, chat_id: str, text: str, buttons: Buttons) -> None:
        await self.limiter.acquire(chat_id)
        try:
            await self.bot.send_message(
                chat_id=int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
                text=text,
                reply_markup=inline_keyboard(buttons),
                disable_web_page_preview=True,
            )
        except RetryAfter as exc:
            self.limiter.penalise(retry_after_seconds(exc))
            raise


@dataclass
class SentMessage:
    chat_id: str
    text: str
    buttons: Buttons
    at: float


@dataclass
class FakeSender:
    """A fake of the network to Telegram: records messages, can simulate errors.

    - ``blocked``: chat ids that raise ``Forbidden`` (they blocked the bot);
    - ``retry_after``: chat id -> seconds; the next send to it raises ``RetryAfter`` once;
    - ``fail``: chat id -> number of sends that raise ``ConnectionError`` before succeeding;
    - ``crash_at``: the send attempt with that (1-based) number raises ``SimulatedCrash``
      (a BaseException, like a kill) before sending: tests resuming a half-done run.
    """

    limiter: RateLimiter | None = None
    clock: Clock | None = None
    blocked: set[str] = field(default_factory=set)
    retry_after: dict[str, float] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    crash_at: int | None = None
    sent: list[SentMessage] = field(default_factory=list)
    attempts: int = 0
    on_send: Callable[[SentMessage], Awaitable[None]] | None = None

    async def send(self, chat_id: str, text: str, buttons: Buttons) -> None:
        if self.limiter is not None:
            await self.limiter.acquire(chat_id)
        self.attempts += 1
        if self.crash_at is not None and self.attempts == self.crash_at:
            raise SimulatedCrash(f"killed before send attempt {self.attempts}")
        if chat_id in self.blocked:
            raise Forbidden("Forbidden: bot was blocked by the user")
        if chat_id in self.retry_after:
            seconds = self.retry_after.pop(chat_id)
            if self.limiter is not None:
                self.limiter.penalise(seconds)
            raise make_retry_after(seconds)
        if self.fail.get(chat_id, 0) > 0:
            self.fail[chat_id] -= 1
            raise ConnectionError("simulated network failure")
        clock = self.clock or (self.limiter.clock if self.limiter else None)
        message = SentMessage(
            chat_id, text, [list(r) for r in buttons], clock.now() if clock else 0.0
        )
        self.sent.append(message)
        if self.on_send is not None:
            await self.on_send(message)

    def texts_for(self, chat_id: str) -> list[str]:
        return [m.text for m in self.sent if m.chat_id == chat_id]


class SimulatedCrash(BaseException):
    """Raised by FakeSender.crash_at: the process 'dies' before a send."""
