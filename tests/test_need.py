"""Need understanding: the problem statement apart from greetings, who writes, size, money, time."""

from __future__ import annotations

import pytest

from matcher.need import understand


@pytest.mark.parametrize(
    ("message", "problem", "kinds"),
    [
        (
            "Commune de 10 000 habitants, nous voulons lancer un service d'autopartage pour "
            "nos habitants",
            "Nous voulons lancer un service d'autopartage pour nos habitants",
            {"size"},
        ),
        (
            "Bonjour, je suis élue à Lannion. Nos aînés ont du mal avec les démarches en ligne.",
            "Nos aînés ont du mal avec les démarches en ligne.",
            {"greeting", "intro"},
        ),
        (
            "Bonjour, je suis maire de Saint-Malo (46 000 habitants). Nous souhaitons réduire "
            "la consommation d'eau des bâtiments publics. Nous avons un budget de 30 000 € HT. "
            "Nous aimerions démarrer d'ici septembre. Merci d'avance !",
            "Nous souhaitons réduire la consommation d'eau des bâtiments publics.",
            {"greeting", "intro", "size", "budget", "timing", "closing"},
        ),
        (
            "Hello, I am the mayor of a town of about 20,000 people near Lyon. We want to "
            "reduce food waste in our school canteens. Budget €50k. Thanks in advance!",
            "We want to reduce food waste in our school canteens.",
            {"greeting", "size", "intro", "budget", "closing"},
        ),
        (
            "Je suis DGS de la communauté de communes du Pays de Gex et nous cherchons une "
            "solution de covoiturage.",
            "Nous cherchons une solution de covoiturage.",
            {"intro"},
        ),
        (
            "Madame, Monsieur, en tant que maire d'une commune rurale, je cherche des solutions "
            "pour l'accès aux soins. Cordialement.",
            "Je cherche des solutions pour l'accès aux soins.",
            {"greeting", "intro", "closing"},
        ),
    ],
)
def test_scope_phrases_are_set_aside(message: str, problem: str, kinds: set[str]) -> None:
    understood = understand(message)
    assert understood.problem == problem
    assert {kind for kind, _ in understood.removed} == kinds


@pytest.mark.parametrize(
    "message",
    [
        # a problem statement alone is left as written, punctuation and spaces included
        "Manque d'outils collaboratifs : les acteurs publics manquent d'outils adaptés.",
        # "je suis" / "nous sommes" without a role are part of the problem
        "Je suis perdue face aux démarches : nous sommes allés trois fois en mairie.",
        # a past year is history, and "pour la mairie" is not "pour mai"
        "En 2021, nous avons testé un formulaire papier pour la mairie, sans succès.",
        "optimiser les tournées de collecte des déchets",
    ],
)
def test_a_bare_problem_is_untouched(message: str) -> None:
    understood = understand(message)
    assert understood.problem == message[:1].upper() + message[1:]
    assert not understood.changed


def test_nothing_left_falls_back_to_the_message() -> None:
    assert understand("Bonjour, je suis maire de Dole.").problem == "Je suis maire de Dole."
    assert understand("bonjour").problem == "Bonjour"
    assert understand("  ").problem == ""
