"""``piu ingest``: import catalogue, REX, territory and financing files, or the shipped demo
data."""

from __future__ import annotations

from pathlib import Path

import typer

from core.config import DEMO_DATA_DIR, get_settings
from core.db import Database
from ingest import ImportSummary, IngestError
from ingest.importers import import_file

app = typer.Typer(help="Import data files (all-or-nothing, upsert by external id).")


def _run(kind: str, path: Path) -> None:
    settings = get_settings()
    db = Database(settings.db_url)
    try:
        with db.session() as session:
            summary = import_file(session, kind, path, progress=True)
    except IngestError as exc:
        typer.echo(f"{path}: import failed, nothing was changed:\n{exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    _print(summary)


def _print(summary: ImportSummary) -> None:
    typer.echo(f"{summary}  [{summary.seconds:.2f} s]")


@app.command()
def catalogue(path: Path = typer.Argument(..., help="JSONL, JSON or CSV file")) -> None:
    """Import solutions (beta.gouv.fr format or native field names)."""
    _run("catalogue", path)


@app.command()
def rex(path: Path = typer.Argument(..., help="JSONL, JSON or CSV file")) -> None:
    """Import experience feedback (native JSONL, ANCT investigations or engagement CSV)."""
    _run("rex", path)


@app.command()
def territories(path: Path = typer.Argument(..., help="CSV (optionally .gz)")) -> None:
    """Import French territories (communes, EPCI, départements, régions)."""
    _run("territories", path)


@app.command()
def financing(
    path: Path = typer.Argument(..., help="CSV (or JSON, JSONL), as data/financing.csv"),
) -> None:
    """Import financing schemes (upsert by id; every row cites its sources and check date)."""
    _run("financing", path)


@app.command()
def demo(
    data_dir: Path = typer.Option(DEMO_DATA_DIR, help="Folder holding the demo files"),
    force: bool = typer.Option(False, help="Re-import even if the same files were loaded"),
) -> None:
    """Load the shipped demo data (territories, catalogue, REX, financing); skipped when
    already loaded."""
    from ingest.demo import load_demo

    settings = get_settings()
    db = Database(settings.db_url)
    try:
        summaries = load_demo(db, data_dir, progress=True, force=force)
    except IngestError as exc:
        typer.echo(f"demo import failed, nothing was changed:\n{exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    for summary in summaries.values():
        _print(summary)
