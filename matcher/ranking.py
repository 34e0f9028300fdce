"""Pure scoring code: score fusion and scope-aware adjustments (no I/O, no model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.domain import Maturity, Stage, TrustLevel, band_distance


@dataclass(frozen=True)
class FusionParams:
    """Weights of the hybrid ranking; tuned on the development set only (``piu bench tune``)."""

    bm25_weight: float = 0.4
    #: English queries meet a French catalogue: lexical evidence is weaker there.
    bm25_weight_en: float = 0.1
    candidates: int = 100
    #: A result sharing no word with the need is shown only if its dense score is
    #: within this distance of the best one; None keeps them all. 0.09 is the 95th
    #: percentile of that distance for the right answers of the dev set (``piu bench gap``).
    semantic_gap: float | None = 0.09
    #: How each score list is normalised before the weighted sum: ``minmax`` (each list
    #: scaled to [0, 1]), ``zscore`` (centred, unit variance) or ``rank`` (reciprocal rank,
    #: 1 / (60 + rank), a document absent from a list scoring 0).
    fusion: str = "minmax"

    def weight_for(self, language: str) -> float:
        return self.bm25_weight_en if language == "en" else self.bm25_weight


def minmax(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """Scale to [0, 1]; a constant vector maps to zeros."""
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        return np.zeros_like(values)
    return (values - lo) / (hi - lo)


def zscore(values: NDArray[np.float32]) -> NDArray[np.float32]:
    """Centred and scaled to unit variance; a constant vector maps to zeros."""
    if values.size == 0:
        return values
    std = float(values.std())
    if std < 1e-9:
        return np.zeros_like(values)
    return (values - float(values.mean())) / std


def reciprocal_rank(values: NDArray[np.float32], k: float = 60.0) -> NDArray[np.float32]:
    """``1 / (k + rank)`` (rank 1 = highest value); zero or negative values score 0."""
    out = np.zeros_like(values)
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float32)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float32)
    present = values > 0
    out[present] = 1.0 / (k + ranks[present])
    return out


NORMALISERS = {"minmax": minmax, "zscore": zscore, "rank": reciprocal_rank}


def fuse(
    dense: NDArray[np.float32],
    lexical: NDArray[np.float32],
    bm25_weight: float,
    method: str = "minmax",
) -> NDArray:
    """Weighted sum of the normalised lists (min-max beat reciprocal-rank fusion on the
    sibling set; ``piu bench retrieval --cv`` compares them out-of-fold)."""
    norm = NORMALISERS[method]
    return bm25_weight * norm(lexical) + (1.0 - bm25_weight) * norm(dense)


@dataclass(frozen=True)
class Fit:
    """What the scope says about one solution: a multiplicative factor and the facts used."""

    factor: float
    size_fit: bool = False
    kind_fit: bool = False


def scope_fit(
    *,
    stage: str | None,
    buyer_kind: str | None,
    buyer_band: str | None,
    maturity: str | None,
    trust_level: str,
    target_kinds: list[str],
    target_bands: list[str],
    usertypes: list[str],
) -> Fit:
    """Boosts and penalties from who is asking and at which stage.

    Each rule applies only when both sides of it are known, so a bare query is
    ranked on text alone.
    """
    factor = 1.0
    if stage in (Stage.EXPERIMENT, Stage.BUY):
        # a stopped service is set apart at these stages (MatchService.search), not demoted:
        # its score says whether it would have taken a place among the first results
        if maturity == Maturity.IDEA:
            factor *= 0.85 if stage == Stage.BUY else 0.95
        elif maturity == Maturity.DEPLOYED and stage == Stage.BUY:
            factor *= 1.05
    kind_fit = False
    if buyer_kind:
        if buyer_kind in target_kinds or (
            not target_kinds and "collectivite-territoriale" in usertypes
        ):
            kind_fit = True
            factor *= 1.05
        elif target_kinds:
            factor *= 0.9
    size_fit = False
    if buyer_band and target_bands:
        distances = [d for b in target_bands if (d := band_distance(buyer_band, b)) is not None]
        if distances and min(distances) == 0:
            size_fit = True
            factor *= 1.04
        elif distances:
            factor *= 0.92 if min(distances) == 1 else 0.85
    if trust_level == TrustLevel.QUALIFIED:
        factor *= 1.02
    elif trust_level == TrustLevel.PILOT_CONFIRMED:
        factor *= 1.04
    return Fit(factor, size_fit=size_fit, kind_fit=kind_fit)
