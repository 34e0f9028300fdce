"""kill -9 with real subprocesses: a conversation, an import, an index rebuild, a digest run.

(a) A child process runs a long scripted conversation against the database and is
    SIGKILLed at a random moment (between two messages or inside a step), several times
    in a row, each restart resuming the script where the database says it is. The state
    found after each kill must be exactly the reference state after the last reported
    step or the one after it (a step is all-or-nothing), there is one person / identity /
    state row, and a fresh engine carries on with the reference replies.
(b) ``piu ingest catalogue`` of a large generated file killed mid-way: nothing changed,
    and a rerun imports everything.
(c) ``piu index build`` killed mid-way (real model, slow): each index file is the old
    complete one or a new complete one (``unpack`` succeeds), the next start loads or
    rebuilds it, and a truncated file is rebuilt.
(d) A digest run (36 subscribers, some digests in 2 parts or more) killed after a random
    number of messages, 5 times: the next worker takes over once the dead one's lease
    expires, every part reaches its subscriber, and the only repeats are messages in flight
    at a kill (accepted by Telegram, not yet committed), once per such kill.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from api import wiring
from bot.engine import ConversationEngine
from core.config import REPO_ROOT, Settings
from core.db import Database
from core.models import ChatIdentity, ConversationState, Meta, Person, Solution
from tests.test_engine import _territories

# real subprocesses killed with SIGKILL; runs on SQLite and on PostgreSQL
pytestmark = pytest.mark.slow

SEED = 9
USER = "kill9"
KILLS = 5


def build_engine(db_url: str, data_dir: str, model_cache: str) -> ConversationEngine:
    """The engine used by the reference run and by the child (identical set-up)."""
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

    settings = Settings(  # type: ignore[call-arg]
        data_dir=Path(data_dir),
        database_url=db_url,
        model_cache_dir=Path(model_cache),
        environment="test",
        chat_rate_limit_per_minute=0,  # the child talks fast on purpose
        _env_file=None,
    )
    db = Database(db_url)
    with db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    engine = wiring.build_engine(db, MatchService(db, settings), settings, resolver=resolver)
    engine.today = lambda: dt.date(2026, 11, 15)
    return engine


CHILD = """
import json, sys
from tests.test_durability import build_engine
args = json.loads(sys.argv[1])
engine = build_engine(args["db_url"], args["data_dir"], args["model_cache"])
script = args["script"]
for i in range(args["start"], len(script)):
    engine.handle("test", args["user"], **script[i])
    print(f"done {i}", flush=True)
"""

CYCLE = [
    {"text": "/besoin Nous cherchons une solution de covoiturage pour nos agents"},
    {"label": "Passer"},
    {"text": "environ 120 000 euros"},
    {"label": "Plus d'un an"},
    {"label": "RGPD"},
    {"label": "Terminé"},
    {"label": "Modifier"},
    {"label": "Territoire"},
    {"text": "Dole"},
    {"label": "Modifier"},
    {"label": "Étape"},
    {"label": "Explorer"},
    {"text": "/aide"},
    {"text": "/annuler"},
]


def snapshot(db: Database, user: str = USER) -> tuple[str | None, str | None, str] | None:
    with db.session() as session:
        ident = session.scalar(select(ChatIdentity).where(ChatIdentity.external_id == user))
        if ident is None:
            return None
        state = session.scalar(
            select(ConversationState).where(ConversationState.person_id == ident.person_id)
        )
        return state.flow, state.step, json.dumps(state.data, sort_keys=True)


def _reference(tmp: Path, model_cache: Path, cycles: int) -> tuple[list[dict], list, list]:
    """Run the script once in-process: resolved inputs, state and replies after each step."""
    db_url = f"sqlite:///{tmp / 'reference.sqlite3'}"
    seeded = Database(db_url)
    _seed(seeded)
    seeded.dispose()
    engine = build_engine(db_url, str(tmp / "ref"), str(model_cache))
    script: list[dict] = []
    states: list = []
    replies: list[list[str]] = []
    out: list = []
    for step in CYCLE * cycles:
        if "label" in step:
            buttons = [b for m in out for b in m.buttons]
            ids = [b.id for b in buttons if step["label"].lower() in b.label.lower()]
            ids += [b.id for b in buttons if b.label == "Passer"] + [b.id for b in buttons]
            # the flow adapts (a remembered profile skips questions): any button will do
            move = {"choice": ids[0]} if ids else {"text": "/aide"}
        else:
            move = dict(step)
        out = engine.handle("test", USER, **move)
        script.append(move)
        states.append(snapshot(engine.db))
        replies.append([m.text for m in out])
    engine.db.dispose()
    return script, states, replies


def _seed(db: Database) -> None:
    with db.session() as session:
        _territories(session)


def _child_env(db_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PIU_DATABASE_URL"] = db_url
    return env


def test_conversation_survives_kill9(settings: Settings, db: Database, tmp_path: Path) -> None:
    script, states, replies = _reference(tmp_path, settings.models_dir, cycles=50)
    _seed(db)
    rng = random.Random(SEED)
    start = 0
    kills_inside = 0
    for round_ in range(KILLS):
        args = {
            "db_url": settings.db_url,
            "data_dir": str(settings.data_dir),
            "model_cache": str(settings.models_dir),
            "script": script,
            "start": start,
            "user": USER,
        }
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            cwd=REPO_ROOT,
            env=_child_env(settings.db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # let it run a random number of steps (bounded, whatever the machine's speed),
        # then kill it at a random moment: between two steps or inside one
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.startswith("done"), child.stderr.read() if child.stderr else ""
        seen = [first]
        for _ in range(rng.randint(3, 40)):
            line = child.stdout.readline()
            if not line:
                break
            seen.append(line)
        time.sleep(rng.uniform(0.0, 0.02))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, f"round {round_}: the child finished first"
        done = [int(line.split()[1]) for line in [*seen, *rest.splitlines()] if line.strip()]
        last = max(done)
        # the database holds the state after the last reported step, or after the next one
        # (killed after its commit, before it printed); never anything in between
        found = snapshot(db)
        allowed = {last: states[last]}
        if last + 1 < len(states):
            allowed[last + 1] = states[last + 1]
        matches = [k for k, s in allowed.items() if s == found]
        assert matches, f"round {round_}: state {found} is none of {allowed}"
        resumed_at = max(matches)
        kills_inside += resumed_at == last
        with db.session() as session:
            for model in (Person, ChatIdentity, ConversationState):
                assert session.scalar(select(func.count()).select_from(model)) == 1, model
        if db.url.startswith("sqlite"):
            with db.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        start = resumed_at + 1
        assert start < len(script) - 10, "script too short for the kills"
    # a fresh engine resumes: the next replies are the reference ones
    engine = build_engine(settings.db_url, str(settings.data_dir), str(settings.models_dir))
    for i in range(start, min(start + 8, len(script))):
        out = engine.handle("test", USER, **script[i])
        assert [m.text for m in out] == replies[i], f"step {i} after the restart"
        assert snapshot(engine.db) == states[i]
    engine.db.dispose()
    print(f"kill -9: {KILLS} kills, resumed at step {start}; {kills_inside} between steps")


# -- (b) an import killed mid-way ---------------------------------------------------------------
def _catalogue_file(path: Path, n: int) -> None:
    template = json.loads(
        (REPO_ROOT / "data" / "catalogue_betagouv.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()[0]
    )
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row = dict(template, id=f"gen-{i:06d}", title=f"Solution générée n°{i}")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _counts(db: Database) -> tuple[int, dict[str, str]]:
    with db.session() as session:
        solutions = session.scalar(select(func.count()).select_from(Solution)) or 0
        meta = {m.key: m.value for m in session.scalars(select(Meta))}
    return solutions, meta


def test_import_killed_midway_changes_nothing(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    env = _child_env(settings.db_url) | {"PIU_DATA_DIR": str(settings.data_dir)}
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    _catalogue_file(small, 5)
    _catalogue_file(big, 30_000)
    cmd = [sys.executable, "-m", "cli.main", "ingest", "catalogue"]
    run = subprocess.run(
        [*cmd, str(small)], cwd=REPO_ROOT, env=env, capture_output=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    before = _counts(db)
    assert before[0] == 5
    rng = random.Random(SEED)
    for attempt in range(3):
        child = subprocess.Popen(
            [*cmd, str(big)], cwd=REPO_ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        # kill once the import is under way (the progress bar is on stderr)
        seen = b""
        deadline = time.monotonic() + 60
        while b"it/s" not in seen and b"%" not in seen and time.monotonic() < deadline:
            chunk = os.read(child.stderr.fileno(), 4096) if child.stderr else b""
            if not chunk:
                break
            seen += chunk
        time.sleep(rng.uniform(0.2, 1.0) * (attempt + 1))
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stderr:
            child.stderr.close()
        if child.returncode == -signal.SIGKILL:
            break
    assert child.returncode == -signal.SIGKILL, "the import finished before the kill"
    assert _counts(db) == before  # all-or-nothing
    if db.url.startswith("sqlite"):
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    run = subprocess.run([*cmd, str(big)], cwd=REPO_ROOT, env=env, capture_output=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _counts(db)[0] == 30_000  # the 5 first rows were upserted by external id


# -- (c) an index rebuild killed mid-way (real model) ---------------------------------------------
@pytest.mark.slow
def test_index_rebuild_killed_midway(
    settings: Settings, db: Database, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from index.store import KINDS, unpack
    from ingest.importers import import_file
    from matcher.service import MatchService
    from matcher.types import Scope

    source = tmp_path / "cat.jsonl"
    lines = (REPO_ROOT / "data" / "catalogue_betagouv.jsonl").read_text(encoding="utf-8")
    source.write_text("\n".join(lines.splitlines()[:200]) + "\n", encoding="utf-8")
    with db.session() as session:
        import_file(session, "catalogue", source)
    service = MatchService(db, settings, embedder)
    service.ensure_ready()
    path = service.store.path("solution")
    old = path.read_bytes()
    env = _child_env(settings.db_url) | {
        "PIU_DATA_DIR": str(settings.data_dir),
        "PIU_MODEL_CACHE_DIR": str(settings.models_dir),
    }
    rng = random.Random(SEED)
    child = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "index", "build", "--force"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    seen = b""
    deadline = time.monotonic() + 180
    while b"index solution" not in seen and time.monotonic() < deadline:  # embedding started
        chunk = os.read(child.stderr.fileno(), 4096) if child.stderr else b""
        if not chunk:
            break
        seen += chunk
    time.sleep(rng.uniform(0.5, 3.0))
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    if child.stderr:
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, "the rebuild finished before the kill"
    for kind in KINDS:
        p = service.store.path(kind)
        if p.exists():
            meta, index = unpack(p.read_bytes())  # never a torn file
            assert index.count() == meta.count
    assert path.read_bytes() == old or unpack(path.read_bytes())[0].count == unpack(old)[0].count
    # the next start loads (or rebuilds) and serves searches
    restarted = Database(settings.db_url)
    try:
        fresh = MatchService(restarted, settings, embedder)
        reports = {r.kind: r for r in fresh.ensure_ready()}
        assert reports["solution"].count == 200
        assert fresh.search_solutions(Scope(text="stage pour les collégiens"), top=3)
        # a damaged file (truncated, as a crash without atomic writes would leave) is rebuilt
        path.write_bytes(path.read_bytes()[: len(old) // 2])
        again = MatchService(restarted, settings, embedder)
        report = {r.kind: r for r in again.ensure_ready()}["solution"]
        assert not report.loaded and report.count == 200
        unpack(path.read_bytes())
    finally:
        restarted.dispose()


# -- (d) a digest run killed mid-way -------------------------------------------------------------
DIGEST_CHILD = """
import asyncio, datetime as dt, json, os, sys
from pathlib import Path
from core.config import Settings
from core.db import Database
from digest.run import DigestRunner
from tests.test_digest import _KeywordMatcher

args = json.loads(sys.argv[1])
settings = Settings(
    data_dir=Path(args["data_dir"]), database_url=args["db_url"], environment="test",
    _env_file=None,
)
db = Database(args["db_url"])
now = dt.datetime.fromisoformat(args["now"])


class LoggingSender:
    # What Telegram accepted: one fsynced line per message, written before the runner commits.
    def __init__(self, path):
        self.fh = open(path, "a", encoding="utf-8")

    async def send(self, chat_id, text, buttons):
        await asyncio.sleep(0.005)  # the network round trip: a window to be killed in
        self.fh.write(json.dumps([chat_id, text], ensure_ascii=False) + "\\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        print("sent", flush=True)


runner = DigestRunner(
    db, settings, LoggingSender(args["log"]), _KeywordMatcher(db), now=lambda: now,
    concurrency=args["concurrency"], owner=args["owner"],
)
report = asyncio.run(runner.run())
print("report", json.dumps(report.summary()), flush=True)
"""


def _digest_subscribers(db: Database) -> None:
    from core.domain import Role
    from tests.test_digest import _long_buyer, _need, _person, _solution, paris

    start = paris(2026, 1, 11, 12)
    for i in range(12):  # 14 needs each: a digest in 2 parts
        _long_buyer(db, f"long{i}", start)
    for i in range(24):  # one need: 1 part
        buyer = _person(db, f"short{i}", Role.BUYER, at=start)
        _need(db, buyer, f"Compostage collectif biodéchets quartier {i}", start)
    for i in range(3):
        _solution(db, f"compost{i}", f"Compostage biodéchets n°{i}", start + dt.timedelta(hours=2))


def test_digest_run_killed_midway_resumes_without_losing_or_repeating(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    from core.models import DigestDelivery, Subscription
    from tests.test_digest import paris

    _digest_subscribers(db)
    log_path = tmp_path / "telegram.log"
    concurrency = 2
    rng = random.Random(SEED)
    now = paris(2026, 1, 12, 9, 5)
    kills, in_flight = 0, []  # the messages logged just before each kill
    for round_ in range(KILLS + 1):  # the last round runs to the end
        args = {
            "db_url": settings.db_url,
            "data_dir": str(settings.data_dir),
            "log": str(log_path),
            "now": now.isoformat(),
            "owner": f"worker{round_}",
            "concurrency": concurrency,
        }
        child = subprocess.Popen(
            [sys.executable, "-c", DIGEST_CHILD, json.dumps(args)],
            cwd=REPO_ROOT, env=_child_env(settings.db_url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdout is not None
        read = ""
        for _ in range(rng.randint(1, 8) if round_ < KILLS else 10**6):  # then kill
            line = child.stdout.readline()
            read += line
            if not line.startswith("sent"):
                break
        else:
            time.sleep(rng.uniform(0.0, 0.01))  # between two sends, or inside one
            child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=60)
        out = read + out
        if child.returncode == 0:
            break
        assert child.returncode == -signal.SIGKILL, err[-2000:]
        kills += 1
        in_flight += log_path.read_text(encoding="utf-8").splitlines()[-concurrency:]
        now += dt.timedelta(minutes=16)  # the dead worker's lease (15 min) has expired
    assert child.returncode == 0 and kills == KILLS, f"{kills} kills: the run finished too soon"
    assert json.loads(out.split("report ", 1)[1])["messages_sent"] > 0

    sent = log_path.read_text(encoding="utf-8").splitlines()
    with db.session() as session:
        deliveries = session.execute(
            select(DigestDelivery, ChatIdentity.external_id)
            .join(Subscription, Subscription.id == DigestDelivery.subscription_id)
            .join(ChatIdentity, ChatIdentity.person_id == Subscription.person_id)
        ).all()
    expected = {
        json.dumps([chat, part["text"]], ensure_ascii=False)
        for d, chat in deliveries
        for part in d.payload
    }
    assert len(deliveries) == 36 and len(expected) >= 12 * 2 + 24
    assert set(sent) == expected  # nothing lost
    assert all(d.status == "sent" and d.parts_sent == len(d.payload) for d, _ in deliveries)
    repeated = [m for m in set(sent) if sent.count(m) > 1]
    # only a message in flight at a kill (accepted by Telegram, not yet committed) may be
    # sent again, once per kill it was in flight at (it can be caught by two kills in a row)
    assert all(sent.count(m) - 1 <= in_flight.count(m) for m in repeated), repeated
    assert len(sent) - len(expected) <= kills * concurrency
    print(f"digest kill -9: {kills} kills, {len(sent)} messages for {len(expected)}")
