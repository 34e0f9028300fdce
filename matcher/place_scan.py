"""Find the phrases of a message that name a place, and the cues around them.

The scanner reads a message against the names of a territory table (``NameTable``, which
``matcher.territories.TerritoryResolver`` is): it tokenises the text, reads the cues before
a name ("mairie de", "à", "communauté d'agglomération de", "près de"), keeps the names that
are places in this sentence (names that are also common words need a capital or a cue) and
their near misses (one typo), and drops the landmarks ("près de Lyon"). Which territory a
phrase means is the resolver's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from core.domain import fold

#: Leading articles, optional in a name ("Havre" for "Le Havre").
ARTICLES = ("le", "la", "les", "l")
#: Abbreviations read as the whole word ("St-Denis").
ABBREV = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}

#: Words that are also territory names: they need a capital or a cue in free text.
_COMMON_TEXT = """
    a accueil agent agents ai aide aides aigle ailleurs aire aires aix allons ambition ame
    an ans aout apt ar arc arles ars art as atelier au aube aulne aussi autre aux avec avril
    bac bagnols bain bains bais banque bar barre bas beau belle bien biens bio bleu bois bon
    bonne bonnes bons bouge bourg bourges bourse bout bras brest breton bu bus but ca carnet
    cartes cave ce celle celles cent centre centres cerisiers champ champs change chapelle
    charge charges charme chaux cher cheval chez ci clair classe coeur col colline colombes
    comment commune contrat cote coteaux coudray cour cours creche creuse croisette croix
    cru culture da dame dammartin de decembre des deux di dire dix do dol don donc donnees
    dos du eau eaux echange echelle eclairees ecole elle emploi en enfants ennemi entre
    entreprise es est et etang etangs etat ete etre eu eus fa famille familles faux faye fer
    ferme fertes feuille fevrier fiches fin foi fois font fontaine force foret forges fort
    forts four frais francais france gap garde gare gay gestes grand grande gras gros gue
    guerre guichet haies hameau haut hautes hermite hopital hotel il ile image internet is
    issy janvier jardin jeu jeunes job jour jours juillet juin la lac lacs lais lance lande
    landes lay le les lieu lieux ligne lilas lille loge loges long lons lot lu lune lutter
    lys ma macron mai main mairies maison maisons mal manche mano marais marchaux marche
    marches mare marne mars marseillais mas matignon mazet me mer mes metiers metz mine
    mines mission mode moi mon mont montagne monts mot mots moulin moulins moutier moyen
    navale ne neuf nice nord notre nous novembre noyer nuits o octobre oeuvre oise on or
    orange ordre orient ormes orne ou ours outil outils pain palais paradis parc parent
    paris pas passage passe pau pavillons pays peau perche pere pierre pin pins place places
    plaine plan plans plateau pluie plus point pont port porte porto pre premiere pres
    pressions prise prix projet projets pruniers public publics puits quai quartier quatre
    que qui rang ravel recueil rennes reseau reseaux reunion ris rive rives riviere rivieres
    roche rochers roi ronde rose rouge route rue sa sable sables sac saint sainte salle
    salles sang sante saules savoir se secours sel sens sentier sept septembre serre service
    services seul si signal signaux sion six social sociale soi soir somme son sons sort
    sous sud suite sur tache tard tarn tel temple termes terrain terre terres tour tours
    tous tout train travail tre trois tronche un une union us va val vals vannes var vaux
    venir verger vernay verneuil vert verte vie vienne vieux vigne vigneux ville villes vin
    vines vingt vire vis vivre voie voir vous vue y
"""
COMMON_WORDS = frozenset(_COMMON_TEXT.split())
# Real cities whose name is also a common word but which users cite lower-case in context
_NOT_COMMON = frozenset({"lille", "rennes", "metz", "nice", "brest", "pau", "paris", "vannes"})
COMMON = COMMON_WORDS - _NOT_COMMON

#: Phrases right before a name that say "this is a place".
_STRONG_CUES = [
    "commune de",
    "commune d",
    "ville de",
    "ville d",
    "mairie de",
    "mairie d",
    "maire de",
    "maire d",
    "village de",
    "village d",
    "habitants de",
    "habitants d",
    "je suis a",
    "j habite a",
    "nous sommes a",
    "base a",
    "basee a",
    "situe a",
    "situee a",
    "territoire de",
    "collectivite de",
    "agglomeration de",
    "agglo de",
    "departement de",
    "departement du",
    "departement des",
    "region",
    "metropole de",
    "from",
    "in",
]
_WEAK_CUES = {"de", "d", "a", "au", "en", "du", "sur", "vers", "dans", "at"}
#: Weak cues that say "where" (not "of"): enough for a name that is also a common word.
_LOCATIVE_CUES = {"a", "au", "en", "vers", "dans", "at"}
#: "une commune près de Lyon": a landmark, not the asker's territory.
_NEAR_CUES = (
    "pres de", "pres d", "a cote de", "a cote d", "proche de", "proche d", "non loin de",
    "non loin d", "autour de", "autour d", "alentours de", "alentours d", "environs de",
    "environs d", "near", "close to", "next to", "outside", "around",
)  # fmt: skip
#: English cues are followed by determiners far more often than by names: "in our
#: canteens" must not find the commune of Our (Jura).
_EN_CUES = {"in", "from"}
_EN_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "our",
        "my",
        "your",
        "their",
        "his",
        "her",
        "its",
        "this",
        "that",
        "these",
        "those",
        "we",
        "they",
        "all",
        "some",
        "each",
        "every",
        "both",
        "other",
        "such",
    ]
)
#: Words before a name that say which kind of territory it is.
KIND_CUES: list[tuple[tuple[str, ...], str]] = [
    (("communaute", "d", "agglomeration"), "epci"),
    (("communaute", "de", "communes"), "epci"),
    (("communaute", "urbaine"), "epci"),
    (("communaute", "d", "agglo"), "epci"),
    (("agglomeration",), "epci"),
    (("agglo",), "epci"),
    (("intercommunalite",), "epci"),
    (("interco",), "epci"),
    (("epci",), "epci"),
    (("metropole",), "epci"),
    (("departement",), "departement"),
    (("conseil", "departemental"), "departement"),
    (("region",), "region"),
    (("conseil", "regional"), "region"),
    (("commune",), "commune"),
    (("ville",), "commune"),
    (("mairie",), "commune"),
    (("maire",), "commune"),
    (("village",), "commune"),
]
_CONNECTORS = {"le", "la", "les", "l", "sur", "sous", "en", "de", "du", "des", "d", "et", "lez"}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


class NameTable(Protocol):
    """What the scanner asks of the territory table (``TerritoryResolver``)."""

    #: the longest name, in words
    max_tokens: int
    #: keys that are aliases of a name (article dropped, first word of a long name…)
    alias_keys: set[str]

    def top_population(self, key: str) -> int | None:
        """Population of the best territory called ``key`` (0 if unknown); ``None`` when no
        territory is called ``key``."""
        ...

    def fuzzy_keys(self, key: str) -> list[str]:
        """The names within one typo of ``key``."""
        ...


@dataclass(slots=True)
class PlacePhrase:
    """Words of the text that name a territory of the table, or nearly (one typo)."""

    start: int  # token index
    end: int  # exclusive
    key: str  # the words, folded
    keys: tuple[str, ...]  # the table keys it may mean: the key itself, or its near misses
    exact: bool = True
    kind_hint: str | None = None  # "epci", "commune"… read from a cue before it
    matched: str = ""  # the words as written in the text


@dataclass(slots=True)
class _Tok:
    folded: str
    start: int
    end: int
    capital: bool
    sentence_start: bool
    joined_prev: bool  # attached to the previous token by "-" or "'"
    broken: bool = False  # punctuation (",", "(", ";"…) between it and the previous token


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    prev_end = -1
    # in mixed-case text, a word in capitals is an acronym or a brand ("COEX", "ESCALE")
    shouting = not any(c.islower() for c in text)
    for m in _TOKEN.finditer(text):
        raw = m.group(0)
        folded = fold(raw)
        if not folded:
            continue
        between = text[prev_end : m.start()] if prev_end >= 0 else ""
        # a list item ("; Charge mentale", "• Plan …") starts like a sentence
        sentence_start = prev_end < 0 or bool(re.search(r"[.!?:;\n•→·]", between))
        joined = prev_end >= 0 and between in ("-", "'", "’")
        broken = prev_end >= 0 and not joined and bool(between.strip())
        for i, part in enumerate(folded.split()):
            toks.append(
                _Tok(
                    folded=ABBREV.get(part, part),
                    start=m.start(),
                    end=m.end(),
                    capital=raw[:1].isupper() and (shouting or not raw.isupper() or len(raw) < 3),
                    sentence_start=sentence_start and i == 0,
                    joined_prev=joined or i > 0,
                    broken=broken and i == 0,
                )
            )
        prev_end = m.end()
    return toks


def _cue_before(toks: list[_Tok], i: int) -> tuple[bool, bool]:
    """(strong cue, weak cue) right before token i, in the same clause: "la région…),
    contre 24 %" has no cue for "contre"."""
    first = max(0, i - 3)
    for k in range(i, first, -1):
        if k < len(toks) and toks[k].broken:
            first = k
            break
    words = [t.folded for t in toks[first:i]]
    tail = " ".join(words)
    strong = any(tail == c or tail.endswith(" " + c) for c in _STRONG_CUES)
    if strong and words[-1] in _EN_CUES and i < len(toks):
        strong = toks[i].folded not in _EN_FUNCTION_WORDS
    weak = bool(words) and words[-1] in _WEAK_CUES
    return strong, weak


def _near_phrases(toks: list[_Tok]) -> set[int]:
    """Indices of the tokens that make up a "près de", "à côté de"… phrase."""
    folded = [t.folded for t in toks]
    inside: set[int] = set()
    for cue in _NEAR_CUES:
        words = cue.split()
        for i in range(len(folded) - len(words) + 1):
            if folded[i : i + len(words)] == words:
                inside.update(range(i, i + len(words)))
    return inside


def _kind_cue(toks: list[_Tok], i: int) -> str | None:
    words = [t.folded for t in toks[max(0, i - 4) : i]]
    while words and words[-1] in ("de", "du", "des", "d", "l", "la", "le", "les"):
        words.pop()
    for cue, kind in KIND_CUES:
        if len(words) >= len(cue) and tuple(words[-len(cue) :]) == cue:
            return kind
    return None


def _accept(
    table: NameTable, toks: list[_Tok], start: int, end: int, key: str, n_texts: int, pop: int
) -> bool:
    """Whether the words ``toks[start:end]``, a name of the table (best population
    ``pop``), are a place in this text and not a common word, a title or a first name."""
    span = toks[start:end]
    # never cut through a hyphenated name ("Lons" in "Lons-le-Saulnier")
    if span[0].joined_prev or (end < len(toks) and toks[end].joined_prev):
        return False
    words = [t for t in key.split() if t not in ARTICLES]
    if (end < len(toks) and toks[end].folded.startswith("europ")) and key.endswith("union"):
        return False  # "l'Union européenne" is not L'Union (Haute-Garonne)
    strong, weak = _cue_before(toks, start)
    if strong:
        return True
    capital = any(t.capital and t.folded not in ARTICLES for t in span)
    mid_capital = capital and not span[0].sentence_start
    whole = capital and end - start == n_texts  # a short answer that is only the name
    hyphenated = end - start > 1 and all(t.joined_prev for t in span[1:])
    if hyphenated and capital:  # "Fort-de-France", "Plan-de-Cuques"
        return True
    # Without a cue, a capital alone is weak evidence: titles, first names, brands and
    # list items are capitalised too ("le Plan France Très Haut Débit", "Pierre
    # Morel", "un partenariat avec Orange"): small places need a cue.
    if all(w in COMMON for w in words) or len(key) <= 2:
        # "à Orange", "de La Réunion": yes; "la mesure 50 du Plan Eau": no
        prev = toks[start - 1].folded if start > 0 and not span[0].broken else ""
        located = prev in _LOCATIVE_CUES or (weak and pop >= 50_000)
        return (mid_capital and located) or whole
    if key in table.alias_keys and len(words) == 1:
        # "Havre" for "Le Havre": capitalised, or after a contracted article ("au havre")
        contracted = start > 0 and toks[start - 1].folded in ("au", "du", "aux", "des")
        return (mid_capital and (weak or pop >= 5_000)) or whole or (contracted and pop >= 20_000)
    if len(words) > 1:  # "trois domaines", "savoir faire": a cue or a capital, please
        return capital or weak or pop >= 20_000
    if mid_capital:
        return weak or pop >= 5_000
    if capital:
        return whole or pop >= 5_000
    return (weak and pop >= 5_000) or pop >= 50_000


def _scan(table: NameTable, toks: list[_Tok]) -> list[PlacePhrase]:
    matches: list[PlacePhrase] = []
    n = len(toks)
    for i in range(n):
        for j in range(min(n, i + table.max_tokens), i, -1):
            key = " ".join(t.folded for t in toks[i:j])
            pop = table.top_population(key)
            if pop is not None and _accept(table, toks, i, j, key, n, pop):
                matches.append(PlacePhrase(i, j, key, (key,)))
                break
    # near misses: a hyphenated group or a capitalised word not sentence-initial
    covered = {k for m in matches for k in range(m.start, m.end)}
    i = 0
    while i < n:
        j = i + 1
        while j < n and toks[j].joined_prev:
            j += 1
        group = range(i, j)
        strong, weak = _cue_before(toks, i)
        whole = i == 0 and j == n
        eligible = toks[i].capital and (j - i > 1 or whole)
        if j - i == 2 and toks[i].folded in ARTICLES and not toks[i + 1].capital:
            eligible = False  # "L'offre" is not a misspelt Loffre; "L'Isle" may be
        key = " ".join(t.folded for t in toks[i:j])
        if all(w in COMMON for w in key.split()):
            eligible = strong = False
        if (eligible or strong) and not any(k in covered for k in group):
            near_misses = tuple(table.fuzzy_keys(key))
            if near_misses:
                matches.append(PlacePhrase(i, j, key, near_misses, exact=False))
        i = j
    # near misses spelled with spaces: "Lons le Saulnier" (a connector inside the name)
    for i in range(n):
        if not toks[i].capital or toks[i].folded in ARTICLES:
            continue
        strong, weak = _cue_before(toks, i)
        if not (strong or weak or i == 0):
            continue
        for j in range(min(n, i + 4), i + 1, -1):
            inner = [t.folded for t in toks[i + 1 : j - 1]]
            if not inner or not any(w in _CONNECTORS for w in inner):
                continue
            key = " ".join(t.folded for t in toks[i:j])
            if table.top_population(key) is not None or len(key) < 8:
                continue
            near_misses = tuple(table.fuzzy_keys(key))
            if near_misses:
                matches.append(PlacePhrase(i, j, key, near_misses, exact=False))
                break
    for m in matches:
        m.kind_hint = _kind_cue(toks, m.start)
    return matches


def find_places(text: str, table: NameTable) -> list[PlacePhrase]:
    """The place phrases of ``text``, in text order: the longest that do not overlap (exact
    before near misses), landmarks after "près de", "à côté de"… left out."""
    toks = _tokens(text)
    if not toks:
        return []
    matches = _scan(table, toks)
    # keep the longest non-overlapping matches (exact before fuzzy)
    matches.sort(key=lambda m: (-(m.end - m.start), not m.exact, m.start))
    chosen: list[PlacePhrase] = []
    used: set[int] = set()
    for m in matches:
        if any(k in used for k in range(m.start, m.end)):
            continue
        chosen.append(m)
        used.update(range(m.start, m.end))
    chosen.sort(key=lambda m: m.start)
    # "près de Lyon": a landmark, not the asker's territory ("à côté de" is not La Côte)
    near = _near_phrases(toks)
    chosen = [
        m
        for m in chosen
        if not near.intersection(range(m.start, m.end))
        and not (m.start - 1 in near and not toks[m.start].broken)
    ]
    for m in chosen:
        m.matched = text[toks[m.start].start : toks[m.end - 1].end]
    return chosen


def dep_hints(text: str) -> list[str]:
    """Department codes written in the text: "(39)", "(2A)", an overseas "974"."""
    hints = [m.group(1) for m in re.finditer(r"\((2[AB]|\d{2,3})\)", text, re.IGNORECASE)]
    hints += re.findall(r"(?<![\d,.])\b(97[1-8])\b(?![\d,.])", text)
    return hints
