"""``piu index``: rebuild or check the vector indexes (derived from the database)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli.common import database, settings

app = typer.Typer(help="Vector indexes (FAISS), rebuilt from the database.", no_args_is_help=True)


@app.command()
def build(
    force: Annotated[bool, typer.Option(help="Re-embed everything, even unchanged")] = True,
) -> None:
    """Rebuild every index from the database, with a progress bar."""
    from matcher.service import MatchService

    s = settings()
    service = MatchService(database(s), s)
    start = time.perf_counter()
    reports = service.ensure_ready(progress=True, force=force)
    for r in reports:
        typer.echo(f"{r.kind:>10}: {r.count} vectors ({r.embedded} embedded, {r.reason})")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s; model {service.embedder.model_id}")


@app.command()
def status() -> None:
    """Load the indexes, syncing only what changed, and print their metadata."""
    from matcher.service import MatchService

    s = settings()
    service = MatchService(database(s), s)
    for r in service.ensure_ready(progress=True):
        meta = service.store.meta(r.kind)
        built = meta.built_at if meta else "-"
        typer.echo(f"{r.kind:>10}: {r.count} vectors, built {built}, {r.reason}")
