"""The directory on the web: server-rendered, public pages (no login, no script) for an
elected official or a facilitator who browses rather than chats.

* ``GET /annuaire``: the themes, with their numbers of solutions and REX;
* ``GET /annuaire/{theme}?tab=solutions|rex&q=…&page=N``: one page of a theme, in the
  chat's order (:mod:`matcher.directory`: same entries, same order, same page size);
* ``GET /annuaire/fiche/{id}``: a solution's card (:func:`matcher.sheets.solution_sheet`,
  the card the chat shows); ``GET /annuaire/rex/{id}``: a REX
  (:func:`matcher.sheets.rex_sheet`).

French by default, English with ``?lang=en`` (every link keeps it). Public catalogue
facts only, every value escaped. An unknown theme or entry answers a 404 page; a page
number past the end shows the last page; a page number that is not one, an unknown tab
or a keyword over 100 characters answer a 400 page. The pages' own policy allows this
site's stylesheet and nothing else (no script, no inline style).
"""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse

from api.chat import STATIC_DIR
from api.deps import SessionDep
from bot.flows.directory import rex_who, solution_facts
from bot.render import _outcome_label, organisation_label, render_territory, stopped_why
from core.domain import size_band
from core.messages import label, t
from matcher.directory import (
    KINDS,
    MAX_KEYWORD_CHARS,
    DirectoryPage,
    Kind,
    RexItem,
    SolutionItem,
    browse,
    entry_themes,
    theme_counts,
    theme_name,
)
from matcher.sheets import RexSheet, SolutionSheet, rex_sheet, solution_sheet

__all__ = ["PAGE_POLICY", "router"]

router = APIRouter(tags=["directory"], include_in_schema=False)

#: The pages' own policy: this site's stylesheet and links, nothing else.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

LangQuery = Annotated[str | None, Query(max_length=5)]
RawQuery = Annotated[str | None, Query(max_length=1000)]


def _lang(value: str | None) -> str:
    return "en" if value == "en" else "fr"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _href(path: str, lang: str, **params: object) -> str:
    """A link on this site keeping the language (``fr`` is the default: not written)."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if lang == "en":
        query["lang"] = "en"
    return _e(f"{path}?{urlencode(query)}" if query else path)


def _fill(key: str, lang: str, markup: str, field: str = "value") -> str:
    """The catalogue message ``key`` escaped, with ``markup`` (already safe HTML) in
    place of its ``{field}``."""
    marker = "\x00"
    before, _, after = t(key, lang, **{field: marker}).partition(marker)
    return f"{_e(before)}{markup}{_e(after)}"


def _page(
    lang: str,
    title: str,
    body: str,
    *,
    crumbs: list[tuple[str, str | None]],
    other_lang_href: str,
    status: int = 200,
) -> HTMLResponse:
    """A whole page: skip link, site bar with the language switch, breadcrumb, ``body``
    (already safe HTML) as the main content, footer linking the web chat."""
    trail = "".join(
        f'<li><a href="{href}">{_e(text)}</a></li>'
        if href
        else f'<li aria-current="page">{_e(text)}</li>'
        for text, href in crumbs
    )
    other = "en" if lang == "fr" else "fr"
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} — {_e(t('dir_web_home', lang))} — PIU</title>"
        '<link rel="stylesheet" href="/static/directory.css"></head><body>'
        f'<a class="skip" href="#main">{_e(t("dir_web_skip", lang))}</a>'
        '<header class="site"><div class="bar">'
        f'<p class="brand"><a href="/">{_e(t("dir_web_site", lang))}</a></p>'
        f'<nav aria-label="{_e(t("dir_web_lang_nav", lang))}">'
        f'<a href="{other_lang_href}" hreflang="{other}" lang="{other}">'
        f"{_e(t('dir_web_other_lang', lang))}</a></nav></div></header>"
        f'<main id="main"><nav class="crumbs" aria-label="{_e(t("dir_web_breadcrumb", lang))}">'
        f"<ol>{trail}</ol></nav>{body}</main>"
        '<footer class="site"><div class="bar">'
        f'<a href="/">{_e(t("dir_web_chat_link", lang))}</a>'
        f'<a href="/confidentialite">{_e(t("privacy_page_title", lang))}</a>'
        "</div></footer></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers={"Content-Security-Policy": PAGE_POLICY})


def _home_crumb(lang: str) -> tuple[str, str | None]:
    return t("dir_web_home", lang), _href("/annuaire", lang)


def _theme_crumb(
    labels: list[str], text: str, lang: str, *, tab: str | None = None
) -> tuple[str, str | None]:
    """The first directory theme an entry is listed in, as a step of the breadcrumb."""
    theme_id = entry_themes(labels, text)[0]
    name = theme_name(theme_id, lang) or theme_id
    return name, _href(f"/annuaire/{theme_id}", lang, tab=tab)


def _notice(lang: str, key: str, status: int, other_href: str) -> HTMLResponse:
    """A polite error page (404 unknown, 400 invalid) with the way back to the themes."""
    title = t("dir_web_not_found_title", lang) if status == 404 else t("dir_web_home", lang)
    body = (
        f"<h1>{_e(title)}</h1>"
        f'<p class="notice">{_e(t(key, lang))} '
        f'<a href="{_href("/annuaire", lang)}">{_e(t("dir_btn_themes", lang))}</a></p>'
    )
    crumbs = [_home_crumb(lang), (title, None)]
    return _page(lang, title, body, crumbs=crumbs, other_lang_href=other_href, status=status)


# --- the stylesheet ---------------------------------------------------------------------------
@router.get("/static/directory.css")
async def directory_css() -> FileResponse:
    return FileResponse(STATIC_DIR / "directory.css", media_type="text/css")


# --- the themes -------------------------------------------------------------------------------
@router.get("/annuaire", response_class=HTMLResponse)
def directory_index(session: SessionDep, lang: LangQuery = None) -> HTMLResponse:
    """The themes with their counts; empty themes are listed, without a link."""
    lang = _lang(lang)
    items = []
    for c in theme_counts(session, lang):
        if c.empty:
            items.append(
                f'<li><span class="empty-theme">{_e(c.label)}</span>'
                f'<span class="none">{_e(t("dir_web_empty_theme", lang))}</span></li>'
            )
            continue
        counts = "".join(
            f'<span class="count">{_e(t(key, lang, n=n))}</span>'
            for key, n in (("dir_web_count_solutions", c.solutions), ("dir_web_count_rex", c.rex))
        )
        tab = None if c.solutions else "rex"
        items.append(
            f'<li><a href="{_href(f"/annuaire/{c.id}", lang, tab=tab)}">{_e(c.label)}</a>'
            f"{counts}</li>"
        )
    title = t("dir_web_title", lang)
    body = (
        f'<h1>{_e(title)}</h1><p class="lead">{_e(t("dir_web_intro", lang))}</p>'
        f"<h2>{_e(t('dir_web_themes_heading', lang))}</h2>"
        f'<ul class="themes">{"".join(items)}</ul>'
    )
    other = _href("/annuaire", "en" if lang == "fr" else "fr")
    return _page(lang, title, body, crumbs=[(t("dir_web_home", lang), None)], other_lang_href=other)


# --- a theme ----------------------------------------------------------------------------------
def _page_number(raw: str | None) -> int | None:
    """The 0-based page of a 1-based ``page`` parameter; ``None`` when it is not a number."""
    if raw is None or raw == "":
        return 0
    value = raw.strip()
    if not value.isdigit() or len(value) > 9:
        return None
    return max(int(value) - 1, 0)


def _solution_li(item: SolutionItem, lang: str) -> str:
    return (
        f'<li><a href="{_href(f"/annuaire/fiche/{item.id}", lang)}" lang="fr">'
        f"{_e(item.title)}</a>"
        f'<span class="facts">{_e(solution_facts(item, lang))}</span></li>'
    )


def _rex_li(item: RexItem, lang: str) -> str:
    who = rex_who(item, lang)
    outcome = _outcome_label(item.outcome, lang)
    return (
        f'<li><a href="{_href(f"/annuaire/rex/{item.id}", lang)}">{_e(who)}</a> — '
        f'{_e(outcome)}<span class="facts" lang="fr">{_e(item.title)}</span></li>'
    )


def _theme_body(found: DirectoryPage, name: str, lang: str, counts: dict[str, int]) -> str:
    path = f"/annuaire/{found.theme}"
    tabs = []
    for kind in KINDS:
        key = "dir_btn_show_solutions" if kind == "solutions" else "dir_btn_show_rex"
        current = ' aria-current="page"' if kind == found.kind else ""
        href = _href(path, lang, tab=kind, q=found.keyword)
        tabs.append(f'<li><a href="{href}"{current}>{_e(t(key, lang, n=counts[kind]))}</a></li>')
    hidden = f'<input type="hidden" name="tab" value="{_e(found.kind)}">'
    if lang == "en":
        hidden += '<input type="hidden" name="lang" value="en">'
    clear = (
        f'<a href="{_href(path, lang, tab=found.kind)}">{_e(t("dir_btn_clear", lang))}</a>'
        if found.keyword
        else ""
    )
    form = (
        f'<form class="search" role="search" method="get" action="{_e(path)}">{hidden}'
        f'<label for="q">{_e(t("dir_web_search_label", lang))}</label>'
        f'<input type="search" id="q" name="q" maxlength="{MAX_KEYWORD_CHARS}" '
        f'value="{_e(found.keyword or "")}">'
        f'<button type="submit">{_e(t("dir_web_search_button", lang))}</button>{clear}</form>'
    )
    header = t(
        f"dir_header_{found.kind}",
        lang,
        theme=name,
        total=found.total,
        page=found.page + 1,
        pages=found.pages,
    )
    parts = [
        f"<h1>{_e(name)}</h1>",
        f'<nav aria-label="{_e(t("dir_web_tabs", lang))}">'
        f'<ul class="tabs">{"".join(tabs)}</ul></nav>',
        form,
        f'<h2 id="list">{_e(header)}</h2>',
    ]
    if found.keyword:
        parts.append(f"<p>{_e(t('dir_filter_line', lang, keyword=found.keyword))}</p>")
    parts.append(f'<p class="order">{_e(t(f"dir_order_{found.kind}", lang))}</p>')
    if found.items:
        lis = [
            _solution_li(i, lang) if isinstance(i, SolutionItem) else _rex_li(i, lang)
            for i in found.items
        ]
        parts.append(
            f'<ol class="entries" start="{found.first_number}" aria-labelledby="list">'
            f"{''.join(lis)}</ol>"
        )
    elif found.keyword:
        parts.append(f"<p>{_e(t('dir_none_filtered', lang, keyword=found.keyword))}</p>")
    else:
        parts.append(f"<p>{_e(t(f'dir_none_{found.kind}', lang))}</p>")
    if found.pages > 1:
        links = []
        if found.has_previous:
            href = _href(path, lang, tab=found.kind, q=found.keyword, page=found.page)
            links.append(f'<a href="{href}" rel="prev">{_e(t("dir_btn_prev", lang))}</a>')
        of = t("dir_web_page_of", lang, page=found.page + 1, pages=found.pages)
        links.append(f'<span aria-current="page">{_e(of)}</span>')
        if found.has_next:
            href = _href(path, lang, tab=found.kind, q=found.keyword, page=found.page + 2)
            links.append(f'<a href="{href}" rel="next">{_e(t("dir_btn_next", lang))}</a>')
        label_pages = _e(t("dir_web_pages", lang))
        parts.append(f'<nav class="pager" aria-label="{label_pages}">{"".join(links)}</nav>')
    return "".join(parts)


@router.get("/annuaire/{theme}", response_class=HTMLResponse)
def directory_theme(
    theme: str,
    session: SessionDep,
    tab: RawQuery = None,
    q: RawQuery = None,
    page: RawQuery = None,
    lang: LangQuery = None,
) -> HTMLResponse:
    """One page of a theme's solutions (``tab=solutions``, the default) or REX."""
    lang = _lang(lang)
    other = "en" if lang == "fr" else "fr"
    name = theme_name(theme, lang)
    if name is None:
        return _notice(lang, "dir_web_not_found", 404, _href("/annuaire", other))
    number = _page_number(page)
    keyword = " ".join((q or "").split()) or None
    if number is None or tab not in (None, "", *KINDS) or len(keyword or "") > MAX_KEYWORD_CHARS:
        return _notice(lang, "dir_web_bad_request", 400, _href(f"/annuaire/{theme}", other))
    kind: Kind = "rex" if tab == "rex" else "solutions"
    found = browse(session, theme, kind=kind, keyword=keyword, page=number)
    if found is None:  # not reached: theme_name knows the same themes
        return _notice(lang, "dir_web_not_found", 404, _href("/annuaire", other))
    counts = {kind: found.total, ("rex" if kind == "solutions" else "solutions"): found.other_total}
    body = _theme_body(found, name, lang, counts)
    crumbs = [_home_crumb(lang), (name, None)]
    other_href = _href(f"/annuaire/{theme}", other, tab=kind, q=found.keyword, page=found.page + 1)
    return _page(lang, name, body, crumbs=crumbs, other_lang_href=other_href)


# --- the sheets -------------------------------------------------------------------------------
def _theme_links(labels: list[str], text: str, lang: str) -> str:
    """ "Dans l'annuaire : Mobilité, Données": the directory themes the entry is listed in."""
    links = [
        f'<a href="{_href(f"/annuaire/{theme_id}", lang)}">{_e(theme_name(theme_id, lang))}</a>'
        for theme_id in entry_themes(labels, text)
    ]
    return f"<p>{_fill('dir_web_in_theme', lang, ', '.join(links), 'themes')}</p>"


def _sheet_body(sheet: SolutionSheet, lang: str) -> str:
    unset = t("not_specified", lang)
    status = (
        t(
            "result_card_status",
            lang,
            maturity=label("maturity", sheet.maturity, lang),
            trust=label("trust", sheet.trust_level, lang),
        )
        if sheet.maturity
        else t("result_card_status_trust", lang, trust=label("trust", sheet.trust_level, lang))
    )
    parts = [f'<h1 lang="fr">{_e(sheet.title)}</h1>', '<div class="sheet">']
    who = organisation_label(sheet.organisation)
    if who:
        parts.append(f"<p>{_e(t('result_card_by', lang, who=who))}</p>")
    parts.append(f'<p class="status">{_e(status)}</p>')
    if sheet.maturity == "stopped":
        why = stopped_why(sheet.phase, lang)
        parts.append(f'<p class="warn">{_e(t("sheet_stopped", lang, why=why))}</p>')
    if sheet.mission:
        parts.append(f'<p lang="fr">{_e(t("sheet_mission", lang, text=sheet.mission))}</p>')
    if sheet.description:
        text = t("sheet_description", lang, text=sheet.description)
        parts.append(f'<p lang="fr">{_e(text)}</p>')
    parts.append(_theme_links(sheet.themes, f"{sheet.title}. {sheet.mission}", lang))
    kinds = [label("kind", k, lang) or k for k in sheet.target_kinds]
    bands = [label("size", b, lang) or b for b in sheet.target_bands]
    targets = ", ".join([*kinds, *bands]) or t("sheet_targets_all", lang)
    parts.append(f"<p>{_e(t('sheet_targets', lang, value=targets))}</p>")
    refs = ", ".join(sheet.references[:10]) or unset
    parts.append(f"<p>{_e(t('sheet_references', lang, value=refs))}</p>")
    pricing = (
        t("sheet_pricing", lang, value=sheet.pricing)
        if sheet.pricing
        else t("sheet_pricing_none", lang)
    )
    parts.append(f"<p>{_e(pricing)}</p>")
    site = (
        f'<a href="{_e(sheet.website)}" rel="noopener noreferrer nofollow">{_e(sheet.website)}</a>'
        if sheet.website
        else _e(unset)
    )
    parts.append(f"<p>{_fill('sheet_website', lang, site, 'url')}</p>")
    parts.append(f"<h2>{_e(t('sheet_rex_header', lang))}</h2>")
    if sheet.rex:
        lis = []
        for rex in sheet.rex:
            where = {
                "name": rex.territory_name,
                "kind": rex.territory_kind,
                "population": rex.population,
            }
            who_rex = render_territory(where, lang) or "?"
            text = f"{who_rex} — {_outcome_label(rex.outcome, lang)}"
            link = (
                f'<a href="{_href(f"/annuaire/rex/{rex.id}", lang)}">{_e(text)}</a>'
                if rex.id is not None
                else _e(text)
            )
            lis.append(f'<li>{link}<span class="facts" lang="fr"> : {_e(rex.title)}</span></li>')
        parts.append(f"<ul>{''.join(lis)}</ul>")
        if sheet.rex_total > len(sheet.rex):
            more = t("sheet_rex_more", lang, n=sheet.rex_total - len(sheet.rex))
            parts.append(f"<p>{_e(more)}</p>")
    else:
        parts.append(f"<p>{_e(t('sheet_rex_none', lang))}</p>")
    parts.append("</div>")
    return "".join(parts)


@router.get("/annuaire/fiche/{solution_id}", response_class=HTMLResponse)
def directory_sheet(solution_id: str, session: SessionDep, lang: LangQuery = None) -> HTMLResponse:
    """A published solution's card, as the chat shows it; 404 otherwise."""
    lang = _lang(lang)
    other = "en" if lang == "fr" else "fr"
    sheet = (
        solution_sheet(session, int(solution_id))
        if solution_id.isdigit() and len(solution_id) <= 9
        else None
    )
    if sheet is None:
        href = _href(f"/annuaire/fiche/{solution_id[:20]}", other)
        return _notice(lang, "dir_web_entry_not_found", 404, href)
    crumbs = [
        _home_crumb(lang),
        _theme_crumb(sheet.themes, f"{sheet.title}. {sheet.mission}", lang),
    ]
    crumbs.append((sheet.title, None))
    other_href = _href(f"/annuaire/fiche/{sheet.id}", other)
    return _page(
        lang, sheet.title, _sheet_body(sheet, lang), crumbs=crumbs, other_lang_href=other_href
    )


def _period(rex: RexSheet, lang: str) -> str | None:
    if rex.period_start and rex.period_end:
        return t("digest_period_range", lang, start=rex.period_start, end=rex.period_end)
    if rex.period_start:
        return t("digest_period_since", lang, start=rex.period_start)
    if rex.period_end:
        return t("digest_period_until", lang, end=rex.period_end)
    return None


def _rex_body(rex: RexSheet, lang: str) -> str:
    where = {"name": rex.territory_name, "kind": rex.territory_kind, "population": rex.population}
    who = render_territory(where, lang)
    if who is None and rex.population:
        who = label("size", str(size_band(rex.population)), lang)
    parts = [f'<h1 lang="fr">{_e(rex.title)}</h1>', '<div class="sheet">']
    if who:
        parts.append(f"<p>{_e(t('digest_card_who', lang, value=who))}</p>")
    outcome = _outcome_label(rex.outcome, lang)
    parts.append(f'<p class="status">{_e(t("digest_card_outcome", lang, value=outcome))}</p>')
    for key, value in (("digest_card_problem", rex.problem), ("digest_card_tried", rex.tried)):
        if value:
            parts.append(f'<p lang="fr">{_e(t(key, lang, value=value))}</p>')
    if rex.solution_id is not None and rex.solution_title:
        link = (
            f'<a href="{_href(f"/annuaire/fiche/{rex.solution_id}", lang)}" lang="fr">'
            f"{_e(rex.solution_title)}</a>"
        )
        parts.append(f"<p>{_fill('rex_card_solution', lang, link)}</p>")
    period = _period(rex, lang)
    if period:
        parts.append(f"<p>{_e(t('digest_card_period', lang, value=period))}</p>")
    if rex.lessons:
        parts.append(f'<p lang="fr">{_e(t("digest_card_lessons", lang, value=rex.lessons))}</p>')
    parts.append(_theme_links(rex.themes, f"{rex.title}. {rex.problem[:600]}", lang))
    if rex.links:
        links = ", ".join(
            f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(url)}</a>'
            for url in rex.links
        )
        parts.append(f"<p>{_fill('rex_card_links', lang, links)}</p>")
    parts.append("</div>")
    return "".join(parts)


@router.get("/annuaire/rex/{experience_id}", response_class=HTMLResponse)
def directory_rex(experience_id: str, session: SessionDep, lang: LangQuery = None) -> HTMLResponse:
    """A public REX (never its contact); 404 when unknown or not public."""
    lang = _lang(lang)
    other = "en" if lang == "fr" else "fr"
    rex = (
        rex_sheet(session, int(experience_id))
        if experience_id.isdigit() and len(experience_id) <= 9
        else None
    )
    if rex is None:
        href = _href(f"/annuaire/rex/{experience_id[:20]}", other)
        return _notice(lang, "dir_web_entry_not_found", 404, href)
    theme = _theme_crumb(rex.themes, f"{rex.title}. {rex.problem[:600]}", lang, tab="rex")
    crumbs = [_home_crumb(lang), theme, (rex.title, None)]
    other_href = _href(f"/annuaire/rex/{rex.id}", other)
    return _page(lang, rex.title, _rex_body(rex, lang), crumbs=crumbs, other_lang_href=other_href)
