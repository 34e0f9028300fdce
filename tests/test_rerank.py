"""Second-stage ranker (matcher/rerank.py) and out-of-fold helpers (devtools/bench/cv.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from devtools.bench.cv import fold_of, metrics, nested_pick, paired_bootstrap, split_folds
from index.model.folder import file_sha256
from matcher.rerank import (
    FEATURES,
    Reranker,
    active_reranker,
    fit,
    read_rankers,
    write_ranker,
)
from matcher.service import MatchService
from matcher.types import Scope
from tests.conftest import make_settings


def _lists(rng: np.random.Generator, n: int) -> list[tuple[np.ndarray, int]]:
    """Lists of 20 candidates whose answer is the one with the highest title share,
    while the first-stage order (column 0) puts it anywhere."""
    out = []
    for _ in range(n):
        rows = rng.normal(size=(20, len(FEATURES)))
        answer = int(rng.integers(0, 20))
        rows[:, FEATURES.index("title_share")] = rng.uniform(0, 0.5, size=20)
        rows[answer, FEATURES.index("title_share")] = 0.9
        out.append((rows, answer))
    return out


def test_fit_learns_a_planted_signal_and_survives_a_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ranker = fit(_lists(rng, 200), depth=20)
    test = _lists(rng, 100)
    first = sum(ranker.order(rows)[0] == answer for rows, answer in test)
    fused_first = sum(int(np.argmax(rows[:, 0])) == answer for rows, answer in test)
    assert first >= 95 and fused_first < 20
    path = tmp_path / "r.json"
    path.write_text(ranker.to_json(), encoding="utf-8")
    assert Reranker.load(path) == ranker


def test_a_ranker_made_for_other_features_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        '{"features": ["x"], "depth": 3, "weights": [1], "mean": [0], "scale": [1]}',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="features differ"):
        Reranker.load(path)


def test_a_ranker_applies_only_with_the_model_it_was_fitted_for(
    tmp_path: Path, model_cache: Path
) -> None:
    n = len(FEATURES)
    ranker = Reranker((1.0,) + (0.0,) * (n - 1), (0.0,) * n, (1.0,) * n, 10)
    path = tmp_path / "r.json"
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    settings = make_settings(tmp_path, url, model_cache, reranker=path)
    assert settings.finetuned_adapter is not None
    path.write_text(replace(ranker, adapter_sha256="0" * 64).to_json(), encoding="utf-8")
    assert active_reranker(settings) is None  # trained for another adapter
    right = replace(ranker, adapter_sha256=file_sha256(settings.finetuned_adapter))
    path.write_text(right.to_json(), encoding="utf-8")
    assert active_reranker(settings) == right
    hashing = make_settings(tmp_path, url, model_cache, reranker=path, embedder="hashing")
    assert active_reranker(hashing) is None
    off = make_settings(tmp_path, url, model_cache, reranker=path, use_finetuned=False)
    assert active_reranker(off) is None  # fitted for the adapter, which is not in use
    path.write_text(ranker.to_json(), encoding="utf-8")  # fitted for the base model
    assert active_reranker(off) == ranker
    assert active_reranker(settings) is None


def test_one_file_holds_a_ranker_per_model(tmp_path: Path, model_cache: Path) -> None:
    n = len(FEATURES)
    base = Reranker((1.0,) + (0.0,) * (n - 1), (0.0,) * n, (1.0,) * n, 10)
    path = tmp_path / "r.json"
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    settings = make_settings(tmp_path, url, model_cache, reranker=path)
    off = make_settings(tmp_path, url, model_cache, reranker=path, use_finetuned=False)
    assert settings.finetuned_adapter is not None
    tuned = replace(base, depth=20, adapter_sha256=file_sha256(settings.finetuned_adapter))
    path.write_text(base.to_json(recipe="base"), encoding="utf-8")  # an older single file
    write_ranker(path, tuned, recipe="current")
    assert active_reranker(settings) == tuned and active_reranker(off) == base
    refitted = replace(tuned, weights=(0.5,) * n)
    write_ranker(path, refitted, recipe="current")  # replaces the same model's ranker only
    entries = read_rankers(path)
    assert [e["recipe"] for e in entries] == ["base", "current"]
    assert active_reranker(settings) == refitted and active_reranker(off) == base
    path.write_text("not json", encoding="utf-8")
    assert active_reranker(settings) is None  # a broken file: no ranker, no crash
    write_ranker(path, base)  # and a refit replaces it
    assert active_reranker(off) == base and active_reranker(settings) is None


def test_the_service_reorders_the_head_and_keeps_the_scores(
    hashing_service: MatchService,
) -> None:
    scope = Scope(text="application mobile pour signaler les déchets sauvages", language="fr")
    hashing_service._rankings.clear()
    before = hashing_service.search(scope, top=10).matches
    n = len(FEATURES)
    reverse = Reranker((-1.0,) + (0.0,) * (n - 1), (0.0,) * n, (1.0,) * n, depth=5)
    hashing_service.reranker = reverse
    try:
        hashing_service._rankings.clear()
        after = hashing_service.search(scope, top=10).matches
    finally:
        hashing_service.reranker = None
        hashing_service._rankings.clear()
    assert len(before) == 10
    assert [m.external_id for m in after[:5]] == [m.external_id for m in before[:5]][::-1]
    assert [m.external_id for m in after[5:]] == [m.external_id for m in before[5:]]
    assert [m.score for m in after] == [m.score for m in before]


def test_folds_are_stable_and_partition_the_needs() -> None:
    needs = [{"qid": f"q_{i}", "relevant": [str(i)]} for i in range(50)]
    folds = split_folds(needs, 5)
    assert sorted(n["qid"] for f in folds for n in f) == sorted(n["qid"] for n in needs)
    assert all(fold_of(n["qid"], 5) == i for i, f in enumerate(folds) for n in f)
    assert fold_of("q_1000.jours", 5) == fold_of("q_1000.jours", 5)


def test_metrics_and_paired_bootstrap() -> None:
    m = metrics([1, 2, None, 11])
    assert m["mrr@10"] == pytest.approx((1 + 0.5) / 4)
    assert (m["recall@1"], m["recall@5"], m["recall@10"]) == (0.25, 0.5, 0.5)
    same = paired_bootstrap([1.0, 0.5, 0.0], [1.0, 0.5, 0.0])
    assert same == (0.0, 0.0, 0.0)
    delta, lo, hi = paired_bootstrap([0.0] * 50 + [0.5] * 50, [1.0] * 50 + [0.5] * 50)
    assert delta == pytest.approx(0.5) and 0.3 < lo < delta < hi <= 0.71


def test_nested_pick_chooses_on_the_other_folds_only() -> None:
    def fold(rank_a: int | None) -> dict[str, dict[str, int | None]]:
        return {"short": {"q": rank_a}, "long": {"q": rank_a}}

    per_fold = {
        "a": [fold(1), fold(1), fold(1), fold(None)],
        "b": [fold(2), fold(2), fold(2), fold(1)],
    }
    picked, chosen = nested_pick(per_fold, ["a", "b"])
    # fold 3 is where b wins, but its own figures never decide for it
    assert chosen == ["a", "a", "a", "a"] and picked[3] == fold(None)


def test_recipes_compare_against_a_baseline_on_the_same_needs() -> None:
    from devtools.bench.cv import ablation_table

    def folds(*ranks: int | None) -> dict[str, list[dict[str, int | None]]]:
        by_q = {f"q{i}": r for i, r in enumerate(ranks)}
        return {"short": [by_q], "long": [by_q]}

    lines: list[str] = []
    rows = {"current": folds(2, 2, None, 1), "hardneg": folds(1, 1, None, 1)}
    ablation_table(rows, baseline="current", echo=lines.append)
    current, hardneg = lines[1], lines[2]
    assert current.startswith("current") and "+0.000 [+0.000, +0.000]" in current
    # two needs move from rank 2 to rank 1: +0.5 each over four needs
    assert hardneg.startswith("hardneg") and hardneg.count("+0.250") == 2


def test_an_unknown_recipe_is_refused_before_any_work() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(
        app,
        ["bench", "retrieval", "--queries", str(Path(__file__)), "--cv", "5",
         "--against", "hardneg,nosuch"],
    )  # fmt: skip
    assert result.exit_code == 2 and "nosuch" in result.output


def test_hard_negatives_are_bm25_neighbours_never_the_answer(tmp_path: Path) -> None:
    from devtools.bench.cv import Context, _hard_negative_pairs

    passages = {
        "velo": "location de vélos électriques pour les communes rurales",
        "velo2": "vélos en libre service et pistes cyclables pour les communes",
        "cantine": "repas de cantine scolaire bio et local",
    }
    ctx = Context([], passages, [], "", tmp_path, tmp_path, {}, None)
    need = {"qid": "q", "relevant": ["velo"], "short": "vélos pour communes rurales", "long": ""}
    (pair,) = _hard_negative_pairs(ctx, [need], 1)
    assert pair.passage == passages["velo"] and pair.negatives == (passages["velo2"],)
