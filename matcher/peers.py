"""Peers: collectivités that already tried something close to a buyer's need.

``PeerService.find_peers(scope)`` ranks REX sheets (``Experience`` rows) by

* problem similarity (hybrid dense + BM25 through ``MatchService.search_experiences``),
* size-band proximity (same stratum best, one away fine, farther penalised; unknown neutral),
* same territory kind / competence level (bloc communal vs département vs région),
* geographic proximity (same département, else same région: a boost),
* recency (newer slightly better) and outcome (success *and* failure are useful;
  failures are kept and labelled; an unknown outcome ranks slightly lower),

then keeps the best sheet per collectivité (the others are summarised by a
``more_rex`` reason) and excludes the asker's own territory. It also proposes
"same need, let's talk" peers: open needs of other buyers of the same size band,
with similar text, whose owner agreed to share contact (``Person.share_contact``).

Every match carries :class:`~matcher.types.Reason` codes; the bot renders them
(``reason_<code>`` keys of the catalogue). :func:`describe_peer` renders one peer line
from the ``peer_*`` keys of :mod:`core.messages` (CLI, API, logs, chat).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from core.config import Settings
from core.db import Database
from core.domain import (
    SIZE_BAND_ORDER,
    NeedStatus,
    Outcome,
    SizeBand,
    TerritoryKind,
    band_distance,
    fold,
    shorten,
    size_band,
    size_band_value,
)
from core.messages import MESSAGES, t
from core.models import ChatIdentity, Experience, Need, Person, Territory
from matcher.service import MatchService, QueryError, citable_terms
from matcher.text import tokenize, without_place
from matcher.types import PeerMatch, Reason, Scope

__all__ = [
    "PeerService",
    "PeerWeights",
    "collectivite_key",
    "competence_level",
    "dep_preposition",
    "describe_peer",
]

# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class PeerWeights:
    """Multiplicative factors applied to the problem similarity (tuned on the demo data)."""

    #: band distance -> factor; ``None`` (either side unknown) is neutral-ish.
    band: tuple[float, ...] = (1.0, 0.9, 0.72, 0.58, 0.5)
    band_unknown: float = 0.88
    same_kind: float = 1.0
    same_level: float = 0.95  # commune vs EPCI: both "bloc communal"
    other_level: float = 0.85
    kind_unknown: float = 0.93
    same_dep: float = 1.08
    same_region: float = 1.04
    #: recency: factor grows linearly from ``recency_min`` (``recency_floor_year`` or
    #: older) to 1.0 (this year); unknown period gets ``recency_unknown``.
    recency_min: float = 0.94
    recency_floor_year: int = 2012
    recency_unknown: float = 0.96
    outcome: tuple[tuple[str, float], ...] = (
        ("success", 1.0),
        ("failed", 1.0),
        ("stopped", 0.99),
        ("ongoing", 0.97),
        ("unknown", 0.93),
    )
    #: REX below this share of the best fused (dense + BM25) score are not proposed. A
    #: relative cut, not an absolute cosine: e5 cosines of a paraphrased need and its REX
    #: (median 0.71) overlap those of unrelated pairs. Chosen on three folds of
    #: data/bench/peers_paraphrases.jsonl (plateau 0.4-0.8), reported on the other two
    #: (`piu bench peers --queries`).
    min_relative_similarity: float = 0.6
    #: "same need" peers need at least this absolute dense similarity (e5 cosine).
    min_need_dense: float = 0.84
    #: Size first: peers at most this many bands away are shown; farther ones only when
    #: no nearer relevant peer exists, with their size as a caveat.
    near_bands: int = 1
    candidates: int = 60


_LEVEL = {
    TerritoryKind.COMMUNE.value: "bloc_communal",
    TerritoryKind.EPCI.value: "bloc_communal",
    TerritoryKind.EPT.value: "bloc_communal",
    TerritoryKind.DEPARTEMENT.value: "departement",
    TerritoryKind.REGION.value: "region",
}


def competence_level(kind: str | None) -> str | None:
    """The competence level of a territory kind (commune, EPCI and EPT share one)."""
    return _LEVEL.get(str(kind)) if kind else None


_YEAR = re.compile(r"(19|20)\d{2}")


def _year(value: str | None) -> int | None:
    if not value:
        return None
    match = _YEAR.search(value)
    return int(match.group(0)) if match else None


def _period(exp: Experience) -> tuple[int | None, str | None]:
    """(reference year for recency, display period like "2019–2021")."""
    start, end = _year(exp.period_start), _year(exp.period_end)
    if start and end and end != start:
        return end, f"{start}–{end}"
    year = end or start
    return year, (str(year) if year else None)


# --------------------------------------------------------------------------- service


class PeerService:
    """Ranks REX and the collectivités behind them for a buyer's scope."""

    def __init__(
        self,
        db: Database,
        service: MatchService,
        settings: Settings,
        *,
        weights: PeerWeights | None = None,
    ) -> None:
        self.db = db
        self.service = service
        self.settings = settings
        self.weights = weights or PeerWeights()
        self._names: dict[tuple[str, str], str] | None = None

    # -- names of départements / régions (loaded once) -------------------------
    def _area_names(self) -> dict[tuple[str, str], str]:
        if self._names is None:
            with self.db.session() as session:
                rows = session.execute(
                    select(Territory.kind, Territory.code, Territory.name).where(
                        Territory.kind.in_([TerritoryKind.DEPARTEMENT, TerritoryKind.REGION])
                    )
                )
                self._names = {(str(k), c): n for k, c, n in rows}
        return self._names

    def dep_name(self, code: str | None) -> str | None:
        return self._area_names().get((TerritoryKind.DEPARTEMENT.value, code)) if code else None

    def region_name(self, code: str | None) -> str | None:
        return self._area_names().get((TerritoryKind.REGION.value, code)) if code else None

    # -- public API -------------------------------------------------------------
    def find_peers(
        self,
        scope: Scope,
        *,
        top: int = 3,
        need_id: int | None = None,
        exclude_territory: bool = True,
        need_top: int = 1,
        requester_id: int | None = None,
    ) -> list[PeerMatch]:
        """REX peers (at most ``top``, best first) then "same need" peers (at most ``need_top``).

        ``need_id`` is the asker's own need (never proposed back, nor REX created from
        it); ``requester_id`` the asker (their own needs are skipped).
        """
        # the asker's own place is in the scope; as words it would only find its namesakes
        scope = dataclasses.replace(scope, text=without_place(scope.text, scope.territory_name))
        try:
            hits = self.service.search_experiences(
                scope.text, top=self.weights.candidates, language=scope.language
            )
        except QueryError:
            return []
        peers = self._rex_peers(scope, hits, top, need_id, exclude_territory)
        if need_top > 0:
            qvec = self.service.query_vector(scope.text)
            peers += self._need_peers(scope, qvec, need_top, need_id, requester_id)
        return peers

    # -- REX ----------------------------------------------------------------------
    def _rex_peers(
        self,
        scope: Scope,
        hits: list[tuple[int, float]],
        top: int,
        need_id: int | None,
        exclude_territory: bool,
    ) -> list[PeerMatch]:
        if not hits or top <= 0:
            return []
        w = self.weights
        best = max(score for _, score in hits) or 1.0
        # Rounded, so that floating-point noise near a cut or a tie cannot flip the answer.
        relative = [(i, round(s / best, 4)) for i, s in hits]
        hits = [(i, r) for i, r in relative if r >= w.min_relative_similarity]
        if not hits:
            return []
        asker_band = scope.size_band or size_band_value(scope.population)
        this_year = dt.date.today().year
        query_terms = citable_terms(scope.text, scope)
        with self.db.session() as session:
            rows = {
                e.id: e
                for e in session.scalars(
                    select(Experience).where(Experience.id.in_([i for i, _ in hits]))
                )
            }
            chat_people = _chat_people(
                session, [e.contact_person_id for e in rows.values() if e.contact_person_id]
            )
            scored: list[tuple[float, Experience, list[Reason]]] = []
            for exp_id, similarity in hits:
                exp = rows.get(exp_id)
                if exp is None:
                    continue
                if need_id is not None and exp.need_id == need_id:
                    continue
                if exclude_territory and _same_territory(scope, exp):
                    continue
                factor, reasons = self._factors(scope, exp, asker_band, this_year)
                scored.append((round(similarity * factor, 4), exp, reasons))
            scored.sort(key=lambda item: (-item[0], item[1].id))

            groups: dict[str, list[tuple[float, Experience, list[Reason]]]] = {}
            for item in scored:
                groups.setdefault(collectivite_key(item[1]), []).append(item)
            ordered = sorted(groups.values(), key=lambda g: (-g[0][0], g[0][1].id))
            near = [g for g in ordered if not self._far(asker_band, g[0][1])]
            ranked = (near or ordered)[:top]

            out: list[PeerMatch] = []
            for group in ranked:
                score, exp, reasons = group[0]
                year, period = _period(exp)
                out.append(
                    PeerMatch(
                        experience_id=exp.id,
                        territory_name=exp.territory_name or exp.organisation_name,
                        territory_kind=exp.territory_kind,
                        population=exp.population,
                        score=round(score, 4),
                        title=exp.title,
                        outcome=str(exp.outcome),
                        period=period,
                        reasons=self._rex_reasons(
                            exp, year, reasons, group[1:], query_terms, asker_band
                        ),
                        contact_available=bool(exp.contact_consent)
                        or (exp.contact_person_id in chat_people),
                    )
                )
        return out

    def _far(self, asker_band: str | None, exp: Experience) -> bool:
        """More than ``near_bands`` size bands between the asker and this REX's collectivité."""
        distance = band_distance(asker_band, size_band_value(exp.population))
        return distance is not None and distance > self.weights.near_bands

    def _factors(
        self, scope: Scope, exp: Experience, asker_band: str | None, this_year: int
    ) -> tuple[float, list[Reason]]:
        """The ranking factor of one REX for this scope, and the reasons it produced."""
        w = self.weights
        reasons: list[Reason] = []
        factor = 1.0

        peer_band = size_band_value(exp.population)
        distance = band_distance(asker_band, peer_band)
        if distance is None:
            factor *= w.band_unknown
        else:
            factor *= w.band[min(distance, len(w.band) - 1)]
            if distance <= 1:
                reasons.append(Reason("size_band", {"band": peer_band, "same": distance == 0}))

        asker_level, peer_level = (
            competence_level(scope.territory_kind),
            competence_level(exp.territory_kind),
        )
        if asker_level is None or peer_level is None:
            factor *= w.kind_unknown
        elif scope.territory_kind == exp.territory_kind:
            factor *= w.same_kind
            reasons.append(Reason("same_kind", {"kind": exp.territory_kind}))
        elif asker_level == peer_level:
            factor *= w.same_level
        else:
            factor *= w.other_level

        if scope.dep and exp.dep and scope.dep == exp.dep:
            factor *= w.same_dep
            reasons.append(Reason("same_dep", {"dep_name": self.dep_name(exp.dep) or exp.dep}))
        elif scope.region and exp.region and scope.region == exp.region:
            factor *= w.same_region
            reasons.append(
                Reason(
                    "same_region",
                    {"region_name": self.region_name(exp.region) or exp.region},
                )
            )

        year, _ = _period(exp)
        if year is None:
            factor *= w.recency_unknown
        else:
            span = max(1, this_year - w.recency_floor_year)
            fresh = min(1.0, max(0.0, (year - w.recency_floor_year) / span))
            factor *= w.recency_min + (1.0 - w.recency_min) * fresh

        factor *= dict(w.outcome).get(str(exp.outcome), dict(w.outcome)["unknown"])
        return factor, reasons

    def _rex_reasons(
        self,
        exp: Experience,
        year: int | None,
        fit_reasons: list[Reason],
        others: list[tuple[float, Experience, list[Reason]]],
        query_terms: dict[str, str],
        asker_band: str | None,
    ) -> list[Reason]:
        reasons = [
            Reason(
                "peer_profile",
                {
                    "kind": exp.territory_kind,
                    "name": exp.territory_name or exp.organisation_name,
                    "population": exp.population,
                    "dep_name": self.dep_name(exp.dep),
                    "region_name": self.region_name(exp.region),
                },
            ),
            Reason("tried", {"title": exp.title, "year": year}),
            Reason("outcome", {"outcome": str(exp.outcome)}),
        ]
        doc_tokens = set(tokenize(exp.index_text()))
        shared = sorted(
            (word for token, word in query_terms.items() if token in doc_tokens),
            key=len,
            reverse=True,
        )
        if shared:
            reasons.append(Reason("words", {"terms": shared[:4]}))
        reasons.extend(fit_reasons)
        peer_band = size_band(exp.population)
        if asker_band is not None and peer_band is not None and self._far(asker_band, exp):
            larger = SIZE_BAND_ORDER.index(peer_band) > SIZE_BAND_ORDER.index(SizeBand(asker_band))
            reasons.append(Reason("size_caveat", {"population": exp.population, "larger": larger}))
        if exp.lessons and exp.outcome in (Outcome.FAILED, Outcome.STOPPED, Outcome.SUCCESS):
            reasons.append(Reason("lessons", {"text": shorten(exp.lessons, 200)}))
        if others:
            reasons.append(
                Reason(
                    "more_rex",
                    {
                        "n": len(others),
                        "titles": [o[1].title for o in others[:3]],
                        "experience_ids": [o[1].id for o in others],
                    },
                )
            )
        return reasons

    # -- same need, let's talk ----------------------------------------------------
    def _need_peers(
        self,
        scope: Scope,
        qvec,  # type: ignore[no-untyped-def]
        need_top: int,
        need_id: int | None,
        requester_id: int | None,
    ) -> list[PeerMatch]:
        asker_band = scope.size_band or size_band_value(scope.population)
        try:
            hits = self.service.search_needs(
                scope.text, top=self.weights.candidates, language=scope.language
            )
        except QueryError:
            return []
        hits = [(i, s) for i, s in hits if i != need_id]
        if not hits:
            return []
        dense = self.service.store.similarity("need", qvec, [i for i, _ in hits])
        hits = [(i, s) for i, s in hits if dense.get(i, 0.0) >= self.weights.min_need_dense]
        if not hits:
            return []
        out: list[PeerMatch] = []
        seen_owners: set[int] = set()
        with self.db.session() as session:
            needs = {
                n.id: n
                for n in session.scalars(
                    select(Need).where(
                        Need.id.in_([i for i, _ in hits]), Need.status == NeedStatus.OPEN
                    )
                )
            }
            owners = {
                p.id: p
                for p in session.scalars(
                    select(Person).where(
                        Person.id.in_({n.owner_id for n in needs.values() if n.owner_id})
                    )
                )
            }
            chat_people = _chat_people(session, list(owners))
            for nid, similarity in hits:
                need = needs.get(nid)
                if need is None or need.owner_id is None:
                    continue
                owner = owners.get(need.owner_id)
                if owner is None or not owner.share_contact:
                    continue
                if need.owner_id == requester_id or need.owner_id in seen_owners:
                    continue
                if scope.territory_code and need.territory_code == scope.territory_code:
                    continue
                need_band = need.size_band or size_band_value(need.population)
                if asker_band is not None and need_band != asker_band:
                    continue
                seen_owners.add(need.owner_id)
                reasons = [
                    Reason(
                        "peer_profile",
                        {
                            "kind": need.territory_kind,
                            "name": need.territory_name,
                            "population": need.population,
                            "dep_name": self.dep_name(need.dep),
                            "region_name": self.region_name(need.region),
                        },
                    ),
                    Reason(
                        "same_need",
                        {"text": shorten(need.raw_text, 140), "band": need_band},
                    ),
                ]
                if need_band:
                    reasons.append(Reason("size_band", {"band": need_band, "same": True}))
                if scope.dep and need.dep == scope.dep:
                    reasons.append(
                        Reason("same_dep", {"dep_name": self.dep_name(need.dep) or need.dep})
                    )
                elif scope.region and need.region == scope.region:
                    reasons.append(
                        Reason(
                            "same_region",
                            {"region_name": self.region_name(need.region) or need.region},
                        )
                    )
                out.append(
                    PeerMatch(
                        experience_id=None,
                        territory_name=need.territory_name,
                        territory_kind=need.territory_kind,
                        population=need.population,
                        score=round(similarity, 4),
                        title=shorten(need.raw_text, 140),
                        outcome=Outcome.ONGOING.value,
                        period=need.created_at.date().isoformat() if need.created_at else None,
                        reasons=reasons,
                        need_id=need.id,
                        contact_available=owner.id in chat_people,
                    )
                )
                if len(out) >= need_top:
                    break
        return out


# --------------------------------------------------------------------------- helpers


def _chat_people(session, person_ids: Iterable[int | None]) -> set[int]:  # type: ignore[no-untyped-def]
    """The subset of ``person_ids`` reachable in chat (with at least one identity)."""
    ids = {i for i in person_ids if i is not None}
    if not ids:
        return set()
    return set(
        session.scalars(
            select(ChatIdentity.person_id).where(ChatIdentity.person_id.in_(ids)).distinct()
        )
    )


def _same_territory(scope: Scope, exp: Experience) -> bool:
    if not scope.territory_code or not exp.territory_code:
        if scope.territory_name and exp.territory_name:
            return fold(scope.territory_name) == fold(exp.territory_name) and (
                not scope.territory_kind
                or not exp.territory_kind
                or scope.territory_kind == exp.territory_kind
            )
        return False
    if scope.territory_code != exp.territory_code:
        return False
    # Codes of départements and régions overlap ("11" is Aude and Île-de-France).
    return not (scope.territory_kind and exp.territory_kind) or (
        scope.territory_kind == exp.territory_kind
    )


def collectivite_key(exp: Experience) -> str:
    """A REX's collectivité: "<kind>:<code>", else "name:<folded name>", else the REX."""
    if exp.territory_code:
        return f"{exp.territory_kind or '?'}:{exp.territory_code}"
    name = exp.territory_name or exp.organisation_name
    if name:
        return f"name:{fold(name)}"
    return f"rex:{exp.id}"


# --------------------------------------------------------------------------- rendering


def _format_population(population: int, lang: str) -> str:
    if lang == "en":
        return f"{population:,}"
    return f"{population:,}".replace(",", "\u00a0")


_PLURAL = ("Alpes", "Hautes-", "Hauts-", "Bouches-", "Côtes-", "Deux-", "Pyrénées")
_PLURAL_NAMES = {"Ardennes", "Landes", "Vosges", "Yvelines"}
_MASCULINE = {
    "Calvados", "Cantal", "Cher", "Doubs", "Finistère", "Gard", "Gers", "Jura",
    "Loir-et-Cher", "Loiret", "Lot", "Morbihan", "Nord", "Pas-de-Calais", "Puy-de-Dôme",
    "Bas-Rhin", "Haut-Rhin", "Rhône", "Tarn", "Tarn-et-Garonne", "Var", "Vaucluse",
    "Territoire de Belfort", "Val-de-Marne", "Val-d'Oise",
}  # fmt: skip
_FEMININE_LA = {
    "Loire", "Manche", "Marne", "Meuse", "Nièvre", "Sarthe", "Somme", "Vienne", "Creuse",
    "Drôme",
}  # fmt: skip
_VOWEL_EN = {
    "Ardèche", "Ariège", "Isère", "Essonne", "Eure-et-Loir", "Ille-et-Vilaine", "Indre-et-Loire",
}  # fmt: skip
_AT = {"Paris", "La Réunion", "Mayotte"}


def dep_preposition(dep_name: str) -> str:
    """French "in <département>": "dans le Jura", "en Savoie", "dans l'Ain", "dans les Landes"."""
    name = dep_name.strip()
    if name in _AT:
        return f"à {name}"
    if name.startswith("Métropole"):
        return f"dans la {name}"
    if name in _PLURAL_NAMES or name.startswith(_PLURAL):
        return f"dans les {name}"
    if name in _MASCULINE:
        return f"dans le {name}"
    if name in _FEMININE_LA:
        return f"dans la {name}"
    if name in _VOWEL_EN:
        return f"en {name}"
    if fold(name[:1]) in ("a", "e", "i", "o", "u", "y", "h"):
        return f"dans l'{name}"
    return f"en {name}"


def describe_peer(peer: PeerMatch, lang: str = "fr") -> str:
    """One line about a peer, e.g. "commune de 15 000 habitants dans le Jura (Lons-le-Saunier) ;
    a testé « … » en 2021 ; résultat : échec (retour utile)"."""
    lang = "en" if lang == "en" else "fr"
    by_code: dict[str, Reason] = {}
    for reason in peer.reasons:
        by_code.setdefault(reason.code, reason)
    profile = by_code.get("peer_profile")
    params = profile.params if profile else {}
    kind = params.get("kind") or peer.territory_kind
    who = t(f"peer_kind_{kind}" if f"peer_kind_{kind}" in MESSAGES else "peer_kind_unknown", lang)
    population = params.get("population", peer.population)
    if population:
        who += t("peer_population", lang, population=_format_population(int(population), lang))
    dep_name = params.get("dep_name")
    if dep_name and kind not in ("departement", "region"):
        who += t("peer_where", lang, prep=dep_preposition(dep_name), dep_name=dep_name)
    name = params.get("name") or peer.territory_name
    if name:
        who += t("peer_name", lang, name=name)
    parts = [who]
    if peer.need_id is not None and "same_need" in by_code:
        parts.append(t("peer_same_need", lang, text=by_code["same_need"].params.get("text", "")))
    else:
        tried = by_code.get("tried")
        title = tried.params.get("title") if tried else peer.title
        year = tried.params.get("year") if tried else None
        if year:
            parts.append(t("peer_tried_year", lang, title=title, year=year))
        else:
            parts.append(t("peer_tried", lang, title=title))
        outcome_key = f"peer_outcome_{peer.outcome}"
        if outcome_key not in MESSAGES:
            outcome_key = "peer_outcome_unknown"
        parts.append(t("peer_outcome", lang, outcome=t(outcome_key, lang)))
    if "size_caveat" in by_code:
        caveat = by_code["size_caveat"].params
        key = "reason_size_caveat_larger" if caveat.get("larger") else "reason_size_caveat_smaller"
        population = _format_population(int(caveat.get("population") or 0), lang)
        parts.append(t(key, lang, population=population))
    if "same_dep" in by_code:
        parts.append(t("peer_same_dep", lang))
    elif "same_region" in by_code:
        parts.append(t("peer_same_region", lang))
    if "more_rex" in by_code:
        parts.append(t("peer_more_rex", lang, n=by_code["more_rex"].params.get("n", 0)))
    return t("peer_sep", lang).join(parts)
