"""Telegram transport: a thin python-telegram-bot adapter over the ConversationEngine.

Every update becomes one call to the synchronous engine (run in a worker thread), and the
engine's ``OutMessage`` list is rendered as plain-text messages with inline keyboards.
The engine owns the conversation state (stored in the database), so the adapter keeps
none: a restart resumes where the user was.

Wiring sits in :func:`build_application`; handlers reach the engine through the typed
context :class:`BotContext`, filled once in ``post_init``. One error handler logs
everything unexpected and apologises to the user.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import Response
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackContext,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)

from bot.types import OutMessage
from core.messages import LANGUAGES, MESSAGES, t

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import BaseRequest

    from core.config import Settings

__all__ = [
    "TRANSPORT",
    "BotContext",
    "ChatEngine",
    "build_application",
    "deliver_outbox",
    "keyboard",
    "run",
    "send_messages",
    "split_text",
]

log = logging.getLogger(__name__)

TRANSPORT = "telegram"
OUTBOX_INTERVAL_S = 5.0
#: Labels up to this length are laid out two per row.
SHORT_LABEL = 18
#: Telegram limits: message text (counted in UTF-16 code units) and callback data (bytes).
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CALLBACK_DATA = 64

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

_ENGINE_KEY = "engine"
_LONG_IDS_KEY = "long_button_ids"

#: Catalogue keys the adapter uses when present (see the module notes in the closing report).
EDITED_KEY = "edited_ignored"
COMMANDS: dict[str, str] = {
    "start": "cmd_start",
    "aide": "cmd_help",
    "besoin": "cmd_need",
    "annuaire": "cmd_directory",
    "inscrire": "cmd_register",
    "mesbesoins": "cmd_myneeds",
    "suivis": "cmd_followed",
    "messolutions": "cmd_mysolutions",
    "annuler": "cmd_cancel",
    "langue": "cmd_language",
    "digest": "cmd_digest",
    "contact": "cmd_contact",
    "rex": "cmd_rex",
}


class ChatEngine(Protocol):
    """What the adapter needs from :class:`bot.engine.ConversationEngine`."""

    def handle(
        self,
        transport: str,
        external_id: str,
        *,
        text: str | None = None,
        choice: str | None = None,
        kind: str = "text",
        seq: int | None = None,
    ) -> list[OutMessage]: ...

    def outbox_for_transport(
        self, transport: str, limit: int = 100
    ) -> list[tuple[str, int, OutMessage]]: ...

    def mark_delivered(self, outbox_id: int) -> None: ...


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context, with the services PIU handlers need as typed properties."""

    @property
    def engine(self) -> ChatEngine:
        return self.bot_data[_ENGINE_KEY]  # type: ignore[no-any-return]

    @property
    def long_button_ids(self) -> dict[str, str]:
        """Short callback data -> engine button id, for ids over Telegram's 64 bytes."""
        return self.bot_data.setdefault(_LONG_IDS_KEY, {})  # type: ignore[no-any-return]


# --- Pure rendering ---------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split ``text`` into chunks Telegram accepts, preferring paragraph, line, word breaks."""
    text = text.strip()
    chunks: list[str] = []
    while _utf16_len(text) > limit:
        # The longest prefix within the limit (code points, adjusted for UTF-16 pairs).
        cut = limit
        while _utf16_len(text[:cut]) > limit:
            cut -= 1
        head = text[:cut]
        for sep in ("\n\n", "\n", " "):
            pos = head.rfind(sep)
            if pos > limit // 4:
                cut = pos
                break
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def callback_data(button_id: str, long_ids: dict[str, str] | None = None) -> str:
    """The callback data for an engine button id (hashed when over 64 bytes)."""
    if len(button_id.encode("utf-8")) <= MAX_CALLBACK_DATA:
        return button_id
    short = "h:" + hashlib.sha256(button_id.encode("utf-8")).hexdigest()[:32]
    if long_ids is not None:
        long_ids[short] = button_id
    log.warning("button id over %d bytes, hashed: %.80r", MAX_CALLBACK_DATA, button_id)
    return short


def keyboard(
    buttons: Sequence[Any], long_ids: dict[str, str] | None = None
) -> InlineKeyboardMarkup | None:
    """Inline keyboard: one button per row, two per row when both labels are short."""
    if not buttons:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    pending: InlineKeyboardButton | None = None
    for button in buttons:
        url = getattr(button, "url", None)
        ikb = (
            InlineKeyboardButton(button.label, url=url)
            if url
            else InlineKeyboardButton(
                button.label, callback_data=callback_data(button.id, long_ids)
            )
        )
        if len(button.label) > SHORT_LABEL:
            if pending is not None:
                rows.append([pending])
                pending = None
            rows.append([ikb])
        elif pending is None:
            pending = ikb
        else:
            rows.append([pending, ikb])
            pending = None
    if pending is not None:
        rows.append([pending])
    return InlineKeyboardMarkup(rows)


def bilingual(key: str) -> str:
    """A catalogue message in every language, French first (when the user's is unknown)."""
    return "\n\n".join(t(key, lang) for lang in LANGUAGES)


# --- Sending -----------------------------------------------------------------------------------


def merge_messages(out: Sequence[OutMessage]) -> list[OutMessage]:
    """Fold each message without buttons into the message after it (blank line between).

    A turn such as "need saved / results / peers / what next?" becomes one or two Telegram
    messages instead of four: fewer notifications for the user, and fewer calls against
    Telegram's ~30 messages per second per bot (the bot's AIORateLimiter enforces it).
    """
    merged: list[OutMessage] = []
    pending: str | None = None
    for msg in out:
        if not msg.text:
            continue
        text = msg.text if pending is None else f"{pending}\n\n{msg.text}"
        if pending is not None and len(text) > MAX_TEXT:
            merged.append(OutMessage(pending))
            text = msg.text
        if msg.buttons:
            merged.append(OutMessage(text, list(msg.buttons)))
            pending = None
        else:
            pending = text
    if pending is not None:
        merged.append(OutMessage(pending))
    return merged


async def send_messages(
    bot: Bot,
    chat_id: int,
    out: Sequence[OutMessage],
    long_ids: dict[str, str] | None = None,
) -> list[Message]:
    """Send engine messages to a chat, one after the other (keeps order and per-chat pace)."""
    sent: list[Message] = []
    for msg in out:
        chunks = split_text(msg.text)
        if not chunks:
            log.warning("engine returned an empty message to chat %s; skipped", chat_id)
            continue
        markup = keyboard(msg.buttons, long_ids)
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            sent.append(
                await bot.send_message(
                    chat_id=chat_id,
                    text=chunk,
                    reply_markup=markup if last else None,
                    link_preview_options=NO_PREVIEW,
                )
            )
    return sent


async def deliver_outbox(
    bot: Bot,
    engine: ChatEngine,
    *,
    limit: int = 100,
    long_ids: dict[str, str] | None = None,
) -> int:
    """Send pending outbox messages; returns how many were delivered (or dropped as blocked).

    A message is marked delivered only after Telegram accepted it. ``Forbidden`` (the user
    blocked the bot, or never started it) marks it delivered without retry; any other error
    leaves it, and the rest of that chat's messages, for the next run.
    """
    pending = await asyncio.to_thread(engine.outbox_for_transport, TRANSPORT, limit)
    done = 0
    failed_chats: set[str] = set()
    for external_id, outbox_id, msg in pending:
        if external_id in failed_chats:
            continue
        try:
            chat_id = int(external_id)
        except ValueError:
            log.error("outbox %s: external id %r is not a Telegram chat id", outbox_id, external_id)
            await asyncio.to_thread(engine.mark_delivered, outbox_id)
            continue
        try:
            await send_messages(bot, chat_id, [msg], long_ids)
        except Forbidden as exc:
            log.warning(
                "outbox %s: chat %s refuses messages (%s); dropped", outbox_id, chat_id, exc
            )
        except TelegramError as exc:
            log.warning("outbox %s: chat %s not reached (%s); will retry", outbox_id, chat_id, exc)
            failed_chats.add(external_id)
            continue
        await asyncio.to_thread(engine.mark_delivered, outbox_id)
        done += 1
    return done


# --- Handlers (thin: read the update, call the engine once, send the rendering) ---------------


async def _reply(update: Update, context: BotContext, **engine_input: Any) -> None:
    chat = update.effective_chat
    if chat is None:  # pragma: no cover - filtered out by the handlers
        return
    # update_id: Telegram delivers an update again if the bot died before confirming it;
    # the engine then re-asks the current question instead of running the step twice
    out = await asyncio.to_thread(
        context.engine.handle, TRANSPORT, str(chat.id), seq=update.update_id, **engine_input
    )
    await send_messages(context.bot, chat.id, merge_messages(out), context.long_button_ids)


async def on_text(update: Update, context: BotContext) -> None:
    """Text messages and every /command: the engine knows the commands."""
    assert update.message is not None
    await _reply(update, context, text=update.message.text, kind="text")


async def on_choice(update: Update, context: BotContext) -> None:
    """A button press: acknowledge it, clear the old keyboard, pass the choice on."""
    query = update.callback_query
    assert query is not None
    try:
        await query.answer()
    except BadRequest as exc:  # "query is too old": the press itself still counts
        log.debug("could not answer the callback query: %s", exc)
    data = query.data or ""
    choice = context.long_button_ids.get(data, data)
    # Clearing the old keyboard is a nicety (a stale button is answered by the engine): it
    # runs while the engine works, and is skipped when the bot is near Telegram's rate
    # limit, where it would cost a reply's place in the queue.
    clearing = None
    limiter = context.bot.rate_limiter
    busy = isinstance(limiter, PiuRateLimiter) and limiter.busy()
    if query.message is not None and isinstance(query.message, Message) and not busy:
        clearing = asyncio.create_task(_clear_keyboard(query))
    try:
        await _reply(update, context, choice=choice)
    finally:
        if clearing is not None:
            await clearing


async def _clear_keyboard(query: CallbackQuery) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # too old, already cleared: harmless
        log.debug("could not clear the keyboard: %s", exc)


async def on_other(update: Update, context: BotContext) -> None:
    """Photos, stickers, files, voice, locations…: the engine answers with its text-only hint."""
    message = update.message
    assert message is not None
    await _reply(update, context, text=message.caption, kind="other")


async def on_edited(update: Update, context: BotContext) -> None:
    """Edits are not replayed into the conversation; say so once if the catalogue can."""
    if EDITED_KEY in MESSAGES and update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, bilingual(EDITED_KEY))


async def on_error(update: object, context: BotContext) -> None:
    """Log every unexpected error; tell the user, in French and English, when there is one."""
    log.error("error while handling an update: %r", update, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        await context.bot.send_message(update.effective_chat.id, bilingual("error"))
    except TelegramError as exc:
        log.warning("could not send the error notice: %s", exc)


async def _outbox_job(context: BotContext) -> None:
    await deliver_outbox(context.bot, context.engine, long_ids=context.long_button_ids)


# --- Wiring -----------------------------------------------------------------------------------

#: Updates processed at once. Each runs the engine in a worker thread, so one user's
#: search never holds up everybody else's replies (PTB's default is one at a time).
CONCURRENT_UPDATES = 32


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat run one by one,
    in the order they arrived (a double tap or two quick messages stay in order)."""

    def __init__(self, max_concurrent_updates: int = CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())  # FIFO: arrival order kept
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:  # nobody waits on it: forget the chat
                del self._holders[key]
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class PiuRateLimiter(AIORateLimiter):
    """PTB's limiter (~30 calls/s per bot, 1/s per chat) that also counts the demand, so
    optional calls (clearing an old keyboard) can be shed when the bot is busy.

    Only calls to a chat count, as in the limiter itself; a call counts when it is asked
    for, queued or not, so a growing queue reads as demand above the budget.
    """

    BUSY_PER_SECOND = 20  # two thirds of Telegram's ~30 messages/s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._asked: deque[float] = deque()

    def asked_last_second(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        while self._asked and self._asked[0] <= now - 1.0:
            self._asked.popleft()
        return len(self._asked)

    def busy(self) -> bool:
        return self.asked_last_second() >= self.BUSY_PER_SECOND

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if data.get("chat_id") is not None:
            now = time.monotonic()
            self.asked_last_second(now)  # prunes: the deque holds one second at most
            self._asked.append(now)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def rate_limiter() -> PiuRateLimiter | None:
    """The bot's rate limiter when the ``rate-limiter`` extra (aiolimiter) is installed."""
    try:
        return PiuRateLimiter(max_retries=2)
    except RuntimeError:
        log.info("aiolimiter not installed: no rate limiter (messages are sent sequentially)")
        return None


def _bot_commands(lang: str) -> list[BotCommand]:
    return [BotCommand(cmd, t(key, lang)) for cmd, key in COMMANDS.items() if key in MESSAGES]


def build_application(
    settings: Settings,
    engine: ChatEngine,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    outbox_interval: float = OUTBOX_INTERVAL_S,
    limiter: bool = True,
) -> Application[Any, BotContext, Any, Any, Any, Any]:
    """The Telegram application over ``engine``, configured from ``settings``."""
    if settings.telegram_token is None:
        raise ValueError("PIU_TELEGRAM_TOKEN is not set")

    async def post_init(application: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
        application.bot_data[_ENGINE_KEY] = engine
        application.bot_data.setdefault(_LONG_IDS_KEY, {})
        if application.job_queue is not None:
            application.job_queue.run_repeating(
                _outbox_job, interval=outbox_interval, first=outbox_interval, name="outbox"
            )
        if len(_bot_commands("fr")) == len(COMMANDS):
            try:
                await application.bot.set_my_commands(_bot_commands("fr"))
                await application.bot.set_my_commands(_bot_commands("en"), language_code="en")
            except TelegramError as exc:
                log.warning("could not set the command list: %s", exc)

    builder: ApplicationBuilder[Any, BotContext, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url.rstrip("/")
        builder = builder.base_url(base)
        file_base = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base
        builder = builder.base_file_url(file_base)
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if limiter and (rl := rate_limiter()) is not None:
        builder = builder.rate_limiter(rl)
    application = builder.concurrent_updates(PerChatUpdateProcessor()).build()

    private = filters.ChatType.PRIVATE
    message = filters.UpdateType.MESSAGE & private
    application.add_handler(MessageHandler(filters.UpdateType.EDITED & private, on_edited))
    application.add_handler(MessageHandler(message & filters.TEXT, on_text))
    application.add_handler(CallbackQueryHandler(on_choice))
    application.add_handler(
        MessageHandler(message & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_other)
    )
    application.add_error_handler(on_error)
    return application


def webhook_endpoint(
    application: Application[Any, Any, Any, Any, Any, Any], secret: str | None
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint feeding Telegram's webhook calls to ``application``.

    The secret header is compared in constant time (PTB's own webhook server uses
    ``!=``); a wrong or missing secret gets 403 and nothing is processed.
    """
    expected = (secret or "").encode()

    async def endpoint(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if expected and not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError):
            return Response(status_code=400)
        if update is None:
            return Response(status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return endpoint


def webhook_path(settings: Settings) -> str:
    assert settings.telegram_webhook_url is not None
    return "/" + urlparse(settings.telegram_webhook_url).path.lstrip("/")


async def start_webhook(
    application: Application[Any, Any, Any, Any, Any, Any], settings: Settings
) -> None:
    """Tell Telegram where to send updates (with the secret it must echo back)."""
    secret = settings.telegram_webhook_secret
    await application.bot.set_webhook(
        settings.telegram_webhook_url or "",
        secret_token=secret.get_secret_value() if secret else None,
        allowed_updates=Update.ALL_TYPES,
    )


def run(
    application: Application[Any, Any, Any, Any, Any, Any],
    settings: Settings,
    *,
    listen: str = "127.0.0.1",
    port: int = 8443,
) -> None:
    """Run until interrupted: webhook when ``telegram_webhook_url`` is set, polling otherwise."""
    if not settings.telegram_webhook_url:
        application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
        return
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    secret = settings.telegram_webhook_secret
    endpoint = webhook_endpoint(application, secret.get_secret_value() if secret else None)
    web = Starlette(routes=[Route(webhook_path(settings), endpoint, methods=["POST"])])

    async def main() -> None:
        async with application:
            await application.start()
            await start_webhook(application, settings)
            try:
                await uvicorn.Server(uvicorn.Config(web, host=listen, port=port)).serve()
            finally:
                await application.stop()

    asyncio.run(main())
