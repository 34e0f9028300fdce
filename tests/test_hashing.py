"""The model-free hashing embedder: deterministic, normalised, letters-deep similarity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydantic
import pytest

from core.config import REPO_ROOT, Settings
from index.base import Embedder
from index.embedder import load_embedder
from index.hashing import DEFAULT_DIM, HashingEmbedder

TEXTS = [
    "Réduire le gaspillage alimentaire dans les cantines scolaires",
    "Location de vélos en libre-service",
    "",
]


def _cosine(embedder: HashingEmbedder, a: str, b: str) -> float:
    va, vb = embedder.encode_queries([a, b])
    return float(va @ vb)


def test_vectors_are_normalised_float32_of_the_fixed_dimension() -> None:
    embedder = HashingEmbedder()
    vectors = embedder.encode_passages(TEXTS[:2])
    assert isinstance(embedder, Embedder)
    assert vectors.shape == (2, DEFAULT_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert embedder.encode_queries([]).shape == (0, DEFAULT_DIM)
    assert not embedder.encode_queries(["à la"]).any()  # no word worth a feature


def test_same_text_same_vector_in_another_process() -> None:
    embedder = HashingEmbedder()
    assert np.array_equal(embedder.encode_queries(TEXTS), embedder.encode_passages(TEXTS))
    code = (
        "import sys; from index.hashing import HashingEmbedder; "
        f"sys.stdout.buffer.write(HashingEmbedder().encode_queries({TEXTS!r}).tobytes())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ: crc32 does not
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, check=True
    ).stdout
    assert out == embedder.encode_queries(TEXTS).tobytes()


def test_case_and_accents_are_folded() -> None:
    embedder = HashingEmbedder()
    folded, plain = embedder.encode_queries(
        ["Économie CIRCULAIRE à l'école", "economie circulaire ecole"]
    )
    assert np.array_equal(folded, plain)


def test_related_texts_are_closer_than_unrelated_ones() -> None:
    embedder = HashingEmbedder()
    need = "gaspillage à la cantine"
    assert _cosine(embedder, need, TEXTS[0]) > _cosine(embedder, need, TEXTS[1]) + 0.2
    # word pieces: singular and plural share most n-grams
    assert _cosine(embedder, "vélo partagé", "Vélos partagés") > _cosine(
        embedder, "vélo partagé", "Capteurs de bruit pour les bars de nuit"
    )


def test_selected_by_settings_without_any_model_file(tmp_path: Path) -> None:
    empty_cache = tmp_path / "no-models"
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path, model_cache_dir=empty_cache, embedder="hashing", _env_file=None
    )
    embedder = load_embedder(settings)
    assert isinstance(embedder, HashingEmbedder)
    assert not empty_cache.exists()
    assert "e5" not in embedder.model_id and embedder.dim == DEFAULT_DIM


def test_embedder_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIU_EMBEDDER", "hashing")
    assert Settings(_env_file=None).embedder == "hashing"  # type: ignore[call-arg]
    monkeypatch.setenv("PIU_EMBEDDER", "word2vec")
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("PIU_EMBEDDER")
    assert Settings(_env_file=None).embedder == "model"  # type: ignore[call-arg]
