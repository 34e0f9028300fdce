"""Helpers shared by the commands: settings, database, match service, output."""

from __future__ import annotations

import json
import logging
import statistics
import sys
from typing import Any, NoReturn

import typer

from core.config import Settings, get_settings
from core.db import Database


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings() -> Settings:
    return get_settings()


def database(s: Settings | None = None) -> Database:
    s = s or settings()
    return Database(s.db_url)


def match_service(s: Settings | None = None, db: Database | None = None, *, progress: bool = True):  # type: ignore[no-untyped-def]
    """A ready MatchService (indexes loaded or rebuilt from the database)."""
    from matcher.service import MatchService

    s = s or settings()
    service = MatchService(db or database(s), s)
    service.ensure_ready(progress=progress)
    return service


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
