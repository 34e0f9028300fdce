"""Need understanding: the problem statement of a message, apart from what goes to the scope.

A buyer writes "Bonjour, je suis élue à Lannion (19 000 habitants). Nos aînés ont du mal
avec les démarches en ligne. Budget d'environ 20 k€, à lancer d'ici juin. Merci !". The
search must read only "Nos aînés ont du mal avec les démarches en ligne": the greeting,
the self-introduction, the place, the size, the budget and the timing are scope (asked or
extracted elsewhere), and as words they only find entries that share them (« habitants »,
« commune », « 000 »).

:func:`understand` removes those phrases, clause by clause, and keeps the rest in the
writer's own words. It never invents text and never returns an empty problem: when the
removal would leave fewer than :data:`MIN_PROBLEM_WORDS` words, the message minus its
greetings is the problem. The raw message is kept by the caller (``Need.raw_text``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from matcher.types import Scope

if TYPE_CHECKING:
    from matcher.territories import Candidate, TerritoryResolver

__all__ = [
    "MIN_PROBLEM_WORDS",
    "MessageScope",
    "Understanding",
    "problem_statement",
    "scope_from_message",
    "understand",
]

#: Below this many words the cleaned text is not trusted as a problem statement.
MIN_PROBLEM_WORDS = 3

_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿœŒ'’\-]+"
_NUMBER = r"\d{1,3}(?:[  \u202f.,]\d{3})+|\d+(?:[.,]\d+)?"

_GREETING = re.compile(
    r"^\s*(?:(?:bonjour|bonsoir|salut|coucou|hello|hi|hey|good (?:morning|afternoon|evening)|"
    r"dear (?:sir|madam|all|team)[^,.!:]*|madame,? monsieur|mesdames,? messieurs|"
    r"chers? (?:coll[eè]gues?|amis?|tous)|[àa] tous|[àa] toutes et [àa] tous|all)"
    r"\s*(?:[àa] (?:tous|toutes|vous)|everyone|all|there)?\s*[,!.:;\-–—]*\s*)+",
    re.IGNORECASE,
)

_CLOSING = re.compile(
    r"^\s*(?:merci(?: beaucoup| d'avance| par avance| pour votre (?:aide|retour))?|"
    r"cordialement|bien (?:cordialement|à vous)|bonne (?:journée|soirée)|"
    r"dans l'attente de (?:votre|vos) (?:retour|réponse)s?|au plaisir|"
    r"thanks?(?: you)?(?: in advance| a lot)?|many thanks|best(?: regards)?|kind regards|"
    r"regards|cheers)\b[^.!?\n]{0,40}[.!?…]*\s*$",
    re.IGNORECASE,
)

#: Who is writing: roles of elected officials and agents, and the collectivité words.
_ROLE = (
    r"(?:(?:le|la|l'|un|une|the|a|an|first|deputy|premier|première)\s+)?"
    r"(?:maire|mayor|élue?s?|elected|conseill(?:er|ère)|councill?or|adjointe?|deputy|dgs|dga|"
    r"directeur|directrice|director|responsable|head|manager|chargée?|in charge|agente?|officer|"
    r"technicien(?:ne)?|secrétaire|secretary|président(?:e)?|president|chef|cheffe|"
    r"vice-président(?:e)?|délégué(?:e)?|coordinat(?:eur|rice)|coordinator|"
    r"commune|ville|village|mairie|municipalité|town|city|municipality|village|"
    r"communauté|intercommunalité|interco|agglo\w*|métropole|département|région|collectivité|"
    r"council|county|région|service)\b"
)

#: "je suis élue à Lannion", "nous sommes une commune de …", "I am the mayor of …": from a
#: self-introduction cue followed by a role, up to the next comma, colon, semicolon or
#: "et/and" before a new subject. "Je suis perdu", "nous sommes allés voir" are not one.
_INTRO = re.compile(
    r"^\s*(?:(?:je suis|j'?\s*(?:ai été élue?|occupe)|nous sommes|on est|je travaille|"
    r"i am|i'm|we are|we're|i work|en tant que|as)\s+(?:(?:actuellement|currently|ici|here|"
    r"à la|au|à|at|for|pour|dans)\s+)?" + _ROLE + r"|je m'appelle|my name is|moi c'est)"
    r"[^,;:.!?\n]*?"
    r"(?=\s*(?:[,;:.!?\n]|$|\s(?:et|and|mais|but)\s+(?:nous|on|je|j'|notre|nos|we|i|our)\b))",
    re.IGNORECASE,
)

#: A collectivité named by its kind and size: "Commune de 10 000 habitants", "(4 000 hab.)",
#: "a town of about 20,000 people", "interco rurale de 14 000 hab".
_SIZE = re.compile(
    r"\(?\s*(?:(?:une?|la|notre|a|an|our)\s+)?"
    r"(?:(?:petite?|grande?|moyenne|small|large|rural|rurale|urban|urbaine)\s+)?"
    r"(?:commune|ville|village|bourg|town|city|municipality|collectivit[ée]|interco\w*|"
    r"communaut[ée](?: de communes| d'agglom[ée]ration| urbaine)?|agglom[ée]ration|epci|"
    r"m[ée]tropole|d[ée]partement|r[ée]gion|territoire)?"
    r"(?:\s+(?:rurale?|urbaine?|littorale?|de montagne))?"
    r"\s*(?:de|d'|of|with)?\s*(?:environ|about|around|près de|presque|plus de|moins de|"
    r"some|nearly|over|under|~)?\s*"
    r"(?:" + _NUMBER + r")\s*(?:k|000)?\s*"
    r"(?:habitants|hab\b\.?|inhabitants|residents|people|âmes)\s*\)?",
    re.IGNORECASE,
)

_BUDGET = re.compile(
    r"(?:(?:notre|le|un|our|the|a|with a|avec un)\s+)?"
    r"(?:budget|enveloppe|montant|financement|budget envelope)\b[^.;!?\n]{0,40}?"
    r"(?:" + _NUMBER + r")\s*(?:k|m|mille|millions?)?\s*(?:€|euros?|eur|k€|keur|m€)?"
    r"(?:\s*(?:HT|TTC))?"
    r"|(?:(?:environ|about|around|jusqu'à|up to)\s+)?(?:€\s*(?:" + _NUMBER + r")\s*[kKmM]?\b"
    r"|(?:" + _NUMBER + r")\s*(?:k€|k ?eur\b|m€|€|euros?\b|k\s+euros?\b)(?:\s*(?:HT|TTC))?)",
    re.IGNORECASE,
)

_TIMING = re.compile(
    r"(?:,?\s*(?:à|a|to)\s+(?:lancer|démarrer|commencer|mettre en place|déployer|start|launch|"
    r"roll out|deploy)\s+)?"
    r"(?:(?:nous (?:aimerions|voudrions|souhaitons|souhaiterions)|on (?:aimerait|voudrait)|"
    r"we (?:would like|want|hope|plan) to|il faudrait)\s+"
    r"(?:démarrer|commencer|lancer|avoir|start|begin|launch|have it)\w*\s*(?:quelque chose\s*)?)?"
    r"(?:d'ici|avant|pour|dès|à partir de|by|before|from|in|within|dans|sous)\s+"
    r"(?:(?:la |le |l'|the |end of |la fin (?:de |d')?)?"
    r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|"
    r"novembre|décembre|decembre|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|rentrée|printemps|été|automne|hiver|spring|"
    r"summer|autumn|fall|winter)(?:\s+20\d\d)?|20[2-4]\d|"
    r"(?:\d+|deux|trois|quatre|six|douze|two|three|four|six|twelve)\s+"
    r"(?:semaines?|mois|ans?|années?|weeks?|months?|years?))\b"
    r"|c'est (?:assez |très |plutôt )?urgent|it is (?:quite |rather |very )?urgent|"
    r"au plus vite|dès que possible|le plus rapidement possible|as soon as possible|asap",
    re.IGNORECASE,
)

#: Words that carry no problem on their own: a sentence left with only these is dropped
#: ("Nous avons." once "un budget de 30 000 €" is set aside).
_FUNCTION_WORDS_TEXT = (
    "a ai aimerions al alors and are au aussi aux avec avons avoir be but c ce cela ces cet "
    "cette d de des donc du elle en est et for from has have i il ils is it j je l la le les "
    "leur lui ma mais me mes mon my nos notre nous on or our pour qu que qui sa se ses son "
    "sont so the their this to un une vers vos votre vous we with y"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*|\n", re.UNICODE)
_SPACES = re.compile(r"\s+")
_LEADING_JUNK = re.compile(r"^[\s,;:–—\-]*(?:(?:et|and|mais|but|donc|so)\s+)?", re.IGNORECASE)
_DANGLING = re.compile(r"\s*[,;:–—\-]\s*(?=[.!?]|$)|\(\s*\)|\s+(?=[,.)])")


@dataclass(frozen=True)
class Understanding:
    """A message split into its problem statement and the phrases that went to the scope."""

    problem: str
    removed: list[tuple[str, str]] = field(default_factory=list)  # (kind, phrase)

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def _past_year(phrase: str) -> bool:
    """ "en 2021, nous avons testé…": history, part of the problem, not a deadline."""
    year = re.search(r"\b(20\d\d)\b", phrase)
    return year is not None and int(year.group(1)) < dt.date.today().year


def _strip(
    pattern: re.Pattern[str],
    kind: str,
    text: str,
    removed: list[tuple[str, str]],
    *,
    keep: Callable[[str], bool] | None = None,
) -> str:
    def cut(match: re.Match[str]) -> str:
        if keep is not None and keep(match.group(0)):
            return match.group(0)
        phrase = match.group(0).strip(" ,;:()")
        if phrase:
            removed.append((kind, phrase))
        return " "

    return pattern.sub(cut, text)


def _tidy(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    text = _LEADING_JUNK.sub("", text)
    previous = None
    while previous != text:
        previous = text
        text = _DANGLING.sub("", text).strip(" ,;:–—-")
    return text


def _sentence(text: str, removed: list[tuple[str, str]]) -> str:
    """The sentence without its scope phrases; untouched (but stripped) when it has none."""
    before = len(removed)
    original = text.strip()
    greeting = _GREETING.match(text)
    if greeting and greeting.group(0).strip():
        removed.append(("greeting", greeting.group(0).strip(" ,!.:;")))
        text = text[greeting.end() :]
    if _CLOSING.match(text):
        removed.append(("closing", text.strip()))
        return ""
    text = _strip(_SIZE, "size", text, removed)  # first: "20,000 people" holds a comma
    intro = _INTRO.match(text)
    if intro:
        removed.append(("intro", intro.group(0).strip()))
        text = text[intro.end() :]
    text = _strip(_BUDGET, "budget", text, removed)
    text = _strip(_TIMING, "timing", text, removed, keep=_past_year)
    if len(removed) == before:
        return original
    tidy = _tidy(text)
    # A sentence left with only punctuation, connectors or stray function words is dropped.
    words = [w.lower().strip("'’-") for w in re.findall(_WORD, tidy)]
    if len(words) < 2 or all(w in _FUNCTION_WORDS for w in words):
        return ""
    return tidy


def understand(text: str) -> Understanding:
    """The problem statement of ``text`` and what was set aside (see the module doc)."""
    removed: list[tuple[str, str]] = []
    sentences = [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0).strip()]
    kept = [s for s in (_sentence(sentence, removed) for sentence in sentences) if s]
    problem = " ".join(kept)
    problem = problem[:1].upper() + problem[1:]
    if len(re.findall(_WORD, problem)) >= MIN_PROBLEM_WORDS:
        return Understanding(problem, removed)
    # Too little left: the message itself (without a leading greeting) is the problem.
    greeting = _GREETING.match(text)
    fallback = _tidy(text[greeting.end() :] if greeting else text) or text.strip()
    return Understanding(fallback[:1].upper() + fallback[1:], [])


def problem_statement(text: str) -> str:
    """:func:`understand`'s problem statement alone."""
    return understand(text).problem


@dataclass
class MessageScope:
    """A buyer's message read once: the scope to search with (``scope.text`` is the problem
    statement), the raw message, what was set aside, and the territory the text names."""

    raw: str
    scope: Scope
    understanding: Understanding
    timing_text: str | None = None
    territory: Candidate | None = None  # named without ambiguity
    homonyms: list[Candidate] = field(default_factory=list)  # named, but which one?


def scope_from_message(
    text: str,
    *,
    language: str = "fr",
    today: dt.date | None = None,
    resolver: TerritoryResolver | None = None,
) -> MessageScope:
    """The one reading of a need message, shared by the chat, ``piu search``/``piu rank``
    and :meth:`matcher.service.MatchService.rank_ids`: the problem statement is what is
    searched; themes, stage, budget, timing and constraints are read from the whole
    message; the territory (``resolver``) or, failing it, the size written in the text
    fills the territory part of the scope."""
    from core.domain import size_band, size_band_value
    from matcher.scope import extract, extract_population
    from matcher.themes import find_theme

    understanding = understand(text)
    found = extract(text, today=today)
    scope = Scope(
        text=understanding.problem,
        language=language,
        themes=[t.fr for t in (find_theme(x) for x in found.themes) if t],
        stage=found.stage,
        budget_eur=found.budget_eur,
        budget_band=found.budget_band,
        timing=found.timing,
        constraints=sorted(set(found.constraints)),
    )
    out = MessageScope(text, scope, understanding, timing_text=found.timing_text)
    if resolver is not None:
        resolution = resolver.find_in_text(text)
        if resolution.status == "found" and resolution.candidate is not None:
            out.territory = resolution.candidate
        elif resolution.status == "ambiguous":
            out.homonyms = list(resolution.candidates)
    if out.territory is not None:
        c = out.territory
        band = c.size_band or size_band(c.population)
        scope.territory_code, scope.territory_kind, scope.territory_name = c.code, c.kind, c.name
        scope.population, scope.size_band = c.population, str(band) if band else None
        scope.dep, scope.region = c.dep, c.region
    elif population := extract_population(text):
        scope.population, scope.size_band = population, size_band_value(population)
    return out
