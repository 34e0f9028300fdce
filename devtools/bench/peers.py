"""``piu bench peers``: peer-ranking quality and latency on the ingested REX.

With ``--queries FILE`` (data/bench/peers_paraphrases.jsonl): needs written the way a
buyer writes in chat, each with the collectivités whose REX answer it. Each need is asked
with the scope the chat builds from its text (the problem statement of
:func:`matcher.need.understand`, the size when the text gives one, else unknown) and
``find_peers(top=3, need_top=0)``. Reported, overall and split into the tune folds
{0, 1, 2} (where the weights were chosen) and the held-out folds {3, 4}
(fold = sha256(id) % 5): recall@3 (an expected collectivité among the peers shown),
the share of needs with an expected peer but none shown, the share of peers within one
size band (needs with a known size), latency p50/p95, and how many off-topic rows
(``expected`` empty) got a peer.

Without ``--queries``, the self-retrieval sanity line: for each REX with a known
territory and population, its problem is asked as if by another collectivité of the
same size band (same kind when possible, picked deterministically from the territory
table with ``--seed``). Reported:

* recall@5: the REX itself is among the 5 peers returned (strict), or its
  collectivité is (the REX shown, or grouped under another sheet of the same town);
* the share of returned peers within one size band of the asker;
* latency p50/p95 of ``PeerService.find_peers`` in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from core.config import get_settings
from core.console import print_json
from core.db import Database
from core.domain import SizeBand, band_distance, size_band
from core.models import Experience, Territory
from devtools.bench.stats import percentile
from matcher.types import PeerMatch, Scope

#: Folds the peer weights were chosen on; the others are held out.
TUNE_FOLDS = frozenset({0, 1, 2})
N_FOLDS = 5


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
    queries: Annotated[
        Path | None,
        typer.Option(help="Paraphrased needs (JSONL, data/bench/peers_paraphrases.jsonl)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for picking the asking collectivité")] = 7,
    top: Annotated[int, typer.Option(help="Peers returned per query (self-retrieval)")] = 5,
    max_chars: Annotated[
        int, typer.Option(help="Query = the REX problem cut to this many characters")
    ] = 300,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Peer ranking: recall@3 on paraphrased needs (--queries), else self-retrieval."""
    from matcher.service import MatchService

    rows: list[dict[str, Any]] = []
    if queries is not None:
        try:
            rows = read_queries(queries)
        except (OSError, ValueError) as exc:
            typer.echo(f"cannot read {queries}: {exc}", err=True)
            raise typer.Exit(2) from exc
    s = get_settings()
    db = Database(s.db_url)
    with db.session() as session:
        n_rex = session.scalar(select(func.count()).select_from(Experience)) or 0
    if not n_rex:
        from ingest.demo import load_demo

        load_demo(db)
    service = MatchService.ready(s, db, progress=not as_json)
    sanity = run_bench(db, service, s, seed=seed, top=top, max_chars=max_chars)
    if queries is not None:
        result = run_paraphrase_bench(db, service, s, rows)
        if as_json:
            print_json({**result, "self_retrieval": sanity})
            return
        typer.echo(f"{queries}: {len(rows)} rows, find_peers(top=3) on the chat's scope")
        for line in paraphrase_report(result):
            typer.echo(line)
        typer.echo(
            f"sanity, self-retrieval: recall@{top} {sanity['recall@5_collectivite']:.3f} "
            f"(its collectivité) on {sanity['queries']} REX"
        )
        return
    if as_json:
        print_json(sanity)
        return
    result = sanity
    rows_out = [
        ("REX with territory", f"{result['rex_total']}"),
        ("queries", f"{result['queries']}"),
        ("recall@5 (the REX)", f"{result['recall@5']:.3f}"),
        ("recall@5 (its collectivité)", f"{result['recall@5_collectivite']:.3f}"),
        ("peers within one size band", f"{result['within_one_band']:.3f}"),
        ("peers returned per query", f"{result['peers_per_query']:.2f}"),
        ("latency p50 (ms)", f"{result['latency_ms_p50']:.1f}"),
        ("latency p95 (ms)", f"{result['latency_ms_p95']:.1f}"),
    ]
    width = max(len(r[0]) for r in rows_out)
    for name, value in rows_out:
        typer.echo(f"{name:<{width}}  {value}")


# --------------------------------------------------------------------------- paraphrases


def fold_of(row_id: str) -> int:
    """The row's fold: sha256 of its id, modulo 5 (stable across runs and machines)."""
    return int(hashlib.sha256(row_id.encode()).hexdigest(), 16) % N_FOLDS


def read_queries(path: Path) -> list[dict[str, Any]]:
    """The rows of a paraphrase file (one JSON object per line; blank lines skipped)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not row.get("id") or not row.get("text"):
            raise ValueError(f"{path}:{number}: a row needs an 'id' and a 'text'")
        rows.append(row)
    return rows


def chat_scope(text: str, lang: str = "fr") -> Scope:
    """The scope the chat builds from a need's text alone: the problem statement, the
    themes, and the size when the text gives one (no territory named: size unknown)."""
    from core.domain import size_band_value
    from matcher.need import understand
    from matcher.scope import extract, extract_population
    from matcher.themes import find_theme

    found = extract(text)
    population = extract_population(text)
    return Scope(
        text=understand(text).problem,
        language=lang if lang in ("fr", "en") else "fr",
        themes=[th.fr for th in (find_theme(x) for x in found.themes) if th],
        population=population,
        size_band=size_band_value(population),
    )


def _figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """recall@3, none shown, size fit and latency over ``results`` (rows with expected)."""
    answered = [r for r in results if r["expected"]]
    n = len(answered)
    sized = [r for r in answered if r["band"] is not None]
    peers_sized = sum(len(r["bands"]) for r in sized)
    within = sum(d is not None and d <= 1 for r in sized for d in r["bands"])
    latencies = [r["ms"] for r in results]
    return {
        "needs": n,
        "recall@3": sum(r["hit"] for r in answered) / n if n else float("nan"),
        "none_shown": sum(not r["shown"] for r in answered) / n if n else float("nan"),
        "needs_with_size": len(sized),
        "peers_with_size": peers_sized,
        "within_one_band": within / peers_sized if peers_sized else float("nan"),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
    }


def run_paraphrase_bench(  # type: ignore[no-untyped-def]
    db, service, settings, rows: list[dict[str, Any]], *, top: int = 3
) -> dict[str, Any]:
    """The paraphrase benchmark figures (see the module docstring; also used by tests)."""
    from matcher.peers import PeerService, collectivite_key

    peers = PeerService(db, service, settings)
    with db.session() as session:
        keys = {e.id: collectivite_key(e) for e in session.scalars(select(Experience))}
    peers.find_peers(Scope(text="échauffement du modèle"), top=1, need_top=0)  # warm-up

    results: list[dict[str, Any]] = []
    for row in rows:
        scope = chat_scope(str(row["text"]), str(row.get("lang") or "fr"))
        start = time.perf_counter()
        found: list[PeerMatch] = peers.find_peers(scope, top=top, need_top=0)
        elapsed = (time.perf_counter() - start) * 1000
        expected = {str(e["key"]) for e in row.get("expected") or []}
        shown = [keys.get(p.experience_id or -1) for p in found]
        results.append(
            {
                "id": row["id"],
                "fold": fold_of(str(row["id"])),
                "expected": sorted(expected),
                "shown": shown,
                "hit": bool(expected & set(shown)),
                "band": scope.size_band,
                "bands": [band_distance(scope.size_band, size_band(p.population)) for p in found]
                if scope.size_band
                else [],
                "ms": elapsed,
            }
        )
    off_topic = [r for r in results if not r["expected"]]
    return {
        "top": top,
        "rows": len(rows),
        "all": _figures(results),
        "tune": _figures([r for r in results if r["fold"] in TUNE_FOLDS]),
        "held_out": _figures([r for r in results if r["fold"] not in TUNE_FOLDS]),
        "tune_folds": sorted(TUNE_FOLDS),
        "held_out_folds": sorted(set(range(N_FOLDS)) - TUNE_FOLDS),
        "off_topic": len(off_topic),
        "off_topic_with_peer": sum(bool(r["shown"]) for r in off_topic),
        "misses": [
            {"id": r["id"], "expected": r["expected"], "shown": r["shown"]}
            for r in results
            if r["expected"] and not r["hit"]
        ],
    }


def paraphrase_report(result: dict[str, Any]) -> list[str]:
    """The printed table of :func:`run_paraphrase_bench`."""

    def fmt(value: float, pattern: str) -> str:
        return "—" if value != value else format(value, pattern)  # NaN: nothing to measure

    parts = [("all", result["all"]), ("tune", result["tune"]), ("held-out", result["held_out"])]
    rows = [
        ("needs with an expected peer", lambda f: f"{f['needs']}"),
        (f"recall@{result['top']}", lambda f: fmt(f["recall@3"], ".3f")),
        ("expected peer, none shown", lambda f: fmt(f["none_shown"], ".3f")),
        ("needs with a size in the text", lambda f: f"{f['needs_with_size']}"),
        ("peers shown to them", lambda f: f"{f['peers_with_size']}"),
        ("peers within one size band", lambda f: fmt(f["within_one_band"], ".3f")),
        ("latency p50 (ms)", lambda f: fmt(f["latency_ms_p50"], ".1f")),
        ("latency p95 (ms)", lambda f: fmt(f["latency_ms_p95"], ".1f")),
    ]
    width = max(len(name) for name, _ in rows)
    tune = ",".join(map(str, result["tune_folds"]))
    held = ",".join(map(str, result["held_out_folds"]))
    lines = [
        f"{'':<{width}}  {'all':>8}  {'tune':>8}  {'held-out':>8}",
        *(f"{name:<{width}}  " + "  ".join(f"{get(f):>8}" for _, f in parts) for name, get in rows),
        f"weights chosen on the tune folds {{{tune}}}; held-out folds {{{held}}} "
        "(fold = sha256(id) % 5)",
        f"off-topic rows given a peer (info): {result['off_topic_with_peer']}"
        f" of {result['off_topic']}",
    ]
    return lines
