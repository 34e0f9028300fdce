"""Find French territories in names and free text (in memory, built once from the DB).

``TerritoryResolver.from_session(session)`` loads the ~36k territories once; then
``resolve("St-Denis")`` returns candidates best-first and ``find_in_text(sentence)``
finds the territory a user talks about ("je suis adjointe au maire de Lons-le-Saunier"),
or the list of homonyms to ask about ("Saint-Denis": Seine-Saint-Denis or La Réunion?).

Matching ignores accents, case, hyphens and apostrophes; "St"/"Ste" = Saint/Sainte;
leading articles are optional ("Havre"); names of 6+ letters tolerate one typo. In free
text, :mod:`matcher.place_scan` finds the phrases that name a place (names that are also
common words, "Plus", "Vie", "Mer", "Cher"…, only when written with a capital, not at the
start of a sentence, or after a cue such as "mairie de"); this module decides which
territory they mean.
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
from matcher.place_scan import (
    ABBREV,
    ARTICLES,
    KIND_CUES,
    PlacePhrase,
    dep_hints,
    find_places,
)

KIND_RANK = {"commune": 0, "ept": 1, "epci": 2, "departement": 3, "region": 4}

_EPCI_PREFIX = {"ca", "cc", "cu", "metropole", "communaute"}


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


def _key_tokens(text: str) -> list[str]:
    return [ABBREV.get(t, t) for t in fold(text).split()]


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
        if len(tokens) > 1 and tokens[0] in ARTICLES:
            yield " ".join(tokens[1:]), True
        if (
            cand.kind == "commune"
            and (cand.population or 0) >= 30_000
            and len(tokens) > 1
            and tokens[0] not in ("saint", "sainte", *ARTICLES)
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

    def top_population(self, key: str) -> int | None:
        """Population of the best territory called ``key`` (0 if unknown); ``None`` when no
        territory is called ``key``."""
        cands = self.index.get(key)
        return (cands[0].population or 0) if cands else None

    def fuzzy_keys(self, key: str) -> list[str]:
        """The names within one typo of ``key`` (names of 6 letters or more)."""
        if len(key.replace(" ", "")) < 6:
            return []
        found: list[str] = []
        for length in (len(key) - 1, len(key), len(key) + 1):
            for bucket in ((length, key[0]), (length, "$" + key[-1])):
                for other in self._fuzzy.get(bucket, ()):
                    if other not in found and _within_one(key, other):
                        found.append(other)
        return found

    def _gather(self, keys: Iterable[str]) -> list[Candidate]:
        """The territories called by any of ``keys``, each once, best first."""
        cands: list[Candidate] = []
        for key in keys:
            cands.extend(c for c in self.index[key] if c not in cands)
        cands.sort(key=self._rank)
        return cands

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
        for cue, kind in KIND_CUES:
            if tuple(tokens[: len(cue)]) == cue and len(tokens) > len(cue):
                rest = tokens[len(cue) :]
                while rest and rest[0] in ("de", "du", "des", "d", "l", "la", "le", "les"):
                    rest = rest[1:]
                if rest and " ".join(rest) in self.index and key not in self.index:
                    key, kind_hint = " ".join(rest), kind
                break
        cands = list(self.index.get(key, []))
        if not cands and fuzzy:
            cands = self._gather(self.fuzzy_keys(key))
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

    def find_in_text(self, text: str) -> Resolution:
        """The territory a sentence talks about (see module docstring)."""
        found = [(phrase, self._gather(phrase.keys)) for phrase in find_places(text, self)]
        if not found:
            return Resolution("none")

        deps = {h.upper().lstrip("0").zfill(2) for h in dep_hints(text)}
        context_deps: set[str] = set()
        context_regions: set[str] = set()
        for _, phrase_cands in found:
            top = phrase_cands[0]
            if top.kind in ("departement", "region"):
                for c in phrase_cands:
                    if c.population != top.population:
                        continue
                    if c.kind == "departement" and c.dep:
                        context_deps.add(c.dep)
                    if c.kind in ("departement", "region") and c.region:
                        context_regions.add(c.region)

        def narrowed(phrase: PlacePhrase, phrase_cands: list[Candidate]) -> list[Candidate]:
            cands = list(phrase_cands)
            if phrase.kind_hint:
                cands = self._apply_kind(cands, phrase.kind_hint)
            for hint in (deps, context_deps):
                if hint and len(cands) > 1:
                    sub = [c for c in cands if c.dep in hint]
                    cands = sub or cands
            if context_regions and len(cands) > 1:
                sub = [c for c in cands if c.region in context_regions]
                cands = sub or cands
            return self._same_entity_first(sorted(cands, key=self._rank))

        def specificity(item: tuple[PlacePhrase, list[Candidate]]) -> tuple[int, int, int]:
            phrase = item[0]
            kinds = min(KIND_RANK.get(c.kind, 9) for c in narrowed(*item))
            # a kind cue ("communauté d'agglomération de …") makes a match the subject
            return (0 if phrase.kind_hint else 1, kinds, phrase.start)

        best = min(found, key=specificity)
        return self._decide(narrowed(*best), best[0].matched)

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
