"""The *wrapped* variant of a query set: each need inside the message a buyer would write
(greeting, role, place, size, the need, budget, timing, closing), from fixed templates
and a fixed seed, so ``piu bench retrieval --wrapped`` measures what the need
understanding (matcher.need) leaves of the problem statement."""

from __future__ import annotations

import random

__all__ = ["SEED", "wrap", "wrap_all"]

SEED = 14

GREETINGS = ["Bonjour,", "Bonjour à tous,", "Madame, Monsieur,", "Bonsoir,", "Hello,", ""]
ROLES = [
    "je suis maire de {place}",
    "je suis élue à {place}",
    "je suis adjoint au maire de {place}",
    "je suis DGS de la mairie de {place}",
    "je travaille au service technique de {place}",
    "nous sommes la commune de {place}",
    "je suis chargée de mission à {place}",
]
SIZES = [
    " ({pop} habitants)",
    ", commune de {pop} habitants,",
    ", une ville d'environ {pop} habitants,",
    "",
]
BUDGETS = [
    "Notre budget est d'environ {k} k€.",
    "Nous avons un budget de {k} 000 € HT.",
    "Budget : {k} 000 euros.",
    "",
]
TIMINGS = [
    "Nous aimerions démarrer d'ici {month}.",
    "C'est assez urgent.",
    "Idéalement avant {month}.",
    "",
]
CLOSINGS = ["Merci d'avance !", "Cordialement.", "Merci.", ""]
MONTHS = ["juin", "septembre", "la rentrée", "mars", "décembre"]
PLACES = [
    "Lannion",
    "Saint-Malo",
    "Dole",
    "Lons-le-Saunier",
    "Mouans-Sartoux",
    "Vitré",
    "Aurillac",
    "Guéret",
    "Albi",
    "Dax",
]


def wrap(text: str, rng: random.Random) -> str:
    """``text`` inside a buyer's message drawn from the templates with ``rng``."""
    place = rng.choice(PLACES)
    pop = f"{rng.randint(1, 60)} {rng.randint(0, 999):03d}"
    role = rng.choice(ROLES).format(place=place) + rng.choice(SIZES).format(pop=pop).rstrip(",")
    head = " ".join(x for x in [rng.choice(GREETINGS), role + "."] if x)
    tail = " ".join(
        x
        for x in [
            rng.choice(BUDGETS).format(k=rng.choice([15, 30, 50, 80, 120])),
            rng.choice(TIMINGS).format(month=rng.choice(MONTHS)),
            rng.choice(CLOSINGS),
        ]
        if x
    )
    head = head[:1].upper() + head[1:]
    return f"{head} {text.strip()} {tail}".strip()


def wrap_all(texts: list[str], seed: int = SEED) -> list[str]:
    """Every text wrapped, with one generator seeded with ``seed`` (same output each run)."""
    rng = random.Random(seed)
    return [wrap(text, rng) for text in texts]
