"""Thematic communities through the engine: offered under the peers, join, members'
anonymised needs, a double opt-in request to a member, the digest line, leave, privacy."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.engine import ConversationEngine
from core.config import Settings
from core.db import Database
from core.domain import NeedStatus, Role
from core.models import ChatIdentity, CommunityMember, Introduction, Need, Person, Subscription
from core.privacy import delete_person, export_person
from digest.compose import collect, render
from digest.match import IndexMatcher
from matcher.scope import extract
from matcher.themes import find_theme
from tests.test_engine import LONS, Chat, T, _ready_engine, _territories

NAMES = {"b2": "Bernadette Secret", "b3": "Hugo Privé"}


def _theme() -> str:
    theme = next(t for t in (find_theme(x) for x in extract(LONS).themes) if t)
    return theme.fr


def _other_buyers(db: Database) -> dict[str, int]:
    """Two buyers of the same size band with an open need on the same theme (chat users)."""
    ids = {}
    with db.session() as session:
        for user, dep in (("b2", "25"), ("b3", "70")):
            person = Person(role=Role.BUYER, display_name=NAMES[user], email=f"{user}@x.fr")
            person.identities.append(ChatIdentity(transport=T, external_id=user))
            session.add(person)
            session.flush()
            need = Need(owner_id=person.id, raw_text=f"Moins de restes à la cantine ({user})",
                        themes=[_theme()], size_band="10k-50k", territory_kind="commune",
                        territory_name=f"Ville {user}", dep=dep,
                        status=NeedStatus.OPEN)  # fmt: skip
            session.add(need)
            session.flush()
            ids[user] = need.id
    return ids


def _flat(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.fixture
def _engine(db: Database, settings: Settings, hashing_embedder) -> ConversationEngine:  # type: ignore[no-untyped-def]
    with db.session() as session:
        _territories(session)
    return _ready_engine(db, settings, hashing_embedder)


def test_a_buyer_joins_a_group_meets_a_member_and_leaves(_engine: ConversationEngine) -> None:
    engine = _engine
    needs = _other_buyers(engine.db)
    Chat(engine, "b2").choose(f"grp:join:{needs['b2']}")  # b2 opted in earlier
    since = dt.datetime.now(dt.UTC)

    buyer = Chat(engine, "buyer")
    buyer.say(LONS)
    buyer.press("Terminé")
    buyer.press("Confirmer")
    text = _flat(buyer.text)
    assert "2 collectivités de votre taille travaillent aussi sur ce sujet" in text
    buyer.press("Rejoindre le groupe")
    text = _flat(buyer.text)
    assert "Vous avez rejoint le groupe" in text and "10 000 à 50 000 habitants" in text
    assert "2 membre(s)" in text
    assert "commune, 10 000 à 50 000 habitants, 25 — « Moins de restes à la cantine (b2) »" in text
    assert "(vous)" in text
    assert all(n not in text for n in NAMES.values()) and "@x.fr" not in text
    assert "b3" not in text  # not a member: an open need alone is counted, never shown

    # ask b2 to be put in touch: b2 is a chat user who joined: direct, double opt-in
    buyer.press("Échanger avec n°1")
    buyer.press("Continuer sans")
    assert "Demande envoyée, en direct" in _flat(buyer.text)
    (request,) = engine.pending_outbox(T, "b2")
    assert "Lons-le-Saunier" in _flat(request.text)
    # b3 never joined nor shared: a forged request is refused, nothing sent
    buyer.choose(f"grp:meet:{needs['b3']}")
    assert "Je ne peux pas transmettre cette demande" in _flat(buyer.text)
    assert engine.pending_outbox(T, "b3") == []

    # b2's weekly digest mentions the new member, anonymised
    with engine.db.session() as session:
        b2 = session.scalar(select(Person).where(Person.display_name == NAMES["b2"]))
        assert b2 is not None
        sub = Subscription(person_id=b2.id, themes=[])
        session.add(sub)
        session.flush()
        content = collect(session, IndexMatcher(engine.service), sub, b2, since=since,
                          until=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))  # fmt: skip
        digest = "\n".join(p.text for p in render(content, "fr"))
        assert "Nouveaux membres de vos groupes thématiques" in _flat(digest)
        assert "gaspillage alimentaire" in digest
        assert "adjointe" not in digest.lower() and "Lons" not in digest
        b2_id = b2.id

    # forged or stale buttons: polite answers, nothing changes
    buyer.choose("grp:join:999999")
    assert "Je ne peux pas vous inscrire" in _flat(buyer.text)
    buyer.choose(f"grp:join:{needs['b3']}")  # someone else's need
    assert "Je ne peux pas vous inscrire" in _flat(buyer.text)
    buyer.choose("grp:show:999999")
    assert "Vous ne faites pas partie de ce groupe" in _flat(buyer.text)

    buyer.say("/groupes")
    assert "(2 membres)" in _flat(" ".join(buyer.labels()))
    buyer.press("2 membres")
    buyer.press("Quitter le groupe")
    assert "Vous avez quitté le groupe" in _flat(buyer.text)
    buyer.say("/groupes")
    assert "aucun groupe" in _flat(buyer.text)

    # personal data: exported, and erased with the person
    with engine.db.session() as session:
        exported = export_person(session, b2_id)
        assert [m["need_id"] for m in exported["community_memberships"]] == [needs["b2"]]
        report = delete_person(session, b2_id, now=dt.datetime.now(dt.UTC))
        assert report.community_memberships == 1
    with engine.db.session() as session:
        assert session.scalars(select(CommunityMember)).all() == []
        assert session.scalars(select(Introduction)).all()  # kept, anonymised
