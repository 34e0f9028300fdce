"""Scope extraction from a buyer's own words (French or English).

Pure functions, no I/O: amounts ("50 000 €", "50k€", "2 M€"), deadlines ("d'ici juin",
"dans 6 mois"), stage cues, constraints, and a small "reads like a need" test; the themes
come from the taxonomy in :mod:`matcher.themes`. The territory is found by
``matcher.territories.TerritoryResolver`` (called by the bot), not here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from core.domain import Stage, fold
from matcher.procurement import BUDGET_BANDS, budget_band
from matcher.themes import extract_themes

__all__ = [
    "BUDGET_BANDS",
    "CONSTRAINTS",
    "TIMING_BANDS",
    "Extraction",
    "budget_band",
    "extract",
    "extract_amount",
    "extract_constraints",
    "extract_stage",
    "extract_timing",
    "reads_like_need",
    "timing_band",
]


# --- Amounts -------------------------------------------------------------------------------

_AMOUNT = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[  \u202f.]\d{3})+|\d+(?:[.,]\d+)?)\s*"
    # a scale ends the word: "2 k€", "2 kEUR", not "2 kilos"
    r"(?:(k|K|m|M|md|Md|mille|millions?|milliards?)(?!(?!eur|EUR|Eur)[A-Za-zÀ-ÿ]))?\s*"
    r"(€|eur\b|euros?\b|EUR\b)?"
)


_MONEY_BEFORE = re.compile(
    r"(budget|enveloppe|montant|co[uû]t|prix|financ|invest|subvention|tarif|d[ée]pense|"
    r"march[ée] de|jusqu|maximum|max\b|environ|around|about|up to|cost|price|fund)",
    re.IGNORECASE,
)
_MONEY_AFTER = re.compile(
    r"\s*(€|eur|euros?|ht\b|ttc\b|de budget|d['’ ]?euros|of budget|budget|\)|[.,;!?]|$)",
    re.IGNORECASE,
)


def _money_context(text: str, start: int, end: int) -> bool:
    """Whether "50k" at ``text[start:end]`` reads as money: a money word shortly before, or
    nothing but money words or punctuation right after ("50k", "50k HT", "50k de budget")."""
    if _MONEY_BEFORE.search(text[max(0, start - 40) : start]):
        return True
    return bool(_MONEY_AFTER.match(text[end : end + 15]))


def extract_amount(text: str) -> int | None:
    """The largest amount in euros mentioned in ``text`` (``None`` if none)."""
    best: int | None = None
    for match in _AMOUNT.finditer(text):
        number, scale, currency = match.group(1), match.group(2), match.group(3)
        if not currency and not (scale and scale.lower() in ("k", "m", "md")):
            # "50 000" without a currency is only an amount if followed by "HT"/"TTC"
            tail = text[match.end() : match.end() + 4].strip().upper()
            if not tail.startswith(("HT", "TTC")):
                continue
            if not scale and len(re.sub(r"\D", "", number)) < 4:
                continue
        if scale == "m" and not currency:
            continue  # "3 m" may be metres: only "M" (upper case) counts without a currency
        if scale and not currency and not _money_context(text, match.start(), match.end()):
            continue  # "714k patients", "2 M d'habitants": a count, not a budget
        digits = re.sub(r"[  \u202f]", "", number)
        if re.fullmatch(r"\d{1,3}(\.\d{3})+", digits):
            digits = digits.replace(".", "")
        try:
            value = float(digits.replace(",", "."))
        except ValueError:
            continue
        factor = 1
        if scale:
            s = scale.lower()
            if s in ("k", "mille"):
                factor = 1_000
            elif s in ("m",) or s.startswith("million"):
                factor = 1_000_000
            elif s == "md" or s.startswith("milliard"):
                factor = 1_000_000_000
        amount = round(value * factor)
        if amount > 0 and (best is None or amount > best):
            best = amount
    return best


_POPULATION = re.compile(
    r"\b(?:commune|ville|village|bourg|town|city|municipality|collectivit\w*|"
    r"intercommunalit\w*|communaut\w*|agglom\w*|epci|territoire|d[ée]partement|r[ée]gion)\b"
    r"[^.;:!?\n]{0,40}?"
    r"(\d{1,3}(?:[  \u202f.,]\d{3})+|\d+(?:[.,]\d+)?)\s*(k|000)?\s*"
    r"(?:habitants|hab\b|inhabitants|residents|people)",
    re.IGNORECASE,
)


def extract_population(text: str) -> int | None:
    """The asker's population when they give a size instead of a name ("une commune de
    2 000 habitants", "a town of about 20,000 people"); ``None`` otherwise, and for figures
    not tied to a collectivité ("une enquête auprès de 3 000 habitants")."""
    match = _POPULATION.search(text)
    if match is None:
        return None
    number = re.sub(r"[  \u202f]", "", match.group(1))
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", number):  # 20,000 / 20.000: thousands
        number = re.sub(r"[.,]", "", number)
    value = round(float(number.replace(",", ".")) * (1000 if match.group(2) else 1))
    return value if 10 <= value <= 15_000_000 else None


# --- Deadlines -----------------------------------------------------------------------------

#: Timing bands (ids stored in Need.timing).
TIMING_BANDS = ("lt3m", "3-12m", "gt1y")

_MONTHS = {
    "janvier": 1,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "decembre": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_SEASONS = {  # month by which the phrase is due
    "rentree": 9,
    "ete": 6,
    "l ete": 6,
    "printemps": 3,
    "automne": 9,
    "hiver": 12,
    "fin de l annee": 12,
    "noel": 12,
    "summer": 6,
    "spring": 3,
    "autumn": 9,
    "fall": 9,
    "winter": 12,
    "end of the year": 12,
    "end of year": 12,
    "christmas": 12,
}
_UNIT_MONTHS = {
    "semaine": 0.25,
    "semaines": 0.25,
    "week": 0.25,
    "weeks": 0.25,
    "mois": 1,
    "month": 1,
    "months": 1,
    "an": 12,
    "ans": 12,
    "annee": 12,
    "annees": 12,
    "year": 12,
    "years": 12,
}
_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "huit": 8,
    "dix": 10,
    "douze": 12,
    "dix huit": 18,
    "a": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "eighteen": 18,
}
_DEADLINE_PREFIX = r"(?:d ici|avant|pour|en|des|a partir de|by|before|in|for|until|au plus tard)"


def _months_until(month: int, today: dt.date) -> int:
    delta = month - today.month
    return delta if delta > 0 else delta + 12


def extract_timing(text: str, *, today: dt.date | None = None) -> tuple[str, str] | None:
    """``(timing band, phrase as written)`` from a deadline in ``text``, or ``None``."""
    today = today or dt.date.today()
    folded = fold(text)
    months: float | None = None
    phrase: str | None = None
    if m := re.search(
        r"\b(dans|sous|d ici|within|in)\s+(\d+|" + "|".join(_NUMBER_WORDS) + r")\s+"
        r"(semaines?|mois|ans?|annees?|weeks?|months?|years?)\b",
        folded,
    ):
        n_raw = m.group(2)
        n = int(n_raw) if n_raw.isdigit() else _NUMBER_WORDS[n_raw]
        months, phrase = n * _UNIT_MONTHS[m.group(3)], m.group(0)
    elif dated := _future_month(folded, today):
        months, phrase = dated
    elif m := re.search(
        r"\b" + _DEADLINE_PREFIX + r"\s+(?:la |l |le |the )?(" + "|".join(_SEASONS) + r")\b",
        folded,
    ):
        months, phrase = _months_until(_SEASONS[m.group(1)], today), m.group(0)
    elif dated := _future_year(folded, today):
        months, phrase = dated
    elif m := re.search(
        # about when, not about what: "hébergement d'urgence", "évaluer rapidement la
        # conformité" are part of the problem, not a deadline
        r"\b(urgent|urgently|en urgence|au plus vite|des que possible|asap|as soon as possible|"
        r"(?:le plus |aussi )?rapidement possible|tout de suite|immediatement disponible)\b",
        folded,
    ):
        months, phrase = 1, m.group(0)
    if months is None or phrase is None:
        return None
    return timing_band(months), _original_span(text, phrase)


def _future_month(folded: str, today: dt.date) -> tuple[float, str] | None:
    """ "d'ici juin", "avant la fin mars 2027": months until then; a month of a past year
    ("en décembre 2023, nous avons…") is history, not a deadline."""
    pattern = (
        r"\b" + _DEADLINE_PREFIX + r"\s+(?:la |l |le |the )?(fin )?("
        + "|".join(_MONTHS) + r")\b(?:\s+(20\d\d)\b)?"
    )  # fmt: skip
    for m in re.finditer(pattern, folded):
        month = _MONTHS[m.group(2)]
        if m.group(3) is None:
            return _months_until(month, today), m.group(0)
        months = (int(m.group(3)) - today.year) * 12 + month - today.month
        if months >= 0:
            return months, m.group(0)
    return None


def _future_year(folded: str, today: dt.date) -> tuple[float, str] | None:
    """ "d'ici 2028": months until mid-year; "en 2021, nous avons testé…" is history."""
    for m in re.finditer(r"\b(?:en|d ici|avant|pour|in|by|before)\s+(20[2-4]\d)\b", folded):
        year = int(m.group(1))
        if year >= today.year:
            return max(0, (year - today.year) * 12 + 6 - today.month), m.group(0)
    return None


def timing_band(months: float) -> str:
    if months < 3:
        return "lt3m"
    if months <= 12:
        return "3-12m"
    return "gt1y"


def _original_span(text: str, folded_phrase: str) -> str:
    """Best effort: the phrase as the user wrote it (same words, accents kept)."""
    words = folded_phrase.split()
    tokens = list(re.finditer(r"[0-9A-Za-zÀ-ÿœŒæÆ]+", text))
    folded_tokens = [fold(t.group(0)) for t in tokens]
    flat: list[tuple[str, int]] = []
    for i, ft in enumerate(folded_tokens):
        for part in ft.split():
            flat.append((part, i))
    for start in range(len(flat) - len(words) + 1):
        if [w for w, _ in flat[start : start + len(words)]] == words:
            first, last = flat[start][1], flat[start + len(words) - 1][1]
            return text[tokens[first].start() : tokens[last].end()]
    return folded_phrase


# --- Stage, constraints, need-ness ---------------------------------------------------------

_STAGE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        Stage.EXPERIMENT.value,
        re.compile(
            r"\b(test\w*|experiment\w*|pilote?s?|essai\w*|poc|preuve de concept|prototyp\w*|"
            r"trial\w*|try|tryout)\b"
        ),
    ),
    (
        Stage.BUY.value,
        re.compile(
            r"\b(achet\w*|acquer\w*|acquier\w*|acquisition|deploy\w*|deploi\w*|generalis(?:er|ation|ons|ez)|"
            r"marche public|"
            r"passer (un )?marche|buy\w*|purchas\w*|procure\w*|roll out|rollout|"
            r"s equiper|equiper)\b"
        ),
    ),
    (
        Stage.EXPLORE.value,
        re.compile(
            r"\b(explor\w*|decouvr\w*|idees|inspiration|benchmark|veille (?:technologique|"
            r"strategique|concurrentielle)|faire de la veille|s informer|panorama|"
            r"ideas|discover\w*|what exists|ce qui existe)\b"
        ),
    ),
)


def extract_stage(text: str) -> str | None:
    """The buyer's stage from cue words: experiment, buy or explore (first rule wins)."""
    folded = fold(text)
    for stage, pattern in _STAGE_CUES:
        if pattern.search(folded):
            return stage
    return None


#: Constraint ids (stored in Need.constraints) and their cue words.
CONSTRAINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("rgpd", re.compile(r"\b(rgpd|gdpr|donnees personnelles|personal data|vie privee|privacy)\b")),
    ("accessibilite", re.compile(r"\b(accessib\w*|rgaa|handicap\w*|malvoyant\w*)\b")),
    (
        "sobriete",
        re.compile(
            r"\b(sobriete|sobre|frugal\w*|basse consommation|low energy|energy efficien\w*)\b"
        ),
    ),
    (
        "interoperabilite",
        re.compile(
            r"\b(interoperab\w*|standards? ouverts?|open standards?|api|logiciel libre|"
            r"open source)\b"
        ),
    ),
    (
        "souverainete",
        re.compile(
            r"\b(souverain\w*|secnumcloud|hebergement en france|hosted in (france|the eu)|"
            r"sovereign\w*|hds)\b"
        ),
    ),
)
CONSTRAINT_IDS = tuple(c for c, _ in CONSTRAINTS)


def extract_constraints(text: str) -> list[str]:
    folded = fold(text)
    return [cid for cid, pattern in CONSTRAINTS if pattern.search(folded)]


_NEED_CUES = re.compile(
    r"\b(besoin|cherche\w*|recherche\w*|souhait\w*|voudri\w*|aimeri\w*|veut|voulons|"
    r"veux|comment|solution\w*|probleme\w*|difficult\w*|ameliorer|reduire|lutter|"
    r"trouver|envisag\w*|projet|need\w*|looking for|want\w*|would like|how (can|do|to)|"
    r"problem\w*|improve|reduce|tackle|help us|we are|nous|notre|nos|ma commune|"
    r"ma ville|our)\b"
)


def reads_like_need(text: str) -> bool:
    """Whether free text looks like a need worth scoping (not a greeting or a one-liner)."""
    folded = fold(text)
    words = folded.split()
    if len(words) < 5:
        return False
    return bool(_NEED_CUES.search(folded) or extract_themes(text))


@dataclass
class Extraction:
    """What the text says, before any question is asked."""

    themes: list[str] = field(default_factory=list)
    budget_eur: int | None = None
    budget_band: str | None = None
    timing: str | None = None
    timing_text: str | None = None
    stage: str | None = None
    constraints: list[str] = field(default_factory=list)


def extract(text: str, *, today: dt.date | None = None) -> Extraction:
    """Everything :mod:`matcher.scope` can read in a need (the territory excepted)."""
    amount = extract_amount(text)
    timing = extract_timing(text, today=today)
    return Extraction(
        themes=extract_themes(text),
        budget_eur=amount,
        budget_band=budget_band(amount),
        timing=timing[0] if timing else None,
        timing_text=timing[1] if timing else None,
        stage=extract_stage(text),
        constraints=extract_constraints(text),
    )
