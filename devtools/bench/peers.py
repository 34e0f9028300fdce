"""``piu bench peers``: peer-ranking quality and latency on the ingested REX.

For each REX with a known territory and population, its problem is asked as if by
another collectivité of the same size band (same kind when possible, picked
deterministically from the territory table with ``--seed``). Reported:

* recall@5: the REX itself is among the 5 peers returned (strict), or its
  collectivité is (the REX shown, or grouped under another sheet of the same town);
* the share of returned peers within one size band of the asker;
* latency p50/p95 of ``PeerService.find_peers`` in milliseconds.
"""

from __future__ import annotations

import random
import time
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from core.config import get_settings
from core.console import print_json
from core.db import Database
from core.domain import SizeBand, band_distance, size_band
from core.models import Experience, Territory
from devtools.bench.stats import percentile
from matcher.types import Scope


def _asker_pool(session) -> dict[tuple[str, str], list[tuple[str, int, str | None, str | None]]]:  # type: ignore[no-untyped-def]
    """Territories by (kind, size band): (code, population, dep, region), sorted by code."""
    pool: dict[tuple[str, str], list[tuple[str, int, str | None, str | None]]] = {}
    rows = session.execute(
        select(
            Territory.kind, Territory.code, Territory.population, Territory.dep, Territory.region
        )
        .where(Territory.population.is_not(None))
        .order_by(Territory.kind, Territory.code)
    )
    for kind, code, population, dep, region in rows:
        band = size_band(population)
        if band is not None:
            pool.setdefault((str(kind), band.value), []).append((code, population, dep, region))
    return pool


def _pick_asker(
    exp: Experience,
    pool: dict[tuple[str, str], list[tuple[str, int, str | None, str | None]]],
    rng: random.Random,
) -> tuple[str, tuple[str, int, str | None, str | None]] | None:
    band = size_band(exp.population)
    if band is None:
        return None
    kinds = [exp.territory_kind] if exp.territory_kind else []
    kinds += [k for k in ("commune", "epci", "departement", "region") if k not in kinds]
    for kind in kinds:
        candidates = [
            c for c in pool.get((str(kind), band.value), []) if c[0] != exp.territory_code
        ]
        if candidates:
            return str(kind), rng.choice(candidates)
    return None


def run_bench(
    db, service, settings, *, seed: int = 7, top: int = 5, max_chars: int = 300
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The benchmark figures (also used by tests)."""
    from matcher.peers import PeerService

    peers = PeerService(db, service, settings)
    with db.session() as session:
        pool = _asker_pool(session)
        rexes = list(
            session.scalars(
                select(Experience)
                .where(Experience.territory_code.is_not(None), Experience.population.is_not(None))
                .order_by(Experience.id)
            )
        )
    peers.find_peers(Scope(text="échauffement du modèle"), top=1, need_top=0)  # warm-up

    queries = strict_hits = group_hits = in_band = with_band = returned = 0
    latencies: list[float] = []
    for exp in rexes:
        rng = random.Random(f"{seed}:{exp.external_id}")
        picked = _pick_asker(exp, pool, rng)
        text = (exp.problem or exp.title or "").strip()
        if picked is None or not text:
            continue
        kind, (code, population, dep, region) = picked
        if len(text) > max_chars:
            text = text[:max_chars].rsplit(" ", 1)[0]
        band = size_band(population)
        scope = Scope(
            text=text,
            territory_kind=kind,
            territory_code=code,
            population=population,
            size_band=band.value if band else None,
            dep=dep,
            region=region,
        )
        start = time.perf_counter()
        found = peers.find_peers(scope, top=top, need_top=0)
        latencies.append((time.perf_counter() - start) * 1000)
        queries += 1
        ids = [p.experience_id for p in found]
        grouped = set(ids)
        for p in found:
            for reason in p.reasons:
                if reason.code == "more_rex":
                    grouped.update(reason.params.get("experience_ids", []))
        strict_hits += exp.id in ids
        group_hits += exp.id in grouped
        for p in found:
            returned += 1
            peer_band = size_band(p.population)
            if peer_band is not None and band is not None:
                with_band += 1
                in_band += (band_distance(band, peer_band) or 0) <= 1
    return {
        "rex_total": len(rexes),
        "queries": queries,
        "top": top,
        "recall@5": strict_hits / queries if queries else float("nan"),
        "recall@5_collectivite": group_hits / queries if queries else float("nan"),
        "within_one_band": in_band / with_band if with_band else float("nan"),
        "peers_returned": returned,
        "peers_per_query": returned / queries if queries else float("nan"),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
        "seed": seed,
        "max_chars": max_chars,
        "size_bands": [b.value for b in SizeBand],
    }


def bench_peers(
    seed: Annotated[int, typer.Option(help="Seed for picking the asking collectivité")] = 7,
    top: Annotated[int, typer.Option(help="Peers returned per query")] = 5,
    max_chars: Annotated[
        int, typer.Option(help="Query = the REX problem cut to this many characters")
    ] = 300,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Peer ranking: recall@5 of each REX asked by a same-size collectivité, size fit, latency."""
    from matcher.service import MatchService

    s = get_settings()
    db = Database(s.db_url)
    with db.session() as session:
        n_rex = session.scalar(select(func.count()).select_from(Experience)) or 0
    if not n_rex:
        from ingest.demo import load_demo

        load_demo(db)
    service = MatchService.ready(s, db, progress=not as_json)
    result = run_bench(db, service, s, seed=seed, top=top, max_chars=max_chars)
    if as_json:
        print_json(result)
        return
    rows = [
        ("REX with territory", f"{result['rex_total']}"),
        ("queries", f"{result['queries']}"),
        ("recall@5 (the REX)", f"{result['recall@5']:.3f}"),
        ("recall@5 (its collectivité)", f"{result['recall@5_collectivite']:.3f}"),
        ("peers within one size band", f"{result['within_one_band']:.3f}"),
        ("peers returned per query", f"{result['peers_per_query']:.2f}"),
        ("latency p50 (ms)", f"{result['latency_ms_p50']:.1f}"),
        ("latency p95 (ms)", f"{result['latency_ms_p95']:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        typer.echo(f"{name:<{width}}  {value}")
