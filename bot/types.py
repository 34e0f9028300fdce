"""The conversation types shared by the engine and the flows.

A flow module imports what it needs from here, never from :mod:`bot.engine`: the
engine installs the flows it is given, the flows only see the :class:`Engine` protocol.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypedDict, TypeVar, Unpack

from sqlalchemy.orm import Session

from core.config import Settings
from core.db import Database
from core.messages import t
from core.models import ConversationState, Person

if TYPE_CHECKING:
    from digest.mail import Mailer
    from matcher.peers import PeerService
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

__all__ = [
    "Button",
    "ChoiceHandler",
    "CommandHandler",
    "Ctx",
    "Engine",
    "EntryHandler",
    "Flow",
    "FlowState",
    "IntroTarget",
    "OutMessage",
    "Step",
]


class IntroTarget(TypedDict, total=False):
    """Whom to be introduced to: one of these ids (see matcher.introductions)."""

    experience_id: int | None
    need_id: int | None
    solution_id: int | None


@dataclass
class Button:
    id: str
    label: str
    #: A link button (a website): opened by the transport, never sent to the engine.
    url: str | None = None


@dataclass
class OutMessage:
    text: str
    buttons: list[Button] = field(default_factory=list)
    #: The same content as ``text``, structured for transports that draw cards (web chat).
    card: dict[str, Any] | None = None


@dataclass
class FlowState:
    """A flow's per-conversation state: a dataclass stored in ``ConversationState.data``
    under ``KEY``, one JSON key per field (only fields away from their default are
    written). Keys this version does not know are kept in ``extra`` and written back, so
    a row saved by another version loses nothing. Get it with :meth:`Ctx.state_of`."""

    KEY: ClassVar[str]
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in raw.items() if k in names}
        return cls(**known, extra={k: v for k, v in raw.items() if k not in names})

    def dump(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra":
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = dataclasses.MISSING
            if value != default:
                out[f.name] = value
        return out


S = TypeVar("S", bound=FlowState)


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


@dataclass
class Ctx:
    """Everything a step handler needs for one user and one call."""

    engine: Engine
    session: Session
    person: Person
    state: ConversationState
    data: dict[str, Any]
    transport: str
    external_id: str
    out: list[OutMessage] = field(default_factory=list)
    after: list[Callable[[], list[OutMessage]]] = field(default_factory=list)
    #: The flow states read during this call (written back into ``data`` on save).
    flow_states: dict[str, FlowState] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.person.language if self.person.language in ("fr", "en") else "fr"

    @property
    def flow(self) -> str | None:
        return self.state.flow

    @property
    def step(self) -> str | None:
        return self.state.step

    @property
    def profile(self) -> dict[str, Any]:
        """What is remembered across flows (kept by :meth:`end_flow`)."""
        return self.data.setdefault("profile", {})

    @property
    def nonce(self) -> str:
        return base36(int(self.data.get("n", 0)))

    def state_of(self, kind: type[S]) -> S:
        """The state of ``kind``'s flow for this conversation (empty if none yet)."""
        found = self.flow_states.get(kind.KEY)
        if not isinstance(found, kind):
            found = kind.load(self.data.get(kind.KEY) or {})
            self.flow_states[kind.KEY] = found
        return found

    def put_state(self, state: FlowState) -> None:
        """Replace the state of ``state``'s flow."""
        self.flow_states[state.KEY] = state

    def pop_state(self, kind: type[S]) -> S:
        """The state of ``kind``'s flow, removed from the conversation."""
        found = self.state_of(kind)
        del self.flow_states[kind.KEY]
        self.data.pop(kind.KEY, None)
        return found

    def store_states(self) -> None:
        """Write the flow states read during this call back into ``data``."""
        for key, state in self.flow_states.items():
            self.data[key] = state.dump()

    def t(self, key: str, **params: object) -> str:
        return t(key, self.lang, **params)

    def say(self, key: str, **params: object) -> None:
        self.out.append(OutMessage(t(key, self.lang, **params)))

    def send(self, text: str, buttons: list[Button] | None = None) -> None:
        self.out.append(OutMessage(text, list(buttons or [])))

    def btn(self, action: str, value: str, label: str) -> Button:
        """A button bound to the current step (its id carries the step nonce)."""
        return Button(f"{action}:{value}@{self.nonce}", label)

    def ask(self, step: str, *, flow: str | None = None) -> None:
        """Move to ``step`` (new nonce: older buttons become stale) and ask its question."""
        if flow is not None:
            self.state.flow = flow
        self.state.step = step
        self.data["n"] = int(self.data.get("n", 0)) + 1
        self.reask()

    def reask(self) -> None:
        """Ask the current step's question again (same nonce: its buttons stay valid)."""
        step = self.engine.steps.get(self.state.step or "")
        if step is not None and step.prompt is not None:
            step.prompt(self)

    def end_flow(self) -> None:
        """Leave the current flow; keeps the nonce and the remembered profile."""
        self.state.flow = None
        self.state.step = None
        keep: dict[str, Any] = {k: self.data[k] for k in ("n", "profile", "seq") if k in self.data}
        self.flow_states.clear()
        self.data.clear()
        self.data.update(keep)
        self.data["n"] = int(self.data.get("n", 0)) + 1

    def defer(self, action: Callable[[], list[OutMessage]]) -> None:
        """Run ``action`` after this step's transaction commits (service calls)."""
        self.after.append(action)


@dataclass
class Step:
    """One question of a flow: how to ask it and how to take an answer."""

    prompt: Callable[[Ctx], None] | None
    on_text: Callable[[Ctx, str], None] | None = None
    on_choice: Callable[[Ctx, str, str], bool] | None = None  # False: not for this step
    resting: bool = False  # a place to stay after a flow (commands act as when idle)
    prose: bool = False  # free prose expected: detect the language on it


CommandHandler = Callable[[Ctx, str], None]
ChoiceHandler = Callable[[Ctx, str], None]
#: Starts a flow from outside it (the role choice, a need typed when idle): ctx, text.
EntryHandler = Callable[[Ctx, str], None]


class Engine(Protocol):
    """What flows see of :class:`bot.engine.ConversationEngine`."""

    db: Database
    service: MatchService
    settings: Settings
    mailer: Mailer | None
    resolver: TerritoryResolver | None
    peers: PeerService | None
    today: Callable[[], dt.date]
    steps: dict[str, Step]

    def register_steps(self, steps: dict[str, Step]) -> None: ...

    def register_command(self, names: str | tuple[str, ...], handler: CommandHandler) -> None: ...

    def register_choice(self, action: str, handler: ChoiceHandler) -> None: ...

    def has_flow(self, name: str) -> bool: ...

    def enter(self, ctx: Ctx, flow: str, text: str = "") -> None: ...

    def current(self, ctx: Ctx) -> Step | None: ...

    def in_flow(self, ctx: Ctx) -> bool: ...

    def reask_or_hint(self, ctx: Ctx) -> None: ...

    def in_context(
        self, transport: str, external_id: str, step: Callable[[Ctx], None]
    ) -> list[OutMessage]: ...

    def render_outbox(self, payload: dict[str, Any], language: str) -> OutMessage: ...

    def request_introduction(self, requester_id: int, **target: Unpack[IntroTarget]) -> Any: ...

    def answer_introduction(self, ctx: Ctx, value: str) -> None: ...


@dataclass(frozen=True)
class Flow:
    """A flow as the engine installs it.

    ``name``: what :meth:`Engine.has_flow` and :meth:`Engine.enter` know it by (not the
    ``ConversationState.flow`` a step stores). ``install`` registers its steps, commands
    and global buttons; ``start``, when the flow can be entered from outside (the role
    choice, a need typed when idle), begins it with the text already written.
    """

    name: str
    install: Callable[[Engine], None]
    start: EntryHandler | None = None
