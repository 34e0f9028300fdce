"""The directory (issue 21): themes → solutions and REX, in order, paged, filtered by
keyword; in chat (every transport) and on the web, with the same entries in the same order.

A small catalogue written for the purpose (real SQLite file, hashing embedder): its
ordering, paging and filter cases are known in advance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api.wiring import build_engine, build_services
from bot.engine import ConversationEngine
from bot.render import render_sheet
from bot.telegram import MAX_CALLBACK_DATA, build_application
from bot.terminal import render_messages
from bot.types import OutMessage
from core.config import Settings
from core.db import Database
from core.domain import Moderation, SolutionStatus, TrustLevel
from core.models import ConversationState, Experience, Solution
from devtools.tg_emulator import TelegramEmulator
from matcher.directory import OTHER, PAGE_SIZE, browse, entry_themes, theme_counts
from matcher.service import MatchService
from matcher.sheets import solution_sheet

T = "terminal"
SECRET_MAIL = "secret.contact@example.org"
SECRET_ROLE = "Chargée de mission Zorglub"

#: Mobility, in the expected order: (title, maturity, trust, organisation, mission)
MOBILITY = [
    ("Autobus à la demande", "deployed", "pilot_confirmed", "Transdev", "Des navettes"),
    ("Éco-vélos", "deployed", "qualified", "Cyclo", "Vélos partagés en libre service"),
    ("Dauphin", "deployed", "declared", "Dauphin SAS", "Trottinettes en gare"),
    ("Écluse mobile", "deployed", "declared", None, "Passerelles"),
    ("Zébus", "deployed", "declared", "Zèbre & Cie", "Minibus électriques"),
    ("Covoit'ici", "pilot", "pilot_confirmed", "Ecov", "Covoiturage de proximité"),
    ("velo partage rural", None, "qualified", "Rural Mobilités", "Vélo pour les villages"),
    ("Bêta navette", "prototype", "declared", None, "Navette autonome"),
    ("Ancien service", "stopped", "pilot_confirmed", None, "Arrêté depuis"),
]
#: Mobility REX, in the expected order: (territory, population, outcome, title)
MOBILITY_REX = [
    ("Lyon", 519_127, "success", "Autobus à la demande à Lyon"),
    ("Dijon", 159_346, "success", "Vélos à Dijon"),
    ("Nulle-part", None, "ongoing", "Navette en test"),
    ("Brest", 139_926, "failed", "Trottinettes à Brest"),
    ("Auray", 14_000, "unknown", "Covoiturage à Auray"),
]
FILLERS = 23  # energy: three pages of 10
#: A title to escape, in mobility too (labelled "Transports"): an idea, self-declared.
NASTY = '<script>alert(1)</script> & "x"'
#: Mobility's solutions in directory order: the nasty one with the other declared ones.
ORDER = [m[0] for m in MOBILITY[:-1]] + [NASTY, MOBILITY[-1][0]]


def _solution(title: str, themes: list[str], **kw: Any) -> Solution:
    defaults: dict[str, Any] = {
        "external_id": f"s-{title}",
        "title": title,
        "mission": "",
        "themes": themes,
        "trust_level": TrustLevel.DECLARED,
        "contact": SECRET_MAIL,
    }
    return Solution(**(defaults | kw))


def _rex(title: str, themes: list[str], **kw: Any) -> Experience:
    defaults: dict[str, Any] = {
        "external_id": f"r-{title}",
        "title": title,
        "themes": themes,
        "territory_kind": "commune",
        "contact_role": SECRET_ROLE,
        "contact_consent": True,
    }
    return Experience(**(defaults | kw))


@pytest.fixture
def _db(db: Database) -> Database:
    with db.session() as session:
        for title, maturity, trust, org, mission in reversed(MOBILITY):  # order is computed
            session.add(
                _solution(title, ["Mobilité"], maturity=maturity, trust_level=TrustLevel(trust),
                          organisation_name=org, mission=mission,
                          website="https://example.org")
            )  # fmt: skip
        # not public: archived, rejected, merged, draft
        session.add(_solution("Archivé vélo", ["Mobilité"], status=SolutionStatus.ARCHIVED))
        session.add(_solution("Rejeté vélo", ["Mobilité"], moderation=Moderation.REJECTED))
        session.add(_solution("Fusionné vélo", ["Mobilité"], moderation=Moderation.MERGED))
        session.add(_solution("Brouillon vélo", ["Mobilité"], status=SolutionStatus.DRAFT))
        session.add(_solution(NASTY, ["Transports"], maturity="idea"))
        for i in range(FILLERS):
            session.add(_solution(f"Énergie {i:02d}", ["energie"], maturity="deployed"))
        # labels outside the taxonomy: the title decides, else "other topics"
        session.add(_solution("Capteurs de pollution de l'air", ["Écologie"]))
        session.add(_solution("Bidule", ["Divers"]))
        session.flush()
        autobus = session.scalar(select(Solution).where(Solution.title == MOBILITY[0][0]))
        assert autobus is not None
        for name, population, outcome, title in reversed(MOBILITY_REX):
            session.add(
                _rex(title, ["mobilité"], territory_name=name, population=population,
                     outcome=outcome, problem=f"Problème de mobilité à {name}",
                     solution_id=autobus.id if name == "Lyon" else None)
            )  # fmt: skip
        session.add(_rex("Vélo en attente", ["mobilité"], territory_name="Attenteville",
                         moderation=Moderation.PENDING, solution_id=autobus.id))  # fmt: skip
        session.add(_rex("Vélo refusé", ["mobilité"], territory_name="Refusville",
                         moderation=Moderation.REJECTED))  # fmt: skip
    return db


def _titles(page: Any) -> list[str]:
    return [item.title for item in page.items]


# --- the query layer ------------------------------------------------------------------------
def test_solutions_live_first_then_trust_then_title(_db: Database) -> None:
    with _db.session() as session:
        page = browse(session, "mobilite")
    assert page is not None
    assert _titles(page) == ORDER
    assert [item.live for item in page.items] == [m[1] == "deployed" for m in MOBILITY[:5]] + [
        False
    ] * 5


def test_rex_success_first_then_population(_db: Database) -> None:
    with _db.session() as session:
        page = browse(session, "mobilite", kind="rex")
    assert page is not None
    assert _titles(page) == [r[3] for r in MOBILITY_REX]


def test_only_public_entries_are_listed(_db: Database) -> None:
    with _db.session() as session:
        solutions = browse(session, "mobilite", keyword="vélo", page_size=50)
        rex = browse(session, "mobilite", kind="rex", page_size=50)
        counts = {c.id: c for c in theme_counts(session)}
    assert solutions is not None and rex is not None
    assert _titles(solutions) == ["Éco-vélos", "velo partage rural"]
    assert "Vélo en attente" not in _titles(rex) and "Vélo refusé" not in _titles(rex)
    assert (counts["mobilite"].solutions, counts["mobilite"].rex) == (
        len(MOBILITY) + 1,  # the escaped title's "Transports"
        len(MOBILITY_REX),
    )


def test_paging(_db: Database) -> None:
    with _db.session() as session:
        first = browse(session, "energie")
        last = browse(session, "energie", page=2)
        past = browse(session, "energie", page=99)
        before = browse(session, "energie", page=-3)
        small = browse(session, "energie", page=4, page_size=5)
    assert first is not None and last is not None and past is not None
    assert before is not None and small is not None
    assert (first.total, first.pages, len(first.items), first.page_size) == (23, 3, 10, PAGE_SIZE)
    assert first.has_next and not first.has_previous and first.first_number == 1
    assert (last.page, len(last.items), last.first_number) == (2, 3, 21)
    assert last.has_previous and not last.has_next
    assert (past.page, _titles(past)) == (2, _titles(last))  # clamped to the last page
    assert _titles(before) == _titles(first)
    assert (small.pages, small.page, _titles(small)) == (5, 4, ["Énergie 20", "Énergie 21",
                                                               "Énergie 22"])  # fmt: skip


def test_keyword_filter(_db: Database) -> None:
    with _db.session() as session:

        def titles(keyword: str, kind: Any = "solutions") -> list[str]:
            page = browse(session, "mobilite", kind=kind, keyword=keyword)
            assert page is not None
            return _titles(page)

        assert titles("VELO") == titles("vélo") == ["Éco-vélos", "velo partage rural"]
        assert titles("éco vélo") == ["Éco-vélos"]  # every word must match
        assert titles("trottinettes") == ["Dauphin"]  # the mission
        assert titles("zebre") == ["Zébus"]  # the organisation
        assert titles("bus") == []  # a word's start, not any substring ("Autobus")
        assert titles("zzz") == []
        assert titles("  ") == titles("") == ORDER
        assert titles("dijon", "rex") == ["Vélos à Dijon"]  # the territory
        assert titles("probleme brest", "rex") == ["Trottinettes à Brest"]  # the problem
        empty = browse(session, "mobilite", keyword="zzz")
    assert empty is not None and (empty.total, empty.pages, empty.page) == (0, 1, 0)
    assert empty.keyword == "zzz"


def test_a_theme_with_no_entry_and_unknown_themes(_db: Database) -> None:
    with _db.session() as session:
        water = browse(session, "eau")
        counts = {c.id: c for c in theme_counts(session)}
        assert browse(session, "nope") is None
        assert browse(session, "Mobilité") is None  # ids only
    assert water is not None and (water.total, water.other_total, water.items) == (0, 0, ())
    assert counts["eau"].empty and not counts["mobilite"].empty


def test_entry_themes() -> None:
    assert entry_themes(["Mobilité", "Transports", "Open-Data"], "") == ("mobilite", "donnees")
    # labels that name no theme: the title's keywords decide
    assert entry_themes(["Écologie"], "Capteurs de pollution de l'air")[0] == "air"
    assert entry_themes(["Divers"], "Bidule") == (OTHER,)
    assert entry_themes(None, "") == (OTHER,)


def test_themes_are_sorted_by_label_other_last(_db: Database) -> None:
    with _db.session() as session:
        fr = [c.label for c in theme_counts(session, "fr")]
        en = [c.label for c in theme_counts(session, "en")]
        counts = {c.id: c for c in theme_counts(session)}
    assert fr[0] == "Administration et démarches" and fr[-1] == "Autres sujets"
    assert fr.index("Éducation") < fr.index("Emploi") < fr.index("Énergie")  # accents ignored
    assert en[-1] == "Other topics" and en[0] == "Administration and e-services"
    assert counts["air"].solutions == 1 and counts[OTHER].solutions == 1


def test_the_directory_follows_catalogue_changes(_db: Database) -> None:
    with _db.session() as session:
        assert _titles(browse(session, "mobilite"))[0] == "Autobus à la demande"  # type: ignore[arg-type]
    with _db.session() as session:
        autobus = session.scalar(select(Solution).where(Solution.title == MOBILITY[0][0]))
        assert autobus is not None
        autobus.status = SolutionStatus.ARCHIVED
    with _db.session() as session:
        assert _titles(browse(session, "mobilite"))[0] == "Éco-vélos"  # type: ignore[arg-type]


def test_pending_rex_are_not_on_a_solution_sheet(_db: Database) -> None:
    with _db.session() as session:
        autobus = session.scalar(select(Solution).where(Solution.title == MOBILITY[0][0]))
        assert autobus is not None
        sheet = solution_sheet(session, autobus.id)
    assert sheet is not None
    assert [r.title for r in sheet.rex] == ["Autobus à la demande à Lyon"] and sheet.rex_total == 1


# --- the chat -------------------------------------------------------------------------------
@pytest.fixture
def _engine(_db: Database, settings: Settings, hashing_embedder: Any) -> ConversationEngine:
    service = MatchService(_db, settings, hashing_embedder)
    service.ensure_ready()
    engine = build_engine(_db, service, settings)
    engine.today = lambda: dt.date(2026, 11, 15)
    return engine


class Chat:
    """One person in the terminal transport, pressing buttons by label."""

    def __init__(self, engine: ConversationEngine, user: str = "u1") -> None:
        self.engine, self.user = engine, user
        self.out: list[OutMessage] = []

    def say(self, text: str) -> list[OutMessage]:
        self.out = self.engine.handle(T, self.user, text=text)
        return self.out

    def press(self, label: str) -> list[OutMessage]:
        button = next(
            b for m in self.out for b in m.buttons if b.label.startswith(label) and not b.url
        )
        return self.choose(button.id)

    def choose(self, button_id: str) -> list[OutMessage]:
        self.out = self.engine.handle(T, self.user, choice=button_id)
        return self.out

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.out)

    def labels(self) -> list[str]:
        return [b.label for m in self.out for b in m.buttons]

    def state(self) -> tuple[str | None, str | None]:
        with self.engine.db.session() as session:
            row = session.scalars(select(ConversationState)).one()
            return row.flow, row.step


def test_chat_menu_page_card_and_rex(_engine: ConversationEngine, _db: Database) -> None:
    chat = Chat(_engine)
    chat.say("/annuaire")
    assert "Annuaire" in chat.text
    labels = chat.labels()
    assert "Mobilité (10 · 5)" in labels and "Énergie (23 · 0)" in labels
    assert not any(label.startswith("Eau") for label in labels)  # empty: not offered
    assert labels[-1].startswith("Autres sujets")
    ids = [b.id for m in chat.out for b in m.buttons]
    assert all(len(i.encode()) <= MAX_CALLBACK_DATA for i in ids)

    chat.press("Énergie")
    assert "page 1/3" in chat.text and "1. Énergie 00" in chat.text
    chat.press("Page suivante")
    assert "page 2/3" in chat.text and "11. Énergie 10" in chat.text
    assert "Fiche 11" in chat.labels() and "Fiche 1" not in chat.labels()
    chat.press("Page suivante")
    assert "page 3/3" in chat.text and "Page suivante ▶" not in chat.labels()

    # a line opens the very card the results open
    chat.press("Tous les thèmes")
    chat.press("Mobilité")
    assert "1. Autobus à la demande — Transdev · déployée · fiche pilote confirmé" in chat.text
    chat.press("Fiche 2")
    with _db.session() as session:
        eco = session.scalar(select(Solution).where(Solution.title == "Éco-vélos"))
        assert eco is not None
        expected = render_sheet(solution_sheet(session, eco.id), "fr")  # type: ignore[arg-type]
    assert chat.out[0].text == expected
    assert SECRET_MAIL not in chat.text

    chat.choose("dir:s:mobilite:0")
    chat.press("Retours d'expérience (5)")
    assert "1. Lyon (commune, 519\u202f127 habitants) — réussite" in chat.text
    chat.press("REX 1")
    assert "Autobus à la demande à Lyon" in chat.text and SECRET_ROLE not in chat.text


def test_chat_keyword_filter(_engine: ConversationEngine) -> None:
    chat = Chat(_engine)
    chat.choose("dir:s:mobilite:0")
    chat.press("Filtrer par mot-clé")
    assert "filtrer « Mobilité »" in chat.text.replace("\u00a0", " ")
    chat.say("!!!")
    assert "aucun mot utilisable" in chat.text
    chat.say("Vélo")
    assert "solutions (2)" in chat.text and "Filtre\u00a0: «\u00a0Vélo\u00a0»" in chat.text
    assert "1. Éco-vélos" in chat.text and "2. velo partage rural" in chat.text
    chat.press("Retours d'expérience")  # the filter holds across the two lists
    assert "Vélos à Dijon" in chat.text and "Lyon" not in chat.text
    chat.press("Effacer le filtre")
    assert "retours d'expérience (5)" in chat.text and "Filtre" not in chat.text
    chat.press("Filtrer par mot-clé")
    chat.say("zzz")
    assert "Rien ne correspond" in chat.text and "Effacer le filtre" in chat.labels()
    assert chat.state() == (None, None)  # idle again
    chat.press("Filtrer par mot-clé")
    chat.press("Annuler")
    assert chat.state() == (None, None) and "Filtre" in chat.text  # unchanged


def test_chat_bad_input_is_answered_politely(_engine: ConversationEngine) -> None:
    chat = Chat(_engine)
    chat.choose("dir:s:eau:0")  # a stale button of a theme emptied since
    assert "n'a encore ni solution ni retour" in chat.text and "Mobilité (10 · 5)" in chat.labels()
    chat.choose("dir:s:nope:0")
    assert "n'est pas un thème" in chat.text
    chat.choose("dir:s:mobilite:999999999")
    assert "page 1/1" in chat.text
    chat.choose("dir:bogus")
    assert "Je n'ai pas compris cette réponse" in chat.text
    chat.say("/annuaire vélo")  # a theme named by one of its words
    assert "Annuaire · Mobilité" in chat.text
    chat.say("/directory Eau")
    assert "n'a encore ni solution" in chat.text
    chat.say("/annuaire xyzzy")
    assert "n'est pas un thème" in chat.text and "Mobilité (10 · 5)" in chat.labels()


def test_help_mentions_the_directory(_engine: ConversationEngine) -> None:
    chat = Chat(_engine)
    chat.say("/aide")
    assert "/annuaire" in chat.text


def test_a_need_in_progress_is_not_lost(_engine: ConversationEngine) -> None:
    chat = Chat(_engine)
    chat.say("/start")
    chat.press("Une collectivité")
    asked = chat.out[-1].text
    before = chat.state()
    assert before[0] == "buyer" and before[1] is not None
    # a free-text question (the need's description) is not repeated under every page:
    # whatever the person types next answers it
    chat.say("/annuaire")
    assert "Annuaire" in chat.out[-1].text and chat.state() == before
    assert all(m.text != asked for m in chat.out)
    chat.press("Mobilité")
    assert "Annuaire · Mobilité" in chat.out[-1].text
    chat.press("Filtrer par mot-clé")
    chat.say("vélo")
    assert "Éco-vélos" in chat.out[-1].text
    assert chat.state() == before
    # the need goes on where it was
    chat.say("Nous voulons développer le vélo partagé dans notre commune de 5 000 habitants")
    after = chat.state()
    assert after[0] == "buyer" and after[1] != before[1]
    # a question with buttons is asked again after the page, so they stay at hand
    question = chat.out[-1]
    assert question.buttons
    chat.press("Mobilité") if "Mobilité" in chat.labels() else chat.say("/annuaire mobilité")
    assert chat.out[-1].text == question.text and chat.state() == after


def test_terminal_rendering(_engine: ConversationEngine) -> None:
    chat = Chat(_engine)
    text, buttons = render_messages(chat.choose("dir:s:mobilite:0"))
    assert "[1] Fiche 1" in text and "Tous les thèmes" in text
    assert buttons[0].id.startswith("fiche:")


async def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_directory_through_telegram(tmp_path: Path, _engine: ConversationEngine) -> None:
    """The real PTB Application polling the Bot API emulator: menu, theme, card."""
    token = "123:ABC"
    with TelegramEmulator(token) as emu:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="test",
            data_dir=tmp_path,
            telegram_token=SecretStr(token),
            telegram_api_base_url=emu.base_url,
        )
        app = build_application(settings, _engine, outbox_interval=5)
        user = 4343
        async with app:
            assert app.post_init is not None and app.updater is not None
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(timeout=1, drop_pending_updates=False)
            try:
                sent = lambda: emu.bot_messages(user)  # noqa: E731

                async def press(label: str) -> dict[str, Any]:
                    count = len(sent())
                    rows = sent()[-1].get("reply_markup", {}).get("inline_keyboard", [])
                    data = next(b["callback_data"] for r in rows for b in r if label in b["text"])
                    emu.click(user, data)
                    await _wait(lambda: len(sent()) > count)
                    await asyncio.sleep(0.3)
                    return sent()[-1]

                emu.send_text(user, "/annuaire")
                await _wait(lambda: any("Annuaire" in m["text"] for m in sent()))
                menu = sent()[-1]
                datas = [
                    b["callback_data"] for r in menu["reply_markup"]["inline_keyboard"] for b in r
                ]
                assert all(len(d.encode()) <= MAX_CALLBACK_DATA for d in datas)
                page = await press("Mobilité")
                assert "1. Autobus à la demande" in page["text"]
                card = await press("Fiche 1")
                assert "Fiche\u00a0: Autobus à la demande" in card["text"]
            finally:
                await app.updater.stop()
                await app.stop()


# --- the web --------------------------------------------------------------------------------
@pytest.fixture
def _client(_db: Database, settings: Settings) -> TestClient:
    from api.app import create_app

    services = build_services(settings, db=_db, ready=False)
    return TestClient(create_app(settings, services, load_indexes=False))


def _fiche_ids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'href="/annuaire/fiche/(\d+)', page)]


def test_web_index(_client: TestClient) -> None:
    page = _client.get("/annuaire")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text and "<h1>" in page.text
    assert 'href="/annuaire/mobilite"' in page.text
    assert '<span class="empty-theme">Eau</span>' in page.text  # listed, no link
    assert 'href="/annuaire/eau"' not in page.text
    english = _client.get("/annuaire?lang=en")
    assert '<html lang="en">' in english.text and "Mobility" in english.text
    assert 'href="/annuaire/mobilite?lang=en"' in english.text


def test_web_theme_same_order_as_chat(_client: TestClient, _db: Database) -> None:
    for tab, pages in (("solutions", 1), ("rex", 1)):
        page = _client.get(f"/annuaire/mobilite?tab={tab}")
        assert page.status_code == 200
        with _db.session() as session:
            found = browse(session, "mobilite", kind=tab)  # type: ignore[arg-type]
        assert found is not None and found.pages == pages
        if tab == "solutions":
            assert _fiche_ids(page.text) == [i.id for i in found.items]
        else:
            ids = [int(x) for x in re.findall(r'href="/annuaire/rex/(\d+)', page.text)]
            assert ids == [i.id for i in found.items]
    energy = _client.get("/annuaire/energie?page=2")
    with _db.session() as session:
        second = browse(session, "energie", page=1)
    assert second is not None and _fiche_ids(energy.text) == [i.id for i in second.items]
    assert '<ol class="entries" start="11"' in energy.text and 'rel="prev"' in energy.text


def test_web_filter_tabs_and_paging(_client: TestClient) -> None:
    page = _client.get("/annuaire/mobilite", params={"q": "VÉLO"})
    assert page.status_code == 200
    assert page.text.count('href="/annuaire/fiche/') == 2
    assert '<form class="search" role="search"' in page.text and '<label for="q">' in page.text
    assert 'value="VÉLO"' in page.text
    assert 'href="/annuaire/mobilite?tab=rex&amp;q=V%C3%89LO"' in page.text  # the tab keeps it
    nothing = _client.get("/annuaire/mobilite", params={"q": "zzz"})
    assert "Rien ne correspond" in nothing.text.replace("\u00a0", " ")
    last = _client.get("/annuaire/energie?page=99")
    assert last.status_code == 200 and "Page 3 sur 3" in last.text
    for bad in ("page=abc", "page=-1", "tab=nope", "q=" + "x" * 101):
        answer = _client.get(f"/annuaire/energie?{bad}")
        assert answer.status_code == 400, bad
        assert "n'est pas valide" in answer.text.replace("&#x27;", "'"), bad


def test_web_theme_with_no_entry_and_unknown_theme(_client: TestClient) -> None:
    water = _client.get("/annuaire/eau")
    assert water.status_code == 200 and "Aucune solution dans ce thème" in water.text
    unknown = _client.get("/annuaire/nope")
    assert unknown.status_code == 404 and "n&#x27;existe pas" in unknown.text
    assert _client.get("/annuaire/nope?lang=en").text.count("This theme is not") == 1
    assert _client.get("/annuaire/%3Cscript%3E").status_code == 404


def test_web_escapes_everything_and_leaks_no_contact(_client: TestClient) -> None:
    page = _client.get("/annuaire/mobilite", params={"q": '<b>"x"</b>'})
    assert "<b>" not in page.text and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in page.text
    listed = _client.get("/annuaire/mobilite")
    assert "<script>" not in listed.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;" in listed.text
    for path in re.findall(r'href="(/annuaire/(?:fiche|rex)/\d+)"', listed.text):
        sheet = _client.get(path)
        assert sheet.status_code == 200 and SECRET_MAIL not in sheet.text
    rex_page = _client.get("/annuaire/mobilite?tab=rex")
    for path in re.findall(r'href="(/annuaire/rex/\d+)"', rex_page.text):
        sheet = _client.get(path)
        assert sheet.status_code == 200 and SECRET_ROLE not in sheet.text


def test_web_sheets(_client: TestClient, _db: Database) -> None:
    with _db.session() as session:
        ids = {s.title: s.id for s in session.scalars(select(Solution))}
        rex = {r.title: r.id for r in session.scalars(select(Experience))}
    card = _client.get(f"/annuaire/fiche/{ids['Autobus à la demande']}")
    assert card.status_code == 200 and "Transdev" in card.text
    assert 'href="https://example.org"' in card.text
    assert f'href="/annuaire/rex/{rex["Autobus à la demande à Lyon"]}"' in card.text
    assert "Vélo en attente" not in card.text  # a pending REX is not public
    assert 'href="/annuaire/mobilite"' in card.text  # its themes in the directory
    lyon = _client.get(f"/annuaire/rex/{rex['Autobus à la demande à Lyon']}")
    assert lyon.status_code == 200 and "réussite" in lyon.text
    assert f'href="/annuaire/fiche/{ids["Autobus à la demande"]}"' in lyon.text
    for path in (
        f"/annuaire/fiche/{ids['Archivé vélo']}",
        f"/annuaire/fiche/{ids['Rejeté vélo']}",
        f"/annuaire/rex/{rex['Vélo en attente']}",
        f"/annuaire/rex/{rex['Vélo refusé']}",
        "/annuaire/fiche/999999",
        "/annuaire/fiche/abc",
        "/annuaire/rex/99999999999999",
    ):
        assert _client.get(path).status_code == 404, path


def test_web_security_headers_and_stylesheet(_client: TestClient) -> None:
    for path in ("/annuaire", "/annuaire/mobilite", "/annuaire/nope", "/annuaire/energie?page=x"):
        page = _client.get(path)
        policy = page.headers["content-security-policy"]
        assert "script-src" not in policy and "default-src 'none'" in policy, path
        assert "style-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert page.headers["x-content-type-options"] == "nosniff", path
        assert "<script" not in page.text and "style=" not in page.text, path
    css = _client.get("/static/directory.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text


def test_the_web_chat_links_the_directory(_client: TestClient) -> None:
    assert 'href="/annuaire"' in _client.get("/").text


def test_chat_rex_sheet_refuses_a_pending_rex(_engine: ConversationEngine, _db: Database) -> None:
    with _db.session() as session:
        pending = session.scalar(select(Experience).where(Experience.title == "Vélo en attente"))
        assert pending is not None
    chat = Chat(_engine)
    chat.choose(f"rex:show:{pending.id}")
    assert "n'est plus disponible" in chat.text and "Attenteville" not in chat.text
