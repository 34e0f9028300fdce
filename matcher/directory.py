"""The directory ("annuaire", who does what): the public catalogue browsed by theme, for
the chat's ``/annuaire`` and the web pages ``/annuaire`` alike, so both list the same
entries in the same order.

Themes are the taxonomy of :mod:`matcher.themes`. Catalogue entries carry free theme
labels ("Mobilité", "Transports", "Open-Data", "logistique urbaine"); an entry belongs
to the taxonomy themes its labels name (an id or label, :func:`find_theme`) or mention (the
theme keywords, :func:`extract_themes`); when its labels name none ("Écologie",
"Territoires"), the keywords of its title and summary decide; an entry still without a
theme is listed under :data:`OTHER`, so every public entry can be found.

What is listed is what the public sees and the search holds: the solutions of
:func:`core.catalogue.publishable_solution` (published, neither rejected nor merged; an
archived one is out) and the REX of :func:`core.catalogue.public_experience` (neither
waiting for a facilitator nor rejected). Items hold public facts only: never a contact.

Order (documented in the README's user guide):

* solutions: live ones first (maturity ``deployed``: in service, operated or sold), then
  the others, discontinued ones (``stopped``) last; within each group the highest trust
  level first (pilot confirmed, qualified, declared), then the title (accents ignored);
* REX: by outcome, success first (success, partial, ongoing, failed, stopped, not
  reported: a failure's lessons before a silence), then the largest population first
  (unknown last), then the territory's name.

Reading every public entry's themes costs a pass over the catalogue, so the result is
kept per database and rebuilt when the catalogue changes (its version, row counts or
last update move): a page is then a slice of a sorted list. A rebuild reads the themes
again only of the entries that changed (measured on the demo catalogue: first build
185 ms, a rebuild after a change about 30 ms).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.catalogue import public_experience, publishable_solution
from core.db import catalogue_versions
from core.domain import TRUST_ORDER, Maturity, Outcome, TrustLevel, fold
from core.messages import t
from core.models import Experience, Solution
from matcher.themes import THEMES, extract_themes, find_theme

__all__ = [
    "KINDS",
    "MAX_KEYWORD_CHARS",
    "OTHER",
    "PAGE_SIZE",
    "DirectoryPage",
    "RexItem",
    "SolutionItem",
    "ThemeCount",
    "browse",
    "entry_themes",
    "keyword_words",
    "theme_counts",
    "theme_name",
]

#: Entries per page, in the chat and on the web (one number: page N is the same list).
PAGE_SIZE = 10
#: The id of the entries no taxonomy theme describes (never a taxonomy id).
OTHER = "autres"
#: A keyword filter longer than this is refused (it would match nothing anyway).
MAX_KEYWORD_CHARS = 100
#: Words of a keyword filter kept, at most.
MAX_KEYWORD_WORDS = 8

Kind = Literal["solutions", "rex"]
KINDS: tuple[Kind, ...] = ("solutions", "rex")

#: Solutions: live first, discontinued last (see the module notes).
_LIVE, _OTHERS, _STOPPED = 0, 1, 2
#: REX outcomes, best first.
_OUTCOME_ORDER = {
    o.value: i
    for i, o in enumerate(
        (
            Outcome.SUCCESS,
            Outcome.PARTIAL,
            Outcome.ONGOING,
            Outcome.FAILED,
            Outcome.STOPPED,
            Outcome.UNKNOWN,
        )
    )
}
_TRUST_RANK = {level.value: i for i, level in enumerate(TRUST_ORDER)}


# --- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SolutionItem:
    """A solution as a directory line: public catalogue facts."""

    id: int
    title: str
    organisation: str | None
    maturity: str | None
    trust_level: str
    live: bool


@dataclass(frozen=True)
class RexItem:
    """A REX as a directory line: who (territory, kind, population), what, the outcome."""

    id: int
    title: str
    territory_name: str | None
    territory_kind: str | None
    population: int | None
    outcome: str


@dataclass(frozen=True)
class ThemeCount:
    """A theme of the directory and how many public entries it lists."""

    id: str
    label: str
    solutions: int
    rex: int

    @property
    def empty(self) -> bool:
        return self.solutions == 0 and self.rex == 0


@dataclass(frozen=True)
class DirectoryPage:
    """One page of a theme. ``page`` is 0-based and always within ``0 .. pages - 1``
    (a page past the end is the last one); ``total``: entries matching the filter."""

    theme: str
    kind: Kind
    keyword: str | None
    items: tuple[SolutionItem | RexItem, ...]
    total: int
    page: int
    pages: int
    page_size: int
    #: the other kind's count under the same filter (the "switch" button's number)
    other_total: int

    @property
    def first_number(self) -> int:
        """The number of the page's first line (numbers run on across pages)."""
        return self.page * self.page_size + 1

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


# --- themes ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _label_themes(value: str) -> tuple[str, ...]:
    """The taxonomy themes one entry label names or mentions (labels repeat: cached)."""
    theme = find_theme(value)
    return (theme.id,) if theme is not None else tuple(extract_themes(value))


def _theme_ids(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        for theme_id in _label_themes(value[:200]):
            if theme_id not in out:
                out.append(theme_id)
    return out


def entry_themes(labels: Sequence[str] | None, text: str) -> tuple[str, ...]:
    """The directory themes of an entry: those its theme ``labels`` name or mention, else
    those its ``text`` (title and summary) mentions, else ``(OTHER,)``."""
    found = _theme_ids(list(labels or []))
    if not found:
        found = extract_themes(text, limit=2)
    return tuple(found) or (OTHER,)


def theme_name(theme_id: str, lang: str) -> str | None:
    """The label of a directory theme; ``None`` if ``theme_id`` is not one."""
    if theme_id == OTHER:
        return t("dir_theme_other", lang)
    theme = find_theme(theme_id)
    if theme is None or theme.id != theme_id:
        return None
    return theme.en if lang == "en" else theme.fr


def keyword_words(keyword: str | None) -> tuple[str, ...]:
    """The folded words of a keyword filter (accents and case ignored), at most
    :data:`MAX_KEYWORD_WORDS`; ``()`` for no filter."""
    return tuple(fold(keyword or "").split()[:MAX_KEYWORD_WORDS])


# --- the snapshot ---------------------------------------------------------------------------
@dataclass
class _Row:
    item: SolutionItem | RexItem
    #: the fields a keyword filter reads
    fields: tuple[str | None, ...]
    #: " word word … " of ``fields``, folded (a keyword word matches a word start); made
    #: on the first filter of the row's theme, not for the whole catalogue up front
    hay: str | None = None

    def words(self) -> str:
        if self.hay is None:
            self.hay = " " + " ".join(fold(p) for p in self.fields if p) + " "
        return self.hay


@dataclass
class _Snapshot:
    fingerprint: tuple[Any, ...]
    #: theme id -> kind -> rows in directory order
    rows: dict[str, dict[Kind, list[_Row]]]


#: Databases whose directory is kept (a process normally opens one; tests open many).
_CACHE_SIZE = 4
_CACHE: dict[str, _Snapshot] = {}
_LOCK = threading.Lock()


#: Characters of a REX's problem read for its themes when its labels name none.
_THEME_TEXT_CHARS = 600


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """What moves whenever a listed entry may have changed: the solutions' and REX's
    catalogue versions (every write through core.catalogue; a need written leaves the
    directory alone), and each table's row count, last id and last update (a row written
    any other way)."""
    versions = catalogue_versions(session)
    out: list[Any] = [versions["solution"], versions["experience"]]
    for model in (Solution, Experience):
        count, last_id, last_update = session.execute(
            select(func.count(model.id), func.max(model.id), func.max(model.updated_at))
        ).one()
        out += [count, last_id, str(last_update)]
    return tuple(out)


#: (kind, id) -> (last update, themes): an entry's themes are read again only when it
#: changed, so a rebuild after one catalogue change costs a query and a sort, not a pass
#: of theme extraction over every entry (about 25 s at 100,000 entries).
#: Keyed by database too (tests open many).
_THEMES_SEEN: dict[tuple[str, str, int], tuple[Any, tuple[str, ...]]] = {}
_THEMES_SEEN_MAX = 500_000


def _themes_of(
    where: str, kind: str, row_id: int, stamp: Any, labels: Sequence[str] | None, text: str
) -> tuple[str, ...]:
    key = (where, kind, row_id)
    seen = _THEMES_SEEN.get(key)
    if seen is not None and seen[0] == stamp:
        return seen[1]
    themes = entry_themes(labels, text)
    if len(_THEMES_SEEN) >= _THEMES_SEEN_MAX:
        _THEMES_SEEN.clear()
    _THEMES_SEEN[key] = (stamp, themes)
    return themes


def _db_key(session: Session) -> str:
    return str(session.get_bind().engine.url)


def _solution_rows(session: Session) -> list[tuple[tuple[Any, ...], tuple[str, ...], _Row]]:
    out, where = [], _db_key(session)
    result = session.execute(
        select(
            Solution.id,
            Solution.title,
            Solution.mission,
            Solution.organisation_name,
            Solution.maturity,
            Solution.trust_level,
            Solution.themes,
            Solution.updated_at,
        ).where(*publishable_solution())
    )
    for sid, title, mission, org, maturity, trust, labels, stamp in result:
        trust_value = str(trust.value if isinstance(trust, TrustLevel) else trust)
        group = (
            _LIVE
            if maturity == Maturity.DEPLOYED
            else _STOPPED
            if maturity == Maturity.STOPPED
            else _OTHERS
        )
        item = SolutionItem(sid, title, org, maturity, trust_value, group == _LIVE)
        key = (group, -_TRUST_RANK.get(trust_value, 0), fold(title), sid)
        themes = _themes_of(where, "s", sid, stamp, labels, f"{title}. {mission or ''}")
        out.append((key, themes, _Row(item, (title, mission, org))))
    return out


def _rex_rows(session: Session) -> list[tuple[tuple[Any, ...], tuple[str, ...], _Row]]:
    out, where = [], _db_key(session)
    result = session.execute(
        select(
            Experience.id,
            Experience.title,
            Experience.territory_name,
            Experience.organisation_name,
            Experience.territory_kind,
            Experience.population,
            Experience.outcome,
            Experience.problem,
            Experience.themes,
            Experience.updated_at,
        ).where(*public_experience())
    )
    for rid, title, territory, org, kind, population, outcome, problem, labels, stamp in result:
        outcome_value = str(outcome.value if isinstance(outcome, Outcome) else outcome)
        name = territory or org
        item = RexItem(rid, title, name, kind, population, outcome_value)
        key = (
            _OUTCOME_ORDER.get(outcome_value, len(_OUTCOME_ORDER)),
            -(population if population is not None else -1),
            fold(name or title),
            rid,
        )
        text = f"{title}. {(problem or '')[:_THEME_TEXT_CHARS]}"
        themes = _themes_of(where, "r", rid, stamp, labels, text)
        out.append((key, themes, _Row(item, (title, problem, territory, org))))
    return out


def _build(session: Session, fingerprint: tuple[Any, ...]) -> _Snapshot:
    rows: dict[str, dict[Kind, list[_Row]]] = {
        theme_id: {"solutions": [], "rex": []} for theme_id in [*(x.id for x in THEMES), OTHER]
    }
    kinds: tuple[tuple[Kind, Any], ...] = (("solutions", _solution_rows), ("rex", _rex_rows))
    for kind, read in kinds:
        for _key, themes, row in sorted(read(session), key=lambda r: r[0]):
            for theme_id in themes:
                rows[theme_id][kind].append(row)
    return _Snapshot(fingerprint, rows)


def _snapshot(session: Session) -> _Snapshot:
    """The directory of this database, rebuilt only when its catalogue moved."""
    where = _db_key(session)
    fingerprint = _fingerprint(session)
    with _LOCK:
        found = _CACHE.get(where)
        if found is not None and found.fingerprint == fingerprint:
            return found
    built = _build(session, fingerprint)
    with _LOCK:
        _CACHE.pop(where, None)
        _CACHE[where] = built
        while len(_CACHE) > _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
    return built


# --- queries --------------------------------------------------------------------------------
def theme_counts(session: Session, lang: str = "fr") -> list[ThemeCount]:
    """Every directory theme with its number of public solutions and REX, sorted by label
    in ``lang`` (accents ignored), :data:`OTHER` last; empty themes included."""
    snap = _snapshot(session)
    counts = [
        ThemeCount(
            theme_id,
            theme_name(theme_id, lang) or theme_id,
            len(by_kind["solutions"]),
            len(by_kind["rex"]),
        )
        for theme_id, by_kind in snap.rows.items()
    ]
    return sorted(counts, key=lambda c: (c.id == OTHER, fold(c.label)))


def _matching(rows: list[_Row], words: tuple[str, ...]) -> list[_Row]:
    if not words:
        return rows
    return [r for r in rows if all(f" {w}" in r.words() for w in words)]


def browse(
    session: Session,
    theme: str,
    *,
    kind: Kind = "solutions",
    keyword: str | None = None,
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> DirectoryPage | None:
    """One page of ``theme``'s solutions or REX, in directory order; ``None`` when
    ``theme`` is not a directory theme. ``keyword``: every word must start a word of the
    entry's title, summary (mission / problem) or organisation (territory for a REX),
    accents and case ignored. ``page`` is clamped into the existing pages."""
    if kind not in KINDS:
        raise ValueError(f"unknown directory kind {kind!r}")
    if page_size < 1:
        raise ValueError("page_size must be positive")
    snap = _snapshot(session)
    by_kind = snap.rows.get(theme)
    if by_kind is None:
        return None
    words = keyword_words(keyword)
    matching = _matching(by_kind[kind], words)
    other: Kind = "rex" if kind == "solutions" else "solutions"
    pages = max(1, math.ceil(len(matching) / page_size))
    page = min(max(page, 0), pages - 1)
    start = page * page_size
    return DirectoryPage(
        theme=theme,
        kind=kind,
        keyword=" ".join(keyword.split()) if words and keyword else None,
        items=tuple(r.item for r in matching[start : start + page_size]),
        total=len(matching),
        page=page,
        pages=pages,
        page_size=page_size,
        other_total=len(_matching(by_kind[other], words)),
    )
