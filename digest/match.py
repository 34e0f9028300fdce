"""The digest's matcher: one search per *new* entry, over the opposite index.

``DigestMatcher`` answers two questions for :mod:`digest.compose`, and this class
answers them from searches made once per new entry of the window, whatever the
number of subscribers:

* ``solutions_for_need(need, new solutions)``: each new solution searches the index of
  open needs once (:meth:`MatchService.needs_for_solution`, dense similarity >=
  ``need_min``); the hits are inverted into need -> [(solution, score)].
* ``needs_for_solution(solution, new needs)``: each new need searches the catalogue once,
  as its author would in chat (:meth:`MatchService.search`, the top ``top`` with a score
  >= ``min_score``); the hits are inverted into solution -> [(need, score)].

A subscriber then costs dictionary look-ups: composing for 10,000 people grows with
what is new, not with them (``piu bench digest``).
"""

from __future__ import annotations

from typing import Any

from core.models import Need
from matcher.need import problem_statement
from matcher.service import NEED_MIN_SIMILARITY
from matcher.types import Scope

__all__ = ["DIGEST_MIN_SIMILARITY", "IndexMatcher"]

#: Dense similarity (new solution as query, open need as passage) from which a new
#: solution is listed in a buyer's digest: the bar of the whole product
#: (:data:`matcher.service.NEED_MIN_SIMILARITY`, calibrated there).
DIGEST_MIN_SIMILARITY = NEED_MIN_SIMILARITY


class IndexMatcher:
    """DigestMatcher over MatchService, memoised for one run (see the module)."""

    def __init__(
        self,
        service: Any,
        *,
        top: int = 20,
        min_score: float = 0.5,
        need_min: float = DIGEST_MIN_SIMILARITY,
        max_needs: int = 300,
    ) -> None:
        self.service = service
        self.top = top
        self.min_score = min_score
        self.need_min = need_min
        self.max_needs = max_needs
        self._solutions_done: set[int] = set()
        self._needs_done: set[int] = set()
        self._by_need: dict[int, list[tuple[int, float]]] = {}
        self._by_solution: dict[int, list[tuple[int, float]]] = {}
        self.searches = 0  # how many index searches this run made (benchmarks)

    def solutions_for_need(self, need: Need, candidates: set[int]) -> list[tuple[int, float]]:
        for sol_id in candidates - self._solutions_done:
            self._solutions_done.add(sol_id)
            self.searches += 1
            found = self.service.needs_for_solution(
                sol_id,
                top=self.max_needs,
                min_similarity=self.need_min,
                candidates=self.max_needs,
            )
            for match in found:
                self._by_need.setdefault(match.need_id, []).append((sol_id, match.score))
        hits = [(i, s) for i, s in self._by_need.get(need.id, ()) if i in candidates]
        return sorted(hits, key=lambda h: -h[1])

    def needs_for_solution(self, solution_id: int, candidates: set[int]) -> list[tuple[int, float]]:
        todo = candidates - self._needs_done
        if todo:
            from sqlalchemy import select

            with self.service.db.session() as session:
                needs = list(session.scalars(select(Need).where(Need.id.in_(sorted(todo)))))
            for need in needs:
                self._search_need(need)
            self._needs_done.update(todo)
        hits = [(i, s) for i, s in self._by_solution.get(solution_id, ()) if i in candidates]
        return sorted(hits, key=lambda h: -h[1])

    def _search_need(self, need: Need) -> None:
        scope = Scope(
            text=need.problem or problem_statement(need.raw_text),
            language=need.language or "fr",
            themes=list(need.themes or []),
            territory_kind=need.territory_kind,
            size_band=need.size_band,
            stage=need.stage,
        )
        self.searches += 1
        try:
            matches = self.service.search(scope, top=self.top).matches
        except ValueError:  # QueryError: nothing searchable in this need
            return
        for m in matches:
            if m.score >= self.min_score:
                self._by_solution.setdefault(m.solution_id, []).append((need.id, m.score))
