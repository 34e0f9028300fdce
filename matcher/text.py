"""French-first tokenisation for BM25: lower-case, stop-words, Snowball stems, no accents."""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

from core.domain import fold

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_EXTRA_STOP = {
    # French function words and chat filler missing from the stock list
    "les", "des", "une", "aux", "cette", "ces", "dont", "comme", "avec", "sans", "pour",
    "par", "plus", "moins", "tres", "tout", "tous", "toute", "toutes", "faire", "fait",
    "etre", "avoir", "peut", "peuvent", "doit", "nous", "vous", "notre", "nos", "votre",
    "vos", "leur", "leurs", "bonjour", "merci", "cherche", "cherchons", "besoin",
    "souhaite", "souhaitons", "voudrais", "voudrions", "aimerais", "aimerions", "ainsi",
    "aussi", "entre", "chez", "sous", "sur", "dans", "afin", "car", "donc", "alors", "si",
    "d", "l", "j", "qu", "n", "s", "c", "m", "t", "y", "a", "etc", "hello", "please", "need",
    "looking", "want", "would", "like",
    # words of the chat itself (who speaks, the scope questions), not of the need
    "solution", "solutions", "outil", "outils", "maire", "adjoint", "adjointe", "mairie",
    "elu", "elue", "budget", "environ", "euros", "eur", "rentree", "voulons", "veut",
    "tester", "experimenter", "trouver", "proposer", "mettre",
}  # fmt: skip

STOPWORDS: frozenset[str] = frozenset(
    {fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN, *_EXTRA_STOP)}
)


#: Folding is the hot spot of tokenisation; words repeat, so it is memoised.
_fold_word = lru_cache(maxsize=200_000)(fold)


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def words(text: str) -> list[str]:
    """Lower-cased surface words of ``text`` (accents kept)."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=200_000)
def _token(word: str) -> str:
    """The token of one lower-cased word ('' for none): words repeat across a catalogue,
    so each is stemmed and folded once."""
    if len(word) <= 1 or _fold_word(word) in STOPWORDS:
        return ""
    return _fold_word(_stemmer("french").stemWord(word)).replace(" ", "")


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: words minus stop-words, French Snowball stems, accents folded."""
    return [token for token in map(_token, words(text)) if token]


def stem_map(text: str) -> dict[str, str]:
    """Each token of ``text`` mapped to the first surface word that produced it."""
    mapping: dict[str, str] = {}
    for word in words(text):
        if len(word) <= 1 or _fold_word(word) in STOPWORDS:
            continue
        for token in tokenize(word):
            mapping.setdefault(token, word)
    return mapping


def without_place(text: str, place: str | None) -> str:
    """``text`` without the name of the buyer's own territory.

    The scope carries the place (size band, département, peers); left in the text, "Saint-
    Denis" would only match catalogue entries that mention Saint-Denis and show
    « saint », « denis » as shared words. Matching ignores case, accents, hyphens and
    apostrophes. ``text`` is returned unchanged when nothing else would be left.
    """
    if not place:
        return text
    target = [_fold_word(w) for w in _WORD.findall(place.lower())]
    if not target:
        return text
    found = [(m.start(), m.end(), _fold_word(m.group(0).lower())) for m in _WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i <= len(found) - len(target):
        if [f for _, _, f in found[i : i + len(target)]] == target:
            spans.append((found[i][0], found[i + len(target) - 1][1]))
            i += len(target)
        else:
            i += 1
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    stripped = " ".join("".join(out).split())
    return stripped if tokenize(stripped) else text
