"""The one place that builds PIU's services for every transport (Telegram, web, terminal).

``build_services(settings)`` opens the database, readies the match service (indexes loaded
or rebuilt), the territory resolver, the peer service when it is available, and the
conversation engine over them. Loading demo data is ``piu init``'s job, not this one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.db import Database

if TYPE_CHECKING:
    from bot.engine import ConversationEngine
    from index.base import Embedder
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

__all__ = ["Services", "build_services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a transport needs, built once at start-up and passed down."""

    settings: Settings
    db: Database
    service: MatchService
    resolver: TerritoryResolver | None
    peers: Any | None  # matcher.peers.PeerService when installed
    engine: ConversationEngine

    def close(self) -> None:
        """Index and save what the chat queued (MatchService.close), release the database."""
        self.db.dispose()


def build_services(
    settings: Settings, *, embedder: Embedder | None = None, progress: bool = False
) -> Services:
    """Database -> MatchService -> TerritoryResolver -> PeerService -> ConversationEngine."""
    from bot.engine import ConversationEngine
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    service = MatchService(db, settings, embedder)
    service.ensure_ready(progress=progress)
    with db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    from matcher.peers import PeerService

    peers = PeerService(db, service, settings)
    engine = ConversationEngine(db, service, settings, resolver=resolver, peers=peers)
    from bot.flows.digest import register_digest
    from bot.flows.privacy import register_privacy

    register_privacy(engine)
    register_digest(engine)
    return Services(settings, db, service, resolver, peers, engine)


def attach_digest(application: Any, services: Services) -> None:
    """Schedule the weekly digest on the Telegram application's JobQueue."""
    from digest.compose import ServiceMatcher
    from digest.run import DigestRunner
    from digest.schedule import register_digest_jobs
    from digest.sender import TelegramSender

    runner = DigestRunner(
        services.db,
        services.settings,
        TelegramSender(application.bot),
        lambda: ServiceMatcher(services.service),
    )
    register_digest_jobs(application, services.settings, runner)
