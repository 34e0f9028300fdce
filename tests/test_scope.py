"""Scope extraction (amounts, deadlines, themes, stage) and the procurement route."""

from __future__ import annotations

import datetime as dt

import pytest

from matcher.scope import (
    budget_band,
    extract,
    extract_amount,
    extract_constraints,
    extract_population,
    extract_stage,
    extract_timing,
    reads_like_need,
)
from matcher.themes import extract_themes, theme_label

TODAY = dt.date(2026, 11, 15)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("un budget de 50 000 €", 50_000),
        ("environ 50k€", 50_000),
        ("50 k euros maximum", 50_000),
        ("2 M€ sur trois ans", 2_000_000),
        ("1,5 M€", 1_500_000),
        ("120 000 euros HT", 120_000),
        ("80 000 HT", 80_000),
        ("budget: €40k", 40_000),
        ("une commune de 16 618 habitants", None),
        ("en 2027", None),
        ("50k", 50_000),  # the answer to the budget question
        ("50k HT", 50_000),
        ("une enveloppe d'environ 2 M pour trois ans", 2_000_000),
        ("30k de budget", 30_000),
        ("plus de 714k patients en affection longue durée", None),  # a count, not money
        ("une région de 6 M d'habitants", None),
        ("environ 2 kilos de papier par dossier", None),
        ("environ 2 kEUR", 2_000),
        ("5 € par dossier", 5),
    ],
)
def test_amounts(text: str, amount: int | None) -> None:
    assert extract_amount(text) == amount


def test_budget_bands_follow_thresholds() -> None:
    assert [budget_band(x) for x in (59_999, 60_000, 99_999, 100_000, 215_999, 216_000)] == [
        "lt60k", "60-100k", "60-100k", "100-216k", "100-216k", "gt216k",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "band", "phrase"),
    [
        ("d'ici juin", "3-12m", "d'ici juin"),
        ("avant la rentrée", "3-12m", "avant la rentrée"),
        ("en 2027", "3-12m", "en 2027"),
        ("en 2029", "gt1y", "en 2029"),
        ("dans 6 mois", "3-12m", "dans 6 mois"),
        ("dans deux ans", "gt1y", "dans deux ans"),
        ("avant décembre", "lt3m", "avant décembre"),
        ("c'est urgent", "lt3m", "urgent"),
        ("le plus rapidement possible", "lt3m", "le plus rapidement possible"),
        ("au plus vite", "lt3m", "au plus vite"),
        ("within 3 weeks", "lt3m", "within 3 weeks"),
        ("d'ici mars 2027", "3-12m", "d'ici mars 2027"),
        ("en 2021 nous avons testé, nous voulons recommencer d'ici juin", "3-12m", "d'ici juin"),
    ],
)
def test_deadlines(text: str, band: str, phrase: str) -> None:
    assert extract_timing(text, today=TODAY) == (band, phrase)


@pytest.mark.parametrize(
    "text",
    [
        "nous cherchons une solution",
        "En 2021, l'équipe a constaté que les parcours étaient longs",  # history
        "En décembre 2023, l'agence a réalisé une enquête auprès de 3000 ménages",
        "trouver une place en hébergement d'urgence pour les familles",
        "les bailleurs doivent évaluer rapidement la conformité des logements",
    ],
)
def test_no_deadline(text: str) -> None:
    assert extract_timing(text, today=TODAY) is None


def test_themes_fr_en() -> None:
    assert extract_themes("Réduire les dépôts sauvages et améliorer le tri des déchets")[0] == (
        "dechets"
    )
    assert "environnement" in extract_themes("lutter contre les îlots de chaleur")
    assert extract_themes("We need better bike lanes and car sharing")[0] == "mobilite"
    assert extract_themes("bonjour") == []
    assert theme_label("dechets", "en") == "Waste and circular economy"
    assert theme_label("Mobilité", "en") == "Mobility"
    assert theme_label("Autre chose", "fr") == "Autre chose"


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("nous voulons tester un capteur", "experiment"),
        ("une expérimentation de six mois", "experiment"),
        ("nous voulons acheter des bornes", "buy"),
        ("déployer sur toute la ville", "buy"),
        ("explorer des idées", "explore"),
        ("we would like to buy sensors", "buy"),
        ("rien de particulier", None),
        ("nous voulons acquérir des capteurs", "buy"),
        ("nous cherchons des idées pour nos cantines", "explore"),
        # a problem statement is not a stage (the question would be skipped)
        ("les usagers ont du mal à comprendre leurs droits", None),
        ("L'idée derrière ce service est de fournir un outil", None),
        ("valoriser les compétences acquises par les apprentis", None),
        ("les patients cherchent un médecin généraliste", None),
        ("les usagers sont appelés la veille de leur rendez-vous", None),
        ("généraliser le dispositif à toute la ville", "buy"),
        ("faire de la veille sur les solutions de mobilité", "explore"),
    ],
)
def test_stage(text: str, stage: str | None) -> None:
    assert extract_stage(text) == stage


def test_constraints() -> None:
    assert extract_constraints("conforme au RGPD, accessible RGAA, hébergement souverain") == [
        "rgpd", "accessibilite", "souverainete",
    ]  # fmt: skip


def test_reads_like_need() -> None:
    assert reads_like_need("Nous cherchons une solution pour les dépôts sauvages")
    assert reads_like_need("We are looking for a way to cut energy use in schools")
    assert not reads_like_need("bonjour")
    assert not reads_like_need("merci beaucoup")


def test_full_extraction() -> None:
    found = extract(
        "Nous voulons tester une navette autonome, budget 80 000 €, d'ici juin, RGPD",
        today=TODAY,
    )
    assert found.themes[0] == "mobilite"
    assert (found.stage, found.budget_eur, found.budget_band) == ("experiment", 80_000, "60-100k")
    assert (found.timing, found.timing_text) == ("3-12m", "d'ici juin")
    assert found.constraints == ["rgpd"]


@pytest.mark.parametrize(
    ("text", "population"),
    [
        ("une commune de 2 000 habitants", 2_000),
        ("We are a town of about 20,000 people near Lyon", 20_000),
        ("notre village de 350 habitants", 350),
        ("ville de 20k habitants", 20_000),
        ("un village de 2,5k habitants", 2_500),
        ("a town of 20.000 inhabitants", 20_000),
        ("une communauté de communes de 25 communes et 30 000 habitants", 30_000),
        ("une enquête auprès de 3000 habitants", None),  # not the asker's size
        ("78 % des habitants", None),
    ],
)
def test_population_given_instead_of_a_name(text: str, population: int | None) -> None:
    assert extract_population(text) == population
