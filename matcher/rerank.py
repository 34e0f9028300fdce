"""Second stage: a small learned ranker over the first stage's best candidates.

The first stage (dense + BM25 fusion, :mod:`matcher.ranking`) proposes candidates; this
module describes each of the top ``depth`` with features the product already has (dense
and BM25 scores and ranks, title and mission word overlap, theme match) and
re-orders them with a linear scorer trained listwise (softmax cross-entropy over each
query's candidates, L2-regularised), in numpy. The displayed scores are the first
stage's, in the new order, so they stay in [0, 1] and decreasing.

Maturity is left out: out-of-fold it did not help (MRR@10 +0.032 short / +0.051 long
without it, +0.026 / +0.046 with it) and what it learns is which entries the dev set
happens to cover, not what answers a need; the scope's stage rules handle maturity.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.domain import fold
from matcher.text import tokenize

log = logging.getLogger(__name__)

#: One hit of the first stage: (id, fused score, dense cosine, BM25 score).
Hit = tuple[int, float, float, float]

FEATURES = (
    "fused",
    "dense",
    "dense_gap",
    "bm25_norm",
    "bm25_log",
    "has_lexical",
    "dense_rank_log",
    "bm25_rank_log",
    "fused_rank_log",
    "title_share",
    "title_any",
    "mission_share",
    "theme_match",
)


@dataclass(frozen=True)
class CandidateText:
    """What the features read of a candidate besides its scores."""

    title_tokens: frozenset[str]
    mission_tokens: frozenset[str]
    themes: tuple[str, ...]


@lru_cache(maxsize=20_000)
def candidate_text(title: str, mission: str, themes: tuple[str, ...]) -> CandidateText:
    """Tokenised once per text: only the second stage's head is ever tokenised."""
    return CandidateText(frozenset(tokenize(title)), frozenset(tokenize(mission)), tuple(themes))


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def features(
    hits: Sequence[Hit],
    texts: Sequence[CandidateText],
    query_tokens: set[str],
    query_themes: set[str],
) -> NDArray[np.float64]:
    """One row per candidate (``hits`` best first), columns as :data:`FEATURES`."""
    n = len(hits)
    fused = np.array([h[1] for h in hits], dtype=np.float64)
    dense = np.array([h[2] for h in hits], dtype=np.float64)
    bm25 = np.array([h[3] for h in hits], dtype=np.float64)
    top_bm25 = float(bm25.max()) if n else 0.0
    bm25_rank = np.where(bm25 > 0, _ranks(bm25), n + 1)
    rows = np.zeros((n, len(FEATURES)))
    rows[:, 0] = fused
    rows[:, 1] = dense
    rows[:, 2] = dense - (float(dense.max()) if n else 0.0)
    rows[:, 3] = bm25 / top_bm25 if top_bm25 > 0 else 0.0
    rows[:, 4] = np.log1p(bm25)
    rows[:, 5] = bm25 > 0
    rows[:, 6] = np.log(_ranks(dense))
    rows[:, 7] = np.log(bm25_rank)
    rows[:, 8] = np.log(_ranks(fused))
    for i, text in enumerate(texts):
        title_hits = len(text.title_tokens & query_tokens)
        rows[i, 9] = title_hits / len(text.title_tokens) if text.title_tokens else 0.0
        rows[i, 10] = title_hits > 0
        mission_hits = len(text.mission_tokens & query_tokens)
        rows[i, 11] = mission_hits / math.sqrt(len(text.mission_tokens) or 1)
        rows[i, 12] = any(
            set(fold(t).split()) & set(w.split()) for t in text.themes for w in query_themes
        )
    return rows


@dataclass(frozen=True)
class Reranker:
    """A linear scorer over standardised features, applied to the top ``depth``."""

    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    depth: int = 30
    #: sha256 of the adapter whose dense scores the ranker was fitted on; "" = the base
    #: model without adapter.
    adapter_sha256: str = ""

    def scores(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.weights))

    def order(self, rows: NDArray[np.float64]) -> list[int]:
        """New order of the first ``len(rows)`` candidates (stable on ties)."""
        return [int(i) for i in np.argsort(-self.scores(rows), kind="stable")]

    def to_json(self, **info: Any) -> str:
        return json.dumps(
            {
                **info,
                "adapter_sha256": self.adapter_sha256,
                "features": list(FEATURES),
                "depth": self.depth,
                "weights": list(self.weights),
                "mean": list(self.mean),
                "scale": list(self.scale),
            },
            indent=1,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "ranker") -> Reranker:
        if list(data["features"]) != list(FEATURES):
            raise ValueError(f"{source}: features differ from this version's")
        return cls(
            tuple(data["weights"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
            int(data["depth"]),
            str(data.get("adapter_sha256", "")),
        )

    @classmethod
    def load(cls, path: Path) -> Reranker:
        """The one ranker of a single-ranker file."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_dict(data, str(path))


def read_rankers(path: Path) -> list[dict[str, Any]]:
    """The entries of a ranker file: one ranker (a single object, as older releases
    wrote) or ``{"rankers": [...]}``, one per model it was fitted for."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = data["rankers"] if isinstance(data, dict) and "rankers" in data else [data]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path}: not a ranker file")
    return entries


def ranker_for(path: Path, adapter_sha256: str) -> Reranker | None:
    """The ranker of ``path`` fitted for the model ``adapter_sha256`` names ("" = the base
    model); None when the file has none for it."""
    for entry in read_rankers(path):
        if str(entry.get("adapter_sha256", "")) == adapter_sha256:
            return Reranker.from_dict(entry, str(path))
    return None


def write_ranker(path: Path, ranker: Reranker, **info: Any) -> None:
    """Add ``ranker`` to the file at ``path``, replacing the one fitted for the same model
    (and any this version cannot read); atomic."""
    from index.faiss_index import atomic_write_bytes

    kept: list[dict[str, Any]] = []
    if Path(path).is_file():
        try:
            kept = [
                e
                for e in read_rankers(path)
                if list(e.get("features", [])) == list(FEATURES)
                and str(e.get("adapter_sha256", "")) != ranker.adapter_sha256
            ]
        except (ValueError, KeyError, TypeError):
            kept = []  # unreadable: replaced
    entries = [*kept, json.loads(ranker.to_json(**info))]
    body = json.dumps({"rankers": entries}, indent=1) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), body.encode("utf-8"))


def active_reranker(settings: Any) -> Reranker | None:
    """The configured file's ranker for the model in use: the default model with the same
    adapter file, or without any adapter (a file may hold one for each)."""
    from core.config import DEFAULT_MODEL
    from index.model.adapter import active_adapter
    from index.model.folder import file_sha256

    path = getattr(settings, "reranker", None)
    if getattr(settings, "embedder", "model") != "model" or path is None:
        return None
    if settings.embedding_model != DEFAULT_MODEL or not Path(path).is_file():
        return None
    adapter = active_adapter(settings)
    in_use = file_sha256(adapter) if adapter is not None else ""
    try:
        return ranker_for(Path(path), in_use)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("second-stage ranker not used: %s", exc)
        return None


def fit(
    groups: Sequence[tuple[NDArray[np.float64], int]],
    *,
    depth: int = 30,
    l2: float = 1e-2,
    steps: int = 400,
    lr: float = 0.1,
) -> Reranker:
    """Listwise softmax training; each group is (feature rows, index of the answer)."""
    groups = [(x[:depth], y) for x, y in groups if y < min(depth, len(x))]
    if not groups:
        raise ValueError("no training list has its answer within the depth")
    stacked = np.vstack([x for x, _ in groups])
    mean = stacked.mean(axis=0)
    scale = stacked.std(axis=0)
    scale[scale < 1e-9] = 1.0
    # padded to (lists, depth, features); padding rows are masked out of the softmax
    width = max(len(x) for x, _ in groups)
    z = np.zeros((len(groups), width, stacked.shape[1]))
    mask = np.zeros((len(groups), width), dtype=bool)
    for g, (x, _) in enumerate(groups):
        z[g, : len(x)] = (x - mean) / scale
        mask[g, : len(x)] = True
    target = np.zeros((len(groups), width))
    target[np.arange(len(groups)), [y for _, y in groups]] = 1.0
    w = np.zeros(stacked.shape[1])
    w[0] = 1.0  # start from the first stage's order
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, steps + 1):  # Adam on the mean loss
        s = np.where(mask, z @ w, -np.inf)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = np.einsum("gd,gdf->f", p - target, z) / len(groups) + l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return Reranker(tuple(map(float, w)), tuple(map(float, mean)), tuple(map(float, scale)), depth)


def query_signals(text: str) -> tuple[set[str], set[str]]:
    """The query's stemmed words and the themes it mentions (folded)."""
    from matcher.themes import extract_themes

    return set(tokenize(text)), {fold(t) for t in extract_themes(text)}
