"""Peers after the results: the REX sheet behind every peer line, and its contact request.

Global buttons (valid at any step; the question the person was at is asked again after):

* ``rex:show:<id>`` — the REX sheet (:func:`bot.flows.shared.show_rex`): problem, what
  was tried, the solution used, period, outcome, lessons, and how a contact request would
  reach them (directly, or through a PIU facilitator).
* ``rex:meet:<id>`` — "Demander un contact": an introduction request for that REX
  (:func:`bot.flows.shared.request_introduction`: contact offer first, double opt-in,
  monthly cap per target); every REX is reachable by one of the two routes.

Thematic communities (:mod:`matcher.communities`), offered under the peers by
:func:`bot.flows.shared.offer_community`, and ``/groupes``:

* ``grp:join:<need id>`` — join the group of one's open need (theme and size band);
* ``grp:show:<id>`` — its members' need summaries (kind, size band, département, need;
  never a name or a contact), each with a button to ask to be put in touch;
* ``grp:meet:<need id>`` — that request (double opt-in through the introductions);
* ``grp:leave:<id>`` — leave the group.
"""

from __future__ import annotations

from bot.flows.shared import (
    GROUP_ACTION,
    REX_ACTION,
    request_introduction,
    row_id,
    show_rex,
)
from bot.render import _label, shorten
from bot.types import Button, Ctx, Engine
from core.models import Community, Need
from matcher.communities import join, leave, members, memberships
from matcher.themes import theme_label


def _after(ctx: Ctx) -> None:
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _meet(ctx: Ctx, target: dict[str, int | None]) -> None:
    """Ask for an introduction; the question the person was at follows the outcome."""
    then = ctx.step if ctx.engine.in_flow(ctx) else None
    request_introduction(ctx, target, then=then)


def _on_rex(ctx: Ctx, value: str) -> None:
    verb, _, arg = value.partition(":")
    experience_id = row_id(arg)
    if verb == "meet" and experience_id is not None:
        _meet(ctx, {"experience_id": experience_id})
        return
    if verb == "show" and experience_id is not None:
        show_rex(ctx, experience_id)
    else:
        ctx.say("unexpected")
    _after(ctx)


def _group_name(ctx: Ctx, group: Community) -> str:
    band = _label("size", group.size_band, ctx.lang) or group.size_band
    return ctx.t("group_name", theme=theme_label(group.theme, ctx.lang), band=band)


def _dep(ctx: Ctx, code: str | None) -> str | None:
    if not code:
        return None
    name = ctx.engine.peers.dep_name(code) if ctx.engine.peers is not None else None
    return f"{name} ({code})" if name else code


def _show_group(ctx: Ctx, community_id: int) -> None:
    group = ctx.session.get(Community, community_id)
    views = members(ctx.session, community_id, ctx.person.id) if group is not None else None
    if group is None or views is None:
        ctx.say("group_not_member")
        return
    lines = [ctx.t("group_members_header", group=_group_name(ctx, group), n=len(views))]
    buttons: list[Button] = []
    for number, view in enumerate(views, start=1):
        who = ", ".join(
            x
            for x in (
                _label("territory_kind", view.kind, ctx.lang),
                _label("size", view.size_band, ctx.lang),
                _dep(ctx, view.dep),
            )
            if x
        ) or ctx.t("group_member_unknown")
        mark = ctx.t("group_member_you") if view.own else ""
        summary = shorten(view.summary, 160) or ctx.t("group_member_closed")
        lines.append(f"{number}. {who}{mark} — « {summary} »")
        if not view.own and view.need_id is not None:
            label = ctx.t("group_meet_button", n=number)
            buttons.append(Button(f"{GROUP_ACTION}:meet:{view.need_id}", label))
    lines.append(ctx.t("group_privacy"))
    buttons.append(Button(f"{GROUP_ACTION}:leave:{group.id}", ctx.t("group_leave_button")))
    ctx.send("\n".join(lines), buttons)


def _on_group(ctx: Ctx, value: str) -> None:
    verb, _, arg = value.partition(":")
    target = row_id(arg)
    if verb == "meet" and target is not None:
        _meet(ctx, {"need_id": target})
        return
    if verb == "join" and target is not None:
        need = ctx.session.get(Need, target)
        try:
            if need is None:
                raise ValueError("no such need")
            group, _new = join(ctx.session, ctx.person.id, need)
        except ValueError:
            ctx.say("group_cannot_join")
        else:
            ctx.say("group_joined", group=_group_name(ctx, group))
            _show_group(ctx, group.id)
    elif verb == "show" and target is not None:
        _show_group(ctx, target)
    elif verb == "leave" and target is not None:
        left = ctx.session.get(Community, target)
        if left is not None and leave(ctx.session, ctx.person.id, target):
            ctx.say("group_left", group=_group_name(ctx, left))
        else:
            ctx.say("group_not_member")
    else:
        ctx.say("unexpected")
    _after(ctx)


def cmd_groups(ctx: Ctx, args: str) -> None:
    """/groupes: the thematic groups one belongs to."""
    mine = memberships(ctx.session, ctx.person.id)
    if not mine:
        ctx.say("group_none")
    else:
        ctx.send(
            ctx.t("group_list_header"),
            [
                Button(
                    f"{GROUP_ACTION}:show:{group.id}",
                    ctx.t("group_list_item", group=_group_name(ctx, group), n=count),
                )
                for group, count in mine
            ],
        )
    _after(ctx)


def install(engine: Engine) -> None:
    engine.register_choice(REX_ACTION, _on_rex)
    engine.register_choice(GROUP_ACTION, _on_group)
    engine.register_command(("groupes", "groups"), cmd_groups)
