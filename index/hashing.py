"""A deterministic embedder without a model: words and character n-grams hashed into buckets.

Selected with ``PIU_EMBEDDER=hashing`` (see :func:`index.embedder.load_embedder`): PIU
then runs without the model files, and the fast test tier searches, ranks and indexes with
it. Texts that share words or pieces of words get close vectors (case and accents are
folded, so *Vélos* and *velo* share most features); there is no meaning beyond the letters.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np

from core.domain import fold
from index.base import Vectors, l2_normalise

#: Recorded in every index the hashing embedder builds; never a real model's id, so such an
#: index is rebuilt (``model changed``) when the real model is configured again.
HASHING_MODEL = "piu-hashing-v1"
DEFAULT_DIM = 384
#: Character n-gram lengths, taken from each word padded as ``<word>``.
NGRAM_SIZES = (3, 4, 5)
#: Shorter words (de, la, en, à) are left out: in every text, they would make all alike.
MIN_WORD_LENGTH = 3
_SIGN_BIT = 0x80000000


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """The bucket of one feature and its sign (signed hashing keeps collisions unbiased)."""
    h = zlib.crc32(feature.encode("utf-8"))
    return h % dim, -1.0 if h & _SIGN_BIT else 1.0


@lru_cache(maxsize=65536)
def _word_features(word: str, dim: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Buckets and weights of one folded word: the word itself, and its n-grams with the
    same weight in all (a long word counts no more than a short one)."""
    padded = f"<{word}>"
    grams = [padded[i : i + n] for n in NGRAM_SIZES for i in range(len(padded) - n + 1)]
    word_bucket, word_sign = _bucket(f"w:{word}", dim)
    gram_buckets = [_bucket(f"g:{gram}", dim) for gram in grams]
    buckets = (word_bucket, *(bucket for bucket, _ in gram_buckets))
    share = 1.0 / math.sqrt(len(grams))
    weights = (word_sign, *(sign * share for _, sign in gram_buckets))
    return buckets, weights


def _words(text: str) -> list[str]:
    """The distinct folded words of ``text`` worth a feature, in order of appearance."""
    return list(dict.fromkeys(w for w in fold(text).split() if len(w) >= MIN_WORD_LENGTH))


class HashingEmbedder:
    """An :class:`~index.base.Embedder` hashing words and character n-grams into ``dim``
    buckets: deterministic across processes and machines, nothing to load.

    Each distinct word counts once. Queries and passages are embedded alike (no prompts).
    A text without any word of :data:`MIN_WORD_LENGTH` letters gets the zero vector.
    """

    def __init__(self, dim: int = DEFAULT_DIM) -> None:
        self.dim = dim
        self.model_id = f"{HASHING_MODEL}|{dim}"

    def _encode(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            buckets: list[int] = []
            weights: list[float] = []
            for word in _words(text):
                word_buckets, word_weights = _word_features(word, self.dim)
                buckets.extend(word_buckets)
                weights.extend(word_weights)
            if buckets:
                out[row] = np.bincount(buckets, weights, minlength=self.dim)
        return l2_normalise(out)

    def encode_queries(self, texts: list[str]) -> Vectors:
        return self._encode(texts)

    def encode_passages(self, texts: list[str], *, show_progress: bool = False) -> Vectors:
        return self._encode(texts)
