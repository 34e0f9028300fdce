"""Privacy endpoints: the notice page, the web chat user's rights, the facilitators' tools.

* ``GET /confidentialite`` (and ``/privacy``): the privacy notice, French then English,
  self-contained HTML (no external resource).
* ``POST /api/chat/mydata`` ``{session_id}``: the web chat user's data as JSON.
* ``POST /api/chat/delete`` ``{session_id, confirm: true}``: erase the web chat user.
* ``GET /api/admin/persons/{id}/export`` and ``DELETE /api/admin/persons/{id}``: the same
  for a facilitator handling a request received by other means (admin key; audited).

Include with ``app.include_router(api.privacy.router)``.
"""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import crud
from api.chat import SESSION_PATTERN, TRANSPORT
from api.deps import AdminDep, ServicesDep, SessionDep
from bot.flows.privacy import privacy_notice
from core.config import Settings
from core.messages import t
from core.models import ChatIdentity, Person, utcnow
from core.privacy import DeletionReport, delete_person, export_person

__all__ = ["router"]

router = APIRouter(tags=["privacy"])

PersonIdPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown session or person"}}
_ADMIN: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or revoked key"},
    **_NOT_FOUND,
}

_PAGE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.2rem; margin-top: 2.5rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<section lang="fr">
{fr}
</section>
<section lang="en">
<h2>{title_en}</h2>
{en}
</section>
</body>
</html>
"""


def _paragraphs(text: str) -> str:
    return "\n".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        settings = request.app.state.services.settings
    return settings  # type: ignore[no-any-return]


@router.get("/confidentialite", response_class=HTMLResponse, include_in_schema=False)
@router.get("/privacy", response_class=HTMLResponse, include_in_schema=False)
def privacy_page(request: Request) -> HTMLResponse:
    """The privacy notice, French then English."""
    settings = _settings(request)
    body = _PAGE.format(
        title=html.escape(t("privacy_page_title", "fr")),
        title_en=html.escape(t("privacy_page_title", "en")),
        fr=_paragraphs(privacy_notice(settings, "fr")),
        en=_paragraphs(privacy_notice(settings, "en")),
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --------------------------------------------------------------------------- web chat


class ChatSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=SESSION_PATTERN)


class ChatDeleteIn(ChatSessionIn):
    confirm: Literal[True] = Field(description="must be true: the erasure cannot be undone")


class DeletionOut(BaseModel):
    """Counts only: no personal data."""

    deleted: bool
    needs: int
    introductions_expired: int
    introductions_anonymised: int
    solutions_kept: int
    experiences_unlinked: int
    note: str


def _web_person(session: Session, session_id: str) -> int:
    person_id = session.scalar(
        select(ChatIdentity.person_id).where(
            ChatIdentity.transport == TRANSPORT, ChatIdentity.external_id == session_id
        )
    )
    if person_id is None:
        raise HTTPException(404, "no data for this session")
    return int(person_id)


def _erase(session: Session, services: Any, person_id: int) -> DeletionReport:
    report = delete_person(session, person_id, now=utcnow())
    session.commit()
    for need_id in report.need_ids:
        services.reindex("need", need_id)
    return report


def _deletion_out(report: DeletionReport, lang: str) -> DeletionOut:
    note = t("privacy_deleted", lang)
    if report.solutions_kept:
        note += " " + t("privacy_deleted_solutions", lang, count=report.solutions_kept)
    return DeletionOut(
        deleted=report.found,
        needs=report.needs,
        introductions_expired=report.introductions_expired,
        introductions_anonymised=report.introductions_anonymised,
        solutions_kept=report.solutions_kept,
        experiences_unlinked=report.experiences_unlinked,
        note=note,
    )


@router.post("/api/chat/mydata", responses=_NOT_FOUND)
def chat_mydata(body: ChatSessionIn, session: SessionDep) -> dict[str, Any]:
    """Everything stored about this web chat session's user (right of access)."""
    return export_person(session, _web_person(session, body.session_id))


@router.post("/api/chat/delete", response_model=DeletionOut, responses=_NOT_FOUND)
def chat_delete(body: ChatDeleteIn, session: SessionDep, services: ServicesDep) -> DeletionOut:
    """Erase this web chat session's user; the session then starts afresh."""
    person_id = _web_person(session, body.session_id)
    person = session.get(Person, person_id)
    lang = person.language if person is not None and person.language in ("fr", "en") else "fr"
    return _deletion_out(_erase(session, services, person_id), lang)


# --------------------------------------------------------------------------- admin


@router.get("/api/admin/persons/{person_id}/export", tags=["admin"], responses=_ADMIN)
def admin_export(person_id: PersonIdPath, admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    """A person's data (a request received by e-mail or post); the access is audited."""
    try:
        data = export_person(session, person_id)
    except LookupError:
        raise HTTPException(404, "unknown person") from None
    crud.audit(
        session,
        actor=admin.name,
        action="person_export",
        entity_type="person",
        entity_id=person_id,
    )
    return data


@router.delete(
    "/api/admin/persons/{person_id}", response_model=DeletionOut, tags=["admin"], responses=_ADMIN
)
def admin_delete(
    person_id: PersonIdPath, admin: AdminDep, session: SessionDep, services: ServicesDep
) -> DeletionOut:
    """Erase a person (right to erasure); the audit entry keeps counts, not the person."""
    report = delete_person(session, person_id, now=utcnow())  # commits below, with the audit
    if not report.found:
        raise HTTPException(404, "unknown person")
    crud.audit(
        session,
        actor=admin.name,
        action="person_erased",
        entity_type="person",
        entity_id=None,
        detail={k: v for k, v in report.as_dict().items() if k not in ("person_id", "need_ids")},
    )
    session.commit()
    for need_id in report.need_ids:
        services.reindex("need", need_id)
    return _deletion_out(report, "fr")
