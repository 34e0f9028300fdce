"""``piu bench retrieval|tune|gap|speed``: retrieval quality and speed on query sets."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import random
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core.config import REPO_ROOT, get_settings
from core.console import print_json
from core.db import Database
from devtools.bench.stats import median, percentile


def load_queries(path: Path, field: str) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows.append({"qid": row["qid"], "text": row[field], "relevant": row["relevant"]})
    return rows


def retrieval_metrics(ranked: list[list[str]], relevant: list[list[str]]) -> dict[str, float]:
    """MRR@10, Recall@1/5/10 and nDCG@10 (binary relevance) averaged over queries."""
    n = len(ranked)
    mrr = r1 = r5 = r10 = ndcg = 0.0
    for got, rel in zip(ranked, relevant, strict=True):
        rel_set = set(rel)
        first = next((i for i, doc in enumerate(got[:10]) if doc in rel_set), None)
        if first is not None:
            mrr += 1 / (first + 1)
        r1 += len(rel_set & set(got[:1])) / len(rel_set)
        r5 += len(rel_set & set(got[:5])) / len(rel_set)
        r10 += len(rel_set & set(got[:10])) / len(rel_set)
        dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(got[:10]) if doc in rel_set)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel_set), 10)))
        ndcg += dcg / idcg if idcg else 0.0
    return {
        "mrr@10": mrr / n,
        "recall@1": r1 / n,
        "recall@5": r5 / n,
        "recall@10": r10 / n,
        "ndcg@10": ndcg / n,
    }


def _evaluate(  # type: ignore[no-untyped-def]
    service, queries: list[dict[str, Any]], resolver=None
) -> tuple[dict[str, float], list[float]]:
    ranked, latencies = [], []
    for q in queries:
        start = time.perf_counter()
        ranked.append(service.rank_ids(q["text"], top=10, resolver=resolver))
        latencies.append((time.perf_counter() - start) * 1000)
    return retrieval_metrics(ranked, [q["relevant"] for q in queries]), latencies


def retrieval(
    queries: Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)],
    field: Annotated[str, typer.Option("--field", help="short | long")] = "short",
    bm25_weight: Annotated[
        float | None, typer.Option(help="Override the fusion weight (1 = BM25 only, 0 = dense)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    wrapped: Annotated[
        bool,
        typer.Option(
            "--wrapped/--bare",
            help="Also rank each query wrapped in a buyer's message (greeting, role, place, "
            "size, budget, timing; fixed seed) and report MRR@10 bare vs wrapped",
        ),
    ] = True,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv", min=2, help="Out-of-fold: K folds by qid, fine-tune on K-1, score the last"
        ),
    ] = None,
    recipe: Annotated[str, typer.Option(help="With --cv: training recipe")] = "current",
    backend: Annotated[str, typer.Option(help="With --cv: embedding backend")] = "onnx-int8",
    folds: Annotated[str | None, typer.Option(help="With --cv: only these folds (0,1)")] = None,
    against: Annotated[
        str | None,
        typer.Option(
            help="With --cv: other recipes (comma-separated), one row each, ΔMRR@10 against "
            "--recipe with a paired bootstrap interval on the same needs"
        ),
    ] = None,
    ablate: Annotated[
        bool, typer.Option(help="With --cv: fusion, weight and second-stage ablation rows")
    ] = False,
    rerank: Annotated[
        int | None,
        typer.Option(help="With --cv: add the second stage over this many candidates"),
    ] = None,
) -> None:
    """MRR@10, Recall@1/5/10, nDCG@10 and query latency p50/p95 on a query set; with
    ``--wrapped`` (default) the same on the wrapped variant, read as the chat reads it.

    With ``--cv K``: out-of-fold figures of a training recipe, short and long
    (``--field`` and ``--wrapped`` are ignored), per fold and mean ± standard deviation.
    """
    if cv is not None and ablate:
        _ablate_cv(queries, cv, recipe, backend, folds)
        return
    if cv is not None:
        _retrieval_cv(queries, cv, recipe, backend, folds, rerank, against)
        return
    from devtools.bench.wrap import SEED, wrap_all
    from matcher.service import MatchService
    from matcher.territories import TerritoryResolver

    service = MatchService.ready(get_settings(), progress=False)
    if bm25_weight is not None:
        service.params = replace(service.params, bm25_weight=bm25_weight)
    with service.db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    rows = load_queries(queries, field)
    service.rank_ids(rows[0]["text"])  # warm-up (first call pays lazy initialisation)
    service._qcache.clear()
    metrics, latencies = _evaluate(service, rows, resolver)
    out: dict[str, Any] = {
        "queries": len(rows),
        "field": field,
        "model": service.embedder.model_id,
        "bm25_weight": service.params.bm25_weight,
        **{k: round(v, 4) for k, v in metrics.items()},
        "latency_ms_p50": round(percentile(latencies, 50), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
    }
    if wrapped:
        texts = wrap_all([q["text"] for q in rows])
        wrapped_rows = [{**q, "text": text} for q, text in zip(rows, texts, strict=True)]
        wrapped_metrics, _ = _evaluate(service, wrapped_rows, resolver)
        out["wrapped_seed"] = SEED
        out["wrapped_mrr@10"] = round(wrapped_metrics["mrr@10"], 4)
        out["wrapped_recall@5"] = round(wrapped_metrics["recall@5"], 4)
        out["mrr@10_drop"] = round(metrics["mrr@10"] - wrapped_metrics["mrr@10"], 4)
    if as_json:
        print_json(out)
        return
    for key, value in out.items():
        typer.echo(f"{key:>16}: {value}")


def _retrieval_cv(
    queries: Path,
    k: int,
    recipe_name: str,
    backend: str,
    folds: str | None,
    rerank: int | None,
    against: str | None = None,
) -> None:
    from devtools.bench.cv import (
        RECIPES,
        Variant,
        ablation_table,
        load_context,
        report,
        run_cv,
        run_cv_ranked,
    )

    others = [name for name in (against or "").split(",") if name and name != recipe_name]
    unknown = [name for name in [recipe_name, *others] if name not in RECIPES]
    if unknown:
        raise typer.BadParameter(
            f"unknown recipe {', '.join(unknown)}; one of {', '.join(RECIPES)}"
        )
    ctx = load_context(queries, backend, log=typer.echo)
    chosen = [int(f) for f in folds.split(",")] if folds else list(range(k))
    started = time.perf_counter()

    def results_of(name: str) -> dict[str, list[dict[str, int | None]]]:
        if rerank is None:
            return run_cv(ctx, RECIPES[name], k, [Variant("serving")], chosen)["serving"]
        return run_cv_ranked(ctx, RECIPES[name], k, rerank, chosen)

    rows = {name: results_of(name) for name in [recipe_name, *others]}
    stage = "" if rerank is None else f", second stage over the top {rerank}"
    for name, results in rows.items():
        typer.echo(f"recipe {name}{stage}, {k} folds by sha256(qid) % {k}, backend {backend}")
        report(results, echo=typer.echo)
    if others:
        typer.echo(
            f"folds {','.join(map(str, chosen))}; out-of-fold, ΔMRR@10 vs {recipe_name}{stage}"
        )
        ablation_table(rows, baseline=recipe_name, echo=typer.echo)
    spent = ", ".join(f"{key} {value:.0f} s" for key, value in ctx.timings.items())
    typer.echo(f"time: {time.perf_counter() - started:.0f} s ({spent or 'all cached'})")


def _ablate_cv(queries: Path, k: int, recipe_name: str, backend: str, folds: str | None) -> None:
    from devtools.bench.cv import RECIPES, ablate, ablation_table, load_context

    ctx = load_context(queries, backend, log=typer.echo)
    started = time.perf_counter()
    only = [int(f) for f in folds.split(",")] if folds else None
    rows = ablate(ctx, RECIPES[recipe_name], k, only=only)
    typer.echo(f"recipe {recipe_name}, {k} folds, backend {backend}; out-of-fold, ΔMRR vs serving")
    ablation_table(rows, echo=typer.echo)
    typer.echo(f"time: {time.perf_counter() - started:.0f} s")


def tune(
    queries: Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)],
    fields: Annotated[str, typer.Option(help="Comma-separated fields")] = "short,long",
) -> None:
    """Grid of the BM25 fusion weight on a development set (query vectors cached)."""
    from matcher.service import MatchService

    service = MatchService.ready(get_settings(), progress=False)
    sets = {f: load_queries(queries, f) for f in fields.split(",")}
    typer.echo("weight  " + "  ".join(f"{f:>10}" for f in sets) + "   (MRR@10)")
    for weight in [round(w * 0.1, 1) for w in range(11)]:
        service.params = replace(service.params, bm25_weight=weight)
        scores = [_evaluate(service, rows)[0]["mrr@10"] for rows in sets.values()]
        typer.echo(f"{weight:>6}  " + "  ".join(f"{s:>10.4f}" for s in scores))


def gap(
    queries: Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)],
    field: Annotated[str, typer.Option(help="short | long")] = "short",
) -> None:
    """How far below the best dense score the right answer sits when no word is shared.

    Calibrates ``FusionParams.semantic_gap``: results with no word in common with the
    need are shown only within that distance of the best match.
    """
    from matcher.service import MatchService

    service = MatchService.ready(get_settings(), progress=False)
    with service.db.session() as session:
        from sqlalchemy import select

        from core.models import Solution

        ids = dict(session.execute(select(Solution.external_id, Solution.id)).all())
    gaps, all_gaps, shared = [], [], 0
    for q in load_queries(queries, field):
        hits = service._hybrid("solution", q["text"], "fr")
        if not hits:
            continue
        best = max(h[2] for h in hits)
        for doc_id, _fused, dense, lexical in hits:
            if doc_id == ids.get(q["relevant"][0]):
                all_gaps.append(best - dense)
                if lexical > 0:
                    shared += 1
                else:
                    gaps.append(best - dense)
    typer.echo(f"relevant answer among the candidates: {len(all_gaps)} of {len(ids)} entries")
    typer.echo(f"  it shares a word with the need: {shared}; it shares none: {len(gaps)}")
    typer.echo("gap between the best dense score and the relevant answer's (all / no shared word):")
    for pct in (50, 90, 95, 98, 100):
        typer.echo(f"  p{pct}: {percentile(all_gaps, pct):.4f} / {percentile(gaps, pct):.4f}")


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


STAGES = ("encode", "dense", "lexical", "fusion_scope", "database")


def _worker_run(
    data_dir: Path,
    models_dir: Path,
    query_texts: list[str],
    query_vectors: np.ndarray,
    exact: np.ndarray,
) -> dict[str, Any]:
    """A new worker on the catalogue in ``data_dir`` (a process of its own): its start-up
    time, the dense recall@10 of its index against ``exact``, the query path by stage.

    It loads the model installed in ``models_dir``, as a serving worker does: converted
    into the throw-away ``data_dir`` instead, the conversion's pages (~400 MB) would stay
    in the RSS measured."""
    from index.embedder import load_embedder, quiet_transformers
    from index.faiss_index import recall_at
    from matcher.service import MatchService

    logging.basicConfig(level=logging.WARNING)  # a spawned process: the CLI's set-up is not here
    settings = get_settings().model_copy(
        update={"data_dir": data_dir, "database_url": None, "model_cache_dir": models_dir}
    )
    with quiet_transformers():
        embedder = load_embedder(settings)
    service = MatchService(Database(settings.db_url), settings, embedder)
    start = time.perf_counter()
    reports = service.ensure_ready(progress=False)
    ready_s = time.perf_counter() - start
    dense = service.store._indexes["solution"]
    nprobe = getattr(dense, "nprobe", None)
    found = np.stack([dense.search(q.reshape(1, -1), 10)[1][0] for q in query_vectors])
    service.rank_ids(query_texts[0])
    latencies: list[float] = []
    encoder: list[float] = []
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    for text in query_texts:
        service._qcache.clear()
        service._rankings.clear()
        service.stage_ms = {}
        t0 = time.perf_counter()
        service.rank_ids(text, top=10)
        latencies.append((time.perf_counter() - t0) * 1000)
        for stage in STAGES:
            stages[stage].append(service.stage_ms.get(stage, 0.0))
        t0 = time.perf_counter()
        embedder.encode_queries([text])
        encoder.append((time.perf_counter() - t0) * 1000)
    service.db.dispose()
    return {
        "dense_index": f"IVF nprobe {nprobe}" if nprobe else "exact",
        "dense_recall@10": round(recall_at(found, exact), 4),
        "ready_s": round(ready_s, 2),
        "embedded_at_start": sum(r.embedded for r in reports),
        "query_ms_p50": round(median(latencies), 1),
        "query_ms_p95": round(percentile(latencies, 95), 1),
        "encoder_ms_p50": round(median(encoder), 1),
        "full_over_encoder": round(median(latencies) / median(encoder), 2),
        "stage_ms_p50": {k: round(median(v), 2) for k, v in stages.items()},
        "rss_mb": round(_rss_mb()),
    }


def speed(
    sizes: Annotated[str, typer.Option(help="Synthetic catalogue sizes")] = "10000,100000",
    catalogue: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Real catalogue to sample from")
    ] = REPO_ROOT / "data" / "catalogue_betagouv.jsonl",
    encode_sample: Annotated[int, typer.Option(help="Real documents embedded to time it")] = 160,
    queries: Annotated[int, typer.Option(help="Queries timed per size")] = 100,
    seed: int = 7,
) -> None:
    """Index build documents/s, query p50/p95 by stage, dense recall and serving RSS on
    synthetic catalogues.

    Documents are real catalogue texts recombined; embedding 100k documents on two
    cores would take hours, so the encoder is timed on ``encode_sample`` real
    documents and the synthetic vectors are perturbations of real ones (same
    distribution shape), stored in the database as the process that embedded them
    would have. A worker then starts on that catalogue (``ready_s``: texts, stored
    vectors, FAISS and BM25 built, no embedding) and the full query path (encode + both
    indexes + fusion + scope + database) runs for real at each size, timed by stage.
    ``encoder_ms_p50`` is the query encoder alone on the same texts (the floor);
    ``dense_recall@10`` compares the dense index's top 10 with an exact scan.
    """
    from sqlalchemy import insert

    from core.catalogue import indexable_documents
    from core.models import Solution
    from core.vectors import StoredVectors
    from index.embedder import load_embedder
    from index.faiss_index import exact_top
    from index.store import from_stored, text_hash, to_stored

    base_settings = get_settings()
    rng = random.Random(seed)
    real = [json.loads(line) for line in catalogue.open(encoding="utf-8") if line.strip()]
    embedder = load_embedder(base_settings)
    sample = [
        f"{r['title']}\n{r['mission']}\n{r.get('solution', '')}" for r in real[:encode_sample]
    ]
    embedder.encode_passages(sample[:8])  # warm-up
    start = time.perf_counter()
    base_vectors = embedder.encode_passages(sample)
    docs_per_s = len(sample) / (time.perf_counter() - start)
    typer.echo(f"model: {embedder.model_id}")
    typer.echo(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    typer.echo(f"encoding: {docs_per_s:.1f} documents/s ({len(sample)} real catalogue documents)")
    words = [w for r in real for w in (r["mission"] + " " + r.get("solution", "")).split()]
    query_texts = [r["mission"] for r in rng.sample(real, min(queries, len(real)))]
    query_vectors = embedder.encode_queries(query_texts)
    results = []
    for size in [int(s) for s in sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="piu-bench-") as tmp:
            s = base_settings.model_copy(update={"data_dir": Path(tmp), "database_url": None})
            db = Database(s.db_url)
            with db.session() as session:
                rows = []
                for i in range(size):
                    src = real[i % len(real)]
                    extra = " ".join(rng.choice(words) for _ in range(40))
                    rows.append(
                        {
                            "external_id": f"synthetic-{i}",
                            "title": f"{src['title']} {i}",
                            "mission": src["mission"],
                            "description": extra,
                            "themes": src["thematiques"],
                            "usertypes": src["usertypes"],
                            "target_kinds": [],
                            "target_size_bands": [],
                            "references": [],
                            "trust_level": "declared",
                            "status": "published",
                            "moderation": "none",
                            "source": "bench",
                            "content_hash": "",
                        }
                    )
                    if len(rows) == 5000:
                        session.execute(insert(Solution), rows)
                        rows = []
                if rows:
                    session.execute(insert(Solution), rows)
            with db.session() as session:
                docs = indexable_documents(session, "solution")
            ids = np.array(sorted(docs), dtype=np.int64)
            nprng = np.random.default_rng(seed)
            vecs = base_vectors[ids % len(base_vectors)] + nprng.normal(
                0, 0.03, (len(ids), base_vectors.shape[1])
            ).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            blobs = to_stored(vecs)
            vecs = from_stored(blobs, embedder.dim)  # the numbers every worker searches
            StoredVectors(db).put(
                "solution",
                embedder.model_id,
                {int(i): (text_hash(docs[int(i)]), b) for i, b in zip(ids, blobs, strict=True)},
            )
            del blobs, docs
            exact = ids[exact_top(vecs, query_vectors, 10)]
            del vecs
            db.dispose()
            # the worker starts in a process of its own: its RSS is a serving process's
            with mp.get_context("spawn").Pool(1) as pool:
                row = {
                    "entries": size,
                    **pool.apply(
                        _worker_run,
                        (s.data_dir, base_settings.models_dir, query_texts, query_vectors, exact),
                    ),
                }
            results.append(row)
            typer.echo(json.dumps(row))
    typer.echo(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    typer.echo(
        f"summary: encoding {docs_per_s:.1f} docs/s; "
        + "; ".join(
            f"{r['entries']:,} entries: p50 {r['query_ms_p50']} ms, p95 {r['query_ms_p95']} ms, "
            f"full/encoder {r['full_over_encoder']}, recall@10 {r['dense_recall@10']}, "
            f"ready {r['ready_s']} s, RSS {r['rss_mb']} MB"
            for r in results
        )
    )
