"""Pure renderers: value objects in, user-facing text out (no I/O, no state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.messages import MESSAGES, t
from matcher.procurement import suggest_route
from matcher.scope import theme_label
from matcher.types import NeedMatch, PeerMatch, Reason, Scope, SolutionMatch

__all__ = [
    "fmt_int",
    "render_card",
    "render_need_matches",
    "render_peers",
    "render_reasons",
    "render_solutions",
    "render_territory",
    "shorten",
]


def fmt_int(value: int, lang: str) -> str:
    """16618 -> "16 618" (French, narrow no-break space) or "16,618" (English)."""
    text = f"{value:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis past ``limit``."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def _label(prefix: str, value: str | None, lang: str) -> str | None:
    if value is None:
        return None
    key = f"{prefix}_{value}"
    return t(key, lang) if key in MESSAGES else value


def _join(items: Sequence[str], lang: str) -> str:
    return ", ".join(items)


def render_reason(reason: Reason, lang: str) -> str | None:
    """One reason in words; ``None`` for reasons shown elsewhere (trust)."""
    p: dict[str, Any] = reason.params or {}
    code = reason.code
    if code == "trust":
        return None
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
    if code in ("same_dep", "same_region", "same_need"):
        return t(f"reason_{code}", lang)
    if code == "outcome" and p.get("outcome"):
        return t("reason_outcome", lang, outcome=_label("outcome", p["outcome"], lang))
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


def _peer_who(peer: PeerMatch, lang: str) -> str:
    territory = {
        "name": peer.territory_name or "?",
        "kind": peer.territory_kind,
        "population": peer.population,
    }
    return render_territory(territory, lang) or (peer.territory_name or "?")


def render_peers(peers: Sequence[PeerMatch], lang: str) -> str:
    lines = []
    for rank, peer in enumerate(peers, start=1):
        extra: list[str] = []
        if peer.experience_id is not None and peer.outcome:
            extra.append(t("reason_outcome", lang, outcome=_label("outcome", peer.outcome, lang)))
        if peer.period:
            extra.append(t("reason_period", lang, period=peer.period))
        reasons = render_reasons(peer.reasons, lang) if peer.reasons else ""
        tail_parts = [p for p in [*extra, reasons] if p]
        sep = "\u00a0; " if lang == "fr" else "; "
        tail = (" — " + sep.join(tail_parts)) if tail_parts else ""
        lines.append(
            t(
                "peer_line",
                lang,
                rank=rank,
                who=_peer_who(peer, lang),
                title=shorten(peer.title, 90),
                reasons=tail,
            )
        )
    return "\n".join(lines)


def render_need_matches(needs: Sequence[NeedMatch], lang: str) -> str:
    lines = []
    for rank, need in enumerate(needs, start=1):
        where_bits = [b for b in (need.territory_name, _label("size", need.size_band, lang)) if b]
        where = f" ({', '.join(where_bits)})" if where_bits else ""
        lines.append(t("reg_need_line", lang, rank=rank, text=shorten(need.text, 140), where=where))
    return "\n".join(lines)


def _budget_value(scope: Scope, lang: str) -> str:
    if scope.budget_eur:
        amount = t("budget_amount", lang, amount=fmt_int(scope.budget_eur, lang))
        band = _label("budget", scope.budget_band, lang)
        return (
            f"{amount} ({band.lower()})"
            if band and lang == "fr"
            else (f"{amount} ({band})" if band else amount)
        )
    if scope.budget_band == "unknown":
        return t("to_define", lang)
    if scope.budget_band:
        return _label("budget", scope.budget_band, lang) or scope.budget_band
    return t("not_specified", lang)


def render_card(
    scope: Scope, lang: str, *, territory: dict[str, Any] | None, timing_text: str | None
) -> str:
    """The scope card ("fiche besoin") with the suggested procurement route."""
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
        t("card_territory", lang, value=render_territory(territory, lang) or unset),
        t("card_stage", lang, value=_label("stage", scope.stage, lang) or unset),
        t("card_budget", lang, value=_budget_value(scope, lang)),
        t("card_timing", lang, value=timing),
        t("card_constraints", lang, value=constraints),
        "",
        t("card_route", lang),
    ]
    for code in suggest_route(scope.budget_eur, scope.budget_band, scope.stage):
        lines.append("• " + t(f"route_{code}", lang))
    lines.append(t("route_check", lang))
    lines += ["", t("card_question", lang)]
    return "\n".join(lines)
