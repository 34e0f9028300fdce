"""Hybrid ranking on the demo catalogue: sanity on hand-checked needs, reasons, bad queries.

What the real model finds by meaning (hand-checked needs, English queries, near duplicates)
is ``slow``; the ranking mechanics (reasons, paging, filters, bad queries) run with the
hashing embedder.
"""

from __future__ import annotations

import pytest

from matcher.service import QueryError, citable_terms, prepare_query
from matcher.text import without_place
from matcher.types import Scope

# Needs written as a buyer would, each with catalogue entries that answer it
# (checked by hand in data/catalogue_betagouv.jsonl).
HAND_CHECKED = [
    (
        "Nous voulons réduire le gaspillage alimentaire dans les cantines de nos écoles",
        {"anti-gaspi-cantine", "ma-cantine-egalim", "rest-0"},
    ),
    (
        "Des habitants déposent des ordures sauvages en forêt, comment les signaler et les gérer ?",
        {"anct-pni-5", "signalementenvironnement"},
    ),
    (
        "Nous avons plusieurs friches industrielles à reconvertir en centre-ville",
        {"benefriches", "mutafriches", "urbanvitaliz"},
    ),
    (
        "Développer le covoiturage domicile-travail sur notre territoire rural",
        {"preuve-de-covoiturage", "comobi"},
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("need", "expected"), HAND_CHECKED)
def test_hand_checked_needs_find_their_solutions(service, need: str, expected: set[str]) -> None:  # type: ignore[no-untyped-def]
    top5 = [m.external_id for m in service.search(Scope(text=need), top=5).matches]
    assert expected & set(top5), top5


@pytest.mark.slow
def test_english_query_still_finds_french_solutions(service) -> None:  # type: ignore[no-untyped-def]
    scope = Scope(text="We want to cut food waste in our school canteens", language="en")
    top5 = [m.external_id for m in service.search(scope, top=5).matches]
    assert {"anti-gaspi-cantine", "ma-cantine-egalim", "rest-0"} & set(top5), top5


def test_every_result_carries_real_reasons(hashing_service) -> None:  # type: ignore[no-untyped-def]
    scope = Scope(text="gaspillage alimentaire à la cantine scolaire", size_band="10k-50k")
    matches = hashing_service.search(scope, top=5).matches
    assert len(matches) == 5
    for m in matches:
        codes = [r.code for r in m.reasons]
        assert "trust" in codes
        # the problem the entry answers first; shared words only when its mission is empty
        assert codes[0] in ("answers", "words", "semantic")
        assert ("answers" in codes) != ("words" in codes or "semantic" in codes)
        for r in m.reasons:
            if r.code == "answers":  # a clause of the entry's own mission
                assert r.params["text"].rstrip("…").lower() in m.mission.lower()
            if r.code == "words":
                # every word cited as shared is really in the query
                assert all(t.lower() in scope.text.lower() for t in r.params["terms"])
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_paging_returns_the_next_results_without_overlap(hashing_service) -> None:  # type: ignore[no-untyped-def]
    scope = Scope(text="mobilité durable et transports en commun")
    first = [m.external_id for m in hashing_service.search(scope, top=5).matches]
    second = [m.external_id for m in hashing_service.search(scope, top=5, offset=5).matches]
    assert len(first) == len(second) == 5 and not set(first) & set(second)
    assert first + second == [m.external_id for m in hashing_service.search(scope, top=10).matches]


def test_stage_buy_never_promotes_stopped_services(hashing_service) -> None:  # type: ignore[no-untyped-def]
    text = "outil numérique pour les cantines scolaires"
    explore = hashing_service.search(Scope(text=text), top=5).matches
    assert [m for m in explore if m.maturity == "stopped"], "stopped services in the top 5"
    for stage in ("experiment", "buy"):
        result = hashing_service.search(Scope(text=text, stage=stage), top=5)
        assert result.matches and all(m.maturity != "stopped" for m in result.matches)
        # the stopped ones that would have taken a place are set apart, not lost
        assert result.tried_elsewhere and all(
            m.maturity == "stopped" for m in result.tried_elsewhere
        )
        later = hashing_service.search(Scope(text=text, stage=stage), top=5, offset=5)
        assert not later.tried_elsewhere and all(m.maturity != "stopped" for m in later.matches)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x01\x02", "empty"),
        ("1234 !!! ???", "no_letters"),
    ],
)
def test_unsearchable_queries_get_a_clear_error(hashing_service, raw: str, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError) as info:
        hashing_service.search(Scope(text=raw))
    assert info.value.code == code


def test_degenerate_queries_are_best_effort_with_a_notice(hashing_service) -> None:  # type: ignore[no-untyped-def]
    stop_words_only = hashing_service.search(Scope(text="le la les de des et pour avec"))
    assert "no_keywords" in stop_words_only.notices
    huge = hashing_service.search(Scope(text="déchets " * 3000))
    assert "truncated" in huge.notices and huge.matches
    binary = hashing_service.search(Scope(text="cantine \x07\x1b[31m scolaire \ufeff gaspillage"))
    assert binary.matches


@pytest.mark.parametrize(
    ("text", "place", "expected"),
    [
        ("Des capteurs de bruit près des bars à Saint-Denis", "Saint-Denis",
         "Des capteurs de bruit près des bars à"),
        ("Réduire le gaspillage à Besancon et à BESANÇON", "Besançon",
         "Réduire le gaspillage à et à"),
        ("cantines de Lons le Saunier, rapidement", "Lons-le-Saunier", "cantines de , rapidement"),
        ("Saint-Denis", "Saint-Denis", "Saint-Denis"),  # nothing else: unchanged
        ("Des vélos à Dole", None, "Des vélos à Dole"),
        ("Des vélos à Dolet", "Dole", "Des vélos à Dolet"),  # whole words only
    ],
)  # fmt: skip
def test_the_buyers_own_place_is_not_searched_as_words(
    text: str, place: str | None, expected: str
) -> None:
    assert without_place(text, place) == expected


def test_a_place_in_the_need_does_not_pull_its_namesakes(hashing_service) -> None:  # type: ignore[no-untyped-def]
    text = "Nous voulons installer des capteurs de bruit près des bars à Saint-Denis"
    named = {"saint", "denis"}
    # without the place in the scope, its words could be cited (the test can fail)
    assert named <= set(citable_terms(text, Scope(text=text)).values())
    scope = Scope(text=text, territory_name="Saint-Denis", size_band="50k-200k")
    for m in hashing_service.search(scope, top=10).matches:
        for r in m.reasons:
            if r.code == "words":
                assert not {"saint", "denis"} & {t.lower() for t in r.params["terms"]}, m.title


def test_prepare_query_strips_control_characters() -> None:
    text, notices = prepare_query("\u200bvélos\x0b partagés\x00")
    assert text == "vélos partagés" and notices == []


@pytest.mark.slow
def test_similar_solutions_flags_a_near_duplicate(service) -> None:  # type: ignore[no-untyped-def]
    dupes = service.similar_solutions(
        "Anti-Gaspi-Cantine : une application pour que les familles décommandent les repas "
        "de cantine de leurs enfants absents et réduire le gaspillage alimentaire"
    )
    assert "anti-gaspi-cantine" in [d.external_id for d in dupes]
    unrelated = service.similar_solutions("Capteurs de bruit pour les bars de nuit")
    assert "anti-gaspi-cantine" not in [d.external_id for d in unrelated]


def test_results_sharing_no_word_must_be_close_to_the_best(hashing_service) -> None:  # type: ignore[no-untyped-def]
    text = "Nous voulons réduire le gaspillage alimentaire dans les cantines"
    hits = hashing_service._hybrid("solution", text, "fr")
    best = max(h[2] for h in hits)
    gap = hashing_service.params.semantic_gap
    allowed = {h[0] for h in hits if h[3] > 0 or h[2] >= best - gap}
    shown = {m.solution_id for m in hashing_service.search(Scope(text=text), top=500).matches}
    assert shown == allowed
    assert len(allowed) < len(hits)  # far-off results with no word in common were dropped
