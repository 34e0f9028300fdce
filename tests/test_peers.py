"""Peer ranking: size band, outcome labels, own territory, grouping, "same need" peers."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import Settings
from core.db import Database
from core.domain import NeedStatus, Outcome, Role
from core.models import ChatIdentity, Experience, Need, Person, Territory
from matcher.peers import PeerService, competence_level, dep_preposition, describe_peer
from matcher.types import PeerMatch, Reason, Scope

CANTINE = (
    "Réduire le gaspillage alimentaire dans les cantines scolaires : les familles "
    "décommandent les repas en ligne quand l'enfant est absent"
)
CANTINE_2 = (
    "Gaspillage alimentaire à la cantine scolaire : application de réservation et "
    "d'annulation des repas par les parents"
)
OTHER_TOPICS = [
    "Éclairage public intelligent : abaisser l'intensité des lampadaires la nuit",
    "Navette autonome électrique entre la gare et la zone d'activités",
    "Budget participatif numérique pour les habitants",
    "Capteurs de qualité de l'air près des écoles",
    "Détection des fuites d'eau sur le réseau d'eau potable",
]
ASKER = Scope(
    text="Comment réduire le gaspillage alimentaire dans nos cantines scolaires ?",
    territory_kind="commune",
    territory_code="39300",
    territory_name="Lons-le-Saunier",
    population=16_618,
    size_band="10k-50k",
    dep="39",
    region="27",
)


def _territories(session) -> None:  # type: ignore[no-untyped-def]
    session.add_all(
        [
            Territory(kind="departement", code="39", name="Jura", name_folded="jura"),
            Territory(kind="departement", code="25", name="Doubs", name_folded="doubs"),
            Territory(kind="departement", code="40", name="Landes", name_folded="landes"),
            Territory(kind="departement", code="13", name="Bouches-du-Rhône",
                      name_folded="bouches du rhone"),
            Territory(kind="region", code="27", name="Bourgogne-Franche-Comté",
                      name_folded="bourgogne franche comte"),
            Territory(kind="region", code="75", name="Nouvelle-Aquitaine",
                      name_folded="nouvelle aquitaine"),
            Territory(kind="region", code="93", name="Provence-Alpes-Côte d'Azur",
                      name_folded="provence alpes cote d azur"),
        ]
    )  # fmt: skip


def _rex(ext: str, problem: str, **kw) -> Experience:  # type: ignore[no-untyped-def]
    kw.setdefault("title", problem[:60])
    kw.setdefault("outcome", Outcome.SUCCESS)
    return Experience(external_id=ext, problem=problem, **kw)


@pytest.fixture
def peer_db(db: Database) -> Database:
    with db.session() as session:
        _territories(session)
        owner_ok = Person(role=Role.BUYER, display_name="Eve", share_contact=True)
        owner_ok.identities.append(ChatIdentity(transport="terminal", external_id="eve"))
        owner_private = Person(role=Role.BUYER, display_name="Fred", share_contact=False)
        owner_far = Person(role=Role.BUYER, display_name="Gus", share_contact=True)
        session.add_all([owner_ok, owner_private, owner_far])
        session.flush()
        session.add_all(
            [
                # same band (10k-50k), another département of the same région
                _rex("same-band", CANTINE, title="Antigaspi cantine", territory_kind="commune",
                     territory_code="25056", territory_name="Pontarlier", population=17_000,
                     dep="25", region="27", period_start="2019", period_end="2021",
                     contact_consent=True),
                # far band (a région of 5 M) with the same problem
                _rex("far-band", CANTINE, title="Antigaspi régional", territory_kind="region",
                     territory_code="93", territory_name="Provence-Alpes-Côte d'Azur",
                     population=5_100_000, region="93", period_start="2021"),
                # the asker's own REX: never proposed back
                _rex("own", CANTINE, title="Notre essai", territory_kind="commune",
                     territory_code="39300", territory_name="Lons-le-Saunier", population=16_618,
                     dep="39", region="27"),
                # a failure: kept, labelled
                _rex("failed", CANTINE_2, title="Appli de réservation des repas",
                     territory_kind="commune", territory_code="40192",
                     territory_name="Mont-de-Marsan", population=29_000, dep="40", region="75",
                     period_start="2020", outcome=Outcome.FAILED,
                     lessons="Les familles n'ont pas adopté l'application sans incitation."),
                # two sheets of one town: grouped
                _rex("twice-1", CANTINE_2, title="Pesée des déchets de cantine",
                     territory_kind="commune", territory_code="13001", territory_name="Aix",
                     population=40_000, dep="13", region="93", period_start="2018"),
                _rex("twice-2", CANTINE, title="Réservation des repas à Aix",
                     territory_kind="commune", territory_code="13001", territory_name="Aix",
                     population=40_000, dep="13", region="93", period_start="2022"),
                *[
                    _rex(f"other-{i}", text, territory_kind="commune", territory_code=f"0{i}001",
                         territory_name=f"Ville {i}", population=20_000, dep="01", region="84")
                    for i, text in enumerate(OTHER_TOPICS)
                ],
                Need(raw_text=CANTINE_2, owner_id=owner_ok.id, status=NeedStatus.OPEN,
                     territory_name="Dole", territory_kind="commune", territory_code="39198",
                     population=23_000, size_band="10k-50k", dep="39", region="27"),
                Need(raw_text=CANTINE_2, owner_id=owner_private.id, status=NeedStatus.OPEN,
                     territory_name="Champagnole", territory_kind="commune",
                     territory_code="39097", population=12_000, size_band="10k-50k"),
                Need(raw_text=CANTINE_2, owner_id=owner_far.id, status=NeedStatus.OPEN,
                     territory_name="Lyon", territory_kind="commune", territory_code="69123",
                     population=520_000, size_band="gt200k"),
                Need(raw_text=OTHER_TOPICS[0], owner_id=owner_ok.id, status=NeedStatus.OPEN,
                     territory_name="Dole", territory_kind="commune", territory_code="39198",
                     population=23_000, size_band="10k-50k"),
            ]
        )  # fmt: skip
    return db


@pytest.fixture
def peers(peer_db: Database, settings: Settings, embedder) -> PeerService:  # type: ignore[no-untyped-def]
    from matcher.service import MatchService

    service = MatchService(peer_db, settings, embedder)
    service.ensure_ready()
    return PeerService(peer_db, service, settings)


def _titles(found: list[PeerMatch]) -> list[str]:
    return [p.title for p in found]


@pytest.mark.slow
def test_size_first_far_peer_only_when_no_nearer_one(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=10, need_top=0)
    titles = _titles(found)
    # a région of 5 M inhabitants is four bands away: not shown while nearer peers exist
    assert "Antigaspi cantine" in titles and "Antigaspi régional" not in titles
    assert not any(r.code == "size_caveat" for p in found for r in p.reasons)
    # a village asking: no peer within one band, so the far ones come, with their size
    village = dataclasses.replace(
        ASKER, territory_code="39001", territory_name="Abergement", population=250,
        size_band=None,
    )  # fmt: skip
    far = peers.find_peers(village, top=3, need_top=0)
    assert far and len(far) <= 3
    caveats = [next(r for r in p.reasons if r.code == "size_caveat") for p in far]
    assert all(c.params["larger"] for c in caveats)
    assert "plus grande que vous\u00a0: 17\u00a0000 habitants" in describe_peer(far[0], "fr")
    assert "larger than you: 17,000 inhabitants" in describe_peer(far[0], "en")


@pytest.mark.slow
def test_same_band_peer_comes_first_with_its_reasons(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=10, need_top=0)
    top = found[0]
    assert top.title == "Antigaspi cantine"
    codes = {r.code: r.params for r in top.reasons}
    assert codes["size_band"] == {"band": "10k-50k", "same": True}
    assert codes["same_region"]["region_name"] == "Bourgogne-Franche-Comté"
    assert codes["peer_profile"]["dep_name"] == "Doubs"
    assert codes["tried"] == {"title": "Antigaspi cantine", "year": 2021}
    assert top.period == "2019–2021"
    assert top.contact_available is True
    # unrelated topics are not proposed
    assert not any(t.startswith(("Éclairage", "Navette", "Budget")) for t in _titles(found))


@pytest.mark.slow
def test_own_territory_excluded(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=10, need_top=0)
    assert "Notre essai" not in _titles(found)
    kept = peers.find_peers(ASKER, top=10, need_top=0, exclude_territory=False)
    assert "Notre essai" in _titles(kept)


@pytest.mark.slow
def test_failed_rex_is_shown_and_labelled(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=5, need_top=0)
    failed = next(p for p in found if p.title == "Appli de réservation des repas")
    assert failed.outcome == "failed"
    assert Reason("outcome", {"outcome": "failed"}) in failed.reasons
    assert any(r.code == "lessons" for r in failed.reasons)
    fr = describe_peer(failed, "fr")
    assert "échec" in fr and "dans les Landes" in fr and "en 2020" in fr
    assert "29\u00a0000 habitants" in fr
    assert "failed" in describe_peer(failed, "en")
    assert failed.contact_available is False  # no consent, no chat user


@pytest.mark.slow
def test_same_collectivite_grouped(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=10, need_top=0)
    aix = [p for p in found if p.territory_name == "Aix"]
    assert len(aix) == 1
    more = next(r for r in aix[0].reasons if r.code == "more_rex")
    assert more.params["n"] == 1


@pytest.mark.slow
def test_same_need_peers_need_consent_and_same_band(peers: PeerService) -> None:
    found = peers.find_peers(ASKER, top=3, need_top=3)
    need_peers = [p for p in found if p.need_id is not None]
    assert [p.territory_name for p in need_peers] == ["Dole"]  # not Fred (private), not Lyon
    dole = need_peers[0]
    assert dole.experience_id is None and dole.contact_available is True
    codes = [r.code for r in dole.reasons]
    assert "same_need" in codes and "same_dep" in codes
    assert "même besoin" in describe_peer(dole, "fr")
    assert found.index(dole) == len(found) - 1  # REX peers come first
    # the asker's own need is never proposed back
    with peers.db.session() as session:
        from sqlalchemy import select

        dole_id = session.scalar(select(Need.id).where(Need.territory_name == "Dole").limit(1))
    assert all(p.need_id != dole_id for p in peers.find_peers(ASKER, need_id=dole_id))


# --------------------------------------------------------------------------- pure helpers


def test_dep_preposition() -> None:
    assert dep_preposition("Jura") == "dans le Jura"
    assert dep_preposition("Savoie") == "en Savoie"
    assert dep_preposition("Ain") == "dans l'Ain"
    assert dep_preposition("Landes") == "dans les Landes"
    assert dep_preposition("Hautes-Alpes") == "dans les Hautes-Alpes"
    assert dep_preposition("Isère") == "en Isère"
    assert dep_preposition("Paris") == "à Paris"
    assert dep_preposition("Loire") == "dans la Loire"


def test_competence_level() -> None:
    assert competence_level("commune") == competence_level("epci") == "bloc_communal"
    assert competence_level("departement") == "departement"
    assert competence_level(None) is None


def test_describe_peer_fr_en() -> None:
    peer = PeerMatch(
        experience_id=1,
        territory_name="Lons-le-Saunier",
        territory_kind="commune",
        population=15_000,
        score=0.9,
        title="Compostage collectif",
        outcome="success",
        period="2021",
        reasons=[
            Reason("peer_profile", {"kind": "commune", "name": "Lons-le-Saunier",
                                    "population": 15_000, "dep_name": "Jura"}),
            Reason("tried", {"title": "Compostage collectif", "year": 2021}),
            Reason("outcome", {"outcome": "success"}),
            Reason("same_dep", {"dep_name": "Jura"}),
        ],
    )  # fmt: skip
    assert describe_peer(peer, "fr") == (
        "commune de 15\u00a0000 habitants dans le Jura (Lons-le-Saunier)\u00a0; "
        "a testé «\u00a0Compostage collectif\u00a0» en 2021\u00a0; résultat\u00a0: réussite\u00a0; "
        "même département"
    )
    assert describe_peer(peer, "en") == (
        "municipality of 15,000 inhabitants in Jura (Lons-le-Saunier); "
        'tried "Compostage collectif" in 2021; outcome: success; same département'
    )


@pytest.mark.slow
def test_peer_reasons_cite_no_size_kind_or_place_word(peers: PeerService) -> None:
    with peers.db.session() as session:
        rex = _rex(
            "words", "Service de la commune pour ses habitants : " + CANTINE,
            title="Cantine et habitants", territory_kind="commune", territory_code="25462",
            territory_name="Ornans", population=15_000, dep="25", region="27",
        )  # fmt: skip
        session.add(rex)
        session.flush()
        rex_id = rex.id
    peers.service.index_experience(rex_id)
    scope = dataclasses.replace(
        ASKER,
        text="Le service de la commune veut que ses habitants décommandent les repas de "
        "la cantine scolaire quand l'enfant est absent",
    )
    found = peers.find_peers(scope, top=3, need_top=0)
    ornans = next(p for p in found if p.territory_name == "Ornans")
    cited = {w for r in ornans.reasons if r.code == "words" for w in r.params["terms"]}
    assert cited and cited.isdisjoint({"service", "commune", "habitants"})
