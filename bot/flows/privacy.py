"""Privacy commands: /confidentialite, /mesdonnees, /supprimer (with confirmation), /retrait.

Installed by :func:`install` (the wiring installs every flow of ``bot.flows.ALL_FLOWS``).
The erasure itself runs as a deferred action, after the step's transaction committed, in its own
transaction; the next message from the same chat then starts as a new user.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select

from bot.types import Ctx, Engine, OutMessage, Step
from core.config import Settings
from core.messages import t
from core.models import Solution, utcnow
from core.privacy import (
    CONTACT_PURPOSES,
    REX_CONTACT_PURPOSE,
    delete_person,
    export_person,
    withdraw_consent,
)

__all__ = [
    "CHUNK_CHARS",
    "chunk_text",
    "export_json",
    "install",
    "privacy_notice",
    "remove_from_index",
]

log = logging.getLogger(__name__)

FLOW = "privacy"
#: Longest message part (Telegram's limit is 4096 characters).
CHUNK_CHARS = 4000


def privacy_notice(settings: Settings, lang: str) -> str:
    """The privacy notice in ``lang`` (the chat command and the web page share it)."""
    contact = (settings.privacy_contact or "").strip() or t("privacy_contact_default", lang)
    return t(
        "privacy_notice",
        lang,
        version=settings.privacy_policy_version,
        years=settings.retention_years,
        contact=contact,
    )


def export_json(export: dict[str, Any]) -> str:
    return json.dumps(export, ensure_ascii=False, indent=2, sort_keys=False)


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """``text`` cut at line ends into parts of at most ``limit`` characters."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:  # a single huge line (a long need text): hard split
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()] or [""]


def _index_loaded(service: Any) -> bool:
    ready = getattr(service, "ready", None)
    if isinstance(ready, bool):
        return ready
    return int(getattr(service, "_version", -1)) >= 0


def remove_from_index(service: Any, need_ids: list[int]) -> None:
    """Drop erased needs from a loaded index (an unloaded one syncs from the DB on load)."""
    if service is None or not need_ids or not _index_loaded(service):
        return
    for need_id in need_ids:
        try:
            service.remove("need", need_id)
        except Exception:  # the catalogue version was bumped: the next sync drops it
            log.exception("could not remove need %s from the index", need_id)


# --------------------------------------------------------------------------- commands


def cmd_privacy(ctx: Ctx, args: str) -> None:
    """/confidentialite: the privacy notice."""
    ctx.send(privacy_notice(ctx.engine.settings, ctx.lang))
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def cmd_mydata(ctx: Ctx, args: str) -> None:
    """/mesdonnees: everything stored about the user, as JSON messages."""
    ctx.session.flush()
    parts = chunk_text(export_json(export_person(ctx.session, ctx.person.id)))
    ctx.say("privacy_export_intro", parts=len(parts))
    for part in parts:
        ctx.send(part)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def cmd_delete(ctx: Ctx, args: str) -> None:
    """/supprimer: explanation and confirmation buttons."""
    ctx.ask("privacy_delete", flow=FLOW)


def cmd_withdraw(ctx: Ctx, args: str) -> None:
    """/retrait: withdraw the contact consents; the contact details are erased."""
    now = utcnow()
    withdrawn = sum(
        withdraw_consent(ctx.session, ctx.person.id, purpose=purpose, now=now)
        for purpose in (*CONTACT_PURPOSES, REX_CONTACT_PURPOSE)
    )
    ctx.say("privacy_withdraw_done" if withdrawn else "privacy_withdraw_none")
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _solutions_of(ctx: Ctx) -> int:
    return int(
        ctx.session.scalar(
            select(func.count())
            .select_from(Solution)
            .where(Solution.submitted_by_id == ctx.person.id)
        )
        or 0
    )


def _prompt_delete(ctx: Ctx) -> None:
    ctx.say("privacy_delete_ask")
    count = _solutions_of(ctx)
    if count:
        ctx.say("privacy_delete_ask_solutions", count=count)
    ctx.send(
        ctx.t("privacy_delete_question"),
        [
            ctx.btn("pdel", "yes", ctx.t("privacy_delete_confirm_button")),
            ctx.btn("pdel", "no", ctx.t("privacy_delete_cancel_button")),
        ],
    )


def _choose_delete(ctx: Ctx, action: str, value: str) -> bool:
    if action != "pdel" or value not in ("yes", "no"):
        return False
    ctx.end_flow()
    if value == "no":
        ctx.say("privacy_delete_cancelled")
        return True
    engine, person_id, lang = ctx.engine, ctx.person.id, ctx.lang

    def erase() -> list[OutMessage]:
        with engine.db.session() as session:
            report = delete_person(session, person_id, now=utcnow())
        remove_from_index(engine.service, report.need_ids)
        log.info("person erased on request: %s", report.as_dict())
        out = [OutMessage(t("privacy_deleted", lang))]
        if report.solutions_kept:
            out.append(
                OutMessage(t("privacy_deleted_solutions", lang, count=report.solutions_kept))
            )
        return out

    ctx.defer(erase)
    return True


def install(engine: Engine) -> None:
    """Install the privacy commands and the deletion confirmation step on ``engine``."""
    engine.register_steps({"privacy_delete": Step(_prompt_delete, on_choice=_choose_delete)})
    engine.register_command(("confidentialite", "privacy"), cmd_privacy)
    engine.register_command(("mesdonnees", "mydata"), cmd_mydata)
    engine.register_command(("supprimer", "delete"), cmd_delete)
    engine.register_command(("retrait", "withdraw"), cmd_withdraw)
