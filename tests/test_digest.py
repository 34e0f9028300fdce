"""Digest: schedule (fake clock, DST), exactly-once runs, errors, splitting, languages."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import Database, set_meta
from core.domain import IntroStatus, NeedStatus, Role, fold
from core.models import (
    ChatIdentity,
    DigestDelivery,
    Experience,
    Introduction,
    Need,
    Person,
    Solution,
    Subscription,
)
from digest.commands import describe, set_subscription, subscription_status
from digest.compose import (
    MAX_CHARS,
    DigestContent,
    NeedItem,
    RexItem,
    SolutionItem,
    render,
    split_text,
)
from digest.run import LOCK_KEY, DigestRunner, Lease
from digest.schedule import due_period, last_slot, next_slot, period_key
from digest.sender import FakeSender, RateLimiter, SimulatedCrash, VirtualClock

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS).astimezone(UTC)


class _KeywordMatcher:
    """Deterministic DigestMatcher for fast tests: shared long words (the real one is slow)."""

    @staticmethod
    def _words(text: str) -> set[str]:
        return {w for w in fold(text).split() if len(w) >= 6}

    def __init__(self, db: Database) -> None:
        self.db = db

    def solutions_for_need(self, need, candidates):  # type: ignore[no-untyped-def]
        words = self._words(need.raw_text)
        with self.db.session() as s:
            sols = [s.get(Solution, i) for i in sorted(candidates)]
            return [(x.id, 0.9) for x in sols if words & self._words(x.index_text())]

    def needs_for_solution(self, solution_id, candidates):  # type: ignore[no-untyped-def]
        with self.db.session() as s:
            words = self._words(s.get(Solution, solution_id).index_text())
            needs = s.query(Need).filter(Need.status == NeedStatus.OPEN).all()
            return [
                (n.id, 0.8) for n in needs if n.id in candidates and words & self._words(n.raw_text)
            ]


class _Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.value = start
        self.slept: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.value

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _person(db: Database, chat: str, role: Role, *, lang: str = "fr", at: dt.datetime) -> int:
    with db.session() as s:
        p = Person(role=role, language=lang, display_name=f"user {chat}")
        s.add(p)
        s.flush()
        s.add(ChatIdentity(person_id=p.id, transport="telegram", external_id=chat))
        s.add(
            Subscription(
                person_id=p.id, language=lang, created_at=at, watermark=at, weekday=0, hour=9
            )
        )
        return p.id


def _need(db: Database, owner: int, text: str, at: dt.datetime, band: str = "10k-50k") -> int:
    with db.session() as s:
        n = Need(
            owner_id=owner, raw_text=text, status=NeedStatus.OPEN, size_band=band, created_at=at
        )
        s.add(n)
        s.flush()
        return n.id


def _solution(db: Database, key: str, title: str, at: dt.datetime, by: int | None = None) -> int:
    with db.session() as s:
        x = Solution(
            external_id=key, title=title, mission=f"{title}, mission", created_at=at,
            submitted_by_id=by, themes=["mobilité"],
        )  # fmt: skip
        s.add(x)
        s.flush()
        return x.id


def _runner(db, settings, sender, clock, **kw) -> DigestRunner:  # type: ignore[no-untyped-def]
    return DigestRunner(
        db, settings, sender, _KeywordMatcher(db), now=clock, clock=clock, concurrency=1, **kw
    )


# -- schedule ------------------------------------------------------------------------------
def test_last_slot_across_week_boundary() -> None:
    sunday_night = paris(2026, 1, 11, 23, 59)  # Sunday
    assert last_slot(0, 9, sunday_night, PARIS) == paris(2026, 1, 5, 9)
    assert last_slot(0, 9, paris(2026, 1, 12, 8, 59), PARIS) == paris(2026, 1, 5, 9)
    assert last_slot(0, 9, paris(2026, 1, 12, 9), PARIS) == paris(2026, 1, 12, 9)
    assert next_slot(0, 9, sunday_night, PARIS) == paris(2026, 1, 12, 9)
    assert period_key(paris(2026, 1, 12, 9), PARIS) == "2026-W03"
    # ISO weeks across the new year: Monday 2025-12-29 belongs to 2026-W01
    assert period_key(paris(2025, 12, 29, 9), PARIS) == "2026-W01"


def test_slots_follow_paris_time_across_dst() -> None:
    # Summer time starts on Sunday 2026-03-29: Monday 09:00 moves from 08:00 to 07:00 UTC.
    assert last_slot(0, 9, paris(2026, 3, 29, 12), PARIS) == dt.datetime(2026, 3, 23, 8, tzinfo=UTC)
    assert last_slot(0, 9, paris(2026, 3, 30, 9), PARIS) == dt.datetime(2026, 3, 30, 7, tzinfo=UTC)
    # Winter time on 2026-10-25: back to 08:00 UTC.
    assert last_slot(0, 9, paris(2026, 10, 26, 9), PARIS) == dt.datetime(
        2026, 10, 26, 8, tzinfo=UTC
    )
    # A Sunday 02:00 slot on the spring-forward night (02:00 does not exist) still fires once.
    slot = last_slot(6, 2, paris(2026, 3, 29, 12), PARIS)
    assert slot.astimezone(PARIS).date() == dt.date(2026, 3, 29)


def test_due_period_respects_pause_off_and_new_subscribers() -> None:
    sub = Subscription(weekday=0, hour=9, cadence="weekly", paused=False)
    sub.created_at = paris(2026, 1, 1, 12)
    assert due_period(sub, paris(2026, 1, 12, 9, 30), PARIS) == "2026-W03"
    sub.created_at = paris(2026, 1, 12, 9, 10)  # subscribed after this week's slot
    assert due_period(sub, paris(2026, 1, 12, 9, 30), PARIS) is None
    sub.created_at = paris(2026, 1, 1, 12)
    sub.paused = True
    assert due_period(sub, paris(2026, 1, 12, 9, 30), PARIS) is None
    sub.paused, sub.cadence = False, "off"
    assert due_period(sub, paris(2026, 1, 12, 9, 30), PARIS) is None


# -- runs with a fake clock ------------------------------------------------------------------
async def test_weekly_run_with_fake_clock_sends_once_and_skips_empty_weeks(db, settings) -> None:
    start = paris(2026, 1, 11, 12)  # Sunday noon
    buyer = _person(db, "100", Role.BUYER, at=start)
    _need(db, buyer, "Réduire les dépôts sauvages avec des caméras", start)
    clock = _Clock(paris(2026, 1, 11, 23, 59))
    _solution(
        db, "cam-1", "Caméras intelligentes contre les dépôts sauvages", paris(2026, 1, 11, 18)
    )
    sender = FakeSender()
    runner = _runner(db, settings, sender, clock)

    assert (await runner.run()).messages_sent == 0  # Sunday 23:59: not yet
    clock.value = paris(2026, 1, 12, 8, 59)
    assert (await runner.run()).messages_sent == 0
    clock.value = paris(2026, 1, 12, 9, 0)  # Monday 09:00 Paris
    report = await runner.run()
    assert report.messages_sent == 1 and report.deliveries_completed == 1
    assert "Caméras intelligentes" in sender.sent[0].text
    with db.session() as session:
        cam_id = session.scalar(select(Solution.id).where(Solution.external_id == "cam-1"))
    assert sender.sent[0].buttons[0][0][1] == f"digest:sol:{cam_id}"
    clock.value = paris(2026, 1, 12, 10, 0)  # the hourly job again: nothing twice
    assert (await runner.run()).messages_sent == 0
    # An empty week: nothing new -> nothing sent, but the week is recorded.
    clock.value = paris(2026, 1, 19, 9, 0)
    report = await runner.run()
    assert report.messages_sent == 0 and report.empty == 1
    # A new matching solution the week after -> only that one.
    _solution(db, "cam-2", "Autre caméras dépôts sauvages", paris(2026, 1, 20, 10))
    clock.value = paris(2026, 1, 26, 9, 0)
    await runner.run()
    assert len(sender.sent) == 2
    assert "Autre caméras" in sender.sent[1].text
    assert "Caméras intelligentes" not in sender.sent[1].text
    with db.session() as s:
        periods = sorted(d.period for d in s.query(DigestDelivery))
        sub = s.query(Subscription).one()
    assert periods == ["2026-W03", "2026-W04", "2026-W05"]
    assert sub.watermark.replace(tzinfo=UTC) == paris(2026, 1, 26, 9)


async def test_missed_digest_is_caught_up_once_at_start(db, settings) -> None:
    start = paris(2026, 1, 5, 12)
    buyer = _person(db, "100", Role.BUYER, at=start)
    _need(db, buyer, "Mobilité partagée vélos électriques", start)
    _solution(db, "velo", "Vélos électriques partagés", paris(2026, 1, 7, 12))
    sender = FakeSender()
    # The bot was down on Monday 12 at 09:00 and restarts on Wednesday 14.
    clock = _Clock(paris(2026, 1, 14, 15))
    await _runner(db, settings, sender, clock).run()
    await _runner(db, settings, sender, clock).run()
    assert len(sender.sent) == 1


def _long_buyer(db: Database, chat: str, start: dt.datetime, n: int = 14) -> int:
    buyer = _person(db, chat, Role.BUYER, at=start)
    _need(db, buyer, f"Stationnement intelligent capteurs {chat}", start)
    for i in range(n):
        _solution(
            db,
            f"park-{chat}-{i}",
            f"Capteurs stationnement {chat} n°{i} " + "détail " * 38,  # ≤ 300 characters
            start + dt.timedelta(hours=1),
        )
    return buyer


async def test_restart_mid_run_resumes_without_duplicates(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    _long_buyer(db, "A", start)  # long entries: 2 messages
    b = _person(db, "B", Role.BUYER, at=start)
    _need(db, b, "Compostage collectif biodéchets", start)
    _solution(db, "compost", "Compostage biodéchets de quartier", start + dt.timedelta(hours=2))
    clock = _Clock(paris(2026, 1, 12, 9, 5))
    crashing = FakeSender(crash_at=2)  # killed after A's part 1 was sent and committed
    with pytest.raises(SimulatedCrash):
        await _runner(db, settings, crashing, clock, owner="w1").run()
    assert crashing.texts_for("A") and not crashing.texts_for("B")
    with db.session() as s:
        a_delivery = s.query(DigestDelivery).order_by(DigestDelivery.id).first()
        assert a_delivery.parts_sent == 1 and len(a_delivery.payload) == 2
        # kill -9 leaves the lease behind: emulate it (the crash above released it)
        expires = (clock.value + dt.timedelta(minutes=15)).isoformat()
        set_meta(s, LOCK_KEY, f"w1:{expires}")

    second = FakeSender()
    assert (await _runner(db, settings, second, clock, owner="w2").run()).locked
    clock.value += dt.timedelta(minutes=16)  # the dead worker's lease expires
    report = await _runner(db, settings, second, clock, owner="w2").run()
    assert not report.locked
    assert second.texts_for("A") == [a_delivery.payload[1]["text"]]  # only part 2
    assert len(second.texts_for("B")) == 1
    both = crashing.sent + second.sent
    assert len({(m.chat_id, m.text) for m in both}) == len(both) == 3
    assert (await _runner(db, settings, FakeSender(), clock, owner="w3").run()).messages_sent == 0


async def test_blocked_user_is_paused_and_others_served(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    for chat in ("1", "2"):
        p = _person(db, chat, Role.BUYER, at=start)
        _need(db, p, "Éclairage public intelligent", start)
    _solution(db, "light", "Éclairage public intelligent LED", start + dt.timedelta(hours=1))
    sender = FakeSender(blocked={"1"})
    clock = _Clock(paris(2026, 1, 12, 9))
    report = await _runner(db, settings, sender, clock).run()
    assert report.paused == 1 and sender.texts_for("2") and not sender.texts_for("1")
    with db.session() as s:
        subs = {i.external_id: s.get(Subscription, i.person_id) for i in s.query(ChatIdentity)}
        subs = {
            c: s.query(Subscription).filter_by(person_id=i).one()
            for c, i in s.query(ChatIdentity.external_id, ChatIdentity.person_id)
        }
        assert subs["1"].paused and "blocked" in subs["1"].paused_reason
        assert not subs["2"].paused
    # Unblocked and re-subscribed in chat: the pause is lifted.
    with db.session() as s:
        pid = s.query(ChatIdentity).filter_by(external_id="1").one().person_id
        assert set_subscription(s, pid, cadence="weekly").paused is False


async def test_retry_after_is_honoured_and_other_errors_retried_next_run(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    for chat in ("1", "2"):
        p = _person(db, chat, Role.BUYER, at=start)
        _need(db, p, "Végétalisation des cours d'école", start)
    _solution(db, "oasis", "Cours d'école végétalisation oasis", start + dt.timedelta(hours=1))
    sender = FakeSender(retry_after={"1": 7}, fail={"2": 1})
    clock = _Clock(paris(2026, 1, 12, 9))
    report = await _runner(db, settings, sender, clock).run()
    assert clock.slept == [7.0] and report.retry_after_waits == 1
    assert len(sender.texts_for("1")) == 1  # retried after waiting
    assert report.errors == 1 and not sender.texts_for("2")
    with db.session() as s:
        failed = s.query(DigestDelivery).filter_by(status="pending").one()
        assert failed.attempts == 1 and "ConnectionError" in failed.last_error
    clock.value = paris(2026, 1, 12, 10)  # next hourly run: the pending one goes out
    await _runner(db, settings, sender, clock).run()
    assert len(sender.texts_for("2")) == 1 and len(sender.texts_for("1")) == 1


async def test_startup_and_facilitator_digests(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    startup = _person(db, "S", Role.STARTUP, lang="en", at=start)
    _solution(
        db,
        "mine",
        "Covoiturage quotidien domicile travail",
        start - dt.timedelta(days=30),
        by=startup,
    )
    _person(db, "F", Role.FACILITATOR, at=start)
    buyer = _person(db, "B", Role.BUYER, at=start)
    _need(db, buyer, "Développer le covoiturage quotidien", start + dt.timedelta(hours=2))
    with db.session() as s:
        s.add(
            Introduction(
                requester_id=buyer, target_person_id=startup, status=IntroStatus.REQUESTED,
                message="Pouvons-nous parler ?", created_at=start + dt.timedelta(hours=3),
            )
        )  # fmt: skip
        s.add(
            Experience(
                external_id="rex-1",
                title="REX",
                population=20000,
                created_at=start + dt.timedelta(hours=4),
            )
        )
    sender = FakeSender()
    await _runner(db, settings, sender, _Clock(paris(2026, 1, 12, 9))).run()
    (s_text,) = sender.texts_for("S")
    assert "New needs" in s_text and "covoiturage quotidien" in s_text
    assert "Introduction requests" in s_text
    (f_text,) = sender.texts_for("F")
    assert "1 nouveau(x) besoin(s)" in f_text and "1 mise(s) en relation" in f_text
    (b_text,) = sender.texts_for("B")  # the buyer: the new REX at their size band
    with db.session() as session:
        rex_id = session.scalar(select(Experience.id).where(Experience.external_id == "rex-1"))
    assert (
        "retours d'expérience" in b_text and f"digest:rex:{rex_id}" in str(sender.sent[-1].buttons)
    ) or "REX" in b_text


async def test_theme_filter(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    buyer = _person(db, "1", Role.BUYER, at=start)
    _need(db, buyer, "Mobilité vélos partagés", start)
    with db.session() as s:
        s.query(Subscription).update({"themes": ["énergie"]})
    _solution(db, "velo", "Vélos partagés mobilité", start + dt.timedelta(hours=1))  # mobilité
    sender = FakeSender()
    report = await _runner(db, settings, sender, _Clock(paris(2026, 1, 12, 9))).run()
    assert report.empty == 1 and not sender.sent


async def test_dry_run_sends_nothing_and_records_nothing(db, settings) -> None:
    start = paris(2026, 1, 11, 12)
    buyer = _person(db, "1", Role.BUYER, at=start)
    _need(db, buyer, "Mobilité vélos partagés", start)
    _solution(db, "velo", "Vélos partagés mobilité", start + dt.timedelta(hours=1))
    sender = FakeSender()
    report = await _runner(db, settings, sender, _Clock(paris(2026, 1, 12, 9))).run(dry_run=True)
    assert len(report.previews) == 1 and "Vélos partagés" in report.previews[0].parts[0].text
    assert not sender.sent
    with db.session() as s:
        assert s.query(DigestDelivery).count() == 0


async def test_force_ignores_the_schedule(db, settings) -> None:
    start = paris(2026, 1, 12, 10)  # subscribed after Monday's slot
    buyer = _person(db, "1", Role.BUYER, at=start)
    _need(db, buyer, "Mobilité vélos partagés", start)
    _solution(db, "velo", "Vélos partagés mobilité", start + dt.timedelta(hours=1))
    sender = FakeSender()
    clock = _Clock(paris(2026, 1, 14, 15))  # Wednesday: not this subscriber's slot
    assert (await _runner(db, settings, sender, clock).run()).messages_sent == 0
    assert (await _runner(db, settings, sender, clock).run(force=True)).messages_sent == 1
    assert (await _runner(db, settings, sender, clock).run(force=True)).messages_sent == 0


# -- lease -------------------------------------------------------------------------------------
def test_lease_is_exclusive_until_expiry(db) -> None:
    now = [paris(2026, 1, 12, 9)]
    a = Lease(db, owner="a", seconds=60, now=lambda: now[0])
    b = Lease(db, owner="b", seconds=60, now=lambda: now[0])
    assert a.acquire() and not b.acquire()
    assert a.renew()
    now[0] += dt.timedelta(seconds=61)
    assert b.acquire() and not a.renew()  # a lost it
    b.release()
    assert a.acquire()


# -- rendering -------------------------------------------------------------------------------
def _content(n: int = 3, long: int = 0) -> DigestContent:
    c = DigestContent(role="buyer", since=paris(2026, 1, 5, 9), until=paris(2026, 1, 12, 9))
    c.solutions = [
        SolutionItem(f"s{i}", f"Solution {i} " + "x" * long, "mission", "besoin", 0.9, i + 1)
        for i in range(n)
    ]
    c.rex = [RexItem("r1", "Un REX", "Lyon", "success", 7)]
    return c


def test_render_in_both_languages() -> None:
    (fr,) = render(_content(), "fr")
    (en,) = render(_content(), "en")
    assert "Nouvelles solutions" in fr.text and "05/01/2026" in fr.text and "réussi" in fr.text
    assert "New solutions" in en.text and "2026-01-05" in en.text and "successful" in en.text
    assert [row[0][1] for row in fr.buttons] == [
        "digest:sol:1",
        "digest:sol:2",
        "digest:sol:3",
        "digest:rex:7",
    ]
    assert render(DigestContent("buyer", paris(2026, 1, 5), paris(2026, 1, 12)), "fr") == []
    c = DigestContent("startup", paris(2026, 1, 5), paris(2026, 1, 12))
    c.needs = [NeedItem(4, "Un besoin", None, "Ma solution", 0.5)]
    assert render(c, "en")[0].buttons == [[("Un besoin", "digest:need:4")]]


def test_messages_are_split_at_4096_characters() -> None:
    parts = render(_content(n=8, long=900), "fr")
    assert len(parts) >= 2
    assert all(len(p.text) <= MAX_CHARS for p in parts)
    assert sum(len(p.buttons) for p in parts) == 9  # no button lost
    pieces = split_text("mot " * 3000)
    assert len(pieces) == 3 and all(len(p) <= MAX_CHARS for p in pieces)
    assert split_text("y" * 5000) == ["y" * 4096, "y" * 904]


# -- rate limits (virtual time) -------------------------------------------------------------
async def test_rate_limits_30_per_second_and_1_per_chat() -> None:
    clock = VirtualClock()
    sender = FakeSender(limiter=RateLimiter(clock=clock))

    async def burst() -> None:
        import asyncio

        await asyncio.gather(
            *(sender.send(str(i), "hi", []) for i in range(90)),
            *(sender.send("same", f"m{i}", []) for i in range(3)),
        )

    await clock.run(burst())
    times = sorted(m.at for m in sender.sent)
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(times))
    same = [m.at for m in sender.sent if m.chat_id == "same"]
    assert all(b - a >= 1 - 1e-9 for a, b in itertools.pairwise(same))
    assert 3.0 <= clock.now() <= 5.1  # FIFO: the chat waits behind slots already reserved


# -- /digest ------------------------------------------------------------------------------------
def test_subscription_commands(db) -> None:
    with db.session() as s:
        p = Person(role=Role.BUYER, language="en")
        s.add(p)
        s.flush()
        assert not subscription_status(s, p.id).subscribed
        st = set_subscription(s, p.id, cadence="weekly", weekday=4, hour=8, themes=["mobilité"])
        assert st.subscribed and st.weekday == 4 and st.language == "en"
        assert (
            describe(st, "en")
            == "Weekly digest: every Friday at 8:00 (Paris time). Themes: mobilité."
        )
        assert "vendredi" in describe(st, "fr")
        off = set_subscription(s, p.id, cadence="off")
        assert describe(off, "fr") == "Vous ne recevez pas la lettre hebdomadaire."
        with pytest.raises(ValueError):
            set_subscription(s, p.id, hour=24)
