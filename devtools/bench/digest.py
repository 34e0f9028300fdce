"""``piu bench digest``: compose digests for N synthetic subscribers, simulate sending.

Composition runs for real (SQLite file, queries, rendering, delivery rows) with a
cheap deterministic matcher (theme equality) standing in for the embedding model;
sending goes through the FakeSender at Telegram's limits on a virtual clock, so
the simulated wall time is reported without sleeping for minutes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import random
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import insert, select

from core.config import get_settings
from core.console import print_json

THEMES = [f"theme{i}" for i in range(20)]
WORDS = [
    "mobilité",
    "vélo",
    "covoiturage",
    "déchets",
    "compostage",
    "éclairage",
    "énergie",
    "rénovation",
    "école",
    "cantine",
    "eau",
    "voirie",
    "stationnement",
    "tourisme",
    "santé",
    "numérique",
    "inclusion",
    "sport",
    "culture",
]


class ThemeMatcher:
    """A need and a solution match when they share their first theme (cheap, deterministic)."""

    def __init__(self, db: Any) -> None:
        from core.domain import NeedStatus
        from core.models import Need, Solution

        with db.session() as s:
            self.sol_theme = {i: t[0] for i, t in s.execute(select(Solution.id, Solution.themes))}
            self.needs_by_theme: dict[str, list[int]] = {}
            for i, t in s.execute(
                select(Need.id, Need.themes).where(Need.status == NeedStatus.OPEN)
            ):
                self.needs_by_theme.setdefault(t[0], []).append(i)

    def solutions_for_need(self, need: Any, candidates: set[int]) -> list[tuple[int, float]]:
        theme = (need.themes or [""])[0]
        return [(i, 0.8) for i in sorted(candidates) if self.sol_theme.get(i) == theme]

    def needs_for_solution(self, solution_id: int) -> list[tuple[int, float]]:
        return [(i, 0.7) for i in self.needs_by_theme.get(self.sol_theme.get(solution_id, ""), [])]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def populate(db: Any, n: int, *, week_start: dt.datetime, seed: int = 7) -> dict[str, int]:
    """Synthetic people (60 % buyers, 30 % start-ups, 10 % facilitators) and one week of news."""
    from core.domain import IntroStatus, NeedStatus, Role
    from core.models import (
        ChatIdentity,
        Experience,
        Introduction,
        Need,
        Person,
        Solution,
        Subscription,
    )

    rng = random.Random(seed)
    old = week_start - dt.timedelta(days=30)
    roles = [Role.BUYER] * 6 + [Role.STARTUP] * 3 + [Role.FACILITATOR]
    people: list[dict[str, Any]] = [
        {"id": i + 1, "role": roles[i % 10], "language": "fr" if i % 3 else "en"} for i in range(n)
    ]
    with db.session() as s:
        s.execute(insert(Person), people)
        s.execute(
            insert(ChatIdentity),
            [
                {
                    "person_id": p["id"],
                    "transport": "telegram",
                    "external_id": str(10_000 + p["id"]),
                }
                for p in people
            ],
        )
        s.execute(
            insert(Subscription),
            [
                {
                    "person_id": p["id"],
                    "language": p["language"],
                    "created_at": old,
                    "watermark": week_start,
                    "weekday": 0,
                    "hour": 9,
                    "themes": [],
                    "cadence": "weekly",
                    "paused": False,
                }
                for p in people
            ],
        )
        buyers = [p["id"] for p in people if p["role"] == Role.BUYER]
        startups = [p["id"] for p in people if p["role"] == Role.STARTUP]
        bands = ["lt2k", "2k-10k", "10k-50k", "50k-200k", "gt200k"]
        s.execute(
            insert(Need),
            [
                {
                    "owner_id": b,
                    "raw_text": _text(rng, 12),
                    "themes": [rng.choice(THEMES)],
                    "status": NeedStatus.OPEN,
                    "size_band": rng.choice(bands),
                    "created_at": old,
                    "language": "fr",
                    "constraints": [],
                }
                for b in buyers
            ],
        )
        new_needs = [
            {
                "owner_id": rng.choice(buyers),
                "raw_text": _text(rng, 12),
                "themes": [rng.choice(THEMES)],
                "status": NeedStatus.OPEN,
                "size_band": rng.choice(bands),
                "language": "fr",
                "created_at": week_start + dt.timedelta(hours=rng.randint(1, 150)),
                "constraints": [],
            }
            for _ in range(300)
        ]
        s.execute(insert(Need), new_needs)
        sols = [
            {
                "external_id": f"old-{i}",
                "title": _text(rng, 4).capitalize(),
                "mission": _text(rng, 20),
                "themes": [rng.choice(THEMES)],
                "submitted_by_id": sid,
                "created_at": old,
            }
            for i, sid in enumerate(startups)
        ] + [
            {
                "external_id": f"new-{i}",
                "title": _text(rng, 4).capitalize(),
                "mission": _text(rng, 20),
                "themes": [rng.choice(THEMES)],
                "submitted_by_id": None,
                "created_at": week_start + dt.timedelta(hours=rng.randint(1, 150)),
            }
            for i in range(60)
        ]
        s.execute(insert(Solution), sols)
        s.execute(
            insert(Experience),
            [
                {
                    "external_id": f"rex-{i}",
                    "title": _text(rng, 6),
                    "population": rng.choice([900, 5000, 20000, 80000, 300000]),
                    "territory_name": "Ville",
                    "themes": [rng.choice(THEMES)],
                    "created_at": week_start + dt.timedelta(hours=rng.randint(1, 150)),
                }
                for i in range(40)
            ],
        )
        s.execute(
            insert(Introduction),
            [
                {
                    "requester_id": rng.choice(buyers),
                    "target_person_id": rng.choice(startups),
                    "status": IntroStatus.REQUESTED,
                    "message": _text(rng, 10),
                    "created_at": week_start + dt.timedelta(hours=rng.randint(1, 150)),
                }
                for _ in range(400)
            ],
        )
    return {"subscribers": n, "buyers": len(buyers), "startups": len(startups)}


def bench_digest(
    subscribers: Annotated[int, typer.Option(help="Synthetic subscribers.")] = 10_000,
    concurrency: Annotated[int, typer.Option(help="Concurrent deliveries.")] = 30,
    keep: Annotated[bool, typer.Option(help="Keep the temporary database.")] = False,
) -> None:
    """Compose digests for synthetic subscribers (target <= 60 s) and simulate sending them."""
    from core.db import Database
    from digest.run import DigestRunner, RunReport
    from digest.schedule import last_slot
    from digest.sender import FakeSender, RateLimiter, VirtualClock

    base = get_settings()
    tmp = Path(tempfile.mkdtemp(prefix="piu-bench-digest-"))
    s = base.model_copy(
        update={"data_dir": tmp, "database_url": f"sqlite:///{tmp / 'bench.sqlite3'}"}
    )
    db = Database(s.db_url)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(s.timezone)
    run_at = last_slot(0, 9, dt.datetime.now(dt.UTC), tz) + dt.timedelta(minutes=5)
    week_start = run_at - dt.timedelta(days=7)
    t0 = time.perf_counter()
    counts = populate(db, subscribers, week_start=week_start)
    setup_s = time.perf_counter() - t0

    vclock = VirtualClock()
    sender = FakeSender(limiter=RateLimiter(per_second=30, per_chat_interval=1.0, clock=vclock))
    runner = DigestRunner(
        db,
        s,
        sender,
        lambda: ThemeMatcher(db),
        now=lambda: run_at,
        clock=vclock,
        concurrency=concurrency,
    )
    report = RunReport()
    t0 = time.perf_counter()
    runner.compose(report)
    compose_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    asyncio.run(vclock.run(runner.send_pending(report)))
    send_real_s = time.perf_counter() - t0
    per_chat: dict[str, list[float]] = {}
    for m in sender.sent:
        per_chat.setdefault(m.chat_id, []).append(m.at)
    times = sorted(m.at for m in sender.sent)
    worst_gap = min((b - a for a, b in itertools.pairwise(times)), default=0.0)
    chat_gap = min(
        (b - a for ts in per_chat.values() for a, b in itertools.pairwise(ts)), default=None
    )
    result = {
        **counts,
        "setup_seconds": round(setup_s, 2),
        "compose_seconds": round(compose_s, 2),
        "compose_target_seconds": 60,
        "digests_with_content": report.composed,
        "digests_empty": report.empty,
        "messages": report.messages_sent,
        "simulated_send_seconds_at_30_per_s": round(vclock.now(), 1),
        "send_real_seconds": round(send_real_s, 2),
        "min_gap_between_messages_s": round(worst_gap, 4),
        "min_gap_same_chat_s": None if chat_gap is None else round(chat_gap, 3),
        "matcher": "theme-equality stand-in (no embedding model)",
    }
    typer.echo(
        f"compose: {report.composed + report.empty} digests for {subscribers} subscribers "
        f"in {compose_s:.1f} s (target <= 60 s)"
    )
    typer.echo(
        f"send: {report.messages_sent} messages, simulated wall time {vclock.now():.1f} s "
        f"at 30 msg/s and 1 msg/s per chat (virtual clock; {send_real_s:.1f} s real)"
    )
    print_json(result)
    db.dispose()
    if not keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
