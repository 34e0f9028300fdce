"""Pure renderers: value objects in, user-facing text out (no I/O, no state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.domain import shorten
from core.messages import MESSAGES, fmt_int, t
from core.messages import label as _label
from matcher.financing import FinancingHint, financing_why
from matcher.procurement import current_band, suggest_route
from matcher.sheets import SolutionSheet, safe_url
from matcher.themes import theme_label
from matcher.types import PeerMatch, Reason, Scope, SolutionMatch

__all__ = [
    "fmt_int",
    "render_card",
    "render_financing",
    "render_open_need",
    "render_peer",
    "render_peers",
    "render_reasons",
    "render_result_card",
    "render_sheet",
    "render_solutions",
    "render_territory",
    "render_tried_elsewhere",
    "result_card",
    "sheet_card",
    "shorten",
    "stopped_why",
]


def _join(items: Sequence[str], lang: str) -> str:
    return ", ".join(items)


#: Reasons shown elsewhere: the trust level in brackets, a peer's profile and tried
#: sheet in the first half of its line (see :func:`render_peer`).
_SHOWN_ELSEWHERE = frozenset({"trust", "maturity", "peer_profile", "tried"})


def render_reason(reason: Reason, lang: str) -> str | None:
    """One reason in words; ``None`` for reasons shown elsewhere (trust, peer profile)."""
    p: dict[str, Any] = reason.params or {}
    code = reason.code
    if code in _SHOWN_ELSEWHERE:
        return None
    if code == "answers" and p.get("text"):
        return t("reason_answers", lang, text=p["text"])
    if code == "fit":
        return _fit_text(p, lang)
    if code == "evidence" and isinstance(p.get("n"), int) and p["n"] > 0:
        n = p["n"]
        used = t("reason_evidence_one", lang) if n == 1 else t("reason_evidence_many", lang, n=n)
        same = p.get("same_size")
        return t("reason_evidence_same", lang, used=used, same=same) if same else used
    if code == "words" and p.get("terms"):
        terms = ", ".join(f"« {w} »" if lang == "fr" else f'"{w}"' for w in p["terms"][:4])
        return t("reason_words", lang, terms=terms)
    if code == "themes" and p.get("themes"):
        return t(
            "reason_themes", lang, themes=_join([theme_label(x, lang) for x in p["themes"]], lang)
        )
    if code == "size_fit":
        band = _label("size", p.get("band"), lang)
        return t("reason_size_fit_band", lang, band=band) if band else t("reason_size_fit", lang)
    if code == "rex_count" and isinstance(p.get("n"), int) and p["n"] > 0:
        n = p["n"]
        return t("reason_rex_count_one", lang) if n == 1 else t("reason_rex_count_many", lang, n=n)
    if code == "maturity" and p.get("maturity"):
        return t("reason_maturity", lang, maturity=_label("maturity", p["maturity"], lang))
    if code == "semantic":
        return t("reason_semantic", lang)
    if code == "size_band" and p.get("band"):
        band = _label("size", p["band"], lang)
        return t("reason_size_band" if p.get("same") else "reason_size_band_near", lang, band=band)
    if code == "same_kind":
        return t("reason_same_kind", lang)
    if code == "size_caveat" and p.get("population"):
        key = "reason_size_caveat_larger" if p.get("larger") else "reason_size_caveat_smaller"
        return t(key, lang, population=fmt_int(int(p["population"]), lang))
    if code in ("same_dep", "same_region"):
        name = p.get("dep_name" if code == "same_dep" else "region_name")
        return t(f"reason_{code}_named", lang, name=name) if name else t(f"reason_{code}", lang)
    if code == "same_need":
        return t("reason_same_need", lang)
    if code == "outcome" and p.get("outcome"):
        return t("reason_outcome", lang, outcome=_outcome_label(str(p["outcome"]), lang))
    if code == "lessons" and p.get("text"):
        return t("reason_lessons", lang, text=shorten(str(p["text"]), 140).rstrip(" ."))
    if code == "more_rex" and isinstance(p.get("n"), int) and p["n"] > 0:
        return t("reason_more_rex", lang, n=p["n"])
    if code == "size" and p.get("band"):
        return _label("size", p["band"], lang)
    if code == "kind_fit":
        return None  # implied by the size/territory signals; not worth a line of its own
    return t("reason_generic", lang)


def render_reasons(reasons: Sequence[Reason], lang: str, *, limit: int = 3) -> str:
    """The main reasons, deduplicated, joined with " ; " (French) or "; " (English)."""
    parts: list[str] = []
    for reason in reasons:
        text = render_reason(reason, lang)
        if text and text not in parts:
            parts.append(text)
        if len(parts) >= limit:
            break
    if not parts:
        parts.append(t("reason_semantic", lang))
    return ("\u00a0; " if lang == "fr" else "; ").join(parts)


def render_solutions(matches: Sequence[SolutionMatch], lang: str, *, start: int = 1) -> str:
    """ "1. Title — reason (trust level)" lines."""
    lines = []
    for rank, m in enumerate(matches, start=start):
        trust = _label("trust", m.trust_level, lang) or ""
        lines.append(
            t(
                "result_line",
                lang,
                rank=rank,
                title=shorten(m.title, 90),
                reasons=render_reasons(m.reasons, lang),
                trust=trust,
            )
        )
    return "\n".join(lines)


def _fit_text(p: dict[str, Any], lang: str) -> str | None:
    """ "conçue pour les communes de 2 000 à 10 000 habitants ; déjà déployée…"."""
    parts: list[str] = []
    kind = _label("kind", p.get("kind"), lang)
    band = _label("size", p.get("band"), lang)
    if kind:
        who = t("reason_fit_kind", lang, kind=kind.lower())
        parts.append(f"{who} {t('reason_fit_band', lang, band=band)}" if band else who)
    elif band:
        parts.append(t("reason_size_fit_band", lang, band=band))
    if p.get("stage") == "buy" and p.get("maturity") == "deployed":
        parts.append(t("reason_fit_stage_buy", lang))
    elif p.get("stage") == "experiment" and p.get("maturity") in ("pilot", "deployed"):
        parts.append(t(f"reason_fit_stage_experiment_{p['maturity']}", lang))
    return ", ".join(parts) or None


def organisation_label(name: str | None) -> str | None:
    """A catalogue organisation as a reader expects it: "dinum_produits" -> "DINUM produits"."""
    if not name or not name.strip():
        return None
    words = name.replace("_", " ").replace("-", " ").split()
    if name == name.lower():
        words = [w.upper() if len(w) <= 5 and i == 0 else w for i, w in enumerate(words)]
    return shorten(" ".join(words), 80)


def _status(maturity: str | None, trust: str, lang: str) -> str:
    trust_label = _label("trust", trust, lang) or trust
    if maturity:
        return t(
            "result_card_status",
            lang,
            maturity=_label("maturity", maturity, lang),
            trust=trust_label,
        )
    return t("result_card_status_trust", lang, trust=trust_label)


#: Characters of catalogue text on a result card (cut at a word).
PITCH_CHARS = 220


def result_card(m: SolutionMatch, rank: int, lang: str) -> dict[str, Any]:
    """A result as the web chat draws it: every field already in the user's words."""
    why = [x for x in (render_reason(r, lang) for r in m.reasons) if x]
    return _card(
        "solution",
        m.solution_id,
        m.title,
        m.pitch or m.mission,
        m.organisation,
        m.maturity,
        m.trust_level,
        lang,
        rank=rank,
        reasons=list(dict.fromkeys(why))[:3] or [t("reason_semantic", lang)],
        website=safe_url(m.website),
    )


def _card(
    kind: str,
    solution_id: int,
    title: str,
    pitch: str,
    organisation: str | None,
    maturity: str | None,
    trust: str,
    lang: str,
    *,
    rank: int | None = None,
    reasons: list[str] | None = None,
    website: str | None = None,
) -> dict[str, Any]:
    """The fields the web chat draws (see api.chat.CardOut), in the reader's words."""
    return {
        "kind": kind,
        "rank": rank,
        "id": solution_id,
        "title": title,
        "pitch": shorten(pitch, PITCH_CHARS),
        "pitch_lang": "fr",
        "organisation": organisation_label(organisation),
        "maturity": maturity,
        "maturity_label": _label("maturity", maturity, lang) if maturity else None,
        "trust": trust,
        "trust_label": _label("trust", trust, lang) or trust,
        "reasons": reasons or [],
        "website": website,
        **_card_labels(organisation, lang),
    }


def _card_labels(organisation: str | None, lang: str) -> dict[str, str | None]:
    who = organisation_label(organisation)
    return {
        "by": t("result_card_by", lang, who=who) if who else None,
        "why_label": t("result_card_why_label", lang),
        "pitch_note": t("result_card_pitch_note", lang),
    }


def render_result_card(m: SolutionMatch, rank: int, lang: str) -> str:
    """A numbered result: title, what it does, who carries it, maturity and trust, why."""
    card = result_card(m, rank, lang)
    lines = [t("result_card_title", lang, rank=rank, title=shorten(m.title, 90))]
    if card["pitch"]:
        lines.append(t("result_card_pitch", lang, pitch=card["pitch"]))
    if card["organisation"]:
        lines.append(t("result_card_by", lang, who=card["organisation"]))
    lines.append(_status(m.maturity, m.trust_level, lang))
    sep = "\u00a0; " if lang == "fr" else "; "
    lines.append(t("result_card_why", lang, reasons=sep.join(card["reasons"])))
    return "\n".join(lines)


def stopped_why(phase: str | None, lang: str) -> str:
    """Why a stopped service stopped, from its catalogue phase (when known)."""
    key = f"stopped_why_{(phase or '').strip().lower()}"
    return t(key, lang) if key in MESSAGES else t("stopped_why_unknown", lang)


def render_tried_elsewhere(matches: Sequence[SolutionMatch], lang: str) -> str:
    """ "Déjà tenté ailleurs : Part'âge (abandonné par son équipe) ; …"."""
    items = [
        t("tried_elsewhere_item", lang, title=shorten(m.title, 60), why=stopped_why(m.phase, lang))
        for m in matches
    ]
    sep = "\u00a0; " if lang == "fr" else "; "
    return t("tried_elsewhere", lang, items=sep.join(items))


#: Characters of the description on a full card (the card stays far below Telegram's 4,096).
SHEET_DESCRIPTION_CHARS = 900


def sheet_card(sheet: SolutionSheet, lang: str) -> dict[str, Any]:
    """The full card as the web chat draws it."""
    return _card(
        "sheet",
        sheet.id,
        sheet.title,
        sheet.mission,
        sheet.organisation,
        sheet.maturity,
        sheet.trust_level,
        lang,
        website=sheet.website,
    )


def render_sheet(sheet: SolutionSheet, lang: str, *, following: bool = False) -> str:
    """The full card: mission, description, for whom, references, pricing, website, REX."""
    unset = t("not_specified", lang)
    lines = [t("sheet_title", lang, title=shorten(sheet.title, 120))]
    if sheet.organisation:
        lines.append(t("result_card_by", lang, who=organisation_label(sheet.organisation)))
    lines.append(_status(sheet.maturity, sheet.trust_level, lang))
    if sheet.maturity == "stopped":
        lines.append(t("sheet_stopped", lang, why=stopped_why(sheet.phase, lang)))
    lines.append("")
    if sheet.mission:
        lines.append(t("sheet_mission", lang, text=shorten(sheet.mission, 400)))
    if sheet.description:
        text = shorten(sheet.description, SHEET_DESCRIPTION_CHARS)
        lines.append(t("sheet_description", lang, text=text))
    if sheet.themes:
        themes = _join([theme_label(x, lang) for x in sheet.themes[:6]], lang)
        lines.append(t("sheet_themes", lang, value=themes))
    kinds = [_label("kind", k, lang) or k for k in sheet.target_kinds]
    bands = [_label("size", b, lang) or b for b in sheet.target_bands]
    targets = ", ".join([*kinds, *bands]) or t("sheet_targets_all", lang)
    lines.append(t("sheet_targets", lang, value=targets))
    refs = ", ".join(shorten(r, 100) for r in sheet.references[:5]) or unset
    lines.append(t("sheet_references", lang, value=refs))
    if sheet.pricing:
        lines.append(t("sheet_pricing", lang, value=shorten(sheet.pricing, 200)))
    else:
        lines.append(t("sheet_pricing_none", lang))
    lines.append(t("sheet_website", lang, url=sheet.website or unset))
    lines.append("")
    if sheet.rex:
        lines.append(t("sheet_rex_header", lang))
        for rex in sheet.rex:
            who = render_territory(
                {
                    "name": rex.territory_name,
                    "kind": rex.territory_kind,
                    "population": rex.population,
                },
                lang,
            )
            lines.append(
                t(
                    "sheet_rex_line",
                    lang,
                    who=who or "?",
                    title=shorten(rex.title, 100),
                    outcome=_outcome_label(rex.outcome, lang),
                )
            )
        if sheet.rex_total > len(sheet.rex):
            lines.append(t("sheet_rex_more", lang, n=sheet.rex_total - len(sheet.rex)))
    else:
        lines.append(t("sheet_rex_none", lang))
    if following:
        lines.append(t("sheet_following", lang))
    return "\n".join(lines)


def render_territory(territory: dict[str, Any] | None, lang: str) -> str | None:
    """ "Lons-le-Saunier (commune, 16 618 habitants, Jura)" from a stored territory dict."""
    if not territory or not territory.get("name"):
        return None
    desc = territory.get("desc") or {}
    if desc.get(lang):
        return f"{territory['name']}, {desc[lang]}"
    kind = _label("territory_kind", territory.get("kind"), lang) or ""
    name = territory["name"]
    if territory.get("dep_name") and territory.get("kind") in ("commune", "epci"):
        name = f"{name}, {territory['dep_name']}"
    pop = territory.get("population")
    if isinstance(pop, int) and kind:
        return t("territory_desc", lang, name=name, kind=kind, population=fmt_int(pop, lang))
    if kind:
        return t("territory_desc_nopop", lang, name=name, kind=kind)
    return name


#: Outcomes a buyer must not mistake for a success: labelled with a warning sign.
_WARN_OUTCOMES = frozenset({"failed", "stopped"})


def _outcome_label(outcome: str, lang: str) -> str:
    label = _label("outcome", outcome, lang) or outcome
    return t("peer_failed_mark", lang, outcome=label) if outcome in _WARN_OUTCOMES else label


def _peer_who(peer: PeerMatch, lang: str) -> str:
    """ "Pontarlier, Doubs (commune, 17 000 habitants)": public facts only, never a contact."""
    profile = next((r.params for r in peer.reasons if r.code == "peer_profile"), {})
    territory: dict[str, Any] = {
        "name": profile.get("name") or peer.territory_name or "?",
        "kind": profile.get("kind") or peer.territory_kind,
        "population": profile.get("population") or peer.population,
        "dep_name": profile.get("dep_name"),
    }
    return render_territory(territory, lang) or territory["name"]


#: Which reasons come first after "who, what, outcome" (the line keeps ``limit`` of them).
_PEER_REASON_ORDER = {
    "size_caveat": -1,
    "lessons": 0,
    "size_band": 1,
    "same_dep": 2,
    "same_region": 2,
    "same_kind": 3,
    "more_rex": 4,
    "words": 5,
}


def render_peer(peer: PeerMatch, lang: str, *, limit: int = 4) -> str:
    """Who the peer is, what they tried (outcome always shown), then why they are relevant.

    Every reason code of :mod:`matcher.peers` is rendered from the catalogue; a failure or
    an abandoned project is labelled as such. No contact detail is ever part of the line.
    """
    by_code: dict[str, Reason] = {}
    for reason in peer.reasons:
        by_code.setdefault(reason.code, reason)
    if peer.need_id is not None and "same_need" in by_code:
        text = by_code["same_need"].params.get("text") or peer.title
        what = [t("peer_same_need", lang, text=shorten(str(text), 120))]
        shown = {"same_need", "outcome"}
    else:
        tried = by_code.get("tried") or Reason("tried")
        title = shorten(str(tried.params.get("title") or peer.title), 90)
        what = [
            t("peer_tried_period", lang, title=title, period=peer.period)
            if peer.period
            else t("reason_tried", lang, title=title),
            t("reason_outcome", lang, outcome=_outcome_label(peer.outcome or "unknown", lang)),
        ]
        shown = {"outcome"}
    extra: list[str] = []
    for reason in sorted(peer.reasons, key=lambda r: _PEER_REASON_ORDER.get(r.code, 99)):
        if reason.code in shown:
            continue
        text = render_reason(reason, lang)
        if text and text not in extra and len(extra) < limit:
            extra.append(text)
    sep = "\u00a0; " if lang == "fr" else "; "
    return f"{_peer_who(peer, lang)} — " + sep.join([*what, *extra])


def render_peers(peers: Sequence[PeerMatch], lang: str) -> str:
    """Numbered peer lines (see :func:`render_peer`)."""
    return "\n".join(f"{rank}. {render_peer(p, lang)}" for rank, p in enumerate(peers, start=1))


def _open_need_facts(need: dict[str, Any], lang: str) -> str:
    """Theme · size · département · stage · budget · timing, the unknown ones left out."""
    parts = [
        ", ".join(theme_label(x, lang) for x in need.get("themes") or []) or None,
        _label("size", need.get("size_band"), lang),
        need.get("dep_name") or t("prop_need_anywhere", lang),
        _label("stage", need.get("stage"), lang),
        _label("budget", need.get("budget_band"), lang),
        _label("timing", need.get("timing"), lang),
    ]
    return " · ".join(p for p in parts if p)


def render_open_need(need: dict[str, Any], n: int, lang: str) -> str:
    """One open need as a start-up sees it (``matcher.proposals.OpenNeed`` as a dict):
    its statement with names masked, its facts, why it fits — never who asked, unless
    the buyer agreed (``who``)."""
    reasons = [Reason(r["code"], r.get("params") or {}) for r in need.get("reasons") or []]
    return t(
        "prop_need_line",
        lang,
        n=n,
        problem=shorten(need["problem"], 200),
        facts=_open_need_facts(need, lang),
        why=render_reasons(reasons, lang),
        solution=shorten(need["solution_title"], 60),
        who=t("prop_need_who", lang, who=need["who"]) if need.get("who") else "",
        done=t("prop_need_done", lang) if need.get("proposed") else "",
    )


def _scheme_name(hint: FinancingHint, lang: str) -> str:
    return (hint.scheme.name_en if lang == "en" else None) or hint.scheme.name


def _financing_lines(hints: Sequence[FinancingHint], lang: str) -> list[str]:
    """The card's financing section: a header and one line per hint (or "none")."""
    if not hints:
        return [t("card_financing_none", lang)]
    lines = [t("card_financing", lang)]
    for hint in hints:
        name, funder = _scheme_name(hint, lang), hint.scheme.funder
        why = financing_why(hint, lang)
        lines.append("• " + t("fin_line", lang, name=name, funder=funder, why=why))
    return lines


def render_financing(hints: Sequence[FinancingHint], lang: str) -> str:
    """The "Financements" answer: each hint with why, rate, cap, link and check date."""
    if not hints:
        return t("fin_list_none", lang)
    blocks = [t("fin_list_header", lang)]
    for rank, hint in enumerate(hints, start=1):
        scheme = hint.scheme
        lines = [
            t(
                "fin_list_item",
                lang,
                rank=rank,
                name=_scheme_name(hint, lang),
                funder=scheme.funder,
                why=financing_why(hint, lang),
            )
        ]
        if scheme.rate:
            lines.append(t("fin_rate", lang, value=scheme.rate))
        if scheme.cap:
            lines.append(t("fin_cap", lang, value=scheme.cap))
        lines.append(t("fin_link", lang, url=scheme.url) if scheme.url else t("fin_no_link", lang))
        if scheme.checked:
            y, m, d = scheme.checked.split("-")
            date = f"{d}/{m}/{y}" if lang == "fr" else scheme.checked
            lines.append(t("fin_checked", lang, date=date))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _budget_value(scope: Scope, lang: str) -> str:
    stored = current_band(scope.budget_band, scope.budget_eur)
    if scope.budget_eur:
        amount = t("budget_amount", lang, amount=fmt_int(scope.budget_eur, lang))
        band = _label("budget", stored, lang)
        return (
            f"{amount} ({band.lower()})"
            if band and lang == "fr"
            else (f"{amount} ({band})" if band else amount)
        )
    if stored == "unknown":
        return t("to_define", lang)
    if stored:
        return _label("budget", stored, lang) or stored
    return t("not_specified", lang)


def _size_only(scope: Scope, lang: str) -> str:
    """No territory named: "not specified", with the size the need gave, if any."""
    band = _label("size", scope.size_band, lang)
    unset = t("not_specified", lang)
    return f"{unset} ({band})" if band else unset


def render_card(
    scope: Scope,
    lang: str,
    *,
    territory: dict[str, Any] | None,
    timing_text: str | None,
    financing: Sequence[FinancingHint] | None = None,
) -> str:
    """The scope card ("fiche besoin") with the suggested procurement route and, when
    ``financing`` is given, the financing hints (at most three; "none" when empty)."""
    unset = t("not_specified", lang)
    themes = _join([theme_label(x, lang) for x in scope.themes], lang) or unset
    timing = _label("timing", scope.timing, lang) or unset
    if timing_text and scope.timing:
        timing = f"{timing} (« {timing_text} »)" if lang == "fr" else f'{timing} ("{timing_text}")'
    constraints = _join([_label("constraint", c, lang) or c for c in scope.constraints], lang) or t(
        "none", lang
    )
    lines = [
        t("card_title", lang),
        "",
        t("card_need", lang, value=shorten(scope.text, 300)),
        t("card_themes", lang, value=themes),
        t(
            "card_territory",
            lang,
            value=render_territory(territory, lang) or _size_only(scope, lang),
        ),
        t("card_stage", lang, value=_label("stage", scope.stage, lang) or unset),
        t("card_budget", lang, value=_budget_value(scope, lang)),
        t("card_timing", lang, value=timing),
        t("card_constraints", lang, value=constraints),
        "",
        t("card_route", lang),
    ]
    budget = _budget_value(scope, lang)
    budget = budget[:1].lower() + budget[1:]
    for code in suggest_route(scope.budget_eur, scope.budget_band, scope.stage):
        lines.append("• " + t(f"route_{code}", lang, budget=budget))
    lines.append(t("route_check", lang))
    if financing is not None:
        lines += ["", *_financing_lines(financing, lang)]
    lines += ["", t("card_question", lang)]
    return "\n".join(lines)
