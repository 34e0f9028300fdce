"""``piu model finetune``: domain-adapt e5 on the development needs (reproducible)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from core.config import DEFAULT_ADAPTER, DEMO_DATA_DIR
from ingest.training import catalogue_passages, read_needs

DEFAULT_CATALOGUE = DEMO_DATA_DIR / "catalogue_betagouv.jsonl"


def finetune(
    queries: Annotated[
        Path,
        typer.Option("--queries", exists=True, dir_okay=False, help="Dev needs (JSONL)"),
    ],
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    seed: int = 13,
    out: Annotated[Path, typer.Option(help="Adapter file to write")] = DEFAULT_ADAPTER,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Fraction of needs held out (by qid, seeded)")
    ] = 0.0,
    heldout_queries: Annotated[
        Path | None,
        typer.Option(help="Write the held-out needs there (JSONL), to evaluate on them"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=2)] = 16,
    lr: float = 2e-5,
    max_length: Annotated[int, typer.Option(min=16, max=512)] = 256,
    catalogue: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Catalogue the needs point to")
    ] = DEFAULT_CATALOGUE,
    max_steps: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Fine-tune multilingual-e5-small on (need → solution) pairs; write the adapter.

    Each need's short and long texts are queries whose positive is the relevant
    solution's indexed text; one epoch, in-batch negatives, word embeddings frozen.
    Only the trained tensors are saved (float16 safetensors + a JSON sidecar);
    the model is rebuilt from the base + adapter on first use.
    """
    from core.config import get_settings
    from index.finetune import (
        TrainConfig,
        build_pairs,
        save_adapter,
        sha256_files,
        split_holdout,
        train,
    )
    from index.model.folder import ModelInstallError, read_stamp
    from index.model.install import install_model

    settings = get_settings()
    try:
        base = install_model(settings)
    except ModelInstallError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    stamp = read_stamp(base) or {}
    needs = read_needs(queries)
    train_needs, held = split_holdout(needs, holdout, seed)
    try:
        pairs = build_pairs(train_needs, catalogue_passages(catalogue))
    except ValueError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if heldout_queries is not None:
        heldout_queries.parent.mkdir(parents=True, exist_ok=True)
        heldout_queries.write_text(
            "".join(json.dumps(n, ensure_ascii=False) + "\n" for n in held), encoding="utf-8"
        )
    config = TrainConfig(
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        query_prompt=settings.query_prompt,
        passage_prompt=settings.passage_prompt,
        max_steps=max_steps,
    )
    typer.echo(
        f"{len(train_needs)} training needs ({len(held)} held out) → {len(pairs)} pairs; "
        f"batch {batch_size}, {epochs} epoch(s), seed {seed}"
    )
    started = time.perf_counter()

    def progress(step: int, total: int, loss: float) -> None:
        elapsed = time.perf_counter() - started
        typer.echo(f"  step {step:>3}/{total}  loss {loss:.4f}  ({elapsed:.0f} s)")

    result = train(base, pairs, config, on_step=progress)
    info = {
        "base_model": base.name,
        "base_source_sha256": stamp.get("source_sha256"),
        "base_converter_version": stamp.get("converter_version"),
        "data_sha256": sha256_files([queries, catalogue]),
        "queries_file": queries.name,
        "catalogue_file": catalogue.name,
        "holdout": holdout,
        "train_needs": len(train_needs),
        "heldout_qids": [n["qid"] for n in held],
        "pairs": len(pairs),
        "trainable_parameters": result.trainable_params,
    }
    path = save_adapter(result, out, info)
    size_mb = path.stat().st_size / 1e6
    typer.echo(
        f"Adapter: {path} ({size_mb:.1f} MB, {result.trainable_params / 1e6:.1f} M parameters); "
        f"{result.steps} steps in {result.seconds:.0f} s, last loss {result.losses[-1]:.4f}"
    )
