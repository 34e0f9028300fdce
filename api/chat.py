"""Web chat adapter: ``POST /api/chat``, ``POST /api/chat/resume``, ``GET /api/chat/inbox``
and the page at ``/``.

The app stores the engine on ``app.state.engine``; the engine is synchronous, so
each call runs in the thread pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.engine import ConversationEngine
from bot.types import OutMessage

__all__ = ["ChatReply", "ChatRequest", "get_engine", "router"]

TRANSPORT = "web"
STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"

router = APIRouter()


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=SESSION_PATTERN)
    text: str | None = Field(None, max_length=100_000)
    choice: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _text_or_choice(self) -> ChatRequest:
        if (self.text is None) == (self.choice is None):
            raise ValueError("give exactly one of 'text' or 'choice'")
        return self


class ButtonOut(BaseModel):
    id: str
    label: str
    url: str | None = None  # a link (website) to open, not a choice to send


class CardOut(BaseModel):
    """A solution as the page draws it (the same content as the message text)."""

    kind: str  # "solution" (a result) | "sheet" (the full card)
    id: int
    rank: int | None = None
    title: str
    pitch: str = ""
    pitch_lang: str = "fr"
    organisation: str | None = None
    maturity: str | None = None
    maturity_label: str | None = None
    trust: str
    trust_label: str
    reasons: list[str] = []
    website: str | None = None
    by: str | None = None  # "Portée par : …", in the reader's language
    why_label: str = ""
    pitch_note: str = ""  # the pitch is catalogue text (French)


class MessageOut(BaseModel):
    text: str
    buttons: list[ButtonOut] = []
    card: CardOut | None = None


class ChatReply(BaseModel):
    messages: list[MessageOut]


#: Chat steps are CPU-bound Python: a few threads keep both cores busy; forty (the
#: default pool) would only fight over the GIL. See ``piu bench load``.
CHAT_THREADS = 4
_limiter: anyio.CapacityLimiter | None = None


def _chat_limiter() -> anyio.CapacityLimiter:
    global _limiter
    if _limiter is None:  # created inside the running event loop
        _limiter = anyio.CapacityLimiter(CHAT_THREADS)
    return _limiter


def get_engine(request: Request) -> ConversationEngine:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise HTTPException(status_code=503, detail="chat engine not ready")
    return engine


EngineDep = Annotated[ConversationEngine, Depends(get_engine)]


def _reply(messages: list[OutMessage]) -> ChatReply:
    return ChatReply(
        messages=[
            MessageOut(
                text=m.text,
                buttons=[ButtonOut(id=b.id, label=b.label, url=b.url) for b in m.buttons],
                card=CardOut.model_validate(m.card) if m.card else None,
            )
            for m in messages
        ]
    )


@router.post("/api/chat", response_model=ChatReply, response_model_exclude_none=True)
async def post_chat(body: ChatRequest, engine: EngineDep) -> ChatReply:
    """One user message or button press; the replies, then any pending outbox messages."""

    def run() -> list[OutMessage]:
        out = engine.handle(TRANSPORT, body.session_id, text=body.text, choice=body.choice)
        return out + engine.pending_outbox(TRANSPORT, body.session_id)

    return _reply(await anyio.to_thread.run_sync(run, limiter=_chat_limiter()))


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=SESSION_PATTERN)


@router.post("/api/chat/resume", response_model=ChatReply, response_model_exclude_none=True)
async def resume_chat(body: ResumeRequest, engine: EngineDep) -> ChatReply:
    """When the page opens (or reloads): what is new since the last visit (pending outbox
    messages: the digest's inbox, introductions), then the question the session was at,
    with its buttons, or the welcome for a new session."""

    def run() -> list[OutMessage]:
        news = engine.pending_outbox(TRANSPORT, body.session_id)
        return news + engine.resume(TRANSPORT, body.session_id)

    return _reply(await anyio.to_thread.run_sync(run, limiter=_chat_limiter()))


@router.get("/api/chat/inbox", response_model=ChatReply, response_model_exclude_none=True)
async def get_inbox(
    engine: EngineDep,
    session_id: Annotated[str, Query(pattern=SESSION_PATTERN)],
) -> ChatReply:
    """Messages waiting for this session (introductions, moderation), marked delivered."""
    return _reply(await run_in_threadpool(engine.pending_outbox, TRANSPORT, session_id))


@router.get("/", include_in_schema=False)
async def chat_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "chat.html", media_type="text/html")


@router.get("/static/chat.js", include_in_schema=False)
async def chat_script() -> FileResponse:
    """The page's script (a file of its own: the Content-Security-Policy allows no inline
    script)."""
    return FileResponse(STATIC_DIR / "chat.js", media_type="text/javascript")
