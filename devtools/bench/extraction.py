"""``piu bench extraction``: what the scope extractor reads in the free texts of a query set."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from core.config import get_settings
from core.console import print_json
from devtools.bench.retrieval import load_queries
from devtools.bench.stats import percentile


def extraction(
    queries: Annotated[Path, typer.Option("--queries", exists=True, dir_okay=False)],
    fields: Annotated[str, typer.Option(help="Comma-separated fields")] = "short,long",
    show: Annotated[bool, typer.Option(help="List every text where something was found")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What the scope extractor reads in free texts: territory, stage, budget, deadline.

    The development texts are problem statements, not needs naming a place or a budget, so
    most findings there are false positives: the list is for reading, the counts for
    comparing two versions. Needs ``piu init`` (the territories table)."""
    import datetime as dt

    from core.db import Database
    from matcher.scope import extract
    from matcher.territories import TerritoryResolver

    db = Database(get_settings().db_url)
    with db.session() as session:
        resolver = TerritoryResolver.from_session(session)
    today = dt.date.today()
    counts: dict[str, int] = {"texts": 0, "territory": 0, "ambiguous": 0, "stage": 0,
                              "budget": 0, "deadline": 0}  # fmt: skip
    latencies: list[float] = []
    found: list[str] = []
    for field in fields.split(","):
        for row in load_queries(queries, field.strip()):
            text = row["text"]
            counts["texts"] += 1
            started = time.perf_counter()
            where = resolver.find_in_text(text)
            latencies.append((time.perf_counter() - started) * 1000)
            scope = extract(text, today=today)
            bits = []
            if where.status == "found" and where.candidate is not None:
                counts["territory"] += 1
                bits.append(f"territory {where.matched!r} -> {where.candidate.name} "
                            f"({where.candidate.kind}, {where.candidate.population})")  # fmt: skip
            elif where.status == "ambiguous":
                counts["ambiguous"] += 1
                bits.append(f"ambiguous {where.matched!r}")
            if scope.stage:
                counts["stage"] += 1
                bits.append(f"stage {scope.stage}")
            if scope.budget_eur is not None:
                counts["budget"] += 1
                bits.append(f"budget {scope.budget_eur}")
            if scope.timing:
                counts["deadline"] += 1
                bits.append(f"deadline {scope.timing}")
            if bits:
                found.append(f"{row['qid']} [{field}] " + "; ".join(bits))
    db.dispose()
    out: dict[str, Any] = {
        **counts,
        "territory_ms_p50": round(percentile(latencies, 50), 2),
        "territory_ms_p95": round(percentile(latencies, 95), 2),
    }
    if as_json:
        print_json({**out, "found": found})
        return
    if show:
        for line in found:
            typer.echo(line)
    for key, value in out.items():
        typer.echo(f"{key:>17}: {value}")
