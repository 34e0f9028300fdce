"""Load the shipped demo data (territories, catalogue, REX, financing) once; re-runs are
no-ops."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from core.config import DEMO_DATA_DIR
from core.db import Database, get_meta, set_meta
from ingest import ImportSummary, IngestError
from ingest.importers import import_file

#: (summary key, kind, file name), in load order: REX rows need territories and solutions.
DEMO_FILES: list[tuple[str, str, str]] = [
    ("territories", "territories", "territoires_fr_2026.csv.gz"),
    ("catalogue", "catalogue", "catalogue_betagouv.jsonl"),
    ("rex_investigations", "rex", "rex_anct_investigations.csv"),
    ("rex_engagement", "rex", "anct_territoires_engagement.csv"),
    ("rex_seeds", "rex", "rex_seeds.jsonl"),
    ("financing", "financing", "financing.csv"),
]
FINGERPRINT_KEY = "demo_fingerprint"


def fingerprint(data_dir: Path) -> str:
    """SHA-256 over the demo files' names and contents."""
    digest = hashlib.sha256()
    for _, kind, name in DEMO_FILES:
        path = Path(data_dir) / name
        digest.update(f"{kind}:{name}\0".encode())
        try:
            digest.update(path.read_bytes())
        except FileNotFoundError:
            raise IngestError(f"missing demo file: {path}") from None
        digest.update(b"\0")
    return digest.hexdigest()


def load_demo(
    db: Database, data_dir: Path = DEMO_DATA_DIR, *, progress: bool = False, force: bool = False
) -> dict[str, ImportSummary]:
    """Import every demo file in one transaction; skipped when the same files were loaded."""
    data_dir = Path(data_dir)
    mark = fingerprint(data_dir)
    with db.session() as session:
        if not force and get_meta(session, FINGERPRINT_KEY) == mark:
            return {
                key: ImportSummary(kind=kind, source=name, skipped=True)
                for key, kind, name in DEMO_FILES
            }
        summaries: dict[str, ImportSummary] = {}
        for key, kind, name in DEMO_FILES:
            start = time.perf_counter()
            try:
                summary = import_file(session, kind, data_dir / name, progress=progress)
            except IngestError as exc:
                raise IngestError([f"{name}: {p}" for p in exc.problems]) from None
            summary.seconds = time.perf_counter() - start
            summaries[key] = summary
        set_meta(session, FINGERPRINT_KEY, mark)
    return summaries
