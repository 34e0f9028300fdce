"""Helpers shared by the commands: settings, database."""

from __future__ import annotations

import logging

from core.config import Settings, get_settings
from core.db import Database


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings() -> Settings:
    return get_settings()


def database(s: Settings | None = None) -> Database:
    s = s or settings()
    return Database(s.db_url)
