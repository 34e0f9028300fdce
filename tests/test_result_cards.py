"""Results a buyer can act on (issue 14): the need read apart from greetings and size,
reasons in the buyer's terms, stopped services set apart at the experiment stage, a
"Fiche" button that opens the full card in each transport, follows, security headers.

Ranking mechanics use the hashing embedder on a small catalogue; the Lannion example
(Part'âge, a stopped service) runs on the demo catalogue with the real model (slow).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api.wiring import build_engine
from bot.engine import ConversationEngine
from bot.telegram import MAX_TEXT, build_application
from bot.terminal import render_messages
from bot.types import OutMessage
from core.config import Settings
from core.db import Database
from core.domain import TerritoryKind, TrustLevel, fold
from core.models import Experience, Need, Person, Solution, SolutionFollow, Territory
from core.privacy import delete_person, export_person
from devtools.tg_emulator import TelegramEmulator
from matcher.need import scope_from_message
from matcher.service import REASON_STOP_WORDS, MatchService, citable_terms
from matcher.territories import TerritoryResolver
from matcher.types import Scope

TOKEN = "123:ABC"
T = "terminal"
NEED = "Nos aînés ont du mal avec les démarches administratives en ligne"
WRAPPED = (
    "Bonjour, je suis élue à Lannion (20 000 habitants). " + NEED + ". Nous voulons tester "
    "une solution, budget de 30 000 €. Merci !"
)
CATALOGUE = [  # (title, mission, description, maturity, phase, website)
    ("Part'âge", "Résorber l'isolement des personnes âgées face aux démarches numériques en "
     "ligne", "", "stopped", "abandon", None),
    ("Aidants Connect", "Permettre aux aidants de réaliser des démarches administratives en "
     "ligne pour les personnes éloignées du numérique", "Aidants Connect est un service qui "
     "sécurise l'aide apportée par les aidants professionnels aux démarches en ligne des "
     "usagers.", "deployed", "consolidation", "https://aidantsconnect.beta.gouv.fr"),
    ("France Services numérique", "Accompagner les aînés dans leurs démarches en ligne",
     "", "pilot", "acceleration", "javascript:alert(1)"),
    ("Habitants connectés", "Un service pour les habitants de la commune : 000 habitants",
     "", "deployed", "consolidation", None),
    ("Cantine zéro gaspi", "Réduire le gaspillage alimentaire dans les cantines", "",
     "deployed", "consolidation", None),
]  # fmt: skip


@pytest.fixture
def _db(db: Database) -> Database:
    with db.session() as session:
        session.add(
            Territory(kind=TerritoryKind.COMMUNE, code="22113", name="Lannion",
                      name_folded=fold("Lannion"), population=20_315, dep="22",
                      dep_name="Côtes-d'Armor", region="53", region_name="Bretagne")
        )  # fmt: skip
        for i, (title, mission, desc, maturity, phase, site) in enumerate(CATALOGUE):
            session.add(
                Solution(external_id=f"s{i}", title=title, mission=mission, description=desc,
                         maturity=maturity, phase=phase, website=site,
                         organisation_name="anct", target_kinds=["commune"],
                         trust_level=TrustLevel.QUALIFIED)
            )  # fmt: skip
        session.flush()
        connect = session.scalar(select(Solution).where(Solution.external_id == "s1"))
        assert connect is not None
        for code, name, population in (("29019", "Brest", 140_000), ("22050", "Dinan", 15_000)):
            session.add(
                Experience(external_id=f"rex-{code}", title=f"Aidants Connect à {name}",
                           territory_kind="commune", territory_code=code, territory_name=name,
                           population=population, solution_id=connect.id, outcome="success")
            )  # fmt: skip
    return db


@pytest.fixture
def _engine(_db: Database, settings: Settings, hashing_embedder: Any) -> ConversationEngine:
    service = MatchService(_db, settings, hashing_embedder)
    service.ensure_ready()
    with _db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    engine = build_engine(_db, service, settings, resolver=resolver)
    engine.today = lambda: dt.date(2026, 11, 15)
    return engine


def _run(engine: ConversationEngine, user: str, steps: list[str]) -> list[OutMessage]:
    """Type each step (a leading "#" presses the first button whose label contains it)."""
    out = engine.handle(T, user, text="/start")
    for step in steps:
        if step.startswith("#"):
            label = step[1:].lower()
            button = next(
                b for m in out for b in m.buttons if label in b.label.lower() and not b.url
            )
            out = engine.handle(T, user, choice=button.id)
        else:
            out = engine.handle(T, user, text=step)
    return out


def _results(engine: ConversationEngine, user: str = "u1") -> list[OutMessage]:
    return _run(engine, user, ["#collectivité", WRAPPED, "#Passer", "#Terminé", "#Confirmer"])


# --- need understanding -----------------------------------------------------------------------
def test_greeting_place_and_size_are_not_searched(_engine: ConversationEngine) -> None:
    with _engine.db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    read = scope_from_message(WRAPPED, resolver=resolver)
    assert read.scope.text.startswith(NEED)
    for phrase in ("Bonjour", "Lannion", "20 000", "habitants", "30 000", "Merci"):
        assert phrase not in read.scope.text, phrase
    assert read.scope.territory_name == "Lannion" and read.scope.size_band == "10k-50k"
    assert read.scope.stage == "experiment" and read.scope.budget_eur == 30_000
    # piu rank goes through the same reading (MatchService.rank_ids), the stage left out
    ranked = _engine.service.rank_ids(WRAPPED, top=5, resolver=resolver)
    same = _engine.service.search(dataclass_replace(read.scope, stage=None), top=5).matches
    assert ranked == [m.external_id for m in same]
    assert "s0" in ranked  # the stopped service is ranked, not set apart


def test_the_fiche_besoin_shows_the_problem_and_the_raw_message_is_kept(
    _engine: ConversationEngine,
) -> None:
    card = _run(_engine, "u1", ["#collectivité", WRAPPED, "#Passer", "#Terminé"])
    text = "\n".join(m.text for m in card)
    besoin = next(line for line in text.splitlines() if line.startswith("Besoin"))
    assert NEED in besoin and "Bonjour" not in besoin and "habitants" not in besoin
    confirm = next(b.id for m in card for b in m.buttons if "Confirmer" in b.label)
    _engine.handle(T, "u1", choice=confirm)
    with _engine.db.session() as session:
        need = session.scalars(select(Need)).one()
        assert need.raw_text == WRAPPED  # the raw message stays in the database
        assert need.problem is not None and need.problem.startswith(NEED)


# --- reasons and maturity policy ----------------------------------------------------------------
def test_no_number_size_or_place_word_among_the_reasons(_engine: ConversationEngine) -> None:
    text = (
        "Commune de 10 000 habitants, nous voulons lancer un service d'autopartage à Lannion, 000"
    )
    scope = Scope(text=text, territory_name="Lannion", size_band="10k-50k")
    terms = citable_terms(text, scope)
    assert set(terms.values()) == {"autopartage"}  # the need's own word remains
    for word in terms.values():
        assert not any(ch.isdigit() for ch in word) and fold(word) not in REASON_STOP_WORDS
    for m in _engine.service.search(Scope(text=text, size_band="10k-50k"), top=5).matches:
        for reason in m.reasons:
            cited = " ".join(reason.params.get("terms", []))
            assert not any(ch.isdigit() for ch in cited), (m.title, cited)
            assert not {"habitants", "commune", "service"} & set(cited.split()), m.title


def test_no_stopped_service_in_the_top_5_at_the_experiment_stage(
    _engine: ConversationEngine,
) -> None:
    explore = _engine.service.search(Scope(text=NEED), top=5).matches
    assert "Part'âge" in [m.title for m in explore]  # relevant: the test can fail
    result = _engine.service.search(Scope(text=NEED, stage="experiment"), top=5)
    assert all(m.maturity != "stopped" for m in result.matches)
    assert [m.title for m in result.tried_elsewhere] == ["Part'âge"]
    out = _results(_engine)
    text = "\n".join(m.text for m in out)
    assert "Déjà tenté ailleurs" in text and "abandonné par son équipe" in text


def test_result_cards_say_what_who_and_why(_engine: ConversationEngine) -> None:
    out = _results(_engine)
    cards = [m for m in out if m.card]
    assert cards and [c.card["rank"] for c in cards if c.card] == list(range(1, len(cards) + 1))
    connect = next(m for m in cards if "Aidants Connect" in m.text)
    assert connect.card is not None
    lines = connect.text.splitlines()
    assert lines[0].endswith("Aidants Connect") and lines[0][0].isdigit()
    assert "sécurise l'aide" in lines[1]  # one sentence on what it does
    assert "Portée par\u00a0: ANCT" in connect.text
    assert "Maturité\u00a0: déployée · Fiche qualifiée" in connect.text
    why = connect.card["reasons"]
    assert 1 <= len(why) <= 3 and why[0].startswith("répond à")
    assert any("utilisée par 2 collectivités, dont 1 de votre taille" in r for r in why)
    # the website is a link button (http/https only); every card has a Fiche button
    assert [b.url for b in connect.buttons if b.url] == ["https://aidantsconnect.beta.gouv.fr"]
    for message in cards:
        assert any(b.id.startswith("fiche:") for b in message.buttons)
        assert all(b.url is None or b.url.startswith("http") for b in message.buttons)


def test_english_users_get_the_card_in_english(_engine: ConversationEngine) -> None:
    _engine.handle(T, "en1", text="/start")
    _engine.handle(T, "en1", text="/language en")
    out = _run(
        _engine,
        "en1",
        ["#local authority", "Our elderly residents struggle with online procedures, "
         "démarches en ligne", "#Skip", "#Skip", "#Skip", "#Skip", "#Done", "#Confirm"],
    )  # fmt: skip
    card = next(m for m in out if m.card)
    assert "Why: " in card.text and "Carried by: ANCT" in card.text
    assert "(in French)" in card.text  # catalogue text stays French and says so


# --- the Fiche button, in each transport ------------------------------------------------------
def _fiche_id(out: list[OutMessage], title: str) -> str:
    card = next(m for m in out if m.card and title in m.text)
    return next(b.id for b in card.buttons if b.id.startswith("fiche:"))


def test_fiche_opens_the_full_card_with_its_actions_terminal(_engine: ConversationEngine) -> None:
    out = _results(_engine)
    text, _numbered = render_messages(out)
    assert "  [1] Fiche 1" in text and "↗ Site" in text  # links shown, not numbered
    sheet = _engine.handle(T, "u1", choice=_fiche_id(out, "Aidants Connect"))
    shown = "\n".join(m.text for m in sheet)
    assert "Fiche\u00a0: Aidants Connect" in shown
    assert "Description\u00a0: Aidants Connect est un service" in shown
    assert "Pour\u00a0: Communes" in shown and "Tarifs\u00a0: non renseignés" in shown
    assert "Brest" in shown and "Dinan" in shown and "réussite" in shown
    labels = [b.label for m in sheet for b in m.buttons]
    assert "Demander une mise en relation" in labels and "Suivre" in labels
    # Suivre: stored, listed by /suivis, and can be undone
    follow = next(b.id for m in sheet for b in m.buttons if b.label == "Suivre")
    done = _engine.handle(T, "u1", choice=follow)
    assert "/suivis" in done[0].text
    listed = _engine.handle(T, "u1", text="/suivis")
    assert "Aidants Connect" in listed[0].text
    unfollow = next(b.id for b in listed[0].buttons if "Ne plus suivre" in b.label)
    assert "ne suivez plus" in _engine.handle(T, "u1", choice=unfollow)[0].text
    with _engine.db.session() as session:
        assert session.scalars(select(SolutionFollow)).all() == []
    # the introduction path is the existing one
    intro = next(b.id for m in sheet for b in m.buttons if "mise en relation" in b.label)
    answer = "\n".join(m.text for m in _engine.handle(T, "u1", choice=intro))
    assert "adresse" in answer or "relation" in answer or "contact" in answer
    # a bad or unknown id changes nothing and says so
    assert "plus disponible" in _engine.handle(T, "u1", choice="fiche:999999")[0].text


def test_follows_are_exported_and_deleted_with_the_person(_engine: ConversationEngine) -> None:
    out = _results(_engine)
    sheet = _engine.handle(T, "u1", choice=_fiche_id(out, "Aidants Connect"))
    follow = next(b.id for m in sheet for b in m.buttons if b.label == "Suivre")
    _engine.handle(T, "u1", choice=follow)
    with _engine.db.session() as session:
        person = session.scalars(select(Person)).one()
        assert len(export_person(session, person.id)["followed_solutions"]) == 1
        delete_person(session, person.id, now=dt.datetime.now(dt.UTC))
    with _engine.db.session() as session:
        assert session.scalars(select(SolutionFollow)).all() == []


def test_fiche_opens_through_the_web_chat_api(_engine: ConversationEngine) -> None:
    from fastapi import FastAPI

    from api.chat import router

    app = FastAPI()
    app.include_router(router)
    app.state.engine = _engine
    client = TestClient(app)
    sid = "web-session-14"
    body: dict[str, Any] = {"session_id": sid, "text": "/start"}
    steps = ["collectivité", WRAPPED, "Passer", "Terminé", "Confirmer"]
    messages = client.post("/api/chat", json=body).json()["messages"]
    for step in steps:
        ids = {b["label"]: b["id"] for m in messages for b in m.get("buttons", [])}
        pick = next((i for label, i in ids.items() if step.lower() in label.lower()), None)
        body = {"session_id": sid, "choice": pick} if pick else {"session_id": sid, "text": step}
        messages = client.post("/api/chat", json=body).json()["messages"]
    cards = [m for m in messages if m.get("card")]
    assert cards and all(c["card"]["kind"] == "solution" for c in cards)
    connect = next(c for c in cards if c["card"]["title"] == "Aidants Connect")
    assert connect["card"]["website"] == "https://aidantsconnect.beta.gouv.fr"
    assert connect["card"]["maturity_label"] == "déployée"
    assert connect["card"]["trust_label"] == "qualifiée"
    # an unsafe catalogue address is never offered as a link
    other = next(c for c in cards if c["card"]["title"] == "France Services numérique")
    assert other["card"].get("website") is None and not any(b.get("url") for b in other["buttons"])
    fiche = next(b["id"] for b in connect["buttons"] if b["id"].startswith("fiche:"))
    sheet = client.post("/api/chat", json={"session_id": sid, "choice": fiche}).json()
    assert "Fiche\u00a0: Aidants Connect" in sheet["messages"][0]["text"]


async def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_fiche_opens_through_telegram(tmp_path: Path, _engine: ConversationEngine) -> None:
    """The real PTB Application polling the Bot API emulator over HTTP."""
    with TelegramEmulator(TOKEN) as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            data_dir=tmp_path,
            telegram_token=SecretStr(TOKEN),
            telegram_api_base_url=emu.base_url,
        )
        app = build_application(settings, _engine, outbox_interval=5)
        user = 4242
        async with app:
            assert app.post_init is not None and app.updater is not None
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(timeout=1, drop_pending_updates=False)
            try:
                sent = lambda: emu.bot_messages(user)  # noqa: E731

                async def press(label: str) -> None:
                    count = len(sent())
                    for message in reversed(sent()):
                        for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                            for button in row:
                                if label in button["text"] and "callback_data" in button:
                                    emu.click(user, button["callback_data"])
                                    await _wait(lambda: len(sent()) > count)
                                    await asyncio.sleep(0.3)
                                    return
                    raise AssertionError(f"no button {label!r}")

                async def say(text: str) -> None:
                    count = len(sent())
                    emu.send_text(user, text)
                    await _wait(lambda: len(sent()) > count)
                    await asyncio.sleep(0.3)

                await say("/start")
                await press("collectivité")
                await say(WRAPPED)
                await press("Passer")
                await press("Terminé")
                await press("Confirmer")
                await _wait(lambda: any("Pourquoi" in m["text"] for m in sent()))
                await asyncio.sleep(0.5)
                cards = [m for m in sent() if "Pourquoi" in m["text"]]
                for card in cards:
                    assert len(card["text"]) < MAX_TEXT
                connect = next(m for m in cards if "Aidants Connect" in m["text"])
                rows = connect["reply_markup"]["inline_keyboard"]
                urls = [b["url"] for row in rows for b in row if "url" in b]
                assert urls == ["https://aidantsconnect.beta.gouv.fr"]
                fiche = next(
                    b["callback_data"] for row in rows for b in row if "Fiche" in b["text"]
                )
                count = len(sent())
                emu.click(user, fiche)
                await _wait(lambda: any("Description" in m["text"] for m in sent()[count:]))
                sheet = next(m for m in sent()[count:] if "Description" in m["text"])
                assert (
                    "Fiche\u00a0: Aidants Connect" in sheet["text"]
                    and len(sheet["text"]) < MAX_TEXT
                )
                labels = [
                    b["text"] for row in sheet["reply_markup"]["inline_keyboard"] for b in row
                ]
                assert "Demander une mise en relation" in labels and "Suivre" in labels
            finally:
                await app.updater.stop()
                await app.stop()


# --- security headers -------------------------------------------------------------------------
def test_every_html_page_sends_security_headers(settings: Settings, db: Database) -> None:
    from api.app import create_app
    from api.wiring import build_services

    services = build_services(settings, db=db, ready=False)
    client = TestClient(create_app(settings, services, load_indexes=False))
    for path in ("/", "/confidentialite", "/privacy", "/admin/login", "/admin/analytics"):
        page = client.get(path, follow_redirects=False)
        if page.status_code in (302, 303, 307):
            page = client.get(page.headers["location"])
        assert page.headers["content-type"].startswith("text/html"), path
        policy = page.headers["content-security-policy"]
        directives = {d.split()[0]: d for d in policy.split("; ")}
        scripts = directives.get("script-src") or directives["default-src"]
        assert "unsafe-inline" not in scripts and "*" not in scripts, path
        assert "frame-ancestors 'none'" in policy, path
        assert page.headers["x-content-type-options"] == "nosniff", path
        assert page.headers["referrer-policy"], path
        assert "<script>" not in page.text, path  # no inline script under this policy
    script = client.get("/static/chat.js")
    assert script.headers["x-content-type-options"] == "nosniff"


# --- the Lannion example on the demo catalogue (real model) ------------------------------------
@pytest.mark.slow
def test_lannion_older_people_online_procedures_skips_partage(service: MatchService) -> None:
    with service.db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    text = (
        "Bonjour, je suis élue à Lannion. Nos aînés ont du mal avec les démarches en ligne, "
        "nous voulons tester une solution. Merci !"
    )
    read = scope_from_message(text, resolver=resolver)
    assert read.scope.stage == "experiment" and "Bonjour" not in read.scope.text
    explore = service.search(dataclass_replace(read.scope, stage=None), top=5).matches
    result = service.search(read.scope, top=5)
    assert "Part'âge" in [m.title for m in explore]  # relevant to this need
    assert all(m.maturity != "stopped" for m in result.matches)
    assert "Part'âge" in [m.title for m in result.tried_elsewhere]


def dataclass_replace(scope: Scope, **changes: Any) -> Scope:
    import dataclasses

    return dataclasses.replace(scope, **changes)
