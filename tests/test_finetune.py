"""Fine-tuning e5 (``piu model finetune``) and applying the adapter offline."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from core.config import DEFAULT_ADAPTER, Settings
from index.embedder import clear_embedder_cache, load_embedder
from index.finetune import (
    FROZEN_PREFIXES,
    Pair,
    TrainConfig,
    build_pairs,
    make_batches,
    save_adapter,
    sidecar_path,
    split_holdout,
    train,
)
from index.model.adapter import apply_adapter
from index.model.folder import ModelInstallError, read_stamp
from index.model.install import FINETUNED_DIR_NAME, install_model_at, model_fingerprint

pytestmark = pytest.mark.slow

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "catalogue_betagouv.jsonl"
TINY = TrainConfig(seed=7, batch_size=8, max_length=64, max_steps=1)


@pytest.fixture
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def _base(model_cache: Path) -> Path:
    return install_model_at(model_cache)


@pytest.fixture(scope="module")
def _pairs() -> list[Pair]:
    from ingest.training import catalogue_passages

    passages = catalogue_passages(CATALOGUE)
    ids = sorted(passages)[:8]
    needs = [
        {"qid": f"q{i}", "relevant": [ext], "short": passages[ext].split("\n")[0]}
        for i, ext in enumerate(ids)
    ]
    return build_pairs(needs, passages, fields=("short",))


@pytest.fixture(scope="module")
def _tiny_adapter(
    _base: Path, _pairs: list[Pair], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    result = train(_base, _pairs, TINY)
    stamp = read_stamp(_base) or {}
    out = tmp_path_factory.mktemp("adapter") / "tiny.safetensors"
    return save_adapter(
        result,
        out,
        {"base_source_sha256": stamp["source_sha256"], "data_sha256": "test"},
    )


def test_catalogue_passages_are_the_indexed_texts() -> None:
    from core.models import Solution
    from ingest.training import catalogue_passages

    passages = catalogue_passages(CATALOGUE)
    row = json.loads(CATALOGUE.read_text(encoding="utf-8").splitlines()[0])
    expected = Solution(
        title=row["title"],
        mission=row["mission"],
        themes=row["thematiques"],
        description=row["solution"],
    ).index_text()
    assert passages[row["id"]] == expected
    assert len(passages) == 660


def test_holdout_split_and_batches_are_seeded() -> None:
    needs = [{"qid": f"q{i:03d}", "relevant": [f"s{i % 50}"]} for i in range(200)]
    train_a, held_a = split_holdout(needs, 0.25, 13)
    _, held_b = split_holdout(list(reversed(needs)), 0.25, 13)
    assert held_a == held_b and len(held_a) == 50 and len(train_a) == 150
    assert not {n["qid"] for n in held_a} & {n["qid"] for n in train_a}
    assert split_holdout(needs, 0.25, 14)[1] != held_a
    pairs = [Pair(f"q{i}", f"p{i % 5}", f"p{i % 5}") for i in range(23)]
    import random

    batches = make_batches(pairs, 4, random.Random(1))
    assert batches == make_batches(pairs, 4, random.Random(1))
    assert sorted(i for b in batches for i in b) == list(range(23))
    for batch in batches:  # no false negatives: one pair per positive in a batch
        assert len({pairs[i].key for i in batch}) == len(batch) <= 4


def test_tiny_finetune_is_deterministic(_base: Path, _pairs: list[Pair]) -> None:
    first = train(_base, _pairs, TINY)
    second = train(_base, _pairs, TINY)
    assert first.steps == second.steps == 1
    assert first.losses == second.losses
    assert first.state.keys() == second.state.keys()
    assert not any(name.startswith(FROZEN_PREFIXES) for name in first.state)
    assert 21_000_000 < first.trainable_params < 22_000_000
    for name, tensor in first.state.items():
        assert bool((tensor == second.state[name]).all()), name


def test_adapter_file_and_sidecar(_tiny_adapter: Path) -> None:
    from safetensors import safe_open

    assert 40e6 < _tiny_adapter.stat().st_size < 46e6
    with safe_open(str(_tiny_adapter), framework="numpy") as fh:
        names = list(fh.keys())
        assert all(fh.get_tensor(n).dtype == np.float16 for n in names[:5])
    assert "embeddings.word_embeddings.weight" not in names
    sidecar = json.loads(sidecar_path(_tiny_adapter).read_text())
    assert sidecar["train"]["seed"] == TINY.seed and sidecar["parameters"] > 21_000_000


def test_adapter_applies_offline_and_changes_model_id(
    _base: Path, _tiny_adapter: Path, tmp_path: Path, _no_network: None
) -> None:
    from safetensors.numpy import load_file

    target = tmp_path / FINETUNED_DIR_NAME
    started = time.perf_counter()
    assert apply_adapter(_base, _tiny_adapter, target) == target
    first_apply = time.perf_counter() - started
    stamp = read_stamp(target)
    assert stamp is not None and len(stamp["adapter_sha256"]) == 64
    sha12 = stamp["adapter_sha256"][:12]
    assert model_fingerprint(target) == f"{model_fingerprint(_base)}+piu.{sha12}"

    adapter = load_file(str(_tiny_adapter))
    merged = load_file(str(target / "model.safetensors"))
    name = "encoder.layer.3.attention.self.query.weight"
    np.testing.assert_array_equal(merged[name], adapter[name].astype(np.float32))
    base = load_file(str(_base / "model.safetensors"))
    np.testing.assert_array_equal(
        merged["embeddings.word_embeddings.weight"], base["embeddings.word_embeddings.weight"]
    )

    mtime = (target / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    apply_adapter(_base, _tiny_adapter, target)  # idempotent and fast
    assert time.perf_counter() - started < 1.0 < first_apply + 1.0
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [FINETUNED_DIR_NAME]

    settings = Settings(
        data_dir=tmp_path,
        environment="test",
        embedding_model=str(target),
        embedding_backend="torch",
    )
    tuned = load_embedder(settings)
    base_id = load_embedder(
        Settings(
            data_dir=tmp_path,
            environment="test",
            embedding_model=str(_base),
            embedding_backend="torch",
        )
    ).model_id
    assert "+piu." in tuned.model_id and tuned.model_id != base_id
    assert tuned.encode_queries(["Végétaliser les cours d'école"]).shape == (1, 384)


def test_adapter_for_another_base_is_refused(
    _base: Path, _tiny_adapter: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file(load_file(str(_tiny_adapter)), str(wrong), metadata={"base_source_sha256": "0" * 64})
    with pytest.raises(ModelInstallError, match="another base model"):
        apply_adapter(_base, wrong, tmp_path / "target")
    assert not (tmp_path / "target").exists()


@pytest.mark.skipif(not DEFAULT_ADAPTER.is_file(), reason="no shipped adapter")
def test_shipped_adapter_is_used_by_default_offline(
    model_cache: Path, tmp_path: Path, _no_network: None
) -> None:
    clear_embedder_cache()
    tuned = load_embedder(
        Settings(data_dir=tmp_path, model_cache_dir=model_cache, embedding_backend="torch")
    )
    base = load_embedder(
        Settings(
            data_dir=tmp_path,
            model_cache_dir=model_cache,
            use_finetuned=False,
            embedding_backend="torch",
        )
    )
    sha = json.loads(sidecar_path(DEFAULT_ADAPTER).read_text())["adapter_sha256"]
    assert tuned.model_id.startswith("multilingual-e5-small@")
    assert f"+piu.{sha[:12]}" in tuned.model_id and "+piu." not in base.model_id
    assert (model_cache / FINETUNED_DIR_NAME / "model.safetensors").is_file()
    texts = ["rénovation énergétique des bâtiments publics"]
    cos = float(np.sum(tuned.encode_queries(texts) * base.encode_queries(texts)))
    assert 0.5 < cos < 0.9999  # the same model, adapted
    clear_embedder_cache()
