"""Open needs for start-ups and proposals (issue 21): /besoinsouverts, "Proposer ma solution".

Start-up side: ``/besoinsouverts`` (``/openneeds``; also the "Voir les besoins ouverts"
button of /messolutions and of the end of a registration) lists the open needs that fit
the person's solutions (:func:`matcher.proposals.open_needs_for`), anonymised, best fit
first, five per page, each with why it fits and a "Proposer ma solution" button. Then:
which solution (when several; the closest ticked), two lines of pitch, a preview of what
the buyer will receive, send or cancel, and the outcome (sent, a cap reached, the need
closed to proposals, already proposed).

``/besoins`` (``/needs``) is a near miss of ``/besoin`` (describe a need): it lists open
needs only for a person with solutions in the catalogue, and otherwise says where to
go (/besoin, /mesbesoins) — it never starts anything.

Buyer side (global buttons, valid at any step): ``prop:off:<introduction>`` on a
received proposal turns proposals off for its need; ``prop:noff:<need>`` /
``prop:non:<need>`` (from /mesbesoins) turn them off / on; ``prop:list:<need>`` lists the
proposals waiting on a need, best fit first, with accept / decline buttons (the
``intro:`` buttons the engine answers through :func:`matcher.introductions.respond`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.flows.shared import OPEN_NEEDS_ACTION, PROPOSALS_ACTION, open_need_dict, row_id, tick
from bot.render import render_open_need, shorten
from bot.types import Button, Ctx, Engine, FlowState, OutMessage, Step
from core.domain import Role
from core.messages import t
from core.models import Need, Solution
from matcher.introductions import accept_button_id, decline_button_id
from matcher.proposals import (
    MAX_PITCH_CHARS,
    MAX_PITCH_LINES,
    card_of,
    clean_pitch,
    need_of_proposal,
    open_needs_for,
    propose,
    received,
    set_proposals_open,
    solutions_of,
)

log = logging.getLogger(__name__)

FLOW = "proposals"
PAGE = 5
#: Needs kept in the conversation state (five pages); the rest is one command away.
KEPT = 25


@dataclass
class ProposalState(FlowState):
    """The proposals flow's state (``p``): the listing shown, the need being proposed to."""

    KEY = "p"
    needs: list[dict[str, Any]] = field(default_factory=list)  # OpenNeed as dicts
    page: int = 0
    pick: int | None = None  # index in ``needs`` of the need being proposed to
    solution_id: int | None = None
    pitch: str | None = None


def _p(ctx: Ctx) -> ProposalState:
    return ctx.state_of(ProposalState)


# --- listing -------------------------------------------------------------------------------------
def _p_list(ctx: Ctx) -> None:
    p = _p(ctx)
    if not p.needs:
        ctx.say("prop_list_none")
        return
    first = p.page * PAGE
    shown = p.needs[first : first + PAGE]
    lines = [
        ctx.t("prop_list_header", first=first + 1, last=first + len(shown), total=len(p.needs))
    ]
    buttons = []
    for i, need in enumerate(shown, start=first):
        lines.append(render_open_need(need, i + 1, ctx.lang))
        if not need.get("proposed"):
            buttons.append(ctx.btn("pp", str(i), ctx.t("prop_button", n=i + 1)))
    if first + PAGE < len(p.needs):
        buttons.append(ctx.btn("pg", "next", ctx.t("prop_next_button")))
    if p.page > 0:
        buttons.append(ctx.btn("pg", "prev", ctx.t("prop_prev_button")))
    ctx.send("\n\n".join(lines), buttons)


def _c_list(ctx: Ctx, action: str, value: str) -> bool:
    p = _p(ctx)
    if action == "pg" and value in ("next", "prev"):
        pages = max(1, -(-len(p.needs) // PAGE))
        p.page = min(pages - 1, p.page + 1) if value == "next" else max(0, p.page - 1)
        ctx.ask("p_list", flow=FLOW)
        return True
    index = row_id(value) if action == "pp" else None
    if index is None or index >= len(p.needs) or p.needs[index].get("proposed"):
        return False
    _pick(ctx, index)
    return True


def _pick(ctx: Ctx, index: int) -> None:
    """Propose to the listed need ``index``: which solution (if several), then the pitch."""
    p = _p(ctx)
    p.pick, p.pitch = index, None
    p.solution_id = p.needs[index]["solution_id"]
    if len(_own_solutions(ctx)) > 1:
        ctx.ask("p_sol", flow=FLOW)
    else:
        ctx.ask("p_pitch", flow=FLOW)


# --- which solution -----------------------------------------------------------------------------
def _own_solutions(ctx: Ctx) -> list[Solution]:
    return solutions_of(ctx.session, ctx.person.id)


def _p_sol(ctx: Ctx) -> None:
    p = _p(ctx)
    buttons = [
        ctx.btn("sol", str(sol.id), tick(shorten(sol.title, 48), sol.id == p.solution_id))
        for sol in _own_solutions(ctx)
    ]
    buttons.append(ctx.btn("x", "cancel", ctx.t("prop_cancel_button")))
    ctx.send(ctx.t("prop_pick_solution", n=(p.pick or 0) + 1), buttons)


def _c_sol(ctx: Ctx, action: str, value: str) -> bool:
    if action == "x" and value == "cancel":
        return _cancel(ctx)
    sol_id = row_id(value) if action == "sol" else None
    if sol_id is None or sol_id not in {s.id for s in _own_solutions(ctx)}:
        return False
    _p(ctx).solution_id = sol_id
    ctx.ask("p_pitch", flow=FLOW)
    return True


def _cancel(ctx: Ctx) -> bool:
    ctx.end_flow()
    ctx.send(ctx.t("prop_cancelled"), [open_needs_button(ctx)])
    return True


# --- the two lines ------------------------------------------------------------------------------
def _solution(ctx: Ctx) -> Solution | None:
    sol_id = _p(ctx).solution_id
    return ctx.session.get(Solution, sol_id) if sol_id is not None else None


def _p_pitch(ctx: Ctx) -> None:
    sol = _solution(ctx)
    ctx.send(
        ctx.t("prop_pitch_ask", solution=sol.title if sol else "", max=MAX_PITCH_CHARS),
        [ctx.btn("x", "cancel", ctx.t("prop_cancel_button"))],
    )


def _t_pitch(ctx: Ctx, text: str) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    flat = "\n".join(" ".join(line.split()) for line in lines)
    if len(lines) > MAX_PITCH_LINES or len(flat) > MAX_PITCH_CHARS:
        ctx.say("prop_pitch_too_long", max=MAX_PITCH_CHARS, lines=len(lines), chars=len(flat))
        return
    pitch = clean_pitch(text)
    if pitch is None:
        ctx.say("empty")
        return
    _p(ctx).pitch = pitch
    ctx.ask("p_preview", flow=FLOW)


def _c_cancel_only(ctx: Ctx, action: str, value: str) -> bool:
    return _cancel(ctx) if action == "x" and value == "cancel" else False


def _p_preview(ctx: Ctx) -> None:
    p = _p(ctx)
    sol = _solution(ctx)
    need = p.needs[p.pick] if p.pick is not None and p.pick < len(p.needs) else None
    if sol is None or need is None or p.pitch is None:
        ctx.end_flow()
        ctx.say("prop_stale")
        return
    preview = ctx.t(
        "prop_request",
        about=shorten(need["problem"], 160),
        solution=sol.title,
        organisation=sol.organisation_name or "",
        card=card_of(sol),
        pitch=p.pitch,
    )
    ctx.send(
        ctx.t("prop_preview", preview=preview),
        [
            ctx.btn("pv", "send", ctx.t("prop_send_button")),
            ctx.btn("pv", "edit", ctx.t("prop_rewrite_button")),
            ctx.btn("x", "cancel", ctx.t("prop_cancel_button")),
        ],
    )


def _c_preview(ctx: Ctx, action: str, value: str) -> bool:
    if action == "x" and value == "cancel":
        return _cancel(ctx)
    if action != "pv" or value not in ("send", "edit"):
        return False
    if value == "edit":
        ctx.ask("p_pitch", flow=FLOW)
        return True
    p = _p(ctx)
    if p.pick is None or p.pick >= len(p.needs) or p.solution_id is None or not p.pitch:
        ctx.end_flow()
        ctx.say("prop_stale")
        return True
    need = p.needs[p.pick]
    args = {
        "startup_person_id": ctx.person.id,
        "solution_id": p.solution_id,
        "need_id": int(need["need_id"]),
        "pitch": p.pitch,
        "fit": float(need["score"]) if need["solution_id"] == p.solution_id else None,
    }
    pick = p.pick
    # back to the listing, at rest: its old buttons are stale, "Voir les besoins ouverts"
    # below the outcome shows it again
    p.pick, p.pitch = None, None
    ctx.state.step = "p_list"
    ctx.data["n"] = int(ctx.data.get("n", 0)) + 1
    engine, transport, external_id, lang = ctx.engine, ctx.transport, ctx.external_id, ctx.lang

    def send() -> list[OutMessage]:
        try:
            result = propose(engine.db, settings=engine.settings, **args)  # type: ignore[arg-type]
        except Exception:
            log.exception("proposal failed")
            return [OutMessage(t("prop_failed", lang))]

        def after(ctx2: Ctx) -> None:
            if result.code in ("sent", "already_proposed"):
                kept = _p(ctx2).needs
                if pick < len(kept) and kept[pick]["need_id"] == args["need_id"]:
                    kept[pick]["proposed"] = True
            if result.code == "sent":
                ctx2.send(ctx2.t("prop_sent"), [open_needs_button(ctx2)])
            else:
                reason = ctx2.t(f"prop_{result.code}", **result.params)
                ctx2.send(ctx2.t("prop_refused", reason=reason), [open_needs_button(ctx2)])

        return engine.in_context(transport, external_id, after)

    ctx.defer(send)
    return True


# --- entry points -------------------------------------------------------------------------------
def open_needs_button(ctx: Ctx) -> Button:
    """ "Voir les besoins ouverts": a global button (valid at any step)."""
    return Button(f"{OPEN_NEEDS_ACTION}:list", ctx.t("prop_open_needs_button"))


def _has_solutions(ctx: Ctx) -> bool:
    return bool(_own_solutions(ctx))


def show_open_needs(ctx: Ctx, focus: int | None = None) -> None:
    """Search the open needs for this person's solutions (after this step commits), then
    show the first page — or, with ``focus`` (a need id, from a digest), go straight to
    proposing to that need when it is among them and not yet proposed to."""
    if not _has_solutions(ctx):
        ctx.say("prop_no_solution")
        return
    engine, transport, external_id, person_id = (
        ctx.engine, ctx.transport, ctx.external_id, ctx.person.id)  # fmt: skip
    ctx.say("prop_searching")

    def search() -> list[OutMessage]:
        try:
            found = open_needs_for(engine.db, engine.service, person_id)
        except Exception:
            log.exception("open needs search failed for person %s", person_id)
            found = None

        def show(ctx2: Ctx) -> None:
            if found is None:
                ctx2.say("search_unavailable")
                return
            ctx2.end_flow()
            needs = [open_need_dict(n) for n in found[:KEPT]]
            ctx2.put_state(ProposalState(needs=needs))
            index = next(
                (i for i, n in enumerate(needs) if n["need_id"] == focus and not n["proposed"]),
                None,
            )
            if index is None:
                ctx2.ask("p_list", flow=FLOW)
            else:
                _pick(ctx2, index)

        return engine.in_context(transport, external_id, show)

    ctx.defer(search)


def cmd_open_needs(ctx: Ctx, args: str) -> None:
    """/besoinsouverts: the open needs that fit my solutions."""
    if ctx.engine.in_flow(ctx):
        ctx.say("busy")
        ctx.reask()
        return
    show_open_needs(ctx)


def cmd_needs(ctx: Ctx, args: str) -> None:
    """/besoins: open needs for a start-up with solutions; otherwise where to go."""
    if ctx.person.role == Role.STARTUP or _has_solutions(ctx):
        cmd_open_needs(ctx, args)
        return
    ctx.say("prop_besoins_which")
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _on_open_needs(ctx: Ctx, value: str) -> None:
    """``opn:list``: the open-needs listing, from a menu button; ``opn:need:<id>``:
    propose to that need (from a digest's need card)."""
    verb, _, raw_id = value.partition(":")
    focus = row_id(raw_id) if verb == "need" else None
    if verb not in ("list", "need") or (verb == "need" and focus is None):
        ctx.say("unexpected")
        return
    if ctx.engine.in_flow(ctx):
        ctx.say("busy")
        ctx.reask()
        return
    show_open_needs(ctx, focus)


# --- buyer side ---------------------------------------------------------------------------------
def _on_proposals(ctx: Ctx, value: str) -> None:
    """``prop:off:<introduction>``, ``prop:noff:<need>``, ``prop:non:<need>``,
    ``prop:list:<need>``: only the need's owner may act; anything else changes nothing."""
    verb, _, raw_id = value.partition(":")
    target = row_id(raw_id)
    need: Need | None = None
    if target is not None and verb == "off":
        need = need_of_proposal(ctx.session, target, ctx.person.id)
    elif target is not None and verb in ("noff", "non", "list"):
        found = ctx.session.get(Need, target)
        need = found if found is not None and found.owner_id == ctx.person.id else None
    if need is None:
        ctx.say("prop_not_yours_need")
    elif verb == "list":
        _list_received(ctx, need)
    else:
        open_ = verb == "non"
        set_proposals_open(ctx.session, need_id=need.id, owner_id=ctx.person.id, open_=open_)
        text = shorten(need.problem or need.raw_text, 80)
        ctx.say("prop_on_done" if open_ else "prop_off_done", text=text)
    if ctx.engine.in_flow(ctx):
        ctx.reask()


def _list_received(ctx: Ctx, need: Need) -> None:
    waiting = received(ctx.session, need.id)
    if not waiting:
        ctx.say("prop_received_none")
        return
    lines = [ctx.t("prop_received_header", text=shorten(need.problem or need.raw_text, 80))]
    buttons = []
    for n, prop in enumerate(waiting, start=1):
        org = f" ({prop.organisation})" if prop.organisation else ""
        lines.append(
            ctx.t(
                "prop_received_line",
                n=n,
                solution=shorten(prop.solution_title, 80),
                organisation=org,
                pitch=shorten(prop.pitch, 300),
            )
        )
        buttons.append(Button(accept_button_id(prop.introduction_id), ctx.t("prop_accept_n", n=n)))
        buttons.append(
            Button(decline_button_id(prop.introduction_id), ctx.t("prop_decline_n", n=n))
        )
    ctx.send("\n".join(lines), buttons)


def install(engine: Engine) -> None:
    engine.register_steps(
        {
            "p_list": Step(_p_list, on_choice=_c_list, resting=True),
            "p_sol": Step(_p_sol, on_choice=_c_sol),
            "p_pitch": Step(_p_pitch, on_text=_t_pitch, on_choice=_c_cancel_only, prose=True),
            "p_preview": Step(_p_preview, on_choice=_c_preview),
        }
    )
    engine.register_command(("besoinsouverts", "openneeds"), cmd_open_needs)
    engine.register_command(("besoins", "needs"), cmd_needs)
    engine.register_choice(OPEN_NEEDS_ACTION, _on_open_needs)
    engine.register_choice(PROPOSALS_ACTION, _on_proposals)
