"""``piu bench load``: N concurrent simulated buyers through the web chat API (loopback only).

Unless ``--base-url`` is given, it prepares a throw-away data directory (``piu init``:
demo data and indexes; the model cache is reused), starts the real app with uvicorn on
127.0.0.1 and a free port, drives the load, then stops the server. Every simulated buyer
runs full flows through ``POST /api/chat`` (a new session per flow): ``/start`` → role
"collectivité" → need text → each question answered with its first button or "skip" →
scope card confirmed → results → "more". Bounded in time and in requests; it stops by
itself. The per-IP API rate limit is lifted in the server it starts (all the simulated
users share 127.0.0.1); the per-user chat limit stays on (a flow is ~10 messages).

``--transport telegram`` runs the same flows through Telegram: the Bot API emulator
(``devtools/tg_emulator.py``) in this process, the real ``piu bot`` process polling it, one
thread per simulated user typing and pressing buttons; a turn's latency runs from the
user's update to the last message the bot sends for it. The bot's own AIORateLimiter
(Telegram's 30 messages/s per bot) stays on: it is part of what users would see.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import httpx
import typer

from core.console import fail, print_json
from devtools.bench.stats import percentile

__all__ = ["bench_load"]

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_DURATION = 300.0
MAX_USERS = 1000
NEEDS = [
    "Nous cherchons une solution de covoiturage pour les agents de la commune",
    "Nous voulons réduire le gaspillage alimentaire dans les cantines scolaires",
    "Je suis adjointe au maire de Lons-le-Saunier, nous voulons tester des capteurs de "
    "qualité de l'air dans les écoles, budget 30 000 €, d'ici juin",
    "Comment lutter contre les dépôts sauvages de déchets dans nos quartiers ?",
    "Nous souhaitons un outil de budget participatif pour associer les habitants",
    "We are looking for smart street lighting to cut the energy bill of the town",
    "Nous cherchons une plateforme de logistique urbaine du dernier kilomètre à vélo",
    "Réduire la consommation d'eau des bâtiments municipaux grâce à des capteurs",
    "Nous voulons ouvrir nos données de transport en open data",
    "Accompagner les seniors éloignés du numérique dans leurs démarches en ligne",
]
#: Needs are composed so that nearly every flow sends a different text (a real crowd
#: does not repeat itself): no query-vector cache hit flatters the figures.
OPENERS = [
    "", "Bonjour, ", "Bonjour. ", "Je suis agent à la mairie. ", "Élu d'une petite commune : ",
    "Pour notre intercommunalité, ", "Au nom du service technique, ", "Question rapide : ",
]  # fmt: skip
CLOSERS = [
    "", ".", " rapidement.", " pour l'an prochain.", " avec un petit budget.",
    ", si possible avec des références.", " pour un premier test.", " Merci !",
    " dans deux quartiers.", " sur l'ensemble du territoire.",
]  # fmt: skip


def need_text(rng: random.Random) -> str:
    """One of 10 x 8 x 10 x 50 phrasings (a number of sites makes most of them unique)."""
    sites = f" ({rng.randint(2, 51)} sites concernés)" if rng.random() < 0.8 else ""
    return f"{rng.choice(OPENERS)}{rng.choice(NEEDS)}{sites}{rng.choice(CLOSERS)}".strip()


@dataclass
class LevelResult:
    users: int
    seconds: float = 0.0
    flows: int = 0
    flows_failed: int = 0
    requests: int = 0
    errors: int = 0
    request_ms: list[float] = field(default_factory=list)
    flow_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def r(x: float) -> float:
            return round(x, 1)

        return {
            "users": self.users,
            "seconds": r(self.seconds),
            "requests": self.requests,
            "errors": self.errors,
            "flows": self.flows,
            "flows_failed": self.flows_failed,
            "throughput_rps": r(self.requests / self.seconds) if self.seconds else 0.0,
            "request_p50_ms": r(percentile(self.request_ms, 50)),
            "request_p95_ms": r(percentile(self.request_ms, 95)),
            "flow_p50_ms": r(percentile(self.flow_ms, 50)),
            "flow_p95_ms": r(percentile(self.flow_ms, 95)),
            "p95_ms_by_step": {k: r(percentile(v, 95)) for k, v in self.by_step.items()},
            "error_samples": self.error_samples[:5],
        }


class FlowError(Exception):
    pass


def _action(button_id: str) -> str:
    return button_id.split(":", 1)[0]


def _pick_answer(buttons: list[dict[str, str]], rng: random.Random) -> str | None:
    """The scope card's confirm, a multi-choice's "done", else the first button or "skip"."""
    ids = [b["id"] for b in buttons]
    for wanted in ("card:ok", "ok:"):
        for i in ids:
            if i.startswith(wanted):
                return i
    skip = next((i for i in ids if i.startswith("skip:")), None)
    first = next((i for i in ids if not i.startswith("skip:")), None)
    if skip and (first is None or rng.random() < 0.5):
        return skip
    return first


async def _post(
    client: httpx.AsyncClient,
    result: LevelResult,
    body: dict[str, str],
    error_texts: set[str],
    step: str,
) -> list[dict[str, Any]]:
    start = time.perf_counter()
    try:
        reply = await client.post("/api/chat", json=body)
    except httpx.HTTPError as exc:
        result.requests += 1
        result.errors += 1
        result.error_samples.append(f"{type(exc).__name__}: {exc}"[:200])
        raise FlowError(str(exc)) from None
    elapsed = (time.perf_counter() - start) * 1000
    result.request_ms.append(elapsed)
    result.by_step.setdefault(step, []).append(elapsed)
    result.requests += 1
    if reply.status_code != 200:
        result.errors += 1
        result.error_samples.append(f"HTTP {reply.status_code}: {reply.text[:160]}")
        raise FlowError(f"HTTP {reply.status_code}")
    messages: list[dict[str, Any]] = reply.json()["messages"]
    if not messages or any(m["text"] in error_texts for m in messages):
        result.errors += 1
        result.error_samples.append(f"engine error reply: {[m['text'][:80] for m in messages]}")
        raise FlowError("engine error")
    return messages


async def _buyer_flow(
    client: httpx.AsyncClient,
    result: LevelResult,
    rng: random.Random,
    error_texts: set[str],
    think: float = 0.0,
) -> None:
    sid = "bench-" + uuid.uuid4().hex[:24]

    async def send(step: str, **body: str) -> list[dict[str, Any]]:
        if think > 0:  # a person reads the reply before answering
            await asyncio.sleep(think * (0.5 + rng.random()))
        return await _post(client, result, {"session_id": sid, **body}, error_texts, step)

    def buttons(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [b for m in messages for b in m["buttons"]]

    start = time.perf_counter()
    out = await send("start", text="/start")
    role = next((b["id"] for b in buttons(out) if b["id"].startswith("role:buyer")), None)
    if role is None:
        raise FlowError("no role button")
    await send("role", choice=role)
    out = await send("need", text=need_text(rng))
    for _ in range(15):
        if any(b["id"].startswith("res:") for b in buttons(out)):
            break
        pick = _pick_answer(buttons(out), rng)
        if pick is None:
            raise FlowError(f"stuck: {[m['text'][:60] for m in out]}")
        out = await send("confirm" if pick.startswith("card:ok") else "answer", choice=pick)
    more = next((b["id"] for b in buttons(out) if b["id"].startswith("res:more")), None)
    if more is None:
        raise FlowError(f"no results: {[m['text'][:60] for m in out][-2:]}")
    await send("more", choice=more)
    result.flow_ms.append((time.perf_counter() - start) * 1000)
    result.flows += 1


async def _run_level(
    base_url: str,
    users: int,
    duration: float,
    max_requests: int,
    seed: int,
    timeout: float,
    think: float = 0.0,
) -> LevelResult:
    from core.messages import t

    error_texts = {t("error", "fr"), t("error", "en")}
    result = LevelResult(users)
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=timeout, limits=limits, trust_env=False
    ) as client:
        start = time.perf_counter()
        deadline = start + duration
        ramp = min(duration / 2, max(2.0, 10 * think))

        async def user(i: int) -> None:
            rng = random.Random(seed * 100_003 + i)
            # Ramp up: arrivals spread over about one flow (ten messages of think time),
            # so the users are not in lockstep (all confirming at the same instant)
            await asyncio.sleep(rng.random() * ramp)
            while time.perf_counter() < deadline and result.requests < max_requests:
                try:
                    await _buyer_flow(client, result, rng, error_texts, think)
                except FlowError as exc:
                    result.flows_failed += 1
                    if not result.error_samples:
                        result.error_samples.append(str(exc)[:200])

        await asyncio.gather(*(user(i) for i in range(users)))
        result.seconds = time.perf_counter() - start
    return result


async def _warm_up(base_url: str, timeout: float) -> None:
    """One flow per need text, not measured (first query embeddings, connection set-up)."""
    from core.messages import t

    result = LevelResult(1)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, trust_env=False) as client:
        for i in range(len(NEEDS)):
            rng = random.Random(i)

            def nth(seq: Any, i: int = i) -> Any:
                return seq[i % len(seq)]

            rng.choice = nth  # type: ignore[method-assign]
            try:
                await _buyer_flow(client, result, rng, {t("error", "fr"), t("error", "en")})
            except FlowError as exc:
                typer.echo(f"warm-up flow failed: {exc}", err=True)


# -- the same flows through the Telegram Bot API emulator -----------------------------------------
TELEGRAM_TOKEN = "123:LOADTEST"
#: A turn is over when the bot has sent nothing more for this long (its messages of one
#: turn follow each other closely, unless the rate limiter spaces them); the wait is
#: taken out of the next reading time, so users are not slowed down by it.
TURN_QUIET = 1.0
_COUNTS = threading.Lock()  # counters shared by the user threads


def _telegram_buttons(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"id": b["callback_data"]}
        for m in messages
        for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
        if "callback_data" in b
    ]


def _telegram_flow(
    emu: Any,
    chat: int,
    result: LevelResult,
    rng: random.Random,
    error_texts: set[str],
    think: float,
    timeout: float,
) -> None:
    """The buyer flow of :func:`_buyer_flow`, typed into Telegram by one user (a thread)."""

    def turn(step: str, act: Callable[[], Any]) -> list[dict[str, Any]]:
        if think > 0:
            time.sleep(max(0.0, think * (0.5 + rng.random()) - TURN_QUIET))
        after = len(emu.bot_messages(chat))
        start = time.monotonic()
        act()
        with _COUNTS:
            result.requests += 1
        try:
            replies = emu.wait_replies(chat, after, timeout=timeout, quiet=TURN_QUIET)
        except TimeoutError:
            with _COUNTS:
                result.errors += 1
            result.error_samples.append(f"no reply within {timeout:.0f} s ({step})")
            raise FlowError("timeout") from None
        sent = emu.sent_times(chat)[after : after + len(replies)]
        elapsed = (sent[-1] - start) * 1000
        result.request_ms.append(elapsed)
        result.by_step.setdefault(step, []).append(elapsed)
        if any(m.get("text") in error_texts for m in replies):
            with _COUNTS:
                result.errors += 1
            result.error_samples.append(f"engine error reply ({step})")
            raise FlowError("engine error")
        return replies

    start = time.perf_counter()
    out = turn("start", lambda: emu.send_text(chat, "/start"))
    role = next((b["id"] for b in _telegram_buttons(out) if b["id"].startswith("role:buyer")), None)
    if role is None:
        raise FlowError("no role button")
    turn("role", lambda: emu.click(chat, role))
    text = need_text(rng)
    out = turn("need", lambda: emu.send_text(chat, text))
    for _ in range(15):
        buttons = _telegram_buttons(out)
        if any(b["id"].startswith("res:") for b in buttons):
            break
        pick = _pick_answer(buttons, rng)
        if pick is None:
            raise FlowError(f"stuck: {[m.get('text', '')[:60] for m in out]}")
        step = "confirm" if pick.startswith("card:ok") else "answer"
        out = turn(step, functools.partial(emu.click, chat, pick))
    more = next((b["id"] for b in _telegram_buttons(out) if b["id"].startswith("res:more")), None)
    if more is None:
        raise FlowError("no results")
    turn("more", lambda: emu.click(chat, more))
    result.flow_ms.append((time.perf_counter() - start) * 1000)
    with _COUNTS:
        result.flows += 1


def _run_telegram_level(
    emu: Any,
    users: int,
    duration: float,
    max_requests: int,
    seed: int,
    timeout: float,
    think: float,
    first_chat: int,
) -> LevelResult:
    """``users`` threads, each a Telegram user running flows (a new chat per flow)."""
    from core.messages import t

    error_texts = {t("error", "fr"), t("error", "en")}
    result = LevelResult(users)
    lock = threading.Lock()
    chats = iter(range(first_chat, first_chat + 10_000_000))
    start = time.perf_counter()
    deadline = start + duration
    ramp = min(duration / 2, max(2.0, 10 * think))

    def user(i: int) -> None:
        rng = random.Random(seed * 100_003 + i)
        time.sleep(rng.random() * ramp)
        while time.perf_counter() < deadline and result.requests < max_requests:
            with lock:
                chat = next(chats)
            try:
                _telegram_flow(emu, chat, result, rng, error_texts, think, timeout)
            except FlowError:
                with _COUNTS:
                    result.flows_failed += 1

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    result.seconds = time.perf_counter() - start
    return result


def _run_telegram(
    levels: list[int], duration: float, max_requests: int, seed: int, timeout: float, think: float
) -> list[dict[str, Any]]:
    from devtools.tg_emulator import TelegramEmulator

    rows = []
    with TelegramEmulator(TELEGRAM_TOKEN) as emu, Server(telegram_base_url=emu.base_url) as bot:
        emu.wait_until_polling(timeout=bot.startup_timeout)
        warm = LevelResult(1)
        for i in range(3):  # not measured: first queries, connections
            try:
                _telegram_flow(emu, 900 + i, warm, random.Random(i), set(), 0.0, timeout)
            except FlowError as exc:
                typer.echo(f"warm-up flow failed: {exc}", err=True)
        for n, first_chat in zip(levels, itertools.count(1_000_000, 10_000_000), strict=False):
            typer.echo(f"load: {n} Telegram users for {duration:.0f} s (emulator) ...", err=True)
            level = _run_telegram_level(
                emu, n, duration, max_requests, seed, timeout, think, first_chat
            )
            rows.append(level.summary())
    return rows


# -- the server under test -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model_cache() -> str:
    from core.config import REPO_ROOT, get_settings

    env = os.environ.get("PIU_MODEL_CACHE_DIR")
    if env:
        return env
    try:
        return str(get_settings().models_dir)
    except Exception:  # settings unreadable here: the repository's cache
        return str(REPO_ROOT / "var" / "models")


class Server:
    """``piu init`` into a temporary PIU_DATA_DIR, then ``piu serve`` on a free loopback port
    (or, with ``telegram_base_url``, ``piu bot`` polling the Bot API emulator there)."""

    def __init__(
        self,
        startup_timeout: float = 600.0,
        *,
        telegram_base_url: str | None = None,
        workers: int = 1,
        database_url: str | None = None,
    ) -> None:
        self.telegram_base_url = telegram_base_url
        self.workers = workers
        self.tmp = Path(tempfile.mkdtemp(prefix="piu-bench-load-"))
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "PIU_DATA_DIR": str(self.tmp / "data"),
            "PIU_MODEL_CACHE_DIR": _model_cache(),
            "PIU_ENVIRONMENT": "development",
            "PIU_API_RATE_LIMIT_PER_MINUTE": str(10**9),  # every simulated user is 127.0.0.1
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.env.pop("PIU_DATABASE_URL", None)
        if database_url is not None:  # PostgreSQL, for several workers
            self.env["PIU_DATABASE_URL"] = database_url
        if telegram_base_url is not None:
            self.env["PIU_TELEGRAM_TOKEN"] = TELEGRAM_TOKEN
            self.env["PIU_TELEGRAM_API_BASE_URL"] = telegram_base_url
        else:
            self.env.pop("PIU_TELEGRAM_TOKEN", None)  # serve alone: no bot in-process
        self.log = self.tmp / "server.log"

    def __enter__(self) -> Server:
        from core.config import REPO_ROOT

        cache = REPO_ROOT / "var" / "test-cache" / "sqlite"
        if cache.is_dir():  # demo indexes from the tests: checked (text hashes) by the sync
            shutil.copytree(cache, self.tmp / "data" / "index", dirs_exist_ok=True)
        piu = [sys.executable, "-m", "cli.main"]
        typer.echo(f"preparing {self.tmp} (piu init: demo data, indexes)...", err=True)
        init = subprocess.run(
            [*piu, "init"], env=self.env, capture_output=True, timeout=self.startup_timeout
        )
        if init.returncode != 0:
            raise RuntimeError(f"piu init failed:\n{init.stderr.decode()[-2000:]}")
        command = (
            ["bot"]
            if self.telegram_base_url
            else ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + (["--workers", str(self.workers)] if self.workers > 1 else [])
        )
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*piu, *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()[-2000:]}")
            if self.telegram_base_url:  # the caller waits for the bot's first getUpdates
                return self
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError("server did not start in time")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:  # the whole group: workers too
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


#: a word no catalogue entry holds: the probe's entry is the only one BM25 finds for it
PROBE_WORD = "zorglubium"


def _change_visible(base_url: str, database_url: str, timeout: float) -> dict[str, Any]:
    """Register a solution through the admin API (one worker indexes it), then time how
    long until 20 searches in a row, each on a new connection (so on any worker), find it."""
    from api.security import create_key
    from core.db import Database

    db = Database(database_url, migrate=False)
    with db.session() as session:
        key = create_key(session, name=f"bench-{uuid.uuid4().hex[:8]}")[1]
    db.dispose()
    tag = uuid.uuid4().hex[:8]
    body = {
        "external_id": f"bench-probe-{tag}",
        "title": f"Sonde {PROBE_WORD} {tag}",
        "mission": f"Entrée de mesure {PROBE_WORD} : propagation entre les workers",
    }
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base_url, timeout=timeout, trust_env=False) as client:
        created = client.post("/api/admin/solutions", json=body, headers=headers)
    if created.status_code != 201:
        return {"error": f"HTTP {created.status_code}: {created.text[:200]}"}
    start = time.perf_counter()
    streak = misses = 0
    while streak < 20 and time.perf_counter() - start < 120:
        with httpx.Client(base_url=base_url, timeout=timeout, trust_env=False) as client:
            found = client.get("/api/solutions", params={"q": f"{PROBE_WORD} {tag}"})
        ids = [item["external_id"] for item in found.json().get("items", [])]
        if body["external_id"] in ids:
            streak += 1
        else:
            streak, misses = 0, misses + 1
            time.sleep(0.05)
    return {
        "change_visible_everywhere_s": round(time.perf_counter() - start, 2),
        "searches_before_it_showed_everywhere": misses,
        "seen": streak >= 20,
    }


def _check_loopback(base_url: str) -> str:
    host = urlparse(base_url).hostname or ""
    if host not in LOOPBACK and f"[{host}]" not in LOOPBACK:
        fail(f"--base-url must be a loopback address (127.0.0.1, localhost, ::1), not {host!r}")
    return base_url.rstrip("/")


def _print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'users':>5} {'secs':>6} {'reqs':>6} {'req/s':>7} {'errors':>6} {'flows':>6} "
        f"{'failed':>6} {'req p50':>8} {'req p95':>8} {'flow p50':>9} {'flow p95':>9}"
    )
    typer.echo(head)
    typer.echo("-" * len(head))
    for r in rows:
        typer.echo(
            f"{r['users']:>5} {r['seconds']:>6.1f} {r['requests']:>6} {r['throughput_rps']:>7.1f} "
            f"{r['errors']:>6} {r['flows']:>6} {r['flows_failed']:>6} "
            f"{r['request_p50_ms']:>6.0f}ms {r['request_p95_ms']:>6.0f}ms "
            f"{r['flow_p50_ms']:>7.0f}ms {r['flow_p95_ms']:>7.0f}ms"
        )
    for r in rows:
        steps = ", ".join(f"{k} {v:.0f}" for k, v in r["p95_ms_by_step"].items())
        typer.echo(f"  [{r['users']} users] p95 ms by step: {steps}")
        for sample in r["error_samples"]:
            typer.echo(f"  [{r['users']} users] {sample}")


def bench_load(
    users: Annotated[str, typer.Option(help="Concurrency levels, comma-separated")] = "50,200",
    duration: Annotated[
        float, typer.Option(help=f"Seconds of load per level (at most {MAX_DURATION:.0f})")
    ] = 30.0,
    max_requests: Annotated[int, typer.Option(help="Requests per level at most")] = 50_000,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="A running server (loopback only)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout (s)")] = 30.0,
    seed: Annotated[int, typer.Option(help="Random seed (answers, needs)")] = 0,
    think: Annotated[
        float,
        typer.Option(
            help="Mean seconds a simulated person reads before answering (0 = stress); "
            "3 s is already quick for someone reading a scope card or five results"
        ),
    ] = 3.0,
    transport: Annotated[
        str,
        typer.Option(
            help="web: POST /api/chat on `piu serve`; telegram: `piu bot` polling the "
            "Bot API emulator (devtools/tg_emulator.py), latency to the last message of a turn"
        ),
    ] = "web",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API worker processes of the server it starts (`piu serve --workers`; "
            "with more than one, --database-url)",
        ),
    ] = 1,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A throw-away PostgreSQL database for the server it starts (`piu init` "
            "loads the demo data into it); it then also times how long a catalogue change "
            "made through one worker takes to show in every worker's answers",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Simulated buyers through the web chat API or Telegram: throughput, p50/p95, errors."""
    if transport not in ("web", "telegram"):
        fail(f"--transport: web or telegram, not {transport!r}")
    try:
        levels = [int(x) for x in users.split(",") if x.strip()]
    except ValueError:
        fail(f"--users: comma-separated integers, not {users!r}")
    if not levels or any(n < 1 or n > MAX_USERS for n in levels):
        fail(f"--users: each level between 1 and {MAX_USERS}")
    duration = max(1.0, min(duration, MAX_DURATION))
    max_requests = max(1, min(max_requests, 1_000_000))

    def run(url: str) -> list[dict[str, Any]]:
        asyncio.run(_warm_up(url, timeout))
        rows = []
        for n in levels:
            typer.echo(f"load: {n} users for {duration:.0f} s on {url} ...", err=True)
            rows.append(
                asyncio.run(_run_level(url, n, duration, max_requests, seed, timeout, think))
            )
        return [r.summary() for r in rows]

    if transport == "telegram":
        if base_url is not None:
            fail("--base-url is for --transport web")
        rows = _run_telegram(levels, duration, max_requests, seed, timeout, think)
    elif base_url is not None:
        rows = run(_check_loopback(base_url))
    else:
        if workers > 1 and database_url is None:
            fail("--workers needs --database-url (PostgreSQL)")
        with Server(workers=workers, database_url=database_url) as server:
            rows = run(server.base_url)
            if database_url is not None:
                propagation = _change_visible(server.base_url, database_url, timeout)
    if as_json:
        print_json(
            {
                "bench": "load",
                "transport": transport,
                "think_s": think,
                "duration_s": duration,
                "workers": workers,
                "levels": rows,
                **({"propagation": propagation} if database_url is not None else {}),
            }
        )
    else:
        _print_table(rows)
        if database_url is not None:
            typer.echo(f"workers: {workers}; catalogue change through one worker: {propagation}")
