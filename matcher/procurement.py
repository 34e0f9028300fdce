"""Suggested procurement route from a need's budget and stage (guidance, not legal advice).

French public procurement code (CCP) thresholds, in euros HT:
- under 40,000 €: no publicity or competition required (three quotes are good practice);
- innovative works, supplies or services under 100,000 €: may be bought without
  publicity or competition (art. R2122-9-1 CCP);
- above: an adapted procedure (MAPA) under the European thresholds, a formal
  procedure above them, or an innovation partnership (art. L2172-3 CCP) when
  the solution must be developed or tested first;
- at any amount: a central purchasing body (e.g. UGAP) that already holds a
  contract, and sourcing (market consultation, art. R2111-1 CCP) before any contract.

The function returns route codes only; ``core.messages`` words them in FR/EN.
"""

from __future__ import annotations

from core.domain import Stage

__all__ = ["ROUTES", "suggest_route"]

#: Route codes, each with a message key ``route_<code>`` in the bot's catalogue.
ROUTES = ("sourcing", "direct", "innovative", "mapa", "partnership", "formal", "central", "unknown")

_BAND_OF_AMOUNT = ((40_000, "lt40k"), (100_000, "40-100k"), (215_000, "100-215k"))


def _band(budget_eur: int | None, budget_band: str | None) -> str | None:
    if budget_eur is not None:
        for limit, band in _BAND_OF_AMOUNT:
            if budget_eur < limit:
                return band
        return "gt215k"
    if budget_band in ("lt40k", "40-100k", "100-215k", "gt215k"):
        return budget_band
    return None


def suggest_route(budget_eur: int | None, budget_band: str | None, stage: str | None) -> list[str]:
    """Route codes, most relevant first (always ends with the central-purchasing option)."""
    band = _band(budget_eur, budget_band)
    routes: list[str] = []
    if stage == Stage.EXPLORE.value:
        routes.append("sourcing")
    if band is None:
        routes.append("unknown")
    elif band == "lt40k":
        routes.append("direct")
    elif band == "40-100k":
        routes.append("innovative")
    elif band == "100-215k":
        if stage == Stage.EXPERIMENT.value:
            routes.append("partnership")
        routes.append("mapa")
    else:
        if stage == Stage.EXPERIMENT.value:
            routes.append("partnership")
        routes.append("formal")
    if stage != Stage.EXPLORE.value and "sourcing" not in routes and band not in (None, "lt40k"):
        routes.append("sourcing")
    routes.append("central")
    return routes
