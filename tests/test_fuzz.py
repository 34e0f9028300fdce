"""1,000 generated malformed messages through the real conversation engine.

Deterministic (``random.Random(SEED)``): random Unicode (astral planes, combining marks),
control characters and NUL, lone surrogates, huge messages (> 4,000 chars and 1 MB),
empty and whitespace, emoji, right-to-left text, mixed languages, SQL and HTML/JS
injection strings, fake commands, stale and garbage button ids (some > 64 bytes) and
non-text messages, each sent at a random step of the buyer or the start-up flow (users
are walked through both flows with valid moves between the malformed ones).

Checked: no step fails (no ``error`` reply, nothing logged at ERROR), every reply is
non-empty, the schema and the row counts are sane, and what users type is stored and
returned as plain data (renderers escape it: the web page uses ``textContent``, the
Telegram adapter sends plain text without ``parse_mode``).
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from api.chat import router
from bot.engine import ConversationEngine
from bot.types import OutMessage
from core.config import REPO_ROOT, Settings
from core.db import Database
from core.domain import clean_text
from core.messages import t
from core.models import (
    ChatIdentity,
    ConversationState,
    Need,
    Person,
    Solution,
)
from tests.test_engine import SOLUTIONS, _make_engine, _territories

SEED = 20261115
N_MESSAGES = 1_000
N_USERS = 40
T = "fuzz"

SQL_INJECTIONS = [
    "'; DROP TABLE person;--",
    '" OR 1=1',
    "' OR '1'='1",
    "1; DELETE FROM need; --",
    "Robert'); DROP TABLE solution;--",
    "' UNION SELECT email, NULL FROM person --",
    "%' AND 1=0 UNION SELECT sqlite_version() --",
    "\\'; TRUNCATE conversation_state; --",
]
HTML_INJECTIONS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img onerror>",
    '"><svg onload=alert(document.cookie)>',
    "<a href=\"javascript:alert('x')\">clic</a>",
    "<b>gras</b> &amp; <i>italique</i> &lt;",
    "<iframe src=//evil.example></iframe>",
    "{{7*7}} ${7*7} <%= 7*7 %>",
]
FAKE_COMMANDS = [
    "/",
    "//",
    "///besoin",
    "/besoin@otherbot",
    "/супер",
    "/_private",
    "/__text__",
    "/ besoin",
    "/BESOIN",
    "/aide@PIU_bot extra args",
    "/start\x00",
    "/langue zz",
    "/" + "a" * 200,
    "/inscrire <script>alert(1)</script>",
    "/besoin '; DROP TABLE person;--",
]
EMOJI = ["😀", "👩‍👩‍👧‍👦", "🇫🇷", "👍🏽", "🏳️‍🌈", "🧑🏿‍🚀", "❤️", "🚲", "♻️", "🔥" * 30]
RTL = [
    "مرحبا، نبحث عن حل للنقل الحضري",
    "שלום, אנחנו מחפשים פתרון לפסולת",
    "\u202eénilgaspilage\u202c",
    "abc \u202b עברית \u202c def",
]
MIXED = [
    "Bonjour, we need une solution для мобильности 交通 في المدينة",
    "Nous cherchons a smart parking Lösung für die Innenstadt, 駐車場",
    "Covoiturage ⚡ électrique 🚗 pour les agents — carpooling for staff",
    "Gestion des déchets / waste management / gestión de residuos",
]
WHITESPACE = [
    "",
    " ",
    "\t",
    "\n\n\n",
    "\u00a0\u2003\u3000",
    "\u200b\u200c\u200d",
    "\ufeff",
    " \r\n ",
]
PLAUSIBLE = [
    "Nous cherchons une solution de covoiturage pour les agents de la commune",
    "Dole",
    "Lons-le-Saunier",
    "Saint-Denis",
    "environ 30 000 euros",
    "d'ici juin",
    "Tri Malin SAS",
    "Livraison silencieuse",
    "Nous proposons une application de tri des déchets pour les habitants, avec des "
    "rappels de collecte, une carte des points d'apport et un suivi des dépôts sauvages "
    "pour les services techniques des communes.",
    "Dole, Besançon",
    "exemple.fr",
    "contact@exemple.fr",
]
NEEDS = [
    "/besoin Nous cherchons une solution de covoiturage pour nos agents",
    "/besoin Nous voulons réduire le gaspillage alimentaire dans les cantines scolaires",
    "We are looking for a solution to reduce food waste in school canteens",
]
NON_TEXT = ["photo", "sticker", "voice", "document", "video", "location"]


def _random_unicode(rng: random.Random, n: int) -> str:
    pools = [
        (0x20, 0x7E),  # ASCII
        (0xA0, 0x24F),  # Latin
        (0x300, 0x36F),  # combining marks
        (0x400, 0x4FF),  # Cyrillic
        (0x590, 0x6FF),  # Hebrew, Arabic
        (0x4E00, 0x9FFF),  # CJK
        (0x1F300, 0x1FAFF),  # emoji (astral)
        (0x10000, 0x10FFFF),  # any astral code point (private use, unassigned...)
        (0x0, 0x1F),  # C0 controls, NUL
        (0x7F, 0x9F),  # DEL, C1 controls
        (0x2000, 0x206F),  # punctuation, bidi controls, zero-width
        (0xFFF0, 0xFFFF),  # specials, noncharacters
    ]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def malformed(rng: random.Random, seen_buttons: list[str]) -> tuple[str, dict[str, str]]:
    """One malformed input: (category, keyword arguments for ``engine.handle``)."""
    kind = rng.choices(
        [
            "unicode", "combining", "controls", "surrogates", "huge", "megabyte", "empty",
            "emoji", "rtl", "mixed", "sql", "html", "command", "stale", "garbage_choice",
            "long_choice", "non_text", "injection_in_flow",
        ],
        weights=[14, 5, 6, 5, 4, 1, 6, 5, 4, 4, 8, 8, 8, 6, 6, 4, 3, 8],
    )[0]  # fmt: skip
    if kind == "unicode":
        return kind, {"text": _random_unicode(rng, rng.randint(1, 300))}
    if kind == "combining":
        base = rng.choice(["e", "a", "Z", "ر", "字", " "])
        marks = "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 400)))
        return kind, {"text": base + marks + " Dole"}
    if kind == "controls":
        chars = [chr(rng.randint(0, 0x1F)) for _ in range(rng.randint(1, 50))]
        return kind, {"text": "\x00".join(chars) + rng.choice(["", "abc", "/besoin\x00"])}
    if kind == "surrogates":
        lone = chr(rng.randint(0xD800, 0xDFFF))
        return kind, {"text": rng.choice(["", "covoiturage ", "Dole "]) + lone + " agents"}
    if kind == "huge":
        size = rng.choice([4_001, 4_096, 10_000, 65_536])
        return kind, {"text": _random_unicode(rng, 50) * (size // 50 + 1)}
    if kind == "megabyte":
        return kind, {"text": rng.choice(["a", "é", "😀", "<"]) * 1_048_576}
    if kind == "empty":
        return kind, {"text": rng.choice(WHITESPACE)}
    if kind == "emoji":
        return kind, {"text": "".join(rng.choices(EMOJI, k=rng.randint(1, 12)))}
    if kind == "rtl":
        return kind, {"text": rng.choice(RTL)}
    if kind == "mixed":
        return kind, {"text": rng.choice(MIXED)}
    if kind == "sql":
        return kind, {"text": rng.choice(SQL_INJECTIONS)}
    if kind == "html":
        return kind, {"text": rng.choice(HTML_INJECTIONS)}
    if kind == "command":
        return kind, {"text": rng.choice(FAKE_COMMANDS)}
    if kind == "stale" and seen_buttons:
        return kind, {"choice": rng.choice(seen_buttons)}
    if kind in ("stale", "garbage_choice"):
        return "garbage_choice", {
            "choice": rng.choice(
                [
                    "",
                    "garbage",
                    "res:more@zz",
                    "skip:x@0",
                    "intro:accept:999999",
                    "intro:decline:abc",
                    "intro:",
                    "card:ok@" + "9" * 10,
                    "role:buyer@@",
                    "ROLE:BUYER",
                    "st:explore@" + _random_unicode(rng, 3),
                    "'; DROP TABLE person;--",
                    "<script>alert(1)</script>",
                    _random_unicode(rng, rng.randint(1, 40)),
                ]
            )
        }
    if kind == "long_choice":
        return kind, {"choice": "res:" + "x" * rng.randint(61, 400) + "@1"}
    if kind == "non_text":
        return kind, {"kind": rng.choice(NON_TEXT), "text": ""}
    # an injection string as a plausible answer (territory, need, names, description...)
    payload = rng.choice(SQL_INJECTIONS + HTML_INJECTIONS)
    return "injection_in_flow", {"text": f"{rng.choice(PLAUSIBLE)} {payload}"}


class User:
    def __init__(self, name: str) -> None:
        self.name = name
        self.buttons: list[str] = []  # the current (last shown) buttons
        self.seen: list[str] = []  # every button ever shown (stale candidates)

    def got(self, out: list[OutMessage]) -> None:
        ids = [b.id for m in out for b in m.buttons]
        if ids:
            self.buttons = ids
            self.seen.extend(ids)
            del self.seen[:-60]


def valid_move(rng: random.Random, user: User) -> dict[str, str]:
    """A move that advances one of the two flows (button, plausible answer, flow start)."""
    roll = rng.random()
    if user.buttons and roll < 0.6:
        return {"choice": rng.choice(user.buttons)}
    if roll < 0.8:
        return {"text": rng.choice(PLAUSIBLE)}
    return {"text": rng.choice([*NEEDS, "/inscrire", "/start", "/annuler", "/mesbesoins"])}


def check_reply(out: list[OutMessage], error_texts: set[str], where: str) -> None:
    assert isinstance(out, list) and out, f"empty reply at {where}"
    for m in out:
        assert isinstance(m.text, str) and m.text.strip(), f"empty message at {where}"
        assert m.text not in error_texts, f"a step failed at {where}"
        for b in m.buttons:
            assert b.label.strip(), where
            assert len(b.id.encode()) <= 64, f"button id over 64 bytes at {where}: {b.id!r}"


@pytest.fixture
def _fuzz_engine(db: Database, settings: Settings, hashing_embedder) -> ConversationEngine:  # type: ignore[no-untyped-def]
    with db.session() as session:
        _territories(session)
        for i, (title, desc, themes) in enumerate(SOLUTIONS):
            session.add(
                Solution(external_id=f"sol-{i}", title=title, mission=desc, description=desc,
                         themes=themes)
            )  # fmt: skip
    engine = _make_engine(db, settings, hashing_embedder)
    engine.service.ensure_ready()
    engine.rate_limit.limit = 0  # the fuzz measures input handling, not the rate limit
    return engine


def _table_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return {n: conn.execute(text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one() for n in names}


def test_fuzz_engine(_fuzz_engine: ConversationEngine, caplog: pytest.LogCaptureFixture) -> None:
    engine, db = _fuzz_engine, _fuzz_engine.db
    rng = random.Random(SEED)
    tables_before = set(_table_counts(db))
    error_texts = {t("error", "fr"), t("error", "en")}
    users = [User(f"user-{i}") for i in range(N_USERS)]
    categories: Counter[str] = Counter()
    caplog.set_level(logging.WARNING)
    for i in range(N_MESSAGES):
        user = rng.choice(users)
        for _ in range(rng.randint(0, 3)):  # walk to a random step of a flow
            move = valid_move(rng, user)
            out = engine.handle(T, user.name, **move)
            check_reply(out, error_texts, f"valid move {i} {move!r:.80}")
            user.got(out)
        category, bad = malformed(rng, user.seen)
        categories[category] += 1
        out = engine.handle(T, user.name, **bad)  # type: ignore[arg-type]
        check_reply(out, error_texts, f"message {i} ({category}) {bad!r:.120}")
        user.got(out)
    assert sum(categories.values()) == N_MESSAGES
    assert len(categories) >= 17, categories
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors[:5]]

    counts = _table_counts(db)
    assert set(counts) == tables_before and "person" in counts
    with db.session() as session:
        people = session.scalar(select(func.count()).select_from(Person))
        idents = session.scalar(select(func.count()).select_from(ChatIdentity))
        states = session.scalar(select(func.count()).select_from(ConversationState))
        assert 0 < people == idents == states <= N_USERS
        assert session.scalar(select(func.count()).select_from(Solution)) >= len(SOLUTIONS)
        for need in session.scalars(select(Need)):
            assert need.raw_text and need.raw_text == clean_text(need.raw_text)
            assert len(need.raw_text) <= engine.settings.max_message_chars
    if db.url.startswith("sqlite"):
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    print(f"fuzz: {N_MESSAGES} malformed messages, categories {dict(sorted(categories.items()))}")


@pytest.mark.parametrize(
    "payload",
    ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'; DROP TABLE person;--"],
)
def test_injection_is_stored_and_returned_as_plain_data(
    _fuzz_engine: ConversationEngine, payload: str
) -> None:
    """Through POST /api/chat: the scope card echoes the text as a plain JSON string and
    the saved need holds it verbatim (data, never markup or SQL)."""
    app = FastAPI()
    app.include_router(router)
    app.state.engine = _fuzz_engine
    client = TestClient(app)
    need = f"Nous cherchons une solution de covoiturage pour nos agents {payload}"
    body: dict[str, str] = {"text": "/besoin " + need}
    seen: list[str] = []
    for _ in range(12):
        reply = client.post("/api/chat", json={"session_id": "fuzz-session-1", **body})
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/json")
        messages = reply.json()["messages"]
        seen.extend(m["text"] for m in messages)
        ids = {b["label"]: b["id"] for m in messages for b in m["buttons"]}
        if "Plus de résultats" in ids or "Suivre ce besoin" in ids:
            break
        pick = next((ids[k] for k in ("Confirmer", "Passer", "Terminé") if k in ids), None)
        assert pick is not None, seen[-3:]
        body = {"choice": pick}
    card = next(x for x in seen if "Fiche besoin" in x)
    assert payload in card  # returned as the user's text, not pre-escaped nor stripped
    with _fuzz_engine.db.session() as session:
        assert session.scalars(select(Need)).one().raw_text == need
        assert "person" in inspect(session.connection()).get_table_names()


def test_renderers_never_interpret_message_html() -> None:
    page = "\n".join(
        (REPO_ROOT / "api" / "static" / name).read_text(encoding="utf-8")
        for name in ("chat.html", "chat.js")
    )
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in page, sink
    # bot and user messages: text nodes; only http(s) links become anchors (no javascript:)
    assert "document.createTextNode(part)" in page and 'el("a", null, part)' in page
    assert "split(/(https?:\\/\\/" in page and "safeUrl(part)" in page
    assert re.search(r"\.textContent\s*=\s*text", page)  # every other text goes through el()
    assert re.search(r"el\(\"button\", null, b\.label\)", page)  # button labels
    telegram = (REPO_ROOT / "bot" / "telegram.py").read_text(encoding="utf-8")
    assert "parse_mode" not in telegram and "ParseMode" not in telegram


def test_fuzz_through_the_web_chat_api(_fuzz_engine: ConversationEngine) -> None:
    """A sample through POST /api/chat: only 200 or 422 (validation), never a server error."""
    app = FastAPI()
    app.include_router(router)
    app.state.engine = _fuzz_engine
    client = TestClient(app, raise_server_exceptions=False)
    rng = random.Random(SEED + 1)
    statuses: Counter[int] = Counter()
    user = User("api")
    for i in range(200):
        _, bad = malformed(rng, user.seen)
        if "kind" in bad:
            bad = {"text": bad["text"]}
        if any(0xD800 <= ord(c) <= 0xDFFF for c in bad.get("text", "")):
            continue  # lone surrogates: see test_lone_surrogate_is_422_not_500
        body = {"session_id": f"fuzz-api-{i % 7:04d}", **bad}
        if rng.random() < 0.05:
            body["session_id"] = rng.choice(["", "x", "../../etc", "a" * 65, "é" * 10])
        reply = client.post("/api/chat", json=body)
        statuses[reply.status_code] += 1
        assert reply.status_code in (200, 422), (reply.status_code, repr(body)[:200])
        if reply.status_code == 200:
            messages = reply.json()["messages"]
            assert messages and all(m["text"].strip() for m in messages)
            user.seen.extend(b["id"] for m in messages for b in m["buttons"])
    assert statuses[200] > 100, statuses


def test_lone_surrogate_is_422_not_500(db: Database, settings: Settings) -> None:
    """JSON may carry a lone surrogate as an escape; pydantic refuses it (422, good), but the
    error body echoes the input and must still be encodable."""
    from api.app import create_app
    from api.wiring import build_services

    app = create_app(settings, build_services(settings, db=db, ready=False), load_indexes=False)
    client = TestClient(app, raise_server_exceptions=False)
    body = json.dumps({"session_id": "fuzz-surrogate", "text": "covoiturage \udc36 agents"})
    reply = client.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422, reply.status_code
