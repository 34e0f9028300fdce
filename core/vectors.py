"""Stored embeddings (table ``entry_vector``): each searchable text is embedded once.

The process that writes a text embeds it and stores the vector here with the model id
and the text's hash; every other process (API workers, the bot, a worker starting on an
existing catalogue) loads the vector instead of running the model. A row is used only
while its model id and text hash match what the caller wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db import Database
from core.models import EntryVector

__all__ = ["StoredVectors", "delete_vectors"]

#: Ids per ``IN (...)`` list (SQLite's default limit on bound parameters is 32,766).
_CHUNK = 5000
#: Beyond this many wanted ids, read the whole kind in one scan instead of id lists.
_SCAN_ABOVE = 20_000


def delete_vectors(session, kind: str, ids: Iterable[int]) -> int:  # type: ignore[no-untyped-def]
    """Delete the stored vectors of ``ids`` (the caller commits); returns how many."""
    ids = list(ids)
    removed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        result = session.execute(
            delete(EntryVector).where(EntryVector.kind == kind, EntryVector.doc_id.in_(chunk))
        )
        removed += int(result.rowcount or 0)
    return removed


class StoredVectors:
    """The ``entry_vector`` rows of a database, read and written in batches."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, kind: str, model_id: str, wanted: Mapping[int, str]) -> dict[int, bytes]:
        """The stored vector bytes of the ids of ``wanted`` (id -> text hash) whose row
        has this model id and this text hash."""
        if not wanted:
            return {}
        columns = (EntryVector.doc_id, EntryVector.text_hash, EntryVector.vector)
        base = select(*columns).where(EntryVector.kind == kind, EntryVector.model_id == model_id)
        out: dict[int, bytes] = {}
        with self.db.session() as session:
            if len(wanted) > _SCAN_ABOVE:
                queries = [base]
            else:
                ids = list(wanted)
                queries = [
                    base.where(EntryVector.doc_id.in_(ids[i : i + _CHUNK]))
                    for i in range(0, len(ids), _CHUNK)
                ]
            for query in queries:
                for doc_id, text_hash, vector in session.execute(query):
                    if wanted.get(doc_id) == text_hash:
                        out[doc_id] = bytes(vector)
        return out

    def put(self, kind: str, model_id: str, rows: Mapping[int, tuple[str, bytes]]) -> None:
        """Store (insert or replace) the vector of each id: id -> (text hash, bytes)."""
        if not rows:
            return
        values = [
            {"kind": kind, "doc_id": i, "model_id": model_id, "text_hash": h, "vector": v}
            for i, (h, v) in rows.items()
        ]
        with self.db.session() as session:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            for start in range(0, len(values), _CHUNK // 5):
                stmt = insert(EntryVector).values(values[start : start + _CHUNK // 5])
                session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["kind", "doc_id"],
                        set_={
                            "model_id": stmt.excluded.model_id,
                            "text_hash": stmt.excluded.text_hash,
                            "vector": stmt.excluded.vector,
                        },
                    )
                )

    def drop(self, kind: str, ids: list[int]) -> None:
        """Delete the vectors of entries that are no longer searchable."""
        if ids:
            with self.db.session() as session:
                delete_vectors(session, kind, ids)
