"""The searchable solutions' cards, kept in memory by the MatchService.

A search scores about 150 candidates by their scope fit (maturity, trust level, target
kinds and size bands, user types) and renders the best few. Fetching 150 rows with their
JSON columns took ~24 ms per search at 100,000 entries; the :class:`CardTable` holds
those columns for every searchable solution instead, read in the same pass as the index
texts (one scan at start-up and when another worker changed the solutions), and one row
at a time when this process indexes an entry. What only the shown results need (mission,
description, website, phase: :class:`CardDetail`) is read for those few rows.

The table is compact: one slotted object per entry, the repeated values (themes, kinds,
bands, maturity, trust, organisations) shared between entries rather than copied, no ORM
object. The database stays the source of truth: the table is rebuilt from it on the same
catalogue-version check that re-syncs the FAISS index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from core.catalogue import publishable_solution
from core.models import Solution

__all__ = ["CardDetail", "CardTable", "SolutionCard"]


@dataclass(frozen=True, slots=True)
class SolutionCard:
    """What ranking reads of a searchable solution, and the short fields of its card."""

    id: int
    external_id: str
    title: str
    organisation: str | None
    maturity: str | None
    trust_level: str
    themes: tuple[str, ...]
    target_kinds: tuple[str, ...]
    target_bands: tuple[str, ...]
    usertypes: tuple[str, ...]

    #: the solution columns the table reads besides the id and the index text's
    columns = (
        "external_id", "title", "organisation_name", "maturity", "trust_level", "themes",
        "target_kinds", "target_size_bands", "usertypes",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CardDetail:
    """The long fields of a card, read for the results shown (and the second stage's head)."""

    mission: str
    description: str
    website: str | None
    phase: str | None

    columns = ("mission", "description", "website", "phase")


#: the columns of the loading scan: id, the index text's columns, then the card's
_SCAN = (
    "id",
    *Solution.index_columns,
    *(c for c in SolutionCard.columns if c not in Solution.index_columns),
)
#: the JSON list columns, read as their text: a few distinct values repeat over 100,000
#: rows ("[]", one kind of collectivité...), so each is decoded once per scan
_LISTS = frozenset({"themes", "target_kinds", "target_size_bands", "usertypes"})


class CardTable:
    """Id -> :class:`SolutionCard` of every searchable solution."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cards: dict[int, SolutionCard] = {}
        #: one object per distinct value: equal tuples and names are stored once
        self._shared: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self._cards)

    def load(self, session: Session) -> dict[int, str]:
        """Read every searchable solution: the table is replaced by their cards; returns
        their index texts (id -> text), which the caller syncs the indexes with."""
        shared: dict[Any, Any] = {}  # values of entries gone are not kept for ever
        cards, texts = self._read(session, None, shared)
        with self._lock:
            self._cards, self._shared = cards, shared
        return texts

    def refresh(self, session: Session, ids: Iterable[int]) -> dict[int, str]:
        """Re-read ``ids``: the searchable ones' cards are replaced, the others dropped;
        returns the searchable ones' index texts."""
        wanted = list(dict.fromkeys(ids))
        cards, texts = self._read(session, wanted, self._shared)
        with self._lock:
            for i in wanted:
                card = cards.get(i)
                if card is None:
                    self._cards.pop(i, None)
                else:
                    self._cards[i] = card
        return texts

    def drop(self, ids: Iterable[int]) -> None:
        """Forget the cards of ``ids`` (no longer searchable)."""
        with self._lock:
            for i in ids:
                self._cards.pop(i, None)

    def get(self, ids: Iterable[int]) -> dict[int, SolutionCard]:
        """The cards of those ``ids`` that are searchable."""
        cards = self._cards  # replaced whole by load(): one consistent table
        return {i: card for i in ids if (card := cards.get(i)) is not None}

    @staticmethod
    def _read(
        session: Session, ids: list[int] | None, shared: dict[Any, Any]
    ) -> tuple[dict[int, SolutionCard], dict[int, str]]:
        """Cards and index texts of the searchable solutions (among ``ids`` if given);
        equal values come out as the one object kept in ``shared``."""
        columns = [
            cast(getattr(Solution, name), Text) if name in _LISTS else getattr(Solution, name)
            for name in _SCAN
        ]
        query = select(*columns).where(*publishable_solution())
        chunks: list[list[int] | None] = (
            [None] if ids is None else [ids[i : i + 500] for i in range(0, len(ids), 500)]
        )
        cards: dict[int, SolutionCard] = {}
        texts: dict[int, str] = {}

        def share(value: Any) -> Any:
            return None if value is None else shared.setdefault(value, value)

        decoded: dict[str | None, tuple[str, ...]] = {}

        def strings(raw: str | None) -> tuple[str, ...]:
            """The shared tuple of a JSON list of strings, decoded once per distinct text."""
            found = decoded.get(raw)
            if found is None:
                items = json.loads(raw) if raw else None
                found = decoded[raw] = share(tuple(share(str(v)) for v in items or ()))
            return found

        for chunk in chunks:
            q = query if chunk is None else query.where(Solution.id.in_(chunk))
            for row in session.execute(q):
                (doc_id, title, mission, themes, description, external_id, organisation,
                 maturity, trust, kinds, bands, usertypes) = row  # fmt: skip
                theme_tuple = strings(themes)
                texts[doc_id] = Solution.text_of(title, mission, list(theme_tuple), description)
                cards[doc_id] = SolutionCard(
                    id=doc_id,
                    external_id=external_id,
                    title=title,
                    organisation=share(organisation),
                    maturity=share(maturity),
                    trust_level=share(str(trust)),
                    themes=theme_tuple,
                    target_kinds=strings(kinds),
                    target_bands=strings(bands),
                    usertypes=strings(usertypes),
                )
        return cards, texts
