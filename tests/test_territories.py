"""Territory resolver: names and free text -> communes, EPCI, départements, régions."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from core.db import Database
from ingest.importers import import_file
from matcher.territories import TerritoryResolver, describe

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def resolver(tmp_path_factory: pytest.TempPathFactory) -> TerritoryResolver:
    path = tmp_path_factory.mktemp("territories") / "t.sqlite3"
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        start = time.perf_counter()
        summary = import_file(s, "territories", DATA / "territoires_fr_2026.csv.gz")
        assert summary.created == 36_370
        assert time.perf_counter() - start < 20
    with db.session() as s:
        built = TerritoryResolver.from_session(s)
    db.dispose()
    return built


def test_lons_le_saunier_in_a_sentence(resolver: TerritoryResolver) -> None:
    res = resolver.find_in_text("je suis adjointe au maire de Lons-le-Saunier")
    assert res.found
    c = res.candidate
    assert (c.kind, c.code, c.population) == ("commune", "39300", 16618)
    assert c.dep_name == "Jura" and c.region_name == "Bourgogne-Franche-Comté"
    assert c.epci == "200071116" and c.epci_name.startswith("CA ECLA")
    assert c.size_band == "10k-50k"
    assert describe(c) == "commune de 16 618 habitants (Jura, Bourgogne-Franche-Comté)"
    assert describe(c, "en") == "town of 16,618 inhabitants (Jura, Bourgogne-Franche-Comté)"


@pytest.mark.parametrize("text", ["Lons-le-Saulnier", "je suis à Lons le Saulnier"])
def test_typo_lons(resolver: TerritoryResolver, text: str) -> None:
    res = resolver.find_in_text(text)
    assert res.found and res.candidate.code == "39300"


@pytest.mark.parametrize("text", ["Mulouse", "nous sommes à Mulouse"])
def test_typo_mulhouse(resolver: TerritoryResolver, text: str) -> None:
    res = resolver.find_in_text(text)
    assert res.found and res.candidate.code == "68224"


def test_saint_denis_is_ambiguous(resolver: TerritoryResolver) -> None:
    res = resolver.find_in_text("Je travaille à Saint-Denis")
    assert res.ambiguous and res.candidate is None
    deps = [c.dep for c in res.candidates]
    assert {"93", "974"} <= set(deps[:2])
    assert len(res.candidates) > 2
    assert all(c.dep_name for c in res.candidates)


@pytest.mark.parametrize(
    ("text", "dep"),
    [
        ("Saint-Denis (93)", "93"),
        ("Saint-Denis en Seine-Saint-Denis", "93"),
        ("je suis à Saint-Denis 974", "974"),
        ("St-Denis de La Réunion", "974"),
    ],
)
def test_saint_denis_with_hint(resolver: TerritoryResolver, text: str, dep: str) -> None:
    res = resolver.find_in_text(text)
    assert res.found and res.candidate.dep == dep and res.candidate.kind == "commune"


def test_lyon_metropole_rhone(resolver: TerritoryResolver) -> None:
    lyon = resolver.find_in_text("je suis élu à Lyon").candidate
    assert (lyon.kind, lyon.code) == ("commune", "69123")
    met = resolver.find_in_text("nous sommes la Métropole de Lyon").candidate
    assert (met.kind, met.code, met.subtype) == ("epci", "200046977", "MET69")
    rhone = resolver.find_in_text("le département du Rhône").candidate
    assert (rhone.kind, rhone.code) == ("departement", "69")


def test_paris(resolver: TerritoryResolver) -> None:
    res = resolver.find_in_text("Paris")
    assert res.found and (res.candidate.kind, res.candidate.code) == ("commune", "75056")
    assert [(c.kind, c.code) for c in resolver.resolve("Paris")] == [
        ("commune", "75056"),
        ("departement", "75"),
    ]


def test_corse_alsace_overseas(resolver: TerritoryResolver) -> None:
    assert resolver.find_in_text("en Corse").candidate.code == "94"
    alsace = resolver.find_in_text("la Collectivité européenne d'Alsace").candidate
    assert alsace.code == "6AE" and alsace.region_name == "Grand Est"
    assert resolver.find_in_text("Martinique").candidate.code == "972"
    ffr = resolver.find_in_text("Fort-de-France en Martinique").candidate
    assert ffr.kind == "commune" and ffr.dep == "972"


@pytest.mark.parametrize("name", ["St-Étienne", "saint etienne", "ST ETIENNE"])
def test_saint_abbreviation(resolver: TerritoryResolver, name: str) -> None:
    assert resolver.resolve(name)[0].code == "42218"


@pytest.mark.parametrize("text", ["Le Havre", "Havre", "je travaille au Havre", "le havre"])
def test_articles(resolver: TerritoryResolver, text: str) -> None:
    res = resolver.find_in_text(text)
    assert res.found and res.candidate.code == "76351"


def test_mulhouse_commune_vs_epci(resolver: TerritoryResolver) -> None:
    assert resolver.find_in_text("Mulhouse").candidate.kind == "commune"
    for text in (
        "nous sommes la communauté d'agglomération de Mulhouse",
        "Mulhouse Alsace Agglomération",
    ):
        c = resolver.find_in_text(text).candidate
        assert (c.kind, c.code) == ("epci", "200066009"), text


@pytest.mark.parametrize(
    "text",
    [
        "nous voulons réduire les déchets plus vite",
        "Bonjour, je cherche une solution pour la vie du quartier",
        "il y a une aire de jeux près de la mer",
        "c'est trop cher pour notre commune",
        "une réunion avec les élus en somme",
        "je suis maire d'une commune de 2000 habitants",
        "Bonjour",
        "nous sommes une orange",
        # seen in the development texts (catalogue descriptions), each once a "territory":
        "Désorganisation du service ; Charge mentale et hausse des accidents",
        "Cette plateforme répond à la mesure 50 du Plan Eau.",
        "Les intrapreneuses ont investigué trois domaines simultanément.",
        "L'offre est peu lisible car il existe un grand nombre d'acteurs.",
        "le rapport remis par Valérie Petit et Pierre Morel sur les dispositifs",
        "les citoyens et les entreprises de l’Union Européenne doivent fournir",
        "un accès pour les membres du COEX et du CESAR",
        "elle leur confère des savoir-faire appréciés par les entreprises",
        "sur le sud de la région), contre 24,71 % en milieu rural",
        "Etape 1 : Levier restrictif",
        # a landmark, not the asker's territory: the question is asked instead
        "We are a town of about 20,000 people near Lyon and want to test smart bins",
        "une petite commune près de Besançon",
        "nous sommes à côté de Dijon",
    ],
)
def test_no_false_positive(resolver: TerritoryResolver, text: str) -> None:
    assert resolver.find_in_text(text).status == "none"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        # "in our" once found the commune of Our (Jura, 147 inhabitants)
        ("We want to reduce food waste in our school canteens in Besançon", "Besançon"),
        ("A request from the town of Dole about street lighting", "Dole"),
        ("We are in Dole, Jura", "Dole"),
        # a cue still makes a place of a small town or a common word
        ("Nous sommes à Orange et voulons tester des capteurs", "Orange"),
        ("La commune de Louvres (10557 habitants) veut", "Louvres"),
        ("dans la ville de Pau, un grand débat", "Pau"),
        ("Bonjour, je suis agent à Levier dans le Doubs", "Levier"),
    ],
)
def test_the_place_named_in_a_sentence(resolver: TerritoryResolver, text: str, name: str) -> None:
    found = resolver.find_in_text(text)
    assert found.status == "found" and found.candidate.name == name, found


def test_common_word_with_cue(resolver: TerritoryResolver) -> None:
    assert resolver.find_in_text("je suis maire de Eu").candidate.code == "76255"
    assert resolver.find_in_text("la mairie de Sion").candidate.code == "32434"


def test_size_bands(resolver: TerritoryResolver) -> None:
    assert resolver.get("commune", "80829").size_band == "lt2k"  # Y
    assert resolver.get("commune", "76255").size_band == "2k-10k"  # Eu
    assert resolver.get("commune", "39300").size_band == "10k-50k"
    assert resolver.get("commune", "68224").size_band == "50k-200k"
    assert resolver.get("commune", "69123").size_band == "gt200k"


def test_describe_epci_and_region(resolver: TerritoryResolver) -> None:
    epci = resolver.get("epci", "200066009")
    assert (
        describe(epci) == "communauté d'agglomération de 274 260 habitants (Haut-Rhin, Grand Est)"
    )
    region = resolver.get("region", "27")
    assert describe(region) == "région de 2 802 670 habitants"


def test_find_in_text_is_fast(resolver: TerritoryResolver) -> None:
    texts = [
        "je suis adjointe au maire de Lons-le-Saunier et je cherche une solution de covoiturage",
        "nous voulons réduire les déchets plus vite dans les cantines de notre territoire",
        "Saint-Denis en Seine-Saint-Denis",
    ]
    times = []
    for _ in range(20):
        for text in texts:
            start = time.perf_counter()
            resolver.find_in_text(text)
            times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.005
