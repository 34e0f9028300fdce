"""The composition root: the one place that builds PIU's services.

``build_services(settings)`` opens the database, readies the match service (indexes
loaded or rebuilt), the territory resolver, the peer service and the conversation engine
with every flow; ``piu serve``, ``piu bot``, ``piu chat``, the HTTP application and the
tests all get their services here. Loading demo data is ``piu init``'s job, not this one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from api.security import KeyRing
from bot.engine import ConversationEngine
from bot.flows import ALL_FLOWS
from bot.types import Flow
from core.config import Settings
from core.db import Database
from digest.mail import mailer_for
from index.base import Embedder
from matcher.peers import PeerService
from matcher.service import MatchService
from matcher.territories import TerritoryResolver

__all__ = ["Services", "attach_digest", "build_engine", "build_services", "digest_runner"]

log = logging.getLogger(__name__)

_INDEX_METHODS = {
    "solution": "index_solution",
    "need": "index_need",
    "experience": "index_experience",
}


@dataclass
class Services:
    """Everything a transport needs, built once at start-up and passed down."""

    settings: Settings
    db: Database
    matcher: MatchService
    resolver: TerritoryResolver | None
    peers: PeerService | None
    engine: ConversationEngine
    indexes_loaded: bool = False
    keyring: KeyRing = field(init=False)

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.settings)

    def load_indexes(self) -> None:
        """Load (or rebuild) the indexes; from then on every change is re-indexed at once."""
        self.matcher.ensure_ready()
        self.indexes_loaded = True

    def reindex(self, kind: str, doc_id: int) -> None:
        """Bring the index in line with the committed row ``kind``/``doc_id``.

        Before the indexes are loaded there is nothing to update: the write already
        bumped the catalogue version, so the next load or search syncs from the DB.
        """
        if not self.indexes_loaded:
            log.debug("indexes not loaded: %s %s will be synced on load", kind, doc_id)
            return
        getattr(self.matcher, _INDEX_METHODS[kind])(doc_id)

    def resync(self) -> None:
        """After a bulk change: re-sync every index with the database."""
        if self.indexes_loaded:
            self.matcher.ensure_ready()

    def close(self) -> None:
        """Index and save what the chat queued (MatchService.close), release the database."""
        self.matcher.close()
        self.db.dispose()


def build_engine(
    db: Database,
    matcher: MatchService,
    settings: Settings,
    *,
    resolver: TerritoryResolver | None = None,
    peers: PeerService | None = None,
    flows: Sequence[Flow] = ALL_FLOWS,
) -> ConversationEngine:
    """The conversation engine over these services, with ``flows`` (all of them by default),
    and the SMTP relay when one is configured."""
    return ConversationEngine(
        db,
        matcher,
        settings,
        resolver=resolver,
        peers=peers,
        flows=flows,
        mailer=mailer_for(settings),
    )


def build_services(
    settings: Settings,
    *,
    db: Database | None = None,
    matcher: MatchService | None = None,
    embedder: Embedder | None = None,
    ready: bool = True,
    progress: bool = False,
    flows: Sequence[Flow] = ALL_FLOWS,
) -> Services:
    """Database -> MatchService -> TerritoryResolver -> PeerService -> ConversationEngine.

    ``db``/``matcher``: already open ones to build on (tests); ``ready=False`` leaves the
    indexes unloaded (the HTTP application's start-up loads them, or the first search).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = db or Database(settings.db_url)
    matcher = matcher or MatchService(db, settings, embedder)
    if ready:
        matcher.ensure_ready(progress=progress)
    with db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    peers = PeerService(db, matcher, settings)
    engine = build_engine(db, matcher, settings, resolver=resolver, peers=peers, flows=flows)
    return Services(settings, db, matcher, resolver, peers, engine, indexes_loaded=ready)


def digest_runner(services: Services, sender: Any | None) -> Any:
    """The digest runner: ``sender`` for Telegram chats (None: no bot here), the SMTP relay
    for confirmed addresses, the web chat's inbox always."""
    from digest.match import IndexMatcher
    from digest.run import DigestRunner

    return DigestRunner(
        services.db,
        services.settings,
        sender,
        lambda: IndexMatcher(services.matcher),
        mailer=services.engine.mailer,
    )


def attach_digest(application: Any, services: Services) -> None:
    """Schedule the weekly digest and the alerts, and the follow-up loop (expiry of
    unanswered introductions, due follow-up questions), on the Telegram application's
    JobQueue."""
    from digest.schedule import register_digest_jobs
    from digest.sender import TelegramSender

    runner = digest_runner(services, TelegramSender(application.bot))
    register_digest_jobs(application, services.settings, runner)
    from matcher.followup_runner import FollowUpRunner

    FollowUpRunner(services.db, services.settings).register_jobs(application)
