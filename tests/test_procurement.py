"""Procurement route (matcher.procurement): 2026 thresholds, band x stage, stored bands."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.render import render_card
from core.config import Settings
from core.db import downgrade, make_engine, upgrade
from matcher import procurement as p
from matcher.procurement import budget_band, current_band, suggest_route
from matcher.types import Scope


def test_thresholds_are_the_2026_values() -> None:
    assert p.NO_PUBLICITY_SUPPLIES_EUR == 60_000  # R2122-8, décret 2025-1386, from 1 Apr 2026
    assert p.NO_PUBLICITY_WORKS_EUR == 100_000  # R2122-8, from 1 Jan 2026
    assert p.INNOVATIVE_EUR == 100_000  # R2122-9-1, unchanged
    assert (p.FORMAL_SUPPLIES_EUR, p.FORMAL_WORKS_EUR) == (216_000, 5_404_000)  # 2026-2027


def test_every_threshold_cites_its_article_next_to_it() -> None:
    source = Path(p.__file__).read_text(encoding="utf-8")
    for name, article in (
        ("NO_PUBLICITY_SUPPLIES_EUR", "R2122-8"),
        ("NO_PUBLICITY_WORKS_EUR", "R2122-8"),
        ("INNOVATIVE_EUR", "R2122-9-1"),
        ("FORMAL_SUPPLIES_EUR", "annexe 2 CCP"),
        ("FORMAL_WORKS_EUR", "annexe 2 CCP"),
    ):
        comment = source[: source.index(f"\n{name} = ")].rsplit("\n\n", 1)[-1]
        assert article in comment, name
    assert "2025-1386" in source and "2021-1634" in source


def test_bands_cut_at_the_thresholds() -> None:
    amounts = (59_999, 60_000, 99_999, 100_000, 215_999, 216_000)
    assert [budget_band(x) for x in amounts] == [
        "lt60k", "60-100k", "60-100k", "100-216k", "100-216k", "gt216k",
    ]  # fmt: skip
    assert budget_band(None) is None


def test_stored_pre_2026_bands_are_read_as_today_s() -> None:
    assert current_band("lt40k") == "lt60k"
    assert current_band("100-215k") == "100-216k"
    assert current_band("gt215k") == "gt216k"
    assert current_band("40-100k") == "40-100k"  # no equivalent: kept, its route asks
    assert current_band("40-100k", 50_000) == "lt60k"  # the amount decides when known
    assert current_band("unknown") == "unknown" and current_band(None) is None


@pytest.mark.parametrize(
    ("amount", "band", "stage", "expected"),
    [
        (30_000, None, "buy", ["direct", "central"]),
        (50_000, None, "buy", ["direct", "central"]),  # 40-60k: no publicity since 1 Apr 2026
        (None, "lt40k", "buy", ["direct", "central"]),
        (80_000, None, "experiment", ["innovative", "mapa", "sourcing_tender", "central"]),
        (150_000, None, "experiment", ["partnership", "mapa", "sourcing_tender", "central"]),
        (150_000, None, "buy", ["mapa", "sourcing_tender", "central"]),
        (500_000, None, "buy", ["formal", "sourcing_tender", "central"]),
        (500_000, None, "experiment", ["partnership", "formal", "sourcing_tender", "central"]),
        (500_000, None, "explore", ["sourcing", "formal", "central"]),
        (None, None, "explore", ["sourcing", "unknown", "central"]),
        (None, "unknown", None, ["unknown", "central"]),
        (None, "unknown", "experiment", ["unknown", "partnership", "central"]),
        (None, "40-100k", "buy", ["split", "innovative", "sourcing_tender", "central"]),
    ],
)
def test_route_depends_on_band_and_stage(
    amount: int | None, band: str | None, stage: str | None, expected: list[str]
) -> None:
    assert suggest_route(amount, band, stage) == expected


def _card(lang: str = "fr", **scope: object) -> str:
    return render_card(Scope(text="Un besoin", **scope), lang, territory=None, timing_text=None)  # type: ignore[arg-type]


def test_each_route_line_says_why_it_applies() -> None:
    card = _card(budget_eur=50_000, budget_band="lt60k", stage="buy")
    assert "Votre budget, 50\u202f000 € HT (moins de 60 k€)\u00a0: sous 60\u202f000 € HT" in card
    assert "R2122-8" in card and "2025-1386" in card
    card = _card(budget_band="60-100k", stage="experiment")
    assert "Votre budget, de 60 à 100 k€, sous 100\u202f000 € HT\u00a0: si la solution" in card
    assert "R2122-9-1" in card and "MAPA" in card
    card = _card("en", budget_band="gt216k", stage="experiment")
    assert "You want to test: if the solution has yet to be developed" in card
    assert "Your budget, €216k or more: from €216,000 excl. VAT" in card
    explore = _card(stage="explore")
    assert "Vous en êtes à explorer" in explore and "R2111-1" in explore


def test_unknown_budget_shows_the_deciding_question() -> None:
    card = _card(budget_band="unknown", stage="buy")
    assert "quel est le montant estimé HT de tout le besoin" in card
    card = _card(stage="buy", lang="en")
    assert "what is the estimated amount excl. VAT of the whole need" in card


def test_central_purchasing_is_offered_with_its_articles() -> None:
    for card in (_card(budget_eur=10_000, stage="buy"), _card(stage="explore")):
        assert "UGAP" in card and "L2113-4" in card


def test_migration_moves_stored_bands_and_back(settings: Settings) -> None:
    url = settings.db_url
    upgrade(url, "0002")
    engine = make_engine(url)
    rows = [
        (1, 50_000, "40-100k"),
        (2, None, "lt40k"),
        (3, None, "40-100k"),
        (4, None, "100-215k"),
        (5, 215_500, "gt215k"),
        (6, None, "unknown"),
        (7, None, None),
    ]
    try:
        with engine.begin() as conn:
            for nid, amount, band in rows:
                conn.execute(
                    text(
                        "INSERT INTO need (id, raw_text, language, themes, constraints, status,"
                        " budget_eur, budget_band, created_at, updated_at) VALUES (:id, 'x',"
                        " 'fr', '[]', '[]', 'open', :a, :b, CURRENT_TIMESTAMP,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"id": nid, "a": amount, "b": band},
                )
        upgrade(url)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, budget_band FROM need")).all())
        assert got == {
            1: "lt60k",
            2: "lt60k",
            3: "40-100k",
            4: "100-216k",
            5: "100-216k",
            6: "unknown",
            7: None,
        }
        downgrade(url, "0003")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT id, budget_band FROM need")).all())
            amounts = dict(conn.execute(text("SELECT id, budget_eur FROM need")).all())
        assert back[1] == "40-100k" and back[4] == "100-215k" and back[5] == "gt215k"
        assert amounts == {nid: amount for nid, amount, _ in rows}  # amounts untouched
    finally:
        engine.dispose()
