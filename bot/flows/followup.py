"""After an introduction: the buyer's answers to follow-up questions, why a need was
closed, and the REX interview (``/rex``, ``/retour``).

Follow-up questions arrive through the outbox (:mod:`matcher.followups`) with global
buttons ``fu:<verb>:<follow-up id>``: they may be answered at any time, in the middle of
another flow. When an answer needs more (the pilot's duration, sharing with the start-up,
a contract), the steps here are asked, then the person goes back where they were.

The REX interview turns a pilot into a REX sheet: what was tried, with which solution,
duration, cost band, outcome, what worked and what did not, whether they recommend it,
and consent to be asked about it (``rex_contact``; each request is still double opt-in,
capped per month). It is saved as a draft for the facilitators' moderation queue
(``/api/admin/moderation/rex``), and indexed once approved: the next buyer of a similar
size sees it among the peers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.flows.shared import NEED_REASON_ACTION, reindex_later, row_id, skip_button
from bot.render import shorten
from bot.types import Ctx, Engine, FlowState, Step
from core import catalogue
from core.domain import IntroStatus, Moderation, NeedStatus, Outcome
from core.models import Experience, Introduction, Need, Solution, Territory, as_utc, utcnow
from core.privacy import REX_CONTACT_PURPOSE, record_consent
from matcher import followups
from matcher.followups import buyer_is, buyer_need_of, buyer_of
from matcher.themes import find_theme

FLOW = "followup"
FOLLOWUP_ACTION = "fu"
REX_CONSENT = REX_CONTACT_PURPOSE
DURATIONS = (3, 6, 12)
COST_BANDS = ("lt10k", "10k-40k", "40k-100k", "gt100k", "unknown")
REX_OUTCOMES = {"success": Outcome.SUCCESS, "partial": Outcome.PARTIAL, "stopped": Outcome.STOPPED}
RECOMMEND = ("yes", "no", "depends")


@dataclass
class FollowState(FlowState):
    """The follow-up flow's state (``f``): the introduction being followed up, where to
    go back afterwards (``[flow, step]``), and the REX being told."""

    KEY = "f"
    intro_id: int | None = None
    about: str = ""
    back: list[str | None] | None = None
    rex: dict[str, Any] = field(default_factory=dict)


def _f(ctx: Ctx) -> FollowState:
    return ctx.state_of(FollowState)


def _remember_back(ctx: Ctx) -> list[str | None]:
    here = ctx.step if ctx.engine.in_flow(ctx) and ctx.flow != FLOW else None
    return [ctx.flow if here else None, here]


def _go_back(ctx: Ctx) -> None:
    """Leave the follow-up steps: back to the question the person was at, or idle."""
    state = ctx.pop_state(FollowState)
    flow, back = (state.back or [None, None])[:2]
    if back is None:
        ctx.end_flow()
    else:
        ctx.ask(back, flow=flow)


# --- answers to follow-up questions (global buttons) --------------------------------------------
def _on_followup(ctx: Ctx, value: str) -> None:
    verb, _, raw_id = value.partition(":")
    followup_id = row_id(raw_id)
    if followup_id is None:
        ctx.say("fu_not_found")
        ctx.engine.reask_or_hint(ctx)
        return
    done = followups.answer(
        ctx.session,
        followup_id=followup_id,
        person_id=ctx.person.id,
        verb=verb,
        now=utcnow(),
        settings=ctx.engine.settings,
    )
    for sol_id in done.reindex:
        reindex_later(ctx, "solution", sol_id)
    if done.code != "ok" or done.next is None:
        key = {
            "stopped": "fu_stopped",
            "already": "fu_already",
            "ok": "fu_talks_ack" if verb == "talks" else "fu_none_ack",
        }.get(done.code, "fu_not_found")
        ctx.say(key, about=done.solution)
        ctx.engine.reask_or_hint(ctx)
        return
    back = _remember_back(ctx)
    ctx.put_state(FollowState(intro_id=done.introduction_id, about=done.solution, back=back))
    ctx.ask("f_duration" if done.next == "duration" else "f_contract", flow=FLOW)


def _p_duration(ctx: Ctx) -> None:
    buttons = [ctx.btn("f", str(n), ctx.t("fu_months", n=n)) for n in DURATIONS]
    ctx.send(ctx.t("fu_duration_ask"), buttons)


def _c_duration(ctx: Ctx, action: str, value: str) -> bool:
    if action != "f" or not value.isdigit() or int(value) not in DURATIONS:
        return False
    state = _f(ctx)
    followups.record_pilot_plan(
        ctx.session,
        introduction_id=state.intro_id or 0,
        person_id=ctx.person.id,
        months=int(value),
        now=utcnow(),
    )
    ctx.ask("f_share")
    return True


def _two_buttons(key: str, first: str, second: str) -> Any:
    """A question ``fu_<key>_ask`` answered with ``f:<first>`` or ``f:<second>``."""

    def prompt(ctx: Ctx) -> None:
        ctx.send(
            ctx.t(f"fu_{key}_ask", about=_f(ctx).about),
            [ctx.btn("f", v, ctx.t(f"fu_{key}_{v}")) for v in (first, second)],
        )

    return prompt


_p_share = _two_buttons("share", "yes", "no")


def _c_share(ctx: Ctx, action: str, value: str) -> bool:
    if action != "f" or value not in ("yes", "no"):
        return False
    followups.record_share(
        ctx.session,
        introduction_id=_f(ctx).intro_id or 0,
        person_id=ctx.person.id,
        share=value == "yes",
        now=utcnow(),
    )
    ctx.say("fu_share_ack")
    _go_back(ctx)
    return True


_p_contract = _two_buttons("contract", "yes", "no")


def _c_contract(ctx: Ctx, action: str, value: str) -> bool:
    if action != "f" or value not in ("yes", "no"):
        return False
    followups.record_contract(
        ctx.session,
        introduction_id=_f(ctx).intro_id or 0,
        person_id=ctx.person.id,
        signed=value == "yes",
        now=utcnow(),
    )
    ctx.ask("f_rex_offer")
    return True


_p_rex_offer = _two_buttons("rex", "now", "later")


def _c_rex_offer(ctx: Ctx, action: str, value: str) -> bool:
    if action != "f" or value not in ("now", "later"):
        return False
    if value == "later":
        ctx.say("fu_rex_later_ack")
        _go_back(ctx)
    else:
        state = _f(ctx)
        _start_rex(ctx, intro_id=state.intro_id, back=state.back)
    return True


# --- why a need was closed (/mesbesoins) ---------------------------------------------------------
def _on_need_reason(ctx: Ctx, value: str) -> None:
    """``nwhy:met:<need>:<solution>`` / ``nwhy:gone:<need>`` / ``nwhy:other:<need>``."""
    verb, _, rest = value.partition(":")
    raw_need, _, raw_sol = rest.partition(":")
    need_id, sol_id = row_id(raw_need), row_id(raw_sol) if raw_sol else None
    need = ctx.session.get(Need, need_id) if need_id is not None else None
    sol = ctx.session.get(Solution, sol_id) if sol_id is not None else None
    valid = verb in ("gone", "other") or (verb == "met" and sol is not None)
    if (
        not valid
        or need is None
        or need.owner_id != ctx.person.id
        or need.status != NeedStatus.CLOSED
    ):
        ctx.say("myneeds_not_found")
    else:
        need.close_reason = {"met": "met", "gone": "abandoned"}.get(verb, "other")
        need.met_by_solution_id = sol.id if sol is not None else None
        if sol is not None:
            ctx.say("needwhy_met_ack", title=sol.title)
        else:
            ctx.say("needwhy_ack")
    ctx.engine.reask_or_hint(ctx)


# --- the REX interview ---------------------------------------------------------------------------
def cmd_rex(ctx: Ctx, args: str) -> None:
    """/rex, /retour: tell a pilot as a REX sheet."""
    if ctx.engine.in_flow(ctx) and ctx.flow != FLOW:
        ctx.say("busy")
        ctx.reask()
        return
    _start_rex(ctx, intro_id=_latest_pilot(ctx), back=None)


def _latest_pilot(ctx: Ctx) -> int | None:
    """The person's most recent introduction that reached a pilot (to prefill the REX)."""
    return ctx.session.scalar(
        select(Introduction.id)
        .where(
            buyer_is(ctx.person.id),
            Introduction.pilot_started_at.is_not(None),
        )
        .order_by(Introduction.id.desc())
        .limit(1)
    )


def _start_rex(ctx: Ctx, *, intro_id: int | None, back: list[str | None] | None) -> None:
    rex: dict[str, Any] = {}
    intro = ctx.session.get(Introduction, intro_id) if intro_id else None
    if intro is not None and buyer_of(intro) == ctx.person.id:
        rex["intro_id"] = intro.id
        rex["need_id"] = buyer_need_of(intro)
        sol = ctx.session.get(Solution, intro.solution_id) if intro.solution_id else None
        if sol is not None:
            rex["solution_id"], rex["solution"] = sol.id, sol.title
        if intro.pilot_started_at and intro.pilot_end_at:
            days = (as_utc(intro.pilot_end_at) - as_utc(intro.pilot_started_at)).days
            rex["months"] = max(1, round(days / 30.44))
        if intro.pilot_outcome is not None:
            rex["outcome"] = intro.pilot_outcome.value
    if "need_id" not in rex or rex["need_id"] is None:
        rex["need_id"] = ctx.session.scalar(
            select(Need.id)
            .where(Need.owner_id == ctx.person.id, Need.status != NeedStatus.DRAFT)
            .order_by(Need.id.desc())
            .limit(1)
        )
    ctx.put_state(FollowState(intro_id=rex.get("intro_id"), back=back, rex=rex))
    ctx.say("rex_intro")
    ctx.ask("x_tried", flow=FLOW)


def _rex(ctx: Ctx) -> dict[str, Any]:
    return _f(ctx).rex


def _next_rex_step(ctx: Ctx) -> None:
    """The first question whose answer is not known yet; then save."""
    rex = _rex(ctx)
    for key, step in (
        ("tried", "x_tried"),
        ("solution", "x_solution"),
        ("months", "x_duration"),
        ("cost", "x_cost"),
        ("outcome", "x_outcome"),
        ("worked", "x_worked"),
        ("failed", "x_failed"),
        ("recommend", "x_reco"),
        ("consent", "x_consent"),
    ):
        if key not in rex:
            ctx.ask(step, flow=FLOW)
            return
    _save_rex(ctx)


def _text_answer(key: str, limit: int = 1000) -> Any:
    def on_text(ctx: Ctx, text: str) -> None:
        _rex(ctx)[key] = " ".join(text.split())[:limit]
        _next_rex_step(ctx)

    return on_text


def _skip_answer(key: str) -> Any:
    def on_choice(ctx: Ctx, action: str, value: str) -> bool:
        if action != "skip":
            return False
        _rex(ctx)[key] = ""
        _next_rex_step(ctx)
        return True

    return on_choice


def _ask_text(key: str, *, skippable: bool) -> Any:
    def prompt(ctx: Ctx) -> None:
        ctx.send(ctx.t(key), [skip_button(ctx)] if skippable else [])

    return prompt


def _choices(key: str, values: Any, label: Any) -> tuple[Any, Any]:
    """A question answered with buttons: ``values``, each labelled by ``label(ctx, v)``."""

    def prompt(ctx: Ctx) -> None:
        ctx.send(ctx.t(f"rex_{key}_ask"), [ctx.btn("x", str(v), label(ctx, v)) for v in values])

    def on_choice(ctx: Ctx, action: str, value: str) -> bool:
        if action != "x" or value not in {str(v) for v in values}:
            return False
        _rex(ctx)[_REX_KEYS.get(key, key)] = int(value) if value.isdigit() else value
        _next_rex_step(ctx)
        return True

    return prompt, on_choice


_REX_KEYS = {"duration": "months", "reco": "recommend"}


def _p_solution(ctx: Ctx) -> None:
    rows = ctx.session.execute(
        select(Solution.id, Solution.title)
        .join(Introduction, Introduction.solution_id == Solution.id)
        .where(
            buyer_is(ctx.person.id),
            Introduction.status != IntroStatus.REQUESTED,
        )
        .order_by(Introduction.id.desc())
        .limit(4)
    ).all()
    buttons = [
        ctx.btn("x", str(sol_id), shorten(title, 40)) for sol_id, title in dict(rows).items()
    ]
    buttons.append(ctx.btn("x", "other", ctx.t("rex_solution_other")))
    buttons.append(ctx.btn("x", "none", ctx.t("rex_solution_none")))
    ctx.send(ctx.t("rex_solution_ask"), buttons)


def _c_solution(ctx: Ctx, action: str, value: str) -> bool:
    if action != "x":
        return False
    rex = _rex(ctx)
    if value == "other":
        ctx.ask("x_solution_text")
        return True
    if value == "none":
        rex["solution"] = ""
    else:
        sol_id = row_id(value)
        sol = ctx.session.get(Solution, sol_id) if sol_id is not None else None
        if sol is None:
            return False
        rex["solution_id"], rex["solution"] = sol.id, sol.title
    _next_rex_step(ctx)
    return True


def _t_solution(ctx: Ctx, text: str) -> None:
    _rex(ctx)["solution"] = " ".join(text.split())[:200]
    _next_rex_step(ctx)


def _territory(ctx: Ctx, need: Need | None) -> dict[str, Any]:
    if need is not None and need.territory_name:
        return {
            "territory_code": need.territory_code,
            "territory_kind": need.territory_kind,
            "territory_name": need.territory_name,
            "population": need.population,
            "dep": need.dep,
            "region": need.region,
        }
    person = ctx.person
    if not person.territory_code:
        return {}
    terr = ctx.session.scalar(
        select(Territory).where(
            Territory.code == person.territory_code, Territory.kind == person.territory_kind
        )
    )
    if terr is None:
        return {}
    return {
        "territory_code": terr.code,
        "territory_kind": terr.kind.value,
        "territory_name": terr.name,
        "population": terr.population,
        "dep": terr.dep,
        "region": terr.region,
    }


def _save_rex(ctx: Ctx) -> None:
    """The REX sheet, as a draft for the facilitators (core.catalogue's write path)."""
    rex = _rex(ctx)
    need = ctx.session.get(Need, rex["need_id"]) if rex.get("need_id") else None
    if need is not None and need.owner_id != ctx.person.id:
        need = None
    tried = str(rex["tried"])
    solution = str(rex.get("solution") or "")
    title = shorten(f"{solution} : {tried}" if solution else tried, 120)
    consent = rex["consent"] == "yes"
    org = ctx.person.organisation
    values: dict[str, Any] = {
        "title": title,
        "problem": (need.problem or need.raw_text) if need is not None else tried,
        "tried": tried if not solution else f"{tried} ({solution})",
        "themes": list(need.themes or []) if need is not None else [],
        "solution_id": rex.get("solution_id"),
        "outcome": REX_OUTCOMES.get(str(rex["outcome"]), Outcome.UNKNOWN),
        "lessons": ctx.t(
            "rex_lessons", worked=rex.get("worked") or "—", failed=rex.get("failed") or "—"
        ),
        "organisation_name": org.name if org is not None else None,
        "contact_consent": consent,
        "period_end": utcnow().date().isoformat()[:7],
        **_territory(ctx, need),
    }
    written = catalogue.create_experience(
        ctx.session,
        external_id=f"chat-rex-{uuid.uuid4().hex[:12]}",
        values=values,
        actor=f"chat:{ctx.person.id}",
        source="chat",
    )
    row: Experience = written.row
    row.moderation = Moderation.PENDING
    row.need_id = need.id if need is not None else None
    row.contact_person_id = ctx.person.id
    row.contact_role = values["organisation_name"] or values.get("territory_name")
    row.duration_months = rex.get("months") or None
    row.cost_band = None if rex.get("cost") in (None, "unknown") else str(rex["cost"])
    row.recommend = str(rex["recommend"])
    if consent:
        record_consent(
            ctx.session,
            ctx.person.id,
            purpose=REX_CONSENT,
            policy_version=ctx.engine.settings.privacy_policy_version,
            now=utcnow(),
        )
    ctx.say("rex_saved", title=title)
    _go_back(ctx)


def _p_consent(ctx: Ctx) -> None:
    rex = _rex(ctx)
    need = ctx.session.get(Need, rex["need_id"]) if rex.get("need_id") else None
    labels = []
    for theme in (need.themes if need is not None else []) or []:
        found = find_theme(theme)
        if found is not None:
            labels.append(found.en if ctx.lang == "en" else found.fr)
    themes = ", ".join(labels) or shorten(str(rex.get("tried", "")), 60)
    ctx.send(
        ctx.t("rex_consent_ask", themes=themes, cap=ctx.engine.settings.intro_cap_per_month),
        [
            ctx.btn("x", "yes", ctx.t("rex_consent_yes")),
            ctx.btn("x", "no", ctx.t("rex_consent_no")),
        ],
    )


def _c_consent(ctx: Ctx, action: str, value: str) -> bool:
    if action != "x" or value not in ("yes", "no"):
        return False
    _rex(ctx)["consent"] = value
    _next_rex_step(ctx)
    return True


def _label(prefix: str) -> Any:
    return lambda ctx, v: ctx.t(f"{prefix}_{v}")


_p_duration_x, _c_duration_x = _choices(
    "duration", DURATIONS, lambda ctx, n: ctx.t("fu_months", n=n)
)
_p_cost, _c_cost = _choices("cost", COST_BANDS, _label("rex_cost"))
_p_outcome, _c_outcome = _choices("outcome", tuple(REX_OUTCOMES), _label("fu_btn"))
_p_reco, _c_reco = _choices("reco", RECOMMEND, _label("rex_reco"))

_STEPS = {
    "f_duration": Step(_p_duration, on_choice=_c_duration),
    "f_share": Step(_p_share, on_choice=_c_share),
    "f_contract": Step(_p_contract, on_choice=_c_contract),
    "f_rex_offer": Step(_p_rex_offer, on_choice=_c_rex_offer),
    "x_tried": Step(
        _ask_text("rex_tried_ask", skippable=False), on_text=_text_answer("tried"), prose=True
    ),
    "x_solution": Step(_p_solution, on_choice=_c_solution),
    "x_solution_text": Step(_ask_text("rex_solution_text", skippable=False), on_text=_t_solution),
    "x_duration": Step(_p_duration_x, on_choice=_c_duration_x),
    "x_cost": Step(_p_cost, on_choice=_c_cost),
    "x_outcome": Step(_p_outcome, on_choice=_c_outcome),
    "x_worked": Step(
        _ask_text("rex_worked_ask", skippable=True),
        on_text=_text_answer("worked"),
        on_choice=_skip_answer("worked"),
        prose=True,
    ),
    "x_failed": Step(
        _ask_text("rex_failed_ask", skippable=True),
        on_text=_text_answer("failed"),
        on_choice=_skip_answer("failed"),
        prose=True,
    ),
    "x_reco": Step(_p_reco, on_choice=_c_reco),
    "x_consent": Step(_p_consent, on_choice=_c_consent),
}


def install(engine: Engine) -> None:
    engine.register_steps(_STEPS)
    engine.register_command(("rex", "retour"), cmd_rex)
    engine.register_choice(FOLLOWUP_ACTION, _on_followup)
    engine.register_choice(NEED_REASON_ACTION, _on_need_reason)


__all__ = ["FLOW", "FOLLOWUP_ACTION", "REX_CONSENT", "FollowState", "install"]
