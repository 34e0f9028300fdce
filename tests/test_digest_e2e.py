"""End to end: the weekly digest reaches two chat users through the Telegram Bot API emulator.

The real PTB Application (:func:`bot.telegram.build_application` over the services
:func:`api.wiring.build_services` builds) polls the emulator over HTTP in this process:

1. a buyer (chat 1001) describes a need in chat, confirms it and presses
   "Recevoir la lettre hebdo" (the subscription is created by the chat flow);
2. a start-up (chat 1002) and an English-speaking buyer (chat 1003) have said hello to
   the bot; their solution, need and subscriptions are seeded in the database (the chat
   registration itself is covered by the engine tests);
3. a new matching solution and a new matching need appear (committed, then indexed);
4. the digest runs through the real JobQueue catch-up job (``register_digest_jobs``)
   with a real :class:`~digest.run.DigestRunner` and :class:`~digest.sender.TelegramSender`
   over the application's bot, its clock set into the subscribers' weekly slot.

Checked: each user gets one digest naming what is new for them, in their language, with
buttons; running again sends nobody anything twice; a week with nothing new sends nothing.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.config import Settings
from core.db import Database
from core.domain import NeedStatus, Role, TerritoryKind, TrustLevel, fold
from core.messages import t
from core.models import (
    ChatIdentity,
    DigestDelivery,
    Experience,
    Need,
    Person,
    Solution,
    Subscription,
    Territory,
    utcnow,
)
from devtools.tg_emulator import TelegramEmulator
from digest.match import IndexMatcher
from digest.run import DigestRunner, RunReport
from digest.schedule import next_slot, register_digest_jobs
from digest.sender import TelegramSender
from tests.test_engine import LONS, SOLUTIONS

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TOKEN = "123:ABC"
BUYER, STARTUP, BUYER_EN = 1001, 1002, 1003
PARIS = ZoneInfo("Europe/Paris")
STEP_TIMEOUT = 60.0  # one chat step (the results step embeds and searches)
DIGEST_TIMEOUT = 60.0  # the catch-up job fires 5 s after start, then sends 3 messages
TEST_TIMEOUT = 240.0  # the whole scenario, on a shared, slow machine

CATALOGUE = SOLUTIONS[:6]  # the first six entries of the engine tests' catalogue

STARTUP_SOLUTION = (
    "Compostage collectif",
    "Composteurs partagés en pied d'immeuble pour valoriser les biodéchets des habitants.",
)
EN_NEED = "We want to cut food waste in our school canteens and weigh the leftovers."
NEW_SOLUTION = (
    "Balance anti-gaspi connectée",
    "Pesée automatique des restes de repas pour réduire le gaspillage alimentaire dans les "
    "cantines scolaires.",
)
OTHER_SOLUTION = ("Stationnement connecté", "Capteurs de places de stationnement libres en ville.")
NEW_NEED = "Valoriser les biodéchets des habitants de Rennes avec du compostage collectif"


# --- data --------------------------------------------------------------------------------------


def _seed_catalogue(db: Database) -> None:
    """A small catalogue: a few territories, solutions and one experience report."""
    territories = [
        dict(kind=TerritoryKind.COMMUNE, code="39300", name="Lons-le-Saunier", population=16_618,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
        dict(kind=TerritoryKind.COMMUNE, code="39198", name="Dole", population=23_000,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
        dict(kind=TerritoryKind.DEPARTEMENT, code="39", name="Jura", population=259_000,
             dep="39", dep_name="Jura", region="27", region_name="Bourgogne-Franche-Comté"),
    ]  # fmt: skip
    with db.session() as session:
        for row in territories:
            session.add(Territory(name_folded=fold(row["name"]), **row))
        for i, (title, mission, themes) in enumerate(CATALOGUE):
            session.add(
                Solution(external_id=f"sol-{i}", title=title, mission=mission,
                         description=mission, themes=themes, trust_level=TrustLevel.QUALIFIED)
            )  # fmt: skip
        session.add(
            Experience(external_id="rex-dole", title="Pesée des restes à la cantine",
                       problem="Réduire le gaspillage alimentaire dans les cantines scolaires",
                       territory_kind="commune", territory_code="39198", territory_name="Dole",
                       population=23_000, dep="39", region="27", period_start="2021",
                       outcome="success")
        )  # fmt: skip


def _person_of(session: Any, chat_id: int) -> Person:
    ident = session.scalar(
        select(ChatIdentity).where(
            ChatIdentity.transport == "telegram", ChatIdentity.external_id == str(chat_id)
        )
    )
    assert ident is not None, f"chat {chat_id} has no identity"
    person = session.get(Person, ident.person_id)
    assert person is not None
    return person


# --- the user side, without blocking the event loop the bot runs on ---------------------------


def _rows(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return message.get("reply_markup", {}).get("inline_keyboard", [])


def _texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


class User:
    """One chat user playing against the bot through the emulator."""

    def __init__(self, emu: TelegramEmulator, chat_id: int) -> None:
        self.emu, self.chat_id = emu, chat_id
        self.transcript: list[str] = []

    async def _wait(self, after: int) -> list[dict[str, Any]]:
        replies = await asyncio.to_thread(
            self.emu.wait_replies, self.chat_id, after, timeout=STEP_TIMEOUT, quiet=1.0
        )
        self.transcript += [f"BOT: {m['text']}" for m in replies]
        return replies

    async def say(self, text: str) -> list[dict[str, Any]]:
        self.transcript.append(f"USER: {text}")
        after = len(self.emu.bot_messages(self.chat_id))
        self.emu.send_text(self.chat_id, text)
        return await self._wait(after)

    async def press(self, label: str) -> list[dict[str, Any]]:
        """Press the latest button whose label contains ``label``."""
        for message in reversed(self.emu.bot_messages(self.chat_id)):
            for row in _rows(message):
                for button in row:
                    if label.lower() in button["text"].lower():
                        self.transcript.append(f"USER presses [{button['text']}]")
                        after = len(self.emu.bot_messages(self.chat_id))
                        self.emu.click(self.chat_id, button["callback_data"], message["message_id"])
                        return await self._wait(after)
        raise AssertionError(f"no button {label!r}; transcript:\n" + "\n".join(self.transcript))


async def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        await asyncio.sleep(0.1)


class RecordingRunner:
    """The real runner, keeping each run's report (the job only logs failures)."""

    def __init__(self, runner: DigestRunner) -> None:
        self.runner = runner
        self.reports: list[RunReport] = []
        self.errors: list[BaseException] = []

    async def run(self, **kwargs: Any) -> RunReport:
        try:
            report = await self.runner.run(**kwargs)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        self.reports.append(report)
        return report


# --- the test ----------------------------------------------------------------------------------


@pytest.fixture
def _emulator() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


async def test_buyer_and_startup_receive_their_digest_in_telegram(
    db: Database, settings: Settings, embedder: Any, _emulator: TelegramEmulator
) -> None:
    await asyncio.wait_for(_scenario(db, settings, embedder, _emulator), timeout=TEST_TIMEOUT)


async def _scenario(db: Database, settings: Settings, embedder: Any, emu: TelegramEmulator) -> None:
    from api.wiring import build_services
    from bot.telegram import build_application

    _seed_catalogue(db)
    settings = settings.model_copy(
        update={"telegram_token": SecretStr(TOKEN), "telegram_api_base_url": emu.base_url}
    )
    services = await asyncio.to_thread(build_services, settings, embedder=embedder)
    service = services.matcher
    app = build_application(settings, services.engine)
    buyer, startup, buyer_en = User(emu, BUYER), User(emu, STARTUP), User(emu, BUYER_EN)
    try:
        async with app:
            assert app.post_init is not None
            await app.post_init(app)
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(timeout=1, drop_pending_updates=False)
            try:
                await _run(db, settings, service, app, emu, buyer, startup, buyer_en)
            finally:
                await app.updater.stop()
                await app.stop()
    except BaseException:
        for user in (buyer, startup, buyer_en):
            print(f"--- chat {user.chat_id} ---\n" + "\n".join(user.transcript))
        raise
    finally:
        services.close()


async def _run(
    db: Database,
    settings: Settings,
    service: Any,
    app: Any,
    emu: TelegramEmulator,
    buyer: User,
    startup: User,
    buyer_en: User,
) -> None:
    # 1. The buyer describes a need, confirms it and subscribes, all in chat.
    await buyer.say(LONS)
    await buyer.press(t("done", "fr"))
    card = await buyer.press(t("confirm", "fr"))
    assert t("need_saved", "fr") in _texts(card)
    replies = await buyer.press(t("subscribe_digest", "fr"))
    assert t("digest_done", "fr") in _texts(replies)

    # 2. The two other users say hello (Telegram only lets a bot write to known chats).
    await startup.say("/start")
    await buyer_en.say("/start")
    before = utcnow()
    with db.session() as session:
        sub = session.scalar(
            select(Subscription).where(Subscription.person_id == _person_of(session, BUYER).id)
        )
        assert sub is not None and sub.weekday == 0 and sub.hour == 9  # Monday, 9 h
        (buyer_need,) = session.scalars(
            select(Need).where(Need.owner_id == sub.person_id, Need.status == NeedStatus.OPEN)
        )
        assert buyer_need.territory_name == "Lons-le-Saunier"

        founder = _person_of(session, STARTUP)
        founder.role = Role.STARTUP
        own = Solution(
            external_id="compost-collectif", title=STARTUP_SOLUTION[0],
            mission=STARTUP_SOLUTION[1], description=STARTUP_SOLUTION[1],
            submitted_by_id=founder.id, created_at=before - dt.timedelta(days=30),
        )  # fmt: skip
        english = _person_of(session, BUYER_EN)
        english.role, english.language = Role.BUYER, "en"
        en_need = Need(
            owner_id=english.id, raw_text=EN_NEED, language="en", status=NeedStatus.OPEN,
            created_at=before - dt.timedelta(days=30),
        )  # fmt: skip
        session.add_all([own, en_need])
        for person in (founder, english):
            session.add(
                Subscription(person_id=person.id, language=person.language,
                             created_at=before, watermark=before)
            )  # fmt: skip
    await asyncio.to_thread(service.index_solution, own.id)
    await asyncio.to_thread(service.index_need, en_need.id)

    # 3. New entries appear: a solution for both buyers' needs (and an unrelated one),
    #    a need for the start-up's solution.
    with db.session() as session:
        new = Solution(
            external_id="balance-anti-gaspi", title=NEW_SOLUTION[0], mission=NEW_SOLUTION[1],
            description=NEW_SOLUTION[1], themes=["Agriculture et alimentation"],
        )  # fmt: skip
        other = Solution(
            external_id="stationnement", title=OTHER_SOLUTION[0], mission=OTHER_SOLUTION[1],
            description=OTHER_SOLUTION[1], themes=["Mobilité"],
        )  # fmt: skip
        need = Need(raw_text=NEW_NEED, status=NeedStatus.OPEN, territory_name="Rennes")
        session.add_all([new, other, need])
    for sol in (new, other):
        await asyncio.to_thread(service.index_solution, sol.id)
    await asyncio.to_thread(service.index_need, need.id)

    # 4. The digest: the JobQueue's catch-up run, the clock in Monday's 9 h slot (Paris).
    slot = next_slot(0, 9, utcnow(), PARIS)
    clock = {"now": slot + dt.timedelta(minutes=7)}
    runner = RecordingRunner(
        DigestRunner(
            db,
            settings,
            TelegramSender(app.bot),
            lambda: IndexMatcher(service),
            now=lambda: clock["now"],
        )
    )
    sent_before = {c: len(emu.bot_messages(c)) for c in (BUYER, STARTUP, BUYER_EN)}
    register_digest_jobs(app, settings, runner)
    assert {j.name for j in app.job_queue.jobs()} >= {"digest-catch-up", "digest-hourly"}
    for job in app.job_queue.get_jobs_by_name("digest-hourly"):
        job.schedule_removal()  # it could fire near a full hour and race the runs below
    await _wait(
        lambda: bool(runner.reports or runner.errors), DIGEST_TIMEOUT, "the catch-up digest run"
    )
    assert not runner.errors, f"the digest job failed: {runner.errors[0]!r}"
    report = runner.reports[0]
    assert (report.locked, report.errors, report.messages_sent) == (False, 0, 3), report.summary()

    def digests(chat_id: int) -> list[dict[str, Any]]:
        return emu.bot_messages(chat_id)[sent_before[chat_id] :]

    # The buyer: the new solution, in French, with a button to open it; not the unrelated one.
    (to_buyer,) = digests(BUYER)
    text = to_buyer["text"]
    assert text.startswith(t("digest_header", "fr", since="")[:20])
    assert t("digest_solutions_title", "fr") in text
    assert NEW_SOLUTION[0] in text
    assert OTHER_SOLUTION[0] not in text
    with db.session() as session:
        new_id = session.scalar(
            select(Solution.id).where(Solution.external_id == "balance-anti-gaspi")
        )
    data = [b["callback_data"] for row in _rows(to_buyer) for b in row]
    assert f"digest:sol:{new_id}" in data

    # The start-up: the new need, naming its solution, with a button; not the buyer's older one.
    (to_startup,) = digests(STARTUP)
    text = to_startup["text"]
    assert t("digest_needs_title", "fr") in text
    # anonymised as in /besoinsouverts: the buyer's commune is masked
    assert "biodéchets des habitants de […]" in text and STARTUP_SOLUTION[0] in text
    assert "Rennes" not in text and "Lons-le-Saunier" not in text
    data = [b["callback_data"] for row in _rows(to_startup) for b in row]
    assert f"digest:need:{need.id}" in data

    # The English-speaking buyer: the same new solution, in English.
    (to_english,) = digests(BUYER_EN)
    text = to_english["text"]
    assert t("digest_solutions_title", "en") in text and NEW_SOLUTION[0] in text
    assert t("digest_footer", "en") in text
    assert any(b["callback_data"] == f"digest:sol:{new_id}" for r in _rows(to_english) for b in r)

    with db.session() as session:
        rows = session.scalars(select(DigestDelivery)).all()
        assert sorted((r.status, r.parts_sent) for r in rows) == [("sent", 1)] * 3
        for sub in session.scalars(select(Subscription)):
            assert sub.last_sent_at is not None and sub.watermark is not None

    # Running again in the same slot: nobody receives anything twice.
    again = await runner.run()
    assert (again.locked, again.composed, again.messages_sent) == (False, 0, 0), again.summary()
    # Next week, with nothing new: nothing is sent (and the watermarks move on).
    clock["now"] = next_slot(0, 9, clock["now"], PARIS) + dt.timedelta(minutes=7)  # DST-safe
    quiet = await runner.run()
    assert (quiet.composed, quiet.empty, quiet.messages_sent) == (0, 3, 0), quiet.summary()
    await asyncio.sleep(1.0)  # a late duplicate would have arrived by now
    assert {c: len(digests(c)) for c in sent_before} == {BUYER: 1, STARTUP: 1, BUYER_EN: 1}
