"""A small Telegram Bot API emulator for tests and manual runs, on 127.0.0.1.

It implements the Bot API methods PIU's adapter uses, with the JSON Telegram returns
(``getMe`` with ``is_bot``, dates in seconds, increasing message ids, callback queries
with ``chat_instance``, ``editMessage*`` returning the edited Message, the usual
``400``/``403`` errors for empty or oversized texts, bad callback data, unknown chats and
blocked users), plus a control side that plays the user: inject text, commands, photos,
stickers, edits and button presses, then read what the bot sent.

Bot API methods: getMe, getUpdates (long polling, offset confirmation, negative offsets),
sendMessage, answerCallbackQuery, editMessageText, editMessageReplyMarkup, deleteMessage,
deleteWebhook, setWebhook, getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands,
close, logOut. Anything else answers ``404 Not Found`` like Telegram does.

In tests (same process, server on a background thread)::

    with TelegramEmulator() as emu:           # free port, token "123:ABC"
        ...  # start the bot with base URL emu.base_url
        emu.wait_until_polling()
        replies = emu.converse(1001, "/start")
        first = replies[-1]["reply_markup"]["inline_keyboard"][0][0]
        replies = emu.click_and_wait(1001, first["callback_data"])

By hand: ``python -m devtools.tg_emulator --port 8081`` starts it with a console that plays
one user (see ``--help``); the same control is reachable over HTTP under ``/_emu/``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["BotApiError", "TelegramEmulator"]

JSON = dict[str, Any]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
#: Integer parameters of the methods we implement (form values arrive as strings).
_INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"}
_JSON_PARAMS = {"reply_markup", "allowed_updates", "commands", "scope", "link_preview_options"}


class BotApiError(Exception):
    """An error answered the way the Bot API does: ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _now() -> int:
    return int(time.time())


class TelegramEmulator:
    """An in-memory Bot API server for one bot, plus the user side that drives it."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "PIU (emulator)",
        bot_username: str = "piu_emulator_bot",
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.bot_user: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._lock = threading.RLock()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(4_000_000_000_001)
        self._updates: list[JSON] = []  # unconfirmed, in update_id order
        self._messages: dict[tuple[int, int], JSON] = {}  # (chat_id, message_id) -> message
        self._sent: dict[int, list[JSON]] = {}  # chat_id -> bot messages, in order
        self._sent_at: dict[int, list[float]] = {}  # chat_id -> time.monotonic() of each
        self._chat_events: dict[int, threading.Condition] = {}  # woken on a bot message
        self._chats: dict[int, JSON] = {}
        self.blocked: set[int] = set()
        self.calls: list[tuple[str, JSON]] = []
        self.answered_callbacks: list[JSON] = []
        self.commands: dict[str, list[JSON]] = {}
        self.webhook_url = ""
        self.get_updates_count = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for ``PIU_TELEGRAM_API_BASE_URL``."""
        return f"http://{self.host}:{self.port}/bot"

    def start(self, timeout: float = 10.0) -> TelegramEmulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi_app(), log_level="warning", lifespan="off", ws="none", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="tg-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Telegram emulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the user side (control) -------------------------------------------------------------

    def user(self, chat_id: int, language_code: str = "fr") -> JSON:
        return {
            "id": chat_id,
            "is_bot": False,
            "first_name": f"User {chat_id}",
            "language_code": language_code,
        }

    def _chat(self, chat_id: int) -> JSON:
        with self._lock:
            return self._chats.setdefault(
                chat_id, {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
            )

    def _push(self, kind: str, payload: JSON) -> JSON:
        with self._lock:
            update = {"update_id": next(self._update_ids), kind: payload}
            self._updates.append(update)
            return update

    def _user_message(self, chat_id: int, **content: Any) -> JSON:
        with self._lock:
            message = {
                "message_id": next(self._message_ids),
                "from": self.user(chat_id),
                "chat": self._chat(chat_id),
                "date": _now(),
                **content,
            }
            self._messages[(chat_id, message["message_id"])] = message
            return message

    def send_text(self, chat_id: int, text: str) -> JSON:
        """The user writes ``text`` (a leading ``/word`` is marked as a bot command)."""
        content: JSON = {"text": text}
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0]) if text.strip() else 1
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push("message", self._user_message(chat_id, **content))

    def send_photo(self, chat_id: int, caption: str | None = None) -> JSON:
        sizes = [
            {
                "file_id": f"photo-{chat_id}-{w}",
                "file_unique_id": f"u{chat_id}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 100,
            }
            for w in (90, 320, 800)
        ]
        content: JSON = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._push("message", self._user_message(chat_id, **content))

    def send_sticker(self, chat_id: int) -> JSON:
        sticker = {
            "file_id": "sticker-1",
            "file_unique_id": "s1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self._push("message", self._user_message(chat_id, sticker=sticker))

    def send_location(self, chat_id: int, latitude: float = 46.67, longitude: float = 5.55) -> JSON:
        location = {"latitude": latitude, "longitude": longitude}
        return self._push("message", self._user_message(chat_id, location=location))

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """The user edits one of their earlier messages."""
        with self._lock:
            message = dict(self._messages[(chat_id, message_id)], text=text, edit_date=_now())
            self._messages[(chat_id, message_id)] = message
        return self._push("edited_message", message)

    def click(self, chat_id: int, data: str, message_id: int | None = None) -> JSON:
        """The user presses a button; by default on the latest bot message that offers it."""
        with self._lock:
            if message_id is None:
                for sent in reversed(self._sent.get(chat_id, [])):
                    if data in _callback_data_of(sent):
                        message_id = sent["message_id"]
                        break
                else:
                    raise LookupError(f"no message in chat {chat_id} has a button {data!r}")
            message = self._messages[(chat_id, message_id)]
            query = {
                "id": str(next(self._callback_ids)),
                "from": self.user(chat_id),
                "message": message,
                "chat_instance": str(-(chat_id * 7_919 % 10**18)),
                "data": data,
            }
        return self._push("callback_query", query)

    def bot_messages(self, chat_id: int) -> list[JSON]:
        """Everything the bot sent to ``chat_id`` so far, as the Message objects returned."""
        with self._lock:
            return [dict(m) for m in self._sent.get(chat_id, [])]

    def wait_for(
        self, predicate: Callable[[], bool], *, timeout: float, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)

    def wait_until_polling(self, timeout: float = 60.0, after: int = 0) -> None:
        """Block until the bot has called getUpdates more than ``after`` times."""
        self.wait_for(lambda: self.get_updates_count > after, timeout=timeout, what="getUpdates")

    def _chat_event(self, chat_id: int) -> threading.Condition:
        with self._lock:
            return self._chat_events.setdefault(chat_id, threading.Condition(self._lock))

    def wait_replies(
        self, chat_id: int, after: int, *, timeout: float = 60.0, quiet: float = 1.0
    ) -> list[JSON]:
        """Bot messages after the first ``after`` ones: at least one, then none for ``quiet`` s."""
        event = self._chat_event(chat_id)
        deadline = time.monotonic() + timeout
        with event:  # woken by each message the bot sends to this chat: no polling
            if not event.wait_for(lambda: len(self._sent.get(chat_id, [])) > after, timeout):
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for a reply")
            while time.monotonic() < deadline:
                count = len(self._sent.get(chat_id, []))
                event.wait(quiet)
                if len(self._sent.get(chat_id, [])) == count:
                    break
        return self.bot_messages(chat_id)[after:]

    def sent_times(self, chat_id: int) -> list[float]:
        """``time.monotonic()`` at which each bot message to ``chat_id`` was received."""
        with self._lock:
            return list(self._sent_at.get(chat_id, []))

    def converse(self, chat_id: int, text: str, **wait: Any) -> list[JSON]:
        """Send ``text`` and return the bot's replies."""
        after = len(self.bot_messages(chat_id))
        self.send_text(chat_id, text)
        return self.wait_replies(chat_id, after, **wait)

    def click_and_wait(self, chat_id: int, data: str, **wait: Any) -> list[JSON]:
        """Press the button ``data`` and return the bot's replies."""
        after = len(self.bot_messages(chat_id))
        self.click(chat_id, data)
        return self.wait_replies(chat_id, after, **wait)

    def pending_updates(self) -> int:
        with self._lock:
            return len(self._updates)

    # --- the Bot API side --------------------------------------------------------------------

    def asgi_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/_emu/text", self._ctl_text, methods=["POST"]),
                Route("/_emu/click", self._ctl_click, methods=["POST"]),
                Route("/_emu/messages/{chat_id:int}", self._ctl_messages, methods=["GET"]),
            ]
        )

    async def _api(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(BotApiError(401, "Unauthorized"))
        name = request.path_params["method"].lower()
        try:
            params = await _params(request)
            with self._lock:
                self.calls.append((name, params))
            if name == "getupdates":
                return _ok(await self._get_updates(params))
            handler = getattr(self, f"_m_{name}", None)
            if handler is None:
                raise BotApiError(404, "Not Found")
            with self._lock:
                return _ok(handler(params))
        except BotApiError as exc:
            return _error(exc)

    async def _get_updates(self, params: JSON) -> list[JSON]:
        import asyncio

        offset = params.get("offset")
        limit = max(1, min(100, params.get("limit") or 100))
        timeout = max(0, min(50, params.get("timeout") or 0))
        with self._lock:
            self.get_updates_count += 1
            if offset is not None and offset > 0:
                # Confirms every update before ``offset``.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._updates:
                    return [dict(u) for u in self._updates[:limit]]
            server = self._server
            if time.monotonic() >= deadline or (server is not None and server.should_exit):
                return []
            await asyncio.sleep(0.01)

    def _m_getme(self, params: JSON) -> JSON:
        return self.bot_user

    def _m_deletewebhook(self, params: JSON) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        return True

    def _m_setwebhook(self, params: JSON) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    def _m_getwebhookinfo(self, params: JSON) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _m_setmycommands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BotApiError(400, "Bad Request: commands must be an array")
        self.commands[str(params.get("language_code") or "")] = commands
        return True

    def _m_getmycommands(self, params: JSON) -> list[JSON]:
        return self.commands.get(str(params.get("language_code") or ""), [])

    def _m_deletemycommands(self, params: JSON) -> bool:
        self.commands.pop(str(params.get("language_code") or ""), None)
        return True

    def _m_close(self, params: JSON) -> bool:
        return True

    def _m_logout(self, params: JSON) -> bool:
        return True

    def _target_chat(self, params: JSON) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise BotApiError(400, "Bad Request: chat_id is empty")
        if chat_id in self.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self._chats:
            raise BotApiError(400, "Bad Request: chat not found")
        return chat_id

    def _m_sendmessage(self, params: JSON) -> JSON:
        chat_id = self._target_chat(params)
        text = _check_text(params.get("text"))
        message: JSON = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chats[chat_id],
            "date": _now(),
            "text": text,
        }
        markup = _check_markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        self._sent.setdefault(chat_id, []).append(message)
        self._sent_at.setdefault(chat_id, []).append(time.monotonic())
        self._chat_event(chat_id).notify_all()
        return message

    def _m_answercallbackquery(self, params: JSON) -> bool:
        if not params.get("callback_query_id"):
            raise BotApiError(400, "Bad Request: query is too old and response timeout expired")
        self.answered_callbacks.append(params)
        return True

    def _edit(self, params: JSON, *, text: bool) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        chat_id = self._target_chat(params)
        key = (chat_id, params.get("message_id"))
        old = self._messages.get(key)  # type: ignore[arg-type]
        if old is None or old.get("from", {}).get("id") != self.bot_user["id"]:
            raise BotApiError(400, "Bad Request: message to edit not found")
        new = dict(old, edit_date=_now())
        if text:
            new["text"] = _check_text(params.get("text"))
        markup = _check_markup(params.get("reply_markup"))
        if markup is None:
            new.pop("reply_markup", None)
        else:
            new["reply_markup"] = markup
        if new.get("text") == old.get("text") and new.get("reply_markup") == old.get(
            "reply_markup"
        ):
            raise BotApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        self._messages[key] = new  # type: ignore[index]
        sent = self._sent.get(chat_id, [])
        for i, m in enumerate(sent):
            if m["message_id"] == new["message_id"]:
                sent[i] = new
        return new

    def _m_editmessagetext(self, params: JSON) -> JSON | bool:
        return self._edit(params, text=True)

    def _m_editmessagereplymarkup(self, params: JSON) -> JSON | bool:
        return self._edit(params, text=False)

    def _m_deletemessage(self, params: JSON) -> bool:
        chat_id = self._target_chat(params)
        if self._messages.pop((chat_id, params.get("message_id")), None) is None:  # type: ignore[arg-type]
            raise BotApiError(400, "Bad Request: message to delete not found")
        return True

    # --- HTTP control (for manual runs) ------------------------------------------------------

    async def _ctl_text(self, request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(self.send_text(int(body["chat_id"]), str(body["text"])))

    async def _ctl_click(self, request: Request) -> JSONResponse:
        body = await request.json()
        try:
            return JSONResponse(self.click(int(body["chat_id"]), str(body["data"])))
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    async def _ctl_messages(self, request: Request) -> JSONResponse:
        return JSONResponse(self.bot_messages(request.path_params["chat_id"]))


# --- helpers -------------------------------------------------------------------------------------


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(exc: BotApiError) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error_code": exc.code, "description": exc.description},
        status_code=exc.code,
    )


async def _params(request: Request) -> JSON:
    """Bot API parameters from the query string, a form or a JSON body, typed like Telegram."""
    raw: JSON = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        body = await request.body()
        if body:
            raw.update(json.loads(body))
    elif "application/x-www-form-urlencoded" in content_type:
        # Parsed by hand: starlette's request.form() needs python-multipart.
        raw.update(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    elif content_type:
        raise BotApiError(400, f"Bad Request: unsupported content type {content_type}")
    params: JSON = {}
    for key, value in raw.items():
        if isinstance(value, str) and key in _INT_PARAMS:
            try:
                value = int(value)
            except ValueError as exc:
                raise BotApiError(400, f"Bad Request: invalid {key}") from exc
        elif isinstance(value, str) and key in _JSON_PARAMS:
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise BotApiError(400, f"Bad Request: can't parse {key} JSON object") from exc
        params[key] = value
    return params


def _check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BotApiError(400, "Bad Request: message text is empty")
    if _utf16_len(text) > MAX_TEXT:
        raise BotApiError(400, "Bad Request: message is too long")
    return text


def _check_markup(markup: Any) -> JSON | None:
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        raise BotApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if not rows:
        return None
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise BotApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA:
                raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _callback_data_of(message: JSON) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


# --- manual console ------------------------------------------------------------------------------


def _print_message(message: JSON) -> None:
    print(f"\n[bot #{message['message_id']}] {message['text']}")
    for row in message.get("reply_markup", {}).get("inline_keyboard", []):
        for button in row:
            print(f"    [{button.get('callback_data')}] {button['text']}")


def _console(emu: TelegramEmulator, chat_id: int) -> None:
    """Play one user: lines are messages; ``!N`` presses the N-th button (from 1) of the last
    keyboard, ``!data`` presses the button with that callback data, ``!photo``/``!sticker``
    send media, ``!quit`` leaves."""
    seen = 0

    def printer() -> None:
        nonlocal seen
        while True:
            messages = emu.bot_messages(chat_id)
            for m in messages[seen:]:
                _print_message(m)
            seen = len(messages)
            time.sleep(0.1)

    threading.Thread(target=printer, daemon=True).start()
    for line in sys.stdin:
        line = line.rstrip("\n")
        with contextlib.suppress(LookupError, IndexError):
            if line == "!quit":
                return
            if line == "!photo":
                emu.send_photo(chat_id)
            elif line == "!sticker":
                emu.send_sticker(chat_id)
            elif line.startswith("!"):
                arg = line[1:].strip()
                if arg.isdigit():
                    last = [m for m in emu.bot_messages(chat_id) if _callback_data_of(m)]
                    arg = _callback_data_of(last[-1])[int(arg) - 1]
                emu.click(chat_id, arg)
            elif line:
                emu.send_text(chat_id, line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(_console.__doc__ or "").replace("\n", " "))
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--chat", type=int, default=1001, help="the user's chat id")
    args = parser.parse_args(argv)
    with TelegramEmulator(args.token, port=args.port) as emu:
        print(f"Bot API emulator on {emu.base_url} (token {args.token}); start the bot with")
        print(f"  PIU_TELEGRAM_TOKEN={args.token} PIU_TELEGRAM_API_BASE_URL={emu.base_url} piu bot")
        emu._chat(args.chat)
        _console(emu, args.chat)


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[TelegramEmulator]:
    """``with running() as emu:`` — a started emulator, stopped on exit."""
    emu = TelegramEmulator(**kwargs)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
