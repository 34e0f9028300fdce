"""``piu bench digest``: compose digests for N synthetic subscribers, simulate sending.

Composition runs for real: SQLite file, queries, the real matcher (the embedding model,
FAISS and BM25 through :class:`digest.match.IndexMatcher`: one search per new entry),
rendering, delivery rows and inbox copies. The texts are the shipped catalogue's (needs
are written from its missions), so searches cost what real ones do. New entries are
timed 200, 400 and 800 (half solutions, a quarter needs, a quarter REX); each size is
composed ``--repeat`` times from a fresh matcher (cold query cache) and the median is
reported. Sending goes through the FakeSender at Telegram's limits on a virtual clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
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


NEED_OPENINGS = [
    "Nous cherchons une solution pour",
    "Notre commune voudrait",
    "Comment faire pour",
    "Nous souhaitons",
    "Besoin d'un outil pour",
]
SIZES = (200, 400, 800)


def _catalogue() -> list[dict[str, Any]]:
    """The shipped catalogue's entries (title, mission, themes)."""
    import json

    from core.config import DEMO_DATA_DIR

    rows = []
    with open(DEMO_DATA_DIR / "catalogue_betagouv.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("mission"):
                rows.append(row)
    return rows


def _need_text(rng: random.Random, entry: dict[str, Any]) -> str:
    mission = str(entry["mission"]).rstrip(".")
    return f"{rng.choice(NEED_OPENINGS)} {mission[0].lower()}{mission[1:]} {rng.choice(WORDS)}"


def populate(
    db: Any, n: int, *, week_start: dt.datetime, new_entries: int = 800, seed: int = 7
) -> dict[str, int]:
    """Synthetic people (60 % buyers, 30 % start-ups, 10 % facilitators; a fifth of them
    on the web chat without e-mail), their needs and solutions, and ``new_entries``
    entries created during the week, oldest first: entry i is created at minute i + 1."""
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
    catalogue = _catalogue()
    old = week_start - dt.timedelta(days=30)
    roles = [Role.BUYER] * 6 + [Role.STARTUP] * 3 + [Role.FACILITATOR]
    people: list[dict[str, Any]] = [
        {"id": i + 1, "role": roles[i % 10], "language": "fr" if i % 3 else "en"} for i in range(n)
    ]
    bands = ["lt2k", "2k-10k", "10k-50k", "50k-200k", "gt200k"]
    with db.session() as s:
        s.execute(insert(Person), people)
        s.execute(
            insert(ChatIdentity),
            [
                {
                    "person_id": p["id"],
                    "transport": "web" if p["id"] % 5 == 0 else "telegram",
                    "external_id": f"web-{p['id']:08d}"
                    if p["id"] % 5 == 0
                    else str(10_000 + p["id"]),
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

        def need(owner: int, at: dt.datetime) -> dict[str, Any]:
            entry = rng.choice(catalogue)
            return {
                "owner_id": owner,
                "raw_text": _need_text(rng, entry),
                "themes": list(entry.get("themes") or [])[:2],
                "status": NeedStatus.OPEN,
                "size_band": rng.choice(bands),
                "created_at": at,
                "language": "fr",
                "constraints": [],
            }

        def solution(key: str, by: int | None, at: dt.datetime) -> dict[str, Any]:
            entry = rng.choice(catalogue)
            return {
                "external_id": key,
                "title": str(entry["title"])[:200],
                "mission": entry["mission"],
                "description": entry["mission"],
                "themes": list(entry.get("themes") or [])[:2],
                "submitted_by_id": by,
                "created_at": at,
            }

        def minute(i: int) -> dt.datetime:
            return week_start + dt.timedelta(minutes=i + 1)

        kinds = ["solution", "need", "solution", "rex"] * (new_entries // 4 + 1)
        s.execute(insert(Need), [need(b, old) for b in buyers])
        s.execute(
            insert(Solution), [solution(f"old-{i}", sid, old) for i, sid in enumerate(startups)]
        )
        new = list(enumerate(kinds[:new_entries]))
        s.execute(
            insert(Need), [need(rng.choice(buyers), minute(i)) for i, k in new if k == "need"]
        )
        s.execute(
            insert(Solution),
            [solution(f"new-{i}", None, minute(i)) for i, k in new if k == "solution"],
        )
        s.execute(
            insert(Experience),
            [
                {
                    "external_id": f"rex-{i}",
                    "title": _text(rng, 6),
                    "population": rng.choice([900, 5000, 20000, 80000, 300000]),
                    "territory_name": "Ville",
                    "themes": list(rng.choice(catalogue).get("themes") or [])[:1],
                    "created_at": minute(i),
                }
                for i, k in new
                if k == "rex"
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
                    "created_at": minute(rng.randrange(new_entries)),
                }
                for _ in range(400)
            ],
        )
    return {"subscribers": n, "buyers": len(buyers), "startups": len(startups)}


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _at(value: dt.datetime) -> dt.datetime:
    return value


def _reset(db: Any, week_start: dt.datetime) -> None:
    """Forget the deliveries (and inbox copies) of a timed run: the next one starts afresh."""
    from sqlalchemy import delete, update

    from core.models import DigestDelivery, Outbox, Subscription

    with db.session() as s:
        s.execute(delete(DigestDelivery))
        s.execute(delete(Outbox))
        s.execute(update(Subscription).values(watermark=week_start, last_sent_at=None))


def bench_digest(
    subscribers: Annotated[int, typer.Option(help="Synthetic subscribers.")] = 10_000,
    sizes: Annotated[str, typer.Option(help="New entries per timed run.")] = "200,400,800",
    repeat: Annotated[int, typer.Option(help="Timed runs per size (the median is shown).")] = 3,
    concurrency: Annotated[int, typer.Option(help="Concurrent deliveries.")] = 30,
    keep: Annotated[bool, typer.Option(help="Keep the temporary database.")] = False,
) -> None:
    """Compose digests with the real matcher for N subscribers (target <= 60 s at 200 new
    entries) and how it grows with what is new; simulate sending the first size."""
    import statistics

    from core.db import Database
    from digest.match import IndexMatcher
    from digest.run import DigestRunner, RunReport
    from digest.schedule import last_slot
    from digest.sender import FakeSender, RateLimiter, VirtualClock
    from matcher.service import MatchService

    counts_by_size = [int(x) for x in sizes.split(",") if x.strip()]
    base = get_settings()
    tmp = Path(tempfile.mkdtemp(prefix="piu-bench-digest-"))
    s = base.model_copy(
        update={
            "data_dir": tmp,
            "database_url": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "model_cache_dir": base.models_dir,  # the converted model, not a new conversion
        }
    )
    db = Database(s.db_url)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(s.timezone)
    week_start = last_slot(0, 9, dt.datetime.now(dt.UTC), tz) - dt.timedelta(days=7)
    t0 = time.perf_counter()
    counts = populate(db, subscribers, week_start=week_start, new_entries=max(counts_by_size))
    typer.echo(
        f"setup: {subscribers} subscribers and their data in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    built = MatchService.ready(s, db, progress=True)  # embed and index everything once
    embedder = built.embedder
    built.close()

    def fresh_service() -> MatchService:
        """The indexes loaded from their files, an empty query cache."""
        service = MatchService(db, s, embedder)
        service.ensure_ready()
        return service

    index_s = time.perf_counter() - t0
    typer.echo(f"indexes: built in {index_s:.1f} s (not part of the composition)")

    timings: dict[int, list[float]] = {}
    searches: dict[int, int] = {}
    composed: dict[int, RunReport] = {}
    for size in counts_by_size:
        run_at = week_start + dt.timedelta(minutes=size, seconds=30)  # entries 0..size-1
        for _ in range(repeat):
            _reset(db, week_start)
            service = fresh_service()
            matcher = IndexMatcher(service)
            runner = DigestRunner(db, s, None, matcher, now=functools.partial(_at, run_at))
            report = RunReport()
            t0 = time.perf_counter()
            runner.compose(report, force=True)
            timings.setdefault(size, []).append(time.perf_counter() - t0)
            searches[size], composed[size] = matcher.searches, report
            service.close()
        typer.echo(
            f"compose: {subscribers} subscribers, {size} new entries: median "
            f"{statistics.median(timings[size]):.1f} s over {repeat} runs "
            f"({', '.join(f'{x:.1f}' for x in timings[size])}); {searches[size]} searches; "
            f"{composed[size].composed} digests, {composed[size].empty} empty"
        )

    first = counts_by_size[0]
    _reset(db, week_start)
    vclock = VirtualClock()
    sender = FakeSender(limiter=RateLimiter(per_second=30, per_chat_interval=1.0, clock=vclock))
    service = fresh_service()
    runner = DigestRunner(
        db, s, sender, IndexMatcher(service),
        now=lambda: week_start + dt.timedelta(minutes=first, seconds=30),
        clock=vclock, concurrency=concurrency,
    )  # fmt: skip
    report = RunReport()
    runner.compose(report, force=True)
    t0 = time.perf_counter()
    asyncio.run(vclock.run(runner.send_pending(report)))
    send_real_s = time.perf_counter() - t0
    service.close()
    per_chat: dict[str, list[float]] = {}
    for m in sender.sent:
        per_chat.setdefault(m.chat_id, []).append(m.at)
    times = sorted(m.at for m in sender.sent)
    worst_gap = min((b - a for a, b in itertools.pairwise(times)), default=0.0)
    chat_gap = min(
        (b - a for ts in per_chat.values() for a, b in itertools.pairwise(ts)), default=None
    )
    medians = {size: round(statistics.median(v), 2) for size, v in timings.items()}
    result = {
        **counts,
        "index_build_seconds": round(index_s, 1),
        "compose_median_seconds_by_new_entries": medians,
        "compose_runs_seconds": {k: [round(x, 2) for x in v] for k, v in timings.items()},
        "searches_by_new_entries": searches,
        "compose_target_seconds": 60,
        "digests_with_content": report.composed,
        "digests_empty": report.empty,
        "inbox_only": report.inbox,
        "messages": report.messages_sent,
        "simulated_send_seconds_at_30_per_s": round(vclock.now(), 1),
        "send_real_seconds": round(send_real_s, 2),
        "min_gap_between_messages_s": round(worst_gap, 4),
        "min_gap_same_chat_s": None if chat_gap is None else round(chat_gap, 3),
        "matcher": f"IndexMatcher, {s.embedding_model} ({s.embedding_backend}"
        f"{', fine-tuned' if s.use_finetuned else ''}), one search per new entry",
    }
    typer.echo(
        f"send ({first} new entries): {report.messages_sent} messages, simulated wall time "
        f"{vclock.now():.1f} s at 30 msg/s and 1 msg/s per chat (virtual clock; "
        f"{send_real_s:.1f} s real); {report.inbox} web chat users got it in their inbox"
    )
    print_json(result)
    db.dispose()
    if not keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def bench_digest_threshold(
    needs: Annotated[
        Path, typer.Option("--needs", exists=True, dir_okay=False, help="Labelled needs.")
    ] = Path(__file__).resolve().parents[2] / "data" / "bench" / "digest_needs.jsonl",
) -> None:
    """The digest's similarity thresholds on labelled needs x the shipped catalogue."""
    import json

    import numpy as np

    from core.config import DEMO_DATA_DIR
    from core.db import Database
    from core.models import Solution
    from digest.match import DIGEST_MIN_SIMILARITY
    from digest.run import ALERT_MIN_SCORE
    from index.embedder import load_embedder
    from ingest.importers import import_file

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="piu-threshold-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'catalogue.sqlite3'}")
        with db.session() as session:  # the catalogue as the product reads it
            import_file(session, "catalogue", DEMO_DATA_DIR / "catalogue_betagouv.jsonl")
        with db.session() as session:
            sols = [(x.external_id, x.index_text()) for x in session.scalars(select(Solution))]
        db.dispose()
    labelled = [json.loads(line) for line in needs.read_text(encoding="utf-8").splitlines()]
    embedder = load_embedder(settings)
    queries = embedder.encode_queries([text for _, text in sols])
    passages = embedder.encode_passages([n["text"] for n in labelled])
    sim = queries @ passages.T
    ids = [external_id for external_id, _ in sols]
    relevant = np.array([[i in set(n["relevant"]) for n in labelled] for i in ids])
    table = []
    for threshold in (0.68, 0.70, 0.72, 0.74, 0.76, 0.78, 0.80):
        above = sim >= threshold
        table.append(
            {
                "threshold": threshold,
                "relevant_kept": int((above & relevant).sum()),
                "relevant_total": int(relevant.sum()),
                "other_pairs_above": int((above & ~relevant).sum()),
            }
        )
        typer.echo(
            f"{threshold:.2f}: keeps {table[-1]['relevant_kept']}/{table[-1]['relevant_total']}"
            f" relevant pairs, {table[-1]['other_pairs_above']} other pairs above"
        )
    print_json(
        {
            "needs": len(labelled),
            "solutions": len(sols),
            "digest_min_similarity": DIGEST_MIN_SIMILARITY,
            "alert_min_score": ALERT_MIN_SCORE,
            "table": table,
        }
    )
