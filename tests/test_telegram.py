"""The Telegram adapter: the real PTB Application fed with Update objects, network replaced at
the request layer (a recording BaseRequest returning canned Bot API JSON), plus the same
Application polling the Bot API emulator over real HTTP.

The engine here is a small double: these tests are about the adapter (routing, rendering,
error handling, outbox delivery); the conversation itself is tested through the engine and,
end to end, in test_telegram_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.telegram import (
    MAX_CALLBACK_DATA,
    TRANSPORT,
    PiuRateLimiter,
    bilingual,
    build_application,
    deliver_outbox,
    keyboard,
    merge_messages,
    split_text,
)
from bot.types import Button, OutMessage
from core.config import Settings
from core.messages import t
from devtools.tg_emulator import TelegramEmulator

TOKEN = "123:ABC"
USER = 1001
BOT_USER = {"id": 123, "is_bot": True, "first_name": "PIU", "username": "piu_test_bot"}


# --- doubles -----------------------------------------------------------------------------------


class RecordingRequest(BaseRequest):
    """A BaseRequest that never touches the network: records calls, answers canned JSON.

    ``failures`` maps a Bot API method to a callable ``(params) -> (status, description) |
    None`` so a test can make Telegram refuse some calls.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, Callable[[dict[str, Any]], tuple[int, str] | None]] = {}
        self._message_id = 500

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def params(self, method: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == method]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((name, params))
        fail = self.failures.get(name)
        refusal = fail(params) if fail else None
        if refusal is not None:
            status, description = refusal
            body = {"ok": False, "error_code": status, "description": description}
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return BOT_USER
        if name in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            self._message_id += 1
            message = {
                "message_id": params.get("message_id", self._message_id),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", "..."),
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        return True


class EngineDouble:
    """Stands in for ConversationEngine with the same public API and scripted answers."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.outbox: list[tuple[str, int, OutMessage]] = []
        self.delivered: list[int] = []
        self.release = threading.Event()
        self.seqs: list[int | None] = []

    def handle(
        self,
        transport: str,
        external_id: str,
        *,
        text: str | None = None,
        choice: str | None = None,
        kind: str = "text",
        seq: int | None = None,
    ) -> list[OutMessage]:
        self.seqs.append(seq)
        self.calls.append(
            {
                "transport": transport,
                "id": external_id,
                "text": text,
                "choice": choice,
                "kind": kind,
            }
        )
        if text == "boom":
            raise RuntimeError("engine exploded")
        if text and text.startswith("slow"):  # a long search: blocks until released
            assert self.release.wait(10)
        if kind == "other":
            return [OutMessage(t("text_only", "fr"), [])]
        if text == "/start":
            return [
                OutMessage(
                    t("welcome", "fr"),
                    [
                        Button("role:buyer", t("role_buyer", "fr")),
                        Button("role:startup", t("role_startup", "fr")),
                        Button("role:facilitator", t("role_facilitator", "fr")),
                    ],
                )
            ]
        if text == "long":
            return [OutMessage("mot " * 3000, [Button("more", "Plus")])]
        if choice is not None:
            return [OutMessage(f"choice {choice}", [])]
        return [OutMessage(f"echo {text}", [])]

    def outbox_for_transport(
        self, transport: str, limit: int = 100
    ) -> list[tuple[str, int, OutMessage]]:
        assert transport == TRANSPORT
        return [row for row in self.outbox if row[1] not in self.delivered][:limit]

    def mark_delivered(self, outbox_id: int) -> None:
        self.delivered.append(outbox_id)


# --- fixtures ----------------------------------------------------------------------------------


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        data_dir=tmp_path,
        telegram_token=SecretStr(TOKEN),
        **overrides,
    )


@pytest.fixture
def _engine() -> EngineDouble:
    return EngineDouble()


@pytest.fixture
def _request() -> RecordingRequest:
    return RecordingRequest()


@pytest.fixture
async def _app(
    tmp_path: Path, _engine: EngineDouble, _request: RecordingRequest
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    app = build_application(
        _settings(tmp_path), _engine, request=_request, get_updates_request=RecordingRequest()
    )
    async with app:  # initialize / shutdown, like run_polling does around post_init
        assert app.post_init is not None
        await app.post_init(app)
        yield app


def _user(chat_id: int = USER) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Claire", "language_code": "fr"}


def _chat(chat_id: int = USER, kind: str = "private") -> dict[str, Any]:
    return {"id": chat_id, "type": kind, "first_name": "Claire"}


_update_ids = iter(range(1, 10_000))


def _message(app: Application[Any, Any, Any, Any, Any, Any], **content: Any) -> Update:
    chat = content.pop("chat", _chat())
    message = {"message_id": 10, "date": int(time.time()), "chat": chat, "from": _user(), **content}
    update = Update.de_json({"update_id": next(_update_ids), "message": message}, app.bot)
    assert update is not None
    return update


def _command(app: Application[Any, Any, Any, Any, Any, Any], text: str) -> Update:
    entity = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    return _message(app, text=text, entities=[entity])


def _callback(app: Application[Any, Any, Any, Any, Any, Any], data: str) -> Update:
    bot_message = {
        "message_id": 9,
        "date": int(time.time()),
        "chat": _chat(),
        "from": BOT_USER,
        "text": "Vous êtes :",
        "reply_markup": {
            "inline_keyboard": [[{"text": "Une collectivité", "callback_data": data}]]
        },
    }
    query = {
        "id": "4242",
        "from": _user(),
        "message": bot_message,
        "chat_instance": "-7919",
        "data": data,
    }
    update = Update.de_json({"update_id": next(_update_ids), "callback_query": query}, app.bot)
    assert update is not None
    return update


def _buttons(params: dict[str, Any]) -> list[list[str]]:
    markup = params.get("reply_markup") or {}
    return [[b["callback_data"] for b in row] for row in markup.get("inline_keyboard", [])]


# --- the Application fed with Update objects -----------------------------------------------------


async def test_start_answers_with_inline_buttons(_app, _engine, _request) -> None:
    update = _command(_app, "/start")
    await _app.process_update(update)
    assert _engine.calls == [
        {"transport": "telegram", "id": str(USER), "text": "/start", "choice": None, "kind": "text"}
    ]
    assert _engine.seqs[-1] == update.update_id  # lets the engine spot a re-delivery
    (sent,) = _request.params("sendMessage")
    assert sent["chat_id"] == USER
    assert sent["text"] == t("welcome", "fr")
    assert "parse_mode" not in sent  # plain text: user content cannot inject markup
    assert _buttons(sent) == [["role:buyer", "role:startup"], ["role:facilitator"]]


async def test_every_command_goes_to_the_engine_as_text(_app, _engine) -> None:
    for text in ("/aide", "/besoin", "/nimportequoi argument"):
        await _app.process_update(_command(_app, text))
    assert [c["text"] for c in _engine.calls] == ["/aide", "/besoin", "/nimportequoi argument"]


async def test_callback_query_is_answered_then_routed(_app, _engine, _request) -> None:
    await _app.process_update(_callback(_app, "role:buyer"))

    methods = _request.methods()
    assert methods.index("answerCallbackQuery") < methods.index("sendMessage")
    assert _request.params("answerCallbackQuery")[0]["callback_query_id"] == "4242"
    # The old keyboard is cleared so a second press cannot happen by accident.
    (edit,) = _request.params("editMessageReplyMarkup")
    assert edit["message_id"] == 9 and not edit.get("reply_markup")
    assert _engine.calls[-1]["choice"] == "role:buyer"
    assert _engine.calls[-1]["text"] is None
    assert _request.params("sendMessage")[0]["text"] == "choice role:buyer"


async def test_stale_keyboard_edit_failure_is_harmless(_app, _engine, _request) -> None:
    _request.failures["editMessageReplyMarkup"] = lambda p: (
        400,
        "Bad Request: message is not modified",
    )
    await _app.process_update(_callback(_app, "role:buyer"))
    assert _engine.calls[-1]["choice"] == "role:buyer"
    assert _request.params("sendMessage")[0]["text"] == "choice role:buyer"


async def test_keyboard_is_left_when_the_bot_is_near_its_rate_limit(
    _app, _engine, _request
) -> None:
    limiter = _app.bot.rate_limiter
    assert isinstance(limiter, PiuRateLimiter)  # the rate-limiter extra is a dependency
    now = time.monotonic()
    assert limiter.asked_last_second(now) == 0
    limiter._asked.extend([now] * PiuRateLimiter.BUSY_PER_SECOND)  # a busy second
    await _app.process_update(_callback(_app, "role:buyer"))
    assert not _request.params("editMessageReplyMarkup")  # shed: a stale press is handled
    assert _request.params("sendMessage")[0]["text"] == "choice role:buyer"
    assert limiter.asked_last_second(now + 1.5) == 0  # the window is one second
    await _app.process_update(_callback(_app, "role:startup"))
    assert len(_request.params("editMessageReplyMarkup")) == 1  # calm again: cleared


@pytest.mark.parametrize(
    "content",
    [
        {"photo": [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 60}]},
        {"sticker": {"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512,
                     "height": 512, "is_animated": False, "is_video": False}},
        {"voice": {"file_id": "v", "file_unique_id": "u", "duration": 3}},
        {"document": {"file_id": "d", "file_unique_id": "u", "file_name": "cahier.pdf"}},
        {"location": {"latitude": 46.67, "longitude": 5.55}},
    ],
    ids=["photo", "sticker", "voice", "document", "location"],
)  # fmt: skip
async def test_non_text_gets_the_text_only_answer(_app, _engine, _request, content) -> None:
    await _app.process_update(_message(_app, **content))

    assert _engine.calls[-1]["kind"] == "other"
    (sent,) = _request.params("sendMessage")
    assert sent["text"] == t("text_only", "fr")


async def test_photo_caption_is_passed_along(_app, _engine) -> None:
    photo = [{"file_id": "p", "file_unique_id": "u", "width": 90, "height": 60}]
    await _app.process_update(_message(_app, photo=photo, caption="notre parking"))
    assert _engine.calls[-1] == {
        "transport": "telegram",
        "id": str(USER),
        "text": "notre parking",
        "choice": None,
        "kind": "other",
    }


async def test_engine_crash_reaches_the_error_handler(_app, _engine, _request, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="bot.telegram")
    await _app.process_update(_message(_app, text="boom"))

    (sent,) = _request.params("sendMessage")
    assert sent["chat_id"] == USER
    assert sent["text"] == bilingual("error")
    assert t("error", "fr") in sent["text"] and t("error", "en") in sent["text"]
    (record,) = [r for r in caplog.records if r.name == "bot.telegram"]
    assert record.exc_info is not None and "engine exploded" in str(record.exc_info[1])


async def test_error_notice_failure_does_not_escalate(_app, _request, caplog) -> None:
    _request.failures["sendMessage"] = lambda p: (403, "Forbidden: bot was blocked by the user")
    caplog.set_level(logging.WARNING, logger="bot.telegram")
    await _app.process_update(_message(_app, text="boom"))
    assert any("could not send the error notice" in r.getMessage() for r in caplog.records)


async def test_edited_messages_are_not_replayed(_app, _engine, _request) -> None:
    edited = {
        "message_id": 10,
        "date": int(time.time()),
        "edit_date": int(time.time()),
        "chat": _chat(),
        "from": _user(),
        "text": "/besoin",
    }
    update = Update.de_json({"update_id": next(_update_ids), "edited_message": edited}, _app.bot)
    await _app.process_update(update)
    assert _engine.calls == []
    notes = _request.params("sendMessage")
    assert len(notes) == 1 and "modifiés" in notes[0]["text"] and "edited" in notes[0]["text"]


async def test_group_chats_are_ignored(_app, _engine, _request) -> None:
    group = {"id": -100, "type": "group", "title": "Conseil"}
    await _app.process_update(_message(_app, text="bonjour", chat=group))
    assert _engine.calls == []
    assert _request.params("sendMessage") == []


async def test_long_answers_are_split_with_the_keyboard_last(_app, _request) -> None:
    await _app.process_update(_message(_app, text="long"))
    sent = _request.params("sendMessage")
    assert len(sent) == 3
    assert all(len(p["text"]) <= 4096 for p in sent)
    assert [bool(p.get("reply_markup")) for p in sent] == [False, False, True]


async def test_other_chats_are_not_held_up_and_one_chat_stays_in_order(
    _app, _engine, _request
) -> None:
    def feed(update: Update) -> asyncio.Task[None]:  # as the Application's fetcher does
        return asyncio.ensure_future(
            _app.update_processor.process_update(update, _app.process_update(update))
        )

    slow = feed(_message(_app, text="slow search", chat=_chat(1)))
    after_slow = feed(_message(_app, text="second message", chat=_chat(1)))
    other = feed(_message(_app, text="hello", chat=_chat(2)))
    await asyncio.wait_for(other, 5)  # chat 2 answered while chat 1 is still searching
    assert [p["text"] for p in _request.params("sendMessage")] == ["echo hello"]
    assert not after_slow.done()  # chat 1's next message waits for its first one
    _engine.release.set()
    await asyncio.wait_for(asyncio.gather(slow, after_slow), 5)
    chat1 = [p["text"] for p in _request.params("sendMessage") if p["chat_id"] == 1]
    assert chat1 == ["echo slow search", "echo second message"]
    assert _app.update_processor.max_concurrent_updates > 1


async def test_outbox_job_is_scheduled(_app) -> None:
    (job,) = _app.job_queue.get_jobs_by_name("outbox")
    assert job is not None


async def test_base_url_comes_from_settings(tmp_path) -> None:
    settings = _settings(tmp_path, telegram_api_base_url="http://127.0.0.1:9/bot")
    app = build_application(settings, EngineDouble(), request=RecordingRequest())
    assert app.bot.base_url == f"http://127.0.0.1:9/bot{TOKEN}"
    assert app.bot.base_file_url == f"http://127.0.0.1:9/file/bot{TOKEN}"


def test_missing_token_is_refused(tmp_path) -> None:
    settings = Settings(_env_file=None, environment="test", data_dir=tmp_path)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="PIU_TELEGRAM_TOKEN"):
        build_application(settings, EngineDouble())


# --- outbox delivery ---------------------------------------------------------------------------


async def test_outbox_delivery_marks_only_what_telegram_accepted(_app, _engine, _request) -> None:
    _engine.outbox = [
        ("2001", 1, OutMessage("intro for 2001", [Button("intro:accept:7", "Accepter")])),
        ("2002", 2, OutMessage("intro for blocked 2002", [])),
        ("2003", 3, OutMessage("first for 2003", [])),
        ("2003", 4, OutMessage("second for 2003", [])),
        ("2001", 5, OutMessage("second for 2001", [])),
    ]

    def refuse(params: dict[str, Any]) -> tuple[int, str] | None:
        if params["chat_id"] == 2002:
            return 403, "Forbidden: bot was blocked by the user"
        if params["chat_id"] == 2003:
            return 500, "Internal Server Error"
        return None

    _request.failures["sendMessage"] = refuse
    delivered = await deliver_outbox(_app.bot, _engine)

    assert delivered == 3
    assert _engine.delivered == [1, 2, 5]  # blocked: dropped, no retry; 2003: left for later
    to_2003 = [p for p in _request.params("sendMessage") if p["chat_id"] == 2003]
    assert len(to_2003) == 1  # after a failure, that chat's later messages wait (order kept)
    assert _buttons(_request.params("sendMessage")[0]) == [["intro:accept:7"]]

    _request.failures.clear()
    assert await deliver_outbox(_app.bot, _engine) == 2
    assert _engine.delivered == [1, 2, 5, 3, 4]


# --- pure rendering ------------------------------------------------------------------------------


def test_messages_without_buttons_fold_into_the_next_one() -> None:
    saved, results = OutMessage("Besoin enregistré."), OutMessage("1. A", [Button("res:more", "+")])
    peers, nxt = OutMessage("Pairs : X"), OutMessage("Et maintenant ?", [Button("res:new", "N")])
    merged = merge_messages([saved, results, peers, nxt, OutMessage("Fin.")])
    assert [(m.text, [b.id for b in m.buttons]) for m in merged] == [
        ("Besoin enregistré.\n\n1. A", ["res:more"]),
        ("Pairs : X\n\nEt maintenant ?", ["res:new"]),
        ("Fin.", []),
    ]
    big = OutMessage("x" * 3000)
    assert [len(m.text) for m in merge_messages([big, big])] == [3000, 3000]  # over 4096: apart
    assert merge_messages([]) == []


def test_keyboard_pairs_short_labels_only() -> None:
    markup = keyboard(
        [
            Button("a", "Oui"),
            Button("b", "Non"),
            Button("c", "Une très longue étiquette de bouton"),
            Button("d", "Passer"),
        ]
    )
    assert markup is not None
    rows = [[b.callback_data for b in row] for row in markup.inline_keyboard]
    assert rows == [["a", "b"], ["c"], ["d"]]
    assert keyboard([]) is None


async def test_long_button_ids_are_hashed_and_mapped_back(_app, _engine, _request) -> None:
    long_id = "scope:constraint:" + "x" * 80
    long_ids: dict[str, str] = _app.bot_data["long_button_ids"]
    markup = keyboard([Button(long_id, "Contrainte")], long_ids)
    assert markup is not None
    data = markup.inline_keyboard[0][0].callback_data
    assert isinstance(data, str) and len(data.encode()) <= MAX_CALLBACK_DATA
    await _app.process_update(_callback(_app, data))
    assert _engine.calls[-1]["choice"] == long_id


def test_split_text_respects_the_limit_and_word_breaks() -> None:
    text = ("Paragraphe " * 300 + "\n\n") * 3
    chunks = split_text(text)
    assert all(len(c) <= 4096 for c in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert all(not c.startswith(" ") and not c.endswith(" ") for c in chunks)
    emoji = "🚲" * 3000  # 2 UTF-16 units each: Telegram counts those
    assert [len(c) for c in split_text(emoji)] == [2048, 952]
    assert split_text("   ") == []


# --- the same Application, polling the emulator over HTTP ----------------------------------------


@pytest.fixture
def _emulator() -> Any:
    with TelegramEmulator(TOKEN) as emu:
        yield emu


async def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_polling_against_the_emulator(tmp_path, _emulator, _engine) -> None:
    settings = _settings(tmp_path, telegram_api_base_url=_emulator.base_url)
    app = build_application(settings, _engine, outbox_interval=0.2)
    _engine.outbox = [(str(USER), 1, OutMessage("une demande d'introduction", []))]
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, drop_pending_updates=False)
        try:
            _emulator.send_text(USER, "/start")
            await _wait(lambda: len(_emulator.bot_messages(USER)) >= 1)
            welcome = _emulator.bot_messages(USER)[0]
            assert welcome["text"] == t("welcome", "fr")
            rows = welcome["reply_markup"]["inline_keyboard"]
            assert rows[0][0]["callback_data"] == "role:buyer"

            _emulator.click(USER, "role:buyer")
            await _wait(
                lambda: any(m["text"] == "choice role:buyer" for m in _emulator.bot_messages(USER))
            )
            assert _emulator.answered_callbacks
            # The pressed keyboard was removed (editMessageReplyMarkup returned the Message).
            assert "reply_markup" not in _emulator.bot_messages(USER)[0]

            _emulator.send_photo(USER)
            texts = lambda: [m["text"] for m in _emulator.bot_messages(USER)]  # noqa: E731
            await _wait(lambda: t("text_only", "fr") in texts())
            assert _engine.calls[-1]["kind"] == "other"
            # The outbox job delivered the pending message and marked it, once.
            await _wait(lambda: _engine.delivered == [1], timeout=5)
            assert texts().count("une demande d'introduction") == 1
        finally:
            await app.updater.stop()
            await app.stop()
    assert [c["text"] or c["choice"] for c in _engine.calls][:2] == ["/start", "role:buyer"]


async def test_webhook_checks_the_secret_and_feeds_the_application(_app, _engine) -> None:
    """Webhook mode: wrong or missing secret → 403 and nothing processed; right one → handled."""
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Route

    from bot.telegram import webhook_endpoint

    web = Starlette(routes=[Route("/hook", webhook_endpoint(_app, "s3cret"), methods=["POST"])])
    payload = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": 11,
            "date": int(time.time()),
            "chat": _chat(),
            "from": _user(),
            "text": "bonjour",
        },
    }
    await _app.start()
    try:
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            missing = await client.post("/hook", json=payload)
            wrong = await client.post(
                "/hook", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            garbage = await client.post(
                "/hook", content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            )
            assert (missing.status_code, wrong.status_code, garbage.status_code) == (403, 403, 400)
            assert _engine.calls == []
            good = await client.post(
                "/hook", json=payload, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            )
            assert good.status_code == 200
        await _wait(lambda: bool(_engine.calls), timeout=10)
        assert _engine.calls[0]["text"] == "bonjour"
    finally:
        await _app.stop()
