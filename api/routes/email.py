"""The digest by e-mail: the links in the mails, and the web chat's address.

No login: the links carry a signed token (:mod:`digest.mail`).

* ``GET /api/digest/email/confirm?token=...``: a page with one button (mail scanners
  that open links confirm nothing); ``POST`` (same URL) confirms the address.
* ``GET /api/digest/email/unsubscribe?token=...``: a page with one button; ``POST``
  (same URL, body ``List-Unsubscribe=One-Click`` from the mail client, RFC 8058, or the
  button) stops the e-mails and erases the address. Both answer 200 when done, and a
  second unsubscribe is done too; an invalid or expired link answers 400.
* ``POST /api/chat/subscription/email`` ``{"session_id", "email"}``: this web chat
  user's address; 202 once the confirmation link is mailed, 422 invalid address, 503
  no relay configured, 502 the relay refused or failed. ``DELETE`` (``?session_id=``):
  no more e-mails.
"""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.chat import SESSION_PATTERN
from api.deps import SessionDep
from api.privacy import _web_person
from bot.flows.shared import validate_email
from core.messages import t
from core.models import Person, Subscription, utcnow
from digest.commands import confirm_email, remove_email, request_email
from digest.mail import (
    CONFIRM,
    UNSUBSCRIBE,
    MailRefused,
    MailTemporary,
    parse,
    send_confirmation,
    verify,
)

__all__ = ["router"]

router = APIRouter(tags=["digest e-mail"])

TokenQuery = Annotated[str, Query(min_length=5, max_length=100)]
_PAGE: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid or expired link (an HTML page says so)"}
}


def _page(lang: str, message: str, *, action: str | None = None, button: str = "") -> str:
    form = (
        f'<form method="post" action="{html.escape(action)}">'
        f'<button type="submit">{html.escape(button)}</button></form>'
        if action
        else f'<p><a href="/">{html.escape(t("email_page_open_chat", lang))}</a></p>'
    )
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>PIU</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;"
        "margin:3rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;"
        "padding:.5rem 1rem}</style></head>"
        f"<body><h1>PIU</h1><p>{html.escape(message)}</p>{form}</body></html>"
    )


#: The pages' own policy: their inline style, a form posting to this site, nothing else.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"


def _response(body: str, *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY})


def _valid(session: Any, request: Request, purpose: str, token: str) -> Subscription | None:
    """The subscription a valid token is for (right purpose, address, not expired)."""
    parsed = parse(token)
    sub = session.get(Subscription, parsed[0]) if parsed else None
    settings = request.app.state.settings
    if sub is None or not verify(settings, purpose, token, sub.email, now=utcnow()):
        return None
    return sub


def _known(session: Any, token: str) -> Subscription | None:
    """The subscription a token names, valid or not (an unsubscribe already done)."""
    parsed = parse(token)
    return session.get(Subscription, parsed[0]) if parsed else None


def _html(lang: str, key: str, **params: object) -> HTMLResponse:
    return _response(_page(lang, t(key, lang, **params)))


def _invalid_page(request: Request) -> HTMLResponse:
    lang = request.app.state.settings.default_language
    return _response(_page(lang, t("email_page_invalid", lang)), status=400)


def _ask(
    request: Request, token: str, lang: str, key: str, button: str, **params: object
) -> HTMLResponse:
    action = f"{request.url.path}?{urlencode({'token': token})}"
    return _response(_page(lang, t(key, lang, **params), action=action, button=t(button, lang)))


@router.get("/api/digest/email/confirm", response_class=HTMLResponse, responses=_PAGE)
def confirm_page(token: TokenQuery, request: Request, session: SessionDep) -> HTMLResponse:
    """The confirmation page: one button."""
    sub = _valid(session, request, CONFIRM, token)
    if sub is None:
        return _invalid_page(request)
    if sub.email_confirmed_at is not None:
        return _html(sub.language, "email_page_confirmed", email=sub.email)
    return _ask(
        request, token, sub.language, "email_page_confirm", "email_confirm_button", email=sub.email
    )


@router.post("/api/digest/email/confirm", response_class=HTMLResponse, responses=_PAGE)
def confirm(token: TokenQuery, request: Request, session: SessionDep) -> HTMLResponse:
    """Confirm the address (double opt-in): the digest goes there from now on."""
    sub = _valid(session, request, CONFIRM, token)
    if sub is None:
        return _invalid_page(request)
    policy = request.app.state.settings.privacy_policy_version
    confirm_email(session, sub, now=utcnow(), policy=policy)
    return _html(sub.language, "email_page_confirmed", email=sub.email)


@router.get("/api/digest/email/unsubscribe", response_class=HTMLResponse, responses=_PAGE)
def unsubscribe_page(token: TokenQuery, request: Request, session: SessionDep) -> HTMLResponse:
    """The unsubscribe page: one button (opening the link changes nothing)."""
    known = _known(session, token)
    if known is not None and known.email is None:  # already done
        return _html(known.language, "email_page_unsubscribed")
    sub = _valid(session, request, UNSUBSCRIBE, token)
    if sub is None:
        return _invalid_page(request)
    return _ask(
        request, token, sub.language, "email_page_unsubscribe", "email_page_unsubscribe_button"
    )


@router.post("/api/digest/email/unsubscribe", response_class=HTMLResponse, responses=_PAGE)
def unsubscribe(token: TokenQuery, request: Request, session: SessionDep) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): no more e-mails, the address is erased."""
    known = _known(session, token)
    if known is not None and known.email is None:  # a second click, or a retry: done
        return _html(known.language, "email_page_unsubscribed")
    sub = _valid(session, request, UNSUBSCRIBE, token)
    if sub is None:
        return _invalid_page(request)
    remove_email(session, sub, now=utcnow())
    return _html(sub.language, "email_page_unsubscribed")


# --------------------------------------------------------------------------- web chat


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=SESSION_PATTERN)
    email: str = Field(max_length=320)


class EmailOut(BaseModel):
    status: str  # "confirmation_sent" | "removed"
    email: str | None = None


@router.post(
    "/api/chat/subscription/email",
    response_model=EmailOut,
    status_code=202,
    responses={
        404: {"description": "unknown session"},
        422: {"description": "not an e-mail address"},
        502: {"description": "the relay refused or failed: try later"},
        503: {"description": "no e-mail relay configured"},
    },
)
async def chat_set_email(body: EmailIn, request: Request, session: SessionDep) -> EmailOut:
    """Give an address for the digest: a confirmation link is mailed to it."""
    email = validate_email(body.email)
    if email is None:
        raise HTTPException(422, {"code": "email", "message": "not an e-mail address"})
    mailer = request.app.state.engine.mailer
    if mailer is None:
        raise HTTPException(503, "e-mail is not configured on this server")
    person_id = _web_person(session, body.session_id)
    sub_id, email = request_email(session, person_id, email)
    lang = (session.get(Person, person_id) or Person(language="fr")).language
    session.commit()
    settings = request.app.state.settings
    try:
        await run_in_threadpool(
            send_confirmation, settings, mailer, sub_id, email, lang, now=utcnow()
        )
    except (MailRefused, MailTemporary) as exc:
        raise HTTPException(502, f"the confirmation mail could not be sent: {exc}") from None
    return EmailOut(status="confirmation_sent", email=email)


@router.delete(
    "/api/chat/subscription/email",
    response_model=EmailOut,
    responses={404: {"description": "unknown session"}},
)
def chat_remove_email(
    session_id: Annotated[str, Query(pattern=SESSION_PATTERN)], session: SessionDep
) -> EmailOut:
    """No more e-mails: the address is erased (the digest stays in the web chat)."""
    person_id = _web_person(session, session_id)
    sub = session.query(Subscription).filter(Subscription.person_id == person_id).one_or_none()
    if sub is not None:
        remove_email(session, sub, now=utcnow())
    return EmailOut(status="removed")
