"""Peers and double opt-in introductions through the conversation engine.

The buyer sees peers with their reasons (a failure is labelled), asks for an
introduction, the peer answers with the buttons of the outbox message, and the
contacts are exchanged only on accept. Slow tests: real SQLite file, real model,
real FAISS, real ``MatchService`` / ``PeerService`` / ``matcher.introductions``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.engine import ConversationEngine
from bot.flows.shared import intro_result_text
from bot.render import render_peer, render_reason
from bot.types import OutMessage
from core.config import Settings
from core.db import Database
from core.domain import IntroStatus, Outcome, Role, TrustLevel
from core.messages import MESSAGES
from core.models import (
    ChatIdentity,
    ConsentRecord,
    Experience,
    Introduction,
    Person,
    Solution,
    utcnow,
)
from matcher.introductions import IntroResult
from matcher.types import PeerMatch, Reason
from tests.test_engine import LONS, Chat, T, _make_engine, _territories

#: Both REX answer the buyer's need (LONS); they differ by the size of their territory.
PROBLEM = "Réduire le gaspillage alimentaire dans les cantines scolaires"
SOLUTIONS = [
    ("Cantine zéro gaspi", "Pesée des restes et menus ajustés pour réduire le gaspillage "
     "alimentaire dans les cantines scolaires.", "https://zero-gaspi.example"),
    ("Covoit'Agents", "Covoiturage domicile-travail pour les agents des collectivités.", None),
    ("Éclairage intelligent", "Éclairage public piloté à distance pour réduire la "
     "consommation d'énergie.", None),
]  # fmt: skip
PEER_EMAIL, PEER_PHONE = "marie.dupont@dole.example", "03 84 00 00 00"
BUYER_EMAIL = "adjointe@lons.example"


@pytest.fixture
def _peer_db(db: Database) -> Database:
    """Three solutions, a REX of Dole (same size band, failed) whose contact is a chat user
    who agreed to be contacted, a REX of the région (another size band, no contact) and an
    unrelated REX."""
    with db.session() as session:
        _territories(session)
        for i, (title, desc, website) in enumerate(SOLUTIONS):
            session.add(
                Solution(external_id=f"sol-{i}", title=title, mission=desc, description=desc,
                         website=website, themes=["Agriculture et alimentation"] if website else [],
                         trust_level=TrustLevel.QUALIFIED)
            )  # fmt: skip
        peer = Person(
            role=Role.BUYER, display_name="Marie Dupont", email=PEER_EMAIL, phone=PEER_PHONE,
            territory_code="39198", territory_kind="commune",
        )  # fmt: skip
        peer.identities.append(ChatIdentity(transport=T, external_id="peer"))
        session.add(peer)
        session.flush()
        session.add_all(
            [
                Experience(external_id="rex-dole", title="Pesée des restes à la cantine",
                           problem=PROBLEM + " : pesée des restes et réservation des repas",
                           territory_kind="commune", territory_code="39198",
                           territory_name="Dole", population=23_000, dep="39", region="27",
                           period_start="2021", outcome=Outcome.FAILED,
                           lessons="Sans implication des cuisiniers, la pesée s'arrête vite.",
                           contact_role="Responsable restauration scolaire",
                           contact_person_id=peer.id, contact_consent=True),
                Experience(external_id="rex-region", title="Plan régional antigaspi des lycées",
                           problem=PROBLEM + " et les lycées de la région",
                           territory_kind="region", territory_code="27",
                           territory_name="Bourgogne-Franche-Comté", population=2_800_000,
                           region="27", period_start="2022", outcome=Outcome.SUCCESS,
                           contact_consent=False),
                # unrelated: hybrid scores are normalised over the candidates, so a tiny
                # index needs a clearly worse candidate for both cantine REX to stay in
                Experience(external_id="rex-lights", title="Éclairage public abaissé la nuit",
                           problem="Abaisser l'intensité de l'éclairage public la nuit",
                           territory_kind="commune", territory_code="39300",
                           territory_name="Saint-Claude", population=9_000, dep="39",
                           outcome=Outcome.SUCCESS),
            ]
        )  # fmt: skip
    return db


@pytest.fixture
def _live(_peer_db: Database, settings: Settings, embedder) -> ConversationEngine:  # type: ignore[no-untyped-def]
    engine = _make_engine(_peer_db, settings, embedder)
    engine.service.ensure_ready()
    return engine


def _flat(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def _person_id(db: Database, user: str) -> int:
    with db.session() as session:
        ident = session.scalar(select(ChatIdentity).where(ChatIdentity.external_id == user))
        assert ident is not None
        return ident.person_id


def _buyer_with_results(engine: ConversationEngine, *, contact: bool = True) -> Chat:
    """A buyer of Lons-le-Saunier confirms a scope and gets results with peers; with
    ``contact``, it already left an e-mail address with consent (``/contact``)."""
    buyer = Chat(engine, "buyer")
    if contact:
        buyer.say("/contact")
        assert "Sans adresse, votre interlocuteur" in _flat(buyer.text)
        buyer.press("J'accepte et je la donne")
        buyer.say(BUYER_EMAIL)
        buyer.press("Non")
        assert "C'est noté" in _flat(buyer.text)
    buyer.say(LONS)
    buyer.press("Terminé")
    buyer.press("Confirmer")
    return buyer


def _ask_intro_to_dole(buyer: Chat) -> None:
    buyer.press("mise en relation")
    assert "Avec qui souhaitez-vous être mis en relation" in _flat(buyer.text)
    labels = buyer.labels()
    assert "Cantine zéro gaspi" in labels and "Dole" in labels and "Retour" in labels
    # the région's REX is not a peer of a town (size first): it is not offered
    assert not any("Bourgogne" in label for label in labels)
    buyer.press("Dole")


def _peer_request(engine: ConversationEngine) -> OutMessage:
    (request,) = engine.pending_outbox(T, "peer")
    return request


# --- slow: real model ---------------------------------------------------------------------------
@pytest.mark.slow
def test_peer_reasons_intro_then_accept_exchanges_contacts(_live: ConversationEngine) -> None:
    buyer = _buyer_with_results(_live)
    text = _flat(buyer.text)
    assert "Collectivités qui ont déjà travaillé sur ce sujet" in text
    line = next(x for x in text.splitlines() if "Dole" in x and x[:1].isdigit())
    assert line[3:].startswith("Dole, Jura (commune, 23 000 habitants) — ")
    assert "a testé « Pesée des restes à la cantine » (2021)" in line
    assert "résultat : ⚠ échec (retour utile)" in line  # a failure is labelled as such
    assert "même strate : 10 000 à 50 000 habitants" in line
    assert "enseignements : Sans implication des cuisiniers" in line
    assert "autre critère" not in text  # every peer reason code has its own words
    # size first: a région of 2.8 M inhabitants is not a peer of a town while Dole is one
    assert "Bourgogne-Franche-Comté (région" not in text
    assert PEER_EMAIL not in text and PEER_PHONE not in text  # never a contact directly

    # a solution whose carrier is not a chat user: a facilitator relays, and we say so
    buyer.press("mise en relation")
    buyer.press("Cantine zéro gaspi")
    assert "transmise à un facilitateur PIU" in _flat(buyer.text)
    assert "Et maintenant" in _flat(buyer.text)

    _ask_intro_to_dole(buyer)
    assert "Demande envoyée" in _flat(buyer.text)
    buyer.press("mise en relation")
    buyer.press("Dole")
    assert "déjà une demande en cours" in _flat(buyer.text)

    request = _peer_request(_live)
    assert "Lons-le-Saunier aimerait échanger avec vous" in _flat(request.text)
    assert "« Pesée des restes à la cantine »" in _flat(request.text)
    assert BUYER_EMAIL not in request.text
    assert [b.label for b in request.buttons] == ["Accepter", "Refuser"]
    assert all(b.id.startswith(("intro:accept:", "intro:decline:")) for b in request.buttons)
    assert _live.pending_outbox(T, "peer") == []  # delivered once

    # someone else pressing the peer's button is refused
    assert "ne vous est pas adressée" in _flat(buyer.choose(request.buttons[0].id)[0].text)

    peer = Chat(_live, "peer")
    peer.choose(request.buttons[0].id)
    got = _flat(peer.text)
    assert "la mise en relation est acceptée" in got
    assert BUYER_EMAIL in got and "Lons-le-Saunier" in got
    peer.choose(request.buttons[1].id)
    assert "déjà reçu une réponse" in _flat(peer.text)

    (accepted,) = _live.pending_outbox(T, "buyer")
    assert "Bonne nouvelle" in accepted.text
    assert PEER_EMAIL in accepted.text and PEER_PHONE in accepted.text
    with _live.db.session() as session:
        statuses = sorted(str(i.status) for i in session.scalars(select(Introduction)))
    assert statuses == [IntroStatus.ACCEPTED.value, IntroStatus.QUEUED.value]


@pytest.mark.slow
def test_a_buyer_without_contact_is_offered_one_before_the_request(
    _live: ConversationEngine,
) -> None:
    buyer = _buyer_with_results(_live, contact=False)
    _ask_intro_to_dole(buyer)
    offer = _flat(buyer.text)
    assert "PIU peut conserver une adresse e-mail" in offer and "version" in offer
    assert "/retrait" in offer and "/supprimer" in offer
    assert _live.pending_outbox(T, "peer") == []  # nothing sent before the answer
    buyer.say("pas une adresse")
    assert "choisir" in _flat(buyer.text).lower() or "bouton" in _flat(buyer.text).lower()
    buyer.press("J'accepte et je la donne")
    buyer.say("adjointe@")  # invalid: asked again, nothing stored
    assert "ne semble pas valide" in _flat(buyer.text)
    buyer.say(BUYER_EMAIL.upper())
    assert "besoin proche" in _flat(buyer.text)
    buyer.press("Oui")
    text = _flat(buyer.text)
    assert "pourront vous demander une mise en relation" in text
    assert "Demande envoyée" in text and "Et maintenant" in text
    assert "/contact pour en laisser une" not in text
    with _live.db.session() as session:
        person = session.get(Person, _person_id(_live.db, "buyer"))
        assert person is not None and person.email == BUYER_EMAIL and person.share_contact
        (consent,) = session.scalars(
            select(ConsentRecord).where(ConsentRecord.person_id == person.id)
        )
        assert consent.purpose == "contact" and consent.policy_version
    # the peer accepts: it receives the buyer's address
    request = _peer_request(_live)
    assert BUYER_EMAIL not in request.text
    peer = Chat(_live, "peer")
    peer.choose(next(b.id for b in request.buttons if b.label == "Accepter"))
    assert BUYER_EMAIL in _flat(peer.text)


@pytest.mark.slow
def test_a_buyer_may_go_on_without_contact_and_is_not_asked_twice(
    _live: ConversationEngine,
) -> None:
    buyer = _buyer_with_results(_live, contact=False)
    buyer.press("mise en relation")
    buyer.press("Cantine zéro gaspi")
    buyer.press("Continuer sans")
    text = _flat(buyer.text)
    assert "transmise à un facilitateur PIU" in text
    assert "/contact pour en laisser une" in text and "Et maintenant" in text
    _ask_intro_to_dole(buyer)  # no second offer: the request goes at once
    assert "Demande envoyée" in _flat(buyer.text)
    assert "PIU peut conserver" not in _flat(buyer.text)
    # a facilitator relays the queued request (PATCH /api/admin/introductions/{id}): the
    # buyer is told, with the facilitator's message
    from api.crud import relay_introduction

    with _live.db.session() as session:
        queued = session.scalar(
            select(Introduction).where(Introduction.status == IntroStatus.QUEUED)
        )
        assert queued is not None
        relay_introduction(
            session, intro_id=queued.id, status=IntroStatus.ACCEPTED, note="appel le 3/11",
            actor="incubateur", message="Écrivez à contact@zero-gaspi.example",
        )  # fmt: skip
    told = [_flat(m.text) for m in _live.pending_outbox(T, "buyer")]
    assert len(told) == 2, told
    assert "un facilitateur PIU a transmis votre demande" in told[0]
    assert "« Cantine zéro gaspi »" in told[0]
    assert told[1] == "Message du facilitateur PIU : Écrivez à contact@zero-gaspi.example"
    assert "appel le 3/11" not in " ".join(told)  # the internal note stays internal
    with _live.db.session() as session:
        person = session.get(Person, _person_id(_live.db, "buyer"))
        assert person is not None and person.email is None and not person.share_contact
        assert session.scalars(select(ConsentRecord)).all() == []
    # /contact from the results: given, then back to the results' actions
    buyer.say("/contact")
    buyer.press("J'accepte")
    buyer.say(BUYER_EMAIL)
    buyer.press("Oui")
    assert "Et maintenant" in _flat(buyer.text)
    buyer.say("/contact")  # the address on file is shown
    assert f"Adresse de contact enregistrée : {BUYER_EMAIL}" in _flat(buyer.text)
    buyer.press("Continuer sans")
    # /retrait erases the address and the sharing again
    buyer.say("/retrait")
    assert "Votre consentement est retiré" in _flat(buyer.text)
    with _live.db.session() as session:
        person = session.get(Person, _person_id(_live.db, "buyer"))
        assert person is not None and person.email is None and not person.share_contact


@pytest.mark.slow
def test_peer_declines_nothing_shared(_live: ConversationEngine) -> None:
    buyer = _buyer_with_results(_live)
    _ask_intro_to_dole(buyer)
    request = _peer_request(_live)
    decline = next(b.id for b in request.buttons if b.label == "Refuser")

    peer = Chat(_live, "peer")
    peer.say("/besoin")  # the peer is in the middle of its own flow when it answers
    peer.choose(decline)
    got = _flat(peer.text)
    assert "la demande est déclinée et aucune coordonnée n'a été transmise" in got
    assert BUYER_EMAIL not in got
    assert "Décrivez votre besoin" in got  # its own question is asked again

    (declined,) = _live.pending_outbox(T, "buyer")
    assert "Aucune coordonnée n'a été transmise" in _flat(declined.text)
    assert PEER_EMAIL not in declined.text and PEER_PHONE not in declined.text
    assert _live.pending_outbox(T, "peer") == []


@pytest.mark.slow
def test_cap_reached_is_refused_politely(_live: ConversationEngine) -> None:
    db = _live.db
    peer_id = _person_id(db, "peer")
    with db.session() as session:
        others = [Person(role=Role.BUYER) for _ in range(_live.settings.intro_cap_per_month)]
        session.add_all(others)
        session.flush()
        session.add_all(
            Introduction(requester_id=p.id, target_person_id=peer_id, status=IntroStatus.DECLINED,
                         created_at=utcnow() - dt.timedelta(days=3))
            for p in others
        )  # fmt: skip
    buyer = _buyer_with_results(_live)
    _ask_intro_to_dole(buyer)
    text = _flat(buyer.text)
    assert "Je ne peux pas transmettre cette demande : cette personne a déjà reçu" in text
    assert "facilitateur PIU" in text and "Et maintenant" in text
    assert _live.pending_outbox(T, "peer") == []


# --- fast: renderers and result codes -----------------------------------------------------------
def _peer(**kw) -> PeerMatch:  # type: ignore[no-untyped-def]
    base = dict(experience_id=1, territory_name="Mont-de-Marsan", territory_kind="commune",
                population=29_000, score=0.8, title="Appli de réservation", outcome="stopped",
                period="2019–2021")  # fmt: skip
    base.update(kw)
    return PeerMatch(**base)  # type: ignore[arg-type]


def test_every_peer_reason_code_has_words() -> None:
    reasons = [
        Reason("size_band", {"band": "10k-50k", "same": False}),
        Reason("same_kind", {"kind": "commune"}),
        Reason("lessons", {"text": "Impliquer les familles dès le départ."}),
        Reason("more_rex", {"n": 2, "titles": ["a", "b"]}),
        Reason("same_dep", {"dep_name": "Landes"}),
        Reason("same_region", {"region_name": "Nouvelle-Aquitaine"}),
        Reason("same_need", {"text": "x"}),
        Reason("outcome", {"outcome": "failed"}),
    ]
    for lang in ("fr", "en"):
        texts = [render_reason(r, lang) for r in reasons]
        assert all(texts) and MESSAGES["reason_generic"][lang] not in texts, texts
        assert render_reason(Reason("peer_profile", {"name": "X"}), lang) is None
        assert render_reason(Reason("tried", {"title": "X"}), lang) is None
    assert (
        _flat(render_reason(reasons[0], "fr") or "") == "taille proche : 10 000 à 50 000 habitants"
    )
    assert render_reason(reasons[4], "en") == "same département (Landes)"
    assert "⚠" in (render_reason(reasons[-1], "fr") or "")


def test_peer_line_labels_stopped_and_same_need() -> None:
    stopped = render_peer(_peer(reasons=[Reason("more_rex", {"n": 1})]), "en")
    assert stopped.startswith("Mont-de-Marsan (municipality, 29,000 inhabitants) — ")
    assert 'tried "Appli de réservation" (2019–2021); outcome: ⚠ stopped' in stopped
    assert "1 more experience report(s)" in stopped
    same_need = render_peer(
        _peer(experience_id=None, need_id=7, outcome="ongoing",
              reasons=[Reason("same_need", {"text": "Cantines sans gaspillage"})]),
        "fr",
    )  # fmt: skip
    assert "a le même besoin : « Cantines sans gaspillage » — parlons-en" in _flat(same_need)
    assert "résultat" not in same_need


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("sent", "Demande envoyée"),
        ("queued", "facilitateur PIU"),
        ("cap_reached", "Je ne peux pas transmettre cette demande : cette personne"),
        ("no_contact", "Je ne peux pas transmettre cette demande : ce contact"),
        ("self", "Je ne peux pas transmettre cette demande : il s'agit de votre propre fiche"),
        ("already_requested", "Vous avez déjà une demande en cours"),
        ("not_found", "Cette fiche n'existe plus"),
        ("surprise", "n'a pas pu être transmise"),
    ],
)
def test_intro_result_texts(code: str, expected: str) -> None:
    assert expected in _flat(intro_result_text(IntroResult(code, params={"who": "X"}), "fr"))
    assert intro_result_text(IntroResult(code), "en")


def test_outbox_keys_and_button_labels_fr_en() -> None:
    keys = ["intro_request", "intro_request_anonymous", "intro_accepted", "intro_accepted_target",
            "intro_declined", "intro_expired", "moderation_approved", "moderation_rejected",
            "moderation_merged", "intro_accept_button", "intro_decline_button"]  # fmt: skip
    for key in keys:
        assert set(MESSAGES[key]) == {"fr", "en"}, key
    payload = {
        "kind": "introduction", "introduction_id": 5, "key": "intro_request",
        "params": {"who": "Dole", "about": "Cantines", "message": ""},
        "buttons": [{"id": "intro:accept:5", "key": "intro_accept_button"},
                    {"id": "intro:decline:5", "key": "intro_decline_button"}],
    }  # fmt: skip
    en = ConversationEngine.render_outbox(payload, "en")
    assert [b.label for b in en.buttons] == ["Accept", "Decline"]
    assert 'Dole would like to talk with you about "Cantines".\nDo you accept' in en.text
    rejected = ConversationEngine.render_outbox(
        {"key": "moderation_rejected", "params": {"title": "Compost+", "reason": "doublon"}}, "fr"
    )
    assert "« Compost+ »" in _flat(rejected.text) and "doublon" in rejected.text
    labelled = ConversationEngine.render_outbox(
        {"text": "x", "buttons": [{"id": "a:b", "label": "Oui", "label_en": "Yes"}]}, "en"
    )
    assert labelled.buttons[0].label == "Yes"


@pytest.mark.slow
def test_a_peer_line_opens_its_rex_sheet_and_asks_for_a_contact(
    _live: ConversationEngine,
) -> None:
    buyer = _buyer_with_results(_live)
    assert "Retour d'expérience : Dole" in [_flat(x) for x in buyer.labels()]
    buyer.press("Dole")
    sheet = _flat(buyer.text)
    for part in ("Retour d'expérience : Pesée des restes à la cantine",
                 "Qui : Dole (10 000 à 50 000 habitants)", "Problème : Réduire le gaspillage",
                 "Période : depuis 2021", "Résultat : ⚠ échec (retour utile)",
                 "Enseignements : Sans implication des cuisiniers",
                 "Les joindre : en direct"):  # fmt: skip
        assert part in sheet, part
    assert PEER_EMAIL not in sheet and PEER_PHONE not in sheet and "Marie" not in sheet
    buyer.press("Demander un contact")
    assert "Demande envoyée, en direct" in _flat(buyer.text)
    assert "Pesée des restes" in _flat(_peer_request(_live).text)
    # a forged or stale REX id: a polite answer, nothing sent
    buyer.choose("rex:show:999999")
    assert "Cette fiche n'est plus disponible" in _flat(buyer.text)
    buyer.choose("rex:meet:abc")
    assert _live.pending_outbox(T, "peer") == []
