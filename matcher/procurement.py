"""Suggested procurement route from a need's budget and stage (guidance, not legal advice).

Every threshold below cites the article of the French public procurement code (CCP) and
the text that set it; the research behind them, with its sources and reservations, is in
``docs/PROCUREMENT_THRESHOLDS.md`` (checked 2026-12-02). Amounts are in euros HT, for a
collectivité (a "pouvoir adjudicateur" other than the State).

The route depends on the budget band *and* the stage:

- exploring: sourcing first (market consultation before any tender, art. R2111-1);
- under the no-publicity threshold: a contract without publicity or competition (R2122-8);
- an innovative purchase under 100 000 € HT: the same exemption (R2122-9-1);
- above: an adapted procedure (MAPA) under the European thresholds, a formalised
  procedure above them; testing a solution that must first be developed: the
  innovation partnership (L2172-3, R2172-20 and following);
- at any amount: a central purchasing body (UGAP or another, L2113-2 and L2113-4).

The functions return codes only; ``core.messages`` words them in FR/EN (``route_<code>``).
"""

from __future__ import annotations

from core.domain import Stage

__all__ = [
    "BUDGET_BANDS",
    "FORMAL_SUPPLIES_EUR",
    "FORMAL_WORKS_EUR",
    "INNOVATIVE_EUR",
    "LEGACY_BANDS",
    "NO_PUBLICITY_SUPPLIES_EUR",
    "NO_PUBLICITY_WORKS_EUR",
    "ROUTES",
    "budget_band",
    "current_band",
    "suggest_route",
]

# --- thresholds (euros HT), each with its article and the text in force on 2026-12-02 ---

#: Supplies and services without publicity or competition: under 60 000 € HT.
#: Art. R2122-8 CCP as amended by décret n° 2025-1386 du 29 décembre 2025, art. 1er b
#: (40 000 € until 31 March 2026; 60 000 € for consultations from 1 April 2026, art. 3).
NO_PUBLICITY_SUPPLIES_EUR = 60_000

#: Works without publicity or competition: under 100 000 € HT.
#: Art. R2122-8 CCP as amended by décret n° 2025-1386 du 29 décembre 2025, art. 1er a
#: (in force 1 January 2026; permanent since then, formerly a temporary derogation).
NO_PUBLICITY_WORKS_EUR = 100_000

#: Innovative works, supplies or services without publicity or competition: under 100 000 € HT.
#: Art. R2122-9-1 CCP, created by décret n° 2021-1634 du 13 décembre 2021 (in force
#: 16 December 2021); unchanged by décrets n° 2025-1383 and 2025-1386 (the 140 000 €
#: draft of November 2025 was not adopted). "Innovative" as defined by art. L2172-3.
INNOVATIVE_EUR = 100_000

#: Formalised procedure, collectivités, supplies and services: from 216 000 € HT.
#: European thresholds for 1 January 2026 - 31 December 2027 (Commission delegated
#: regulations (EU) 2025/2150 to 2025/2152; avis JORF 26 décembre 2025; annexe 2 CCP).
FORMAL_SUPPLIES_EUR = 216_000

#: Formalised procedure, works (and concessions): from 5 404 000 € HT.
#: Same European thresholds, 1 January 2026 - 31 December 2027 (annexe 2 CCP).
FORMAL_WORKS_EUR = 5_404_000

# The tools without a threshold of their own, with their articles:
#: Sourcing before a tender, at any amount: art. R2111-1 CCP (décret n° 2018-1075,
#: applicable since 1 April 2019).
SOURCING_ARTICLE = "R2111-1"
#: Innovation partnership (research and development, then purchase without a new
#: competition): art. L2172-3 CCP (ordonnance n° 2018-1074, completed by loi n° 2023-1322
#: du 29 décembre 2023) and art. R2172-20 and following (R2172-23 phases, R2172-31 stops).
PARTNERSHIP_ARTICLES = "L2172-3, R2172-20"
#: Central purchasing bodies (UGAP: décret n° 85-801 du 30 juillet 1985, art. 1er): a buyer
#: using one has met its publicity and competition duties for what it entrusts to it:
#: art. L2113-2 and L2113-4 CCP.
CENTRAL_ARTICLES = "L2113-2, L2113-4"

# --- budget bands ---------------------------------------------------------------------------

#: Budget bands (ids stored in Need.budget_band and offered as buttons), cut at the
#: 2026 thresholds above; "unknown": the buyer does not know yet.
BUDGET_BANDS = ("lt60k", "60-100k", "100-216k", "gt216k", "unknown")

#: Bands stored before the 2026 thresholds -> today's band. "40-100k" has no equivalent
#: (40-60k is now under the no-publicity threshold): it is kept as stored, and its route
#: says which amount decides.
LEGACY_BANDS = {"lt40k": "lt60k", "100-215k": "100-216k", "gt215k": "gt216k"}

_BAND_OF_AMOUNT = (
    (NO_PUBLICITY_SUPPLIES_EUR, "lt60k"),
    (INNOVATIVE_EUR, "60-100k"),
    (FORMAL_SUPPLIES_EUR, "100-216k"),
)


def budget_band(amount: int | None) -> str | None:
    """The budget band of an amount in euros HT (``None`` when unknown)."""
    if amount is None:
        return None
    for limit, band in _BAND_OF_AMOUNT:
        if amount < limit:
            return band
    return "gt216k"


def current_band(band: str | None, amount: int | None = None) -> str | None:
    """Today's band of a stored need: from the amount when there is one, else the stored
    band with the pre-2026 ids mapped (``"40-100k"`` and ``"unknown"`` kept as they are)."""
    if amount is not None:
        return budget_band(amount)
    if band is None:
        return None
    return LEGACY_BANDS.get(band, band)


# --- routes ---------------------------------------------------------------------------------

#: Route codes, each with a message key ``route_<code>`` in the catalogue.
ROUTES = (
    "sourcing",  # exploring: talk to the market first
    "direct",  # under the no-publicity threshold
    "split",  # an old 40-100k band: the exact amount decides between direct and innovative
    "innovative",  # innovative purchase exemption
    "mapa",  # adapted procedure
    "partnership",  # innovation partnership (R&D, then purchase)
    "formal",  # formalised procedure
    "sourcing_tender",  # a tender ahead: sourcing to write it well
    "central",  # central purchasing body
    "unknown",  # no amount: the question that decides
)


def suggest_route(budget_eur: int | None, budget_band: str | None, stage: str | None) -> list[str]:
    """Route codes for this need, most relevant first (the central-purchasing option last).

    Depends on the band and the stage: sourcing first when exploring; the innovation
    partnership only when testing (a solution to develop) with a budget above the
    innovative-purchase exemption or not known yet.
    """
    band = current_band(budget_band, budget_eur)
    exploring = stage == Stage.EXPLORE.value
    testing = stage == Stage.EXPERIMENT.value
    routes: list[str] = ["sourcing"] if exploring else []
    if band in (None, "unknown"):
        routes.append("unknown")
        if testing:
            routes.append("partnership")
    elif band == "lt60k":
        routes.append("direct")
    elif band == "40-100k":
        routes += ["split", "innovative"]
    elif band == "60-100k":
        routes += ["innovative", "mapa"]
    elif band == "100-216k":
        routes += ["partnership", "mapa"] if testing else ["mapa"]
    else:
        routes += ["partnership", "formal"] if testing else ["formal"]
    if not exploring and band not in (None, "unknown", "lt60k"):
        routes.append("sourcing_tender")
    routes.append("central")
    return routes
