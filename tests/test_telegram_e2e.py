"""End to end: the real ``piu bot`` process polling the Bot API emulator on 127.0.0.1.

A buyer goes from "bonjour" to the scope card and the ranked solutions, and the bot is
killed with SIGKILL between two steps: once restarted it resumes at the same step.
Every wait is bounded; the bot process is always killed at the end.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.messages import t
from devtools.tg_emulator import TelegramEmulator

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TOKEN = "123:ABC"
USER = 4242
NEED = (
    "Je suis adjointe au maire de Lons-le-Saunier. Nous voulons réduire les dépôts sauvages "
    "de déchets près des points d'apport volontaire, avec des capteurs ou des caméras."
)
START_TIMEOUT = 300.0  # first start may convert the model and load the indexes
STEP_TIMEOUT = 90.0  # one conversation step (the results step embeds and searches)
MAX_QUESTIONS = 8


def _copy_sqlite(src_url: str, dst: Path) -> None:
    """Copy a live SQLite database with the backup API (safe with WAL and open readers)."""
    src = sqlite3.connect(src_url.removeprefix("sqlite:///"))
    out = sqlite3.connect(dst)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


@pytest.fixture
def _data_dir(tmp_path: Path, service: Any, demo_settings: Settings) -> Path:
    """A private, writable copy of the demo database and its indexes."""
    if not demo_settings.db_url.startswith("sqlite:///"):
        pytest.skip("the end-to-end bot test copies the SQLite demo database")
    data = tmp_path / "data"
    data.mkdir()
    _copy_sqlite(demo_settings.db_url, data / "piu.sqlite3")
    import shutil

    shutil.copytree(demo_settings.index_dir, data / "index")
    return data


@pytest.fixture
def _emulator() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


class BotProcess:
    """``python -m cli.main bot`` (or ``-m cli.bot`` until the main CLI imports cleanly)."""

    def __init__(self, data_dir: Path, base_url: str, model_cache: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIU_")}
        env.update(
            PIU_TELEGRAM_TOKEN=TOKEN,
            PIU_TELEGRAM_API_BASE_URL=base_url,
            PIU_DATA_DIR=str(data_dir),
            PIU_MODEL_CACHE_DIR=str(model_cache),
            PIU_ENVIRONMENT="test",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.cwd = data_dir  # no stray .env file from the repository
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        probe = subprocess.run(
            [sys.executable, "-c", "import cli.main"], env=env, cwd=data_dir, capture_output=True
        )
        self.argv = [sys.executable, "-m", "cli.main" if probe.returncode == 0 else "cli.bot"]
        if probe.returncode == 0:
            self.argv.append("bot")

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the bot exited ({self.proc.returncode}):\n{self.tail()}")

    def tail(self, n: int = 60) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


class Conversation:
    """Drives the emulator as the user and keeps a readable transcript."""

    def __init__(self, emu: TelegramEmulator, bot: BotProcess, user: int = USER) -> None:
        self.emu = emu
        self.bot = bot
        self.user = user
        self.transcript: list[str] = []

    def _wait(self, after: int) -> list[dict[str, Any]]:
        try:
            replies = self.emu.wait_replies(self.user, after, timeout=STEP_TIMEOUT, quiet=1.5)
        except TimeoutError:
            self.bot.check_alive()
            raise AssertionError(f"no reply from the bot; log tail:\n{self.bot.tail()}") from None
        for m in replies:
            self.transcript.append(f"BOT: {m['text']}")
            labels = [f"[{b['text']}]" for row in _rows(m) for b in row if b.get("callback_data")]
            if labels:
                self.transcript.append("     " + " ".join(labels))
        return replies

    def say(self, text: str) -> list[dict[str, Any]]:
        self.transcript.append(f"USER: {text}")
        after = len(self.emu.bot_messages(self.user))
        self.emu.send_text(self.user, text)
        return self._wait(after)

    def press(self, prefix: str) -> list[dict[str, Any]]:
        message, button = self.find(prefix)
        self.transcript.append(f"USER presses [{button['text']}] ({button['callback_data']})")
        after = len(self.emu.bot_messages(self.user))
        self.emu.click(self.user, button["callback_data"], message["message_id"])
        return self._wait(after)

    def find(self, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The latest bot message with a button whose data starts with ``prefix``."""
        for message in reversed(self.emu.bot_messages(self.user)):
            for row in _rows(message):
                for button in row:
                    if str(button.get("callback_data", "")).startswith(prefix):
                        return message, button
        raise AssertionError(f"no button {prefix!r}; transcript:\n" + "\n".join(self.transcript))

    def keyboard(self) -> list[str]:
        """Callback data of the latest message that has a keyboard."""
        for message in reversed(self.emu.bot_messages(self.user)):
            if _rows(message):
                return [b["callback_data"] for row in _rows(message) for b in row]
        return []


def _rows(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return message.get("reply_markup", {}).get("inline_keyboard", [])


def _data(message: dict[str, Any], prefix: str) -> list[str]:
    """Callback data of the message's buttons starting with ``prefix``."""
    data = [str(b.get("callback_data", "")) for row in _rows(message) for b in row]
    return [d for d in data if d.startswith(prefix)]


def _texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in replies)


def buyer_scenario(emu: TelegramEmulator, bot: BotProcess, chat: Conversation) -> None:
    """From "bonjour" to the ranked solutions, with a kill -9 and restart between two steps."""
    bot.start()
    emu.wait_until_polling(timeout=START_TIMEOUT)

    chat.say("bonjour")
    replies = chat.say("/besoin")
    assert t("need_ask", "fr") in _texts(replies)

    chat.say(NEED)
    question = chat.keyboard()
    assert question, "the engine asks a question with buttons"

    # kill -9 between two steps, restart: the same question is still the current step.
    bot.kill9()
    chat.transcript.append("--- bot killed with SIGKILL, restarted ---")
    polls = emu.get_updates_count
    bot.start()
    emu.wait_until_polling(timeout=START_TIMEOUT, after=polls)
    replies = chat.press(next((d for d in question if d.startswith("skip:")), question[0]))
    resumed = _texts(replies)
    assert t("stale_button", "fr") not in resumed
    assert t("welcome", "fr") not in resumed
    assert chat.keyboard() != question  # moved on to the next step

    # Answer the remaining questions (skip when offered, else "done"/first choice).
    for _ in range(MAX_QUESTIONS):
        data = chat.keyboard()
        if any(d.startswith("card:ok") for d in data):
            break
        prefix = next((p for p in ("skip:", "ok:") if any(d.startswith(p) for d in data)), data[0])
        chat.press(prefix)
    else:
        pytest.fail("no scope card after the questions:\n" + "\n".join(chat.transcript))

    card = chat.find("card:ok")[0]["text"]
    assert t("card_title", "fr") in card
    assert "Lons-le-Saunier" in card  # the territory was recognised in the need's text

    replies = chat.press("card:ok")
    results = _texts(replies)
    assert t("need_saved", "fr") in results
    # five result cards, one message each with its "Fiche" button (the header folds into
    # the first), then the next actions with "more"
    ranks = [
        int(found.group(1))
        for m in replies
        if _data(m, "fiche:") and (found := re.search(r"^(\d+)\. ", m["text"], re.M))
    ]
    assert ranks == [1, 2, 3, 4, 5]
    assert _data(replies[-1], "res:more")

    replies = chat.press("res:more")
    assert re.findall(r"^(\d+)\. ", _texts(replies), re.M)[0] == "6"
    bot.check_alive()


def test_buyer_reaches_ranked_solutions_and_survives_kill_9(
    _emulator: TelegramEmulator, _data_dir: Path, model_cache: Path, tmp_path: Path
) -> None:
    bot = BotProcess(_data_dir, _emulator.base_url, model_cache, tmp_path / "bot.log")
    chat = Conversation(_emulator, bot)
    try:
        buyer_scenario(_emulator, bot, chat)
    finally:
        bot.kill9()
        transcript = "\n".join(chat.transcript)
        (tmp_path / "transcript.txt").write_text(transcript)
        print(transcript)
