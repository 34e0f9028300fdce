"""Data ingestion: read, validate and upsert catalogue, REX, territory and financing files.

Public API::

    from ingest import IngestError, ImportSummary
    from ingest.importers import import_file, import_rows
    from ingest.demo import load_demo
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: How many problems an :class:`IngestError` message lists before summarising the rest.
MAX_PROBLEMS = 20

KINDS = ("catalogue", "rex", "territories", "financing")


class IngestError(Exception):
    """A file or a batch of rows that cannot be imported; nothing was written.

    ``problems`` holds every problem found (``"line 3: field 'title': field required"``);
    the message lists the first :data:`MAX_PROBLEMS` of them, one per line.
    """

    def __init__(self, problems: list[str] | str, *, rejected: int = 0) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.rejected = rejected
        shown = self.problems[:MAX_PROBLEMS]
        extra = len(self.problems) - len(shown)
        message = "\n".join(shown)
        if extra > 0:
            message += f"\n… and {extra} more problem{'s' if extra > 1 else ''}"
        super().__init__(message)


@dataclass
class ImportSummary:
    """What an import did (or would have done)."""

    kind: str
    source: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: bool = False  # the demo loader found the same files already loaded
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "source": self.source,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.kind}: skipped (already loaded)"
        where = f" ({self.source})" if self.source else ""
        return (
            f"{self.kind}{where}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        )


__all__ = ["KINDS", "MAX_PROBLEMS", "ImportSummary", "IngestError"]
