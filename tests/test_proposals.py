"""Open needs for start-ups and proposals (issue 21, parts 3–5).

Fast tier: real SQLite file, real FAISS, the hashing embedder, the engine built by
``api.wiring.build_engine``. The needs and the proposals are made by the product's own
code paths (matcher.proposals, matcher.introductions.respond, the chat).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from api import analytics
from bot.engine import ConversationEngine
from core import catalogue
from core.config import Settings
from core.db import Database, downgrade, make_engine, upgrade
from core.domain import IntroKind, IntroStatus, NeedStatus, Role
from core.models import (
    FollowUp,
    Introduction,
    Need,
    Organisation,
    Outbox,
    Person,
)
from core.privacy import delete_person, export_person
from matcher import followups
from matcher.anonymise import MASK, mask_names
from matcher.introductions import respond
from matcher.proposals import off_button_id, open_needs_for, propose, received
from tests.helpers import ARTIFACTS, chat_person, flat
from tests.test_engine import Chat, _make_engine, _territories

T = "test"
SHOTS = ARTIFACTS
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)  # a Monday, 10:30 in Paris

CANTINE = (
    "La ville de Lons-le-Saunier veut réduire le gaspillage alimentaire dans les cantines "
    "scolaires : à Lons le Saunier, 30 % des repas finissent à la poubelle."
)


_flat = flat


def _person(session, external_id: str, **kw) -> Person:  # type: ignore[no-untyped-def]
    return chat_person(session, T, external_id, **kw)  # type: ignore[no-any-return]


def _need(session, owner: Person, raw: str, **kw) -> int:  # type: ignore[no-untyped-def]
    values = dict(
        owner_id=owner.id, raw_text=raw, problem=raw, status=NeedStatus.OPEN,
        themes=["Agriculture et alimentation"], territory_kind="commune", territory_code="39300",
        territory_name="Lons-le-Saunier", population=16_618, size_band="10k-50k", dep="39",
        region="27", stage="experiment", budget_band="lt60k", timing="3-12m",
    )  # fmt: skip
    values.update(kw)
    need = Need(**values)
    session.add(need)
    session.flush()
    return need.id


@pytest.fixture
def world(db: Database, settings: Settings, hashing_embedder) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A start-up with one solution; buyers with needs: one close (open to proposals),
    one as close but closed to proposals, one further away, one closed."""
    with db.session() as session:
        _territories(session)
        org = Organisation(kind="collectivite", name="Mairie de Lons-le-Saunier")
        session.add(org)
        session.flush()
        buyer = _person(
            session, "buyer", role=Role.BUYER, display_name="Claire Martin",
            email="claire.martin@lons.example", organisation_id=org.id,
        )  # fmt: skip
        other = _person(session, "other", role=Role.BUYER, email="dgs@dole.example")
        far = _person(session, "far", role=Role.BUYER, email="far@poligny.example")
        startup = _person(session, "startup", role=Role.STARTUP, email="hello@zerogaspi.example")
        sol = catalogue.create_solution(
            session,
            external_id="zero-gaspi",
            values={
                "title": "Cantine zéro gaspi",
                "mission": "Pesée des restes et menus ajustés pour réduire le gaspillage "
                "alimentaire dans les cantines scolaires.",
                "description": "Réduire le gaspillage alimentaire dans les cantines scolaires.",
                "themes": ["Agriculture et alimentation"],
                "target_size_bands": ["10k-50k"],
                "organisation_name": "Zéro Gaspi SAS",
            },
            actor="test",
            source="chat",
            submitted_by_id=startup.id,
        ).row
        ids = {
            "buyer": buyer.id, "other": other.id, "far": far.id, "startup": startup.id,
            "solution": sol.id,
            "need": _need(session, buyer, CANTINE),
            "need_off": _need(
                session, other, "Réduire le gaspillage alimentaire dans les cantines scolaires "
                "de Dole", territory_name="Dole", territory_code="39198", proposals_open=False,
            ),
            "need_far": _need(
                session, far, "Composter les biodéchets des cantines et des marchés",
                territory_name="Poligny", territory_code="39434", stage=None, budget_band=None,
            ),
            "need_closed": _need(
                session, far, "Réduire le gaspillage alimentaire à la cantine",
                status=NeedStatus.CLOSED,
            ),
        }  # fmt: skip
    return ids


@pytest.fixture
def engine(
    world: dict[str, int], db: Database, settings: Settings, hashing_embedder
) -> ConversationEngine:  # type: ignore[no-untyped-def]
    eng = _make_engine(db, settings, hashing_embedder)
    eng.service.ensure_ready()
    # the hashing embedder's similarities are not the model's: every need is a candidate,
    # ranked by similarity (the cut-off is the model's business)
    eng.service.need_similarity_threshold = 0.0
    eng.rate_limit.limit = 0
    return eng


def _outbox(db: Database, person_id: int) -> list[dict]:  # type: ignore[type-arg]
    with db.session() as session:
        return [
            o.payload
            for o in session.scalars(
                select(Outbox).where(Outbox.person_id == person_id).order_by(Outbox.id)
            )
        ]


def _propose(db: Database, world: dict[str, int], need: str = "need", **kw):  # type: ignore[no-untyped-def]
    args = dict(
        startup_person_id=world["startup"], solution_id=world["solution"], need_id=world[need],
        pitch="Nous avons réduit de 40 % le gaspillage à Dole.\nPilote de 3 mois, clé en main.",
        now=T0, fit=0.9,
    )  # fmt: skip
    args.update(kw)
    return propose(db, **args)  # type: ignore[arg-type]


# --- anonymisation --------------------------------------------------------------------------------
def test_names_are_masked_whatever_their_spelling() -> None:
    masked = mask_names(
        "Lons le saunier et LONS-LE-SAUNIER : écrire à claire@lons.example ou au 03 84 47 00 00 "
        "(Mairie de Lons-le-Saunier). Lonsdale reste.",
        ["Lons-le-Saunier", "Mairie de Lons-le-Saunier"],
    )
    assert "lons" not in masked.lower().replace("lonsdale", "")
    assert "@" not in masked and "84" not in masked
    assert masked.count(MASK) == 5 and "Lonsdale reste." in masked


def test_open_needs_are_anonymised_best_fit_first_and_respect_the_buyers_choice(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    found = open_needs_for(db, engine.service, world["startup"])
    ids = [n.need_id for n in found]
    assert world["need"] in ids and world["need_far"] in ids
    assert world["need_off"] not in ids  # proposals off: not listed
    assert world["need_closed"] not in ids
    assert [n.score for n in found] == sorted((n.score for n in found), reverse=True)
    assert ids.index(world["need"]) < ids.index(world["need_far"])
    close = found[ids.index(world["need"])]
    listing = repr(found)
    for secret in ("Lons", "Saunier", "Claire", "Martin", "Mairie", "lons.example", "Poligny"):
        assert secret not in listing, secret
    assert close.who is None and close.dep_name == "Jura" and close.size_band == "10k-50k"
    assert close.stage == "experiment" and close.budget_band == "lt60k"
    codes = {r.code for r in close.reasons}
    assert {"themes", "size_fit"} <= codes and ({"words", "semantic"} & codes)
    # the buyer agrees to share a contact: who asked is shown
    with db.session() as session:
        session.get(Person, world["buyer"]).share_contact = True  # type: ignore[union-attr]
    again = {n.need_id: n for n in open_needs_for(db, engine.service, world["startup"])}
    assert again[world["need"]].who == "Mairie de Lons-le-Saunier"


def test_the_chat_listing_is_anonymised_paged_and_marks_what_was_proposed(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    assert _propose(db, world).code == "sent"
    chat = Chat(engine, "startup")
    chat.say("/besoinsouverts")
    text = _flat(chat.text)
    assert "Jura" in text and "10 000 à 50 000 habitants" in text and "Pourquoi" in text
    assert "Lons" not in text and "Dole" not in text.split("Pourquoi")[0]
    assert "Déjà proposé" in text
    # the need already proposed to has no button; the other one has
    assert chat.labels() == ["Proposer ma solution (n°2)"]
    # /besoins: the same for a start-up; a buyer is told where to go
    chat.say("/besoins")
    assert "Déjà proposé" in _flat(chat.text)
    buyer = Chat(engine, "buyer")
    buyer.say("/besoins")
    assert "/besoin" in buyer.text and "/mesbesoins" in buyer.text


# --- caps -----------------------------------------------------------------------------------------
def test_caps_per_start_up_per_week_and_per_need(
    world: dict[str, int], db: Database, settings: Settings
) -> None:
    capped = settings.model_copy(update={"proposals_per_week": 2, "proposals_per_need": 1})
    first = _propose(db, world, settings=capped)
    assert first.code == "sent"
    again = _propose(db, world, settings=capped)
    assert again.code == "already_proposed"  # one proposal per (solution, need)
    # a second start-up on the same need: over the per-need cap while the first waits
    with db.session() as session:
        rival = _person(session, "rival", role=Role.STARTUP)
        rival_sol = catalogue.create_solution(
            session, external_id="rival", values={"title": "Rival", "mission": "Cantines."},
            actor="test", source="chat", submitted_by_id=rival.id,
        ).row.id  # fmt: skip
    over = _propose(db, world, startup_person_id=rival.id, solution_id=rival_sol, settings=capped)
    assert over.code == "cap_need" and over.params == {"cap": 1}
    # the buyer answers: the need may receive the next one
    assert respond(
        db, introduction_id=first.introduction_id or 0, responder_id=world["buyer"],
        accept=False, now=T0,
    ).code == "declined"  # fmt: skip
    assert _propose(db, world, startup_person_id=rival.id, solution_id=rival_sol,
                    settings=capped).code == "sent"  # fmt: skip
    # per week: the first start-up sent one; a second goes, a third is refused, until
    # seven days have passed since the first
    with db.session() as session:
        extra = [
            _need(session, session.get(Person, world["far"]), f"Cantine {i}", territory_name="X")
            for i in range(2)
        ]
    assert _propose(db, world, need_id=extra[0], settings=capped).code == "sent"
    refused = _propose(db, world, need_id=extra[1], settings=capped)
    assert refused.code == "cap_week" and refused.params == {"cap": 2, "days": 7}
    later = T0 + dt.timedelta(days=7, minutes=1)
    assert _propose(db, world, need_id=extra[1], settings=capped, now=later).code == "sent"
    with db.session() as session:  # refusals created nothing: four proposals in all
        assert len(session.scalars(select(Introduction)).all()) == 4


def test_bad_proposals_are_refused_and_create_nothing(world: dict[str, int], db: Database) -> None:
    assert _propose(db, world, pitch="  \n ").code == "empty_pitch"
    assert _propose(db, world, need="need_off").code == "closed"
    assert _propose(db, world, need="need_closed").code == "closed"
    assert _propose(db, world, need_id=10_000).code == "not_found"
    assert _propose(db, world, solution_id=10_000).code == "not_yours"
    assert _propose(db, world, startup_person_id=world["buyer"]).code == "not_yours"
    with db.session() as session:
        assert session.scalars(select(Introduction)).all() == []
        assert session.scalars(select(Outbox)).all() == []


# --- the buyer's side -----------------------------------------------------------------------------
def test_a_proposal_reaches_the_buyer_with_three_buttons_and_off_works(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    result = _propose(db, world)
    (payload,) = _outbox(db, world["buyer"])
    assert payload["key"] == "prop_request"
    assert [b["id"] for b in payload["buttons"]] == [
        f"intro:accept:{result.introduction_id}",
        f"intro:decline:{result.introduction_id}",
        off_button_id(result.introduction_id or 0),
    ]
    message = engine.render_outbox(payload, "fr")
    assert "Cantine zéro gaspi" in message.text and "40 %" in message.text
    assert "hello@zerogaspi" not in message.text  # no contact before the accept
    # someone else's button changes nothing
    other = Chat(engine, "other")
    other.choose(off_button_id(result.introduction_id or 0))
    assert "pas le vôtre" in _flat(other.text)
    other.choose(f"prop:list:{world['need']}")
    assert "pas le vôtre" in _flat(other.text)
    other.choose(f"intro:accept:{result.introduction_id}")
    assert "ne vous est pas adressée" in _flat(other.text)
    other.choose("prop:off:abc")
    assert "pas le vôtre" in _flat(other.text)
    with db.session() as session:
        assert session.get(Need, world["need"]).proposals_open  # type: ignore[union-attr]
    # the buyer turns proposals off from the message
    buyer = Chat(engine, "buyer")
    buyer.choose(off_button_id(result.introduction_id or 0))
    assert "plus aucune proposition" in _flat(buyer.text)
    with db.session() as session:
        assert not session.get(Need, world["need"]).proposals_open  # type: ignore[union-attr]
    assert world["need"] not in [
        n.need_id for n in open_needs_for(db, engine.service, world["startup"])
    ]
    with db.session() as session:
        rival = _person(session, "rival", role=Role.STARTUP)
        rival_sol = catalogue.create_solution(
            session, external_id="rival", values={"title": "Rival", "mission": "Cantines."},
            actor="test", source="chat", submitted_by_id=rival.id,
        ).row.id  # fmt: skip
    assert _propose(db, world, startup_person_id=rival.id, solution_id=rival_sol).code == "closed"
    # the waiting proposal is still listed in /mesbesoins, and proposals can be reopened
    buyer.say("/mesbesoins")
    assert "Propositions de start-up : fermé, 1 en attente" in _flat(buyer.text)
    buyer.press("Ouvrir aux propositions")
    assert "de nouveau ouvert" in _flat(buyer.text)


def test_received_proposals_best_fit_first(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    with db.session() as session:
        rival = _person(session, "rival", role=Role.STARTUP)
        rival_sol = catalogue.create_solution(
            session, external_id="rival", values={"title": "Rival", "mission": "Cantines."},
            actor="test", source="chat", submitted_by_id=rival.id,
        ).row.id  # fmt: skip
    _propose(db, world, fit=0.4)
    _propose(db, world, startup_person_id=rival.id, solution_id=rival_sol, fit=0.8,
             pitch="Notre outil pèse les restes.")  # fmt: skip
    with db.session() as session:
        assert [r.solution_title for r in received(session, world["need"])] == [
            "Rival", "Cantine zéro gaspi",
        ]  # fmt: skip
    buyer = Chat(engine, "buyer")
    buyer.say("/mesbesoins")
    assert "2 en attente" in _flat(buyer.text)
    buyer.press("Propositions reçues n°")
    lines = _flat(buyer.text).splitlines()
    assert lines[1].startswith("1. « Rival »") and lines[2].startswith("2. « Cantine zéro gaspi »")
    assert buyer.labels()[:2] == ["Accepter n°1", "Refuser n°1"]


def test_decline_shares_nothing_either_way(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    result = _propose(db, world)
    buyer = Chat(engine, "buyer")
    buyer.choose(f"intro:decline:{result.introduction_id}")
    assert "aucune coordonnée" in _flat(buyer.text)
    (told,) = _outbox(db, world["startup"])
    assert told["key"] == "prop_declined"
    said = _flat(str(told)) + _flat(engine.render_outbox(told, "fr").text)
    for secret in ("claire", "Claire", "Lons", "Mairie", "Martin"):
        assert secret not in said, secret
    assert all("hello@zerogaspi" not in str(p) for p in _outbox(db, world["buyer"])[1:])
    with db.session() as session:
        assert session.get(Introduction, result.introduction_id).status == IntroStatus.DECLINED  # type: ignore[union-attr]
        assert session.scalars(select(FollowUp)).all() == []


def test_accept_shares_both_counts_in_the_funnel_and_asks_the_buyer(
    engine: ConversationEngine, world: dict[str, int], db: Database, settings: Settings
) -> None:
    result = _propose(db, world)
    assert respond(
        db, introduction_id=result.introduction_id or 0, responder_id=world["buyer"],
        accept=True, now=T0, settings=settings,
    ).code == "accepted"  # fmt: skip
    (to_startup,) = _outbox(db, world["startup"])
    assert to_startup["key"] == "prop_accepted"
    assert "claire.martin@lons.example" in to_startup["params"]["contact"]
    to_buyer = _outbox(db, world["buyer"])[-1]
    assert to_buyer["key"] == "prop_accepted_target"
    assert "hello@zerogaspi.example" in to_buyer["params"]["contact"]
    # the funnel: the buyer's need reached "accepted"
    with db.session() as session:
        stages = {r.stage: r.count for r in analytics.funnel(session)}
    assert stages["accepted"] == 1 and stages["introduction"] == 1
    # the follow-up question goes to the buyer (the target), about the buyer's need
    with db.session() as session:
        (row,) = session.scalars(select(FollowUp))
        assert row.person_id == world["buyer"] and row.need_id == world["need"]
    due = followups.next_window(T0 + dt.timedelta(days=settings.followup_days), settings)
    assert followups.send_due(db, settings, due) == 1
    assert _outbox(db, world["buyer"])[-1]["kind"] == "followup"
    with db.session() as session:
        (row,) = session.scalars(select(FollowUp))
        done = followups.answer(
            session, followup_id=row.id, person_id=world["buyer"], verb="pilot", now=due
        )
        assert done.code == "ok"
        assert followups.record_share(
            session, introduction_id=done.introduction_id or 0, person_id=world["buyer"],
            share=True, now=due,
        )  # fmt: skip
    told = _outbox(db, world["startup"])[-1]
    assert told["key"] == "fu_startup_pilot" and told["params"]["who"]


@pytest.mark.parametrize("gives", [True, False])
def test_a_buyer_without_contact_is_offered_one_before_accepting(
    engine: ConversationEngine, world: dict[str, int], db: Database, gives: bool
) -> None:
    with db.session() as session:
        mayor = _person(session, "mayor", role=Role.BUYER)  # no name, e-mail or phone
        need_id = _need(session, mayor, CANTINE, territory_name="Foncine-le-Haut")
    result = _propose(db, {**world, "mayor_need": need_id}, need="mayor_need")
    assert result.code == "sent"
    intro_id = result.introduction_id or 0
    buyer = Chat(engine, "mayor")
    buyer.choose(f"intro:accept:{intro_id}")
    # nothing is shared yet: the start-up would otherwise get only the commune's name
    assert "vous n'en avez laissé aucune" in buyer.text
    with db.session() as session:
        assert session.get(Introduction, intro_id).status == IntroStatus.REQUESTED  # type: ignore[union-attr]
    if gives:
        buyer.press("J'accepte et je la donne")
        buyer.say("maire@foncine.example")
        buyer.press("Non")  # not open to requests from other buyers
    else:
        buyer.press("Continuer sans")
    assert "la mise en relation est acceptée" in buyer.text
    with db.session() as session:
        assert session.get(Introduction, intro_id).status == IntroStatus.ACCEPTED  # type: ignore[union-attr]
    told = _outbox(db, world["startup"])[-1]
    assert told["key"] == "prop_accepted"
    assert ("maire@foncine.example" in told["params"]["contact"]) is gives


def test_the_need_card_toggle_is_saved(engine: ConversationEngine, db: Database) -> None:
    buyer = Chat(engine, "newbuyer")
    buyer.say("/besoin Nous voulons réduire le gaspillage alimentaire dans nos cantines à Dole")
    for _ in range(5):
        if "Confirmer" in buyer.labels():
            break
        buyer.press("Passer" if "Passer" in buyer.labels() else "Terminé")
    assert "Ouvert aux propositions de start-up : oui" in _flat(buyer.text)
    buyer.press("Ouvert aux propositions")
    assert "Ouvert aux propositions de start-up : non" in _flat(buyer.text)
    assert "Ouvert aux propositions : non" in [_flat(x) for x in buyer.labels()]
    buyer.press("Confirmer")
    with db.session() as session:
        need = session.scalars(select(Need).order_by(Need.id.desc())).first()
        assert need is not None and need.territory_name == "Dole" and not need.proposals_open


# --- privacy --------------------------------------------------------------------------------------
def test_export_and_delete_cover_proposals(world: dict[str, int], db: Database) -> None:
    result = _propose(db, world)
    with db.session() as session:
        sent = export_person(session, world["startup"])["introductions_requested"]
        got = export_person(session, world["buyer"])["introductions_received"]
    assert [(i["kind"], i["message"][:10]) for i in sent] == [("proposal", "Nous avons")]
    assert [i["kind"] for i in got] == ["proposal"] and "requester_id" not in got[0]
    with db.session() as session:
        delete_person(session, world["startup"], now=T0)
    with db.session() as session:
        intro = session.get(Introduction, result.introduction_id)
        assert intro is not None and intro.requester_id is None and intro.message is None
        assert intro.status == IntroStatus.EXPIRED
        assert _outbox(db, world["buyer"]) == []  # the pitch is withdrawn from the buyer


# --- migration ------------------------------------------------------------------------------------
def test_migration_0009_opens_old_needs_and_keeps_old_introductions_requests(
    settings: Settings,
) -> None:
    url = settings.db_url
    upgrade(url, "0008")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO person (id, language, language_locked, share_contact, "
                              "followups_off, created_at, updated_at, last_active_at) VALUES "
                              "(1, 'fr', false, false, false, '2026-01-01', '2026-01-01', "
                              "'2026-01-01')"))  # fmt: skip
            conn.execute(text("INSERT INTO need (id, owner_id, raw_text, language, themes, "
                              "constraints, status, created_at, updated_at) VALUES (1, 1, 'x', "
                              "'fr', '[]', '[]', 'open', '2026-01-01', '2026-01-01')"))  # fmt: skip
            conn.execute(text("INSERT INTO introduction (id, requester_id, need_id, status, "
                              "share_outcome, created_at, updated_at) VALUES (1, 1, 1, "
                              "'requested', false, '2026-01-01', '2026-01-01')"))  # fmt: skip
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT proposals_open FROM need")).scalar() in (1, True)
            assert conn.execute(text("SELECT kind, fit FROM introduction")).one() == (
                "request", None,
            )  # fmt: skip
        downgrade(url, "0008")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM introduction")).scalar() == 1
        upgrade(url)
    finally:
        engine.dispose()


# --- end to end through the engine ----------------------------------------------------------------
def test_a_start_up_registers_finds_an_open_need_proposes_and_the_buyer_accepts(
    engine: ConversationEngine, world: dict[str, int], db: Database
) -> None:
    transcript: list[str] = []

    def log(who: str, chat: Chat, said: str) -> None:
        transcript.append(f"{who} > {said}")
        for message in chat.last:
            transcript.append(f"PIU > {message.text}")
            if message.buttons:
                transcript.append("      " + " | ".join(f"[{b.label}]" for b in message.buttons))

    def say(who: str, chat: Chat, said: str) -> None:
        chat.say(said)
        log(who, chat, said)

    def press(who: str, chat: Chat, label: str) -> None:
        chat.press(label)
        log(who, chat, f"[{label}]")

    s = Chat(engine, "newstartup")
    say("Start-up", s, "/inscrire")
    say("Start-up", s, "Anti-Gaspi Cantines")
    say("Start-up", s, "Balance à restes")
    say("Start-up", s, "Nous installons une balance connectée dans les cantines scolaires pour "
        "peser les restes chaque jour, ajuster les menus et les quantités, et réduire le "
        "gaspillage alimentaire de trente pour cent en un trimestre.")  # fmt: skip
    if "Non, continuer" in s.labels():
        press("Start-up", s, "Non, continuer")
    if not any(label.startswith("✓") for label in s.labels()):
        press("Start-up", s, "Agriculture et alimentation")
    press("Start-up", s, "Terminé")
    press("Start-up", s, "Communes")
    press("Start-up", s, "Terminé")
    press("Start-up", s, "10 000 à 50 000")
    press("Start-up", s, "Terminé")
    press("Start-up", s, "Pilote")
    press("Start-up", s, "Passer")
    press("Start-up", s, "Passer")
    press("Start-up", s, "Passer")
    press("Start-up", s, "J'accepte")
    say("Start-up", s, "contact@antigaspi.example")
    registered = _flat(s.text)  # the needs shown at once: anonymised, none closed to proposals
    assert "cantines scolaires" in registered and "Lons" not in registered
    assert "de Dole" not in registered
    assert "Voir les besoins ouverts" in s.labels()
    press("Start-up", s, "Voir les besoins ouverts")
    listing = _flat(s.text)
    assert "Jura" in listing and "Lons" not in listing
    press("Start-up", s, "Proposer ma solution (n°1)")
    assert "deux lignes" in _flat(s.text)
    say("Start-up", s, "Une ligne\nDeux lignes\nTrois lignes")
    assert "un peu long" in _flat(s.text)
    say("Start-up", s, "Nous pesons les restes chaque jour et ajustons les menus avec le chef.\n"
        "À Dole : -30 % de gaspillage en un trimestre.")  # fmt: skip
    assert "Voici ce que recevra la collectivité" in _flat(s.text)
    press("Start-up", s, "Envoyer")
    assert "C'est envoyé" in _flat(s.text)

    b = Chat(engine, "buyer")
    inbox = engine.pending_outbox(T, "buyer")
    b._got(inbox)
    log("Collectivité", b, "(ouvre la conversation)")
    assert "Balance à restes" in b.text and "Anti-Gaspi Cantines" in b.text
    press("Collectivité", b, "Accepter")
    assert "contact@antigaspi.example" in b.text
    s._got(engine.pending_outbox(T, "newstartup"))
    log("Start-up", s, "(ouvre la conversation)")
    assert "claire.martin@lons.example" in s.text
    with db.session() as session:
        intro = session.scalars(
            select(Introduction).where(Introduction.kind == IntroKind.PROPOSAL)
        ).one()
        assert intro.status == IntroStatus.ACCEPTED and intro.need_id == world["need"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "proposal_transcript.txt").write_text("\n".join(transcript) + "\n")
