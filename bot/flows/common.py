"""Commands shared by every user: /start, /aide, /annuler, /langue, /mesbesoins, free text."""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.flows.shared import PROPOSALS_ACTION, need_reason_buttons, reindex_later, row_id
from bot.render import shorten
from bot.types import Button, Ctx, Engine, Step
from core.domain import NeedStatus, Role
from core.models import Need

_GREETING = re.compile(
    r"^\s*(bonjour|bonsoir|salut|coucou|hello|hi|hey|good (morning|afternoon|evening))\b",
    re.I,
)


def _prompt_role(ctx: Ctx) -> None:
    ctx.send(
        ctx.t("welcome"),
        [
            ctx.btn("role", "buyer", ctx.t("role_buyer")),
            ctx.btn("role", "startup", ctx.t("role_startup")),
            ctx.btn("role", "facilitator", ctx.t("role_facilitator")),
        ],
    )


def _choose_role(ctx: Ctx, action: str, value: str) -> bool:
    if action != "role" or value not in ("buyer", "startup", "facilitator"):
        return False
    ctx.person.role = Role(value)
    ctx.end_flow()
    if value in ("buyer", "startup"):
        ctx.engine.enter(ctx, value)
    else:
        ctx.say("facilitator_hello")
    return True


def cmd_start(ctx: Ctx, args: str) -> None:
    """/start: welcome and role choice."""
    if ctx.engine.in_flow(ctx):
        ctx.say("busy")
        ctx.reask()
        return
    ctx.end_flow()
    ctx.ask("role", flow="start")


def cmd_help(ctx: Ctx, args: str) -> None:
    """/aide: what the bot can do (then the current question again)."""
    ctx.say("help")
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def cmd_cancel(ctx: Ctx, args: str) -> None:
    """/annuler: leave the current flow; saved data is kept."""
    if ctx.engine.in_flow(ctx):
        ctx.end_flow()
        ctx.say("cancelled")
    else:
        if ctx.flow is not None:
            ctx.end_flow()
        ctx.say("nothing_to_cancel")


def cmd_language(ctx: Ctx, args: str) -> None:
    """/langue: choose French or English (buttons valid at any step)."""
    wanted = args.strip().lower()[:2]
    if wanted in ("fr", "en"):
        _set_language(ctx, wanted)
        return
    ctx.send(
        ctx.t("language_ask"),
        [ctx.btn("lang", "fr", ctx.t("lang_fr")), ctx.btn("lang", "en", ctx.t("lang_en"))],
    )


def _set_language(ctx: Ctx, value: str) -> None:
    if value not in ("fr", "en"):
        ctx.say("unexpected")
        return
    ctx.person.language = value
    ctx.person.language_locked = True
    ctx.say("language_set")
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def cmd_my_needs(ctx: Ctx, args: str) -> None:
    """/mesbesoins: the user's needs with their status."""
    from matcher.proposals import waiting_counts

    needs = ctx.session.scalars(
        select(Need).where(Need.owner_id == ctx.person.id).order_by(Need.id.desc()).limit(10)
    ).all()
    waiting = waiting_counts(ctx.session, [n.id for n in needs])
    if not needs:
        ctx.say("myneeds_none")
    else:
        lines = [ctx.t("myneeds_header")]
        buttons: list[Button] = []
        for n, need in enumerate(needs, start=1):
            date = need.created_at.strftime("%d/%m/%Y" if ctx.lang == "fr" else "%Y-%m-%d")
            lines.append(
                ctx.t(
                    "myneeds_line",
                    n=n,
                    text=shorten(need.problem or need.raw_text, 80),
                    status=ctx.t(f"status_{need.status.value}"),
                    date=date,
                )
            )
            count = waiting.get(need.id, 0)
            if need.status == NeedStatus.OPEN:
                lines.append(_proposals_line(ctx, need.proposals_open, count))
            # a need met (or abandoned) is closed: no more start-ups, peers or digests on it
            if need.status == NeedStatus.OPEN:
                buttons.append(
                    Button(f"{NEEDS_ACTION}:close:{need.id}", ctx.t("myneeds_close", n=n))
                )
                verb, key = ("noff", "myneeds_props_off") if need.proposals_open else (
                    "non", "myneeds_props_on")  # fmt: skip
                buttons.append(Button(f"{PROPOSALS_ACTION}:{verb}:{need.id}", ctx.t(key, n=n)))
            if count:
                buttons.append(
                    Button(
                        f"{PROPOSALS_ACTION}:list:{need.id}",
                        ctx.t("myneeds_props_list", n=n, count=count),
                    )
                )
            elif need.status == NeedStatus.CLOSED:
                buttons.append(
                    Button(f"{NEEDS_ACTION}:open:{need.id}", ctx.t("myneeds_reopen", n=n))
                )
        ctx.send("\n".join(lines), buttons)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _proposals_line(ctx: Ctx, open_: bool, waiting: int) -> str:
    """Under an open need: whether start-ups may propose, and how many proposals wait."""
    state = ctx.t("myneeds_proposals_open" if open_ else "myneeds_proposals_closed")
    more = ctx.t("myneeds_proposals_waiting", count=waiting) if waiting else ""
    return ctx.t("myneeds_proposals", state=state, waiting=more)


#: Global button action of /mesbesoins (valid at any step, it never moves the conversation).
NEEDS_ACTION = "needs"


def _on_needs(ctx: Ctx, value: str) -> None:
    """``needs:close:<id>`` / ``needs:open:<id>``: only the owner may change a need."""
    verb, _, raw_id = value.partition(":")
    need_id = row_id(raw_id)
    need = ctx.session.get(Need, need_id) if need_id is not None else None
    if verb not in ("close", "open") or need is None or need.owner_id != ctx.person.id:
        ctx.say("myneeds_not_found")
    else:
        need.status = NeedStatus.CLOSED if verb == "close" else NeedStatus.OPEN
        key = "myneeds_closed" if verb == "close" else "myneeds_reopened"
        ctx.say(key, text=shorten(need.problem or need.raw_text, 80))
        if verb == "close":
            ctx.send(ctx.t("needwhy_ask"), need_reason_buttons(ctx, need.id))
        else:
            need.close_reason = need.met_by_solution_id = None
        reindex_later(ctx, "need", need.id)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def idle_text(ctx: Ctx, text: str) -> None:
    """Free text outside a flow: a need starts the buyer flow; a greeting gets the welcome."""
    from matcher.scope import reads_like_need

    if reads_like_need(text):
        ctx.end_flow()
        ctx.engine.enter(ctx, "buyer", text)
    elif _GREETING.match(text):
        ctx.end_flow()
        ctx.ask("role", flow="start")
    else:
        ctx.say("idle_hint")


def install(engine: Engine) -> None:
    engine.register_steps({"role": Step(_prompt_role, on_choice=_choose_role, resting=True)})
    engine.register_command("start", cmd_start)
    engine.register_command(("aide", "help"), cmd_help)
    engine.register_command(("annuler", "cancel"), cmd_cancel)
    engine.register_command(("langue", "language", "lang"), cmd_language)
    engine.register_command(("mesbesoins", "myneeds"), cmd_my_needs)
    engine.register_command("__text__", idle_text)
    engine.register_choice("lang", _set_language)
    engine.register_choice(NEEDS_ACTION, _on_needs)
