"""Per-user chat rate limit (bot/ratelimit.py) inside the real engine: a notice beyond it,
nothing processed, per (transport, user), rolling window."""

from __future__ import annotations

from sqlalchemy import func, select

from api.wiring import build_engine
from bot.ratelimit import ChatRateLimiter
from core.config import Settings
from core.db import Database
from core.messages import t
from core.models import ConversationState, Person
from matcher.service import MatchService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_window_and_buckets() -> None:
    clock = Clock()
    limiter = ChatRateLimiter(3, clock=clock)
    assert [limiter.retry_after("web", "a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("web", "a") == 60
    assert limiter.retry_after("telegram", "a") is None  # per transport
    assert limiter.retry_after("web", "b") is None  # per user
    clock.now += 30
    assert limiter.retry_after("web", "a") == 30  # refused hits are not recorded
    clock.now += 30.5
    assert limiter.retry_after("web", "a") is None  # the window slid
    assert ChatRateLimiter(0).retry_after("web", "a") is None  # 0 disables


def test_engine_refuses_beyond_the_limit_and_processes_nothing(
    db: Database, settings: Settings
) -> None:
    limited = settings.model_copy(update={"chat_rate_limit_per_minute": 4})
    engine = build_engine(db, MatchService(db, limited), limited)
    clock = Clock()
    engine.rate_limit.clock = clock
    for text in ("bonjour", "/besoin", "/aide", "/aide"):
        out = engine.handle("web", "u1", text=text)
        assert t("rate_limited", "fr", seconds=60) not in [m.text for m in out]
    with db.session() as session:
        before = session.scalars(select(ConversationState)).one()
        before = (before.flow, before.step, dict(before.data), before.updated_at)
    out = engine.handle("web", "u1", text="/annuler")
    assert [m.text for m in out] == [t("rate_limited", "fr", seconds=60)]
    assert "trop vite" in out[0].text or "un peu vite" in out[0].text
    out = engine.handle("web", "u1", choice="role:buyer@0")  # buttons count too
    assert "un peu vite" in out[0].text
    with db.session() as session:
        after = session.scalars(select(ConversationState)).one()
        assert (after.flow, after.step, dict(after.data), after.updated_at) == before
    # an unknown user over the limit creates no row (nothing processed at all)
    engine.rate_limit = ChatRateLimiter(1, clock=clock)
    engine.handle("web", "u2", text="bonjour")
    with db.session() as session:
        people = session.scalar(select(func.count()).select_from(Person))
    assert "un peu vite" in engine.handle("web", "u2", text="x")[0].text
    assert "un peu vite" in engine.handle("web", "u2", text="y")[0].text
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == people
    # other users are not affected; after the window the user is served again
    assert "un peu vite" not in engine.handle("web", "u3", text="bonjour")[0].text
    clock.now += 61
    out = engine.handle("web", "u2", text="/aide")
    assert "/besoin" in "\n".join(m.text for m in out)


def test_notice_in_english_for_english_users(db: Database, settings: Settings) -> None:
    limited = settings.model_copy(update={"chat_rate_limit_per_minute": 1})
    engine = build_engine(db, MatchService(db, limited), limited)
    engine.handle("web", "en", text="We are looking for a solution to reduce food waste")
    out = engine.handle("web", "en", text="hello")
    assert out[0].text.startswith("You are writing a little fast")
