"""``piu bench peers --queries``: the paraphrase benchmark on a tiny set of needs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from devtools.bench.peers import (
    chat_scope,
    fold_of,
    paraphrase_report,
    read_queries,
    run_paraphrase_bench,
)

ROWS: list[dict[str, Any]] = [
    {
        "id": "t-waste",
        "text": "optimiser les tournées de collecte des déchets",
        "lang": "fr",
        "expected": [{"key": "epci:200022986"}],
    },
    {
        "id": "t-nowhere",
        "text": "Commune de 2 000 habitants : nous cherchons un logiciel pour la paie",
        "lang": "fr",
        "expected": [{"key": "commune:00000"}],  # no such collectivité: a miss
    },
    {"id": "t-neg", "text": "Quel temps fera-t-il demain à Brest ?", "lang": "fr", "expected": []},
]


def test_paraphrase_bench_on_a_tiny_set(demo_db, hashing_service) -> None:  # type: ignore[no-untyped-def]
    result = run_paraphrase_bench(demo_db, hashing_service, hashing_service.settings, ROWS)

    figures = result["all"]
    assert figures["needs"] == 2  # the off-topic row is counted apart
    assert figures["recall@3"] == pytest.approx(0.5)  # the waste need finds Grand Pic Saint-Loup
    assert [m["id"] for m in result["misses"]] == ["t-nowhere"]
    assert figures["needs_with_size"] == 1  # "2 000 habitants" is read from the text
    assert result["off_topic"] == 1
    assert result["tune"]["needs"] + result["held_out"]["needs"] == 2
    assert figures["latency_ms_p50"] > 0
    lines = paraphrase_report(result)
    assert any(line.startswith("recall@3") and "0.500" in line for line in lines)
    assert any("tune folds {0,1,2}" in line for line in lines)


def test_chat_scope_reads_the_problem_and_the_size() -> None:
    scope = chat_scope(
        "Bonjour, je suis élu d'une commune de 10 000 habitants. Nous voulons lancer un "
        "service d'autopartage pour nos habitants."
    )
    assert scope.population == 10_000 and scope.size_band == "10k-50k"
    assert "autopartage" in scope.text and "Bonjour" not in scope.text
    assert chat_scope("mutualiser les voitures de service").size_band is None


def test_folds_are_stable() -> None:
    # the split the weights were chosen on: fixed by the ids, not by the run
    folds = [fold_of(f"pp-{i:03d}") for i in range(1, 116)]
    assert folds == [fold_of(f"pp-{i:03d}") for i in range(1, 116)]
    assert set(folds) == {0, 1, 2, 3, 4}
    assert fold_of("pp-001") == int(hashlib.sha256(b"pp-001").hexdigest(), 16) % 5


def test_read_queries_refuses_a_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "q.jsonl"
    good.write_text(json.dumps(ROWS[0]) + "\n\n", encoding="utf-8")
    assert [r["id"] for r in read_queries(good)] == ["t-waste"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_queries(bad)
    bad.write_text(json.dumps({"id": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'id' and a 'text'"):
        read_queries(bad)
