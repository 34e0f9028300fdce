"""A catalogue entry's full card ("Fiche") and what a buyer can do from it: ask to be put
in touch with its carrier, follow it (``/suivis`` lists what is followed).

Every action is a global button (valid at any step, see :mod:`bot.flows.shared`): a
result card shown an hour ago still opens, and opening one never moves the conversation.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from bot.flows.shared import (
    SHEET_ACTION,
    SHEET_FOLLOW_ACTION,
    SHEET_INTRO_ACTION,
    request_introduction,
    row_id,
    sheet_button,
)
from bot.render import render_sheet, sheet_card, shorten
from bot.types import Button, Ctx, Engine, OutMessage
from core.models import Solution, SolutionFollow
from matcher.sheets import solution_sheet

#: Followed solutions listed by /suivis, at most.
FOLLOWED_LIST = 20


def _following(ctx: Ctx, solution_id: int) -> bool:
    return (
        ctx.session.scalar(
            select(SolutionFollow.id).where(
                SolutionFollow.person_id == ctx.person.id,
                SolutionFollow.solution_id == solution_id,
            )
        )
        is not None
    )


def _stay(ctx: Ctx) -> None:
    """After a global action: the pending question again when the person is in a flow."""
    ctx.engine.reask_or_hint(ctx)


def open_sheet(ctx: Ctx, value: str) -> None:
    """``fiche:<solution id>``: the full card with its actions."""
    solution_id = row_id(value)
    sheet = solution_sheet(ctx.session, solution_id) if solution_id is not None else None
    if sheet is None:
        ctx.say("sheet_not_found")
        _stay(ctx)
        return
    following = _following(ctx, sheet.id)
    buttons = [
        Button(f"{SHEET_INTRO_ACTION}:{sheet.id}", ctx.t("btn_sheet_intro")),
        Button(
            f"{SHEET_FOLLOW_ACTION}:{'off' if following else 'on'}:{sheet.id}",
            ctx.t("btn_unfollow" if following else "btn_follow"),
        ),
    ]
    if sheet.website:
        buttons.append(Button("", ctx.t("btn_website"), url=sheet.website))
    text = render_sheet(sheet, ctx.lang, following=following)
    ctx.out.append(OutMessage(text, buttons, card=sheet_card(sheet, ctx.lang)))
    _stay(ctx)


def ask_introduction(ctx: Ctx, value: str) -> None:
    """``solmeet:<solution id>``: the existing introduction path (double opt-in)."""
    solution_id = row_id(value)
    if solution_id is None or solution_sheet(ctx.session, solution_id) is None:
        ctx.say("sheet_not_found")
        _stay(ctx)
        return
    request_introduction(ctx, {"solution_id": solution_id}, then=None)


def follow(ctx: Ctx, value: str) -> None:
    """``solfol:on:<id>`` / ``solfol:off:<id>``: follow or stop following an entry."""
    verb, _, raw_id = value.partition(":")
    solution_id = row_id(raw_id)
    solution = ctx.session.get(Solution, solution_id) if solution_id is not None else None
    if verb not in ("on", "off") or solution is None:
        ctx.say("sheet_not_found")
    elif verb == "on":
        if _following(ctx, solution.id):
            ctx.say("follow_solution_already", title=shorten(solution.title, 80))
        else:
            ctx.session.add(SolutionFollow(person_id=ctx.person.id, solution_id=solution.id))
            ctx.say("follow_solution_done", title=shorten(solution.title, 80))
    else:
        removed = ctx.session.execute(
            delete(SolutionFollow).where(
                SolutionFollow.person_id == ctx.person.id,
                SolutionFollow.solution_id == solution.id,
            )
        )
        if getattr(removed, "rowcount", 0):
            ctx.say("unfollow_solution_done", title=shorten(solution.title, 80))
        else:
            ctx.say("unfollow_solution_none")
    _stay(ctx)


def cmd_followed(ctx: Ctx, args: str) -> None:
    """/suivis: the solutions the person follows, each with its card and "Ne plus suivre"."""
    rows = ctx.session.execute(
        select(Solution.id, Solution.title, Solution.maturity)
        .join(SolutionFollow, SolutionFollow.solution_id == Solution.id)
        .where(SolutionFollow.person_id == ctx.person.id)
        .order_by(SolutionFollow.id.desc())
        .limit(FOLLOWED_LIST)
    ).all()
    if not rows:
        ctx.say("followed_none")
    else:
        lines = [ctx.t("followed_header")]
        buttons: list[Button] = []
        for n, (sid, title, maturity) in enumerate(rows, start=1):
            label = ctx.t(f"maturity_{maturity}") if maturity else ctx.t("maturity_unknown")
            lines.append(ctx.t("followed_line", n=n, title=shorten(title, 80), maturity=label))
            buttons.append(sheet_button(ctx, sid, ctx.t("btn_sheet_n", n=n)))
            buttons.append(
                Button(f"{SHEET_FOLLOW_ACTION}:off:{sid}", f"{ctx.t('btn_unfollow')} ({n})")
            )
        ctx.send("\n".join(lines), buttons)
    _stay(ctx)


def install(engine: Engine) -> None:
    engine.register_choice(SHEET_ACTION, open_sheet)
    engine.register_choice(SHEET_INTRO_ACTION, ask_introduction)
    engine.register_choice(SHEET_FOLLOW_ACTION, follow)
    engine.register_command(("suivis", "following"), cmd_followed)
