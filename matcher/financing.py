"""Financing hints for a need: which schemes of the financing table fit the buyer's kind,
size, theme and stage, and why (pure: schemes and a buyer in, ranked hints out).

Rules, in the order they exclude a scheme:

- a closed call (status ``closed``) is never suggested;
- the buyer's kind (commune, EPCI, département, région), when known, must be eligible;
- the population, when known, must be within the scheme's limits (a limit the buyer's
  size cannot be checked against is kept, with the limit as a caveat);
- a scheme for given themes needs one of the need's themes (a need without a theme
  only gets schemes open to every theme);
- the stage, when known, must be one the scheme funds.

Hints are ranked by how specific the fit is (a theme named by the scheme, a size limit
the buyer meets, the stage, the kind); a closed-list programme (towns selected once)
comes after the others and always carries that caveat. Ties keep the table's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.domain import FinancingStatus
from core.messages import fmt_int, label, t
from matcher.themes import find_theme, theme_label
from matcher.types import Reason

__all__ = ["MAX_HINTS", "Buyer", "FinancingHint", "Scheme", "financing_why", "suggest_financing"]

#: At most this many hints on a fiche besoin.
MAX_HINTS = 3

_WEIGHTS = {"theme": 3.0, "size": 2.0, "stage": 2.0, "kind": 1.0, "closed_list": -4.0}


@dataclass(frozen=True)
class Scheme:
    """A row of the financing table, as the matcher sees it."""

    id: str
    name: str
    funder: str
    kinds: tuple[str, ...]
    themes: tuple[str, ...]  # theme ids; () = every theme
    funds: tuple[str, ...]
    stages: tuple[str, ...]
    status: str = FinancingStatus.OPEN.value
    min_population: int | None = None
    max_population: int | None = None
    name_en: str | None = None
    rate: str | None = None
    cap: str | None = None
    url: str | None = None
    checked: str | None = None  # ISO date the facts were checked

    @classmethod
    def of(cls, row: Any) -> Scheme:
        """From a ``core.models.FinancingScheme`` (or anything with the same attributes)."""
        checked = getattr(row, "checked", None)
        return cls(
            id=row.external_id,
            name=row.name,
            funder=row.funder,
            kinds=tuple(row.kinds or ()),
            themes=tuple(row.themes or ()),
            funds=tuple(row.funds or ()),
            stages=tuple(row.stages or ()),
            status=str(row.status),
            min_population=row.min_population,
            max_population=row.max_population,
            name_en=row.name_en,
            rate=row.rate,
            cap=row.cap,
            url=row.url,
            checked=checked.isoformat() if checked is not None else None,
        )


@dataclass(frozen=True)
class Buyer:
    """What the financing rules read of a need."""

    kind: str | None = None  # core.domain.TerritoryKind value
    population: int | None = None
    themes: tuple[str, ...] = ()  # theme ids
    stage: str | None = None  # core.domain.Stage value

    @classmethod
    def of(cls, need: Any) -> Buyer:
        """From a ``matcher.types.Scope`` or a ``core.models.Need`` (themes as ids or labels)."""
        themes: list[str] = []
        for value in getattr(need, "themes", None) or ():
            theme = find_theme(str(value))
            if theme is not None and theme.id not in themes:
                themes.append(theme.id)
        return cls(
            kind=getattr(need, "territory_kind", None),
            population=getattr(need, "population", None),
            themes=tuple(themes),
            stage=getattr(need, "stage", None),
        )


@dataclass
class FinancingHint:
    scheme: Scheme
    score: float
    reasons: list[Reason] = field(default_factory=list)


def _fit(scheme: Scheme, buyer: Buyer) -> list[Reason] | None:
    """Why ``scheme`` fits ``buyer`` (reason codes), or ``None`` when it does not."""
    if scheme.status == FinancingStatus.CLOSED.value:
        return None
    reasons: list[Reason] = []
    if buyer.kind is not None:
        if buyer.kind not in scheme.kinds:
            return None
        reasons.append(Reason("kind", {"kind": buyer.kind}))
    low, high = scheme.min_population, scheme.max_population
    if low is not None or high is not None:
        pop = buyer.population
        if pop is None:
            reasons.append(Reason("size_unchecked", {"min": low, "max": high}))
        elif (low is not None and pop < low) or (high is not None and pop > high):
            return None
        else:
            reasons.append(Reason("size", {"min": low, "max": high, "population": pop}))
    if scheme.themes:
        shared = [t for t in buyer.themes if t in scheme.themes]
        if not shared:
            return None
        reasons.append(Reason("theme", {"themes": shared}))
    else:
        reasons.append(Reason("all_themes"))
    if buyer.stage is not None:
        if buyer.stage not in scheme.stages:
            return None
        reasons.append(Reason("stage", {"stage": buyer.stage, "funds": list(scheme.funds)}))
    if scheme.status == FinancingStatus.CLOSED_LIST.value:
        reasons.append(Reason("closed_list"))
    return reasons


def suggest_financing(
    buyer: Buyer, schemes: Iterable[Scheme], *, limit: int = MAX_HINTS
) -> list[FinancingHint]:
    """The schemes that fit ``buyer``, most specific first, at most ``limit``."""
    hints: list[FinancingHint] = []
    for scheme in schemes:
        reasons = _fit(scheme, buyer)
        if reasons is None:
            continue
        score = sum(_WEIGHTS.get(r.code, 0.0) for r in reasons)
        hints.append(FinancingHint(scheme, score, reasons))
    hints.sort(key=lambda h: -h.score)  # stable: ties keep the table's order
    return hints[:limit]


# --- wording (the one line on why a scheme fits; the chat and the digest share it) ---------
def _reason_text(reason: Reason, lang: str) -> str | None:
    p: dict[str, Any] = reason.params or {}
    code = reason.code
    if code == "kind" and p.get("kind"):
        return t("fin_kind", lang, kind=label("fin_kind", p["kind"], lang))
    if code in ("size", "size_unchecked"):
        which = "max" if p.get("max") is not None else "min"
        key = f"fin_size_{which}" if code == "size" else f"fin_size_unchecked_{which}"
        pop = p.get("population")
        return t(
            key,
            lang,
            **{which: fmt_int(int(p[which]), lang)},
            population=fmt_int(int(pop), lang) if pop is not None else "",
        )
    if code == "theme":
        return t("fin_theme", lang, themes=", ".join(theme_label(x, lang) for x in p["themes"]))
    if code == "all_themes":
        return t("fin_all_themes", lang)
    if code == "stage":
        funds = [label("fin_funds", f, lang) or f for f in p.get("funds") or []]
        and_ = " et " if lang == "fr" else " and "
        text = and_.join([", ".join(funds[:-1]), funds[-1]]) if len(funds) > 1 else "".join(funds)
        return t("fin_stage", lang, funds=text, stage=label("stage", p["stage"], lang) or "")
    if code == "closed_list":
        return t("fin_closed_list", lang)
    return None


def financing_why(hint: FinancingHint, lang: str) -> str:
    """One line on why a scheme fits: kind, size, theme, stage (and a closed list)."""
    parts = [text for r in hint.reasons if (text := _reason_text(r, lang))]
    return ("\u00a0; " if lang == "fr" else "; ").join(parts)
