"""Out-of-fold evaluation (``piu bench retrieval --cv K``).

The needs of the development set are split into ``K`` folds by a hash of their query id
(``sha256(qid) % K``: stable, no seed to forget). For each fold, the adapter is
fine-tuned on the other folds' needs with a *recipe* (the training options, seeded),
the catalogue is indexed with that model and the held-out fold is searched through the
product's path (:meth:`matcher.service.MatchService.rank_ids`, ONNX int8 unless told
otherwise). Nothing the model or a threshold was tuned on is ever scored.

Everything expensive is cached under ``var/cv-cache``, keyed by the recipe, the fold's
training needs and the data: the fine-tuned adapters, the model folders (with their ONNX
export), the indexes and the query vectors. A second run of the same recipe only searches.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.base import Vectors
from index.finetune import TrainConfig

#: Depth of the rankings kept per query (metrics need 10; rerankers see more).
DEPTH = 50
FIELDS = ("short", "long")


# --------------------------------------------------------------------------- folds


def fold_of(qid: str, k: int) -> int:
    return int(hashlib.sha256(qid.encode("utf-8")).hexdigest(), 16) % k


def split_folds(needs: Sequence[dict[str, Any]], k: int) -> list[list[dict[str, Any]]]:
    folds: list[list[dict[str, Any]]] = [[] for _ in range(k)]
    for need in sorted(needs, key=lambda n: n["qid"]):
        folds[fold_of(need["qid"], k)].append(need)
    return folds


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """How a fold's model is trained. ``finetune=False``: the base model, untrained."""

    name: str = "current"
    finetune: bool = True
    #: ``piu model finetune``'s options (its defaults are the shipped recipe's)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: BM25-mined hard negatives per pair (never the positive), 0 = in-batch only.
    hard_negatives: int = 0
    #: Self-supervised pairs from the catalogue (mission → document), mixed with the needs.
    catalogue_pairs: bool = False

    def key(self, train_qids: Sequence[str], data_sha: str) -> str:
        body = {k: v for k, v in asdict(self).items() if k != "name"}
        blob = json.dumps([body, sorted(train_qids), data_sha], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


RECIPES = {
    "current": Recipe(),
    "base": Recipe(name="base", finetune=False),
    "hardneg": Recipe(name="hardneg", hard_negatives=1),
    "selfsup": Recipe(name="selfsup", catalogue_pairs=True),
}


# --------------------------------------------------------------------------- vectors


class CachedEmbedder:
    """An embedder whose vectors are kept on disk by text (query and passage apart).

    The inner embedder is loaded only when a text is missing from the cache.
    """

    def __init__(self, model_id: str, dim: int, path: Path, load: Callable[[], Any]) -> None:
        self.model_id = model_id
        self.dim = dim
        self.path = path
        self._load = load
        self._inner: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            with np.load(path) as data:
                self._vectors = {k: data[k] for k in data.files}
        self._dirty = False

    @staticmethod
    def _key(prefix: str, text: str) -> str:
        return prefix + hashlib.sha1(text.encode("utf-8")).hexdigest()

    def _encode(self, prefix: str, texts: list[str]) -> Vectors:
        keys = [self._key(prefix, t) for t in texts]
        missing = sorted({t for t, k in zip(texts, keys, strict=True) if k not in self._vectors})
        if missing:
            if self._inner is None:
                self._inner = self._load()
            encode = self._inner.encode_queries if prefix == "q" else self._inner.encode_passages
            for text, vec in zip(missing, encode(missing), strict=True):
                self._vectors[self._key(prefix, text)] = vec
            self._dirty = True
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def encode_queries(self, texts: list[str]) -> Vectors:
        return self._encode("q", texts)

    def encode_passages(self, texts: list[str], *, show_progress: bool = False) -> Vectors:
        return self._encode("p", texts)

    def save(self) -> None:
        if self._dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, **self._vectors)  # type: ignore[arg-type]
            tmp.replace(self.path)
            self._dirty = False


# --------------------------------------------------------------------------- training


@dataclass
class Context:
    """What every fold needs: data, paths, settings."""

    needs: list[dict[str, Any]]
    passages: dict[str, str]  # external id → indexed text
    catalogue: list[dict[str, Any]]  # raw catalogue rows (self-supervised pairs)
    data_sha: str
    cache: Path
    base_folder: Path
    base_stamp: dict[str, Any]
    settings: Any
    backend: str = "onnx-int8"
    log: Callable[[str], None] = print
    timings: dict[str, float] = field(default_factory=dict)


def _hard_negative_pairs(ctx: Context, needs: Sequence[dict[str, Any]], n: int) -> list[Any]:
    """For each need text, its positive plus ``n`` top BM25 documents that are not it."""
    from index.finetune import Pair
    from matcher.bm25 import LexicalIndex
    from matcher.text import tokenize

    ids = sorted(ctx.passages)
    lexical = LexicalIndex()
    lexical.set_documents({i: ctx.passages[ext] for i, ext in enumerate(ids)})
    out = []
    for need in needs:
        for name in FIELDS:
            text = (need.get(name) or "").strip()
            if not text:
                continue
            doc_ids, scores = lexical.scores(tokenize(text))
            order = np.argsort(-scores)
            negatives = [
                ids[int(doc_ids[o])] for o in order if ids[int(doc_ids[o])] not in need["relevant"]
            ][:n]
            for rel in need["relevant"]:
                out.append(
                    Pair(text, ctx.passages[rel], rel, tuple(ctx.passages[x] for x in negatives))
                )
    return out


def _catalogue_pairs(ctx: Context) -> list[Any]:
    """Self-supervised pairs: each entry's mission, then its title, → its indexed text."""
    from index.finetune import Pair

    out = []
    for row in ctx.catalogue:
        ext = row["id"]
        if ext not in ctx.passages:
            continue
        mission = (row.get("mission") or "").strip()
        if mission:
            out.append(Pair(mission, ctx.passages[ext], ext))
    return out


def fold_adapter(ctx: Context, recipe: Recipe, train_needs: list[dict[str, Any]]) -> Path | None:
    """The fold's adapter file, trained once per recipe and training set (None: base)."""
    if not recipe.finetune:
        return None
    from index.finetune import build_pairs, save_adapter, train

    key = recipe.key([n["qid"] for n in train_needs], ctx.data_sha)
    path = ctx.cache / "adapters" / f"{key}.safetensors"
    if path.is_file():
        return path
    if recipe.hard_negatives:
        pairs = _hard_negative_pairs(ctx, train_needs, recipe.hard_negatives)
    else:
        pairs = build_pairs(train_needs, ctx.passages)
    if recipe.catalogue_pairs:
        pairs = pairs + _catalogue_pairs(ctx)
    config = replace(
        recipe.train,
        query_prompt=ctx.settings.query_prompt,
        passage_prompt=ctx.settings.passage_prompt,
    )
    started = time.perf_counter()
    ctx.log(f"  training {recipe.name} on {len(train_needs)} needs ({len(pairs)} pairs)")

    def progress(step: int, total: int, loss: float) -> None:
        if step % 5 == 0 or step == total:
            ctx.log(
                f"    step {step}/{total} loss {loss:.3f} ({time.perf_counter() - started:.0f} s)"
            )

    result = train(ctx.base_folder, pairs, config, on_step=progress)
    ctx.timings["train_s"] = ctx.timings.get("train_s", 0.0) + time.perf_counter() - started
    info = {
        "base_model": ctx.base_folder.name,
        "base_source_sha256": ctx.base_stamp.get("source_sha256"),
        "base_converter_version": ctx.base_stamp.get("converter_version"),
        "data_sha256": ctx.data_sha,
        "recipe": asdict(recipe),
        "train_needs": len(train_needs),
        "pairs": len(pairs),
    }
    save_adapter(result, path, info)
    ctx.log(f"  trained in {result.seconds:.0f} s, {result.steps} steps -> {path.name}")
    return path


def fold_embedder(ctx: Context, recipe: Recipe, train_needs: list[dict[str, Any]]) -> Any:
    """The fold's model behind a vector cache: the base model or base + fold adapter."""
    from index.embedder import load_embedder_at
    from index.model.adapter import apply_adapter

    adapter = fold_adapter(ctx, recipe, train_needs)
    if adapter is None:
        model_key = "base"
        folder = ctx.base_folder
    else:
        model_key = adapter.stem
        folder = ctx.cache / "models" / model_key

    def load() -> Any:
        started = time.perf_counter()
        target = folder if adapter is None else apply_adapter(ctx.base_folder, adapter, folder)
        embedder = load_embedder_at(target, ctx.settings, backend=ctx.backend)
        ctx.timings["model_s"] = ctx.timings.get("model_s", 0.0) + time.perf_counter() - started
        return embedder

    # vectors depend on how much of a text the encoder reads, too
    model_key += length_tag(ctx.settings)
    return CachedEmbedder(
        f"cv:{model_key}|{ctx.backend}",
        384,
        ctx.cache / "vectors" / f"{model_key}-{ctx.backend}.npz",
        load,
    )


def length_tag(settings: Any) -> str:
    """The lengths part of the embedder's model id (``-L256``, ``-L256-p128``)."""
    from index.embedder import lengths_id

    return "-L" + lengths_id(int(settings.max_seq_length), settings.passage_max_tokens).replace(
        "/", "-"
    )


# --------------------------------------------------------------------------- evaluation


def fold_service(ctx: Context, embedder: CachedEmbedder) -> Any:
    """A MatchService over the demo database with this fold's model (indexes cached)."""
    from core.db import Database
    from matcher.service import MatchService

    data_dir = ctx.cache / "runs" / embedder.model_id.replace("|", "-").replace(":", "-")
    data_dir.mkdir(parents=True, exist_ok=True)
    # the indexes in the fold's own folder, over the demo database
    settings = ctx.settings.model_copy(
        update={"data_dir": data_dir, "database_url": ctx.settings.db_url}
    )
    service = MatchService(Database(settings.db_url), settings, embedder)
    started = time.perf_counter()
    service.ensure_ready(progress=False)
    ctx.timings["index_s"] = ctx.timings.get("index_s", 0.0) + time.perf_counter() - started
    return service


@dataclass
class Variant:
    """A serving option evaluated on the same fold model (fusion, weights, reranker)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    reranker: Any = None  # matcher.rerank.Reranker applied by the service


def serving_code_sha() -> str:
    """Hash of the matcher package's sources: cached results of another version are stale."""
    import matcher

    digest = hashlib.sha256()
    for path in sorted(Path(matcher.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def rank_of(ranked: Sequence[str], relevant: Sequence[str]) -> int | None:
    """1-based rank of the first relevant id, None if absent from ``ranked``."""
    rel = set(relevant)
    return next((i + 1 for i, doc in enumerate(ranked) if doc in rel), None)


def evaluate_fold(
    service: Any, queries: Sequence[dict[str, Any]], variants: Sequence[Variant]
) -> dict[str, dict[str, dict[str, int | None]]]:
    """``{variant: {field: {qid: rank}}}`` through ``service.rank_ids`` (the product's path)."""
    base = service.params
    out: dict[str, dict[str, dict[str, int | None]]] = {}
    for variant in variants:
        service.params = replace(base, **variant.params)
        service.reranker = variant.reranker
        service._rankings.clear()
        out[variant.name] = {
            name: {
                q["qid"]: rank_of(service.rank_ids(q[name], top=DEPTH), q["relevant"])
                for q in queries
            }
            for name in FIELDS
        }
    service.params = base
    service.reranker = None
    return out


def candidate_table(
    service: Any, queries: Sequence[dict[str, Any]], name: str
) -> dict[str, tuple[list[str], Any, int | None]]:
    """Per query, read as the chat reads it (like ``rank_ids``): the first stage's candidates
    (external ids, best first), their feature rows for the second stage and the position
    of the answer among them."""
    from matcher.need import scope_from_message
    from matcher.rerank import features, query_signals
    from matcher.service import prepare_query
    from matcher.text import without_place

    out = {}
    with service.db.session() as session:
        for q in queries:
            scope = scope_from_message(q[name], language="fr").scope
            text, _ = prepare_query(without_place(scope.text, scope.territory_name))
            scored = service.first_stage_scored(session, scope, text)
            texts = service.candidate_texts(session, [s[1] for s in scored])
            rows = features([s[3] for s in scored], texts, *query_signals(text))
            ids = [s[1].external_id for s in scored]
            pos = rank_of(ids, q["relevant"])
            out[q["qid"]] = (ids, rows, None if pos is None else pos - 1)
    return out


# --------------------------------------------------------------------------- metrics


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """MRR@10, Recall@1/5/10, nDCG@10 for one relevant answer per query."""
    n = len(ranks)
    hit = [r for r in ranks if r is not None]
    return {
        "mrr@10": sum(1 / r for r in hit if r <= 10) / n,
        "recall@1": sum(1 for r in hit if r <= 1) / n,
        "recall@5": sum(1 for r in hit if r <= 5) / n,
        "recall@10": sum(1 for r in hit if r <= 10) / n,
        "ndcg@10": sum(1 / math.log2(r + 1) for r in hit if r <= 10) / n,
    }


def rr(rank: int | None) -> float:
    return 1 / rank if rank is not None and rank <= 10 else 0.0


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, samples: int = 10_000, seed: int = 7
) -> tuple[float, float, float]:
    """Mean of ``b - a`` and its 95 % percentile interval over resampled queries."""
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(samples, len(diff)))
    means = diff[idx].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(per_fold: Sequence[dict[str, int | None]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation across folds of each metric."""
    rows = [metrics(list(f.values())) for f in per_fold if f]
    return {
        key: (
            statistics.fmean(r[key] for r in rows),
            statistics.stdev(r[key] for r in rows) if len(rows) > 1 else 0.0,
        )
        for key in rows[0]
    }


# --------------------------------------------------------------------------- run


def demo_settings(settings: Any, cache: Path) -> Any:
    """``settings`` over a database of the shipped demo data alone, kept in ``cache``: the
    figures never depend on what a user's own database holds (or lacks: before
    ``piu init`` it is empty, and every need would score zero)."""
    from core.db import Database
    from ingest.demo import load_demo

    cache.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{cache / 'demo.sqlite3'}"
    db = Database(url)
    try:
        load_demo(db)  # once: skipped while the demo files are unchanged
    finally:
        db.dispose()
    out = settings.model_copy(update={"database_url": url})
    return out


def load_context(queries: Path, backend: str, log: Callable[[str], None] = print) -> Context:
    from core.config import DEMO_DATA_DIR, REPO_ROOT, get_settings
    from index.finetune import sha256_files
    from index.model.folder import read_stamp
    from index.model.install import install_model
    from ingest.training import catalogue_passages, read_needs

    catalogue_file = DEMO_DATA_DIR / "catalogue_betagouv.jsonl"
    cache = REPO_ROOT / "var" / "cv-cache"
    settings = demo_settings(get_settings(), cache)
    base = install_model(settings)
    with catalogue_file.open(encoding="utf-8") as fh:
        catalogue = [json.loads(line) for line in fh if line.strip()]
    return Context(
        needs=read_needs(queries),
        passages=catalogue_passages(catalogue_file),
        catalogue=catalogue,
        data_sha=sha256_files([queries, catalogue_file]),
        cache=cache,
        base_folder=base,
        base_stamp=read_stamp(base) or {},
        settings=settings,
        backend=backend,
        log=log,
    )


def run_fold(
    ctx: Context, recipe: Recipe, k: int, fold: int, variants: Sequence[Variant]
) -> dict[str, dict[str, dict[str, int | None]]]:
    """Ranks of the held-out fold's needs, per variant and field (cached as JSON)."""
    folds = split_folds(ctx.needs, k)
    held = folds[fold]
    train_needs = [n for i, f in enumerate(folds) if i != fold for n in f]
    embedder = fold_embedder(ctx, recipe, train_needs)
    model_key = embedder.model_id.split(":", 1)[1].split("|")[0]
    results_path = (
        ctx.cache / "results" / f"{model_key}-{ctx.backend}-k{k}f{fold}-{serving_code_sha()}.json"
    )
    done: dict[str, Any] = {}
    if results_path.is_file():
        done = json.loads(results_path.read_text(encoding="utf-8"))
    todo = [v for v in variants if _variant_sig(v) not in done]
    if todo:
        service = fold_service(ctx, embedder)
        started = time.perf_counter()
        fresh = evaluate_fold(service, held, todo)
        ctx.timings["search_s"] = ctx.timings.get("search_s", 0.0) + time.perf_counter() - started
        embedder.save()
        service.db.dispose()
        for v in todo:
            done[_variant_sig(v)] = fresh[v.name]
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(done), encoding="utf-8")
    return {v.name: done[_variant_sig(v)] for v in variants}


def _variant_sig(v: Variant) -> str:
    sig = json.dumps(v.params, sort_keys=True)
    return sig if v.reranker is None else sig + v.reranker.to_json()


def run_cv(
    ctx: Context, recipe: Recipe, k: int, variants: Sequence[Variant], folds: Sequence[int]
) -> dict[str, dict[str, list[dict[str, int | None]]]]:
    """``{variant: {field: [ranks of fold 0, fold 1, ...]}}``."""
    out: dict[str, dict[str, list[dict[str, int | None]]]] = {
        v.name: {f: [] for f in FIELDS} for v in variants
    }
    for fold in folds:
        started = time.perf_counter()
        per_variant = run_fold(ctx, recipe, k, fold, variants)
        ctx.log(f"fold {fold}: {time.perf_counter() - started:.0f} s")
        for name, by_field in per_variant.items():
            for f in FIELDS:
                out[name][f].append(by_field[f])
    return out


def report(
    results: dict[str, list[dict[str, int | None]]], echo: Callable[[str], None] = print
) -> None:
    """Per-fold and mean ± std of the metrics, for each field."""
    keys = ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")
    for name in FIELDS:
        per_fold = results[name]
        echo(f"[{name}] " + " ".join(f"{k:>10}" for k in keys) + "   queries")
        for i, f in enumerate(per_fold):
            m = metrics(list(f.values()))
            echo(f"fold {i}  " + " ".join(f"{m[k]:>10.4f}" for k in keys) + f"   {len(f)}")
        summary = summarise(per_fold)
        echo("mean±sd " + " ".join(f"{summary[k][0]:.3f}±{summary[k][1]:.3f}" for k in keys))
        pooled = metrics([r for f in per_fold for r in f.values()])
        echo("pooled  " + " ".join(f"{pooled[k]:>10.4f}" for k in keys))


# --------------------------------------------------------------------------- ablations

FUSION_GRID = {
    "minmax": (0.3, 0.4, 0.5),
    "zscore": (0.3, 0.4, 0.5),
    "rank": (0.3, 0.5, 0.7),
}


def _rr_total(ranks_by_field: dict[str, dict[str, int | None]], qids: set[str]) -> float:
    return sum(rr(r) for f in FIELDS for q, r in ranks_by_field[f].items() if q in qids)


def nested_pick(
    per_fold: dict[str, list[dict[str, dict[str, int | None]]]], names: Sequence[str]
) -> tuple[list[dict[str, dict[str, int | None]]], list[str]]:
    """For each fold, the variant of ``names`` with the best MRR on the *other* folds
    (short and long pooled); returns its ranks on that fold and the choices."""
    k = len(per_fold[names[0]])
    out, chosen = [], []
    for i in range(k):

        def score(name: str, i: int = i) -> float:
            return sum(
                _rr_total(per_fold[name][j], set(per_fold[name][j]["short"]))
                for j in range(k)
                if j != i
            )

        best = max(names, key=score)
        chosen.append(best)
        out.append(per_fold[best][i])
    return out, chosen


def ablate(
    ctx: Context,
    recipe: Recipe,
    k: int,
    depths: Sequence[int] = (20, 30, 50),
    only: Sequence[int] | None = None,
) -> dict[str, dict[str, list[dict[str, int | None]]]]:
    """Serving options on the recipe's fold models: ``{row: {field: [ranks per fold]}}``.

    ``only``: these folds (e.g. those whose models are trained); the learned ranker of a
    fold is trained on the candidates of the other folds listed, scored by their own
    fold models (so no candidate's scores come from a model that saw its need).
    """
    variants = [Variant("serving")]
    for method, weights in FUSION_GRID.items():
        variants += [
            Variant(f"{method}@{w}", {"fusion": method, "bm25_weight": w}) for w in weights
        ]
    variants.append(Variant("no semantic gap", {"semantic_gap": None}))
    folds = split_folds(ctx.needs, k)
    per_fold: dict[str, list[dict[str, dict[str, int | None]]]] = {v.name: [] for v in variants}
    services, tables = [], []
    chosen = list(range(k)) if only is None else list(only)
    for fold in chosen:
        for name, ranks in run_fold(ctx, recipe, k, fold, variants).items():
            per_fold[name].append(ranks)
        train_needs = [n for i, f in enumerate(folds) if i != fold for n in f]
        service = fold_service(ctx, fold_embedder(ctx, recipe, train_needs))
        services.append(service)
        tables.append(_cached_tables(ctx, service, k, fold, folds[fold]))
        ctx.log(f"fold {fold}: variants and candidate tables done")
    rows: dict[str, dict[str, list[dict[str, int | None]]]] = {}

    def as_rows(per: list[dict[str, dict[str, int | None]]]) -> dict[str, list[Any]]:
        return {f: [p[f] for p in per] for f in FIELDS}

    for v in variants:
        rows[v.name] = as_rows(per_fold[v.name])
    for method, weights in FUSION_GRID.items():
        names = [f"{method}@{w}" for w in weights]
        picked, picks = nested_pick(per_fold, names)
        rows[f"{method}, weight picked on other folds ({'/'.join(picks)})"] = as_rows(picked)
    for depth in depths:
        ranked = ranker_folds(services, tables, folds, chosen, depth)
        rows[f"learned ranker, top {depth}"] = as_rows(ranked)
    for service in services:
        service.embedder.save()
        service.db.dispose()
    return rows


def ranker_folds(
    services: Sequence[Any],
    tables: Sequence[dict[str, Any]],
    folds: Sequence[Sequence[dict[str, Any]]],
    chosen: Sequence[int],
    depth: int,
) -> list[dict[str, dict[str, int | None]]]:
    """Ranks on each fold of ``chosen`` with a ranker fitted on the other folds' candidates."""
    from matcher.rerank import fit

    ranked = []
    for at, fold in enumerate(chosen):
        groups = [
            (rows, pos)
            for j in range(len(chosen))
            if j != at
            for f in FIELDS
            for _ids, rows, pos in tables[j][f].values()
            if pos is not None
        ]
        ranker = fit(groups, depth=depth)
        name = f"ranker@{depth}"
        ranked.append(
            evaluate_fold(services[at], folds[fold], [Variant(name, reranker=ranker)])[name]
        )
    return ranked


def run_cv_ranked(
    ctx: Context, recipe: Recipe, k: int, depth: int, chosen: Sequence[int]
) -> dict[str, list[dict[str, int | None]]]:
    """Like :func:`run_cv` with the second stage: each fold's ranker is fitted on the other
    folds' candidates (scored by their own fold models), then the fold is searched."""
    folds = split_folds(ctx.needs, k)
    services, tables = [], []
    for fold in chosen:
        train_needs = [n for i, f in enumerate(folds) if i != fold for n in f]
        service = fold_service(ctx, fold_embedder(ctx, recipe, train_needs))
        services.append(service)
        tables.append(_cached_tables(ctx, service, k, fold, folds[fold]))
    ranked = ranker_folds(services, tables, folds, chosen, depth)
    for service in services:
        service.embedder.save()
        service.db.dispose()
    return {f: [r[f] for r in ranked] for f in FIELDS}


def ablation_table(
    rows: dict[str, dict[str, list[dict[str, int | None]]]],
    baseline: str = "serving",
    echo: Callable[[str], None] = print,
) -> None:
    """MRR@10 and R@10 (mean ± sd over folds), and the paired bootstrap of ΔMRR@10."""
    echo(
        f"{'row':<58} {'short MRR':>12} {'R@10':>6} {'ΔMRR short [95% CI]':>26}"
        f" {'long MRR':>12} {'R@10':>6} {'ΔMRR long [95% CI]':>26}"
    )
    for name, by_field in rows.items():
        cells = []
        for f in FIELDS:
            summary = summarise(by_field[f])
            base_ranks = {q: r for fold in rows[baseline][f] for q, r in fold.items()}
            ranks = {q: r for fold in by_field[f] for q, r in fold.items()}
            qids = sorted(ranks)
            delta, lo, hi = paired_bootstrap(
                [rr(base_ranks[q]) for q in qids], [rr(ranks[q]) for q in qids]
            )
            cells.append(
                f"{summary['mrr@10'][0]:.3f}±{summary['mrr@10'][1]:.3f} "
                f"{summary['recall@10'][0]:>6.3f} {delta:>+8.3f} [{lo:+.3f}, {hi:+.3f}]"
            )
        echo(f"{name[:58]:<58} " + "  ".join(cells))


def _cached_tables(
    ctx: Context, service: Any, k: int, fold: int, queries: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """:func:`candidate_table` for both fields, kept on disk per fold model."""
    import pickle

    from matcher.rerank import FEATURES

    model = service.embedder.model_id.replace("|", "-").replace(":", "-")
    sig = hashlib.sha256(json.dumps([FEATURES, asdict(service.params)]).encode()).hexdigest()
    path = ctx.cache / "tables" / f"{model}-k{k}f{fold}-{sig[:12]}-{serving_code_sha()}.pkl"
    if path.is_file():
        with path.open("rb") as fh:
            cached: dict[str, Any] = pickle.load(fh)
            return cached
    out = {f: candidate_table(service, queries, f) for f in FIELDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(out, fh)
    return out


def fit_shipped_ranker(ctx: Context, recipe: Recipe, k: int, depth: int) -> tuple[Any, int]:
    """The ranker to ship: fitted on every dev need's candidates, each scored by the fold
    model that never saw it (stacking), so its inputs look like unseen needs' inputs."""
    from matcher.rerank import fit

    folds = split_folds(ctx.needs, k)
    groups = []
    for fold in range(k):
        train_needs = [n for i, f in enumerate(folds) if i != fold for n in f]
        embedder = fold_embedder(ctx, recipe, train_needs)
        service = fold_service(ctx, embedder)
        tables = _cached_tables(ctx, service, k, fold, folds[fold])
        for f in FIELDS:
            for _ids, rows, pos in tables[f].values():
                if pos is not None:
                    groups.append((rows, pos))
        embedder.save()
        service.db.dispose()
    return fit(groups, depth=depth), len(groups)
