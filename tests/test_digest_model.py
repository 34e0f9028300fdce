"""Digest composition with the real model (MatchService over a small real catalogue)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.domain import NeedStatus, Role
from core.models import ChatIdentity, Need, Person, Solution, Subscription
from digest.match import IndexMatcher
from digest.run import DigestRunner
from digest.sender import FakeSender

pytestmark = pytest.mark.slow
PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS).astimezone(dt.UTC)


OLD = [
    ("cantine", "Cantine bio locale", "Approvisionner la restauration scolaire en produits bio"),
    ("eclairage", "Éclairage public intelligent", "Réduire la consommation de l'éclairage public"),
    ("velo", "Vélos partagés", "Location de vélos électriques en libre-service"),
    ("eau", "Détection des fuites d'eau", "Capteurs sur le réseau d'eau potable"),
]


async def test_real_model_digest_for_buyer_and_startup(db, settings, embedder) -> None:
    from matcher.service import MatchService

    start = paris(2026, 1, 11, 12)
    with db.session() as s:
        for key, title, mission in OLD:
            s.add(Solution(external_id=key, title=title, mission=mission, created_at=start))
        buyer = Person(role=Role.BUYER, language="fr")
        startup = Person(role=Role.STARTUP, language="en")
        s.add_all([buyer, startup])
        s.flush()
        for p, chat in ((buyer, "1"), (startup, "2")):
            s.add(ChatIdentity(person_id=p.id, transport="telegram", external_id=chat))
            s.add(
                Subscription(person_id=p.id, language=p.language, created_at=start, watermark=start)
            )
        s.add(
            Need(
                owner_id=buyer.id, status=NeedStatus.OPEN, created_at=start,
                raw_text="Nous voulons lutter contre les dépôts sauvages de déchets",
            )
        )  # fmt: skip
        s.add(
            Solution(
                external_id="compost", title="Compostage de quartier", created_at=start,
                mission="Composteurs partagés pour les biodéchets", submitted_by_id=startup.id,
            )
        )  # fmt: skip
    service = MatchService(db, settings, embedder)
    service.ensure_ready()
    later = start + dt.timedelta(hours=5)
    with db.session() as s:
        new = Solution(
            external_id="cam", title="Caméras contre les dépôts sauvages", created_at=later,
            mission="Détection automatique des dépôts sauvages de déchets sur la voie publique",
        )  # fmt: skip
        other = Solution(
            external_id="parking", title="Stationnement connecté", created_at=later,
            mission="Capteurs de places de stationnement libres",
        )  # fmt: skip
        need = Need(
            owner_id=None, status=NeedStatus.OPEN, created_at=later, territory_name="Rennes",
            raw_text="Valoriser les biodéchets des habitants avec du compostage collectif",
        )  # fmt: skip
        s.add_all([new, other, need])
    service.index_solution(new.id)
    service.index_solution(other.id)
    service.index_need(need.id)

    sender = FakeSender()
    runner = DigestRunner(
        db, settings, sender, lambda: IndexMatcher(service), now=lambda: paris(2026, 1, 12, 9)
    )
    report = await runner.run()
    assert report.messages_sent == 2
    (buyer_text,) = sender.texts_for("1")
    assert "Caméras contre les dépôts sauvages" in buyer_text
    assert "Stationnement" not in buyer_text
    (startup_text,) = sender.texts_for("2")
    assert "New needs" in startup_text and "biodéchets" in startup_text
