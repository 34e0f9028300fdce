"""MatchService: the one facade the chat engine and the HTTP API use for matching.

Flow: scope -> query vector + BM25 tokens -> candidates from both indexes ->
fused score -> scope-aware adjustments -> ranked matches with their reasons.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.catalogue import indexable_documents
from core.config import Settings
from core.db import Database, bump_catalogue_version, catalogue_versions
from core.domain import Maturity, NeedStatus, Stage, clean_text, fold, size_band
from core.memory import trim_heap
from core.models import Experience, Need, Solution
from core.vectors import StoredVectors
from index.base import Embedder
from index.store import KINDS, IndexStore, SyncReport
from matcher.bm25 import LexicalIndex
from matcher.cards import CardDetail, CardTable, SolutionCard
from matcher.indexer import BackgroundIndexer
from matcher.need import scope_from_message
from matcher.ranking import FusionParams, fuse, scope_fit
from matcher.rerank import (
    CandidateText,
    Reranker,
    active_reranker,
    candidate_text,
    features,
    query_signals,
)
from matcher.text import stem_map, tokenize, without_place, words
from matcher.types import NeedMatch, Reason, Scope, SolutionMatch

if TYPE_CHECKING:
    from matcher.territories import TerritoryResolver

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 10_000
#: Rankings kept for "more results" (each is a list of the candidates of one query).
RANKING_CACHE_SIZE = 256
#: Long card fields (mission, description, ...) kept for the results shown last.
DETAIL_CACHE_SIZE = 2048
#: Seconds between BM25 rebuilds for documents indexed in the background.
LEXICAL_REBUILD_INTERVAL = 2.0
#: Stages at which a stopped service gives way to live ones (see :meth:`MatchService.search`).
LIVE_FIRST_STAGES = frozenset({Stage.EXPERIMENT, Stage.BUY})
#: Stopped services shown apart ("Déjà tenté ailleurs") at those stages, at most.
TRIED_ELSEWHERE = 3
#: Words never cited as shared with a need: the asker's size and kind of collectivité,
#: the chat's own vocabulary; numbers, stop-words and the place are filtered as well.
_REASON_STOP_TEXT = (
    "habitant habitants hab population inhabitants residents people commune communes "
    "ville villes village villages bourg collectivité collectivités intercommunalité "
    "interco communauté agglomération agglo métropole département région territoire "
    "territoires town towns city cities municipality local council service services "
    "projet projets lancer mettre place nouveau nouvelle besoin souhaitons voulons "
    "aimerions petite petit grande grand moyenne rural rurale urbaine"
)
REASON_STOP_WORDS = frozenset(fold(w) for w in _REASON_STOP_TEXT.split())


class QueryError(ValueError):
    """A query that cannot be searched; ``code`` names the reason for the renderer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SearchResult:
    matches: list[SolutionMatch]
    notices: list[str] = field(default_factory=list)  # e.g. "truncated", "no_keywords"
    #: Stopped services set apart at the experiment and buy stages (first page only).
    tried_elsewhere: list[SolutionMatch] = field(default_factory=list)


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (the whole text when it has no full stop)."""
    flat = " ".join(text.split())
    for i, ch in enumerate(flat):
        if ch in ".!?" and (i + 1 == len(flat) or flat[i + 1] == " ") and i > 20:
            return flat[: i + 1]
    return flat


#: A description's first sentence that is a template prompt, not a pitch.
_PLACEHOLDER = re.compile(r"d[ée]cri[st]?\b|lorem ipsum|^\W", re.IGNORECASE)


def pitch_of(card: CardDetail) -> str:
    """One sentence on what the entry does: the description's first sentence when it is
    a real one (eight words or more, not a question or a template prompt), else the
    mission's."""
    sentence = first_sentence(card.description)
    if (
        len(sentence.split()) >= 8
        and not sentence.endswith("?")
        and not _PLACEHOLDER.search(sentence)
    ):
        return sentence
    return first_sentence(card.mission) or sentence


def _is_stopped(card: SolutionCard) -> bool:
    return card.maturity == Maturity.STOPPED


def prepare_query(text: str) -> tuple[str, list[str]]:
    """Clean a raw query; returns the text to search and notices. Raises QueryError."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    cleaned = clean_text(text)
    notices: list[str] = []
    if not cleaned:
        raise QueryError("empty", "the query is empty")
    if not any(ch.isalpha() for ch in cleaned):
        raise QueryError("no_letters", "the query has no words")
    if len(cleaned) > MAX_QUERY_CHARS:
        cleaned = cleaned[:MAX_QUERY_CHARS]
        notices.append("truncated")
    if not tokenize(cleaned):
        notices.append("no_keywords")
    return cleaned, notices


#: Dense similarity (solution as query, open need as passage) from which a need fits a
#: solution. ``piu bench digest-threshold`` (5 hand-labelled needs x the 660 demo
#: solutions, 13 relevant pairs, fine-tuned model): 0.72 keeps 9 of the 13 with 5 of
#: the other 3,287 pairs above it; 0.80, the bar until 2026-12, kept 1 of 13.
NEED_MIN_SIMILARITY = 0.72


class MatchService:
    """Hybrid (dense + BM25) matching over solutions, needs and REX."""

    #: Dense cosine (solution text as query, need as passage) from which an open need is
    #: shown to a start-up (registration, /besoinsouverts, proposals); the digest uses the
    #: same bar (``digest.match``). See :data:`NEED_MIN_SIMILARITY`.
    need_similarity_threshold = NEED_MIN_SIMILARITY

    def __init__(
        self,
        db: Database,
        settings: Settings,
        embedder: Embedder | None = None,
        *,
        params: FusionParams | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self._embedder = embedder
        self.params = params or FusionParams()
        #: Second stage over the first stage's best candidates (None: fused order only).
        self.reranker: Reranker | None = active_reranker(settings)
        self._store: IndexStore | None = None
        self._lexical = {kind: LexicalIndex() for kind in KINDS}
        self._version = -1  # the catalogue's, as last read (-1: indexes not loaded yet)
        #: each kind's version as last synced: a change to one kind re-reads that kind only
        self._kind_version = dict.fromkeys(KINDS, -1)
        self._ready_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        #: every searchable solution's card, synced with the solution index
        self._cards = CardTable()
        #: long fields of the cards shown lately (emptied when the solutions change)
        self._details: OrderedDict[int, CardDetail] = OrderedDict()
        #: full rankings by (query, scope fit inputs, catalogue version): "more" pages
        #: are slices of the first search, not new searches
        self._rankings: OrderedDict[tuple[object, ...], list[tuple[float, SolutionCard, Any]]]
        self._rankings = OrderedDict()
        self._indexer = BackgroundIndexer(self._apply_batch, self._save_kinds)
        db.before_dispose(self.close)  # what is queued is indexed while the database is open
        self._lexical_built = dict.fromkeys(KINDS, 0.0)
        #: milliseconds per stage of the query path, summed, while a benchmark sets it
        #: (encode, dense, lexical, fusion_scope, database)
        self.stage_ms: dict[str, float] | None = None

    def _tick(self, stage: str, since: float) -> float:
        """Add the time since ``since`` to ``stage`` (when timing); returns now."""
        now = time.perf_counter()
        if self.stage_ms is not None:
            self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + (now - since) * 1000
        return now

    @classmethod
    def ready(
        cls, settings: Settings, db: Database | None = None, *, progress: bool = True
    ) -> MatchService:
        """A MatchService over ``db`` (default: the settings' database), indexes loaded or
        rebuilt from the database."""
        service = cls(db or Database(settings.db_url), settings)
        service.ensure_ready(progress=progress)
        return service

    # -- lifecycle ------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from index.embedder import load_embedder

            self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def store(self) -> IndexStore:
        if self._store is None:
            self._store = IndexStore(
                self.settings.index_dir, self.embedder, vectors=StoredVectors(self.db)
            )
        return self._store

    def ensure_ready(
        self,
        *,
        progress: bool = False,
        force: bool = False,
        newer_than: int | None = None,
        wait_for_writer: bool = False,
    ) -> list[SyncReport]:
        """Load the indexes, bringing in what the database changed since they were saved
        (vectors stored by the process that wrote a text, else embedded here).

        ``newer_than``: do nothing if this process has reached that catalogue version
        meanwhile (another thread refreshed while this one waited for the lock).
        ``wait_for_writer``: see :meth:`IndexStore.sync`.
        """
        with self._ready_lock:
            return self._sync_locked(
                progress=progress,
                force=force,
                newer_than=newer_than,
                wait_for_writer=wait_for_writer,
            )

    def _sync_locked(
        self,
        *,
        progress: bool,
        force: bool,
        newer_than: int | None,
        wait_for_writer: bool,
        kinds: list[str] | None = None,
    ) -> list[SyncReport]:
        """:meth:`ensure_ready`'s work; the caller holds ``_ready_lock``. ``kinds``: only
        those (the stale ones), else every kind."""
        if newer_than is not None and self._version > newer_than:
            return []
        starting = self._version < 0
        todo = [kind for kind in KINDS if kinds is None or kind in kinds]
        with self.db.session() as session:  # the versions and the texts of one snapshot
            versions = catalogue_versions(session)
            docs = {
                kind: (
                    self._cards.load(session)  # the cards in the same pass as their texts
                    if kind == "solution"
                    else indexable_documents(session, kind)
                )
                for kind in todo
            }
        reports = self.store.sync(
            docs, force=force, progress=progress, wait_for_writer=wait_for_writer
        )
        for kind in todo:
            self._lexical[kind].set_documents(docs[kind])
            self._lexical[kind].rebuild()  # here, not in the next query
            self._kind_version[kind] = versions[kind]
        self._version = versions[None]
        if "solution" in todo:
            self._forget_cards()
        del docs  # 100,000 texts: freed before the trim
        if starting or any(not r.loaded for r in reports):
            trim_heap()  # a full load leaves its temporary objects' pages mapped
        return reports

    def _stale_kinds(self, versions: dict[str | None, int]) -> list[str]:
        """The kinds another process changed since this one last synced them."""
        stale = [kind for kind in KINDS if versions[kind] > self._kind_version[kind]]
        if not stale and versions[None] > self._version:
            stale = list(KINDS)  # a bump that named no kind (a worker of an older release)
        return stale

    def refresh_if_stale(self) -> None:
        """Another process changed the catalogue: bring this one's indexes (and cards) up
        to date from the database, for the kinds it changed only (texts, and the vectors
        their writer stored)."""
        with self.db.session() as session:
            versions = catalogue_versions(session)
        stale = self._stale_kinds(versions)
        if not (stale or self.store.waiting_overdue()):
            return
        # One thread refreshes; the others search the indexes as they are meanwhile rather
        # than wait: a waiting request may hold a pooled database connection that the
        # refresh needs (the chat engine's session), and enough of them would starve it.
        if not self._ready_lock.acquire(blocking=False):
            return
        try:
            stale = self._stale_kinds(versions)  # another thread may have just done it
            overdue = self.store.overdue_kinds()  # the writer may have died: embed them here
            stale += [kind for kind in KINDS if kind in overdue and kind not in stale]
            if stale:
                self._sync_locked(
                    progress=False,
                    force=False,
                    newer_than=None,
                    wait_for_writer=True,
                    kinds=stale,
                )
        finally:
            self._ready_lock.release()

    def _forget_cards(self, ids: list[int] | None = None) -> None:
        """Drop the cached long fields (of ``ids``, else all) and every cached ranking."""
        with self._cache_lock:
            if ids is None:
                self._details.clear()
            else:
                for i in ids:
                    self._details.pop(i, None)
            self._rankings.clear()

    def _solution_cards(self, ids: list[int]) -> dict[int, SolutionCard]:
        """The cards of the searchable ``ids``, from the in-memory table."""
        return self._cards.get(ids)

    def _card_details(self, session: Session, ids: list[int]) -> dict[int, CardDetail]:
        """The long fields of ``ids``' cards: a few rows by primary key, cached."""
        with self._cache_lock:
            out = {i: self._details[i] for i in ids if i in self._details}
        missing = [i for i in dict.fromkeys(ids) if i not in out]
        if missing:
            columns = [getattr(Solution, name) for name in CardDetail.columns]
            fetched = {
                row[0]: CardDetail(*row[1:])
                for row in session.execute(
                    select(Solution.id, *columns).where(Solution.id.in_(missing))
                )
            }
            with self._cache_lock:
                self._details.update(fetched)
                while len(self._details) > DETAIL_CACHE_SIZE:
                    self._details.popitem(last=False)
            out.update(fetched)
        return out

    def candidate_texts(self, session: Session, cards: list[SolutionCard]) -> list[CandidateText]:
        """What the second stage reads of each card besides the scores (title, mission,
        themes; no mission for a row deleted meanwhile)."""
        details = self._card_details(session, [card.id for card in cards])
        return [
            candidate_text(
                card.title, detail.mission if (detail := details.get(card.id)) else "", card.themes
            )
            for card in cards
        ]

    def _changed(self, kind: str) -> None:
        # set before the commit: a concurrent reader in this process never sees the new
        # version as someone else's change (refresh_if_stale only reloads on a *newer* one)
        with self.db.session() as session:
            bump_catalogue_version(session, kind)
            versions = catalogue_versions(session)
        self._version = max(self._version, versions[None])
        self._kind_version[kind] = max(self._kind_version[kind], versions[kind])

    # -- index maintenance ----------------------------------------------------
    def _reindex(self, kind: str, doc_id: int, text: str | None) -> None:
        if self._version < 0:
            self.ensure_ready()
        if text is None:
            self.store.remove(kind, doc_id)
            self._lexical[kind].remove(doc_id)
        else:
            self.store.upsert(kind, doc_id, text)
            self._lexical[kind].upsert(doc_id, text)
        if kind == "solution":
            if text is None:
                self._cards.drop([doc_id])
            self._forget_cards([doc_id])
        self._changed(kind)

    def _current_text(self, kind: str, doc_id: int) -> str | None:
        """The text of ``doc_id`` as the database holds it (``None``: not searchable); a
        solution's card is re-read with it."""
        with self.db.session() as session:
            if kind == "solution":
                return self._cards.refresh(session, [doc_id]).get(doc_id)
            return indexable_documents(session, kind, [doc_id]).get(doc_id)

    def index_solution(self, solution_id: int) -> None:
        self._reindex("solution", solution_id, self._current_text("solution", solution_id))

    def index_need(self, need_id: int) -> None:
        self._reindex("need", need_id, self._current_text("need", need_id))

    def index_experience(self, experience_id: int) -> None:
        self._reindex("experience", experience_id, self._current_text("experience", experience_id))

    def remove(self, kind: str, doc_id: int) -> None:
        self._reindex(kind, doc_id, None)

    # -- background indexing (chat steps: the reply does not wait for it) -------
    def index_later(self, kind: str, doc_id: int) -> None:
        """Queue ``kind``/``doc_id`` (already committed) for the background indexer."""
        if kind not in KINDS:
            raise ValueError(f"unknown index kind {kind!r}")
        self._indexer.submit(kind, doc_id)

    def flush_indexing(self, *, save: bool = False, timeout: float = 60.0) -> bool:
        """Wait until every document queued so far is searchable (and saved to disk)."""
        return self._indexer.flush(save=save, timeout=timeout)

    def close(self) -> None:
        """Index and save what is queued; call before the process exits."""
        self._indexer.close()

    def _apply_batch(self, kind: str, ids: list[int]) -> bool:
        if self._version < 0:
            self.ensure_ready()
        with self.db.session() as session:
            docs = (
                self._cards.refresh(session, ids)  # the cards in the same pass
                if kind == "solution"
                else indexable_documents(session, kind, ids)
            )
        self.store.upsert_many(kind, docs, save=False)
        for doc_id in ids:
            if doc_id in docs:
                self._lexical[kind].upsert(doc_id, docs[doc_id], defer=True)
            else:  # closed, unpublished or deleted since it was queued
                self.store.remove(kind, doc_id, save=False)
                self._lexical[kind].remove(doc_id, defer=True)
        if kind == "solution":
            self._forget_cards(ids)
        if time.monotonic() - self._lexical_built[kind] >= LEXICAL_REBUILD_INTERVAL:
            self._rebuild_lexical(kind)
        self._changed(kind)
        return True

    def _rebuild_lexical(self, kind: str) -> None:
        self._lexical[kind].rebuild()
        self._lexical_built[kind] = time.monotonic()

    def _save_kinds(self, kinds: set[str]) -> None:
        for kind in sorted(kinds):
            self._rebuild_lexical(kind)
            self.store.save(kind)

    # -- core hybrid retrieval -------------------------------------------------
    def query_vector(self, text: str) -> np.ndarray:
        """Query vectors are cached: paging ("more results") and re-ranking reuse them."""
        with self._cache_lock:
            cached = self._qcache.get(text)
            if cached is not None:
                self._qcache.move_to_end(text)
                return cached
        vector = self.embedder.encode_queries([text])[0]
        with self._cache_lock:
            self._qcache[text] = vector
            while len(self._qcache) > 512:
                self._qcache.popitem(last=False)
        return vector

    def _hybrid(
        self,
        kind: str,
        text: str,
        language: str,
        *,
        k: int | None = None,
        checked: bool = False,
    ) -> list[tuple[int, float, float, float]]:
        """Candidates for ``text`` as (id, fused, dense, bm25), best first.

        ``checked``: the caller has just brought the indexes up to date.
        """
        t = time.perf_counter()
        if self._version < 0:
            self.ensure_ready()
        elif not checked:
            self.refresh_if_stale()
        t = self._tick("database", t)
        k = k or self.params.candidates
        qvec = self.query_vector(text)
        t = self._tick("encode", t)
        dense_hits = dict(self.store.search(kind, qvec, k))
        t = self._tick("dense", t)
        lex_top, lex_score = self._lexical[kind].top(tokenize(text), k)
        t = self._tick("lexical", t)
        candidates = set(dense_hits)
        candidates.update(lex_top)
        if not candidates:
            return []
        ids = sorted(candidates)
        missing = [i for i in ids if i not in dense_hits]
        dense_hits.update(self.store.similarity(kind, qvec, missing))
        t = self._tick("dense", t)
        ids = [i for i in ids if i in dense_hits]
        dense = np.array([dense_hits[i] for i in ids], dtype=np.float32)
        lexical = lex_score(ids)
        t = self._tick("lexical", t)
        fused = fuse(dense, lexical, self.params.weight_for(language), self.params.fusion)
        order = np.argsort(-fused, kind="stable")
        out = [(ids[o], float(fused[o]), float(dense[o]), float(lexical[o])) for o in order]
        self._tick("fusion_scope", t)
        return out

    # -- solutions ------------------------------------------------------------
    def search(self, scope: Scope, *, top: int = 5, offset: int = 0) -> SearchResult:
        text, notices = prepare_query(without_place(scope.text, scope.territory_name))
        t = time.perf_counter()
        if self._version < 0:
            self.ensure_ready()
        else:
            self.refresh_if_stale()
        self._tick("database", t)
        key = (
            text,
            scope.language,
            scope.stage,
            scope.territory_kind,
            scope.size_band,
        )  # any change to the solutions empties the cache (_forget_cards)
        with self._cache_lock:
            scored = self._rankings.get(key)
            if scored is not None:
                self._rankings.move_to_end(key)
        with self.db.session() as session:
            if scored is None:
                scored = self._rank(session, scope, text)
                with self._cache_lock:
                    self._rankings[key] = scored
                    while len(self._rankings) > RANKING_CACHE_SIZE:
                        self._rankings.popitem(last=False)
            ranked, apart = _live_first(scored, scope.stage)
            page = ranked[offset : offset + top]
            if offset == 0 and apart and page:
                # the stopped services that would have taken a place on this page
                floor = page[-1][0] if len(page) == top else 0.0
                apart = [item for item in apart if item[0] >= floor][:TRIED_ELSEWHERE]
            else:
                apart = []
            t = time.perf_counter()
            shown = [item[1].id for item in [*page, *apart]]
            details = self._card_details(session, shown)
            evidence = self._rex_evidence(session, shown, scope.size_band)
            t = self._tick("database", t)
        query_terms = citable_terms(text, scope)
        matches, tried = (
            [
                SolutionMatch(
                    solution_id=card.id,
                    external_id=card.external_id,
                    title=card.title,
                    score=round(score, 4),
                    trust_level=card.trust_level,
                    reasons=self._reasons(
                        card, detail, scope, query_terms, fit, evidence.get(card.id)
                    ),
                    mission=detail.mission,
                    website=detail.website,
                    maturity=card.maturity,
                    pitch=pitch_of(detail),
                    organisation=card.organisation,
                    phase=detail.phase,
                )
                for score, card, fit in items
                if (detail := details.get(card.id)) is not None  # None: deleted meanwhile
            ]
            for items in (page, apart)
        )
        self._tick("fusion_scope", t)
        return SearchResult(matches, notices, tried_elsewhere=tried)

    def _rank(
        self, session: Session, scope: Scope, text: str
    ) -> list[tuple[float, SolutionCard, Any]]:
        """Every candidate with its scope-adjusted score, best first (then the second stage)."""
        scored = self.first_stage_scored(session, scope, text)
        if self.reranker is not None and len(scored) > 1:
            head = scored[: self.reranker.depth]
            texts = self.candidate_texts(session, [item[1] for item in head])
            rows = features([item[3] for item in head], texts, *query_signals(text))
            order = self.reranker.order(rows)
            # the displayed scores stay the first stage's, decreasing, in the new order
            head = [(head[i][0], head[o][1], head[o][2], head[o][3]) for i, o in enumerate(order)]
            scored[: len(head)] = head
        return [(score, card, fit) for score, card, fit, _hit in scored]

    def first_stage_scored(
        self, session: Session, scope: Scope, text: str
    ) -> list[tuple[float, SolutionCard, Any, tuple[int, float, float, float]]]:
        """(scope-adjusted score, card, fit, first-stage hit) of every candidate, best first."""
        hits = self.first_stage(text, scope.language)
        if not hits:
            return []
        t = time.perf_counter()
        cards = self._solution_cards([h[0] for h in hits])  # in memory: no query
        t = self._tick("database", t)
        scored = []
        for hit in hits:
            card = cards.get(hit[0])
            if card is None:
                continue
            fit = scope_fit(
                stage=scope.stage,
                buyer_kind=scope.territory_kind,
                buyer_band=scope.size_band,
                maturity=card.maturity,
                trust_level=card.trust_level,
                target_kinds=list(card.target_kinds),
                target_bands=list(card.target_bands),
                usertypes=list(card.usertypes),
            )
            scored.append((hit[1] * fit.factor, card, fit, hit))
        scored.sort(key=lambda item: -item[0])
        self._tick("fusion_scope", t)
        return scored

    def first_stage(self, text: str, language: str) -> list[tuple[int, float, float, float]]:
        """Hybrid candidates (id, fused, dense, bm25), best first, without those that share
        no word with the need and sit too far below the best dense score."""
        hits = self._hybrid("solution", text, language, checked=True)
        if hits and self.params.semantic_gap is not None:
            floor = max(h[2] for h in hits) - self.params.semantic_gap
            hits = [h for h in hits if h[3] > 0 or h[2] >= floor]
        return hits

    def search_solutions(
        self, scope: Scope, *, top: int = 5, offset: int = 0
    ) -> list[SolutionMatch]:
        return self.search(scope, top=top, offset=offset).matches

    def rank_ids(
        self,
        text: str,
        *,
        top: int = 10,
        language: str = "fr",
        resolver: TerritoryResolver | None = None,
    ) -> list[str]:
        """External ids, best first, for a message read as the chat reads it
        (:func:`matcher.need.scope_from_message`; ``resolver``: find the place too).

        What is ranked is the message's problem statement, for who the territory says the
        asker is; the stage read in the text is left out: a retrieval set's problem
        statements ("nous voulons tester…") would otherwise set stopped services apart at
        the experiment stage (:func:`_live_first`), a choice the chat lets the buyer confirm
        on the fiche besoin, not one an evaluation should make for them."""
        scope = scope_from_message(text, language=language, resolver=resolver).scope
        scope = dataclasses.replace(scope, stage=None)
        return [m.external_id for m in self.search(scope, top=top).matches]

    def similar_solutions(
        self, text: str, *, top: int = 3, min_score: float = 0.86
    ) -> list[SolutionMatch]:
        """Existing entries that look like ``text`` (duplicate check at registration)."""
        text, _ = prepare_query(text)
        if self._version < 0:
            self.ensure_ready()
        qvec = self.embedder.encode_passages([text])[0]
        hits = [(i, s) for i, s in self.store.search("solution", qvec, top) if s >= min_score]
        if not hits:
            return []
        with self.db.session() as session:
            rows = {
                s.id: s
                for s in session.scalars(
                    select(Solution).where(Solution.id.in_([h[0] for h in hits]))
                )
            }
        return [
            SolutionMatch(
                solution_id=i,
                external_id=rows[i].external_id,
                title=rows[i].title,
                score=round(s, 4),
                trust_level=str(rows[i].trust_level),
                reasons=[Reason("semantic", {"similarity": round(s, 2)})],
                mission=rows[i].mission,
                website=rows[i].website,
                maturity=rows[i].maturity,
            )
            for i, s in hits
            if i in rows
        ]

    @staticmethod
    def _rex_evidence(
        session: Session, ids: list[int], band: str | None
    ) -> dict[int, tuple[int, int]]:
        """Solution id -> (collectivités that used it, how many of them of size ``band``),
        from the REX rows linked to the solution."""
        if not ids:
            return {}
        rows = session.execute(
            select(
                Experience.solution_id,
                Experience.territory_code,
                Experience.territory_name,
                Experience.population,
            ).where(Experience.solution_id.in_(ids))
        )
        seen: dict[int, dict[str, bool]] = {}
        for sid, code, name, population in rows:
            if sid is None:
                continue
            who = code or name or ""
            same = band is not None and size_band(population) == band
            places = seen.setdefault(int(sid), {})
            places[who] = places.get(who, False) or same
        return {sid: (len(p), sum(p.values())) for sid, p in seen.items()}

    def _reasons(
        self,
        sol: SolutionCard,
        detail: CardDetail,
        scope: Scope,
        query_terms: dict[str, str],
        fit: Any,
        evidence: tuple[int, int] | None,
    ) -> list[Reason]:
        """Why ``sol`` matched, in the buyer's terms, strongest first: the problem it
        answers, its fit with the scope, its use elsewhere; shared words only when the
        mission says nothing. Maturity and trust come last (shown as badges)."""
        reasons: list[Reason] = []
        answers = _answered_problem(detail.mission, query_terms)
        if answers:
            reasons.append(Reason("answers", {"text": answers}))
        fit_params: dict[str, Any] = {}
        if fit.kind_fit and scope.territory_kind and sol.target_kinds:
            fit_params["kind"] = scope.territory_kind
        if fit.size_fit and scope.size_band:
            fit_params["band"] = scope.size_band
        if (scope.stage == Stage.BUY and sol.maturity == Maturity.DEPLOYED) or (
            scope.stage == Stage.EXPERIMENT and sol.maturity in (Maturity.DEPLOYED, Maturity.PILOT)
        ):
            fit_params["stage"] = scope.stage
            fit_params["maturity"] = sol.maturity
        if fit_params:
            reasons.append(Reason("fit", fit_params))
        if evidence and evidence[0]:
            reasons.append(
                Reason("evidence", {"n": evidence[0], "same_size": evidence[1]})
                if scope.size_band
                else Reason("evidence", {"n": evidence[0]})
            )
        if not answers:
            tokens = self._lexical["solution"].tokens(sol.id)
            if tokens is None:  # not in the lexical index (yet)
                text = Solution.text_of(
                    sol.title, detail.mission, list(sol.themes), detail.description
                )
                tokens = tokenize(text)
            doc_tokens = set(tokens)
            shared = [word for token, word in query_terms.items() if token in doc_tokens]
            shared.sort(key=len, reverse=True)
            reasons.append(
                Reason("words", {"terms": shared[:3]}) if shared else Reason("semantic", {})
            )
        wanted = {fold(t) for t in scope.themes}
        themes = [t for t in sol.themes if wanted and _theme_overlap(fold(t), wanted)]
        if themes:
            reasons.append(Reason("themes", {"themes": themes[:3]}))
        if sol.maturity:
            reasons.append(Reason("maturity", {"maturity": sol.maturity}))
        reasons.append(Reason("trust", {"level": str(sol.trust_level)}))
        return reasons

    # -- needs and REX ----------------------------------------------------------
    def needs_for_solution(
        self,
        solution_id: int,
        *,
        top: int = 5,
        min_similarity: float | None = None,
        candidates: int | None = None,
    ) -> list[NeedMatch]:
        """Open needs that a solution answers (for start-ups and digests).

        Fused scores are relative to the candidate set (a lone candidate would
        score 0), so the cut-off is on the absolute dense similarity. ``candidates``:
        how many needs each retriever proposes (default: the search's own).
        """
        threshold = self.need_similarity_threshold if min_similarity is None else min_similarity
        self._indexer.flush(timeout=10.0)  # needs the chat has just queued are proposed too
        with self.db.session() as session:
            sol = session.get(Solution, solution_id)
            if sol is None:
                return []
            text = sol.index_text()
        hits = [h for h in self._hybrid("need", text, "fr", k=candidates) if h[2] >= threshold]
        hits = hits[:top]
        if not hits:
            return []
        query_terms = stem_map(text)
        with self.db.session() as session:
            needs = {
                n.id: n
                for n in session.scalars(
                    select(Need).where(
                        Need.id.in_([h[0] for h in hits]), Need.status == NeedStatus.OPEN
                    )
                )
            }
            out = []
            for doc_id, _fused, dense, _lex in hits:
                need = needs.get(doc_id)
                if need is None:
                    continue
                need_tokens = set(tokenize(need.index_text()))
                shared = [w for t, w in query_terms.items() if t in need_tokens]
                reasons = (
                    [Reason("words", {"terms": shared[:4]})] if shared else [Reason("semantic", {})]
                )
                out.append(
                    NeedMatch(
                        need_id=need.id,
                        score=round(dense, 4),
                        text=need.raw_text,
                        territory_name=need.territory_name,
                        size_band=need.size_band,
                        reasons=reasons,
                    )
                )
        return out

    def search_experiences(
        self, text: str, *, top: int = 50, language: str = "fr"
    ) -> list[tuple[int, float]]:
        """REX similar to ``text`` as (experience id, fused score in [0, 1]), best first."""
        text, _ = prepare_query(text)
        return [(h[0], h[1]) for h in self._hybrid("experience", text, language)[:top]]

    def search_needs(
        self, text: str, *, top: int = 50, language: str = "fr"
    ) -> list[tuple[int, float]]:
        """Open needs similar to ``text`` as (need id, fused score), best first."""
        text, _ = prepare_query(text)
        return [(h[0], h[1]) for h in self._hybrid("need", text, language)[:top]]


#: Where a mission splits into the problems it answers.
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[.;:!?()]|,\s+(?:et|en|pour|afin)\b|\s+(?:et|afin de|pour)\s+)\s*"
)
#: Clauses kept to at most this many characters (cut at a word).
ANSWER_CHARS = 110


def _answered_problem(mission: str, query_terms: dict[str, str]) -> str | None:
    """The clause of ``mission`` that shares the most words with the need (the whole first
    sentence when none shares one, or ``None`` when no clause shares a word at all and the
    mission is empty), cut at a word to :data:`ANSWER_CHARS`."""
    sentence = first_sentence(mission)
    if not sentence:
        return None
    wanted = set(query_terms)
    clauses = [c for c in _CLAUSE_BREAK.split(sentence) if len(c.split()) >= 2] or [sentence]
    best = max(clauses, key=lambda c: len(wanted & set(tokenize(c))))
    if not wanted & set(tokenize(best)):
        best = sentence
    flat = " ".join(best.split()).strip(" ,;:.")
    if len(flat) > ANSWER_CHARS:
        flat = flat[: ANSWER_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:.") + "…"
    return flat[:1].lower() + flat[1:] if flat[1:2].islower() else flat


def citable_terms(text: str, scope: Scope) -> dict[str, str]:
    """The words of ``text`` that may be cited as shared with an entry (stem -> word): no
    number, stop-word, size or kind-of-collectivité word, nor a word of the asker's place.
    Used for solutions and for peers alike."""
    place = {fold(w) for w in words(scope.territory_name or "")}
    return {
        token: word
        for token, word in stem_map(text).items()
        if not any(ch.isdigit() for ch in word)
        and fold(word) not in REASON_STOP_WORDS
        and fold(word) not in place
        and len(word) > 2
    }


def _live_first(
    scored: list[tuple[float, SolutionCard, Any]], stage: str | None
) -> tuple[list[tuple[float, SolutionCard, Any]], list[tuple[float, SolutionCard, Any]]]:
    """At the experiment and buy stages, stopped services leave the ranking to live ones
    (returned apart) as long as there is a live candidate; otherwise nothing changes."""
    if stage not in LIVE_FIRST_STAGES:
        return scored, []
    live = [item for item in scored if not _is_stopped(item[1])]
    if not live:
        return scored, []
    return live, [item for item in scored if _is_stopped(item[1])]


def _theme_overlap(theme: str, wanted: set[str]) -> bool:
    theme_words = set(theme.split())
    return any(theme_words & set(w.split()) for w in wanted)
