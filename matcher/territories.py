"""Find French territories in names and free text (in memory, built once from the DB).

``TerritoryResolver.from_session(session)`` loads the ~36k territories once; then
``resolve("St-Denis")`` returns candidates best-first and ``find_in_text(sentence)``
finds the territory a user talks about ("je suis adjointe au maire de Lons-le-Saunier"),
or the list of homonyms to ask about ("Saint-Denis": Seine-Saint-Denis or La Réunion?).

Matching ignores accents, case, hyphens and apostrophes; "St"/"Ste" = Saint/Sainte;
leading articles are optional ("Havre"); names of 6+ letters tolerate one typo. In free
text, names that are also common words ("Plus", "Vie", "Mer", "Cher"…) only match when
written with a capital (not at the start of a sentence) or after a cue ("mairie de").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.domain import fold, size_band
from core.messages import MESSAGES, t
from core.models import Territory

KIND_RANK = {"commune": 0, "ept": 1, "epci": 2, "departement": 3, "region": 4}

_ARTICLES = ("le", "la", "les", "l")
_ABBREV = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}

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
_KIND_CUES: list[tuple[tuple[str, ...], str]] = [
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
_EPCI_PREFIX = {"ca", "cc", "cu", "metropole", "communaute"}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_DEP_HINT = re.compile(r"\(?\b(2[AB]|97[1-8]|98[4-9]|0?[1-9]|[1-8]\d|9[0-5])\b\)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A territory as the chat layers need it."""

    kind: str
    code: str
    name: str
    population: int | None
    size_band: str | None
    dep: str | None
    dep_name: str | None
    region: str | None
    region_name: str | None
    epci: str | None
    epci_name: str | None
    subtype: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class Resolution:
    """What ``find_in_text`` found: one territory, several homonyms, or nothing."""

    status: str  # "found" | "ambiguous" | "none"
    candidate: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    matched: str | None = None  # the words of the text that matched

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def ambiguous(self) -> bool:
        return self.status == "ambiguous"


@dataclass(slots=True)
class _Tok:
    folded: str
    start: int
    end: int
    capital: bool
    sentence_start: bool
    joined_prev: bool  # attached to the previous token by "-" or "'"
    broken: bool = False  # punctuation (",", "(", ";"…) between it and the previous token


@dataclass(slots=True)
class _Match:
    start: int  # token index
    end: int  # exclusive
    key: str
    candidates: list[Candidate]
    exact: bool = True
    kind_hint: str | None = None


def _key_tokens(text: str) -> list[str]:
    return [_ABBREV.get(t, t) for t in fold(text).split()]


def normalise(name: str) -> str:
    """The lookup key of a name: folded, St→Saint, single spaces."""
    return " ".join(_key_tokens(name))


def _within_one(a: str, b: str) -> bool:
    """Levenshtein distance between a and b is at most 1."""
    la, lb = len(a), len(b)
    if la > lb:
        a, b, la, lb = b, a, lb, la
    if lb - la > 1:
        return False
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


class TerritoryResolver:
    """In-memory index of territory names; build once, share across requests."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self.by_code: dict[tuple[str, str], Candidate] = {}
        self.index: dict[str, list[Candidate]] = {}
        self.alias_keys: set[str] = set()  # keys that are aliases (article dropped…)
        self.max_tokens = 1
        for cand in candidates:
            self.by_code[(cand.kind, cand.code)] = cand
        for cand in self.by_code.values():
            for key, alias in self._keys_for(cand):
                self._add(key, cand, alias)
        self._add_special()
        # an alias ("lyon" from "Métropole de Lyon") never competes with a real name
        for key in list(self.alias_keys):
            exact = [c for c in self.index[key] if normalise(c.name) == key]
            if not exact:
                continue
            aliases = [c for c in self.index[key] if c not in exact]
            top_exact = max(c.population or 0 for c in exact)
            top_alias = max((c.population or 0 for c in aliases), default=0)
            if top_exact * 10 >= top_alias:  # "Lyon" the commune, not the Métropole
                self.index[key] = exact
                self.alias_keys.discard(key)
            # else keep both ("Aix": Aix-en-Provence beats the village of Aix)
        for cands in self.index.values():
            cands.sort(key=self._rank)
        self._fuzzy: dict[tuple[int, str], list[str]] = {}
        for key in self.index:
            if len(key.replace(" ", "")) >= 6:
                self._fuzzy.setdefault((len(key), key[0]), []).append(key)
                self._fuzzy.setdefault((len(key), "$" + key[-1]), []).append(key)

    # ---------------------------------------------------------------- building

    @classmethod
    def from_session(cls, session: Session) -> TerritoryResolver:
        t = Territory
        rows = session.execute(
            select(
                t.kind,
                t.code,
                t.name,
                t.population,
                t.dep,
                t.dep_name,
                t.region,
                t.region_name,
                t.epci,
                t.epci_name,
                t.subtype,
            )
        )
        return cls(cls._candidate(*row) for row in rows)

    @staticmethod
    def _candidate(
        kind: Any,
        code: str,
        name: str,
        population: int | None,
        dep: str | None,
        dep_name: str | None,
        region: str | None,
        region_name: str | None,
        epci: str | None,
        epci_name: str | None,
        subtype: str | None,
    ) -> Candidate:
        kind = str(kind)
        name = " ".join(name.split())
        if kind == "departement":
            dep, dep_name = dep or code, dep_name or name
        if kind == "region":
            region, region_name = region or code, region_name or name
        if kind in ("epci", "ept"):
            epci, epci_name = code, name
        return Candidate(
            kind=kind,
            code=code,
            name=name,
            population=population,
            size_band=(band.value if (band := size_band(population)) else None),
            dep=dep,
            dep_name=dep_name,
            region=region,
            region_name=region_name,
            epci=epci,
            epci_name=" ".join(epci_name.split()) if epci_name else None,
            subtype=subtype,
        )

    def _keys_for(self, cand: Candidate) -> Iterable[tuple[str, bool]]:
        key = normalise(cand.name)
        yield key, False
        tokens = key.split()
        if len(tokens) > 1 and tokens[0] in _ARTICLES:
            yield " ".join(tokens[1:]), True
        if (
            cand.kind == "commune"
            and (cand.population or 0) >= 30_000
            and len(tokens) > 1
            and tokens[0] not in ("saint", "sainte", *_ARTICLES)
            and len(tokens[0]) >= 3
        ):
            yield tokens[0], True  # "Boulogne", "Aix", "Châlons"
        if cand.kind in ("epci", "ept"):
            # "CA ECLA (Espace Communautaire Lons Agglomération)" -> "ca ecla", "ecla", ...
            base = re.sub(r"\(.*?\)", " ", cand.name)
            inner = re.findall(r"\((.*?)\)", cand.name)
            for variant in [base, *inner]:
                vt = _key_tokens(variant)
                if not vt:
                    continue
                yield " ".join(vt), True
                while vt and (vt[0] in _EPCI_PREFIX or vt[0] in ("de", "du", "des", "d", "l")):
                    vt = vt[1:]
                    if vt and vt[0] in ("de", "du", "des", "d", "l", "la", "les", "le"):
                        continue
                    if vt:
                        yield " ".join(vt), True

    def _add(self, key: str, cand: Candidate, alias: bool) -> None:
        if not key:
            return
        bucket = self.index.setdefault(key, [])
        if cand not in bucket:
            bucket.append(cand)
        if alias and key != normalise(cand.name):
            self.alias_keys.add(key)
        elif not alias and key in self.alias_keys:
            pass  # resolved after loading: exact names win over aliases
        self.max_tokens = max(self.max_tokens, key.count(" ") + 1)

    def _add_special(self) -> None:
        """Names people use that the INSEE file spells differently."""
        lyon = self.by_code.get(("epci", "200046977"))
        if lyon:
            for k in ("grand lyon", "metropole lyonnaise", "metropole du grand lyon"):
                self._add(k, lyon, True)
        paris = self.by_code.get(("commune", "75056"))
        if paris:
            self._add("ville de paris", paris, True)
        d67, d68 = self.by_code.get(("departement", "67")), self.by_code.get(("departement", "68"))
        if d67 and d68:
            pop = (d67.population or 0) + (d68.population or 0)
            cea = Candidate(
                kind="departement",
                code="6AE",
                name="Collectivité européenne d'Alsace",
                population=pop,
                size_band=(band.value if (band := size_band(pop)) else None),
                dep="6AE",
                dep_name="Collectivité européenne d'Alsace",
                region=d67.region,
                region_name=d67.region_name,
                epci=None,
                epci_name=None,
                subtype="CEA",
            )
            self.by_code[("departement", "6AE")] = cea
            for k in ("collectivite europeenne d alsace", "alsace", "cea"):
                self._add(k, cea, k != "collectivite europeenne d alsace")
        corse = self.by_code.get(("region", "94"))
        if corse:
            self._add("collectivite de corse", corse, True)

    @staticmethod
    def _rank(c: Candidate) -> tuple[int, int]:
        return (-(c.population or 0), KIND_RANK.get(c.kind, 9))

    # ---------------------------------------------------------------- lookups

    def get(self, kind: str, code: str) -> Candidate | None:
        return self.by_code.get((kind, code))

    def epci_of(self, cand: Candidate) -> Candidate | None:
        if cand.kind == "commune" and cand.epci:
            return self.by_code.get(("epci", cand.epci))
        return None

    def _fuzzy_keys(self, key: str) -> list[str]:
        if len(key.replace(" ", "")) < 6:
            return []
        found: list[str] = []
        for length in (len(key) - 1, len(key), len(key) + 1):
            for bucket in ((length, key[0]), (length, "$" + key[-1])):
                for other in self._fuzzy.get(bucket, ()):
                    if other not in found and _within_one(key, other):
                        found.append(other)
        return found

    def resolve(self, name: str, *, fuzzy: bool = True) -> list[Candidate]:
        """Territories called ``name``, best first (exact names, then near misses)."""
        text = name.strip()
        hint_dep = None
        m = re.search(r"\((2[AB]|\d{2,3})\)\s*$", text, re.IGNORECASE)
        if m:
            hint_dep, text = m.group(1).upper(), text[: m.start()]
        key = normalise(text)
        kind_hint = None
        tokens = key.split()
        for cue, kind in _KIND_CUES:
            if tuple(tokens[: len(cue)]) == cue and len(tokens) > len(cue):
                rest = tokens[len(cue) :]
                while rest and rest[0] in ("de", "du", "des", "d", "l", "la", "le", "les"):
                    rest = rest[1:]
                if rest and " ".join(rest) in self.index and key not in self.index:
                    key, kind_hint = " ".join(rest), kind
                break
        cands = list(self.index.get(key, []))
        if not cands and fuzzy:
            for other in self._fuzzy_keys(key):
                cands.extend(c for c in self.index[other] if c not in cands)
            cands.sort(key=self._rank)
        if kind_hint:
            cands = self._apply_kind(cands, kind_hint)
        if hint_dep:
            narrowed = [c for c in cands if c.dep == hint_dep]
            cands = narrowed or cands
        return self._same_entity_first(cands)

    def _apply_kind(self, cands: list[Candidate], kind: str) -> list[Candidate]:
        if kind == "epci":
            out: list[Candidate] = [c for c in cands if c.kind in ("epci", "ept")]
            for c in cands:
                if c.kind == "commune" and (e := self.epci_of(c)) and e not in out:
                    out.append(e)
            return out or cands
        same = [c for c in cands if c.kind == kind]
        return same or cands

    @staticmethod
    def _same_entity_first(cands: list[Candidate]) -> list[Candidate]:
        """Paris commune/département, Martinique région/département: most local first."""
        if len(cands) < 2:
            return cands
        top = cands[0]
        twins = [
            c for c in cands if c.population == top.population and fold(c.name) == fold(top.name)
        ]
        if len(twins) < 2:
            return cands
        twins.sort(key=lambda c: KIND_RANK.get(c.kind, 9))
        return twins + [c for c in cands if c not in twins]

    # ---------------------------------------------------------------- free text

    def _tokens(self, text: str) -> list[_Tok]:
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
                        folded=_ABBREV.get(part, part),
                        start=m.start(),
                        end=m.end(),
                        capital=raw[:1].isupper()
                        and (shouting or not raw.isupper() or len(raw) < 3),
                        sentence_start=sentence_start and i == 0,
                        joined_prev=joined or i > 0,
                        broken=broken and i == 0,
                    )
                )
            prev_end = m.end()
        return toks

    def _cue_before(self, toks: list[_Tok], i: int) -> tuple[bool, bool]:
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

    @staticmethod
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

    def _kind_cue(self, toks: list[_Tok], i: int) -> str | None:
        words = [t.folded for t in toks[max(0, i - 4) : i]]
        while words and words[-1] in ("de", "du", "des", "d", "l", "la", "le", "les"):
            words.pop()
        for cue, kind in _KIND_CUES:
            if len(words) >= len(cue) and tuple(words[-len(cue) :]) == cue:
                return kind
        return None

    def _accept(self, toks: list[_Tok], start: int, end: int, key: str, n_texts: int) -> bool:
        span = toks[start:end]
        # never cut through a hyphenated name ("Lons" in "Lons-le-Saulnier")
        if span[0].joined_prev or (end < len(toks) and toks[end].joined_prev):
            return False
        words = [t for t in key.split() if t not in _ARTICLES]
        if (end < len(toks) and toks[end].folded.startswith("europ")) and key.endswith("union"):
            return False  # "l'Union européenne" is not L'Union (Haute-Garonne)
        strong, weak = self._cue_before(toks, start)
        if strong:
            return True
        capital = any(t.capital and t.folded not in _ARTICLES for t in span)
        mid_capital = capital and not span[0].sentence_start
        whole = capital and end - start == n_texts  # a short answer that is only the name
        cands = self.index.get(key) or []
        pop = (cands[0].population or 0) if cands else 0
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
        if key in self.alias_keys and len(words) == 1:
            # "Havre" for "Le Havre": capitalised, or after a contracted article ("au havre")
            contracted = start > 0 and toks[start - 1].folded in ("au", "du", "aux", "des")
            return (
                (mid_capital and (weak or pop >= 5_000)) or whole or (contracted and pop >= 20_000)
            )
        if len(words) > 1:  # "trois domaines", "savoir faire": a cue or a capital, please
            return capital or weak or pop >= 20_000
        if mid_capital:
            return weak or pop >= 5_000
        if capital:
            return whole or pop >= 5_000
        return (weak and pop >= 5_000) or pop >= 50_000

    def _scan(self, toks: list[_Tok]) -> list[_Match]:
        matches: list[_Match] = []
        n = len(toks)
        for i in range(n):
            for j in range(min(n, i + self.max_tokens), i, -1):
                key = " ".join(t.folded for t in toks[i:j])
                cands = self.index.get(key)
                if cands and self._accept(toks, i, j, key, n):
                    matches.append(_Match(i, j, key, cands))
                    break
        # near misses: a hyphenated group or a capitalised word not sentence-initial
        covered = {k for m in matches for k in range(m.start, m.end)}
        i = 0
        while i < n:
            j = i + 1
            while j < n and toks[j].joined_prev:
                j += 1
            group = range(i, j)
            strong, weak = self._cue_before(toks, i)
            whole = i == 0 and j == n
            eligible = toks[i].capital and (j - i > 1 or whole)
            if j - i == 2 and toks[i].folded in _ARTICLES and not toks[i + 1].capital:
                eligible = False  # "L'offre" is not a misspelt Loffre; "L'Isle" may be
            key = " ".join(t.folded for t in toks[i:j])
            if all(w in COMMON for w in key.split()):
                eligible = strong = False
            if (eligible or strong) and not any(k in covered for k in group):
                found: list[Candidate] = []
                for other in self._fuzzy_keys(key):
                    found.extend(c for c in self.index[other] if c not in found)
                if found:
                    found.sort(key=self._rank)
                    matches.append(_Match(i, j, key, found, exact=False))
            i = j
        # near misses spelled with spaces: "Lons le Saulnier" (a connector inside the name)
        for i in range(n):
            if not toks[i].capital or toks[i].folded in _ARTICLES:
                continue
            strong, weak = self._cue_before(toks, i)
            if not (strong or weak or i == 0):
                continue
            for j in range(min(n, i + 4), i + 1, -1):
                inner = [t.folded for t in toks[i + 1 : j - 1]]
                if not inner or not any(w in _CONNECTORS for w in inner):
                    continue
                key = " ".join(t.folded for t in toks[i:j])
                if key in self.index or len(key) < 8:
                    continue
                found = []
                for other in self._fuzzy_keys(key):
                    found.extend(c for c in self.index[other] if c not in found)
                if found:
                    found.sort(key=self._rank)
                    matches.append(_Match(i, j, key, found, exact=False))
                    break
        for m in matches:
            m.kind_hint = self._kind_cue(toks, m.start)
        return matches

    def find_in_text(self, text: str) -> Resolution:
        """The territory a sentence talks about (see module docstring)."""
        toks = self._tokens(text)
        if not toks:
            return Resolution("none")
        matches = self._scan(toks)
        if not matches:
            return Resolution("none")
        # keep the longest non-overlapping matches (exact before fuzzy)
        matches.sort(key=lambda m: (-(m.end - m.start), not m.exact, m.start))
        chosen: list[_Match] = []
        used: set[int] = set()
        for m in matches:
            if any(k in used for k in range(m.start, m.end)):
                continue
            chosen.append(m)
            used.update(range(m.start, m.end))
        chosen.sort(key=lambda m: m.start)
        # "près de Lyon": a landmark, not the asker's territory ("à côté de" is not La Côte)
        near = self._near_phrases(toks)
        chosen = [
            m
            for m in chosen
            if not near.intersection(range(m.start, m.end))
            and not (m.start - 1 in near and not toks[m.start].broken)
        ]
        if not chosen:
            return Resolution("none")

        deps = {h.upper().lstrip("0").zfill(2) for h in self._dep_hints(text)}
        context_deps: set[str] = set()
        context_regions: set[str] = set()
        for m in chosen:
            top = m.candidates[0]
            if top.kind in ("departement", "region"):
                for c in m.candidates:
                    if c.population != top.population:
                        continue
                    if c.kind == "departement" and c.dep:
                        context_deps.add(c.dep)
                    if c.kind in ("departement", "region") and c.region:
                        context_regions.add(c.region)

        def narrowed(m: _Match) -> list[Candidate]:
            cands = list(m.candidates)
            if m.kind_hint:
                cands = self._apply_kind(cands, m.kind_hint)
            for hint in (deps, context_deps):
                if hint and len(cands) > 1:
                    sub = [c for c in cands if c.dep in hint]
                    cands = sub or cands
            if context_regions and len(cands) > 1:
                sub = [c for c in cands if c.region in context_regions]
                cands = sub or cands
            return self._same_entity_first(sorted(cands, key=self._rank))

        def specificity(m: _Match) -> tuple[int, int, int]:
            cands = narrowed(m)
            kinds = min(KIND_RANK.get(c.kind, 9) for c in cands)
            # a kind cue ("communauté d'agglomération de …") makes a match the subject
            return (0 if m.kind_hint else 1, kinds, m.start)

        best = min(chosen, key=specificity)
        cands = narrowed(best)
        matched = text[toks[best.start].start : toks[best.end - 1].end]
        return self._decide(cands, matched)

    @staticmethod
    def _dep_hints(text: str) -> list[str]:
        hints = [m.group(1) for m in re.finditer(r"\((2[AB]|\d{2,3})\)", text, re.IGNORECASE)]
        hints += re.findall(r"(?<![\d,.])\b(97[1-8])\b(?![\d,.])", text)
        return hints

    @staticmethod
    def _decide(cands: list[Candidate], matched: str) -> Resolution:
        if not cands:
            return Resolution("none")
        top = cands[0]
        others = [
            c
            for c in cands[1:]
            if not (c.population == top.population and fold(c.name) == fold(top.name))
        ]
        if not others:
            return Resolution("found", top, cands, matched)
        second = others[0]
        if (top.population or 0) >= 10 * max(second.population or 0, 1):
            return Resolution("found", top, cands, matched)
        return Resolution("ambiguous", None, cands, matched)


# ---------------------------------------------------------------- wording


def _group(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def describe(candidate: Candidate, lang: str = "fr") -> str:
    """``commune de 16 618 habitants (Jura, Bourgogne-Franche-Comté)`` / English."""
    c = candidate
    where = [p for p in (c.dep_name, c.region_name) if p and p != c.name]
    where = list(dict.fromkeys(where))
    suffix = f" ({', '.join(where)})" if where else ""
    kind_key = f"terr_kind_{c.kind}"
    label = t(kind_key, lang) if kind_key in MESSAGES else c.kind
    if c.kind == "epci" and f"terr_epci_{c.subtype}" in MESSAGES:
        label = t(f"terr_epci_{c.subtype}", lang)
    if c.population is None:
        return f"{label}{suffix}"
    population = _group(c.population, "," if lang == "en" else " ")
    return t("terr_population", lang, label=label, population=population) + suffix
