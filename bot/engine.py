"""The transport-independent conversation engine.

Input: (transport, external id, text or button choice). Output: messages with
optional buttons. Each call loads the person's ``ConversationState``, runs one
step and saves it in a single transaction, so a restart resumes exactly where
the user was. Calls to the match service and peers (which write their own
rows, e.g. the index version) run *after* that commit, as deferred actions
that open their own short transaction.

Button ids are ``action:value@nonce``; the nonce changes each time a new
question is asked, so a button from an older step is recognised as stale.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import flag_modified

from bot.ratelimit import ChatRateLimiter
from bot.types import (
    Button,
    ChoiceHandler,
    CommandHandler,
    Ctx,
    Flow,
    IntroTarget,
    OutMessage,
    Step,
)
from core.config import Settings
from core.db import Database
from core.domain import clean_text
from core.messages import MESSAGES, t
from core.models import ChatIdentity, ConversationState, Outbox, Person, utcnow

if TYPE_CHECKING:
    from digest.mail import Mailer
    from matcher.peers import PeerService
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

__all__ = ["ConversationEngine", "detect_language"]

log = logging.getLogger(__name__)

DetectorFactory.seed = 0
_DETECT_LOCK = threading.Lock()


def detect_language(text: str) -> str | None:
    """ "fr" or "en" for a message of 3 words or more; ``None`` if short or anything else."""
    if len(text.split()) < 3:
        return None
    try:
        with _DETECT_LOCK:
            langs = detect_langs(text)
    except LangDetectException:
        return None
    if langs and langs[0].lang in ("fr", "en") and langs[0].prob >= 0.7:
        return str(langs[0].lang)
    return None


#: matcher.introductions.respond result code -> acknowledgement for the responder.
_INTRO_ANSWER_KEYS = {
    "accepted": "intro_accepted_ack",
    "declined": "intro_declined_ack",
    "not_target": "intro_not_target",
    "already_answered": "intro_already_answered",
    "not_found": "intro_not_found",
}

#: How long a processed input id is remembered (Telegram re-delivers within minutes).
SEQ_MEMORY_SECONDS = 24 * 3600


_BUTTON_ID = re.compile(r"^([a-z]{1,8}):([A-Za-z0-9_.:\-]{0,40})(?:@([0-9a-z]{1,10}))?$")
_COMMAND = re.compile(r"^/([A-Za-z_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.S)


class ConversationEngine:
    """One engine for every transport (Telegram, web chat, terminal)."""

    def __init__(
        self,
        db: Database,
        service: MatchService,
        settings: Settings,
        resolver: TerritoryResolver | None = None,
        peers: PeerService | None = None,
        *,
        flows: Sequence[Flow],
        mailer: Mailer | None = None,
    ) -> None:
        """``flows``: installed in this order, and no other (``bot.flows.ALL_FLOWS``: all).
        ``mailer``: the SMTP relay (the digest's confirmation mails), None without one."""
        self.db = db
        self.mailer = mailer
        self.service = service
        self.settings = settings
        self.resolver = resolver
        self.peers = peers
        self.rate_limit = ChatRateLimiter(settings.chat_rate_limit_per_minute)
        self.today: Callable[[], dt.date] = dt.date.today
        self.steps: dict[str, Step] = {}
        self.commands: dict[str, CommandHandler] = {}
        self.choices: dict[str, ChoiceHandler] = {}
        self.flows: dict[str, Flow] = {}
        # the contact flow wraps it (a contact is offered before a first accept)
        self.register_choice("intro", self.answer_introduction)
        for flow in flows:
            self.flows[flow.name] = flow
            flow.install(self)

    # -- extension points (each flow's install registers here) -----------------------------
    def has_flow(self, name: str) -> bool:
        """Whether the flow ``name`` is installed (a flow may offer another's buttons)."""
        return name in self.flows

    def enter(self, ctx: Ctx, flow: str, text: str = "") -> None:
        """Begin the installed flow ``flow`` (its ``start``) with the text already written."""
        start = self.flows[flow].start
        if start is None:
            raise ValueError(f"flow {flow!r} has no entry point")
        start(ctx, text)

    def register_command(self, names: str | tuple[str, ...], handler: CommandHandler) -> None:
        """Add ``/name`` commands; the handler gets the context and the text after it."""
        for name in (names,) if isinstance(names, str) else names:
            self.commands[name.lower()] = handler

    def register_choice(self, action: str, handler: ChoiceHandler) -> None:
        """Add a global button action (valid at any step, not tied to a step nonce)."""
        self.choices[action] = handler

    def register_steps(self, steps: dict[str, Step]) -> None:
        self.steps.update(steps)

    # -- public API -------------------------------------------------------------------------
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
        """Process one incoming message or button press; return the replies.

        ``seq``: the transport's increasing id of this input (Telegram's ``update_id``).
        An input at or below the last one processed for this user is a re-delivery (the
        process died after the step committed, before the transport confirmed it): the
        step is not run again; the current question is asked again instead.
        """
        wait = self.rate_limit.retry_after(transport, external_id)
        if wait is not None:  # over the per-user limit: a notice, nothing processed
            lang = self._language_of(transport, external_id)
            return [OutMessage(t("rate_limited", lang, seconds=wait))]
        try:
            out, after = self._transact(
                transport,
                external_id,
                lambda ctx: self._dispatch_once(ctx, seq, text, choice, kind),
            )
        except Exception:
            log.exception("conversation step failed (%s:%s)", transport, external_id)
            return [OutMessage(t("error", self._language_of(transport, external_id)))]
        for action in after:
            try:
                out.extend(action())
            except Exception:
                log.exception("deferred action failed (%s:%s)", transport, external_id)
                out.append(OutMessage(t("error", self._language_of(transport, external_id))))
        return out

    def pending_outbox(self, transport: str, external_id: str) -> list[OutMessage]:
        """Undelivered messages for this user (marked delivered as they are returned)."""
        with self.db.session() as session:  # one query when there is nothing to deliver
            rows = session.execute(
                select(Outbox, Person.language)
                .join(ChatIdentity, ChatIdentity.person_id == Outbox.person_id)
                .join(Person, Person.id == Outbox.person_id)
                .where(
                    ChatIdentity.transport == transport,
                    ChatIdentity.external_id == external_id,
                    Outbox.delivered_at.is_(None),
                )
                .order_by(Outbox.id)
            ).all()
            out = []
            for row, language in rows:
                out.append(self.render_outbox(row.payload, language))
                row.delivered_at = utcnow()
            return out

    def outbox_for_transport(
        self, transport: str, limit: int = 100
    ) -> list[tuple[str, int, OutMessage]]:
        """Undelivered outbox messages for users of ``transport``: (external id, id, message)."""
        with self.db.session() as session:
            rows = session.execute(
                select(Outbox, ChatIdentity.external_id, Person.language)
                .join(ChatIdentity, ChatIdentity.person_id == Outbox.person_id)
                .join(Person, Person.id == Outbox.person_id)
                .where(ChatIdentity.transport == transport, Outbox.delivered_at.is_(None))
                .order_by(Outbox.id)
                .limit(limit)
            ).all()
            return [
                (external_id, box.id, self.render_outbox(box.payload, language))
                for box, external_id, language in rows
            ]

    def mark_delivered(self, outbox_id: int) -> None:
        with self.db.session() as session:
            row = session.get(Outbox, outbox_id)
            if row is not None and row.delivered_at is None:
                row.delivered_at = utcnow()

    @staticmethod
    def render_outbox(payload: dict[str, Any], language: str) -> OutMessage:
        """An outbox payload as a message.

        Payloads are either ``{"key": <catalogue key>, "params": {...}}`` (rendered in
        the recipient's language) or ``{"text": ..., "text_en": ...}``; both may carry
        ``"buttons": [{"id": ..., "key": <catalogue key>}]`` (or ``"label"``/``"label_en"``
        instead of ``"key"``): global actions, see register_choice.
        """
        lang = language if language in ("fr", "en") else "fr"
        if "key" in payload and str(payload["key"]) in MESSAGES:
            params = dict(payload.get("params") or {})
            text = t(str(payload["key"]), lang, **params)
            text = re.sub(r"[ \u00a0]+\n", "\n", text).strip()  # an empty optional {param}
        else:
            text = str(payload.get(f"text_{lang}") or payload.get("text") or "")
        buttons = []
        for b in payload.get("buttons") or []:
            key = b.get("key")
            label = t(key, lang) if key in MESSAGES else b.get(f"label_{lang}") or b.get("label")
            buttons.append(Button(str(b["id"]), str(label or "")))
        return OutMessage(text, buttons)

    # -- introductions (double opt-in, matcher.introductions) -------------------------------
    def request_introduction(self, requester_id: int, **target: Unpack[IntroTarget]) -> Any:
        """Ask for an introduction; returns an ``IntroResult`` (see matcher.introductions)."""
        if self.peers is not None and hasattr(self.peers, "request_introduction"):
            return self.peers.request_introduction(requester_id, **target)
        from matcher.introductions import request_introduction

        return request_introduction(
            self.db, requester_id=requester_id, settings=self.settings, **target
        )

    def answer_introduction(self, ctx: Ctx, value: str) -> None:
        """Buttons ``intro:accept:<id>`` / ``intro:decline:<id>`` sent through the outbox:
        the answer is recorded after this step commits."""
        verb, _, raw_id = value.partition(":")
        if verb not in ("accept", "decline") or not raw_id.isdigit() or len(raw_id) > 9:
            ctx.say("unexpected")
            self.reask_or_hint(ctx)
            return
        db, responder, lang = self.db, ctx.person.id, ctx.lang
        transport, external_id = ctx.transport, ctx.external_id

        def answer() -> list[OutMessage]:
            from matcher.introductions import respond

            result = respond(
                db,
                introduction_id=int(raw_id),
                responder_id=responder,
                accept=verb == "accept",
                settings=self.settings,
            )
            key = _INTRO_ANSWER_KEYS.get(result.code, "intro_failed")
            out = [OutMessage(t(key, lang))]
            # on accept the other side's contact is already in this user's outbox
            out += self.pending_outbox(transport, external_id)
            # the answer may come in the middle of a flow: ask its question again
            return out + self.in_context(transport, external_id, self.reask_or_hint)

        ctx.defer(answer)

    # -- transactions -------------------------------------------------------------------------
    def resume(self, transport: str, external_id: str) -> list[OutMessage]:
        """What to show someone coming back (a restarted terminal chat): the question
        they were at, buttons included, or the welcome if they were at none."""

        def pending_question(ctx: Ctx) -> None:
            if self.current(ctx) is not None:
                ctx.reask()

        shown = self.in_context(transport, external_id, pending_question)
        return shown or self.handle(transport, external_id, text="/start")

    def in_context(
        self, transport: str, external_id: str, step: Callable[[Ctx], None]
    ) -> list[OutMessage]:
        """Run ``step`` in a fresh transaction for this user (for deferred actions)."""
        out, after = self._transact(transport, external_id, step)
        for action in after:
            out.extend(action())
        return out

    def _transact(
        self, transport: str, external_id: str, step: Callable[[Ctx], None]
    ) -> tuple[list[OutMessage], list[Callable[[], list[OutMessage]]]]:
        for attempt in range(2):
            try:
                with self.db.session() as session:
                    ctx = self._load(session, transport, external_id)
                    step(ctx)
                    self._save(ctx)
                    return ctx.out, ctx.after
            except IntegrityError:
                if attempt:  # a concurrent first message created the identity: retry once
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _identity(session: Session, transport: str, external_id: str) -> ChatIdentity | None:
        return session.scalar(
            select(ChatIdentity)
            .options(joinedload(ChatIdentity.person))  # one query: it is always read
            .where(ChatIdentity.transport == transport, ChatIdentity.external_id == external_id)
        )

    def _language_of(self, transport: str, external_id: str) -> str:
        try:
            with self.db.session() as session:
                ident = self._identity(session, transport, external_id)
                if ident is not None and ident.person.language in ("fr", "en"):
                    return ident.person.language
        except Exception:
            log.debug("could not read the language", exc_info=True)
        return self.settings.default_language

    def _load(self, session: Session, transport: str, external_id: str) -> Ctx:
        ident = self._identity(session, transport, external_id)
        if ident is None:
            person = Person(language=self.settings.default_language)
            session.add(person)
            session.flush()
            ident = ChatIdentity(person_id=person.id, transport=transport, external_id=external_id)
            session.add(ident)
            session.flush()
        person = ident.person
        state = session.scalar(
            select(ConversationState).where(ConversationState.person_id == person.id)
        )
        if state is None:
            state = ConversationState(person_id=person.id, flow=None, step=None, data={"n": 0})
            session.add(state)
            session.flush()
        data = copy.deepcopy(state.data or {})
        data.setdefault("n", 0)
        return Ctx(self, session, person, state, data, transport, external_id)

    @staticmethod
    def _save(ctx: Ctx) -> None:
        ctx.store_states()
        ctx.state.data = copy.deepcopy(ctx.data)
        flag_modified(ctx.state, "data")
        ctx.state.updated_at = utcnow()
        ctx.person.last_active_at = utcnow()

    # -- dispatch -----------------------------------------------------------------------------
    def current(self, ctx: Ctx) -> Step | None:
        return self.steps.get(ctx.step or "")

    def in_flow(self, ctx: Ctx) -> bool:
        """Whether the user is in the middle of a flow (not idle, not at a resting step)."""
        step = self.current(ctx)
        return step is not None and not step.resting

    def reask_or_hint(self, ctx: Ctx) -> None:
        if self.in_flow(ctx):
            ctx.reask()

    def _dispatch_once(
        self, ctx: Ctx, seq: int | None, text: str | None, choice: str | None, kind: str
    ) -> None:
        if seq is not None:
            last: Any = ctx.data.get("seq")  # [seq, timestamp] once stored
            now = int(utcnow().timestamp())
            # Telegram restarts its numbering at random after a week without updates
            recent = isinstance(last, list) and now - int(last[1]) < SEQ_MEMORY_SECONDS
            if recent and seq <= int(last[0]):
                log.info(
                    "input %s for %s:%s already processed: re-asking",
                    seq,
                    ctx.transport,
                    ctx.external_id,
                )
                self.reask_or_hint(ctx)
                return
            ctx.data["seq"] = [seq, now]
        self._dispatch(ctx, text, choice, kind)

    def _dispatch(self, ctx: Ctx, text: str | None, choice: str | None, kind: str) -> None:
        if kind != "text":
            ctx.say("text_only")
            self.reask_or_hint(ctx)
            return
        if choice is not None:
            self._on_choice(ctx, choice)
            return
        raw = text or ""
        if len(raw) > self.settings.max_message_chars:
            ctx.say("too_long", max=self.settings.max_message_chars)
            self.reask_or_hint(ctx)
            return
        cleaned = clean_text(raw)
        if not cleaned:
            ctx.say("empty")
            self.reask_or_hint(ctx)
            return
        if cleaned.startswith("/"):
            self._on_command(ctx, cleaned)
            return
        step = self.current(ctx)
        self._follow_language(ctx, cleaned)
        if step is None or step.resting or step.on_text is None:
            if step is not None and not step.resting:
                ctx.say("unexpected")
                ctx.reask()
                return
            self.idle_text(ctx, cleaned)
            return
        step.on_text(ctx, cleaned)

    def _follow_language(self, ctx: Ctx, prose: str) -> None:
        """Answer in the language of free prose (not of a one-word answer to a question),
        unless the person chose one with /langue."""
        step = self.current(ctx)
        if not ctx.person.language_locked and (step is None or step.prose or step.resting):
            detected = detect_language(prose)
            if detected:
                ctx.person.language = detected

    def idle_text(self, ctx: Ctx, text: str) -> None:
        handler = self.commands.get("__text__")
        if handler is not None:
            handler(ctx, text)

    def _on_command(self, ctx: Ctx, text: str) -> None:
        match = _COMMAND.match(text)
        name = match.group(1).lower() if match else text.split()[0][:40]
        handler = self.commands.get(name) if match and not name.startswith("_") else None
        if handler is None:
            ctx.say("unknown_command", command=text.split()[0][:40])
            if self.in_flow(ctx):
                ctx.reask()
            else:
                ctx.say("help")
            return
        args = (match.group(2) or "").strip() if match else ""
        if args:  # "/need We want to …": the words after the command are prose too
            self._follow_language(ctx, args)
        handler(ctx, args)

    def _on_choice(self, ctx: Ctx, choice: str) -> None:
        match = _BUTTON_ID.match(choice or "")
        if match is None:
            ctx.say("unexpected")
            self.reask_or_hint(ctx)
            return
        action, value, nonce = match.groups()
        if action in self.choices:
            self.choices[action](ctx, value)
            return
        step = self.current(ctx)
        if nonce != ctx.nonce or step is None or step.on_choice is None:
            ctx.say("stale_button")
            if step is not None:
                ctx.reask()
            else:
                ctx.say("help")
            return
        if not step.on_choice(ctx, action, value):
            ctx.say("unexpected")
            ctx.reask()
