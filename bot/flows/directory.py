"""The directory in chat (``/annuaire``, ``/directory``): themes, then each theme's
solutions and REX, paged, with a keyword filter (:mod:`matcher.directory`: the web pages
``/annuaire`` list the same entries in the same order).

Browsing never moves the conversation: every button is a global action (valid at any
step, an hour later too), and after each page the question the person was at, if any, is
asked again, as ``/suivis`` does. Button ids (``dir:<verb>:…``, 40 characters at most,
well within Telegram's 64 bytes):

* ``dir:home`` — the themes, with their counts (empty themes are not offered);
* ``dir:s:<theme>:<page>`` / ``dir:r:<theme>:<page>`` — a page of solutions / REX;
* ``dir:q:<theme>:<s|r>`` — filter by keyword: the next text typed is the keyword;
* ``dir:x:<theme>:<s|r>`` — clear the filter.

Each line opens the same sheet as the search results: ``fiche:<id>`` for a solution
(:mod:`bot.flows.solutions`), ``rex:show:<id>`` for a REX (:mod:`bot.flows.peers`).

The keyword is the one step of this flow (``dir_kw``): it remembers where the person was
(``[flow, step]``) and goes back there once the keyword is typed, so a buyer in the middle
of a need loses nothing. The filter in effect is kept in :class:`DirectoryState` for its
theme and named in every page's header; a flow that ends clears it (the pages then say
there is no filter).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.flows.shared import REX_ACTION, row_id, sheet_button
from bot.render import _outcome_label, organisation_label, render_territory, shorten
from bot.types import Button, Ctx, Engine, FlowState, Step
from core.domain import fold
from core.messages import label, t
from matcher.directory import (
    MAX_KEYWORD_CHARS,
    OTHER,
    DirectoryPage,
    Kind,
    RexItem,
    SolutionItem,
    browse,
    keyword_words,
    theme_counts,
    theme_name,
)
from matcher.themes import extract_themes, find_theme

#: Global button action of the directory.
ACTION = "dir"
#: The keyword step (a stored id: never rename) and its own button's action (a step
#: button: not :data:`ACTION`, which the engine would route to the global handler).
KEYWORD_STEP = "dir_kw"
KEYWORD_ACTION = "dirkw"

_KIND_CODE: dict[Kind, str] = {"solutions": "s", "rex": "r"}
_CODE_KIND: dict[str, Kind] = {code: kind for kind, code in _KIND_CODE.items()}


@dataclass
class DirectoryState(FlowState):
    """The filter in effect (``keyword`` on ``theme``); while the keyword is asked, the
    page it filters (``ask``: ``[theme, kind code]``) and where to go back (``back``:
    ``[flow, step]``, step None: the person was idle)."""

    KEY = "dir"
    theme: str | None = None
    keyword: str | None = None
    ask: list[str] | None = None
    back: list[str | None] | None = None


def _state(ctx: Ctx) -> DirectoryState:
    return ctx.state_of(DirectoryState)


def _stay(ctx: Ctx) -> None:
    """After a page: the pending question again when the person is in a flow — unless it
    asks for free prose (a need's description): whatever they type next answers it, and
    repeating it under every page of the directory only buries the page."""
    step = ctx.engine.current(ctx)
    if step is not None and step.prose:
        return
    ctx.engine.reask_or_hint(ctx)


# --- the themes -----------------------------------------------------------------------------
def show_themes(ctx: Ctx) -> None:
    """The theme menu: one button per theme that lists something, with its counts."""
    counts = [c for c in theme_counts(ctx.session, ctx.lang) if not c.empty]
    if not counts:
        ctx.say("dir_menu_empty")
        return
    buttons = [
        Button(
            f"{ACTION}:s:{c.id}:0" if c.solutions else f"{ACTION}:r:{c.id}:0",
            ctx.t("dir_theme_button", theme=c.label, solutions=c.solutions, rex=c.rex),
        )
        for c in counts
    ]
    text = ctx.t("dir_menu")
    url = ctx.engine.settings.public_url.rstrip("/")
    if url.startswith(("http://", "https://")):
        text += "\n" + ctx.t("dir_menu_web", url=f"{url}/annuaire")
    ctx.send(text, buttons)


def _theme_from_text(text: str) -> str | None:
    """The directory theme a typed argument names ("mobilité", "Mobility", "vélo")."""
    if fold(text) in {fold(theme_name(OTHER, lang) or OTHER) for lang in ("fr", "en")} | {OTHER}:
        return OTHER
    theme = find_theme(text)
    if theme is not None:
        return theme.id
    found = extract_themes(text, limit=1)
    return found[0] if found else None


def cmd_directory(ctx: Ctx, args: str) -> None:
    """/annuaire [thème]: the themes, or that theme's first page."""
    if args:
        theme = _theme_from_text(args)
        if theme is None:
            ctx.say("dir_unknown_theme", theme=shorten(args, 60))
            show_themes(ctx)
        else:
            show_page(ctx, theme, "solutions", 0, fallback=True)
    else:
        show_themes(ctx)
    _stay(ctx)


# --- a page ---------------------------------------------------------------------------------
def solution_facts(item: SolutionItem, lang: str) -> str:
    """ "MTES · déployée · fiche qualifiée": who carries it, maturity, trust level (the web
    directory prints the same words)."""
    facts = [
        organisation_label(item.organisation),
        label("maturity", item.maturity, lang) if item.maturity else None,
        t("dir_trust", lang, trust=label("trust", item.trust_level, lang) or item.trust_level),
    ]
    return " · ".join(x for x in facts if x)


def rex_who(item: RexItem, lang: str) -> str:
    """ "Lyon (commune, 519 127 habitants)": the territory, its kind and population."""
    where = {
        "name": item.territory_name,
        "kind": item.territory_kind,
        "population": item.population,
    }
    return render_territory(where, lang) or shorten(item.title, 60)


def _solution_line(ctx: Ctx, n: int, item: SolutionItem) -> str:
    facts = solution_facts(item, ctx.lang)
    return ctx.t("dir_line_solution", n=n, title=shorten(item.title, 90), facts=facts)


def _rex_line(ctx: Ctx, n: int, item: RexItem) -> str:
    return ctx.t(
        "dir_line_rex",
        n=n,
        who=rex_who(item, ctx.lang),
        outcome=_outcome_label(item.outcome, ctx.lang),
        title=shorten(item.title, 90),
    )


def _keyword_for(ctx: Ctx, theme: str) -> str | None:
    state = _state(ctx)
    return state.keyword if state.theme == theme and state.keyword else None


def show_page(ctx: Ctx, theme: str, kind: Kind, page: int, *, fallback: bool = False) -> None:
    """Page ``page`` of ``theme``'s ``kind``, under the theme's filter if one is set.
    ``fallback``: an empty kind shows the other one (a theme opened by name)."""
    name = theme_name(theme, ctx.lang)
    found = browse(ctx.session, theme, kind=kind, keyword=_keyword_for(ctx, theme), page=page)
    if found is None or name is None:
        ctx.say("dir_unknown_theme", theme=shorten(theme, 60))
        show_themes(ctx)
        return
    if found.total == 0 and found.other_total == 0 and found.keyword is None:
        ctx.say("dir_theme_empty", theme=name)
        show_themes(ctx)
        return
    if fallback and found.total == 0 and found.other_total:
        other: Kind = "rex" if kind == "solutions" else "solutions"
        show_page(ctx, theme, other, 0)
        return
    _send_page(ctx, found, name)


def _send_page(ctx: Ctx, found: DirectoryPage, name: str) -> None:
    kind, theme, code = found.kind, found.theme, _KIND_CODE[found.kind]
    header = ctx.t(
        f"dir_header_{kind}", theme=name, total=found.total, page=found.page + 1, pages=found.pages
    )
    lines = [header]
    if found.keyword:
        lines.append(ctx.t("dir_filter_line", keyword=found.keyword))
    lines.append(ctx.t(f"dir_order_{kind}"))
    lines.append("")
    buttons: list[Button] = []
    for n, item in enumerate(found.items, start=found.first_number):
        if isinstance(item, SolutionItem):
            lines.append(_solution_line(ctx, n, item))
            buttons.append(sheet_button(ctx, item.id, ctx.t("btn_sheet_n", n=n)))
        else:
            lines.append(_rex_line(ctx, n, item))
            label_n = ctx.t("dir_btn_rex_n", n=n)
            buttons.append(Button(f"{REX_ACTION}:show:{item.id}", label_n))
    if not found.items:
        if found.keyword:
            lines.append(ctx.t("dir_none_filtered", keyword=found.keyword))
        else:
            lines.append(ctx.t(f"dir_none_{kind}"))
    if found.has_previous:
        buttons.append(Button(f"{ACTION}:{code}:{theme}:{found.page - 1}", ctx.t("dir_btn_prev")))
    if found.has_next:
        buttons.append(Button(f"{ACTION}:{code}:{theme}:{found.page + 1}", ctx.t("dir_btn_next")))
    if kind == "solutions":
        switch = Button(f"{ACTION}:r:{theme}:0", ctx.t("dir_btn_show_rex", n=found.other_total))
    else:
        label_s = ctx.t("dir_btn_show_solutions", n=found.other_total)
        switch = Button(f"{ACTION}:s:{theme}:0", label_s)
    buttons.append(switch)
    buttons.append(Button(f"{ACTION}:q:{theme}:{code}", ctx.t("dir_btn_filter")))
    if found.keyword:
        buttons.append(Button(f"{ACTION}:x:{theme}:{code}", ctx.t("dir_btn_clear")))
    buttons.append(Button(f"{ACTION}:home", ctx.t("dir_btn_themes")))
    ctx.send("\n".join(lines), buttons)


# --- the buttons ----------------------------------------------------------------------------
def on_choice(ctx: Ctx, value: str) -> None:
    """``dir:…`` (see the module notes); anything else is answered as unexpected."""
    verb, _, rest = value.partition(":")
    theme, _, arg = rest.partition(":")
    if verb == "home" and not rest:
        show_themes(ctx)
    elif verb in _CODE_KIND and theme and row_id(arg) is not None:
        show_page(ctx, theme, _CODE_KIND[verb], row_id(arg) or 0)
    elif verb == "x" and theme and arg in _CODE_KIND:
        state = _state(ctx)
        if state.theme == theme:
            state.keyword = None
        show_page(ctx, theme, _CODE_KIND[arg], 0)
    elif verb == "q" and theme and arg in _CODE_KIND:
        if theme_name(theme, ctx.lang) is None:
            show_page(ctx, theme, _CODE_KIND[arg], 0)  # says it is not a theme
        else:
            _ask_keyword(ctx, theme, arg)
            return
    else:
        ctx.say("unexpected")
    _stay(ctx)


# --- the keyword ----------------------------------------------------------------------------
def _ask_keyword(ctx: Ctx, theme: str, code: str) -> None:
    state = _state(ctx)
    if ctx.step != KEYWORD_STEP:  # asked again from the keyword step: keep the way back
        here = ctx.step if ctx.engine.current(ctx) is not None else None
        state.back = [ctx.flow, here]
    state.ask = [theme, code]
    ctx.ask(KEYWORD_STEP)


def _p_keyword(ctx: Ctx) -> None:
    theme, _code = (_state(ctx).ask or [OTHER, "s"])[:2]
    ctx.send(
        ctx.t("dir_keyword_ask", theme=theme_name(theme, ctx.lang) or theme),
        [ctx.btn(KEYWORD_ACTION, "cancel", ctx.t("dir_btn_keyword_cancel"))],
    )


def _t_keyword(ctx: Ctx, text: str) -> None:
    if len(text) > MAX_KEYWORD_CHARS or not keyword_words(text):
        ctx.say("dir_keyword_invalid", max=MAX_KEYWORD_CHARS)
        ctx.reask()
        return
    state = _state(ctx)
    theme, code = (state.ask or [OTHER, "s"])[:2]
    state.theme, state.keyword = theme, " ".join(text.split())
    _go_back(ctx, theme, code)


def _c_keyword(ctx: Ctx, action: str, value: str) -> bool:
    if action != KEYWORD_ACTION or value != "cancel":
        return False
    theme, code = (_state(ctx).ask or [OTHER, "s"])[:2]
    _go_back(ctx, theme, code)
    return True


def _go_back(ctx: Ctx, theme: str, code: str) -> None:
    """The filtered page, then the question the person was at (idle: nothing more)."""
    state = _state(ctx)
    flow, step = (state.back or [None, None])[:2]
    state.ask = state.back = None
    show_page(ctx, theme, _CODE_KIND.get(code, "solutions"), 0)
    if step is not None:
        ctx.ask(step, flow=flow)
        asked = ctx.engine.current(ctx)
        if asked is not None and asked.prose and ctx.out:
            ctx.out.pop()  # a free-text question is not repeated under the page (_stay)
    else:  # idle again; the directory's state (the filter) stays
        ctx.state.flow = flow
        ctx.state.step = None
        ctx.data["n"] = int(ctx.data.get("n", 0)) + 1


def install(engine: Engine) -> None:
    engine.register_steps(
        {KEYWORD_STEP: Step(_p_keyword, on_text=_t_keyword, on_choice=_c_keyword)}
    )
    engine.register_choice(ACTION, on_choice)
    engine.register_command(("annuaire", "directory"), cmd_directory)
