"""The Bot API emulator answers like Telegram where PIU's adapter depends on it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.tg_emulator import TelegramEmulator

TOKEN = "123:ABC"


@pytest.fixture
def _emu() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN) as emu, httpx.Client(timeout=10) as client:
        emu.http = client  # type: ignore[attr-defined]
        yield emu


def _call(emu: TelegramEmulator, method: str, **params: Any) -> dict[str, Any]:
    # Form-encoded like python-telegram-bot: objects as JSON strings, scalars as text.
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    response = emu.http.post(f"{emu.base_url}{TOKEN}/{method}", data=form)  # type: ignore[attr-defined]
    body: dict[str, Any] = response.json()
    assert (response.status_code == 200) == body["ok"]
    return body


def test_get_me_and_wrong_token(_emu) -> None:
    me = _call(_emu, "getMe")["result"]
    assert me["is_bot"] is True and me["id"] == 123 and me["username"]
    response = _emu.http.post(f"{_emu.base_url}999:XYZ/getMe")
    assert response.status_code == 401 and response.json()["ok"] is False
    assert _call(_emu, "noSuchMethod")["error_code"] == 404


def test_get_updates_offset_semantics(_emu) -> None:
    first = _emu.send_text(1, "/start")
    second = _emu.send_text(1, "bonjour")
    updates = _call(_emu, "getUpdates")["result"]
    assert [u["update_id"] for u in updates] == [first["update_id"], second["update_id"]]
    message = updates[0]["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert abs(message["date"] - time.time()) < 60  # seconds, not milliseconds
    # Not confirmed yet: delivered again. offset confirms everything before it.
    assert len(_call(_emu, "getUpdates", offset=0)["result"]) == 2
    assert _call(_emu, "getUpdates", offset=second["update_id"])["result"] == [second]
    assert _call(_emu, "getUpdates", offset=second["update_id"] + 1)["result"] == []
    third = _emu.send_text(1, "encore")
    assert _call(_emu, "getUpdates", offset=-1)["result"] == [third]


def test_long_polling_waits_then_returns(_emu) -> None:
    t0 = time.monotonic()
    assert _call(_emu, "getUpdates", timeout=1)["result"] == []
    assert 0.9 <= time.monotonic() - t0 < 5


def test_send_edit_and_callback_query(_emu) -> None:
    _emu.send_text(7, "/start")
    markup = {"inline_keyboard": [[{"text": "Oui", "callback_data": "yes@1"}]]}
    sent = _call(_emu, "sendMessage", chat_id=7, text="Alors ?", reply_markup=markup)["result"]
    assert sent["from"]["is_bot"] is True and sent["chat"]["id"] == 7
    assert sent["reply_markup"] == markup
    later = _call(_emu, "sendMessage", chat_id=7, text="Et ensuite")["result"]
    assert later["message_id"] > sent["message_id"]

    update = _emu.click(7, "yes@1")
    query = update["callback_query"]
    assert query["data"] == "yes@1" and query["chat_instance"] and query["id"]
    assert query["message"]["message_id"] == sent["message_id"]
    assert _call(_emu, "answerCallbackQuery", callback_query_id=query["id"])["result"] is True

    edited = _call(_emu, "editMessageReplyMarkup", chat_id=7, message_id=sent["message_id"])
    assert edited["result"]["message_id"] == sent["message_id"]  # a Message, not null
    assert "reply_markup" not in edited["result"]
    again = _call(_emu, "editMessageReplyMarkup", chat_id=7, message_id=sent["message_id"])
    assert again["error_code"] == 400 and "not modified" in again["description"]
    text = _call(_emu, "editMessageText", chat_id=7, message_id=sent["message_id"], text="Oui !")
    assert text["result"]["text"] == "Oui !" and text["result"]["edit_date"]


def test_bot_api_errors(_emu) -> None:
    _emu.send_text(8, "salut")
    assert _call(_emu, "sendMessage", chat_id=8, text="")["error_code"] == 400
    assert _call(_emu, "sendMessage", chat_id=8, text="x" * 4097)["error_code"] == 400
    assert _call(_emu, "sendMessage", chat_id=9, text="qui ?")["description"].endswith(
        "chat not found"
    )
    too_long = {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]}
    bad = _call(_emu, "sendMessage", chat_id=8, text="a", reply_markup=too_long)
    assert bad["description"].endswith("BUTTON_DATA_INVALID")
    _emu.blocked.add(8)
    assert _call(_emu, "sendMessage", chat_id=8, text="a")["error_code"] == 403


def test_webhook_and_commands(_emu) -> None:
    assert _call(_emu, "deleteWebhook", drop_pending_updates=False)["result"] is True
    assert _call(_emu, "getWebhookInfo")["result"]["url"] == ""
    commands = [{"command": "aide", "description": "Aide"}]
    assert _call(_emu, "setMyCommands", commands=commands)["result"] is True
    assert _call(_emu, "getMyCommands")["result"] == commands
