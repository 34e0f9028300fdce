"""Weekly digest subscriptions: the same settings as ``/digest`` in chat.

* ``GET``/``PUT /api/admin/persons/{person_id}/subscription`` (admin key; changes audited).
* ``GET``/``PUT /api/chat/subscription?session_id=...``: the web chat user's own.

``PUT`` changes the fields it gives (absent or null: unchanged) and answers the new
status. Invalid values: 422 ``{"detail": {"code": ..., "message": ...}}`` with the code of
:class:`digest.commands.SubscriptionError` (``cadence``, ``weekday``, ``hour``,
``language``) or ``themes`` (not in the taxonomy). Themes are taxonomy ids or labels
(French or English); they are stored as French labels, like the chat does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api import crud
from api.chat import SESSION_PATTERN
from api.deps import AdminDep, SessionDep
from api.privacy import _web_person
from bot.flows.digest import status_text
from core.models import Person
from digest.commands import (
    SubscriptionError,
    SubscriptionStatus,
    set_subscription,
    subscription_status,
)
from matcher.themes import find_theme

__all__ = ["router"]

router = APIRouter(tags=["subscriptions"])

PersonIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
SessionQuery = Annotated[str, Query(pattern=SESSION_PATTERN)]
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "invalid settings: detail.code names the field"},
}
_CHAT: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown session"},
    **_INVALID,
}
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or revoked key"},
    404: {"description": "unknown person"},
    **_INVALID,
}


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cadence: Literal["weekly", "off"] | None = None
    weekday: int | None = Field(None, description="0 (Monday) to 6 (Sunday)")
    hour: int | None = Field(None, description="0 to 23, Europe/Paris")
    themes: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=25, description="taxonomy ids or labels; [] for every theme"
    )
    language: Literal["fr", "en"] | None = None


class SubscriptionOut(BaseModel):
    subscribed: bool
    cadence: str
    weekday: int
    hour: int
    timezone: str = "Europe/Paris"
    themes: list[str]
    theme_ids: list[str]
    language: str
    paused: bool
    paused_reason: str | None
    last_sent_at: str | None
    description: str


def _out(status: SubscriptionStatus, lang: str) -> SubscriptionOut:
    lang = lang if lang in ("fr", "en") else "fr"
    ids = [theme.id for theme in (find_theme(x) for x in status.themes) if theme is not None]
    return SubscriptionOut(
        subscribed=status.subscribed,
        cadence=status.cadence,
        weekday=status.weekday,
        hour=status.hour,
        themes=status.themes,
        theme_ids=ids,
        language=status.language,
        paused=status.paused,
        paused_reason=status.paused_reason,
        last_sent_at=status.last_sent_at,
        description=status_text(status, lang),
    )


def _invalid(code: str, message: str) -> HTTPException:
    return HTTPException(422, {"code": code, "message": message})


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise HTTPException(404, "unknown person")
    return person


def _get(session: Session, person_id: int) -> SubscriptionOut:
    person = _person(session, person_id)
    return _out(subscription_status(session, person_id), person.language)


def _put(session: Session, person_id: int, body: SubscriptionIn) -> SubscriptionOut:
    person = _person(session, person_id)
    themes: list[str] | None = None
    if body.themes is not None:
        themes = []
        for value in body.themes:
            theme = find_theme(value.strip())
            if theme is None:
                raise _invalid("themes", f"unknown theme {value[:100]!r}")
            if theme.fr not in themes:
                themes.append(theme.fr)
    try:
        status = set_subscription(
            session,
            person_id,
            cadence=body.cadence,
            weekday=body.weekday,
            hour=body.hour,
            themes=themes,
            language=body.language,
        )
    except SubscriptionError as exc:
        raise _invalid(exc.code, str(exc)) from None
    return _out(status, person.language)


# --------------------------------------------------------------------------- admin


@router.get(
    "/api/admin/persons/{person_id}/subscription",
    response_model=SubscriptionOut,
    tags=["admin"],
    responses=_ADMIN,
)
def admin_get_subscription(
    person_id: PersonIdPath, admin: AdminDep, session: SessionDep
) -> SubscriptionOut:
    """A person's digest subscription."""
    return _get(session, person_id)


@router.put(
    "/api/admin/persons/{person_id}/subscription",
    response_model=SubscriptionOut,
    tags=["admin"],
    responses=_ADMIN,
)
def admin_put_subscription(
    person_id: PersonIdPath, body: SubscriptionIn, admin: AdminDep, session: SessionDep
) -> SubscriptionOut:
    """Change a person's digest subscription (e.g. a request received by e-mail); audited."""
    out = _put(session, person_id, body)
    crud.audit(
        session,
        actor=admin.name,
        action="subscription_set",
        entity_type="person",
        entity_id=person_id,
        detail=body.model_dump(exclude_none=True),
    )
    return out


# --------------------------------------------------------------------------- web chat


@router.get("/api/chat/subscription", response_model=SubscriptionOut, responses=_CHAT)
def chat_get_subscription(session_id: SessionQuery, session: SessionDep) -> SubscriptionOut:
    """This web chat session's digest subscription."""
    return _get(session, _web_person(session, session_id))


@router.put("/api/chat/subscription", response_model=SubscriptionOut, responses=_CHAT)
def chat_put_subscription(
    session_id: SessionQuery, body: SubscriptionIn, session: SessionDep
) -> SubscriptionOut:
    """Change this web chat session's digest subscription."""
    return _put(session, _web_person(session, session_id), body)
