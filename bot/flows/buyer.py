"""Buyer flow: a need in the user's words -> a few questions -> scope card -> results."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.flows.shared import (
    offer_community,
    request_introduction,
    result_messages,
    rex_button,
    skip_button,
    theme_buttons,
    tick,
    toggle_theme,
)
from bot.render import render_card, render_financing, render_peers, render_territory, shorten
from bot.types import Button, Ctx, Engine, FlowState, OutMessage, Step
from core.domain import Cadence, NeedStatus, Role, size_band
from core.financing import list_schemes
from core.models import MatchEvent, Need, Subscription
from matcher.financing import Buyer, FinancingHint, Scheme, suggest_financing
from matcher.need import scope_from_message
from matcher.scope import (
    BUDGET_BANDS,
    CONSTRAINT_IDS,
    TIMING_BANDS,
    budget_band,
    extract_amount,
    extract_constraints,
    extract_stage,
    extract_timing,
)
from matcher.service import SearchResult
from matcher.types import PeerMatch, Scope

log = logging.getLogger(__name__)

FLOW = "buyer"
PAGE = 5
MIN_NEED_WORDS = 4
STAGES = ("explore", "experiment", "buy")
#: The field a person may edit from the scope card -> the step asking for it (the
#: territory question is ``b_terr_pick`` instead when candidates are waiting).
FIELD_STEPS = {
    "text": "b_text",
    "themes": "b_themes",
    "territory": "b_terr",
    "stage": "b_stage",
    "budget": "b_budget",
    "timing": "b_timing",
    "constraints": "b_constraints",
}


# --- state ------------------------------------------------------------------------------------
@dataclass
class BuyerState(FlowState):
    """The buyer flow's state (``b``): the need being described, then its results."""

    KEY = "b"
    scope: dict[str, Any] | None = None  # Scope.to_dict()
    territory: dict[str, Any] | None = None  # the chosen territory (candidate + "desc")
    cands: list[dict[str, Any]] | None = None  # territories to choose from
    asked: list[str] = field(default_factory=list)  # questions already asked
    timing_text: str | None = None  # the deadline as the person wrote it
    editing: bool = False  # a field of the scope card is being changed
    need_id: int | None = None  # the saved need, once confirmed
    offset: int = 0  # results shown so far
    shown: list[dict[str, Any]] = field(default_factory=list)  # {"id", "title"} per result
    peers: list[dict[str, Any]] = field(default_factory=list)  # _peer_ref of each peer
    raw_text: str | None = None  # the need as first written (scope.text: its problem statement)
    more: bool = False  # the last page of results was full: offer "more"
    proposals: bool = True  # open to start-ups' proposals (the card's toggle; Need.proposals_open)


def _b(ctx: Ctx) -> BuyerState:
    return ctx.state_of(BuyerState)


def _scope(ctx: Ctx) -> Scope:
    return Scope.from_dict(_b(ctx).scope or {"text": ""})


def _set_scope(ctx: Ctx, scope: Scope) -> None:
    _b(ctx).scope = scope.to_dict()


def _territory_from_candidate(candidate: Any) -> dict[str, Any]:
    from matcher.territories import describe

    data = dataclasses.asdict(candidate)
    data["desc"] = {lang: describe(candidate, lang) for lang in ("fr", "en")}
    return data


def _apply_territory(ctx: Ctx, territory: dict[str, Any] | None) -> None:
    b = _b(ctx)
    b.territory = territory
    b.cands = None
    scope = _scope(ctx)
    territory = territory or {}
    scope.territory_code = territory.get("code")
    scope.territory_kind = territory.get("kind")
    scope.territory_name = territory.get("name")
    scope.population = territory.get("population")
    band = territory.get("size_band") or size_band(territory.get("population"))
    scope.size_band = str(band) if band else None
    scope.dep = territory.get("dep")
    scope.region = territory.get("region")
    _set_scope(ctx, scope)
    if territory.get("code"):
        ctx.profile["territory"] = territory


# --- entry ------------------------------------------------------------------------------------
def start(ctx: Ctx, text: str) -> None:
    """Start the buyer flow, with the need's text if the user already wrote it."""
    if ctx.person.role is None:
        ctx.person.role = Role.BUYER
    ctx.end_flow()
    ctx.state.flow = FLOW
    if text and len(text.split()) >= MIN_NEED_WORDS:
        _take_need_text(ctx, text)
    else:
        ctx.ask("b_text", flow=FLOW)


def cmd_need(ctx: Ctx, args: str) -> None:
    """/besoin [text]: describe a need."""
    if ctx.engine.in_flow(ctx):
        ctx.say("busy")
        ctx.reask()
        return
    start(ctx, args)


def _take_need_text(ctx: Ctx, text: str) -> None:
    """Read a need message (matcher.need.scope_from_message): its problem statement is
    what is searched and shown on the card; the raw message is kept for the record."""
    read = scope_from_message(
        text, language=ctx.lang, today=ctx.engine.today(), resolver=ctx.engine.resolver
    )
    found = read.scope
    b = _b(ctx)
    editing = b.editing
    old = _scope(ctx) if editing else Scope(text=text)
    if not editing or b.raw_text is None:
        b.raw_text = text
    scope = Scope(
        text=found.text,
        language=ctx.lang,
        themes=found.themes or old.themes,
        stage=found.stage or old.stage,
        budget_eur=found.budget_eur if found.budget_eur is not None else old.budget_eur,
        budget_band=found.budget_band or old.budget_band,
        timing=found.timing or old.timing,
        constraints=sorted(set(old.constraints) | set(found.constraints)),
    )
    _set_scope(ctx, scope)
    if read.timing_text:
        b.timing_text = read.timing_text
    territory = b.territory if editing else None
    if read.territory is not None:
        territory = _territory_from_candidate(read.territory)
    elif read.homonyms:
        b.cands = [_territory_from_candidate(c) for c in read.homonyms[:6]]
        b.asked = [q for q in b.asked if q != "territory"]
    if territory is None and not b.cands:
        territory = (ctx.data.get("profile") or {}).get("territory")
    if territory is not None:
        _apply_territory(ctx, territory)
    elif found.population:
        # a size without a name ("une commune de 2 000 habitants"): peers of that size
        scope = _scope(ctx)
        scope.population, scope.size_band = found.population, found.size_band
        _set_scope(ctx, scope)
    if not editing and _missing(ctx):
        ctx.say("need_understood")
    _next(ctx)


def _missing(ctx: Ctx) -> list[str]:
    b = _b(ctx)
    scope = _scope(ctx)
    asked = set(b.asked)
    missing = []
    if "territory" not in asked and (b.cands or not b.territory):
        missing.append("territory")
    if "stage" not in asked and not scope.stage:
        missing.append("stage")
    if "budget" not in asked and not scope.budget_band:
        missing.append("budget")
    if "timing" not in asked and not scope.timing:
        missing.append("timing")
    if "constraints" not in asked and not scope.constraints:
        missing.append("constraints")
    return missing


def _next(ctx: Ctx) -> None:
    """Ask the next missing question, or show the scope card."""
    b = _b(ctx)
    editing, b.editing = b.editing, False
    if editing:
        ctx.ask("b_card", flow=FLOW)
        return
    missing = _missing(ctx)
    if not missing:
        ctx.ask("b_card", flow=FLOW)
        return
    question = missing[0]
    b.asked.append(question)
    if question == "territory" and b.cands:
        ctx.ask("b_terr_pick", flow=FLOW)
    else:
        ctx.ask(FIELD_STEPS[question], flow=FLOW)


# --- b_text -----------------------------------------------------------------------------------
def _p_text(ctx: Ctx) -> None:
    ctx.say("edit_text" if _b(ctx).editing else "need_ask")


def _t_text(ctx: Ctx, text: str) -> None:
    if len(text.split()) < MIN_NEED_WORDS:
        ctx.say("need_too_short")
        return
    _take_need_text(ctx, text)


# --- territory --------------------------------------------------------------------------------
def _p_terr(ctx: Ctx) -> None:
    ctx.send(ctx.t("ask_territory"), [skip_button(ctx)])


def _t_terr(ctx: Ctx, text: str) -> None:
    resolver = ctx.engine.resolver
    if resolver is None:
        _apply_territory(ctx, {"name": shorten(text, 100)})
        _next(ctx)
        return
    resolution = resolver.find_in_text(text)
    if resolution.status == "none":
        candidates = resolver.resolve(text)
        if len(candidates) == 1:
            resolution = type(resolution)("found", candidate=candidates[0])
        elif candidates:
            resolution = type(resolution)("ambiguous", candidates=candidates)
    if resolution.status == "found" and resolution.candidate is not None:
        territory = _territory_from_candidate(resolution.candidate)
        _apply_territory(ctx, territory)
        ctx.say("territory_noted", territory=render_territory(territory, ctx.lang))
        _next(ctx)
    elif resolution.status == "ambiguous" and resolution.candidates:
        _b(ctx).cands = [_territory_from_candidate(c) for c in resolution.candidates[:6]]
        ctx.ask("b_terr_pick", flow=FLOW)
    else:
        ctx.say("territory_not_found", text=shorten(text, 60))
        ctx.reask()


def _c_skip_then_next(ctx: Ctx, action: str, value: str) -> bool:
    if action != "skip":
        return False
    _b(ctx).cands = None
    _next(ctx)
    return True


def _p_terr_pick(ctx: Ctx) -> None:
    buttons = []
    for i, cand in enumerate(_b(ctx).cands or []):
        where = cand.get("dep_name") or cand.get("dep") or cand.get("region_name") or ""
        label = f"{cand['name']} ({where})" if where else cand["name"]
        buttons.append(ctx.btn("terr", str(i), shorten(label, 60)))
    buttons.append(skip_button(ctx))
    ctx.send(ctx.t("territory_ambiguous"), buttons)


def _c_terr_pick(ctx: Ctx, action: str, value: str) -> bool:
    if action == "skip":
        return _c_skip_then_next(ctx, action, value)
    cands = _b(ctx).cands or []
    if action != "terr" or not value.isdigit() or int(value) >= len(cands):
        return False
    territory = cands[int(value)]
    _apply_territory(ctx, territory)
    ctx.say("territory_noted", territory=render_territory(territory, ctx.lang))
    _next(ctx)
    return True


# --- stage, budget, timing --------------------------------------------------------------------
def _p_stage(ctx: Ctx) -> None:
    buttons = [ctx.btn("st", s, ctx.t(f"stage_{s}")) for s in STAGES]
    ctx.send(ctx.t("ask_stage"), [*buttons, skip_button(ctx)])


def _set_field(ctx: Ctx, **changes: Any) -> None:
    scope = dataclasses.replace(_scope(ctx), **changes)
    _set_scope(ctx, scope)


def _c_stage(ctx: Ctx, action: str, value: str) -> bool:
    if action == "skip":
        return _c_skip_then_next(ctx, action, value)
    if action != "st" or value not in STAGES:
        return False
    _set_field(ctx, stage=value)
    _next(ctx)
    return True


def _t_stage(ctx: Ctx, text: str) -> None:
    stage = extract_stage(text)
    if stage is None:
        ctx.say("unexpected")
        ctx.reask()
        return
    _set_field(ctx, stage=stage)
    _next(ctx)


def _p_budget(ctx: Ctx) -> None:
    buttons = [ctx.btn("bud", band, ctx.t(f"budget_{band}")) for band in BUDGET_BANDS]
    ctx.send(ctx.t("ask_budget"), [*buttons, skip_button(ctx)])


def _c_budget(ctx: Ctx, action: str, value: str) -> bool:
    if action == "skip":
        return _c_skip_then_next(ctx, action, value)
    if action != "bud" or value not in BUDGET_BANDS:
        return False
    _set_field(ctx, budget_band=value, budget_eur=None)
    _next(ctx)
    return True


def _t_budget(ctx: Ctx, text: str) -> None:
    amount = extract_amount(text)
    if amount is None:
        # "80000" alone: a bare number answering the budget question is in euros
        digits = text.replace(" ", "").replace("\u202f", "").replace("\u00a0", "")
        amount = int(digits) if digits.isdigit() and len(digits) <= 10 else None
    if amount is None:
        ctx.say("unexpected")
        ctx.reask()
        return
    _set_field(ctx, budget_eur=amount, budget_band=budget_band(amount))
    _next(ctx)


def _p_timing(ctx: Ctx) -> None:
    buttons = [ctx.btn("tim", band, ctx.t(f"timing_{band}")) for band in TIMING_BANDS]
    ctx.send(ctx.t("ask_timing"), [*buttons, skip_button(ctx)])


def _c_timing(ctx: Ctx, action: str, value: str) -> bool:
    if action == "skip":
        return _c_skip_then_next(ctx, action, value)
    if action != "tim" or value not in TIMING_BANDS:
        return False
    _b(ctx).timing_text = None
    _set_field(ctx, timing=value)
    _next(ctx)
    return True


def _t_timing(ctx: Ctx, text: str) -> None:
    found = extract_timing(text, today=ctx.engine.today())
    if found is None:
        ctx.say("unexpected")
        ctx.reask()
        return
    _b(ctx).timing_text = found[1]
    _set_field(ctx, timing=found[0])
    _next(ctx)


# --- toggles (constraints, themes) ------------------------------------------------------------
def _p_constraints(ctx: Ctx) -> None:
    chosen = set(_scope(ctx).constraints)
    buttons = [
        ctx.btn("con", c, tick(ctx.t(f"constraint_{c}"), c in chosen)) for c in CONSTRAINT_IDS
    ]
    ctx.send(ctx.t("ask_constraints"), [*buttons, ctx.btn("ok", "x", ctx.t("done"))])


def _c_constraints(ctx: Ctx, action: str, value: str) -> bool:
    if action in ("ok", "skip"):
        _next(ctx)
        return True
    if action != "con" or value not in CONSTRAINT_IDS:
        return False
    chosen = list(_scope(ctx).constraints)
    chosen = [c for c in chosen if c != value] if value in chosen else [*chosen, value]
    _set_field(ctx, constraints=[c for c in CONSTRAINT_IDS if c in chosen])
    ctx.reask()
    return True


def _t_constraints(ctx: Ctx, text: str) -> None:
    found = extract_constraints(text)
    if not found:
        ctx.say("unexpected")
        ctx.reask()
        return
    chosen = set(_scope(ctx).constraints) | set(found)
    _set_field(ctx, constraints=[c for c in CONSTRAINT_IDS if c in chosen])
    ctx.reask()


def _p_themes(ctx: Ctx) -> None:
    buttons = theme_buttons(ctx, _scope(ctx).themes)
    ctx.send(ctx.t("ask_themes"), [*buttons, ctx.btn("ok", "x", ctx.t("done"))])


def _c_themes(ctx: Ctx, action: str, value: str) -> bool:
    if action == "ok":
        _next(ctx)
        return True
    chosen = toggle_theme(_scope(ctx).themes, value) if action == "th" else None
    if chosen is None:
        return False
    _set_field(ctx, themes=chosen)
    ctx.reask()
    return True


# --- scope card and edit ----------------------------------------------------------------------
def _financing(ctx: Ctx) -> list[FinancingHint]:
    """The financing hints for the need as scoped now (at most three)."""
    schemes = [Scheme.of(row) for row in list_schemes(ctx.session)]
    return suggest_financing(Buyer.of(_scope(ctx)), schemes)


def _yes_no(ctx: Ctx, value: bool) -> str:
    return ctx.t("yes_word" if value else "no_word")


def _card_buttons(ctx: Ctx) -> list[Button]:
    proposals = _b(ctx).proposals
    return [
        ctx.btn("card", "ok", ctx.t("confirm")),
        ctx.btn("card", "edit", ctx.t("edit")),
        ctx.btn("card", "prop", ctx.t("card_proposals_button", value=_yes_no(ctx, proposals))),
        ctx.btn("card", "fin", ctx.t("fin_button")),
    ]


def _p_card(ctx: Ctx) -> None:
    b = _b(ctx)
    text = render_card(
        _scope(ctx),
        ctx.lang,
        territory=b.territory,
        timing_text=b.timing_text,
        financing=_financing(ctx),
    )
    # what being open to proposals means, next to its toggle (default: open, anonymised)
    text += "\n\n" + ctx.t("card_proposals", value=_yes_no(ctx, b.proposals))
    ctx.send(text, _card_buttons(ctx))


def _c_card(ctx: Ctx, action: str, value: str) -> bool:
    if action != "card" or value not in ("ok", "edit", "fin", "prop"):
        return False
    if value == "prop":
        _b(ctx).proposals = not _b(ctx).proposals
        ctx.reask()
    elif value == "fin":
        ctx.send(render_financing(_financing(ctx), ctx.lang), _card_buttons(ctx))
    elif value == "edit":
        ctx.ask("b_edit", flow=FLOW)
    else:
        _confirm(ctx)
    return True


def _p_edit(ctx: Ctx) -> None:
    buttons = [ctx.btn("ed", f, ctx.t(f"field_{f}")) for f in FIELD_STEPS]
    ctx.send(ctx.t("edit_which"), [*buttons, ctx.btn("ed", "back", ctx.t("back"))])


def _c_edit(ctx: Ctx, action: str, value: str) -> bool:
    if action != "ed" or value not in (*FIELD_STEPS, "back"):
        return False
    if value == "back":
        ctx.ask("b_card", flow=FLOW)
        return True
    _b(ctx).editing = True
    ctx.ask(FIELD_STEPS[value], flow=FLOW)
    return True


# --- confirmation and results -----------------------------------------------------------------
def _confirm(ctx: Ctx) -> None:
    scope = _scope(ctx)
    b = _b(ctx)
    territory = b.territory or {}
    need = Need(
        owner_id=ctx.person.id,
        raw_text=b.raw_text or scope.text,
        problem=scope.text,
        language=ctx.lang,
        themes=list(scope.themes),
        territory_code=scope.territory_code,
        territory_kind=scope.territory_kind,
        territory_name=scope.territory_name,
        population=scope.population,
        size_band=scope.size_band,
        dep=scope.dep,
        region=scope.region,
        competence_level=territory.get("kind"),
        stage=scope.stage,
        budget_eur=scope.budget_eur,
        budget_band=scope.budget_band,
        timing=scope.timing,
        constraints=list(scope.constraints),
        status=NeedStatus.OPEN,
        proposals_open=b.proposals,
    )
    ctx.session.add(need)
    ctx.session.flush()
    if scope.territory_code and ctx.person.territory_code is None:
        ctx.person.territory_code = scope.territory_code
        ctx.person.territory_kind = scope.territory_kind
    b.need_id, b.offset, b.shown, b.peers = need.id, 0, [], []
    ctx.state.step = "b_results"
    ctx.data["n"] = int(ctx.data.get("n", 0)) + 1
    engine, transport, external_id = ctx.engine, ctx.transport, ctx.external_id
    need_id, requester_id = need.id, ctx.person.id

    def index_and_search() -> list[OutMessage]:
        try:  # searchable by others within a second; this reply does not wait for it
            engine.service.index_later("need", need_id)
        except Exception:
            log.exception("could not queue need %s for indexing", need_id)
        return _results_page(
            engine, transport, external_id, scope, need_id, 0, first=True, requester_id=requester_id
        )

    ctx.defer(index_and_search)


def _results_page(
    engine: Engine,
    transport: str,
    external_id: str,
    scope: Scope,
    need_id: int,
    offset: int,
    *,
    first: bool,
    requester_id: int | None = None,
) -> list[OutMessage]:
    """Search (outside any transaction), then log and render in a fresh transaction."""
    try:
        result = engine.service.search(scope, top=PAGE, offset=offset)
        failed = False
    except Exception:
        log.exception("search failed for need %s", need_id)
        result, failed = SearchResult([]), True
    matches = result.matches
    peers: list[PeerMatch] = []
    if first and engine.peers is not None:
        try:
            peers = engine.peers.find_peers(
                scope, top=3, need_id=need_id, requester_id=requester_id
            )
        except Exception:
            log.exception("peer search failed for need %s", need_id)

    def step(ctx: Ctx) -> None:
        b = _b(ctx)
        if b.need_id != need_id:
            return  # the user moved on meanwhile
        for rank, m in enumerate(matches, start=offset + 1):
            ctx.session.add(
                MatchEvent(need_id=need_id, solution_id=m.solution_id, rank=rank, score=m.score)
            )
        b.offset = offset + len(matches)
        b.shown = [
            *b.shown,
            *({"id": m.solution_id, "title": m.title} for m in matches),
        ]
        if first:
            b.peers = [_peer_ref(p) for p in peers]
        if failed:
            ctx.say("search_unavailable")
        elif first:
            ctx.say("need_saved")
        b.more = len(matches) == PAGE
        if matches:
            if not first:
                ctx.say("more_results_header")
            ctx.out.extend(result_messages(ctx, matches, start=offset + 1))
            if result.tried_elsewhere:
                ctx.out.extend(result_messages(ctx, result.tried_elsewhere, tried=True))
        elif not failed:
            ctx.say("no_results" if first else "no_more_results")
        if first:
            _render_peers(ctx, peers)
            offer_community(ctx, need_id)
        _p_results(ctx)

    return engine.in_context(transport, external_id, step)


def _peer_ref(peer: PeerMatch) -> dict[str, Any]:
    return {
        "experience_id": peer.experience_id,
        "need_id": peer.need_id,
        "label": peer.territory_name or peer.title,
        "contact": peer.contact_available,
    }


def _render_peers(ctx: Ctx, peers: list[PeerMatch]) -> None:
    if not peers:
        ctx.say("peers_none")
        return
    buttons = [  # every REX line opens its sheet
        rex_button(
            ctx,
            p.experience_id,
            ctx.t("rex_open_button", name=shorten(p.territory_name or p.title, 36)),
        )
        for p in peers
        if p.experience_id is not None
    ]
    ctx.send(ctx.t("peers_header") + "\n" + render_peers(peers, ctx.lang), buttons)


def _p_results(ctx: Ctx) -> None:
    more = [ctx.btn("res", "more", ctx.t("more"))] if _b(ctx).more else []
    ctx.send(
        ctx.t("next_steps"),
        [
            *more,
            ctx.btn("res", "follow", ctx.t("follow_need")),
            ctx.btn("res", "digest", ctx.t("subscribe_digest")),
            ctx.btn("res", "intro", ctx.t("ask_intro")),
            ctx.btn("res", "fin", ctx.t("fin_button")),
            ctx.btn("res", "new", ctx.t("new_need")),
        ],
    )


def _subscription(ctx: Ctx) -> tuple[Subscription, bool]:
    sub = ctx.session.scalar(select(Subscription).where(Subscription.person_id == ctx.person.id))
    created = False
    if sub is None:
        sub = Subscription(
            person_id=ctx.person.id, cadence=Cadence.WEEKLY, language=ctx.lang, themes=[]
        )
        ctx.session.add(sub)
        created = True
    elif sub.cadence != Cadence.WEEKLY:
        sub.cadence = Cadence.WEEKLY
        created = True
    return sub, created


def _c_results(ctx: Ctx, action: str, value: str) -> bool:
    if action != "res":
        return False
    b = _b(ctx)
    if value == "more" and b.need_id:
        engine, transport, external_id = ctx.engine, ctx.transport, ctx.external_id
        scope, need_id, offset = _scope(ctx), b.need_id, b.offset
        ctx.defer(
            lambda: _results_page(
                engine, transport, external_id, scope, need_id, offset, first=False
            )
        )
        return True
    if value == "follow":
        sub, _ = _subscription(ctx)
        themes = list(sub.themes or [])
        sub.themes = themes + [x for x in _scope(ctx).themes if x not in themes]
        ctx.say("follow_done")
        return True
    if value == "fin":
        ctx.send(render_financing(_financing(ctx), ctx.lang))
        _p_results(ctx)
        return True
    if value == "digest":
        _, created = _subscription(ctx)
        ctx.say("digest_done" if created else "digest_already")
        return True
    if value == "intro":
        if ctx.engine.peers is None:
            ctx.say("intro_unavailable")
            return True
        if not b.shown and not b.peers:
            ctx.say("intro_nothing")
            return True
        ctx.ask("b_intro", flow=FLOW)
        return True
    if value == "new":
        ctx.end_flow()
        start(ctx, "")
        return True
    return False


def _p_intro(ctx: Ctx) -> None:
    b = _b(ctx)
    buttons = [
        ctx.btn("meet", f"s{i}", shorten(s["title"], 48)) for i, s in enumerate(b.shown[:PAGE])
    ]
    buttons += [  # every REX (directly or through a facilitator); a need if its owner shares
        ctx.btn("meet", f"p{i}", shorten(p.get("label") or "?", 48))
        for i, p in enumerate(b.peers)
        if p.get("experience_id") is not None or p.get("contact", True)
    ]
    buttons.append(ctx.btn("meet", "back", ctx.t("back")))
    ctx.send(ctx.t("intro_pick"), buttons)


def _c_intro(ctx: Ctx, action: str, value: str) -> bool:
    if action != "meet":
        return False
    b = _b(ctx)
    if value == "back":
        ctx.ask("b_results", flow=FLOW)
        return True
    kind, idx = value[:1], value[1:]
    pool = b.shown[:PAGE] if kind == "s" else b.peers
    if kind not in ("s", "p") or not idx.isdigit() or int(idx) >= len(pool):
        return False
    item = pool[int(idx)]
    target: dict[str, int | None]
    if kind == "s":
        target = {"solution_id": item["id"]}
    elif item.get("experience_id") is not None:
        target = {"experience_id": item["experience_id"]}
    else:
        target = {"need_id": item.get("need_id")}
    request_introduction(ctx, target, then="b_results")
    return True


def install(engine: Engine) -> None:
    engine.register_steps(
        {
            "b_text": Step(_p_text, on_text=_t_text, prose=True),
            "b_terr": Step(_p_terr, on_text=_t_terr, on_choice=_c_skip_then_next),
            "b_terr_pick": Step(_p_terr_pick, on_text=_t_terr, on_choice=_c_terr_pick),
            "b_stage": Step(_p_stage, on_text=_t_stage, on_choice=_c_stage),
            "b_budget": Step(_p_budget, on_text=_t_budget, on_choice=_c_budget),
            "b_timing": Step(_p_timing, on_text=_t_timing, on_choice=_c_timing),
            "b_constraints": Step(_p_constraints, on_text=_t_constraints, on_choice=_c_constraints),
            "b_themes": Step(_p_themes, on_choice=_c_themes),
            "b_card": Step(_p_card, on_choice=_c_card),
            "b_edit": Step(_p_edit, on_choice=_c_edit),
            "b_results": Step(_p_results, on_choice=_c_results, resting=True),
            "b_intro": Step(_p_intro, on_choice=_c_intro, resting=True),
        }
    )
    engine.register_command(("besoin", "need"), cmd_need)
