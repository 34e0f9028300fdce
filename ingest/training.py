"""Training and evaluation inputs read from files: the dev needs and the catalogue's
indexed texts (``piu model finetune``, ``piu bench retrieval --cv``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def catalogue_passages(path: Path) -> dict[str, str]:
    """``external_id`` → the text the index embeds for that solution.

    The rows go through the same mapping and validation as ``piu ingest`` and the text is
    :meth:`core.models.Solution.index_text` of the resulting object, so training sees
    exactly what the index embeds.
    """
    from core.models import Solution
    from ingest.readers import read_records
    from ingest.validate import validate_records

    out: dict[str, str] = {}
    for _, row in validate_records("catalogue", read_records(path)):
        solution = Solution(
            title=row["title"],
            mission=row.get("mission", ""),
            themes=row.get("themes", []),
            description=row.get("description", ""),
        )
        out[row["external_id"]] = solution.index_text()
    return out


def read_needs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
