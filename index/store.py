"""Index store: one FAISS index per kind of document, kept in sync with the database.

The database is the source of truth; the store holds ids and vectors only. Each index
file holds the vectors *and* the metadata of what built them (model id, dimension,
per-document text hashes) in one container written atomically, so a reader never sees
an index without its metadata. On start-up :meth:`IndexStore.sync` loads each index and
brings in only what changed among the documents its caller says must be searchable
(everything, if the model changed).

Vectors are computed once: with a :class:`VectorSource` (the database's ``entry_vector``
rows, :class:`core.vectors.StoredVectors`), whatever this store embeds is stored there with
the model id and the text hash, and a sync takes the vectors it lacks from there before
running the model. The index files are a derived cache of those rows. Vectors are
rounded to float16 (how they are stored) before they enter an index, so every process
searches exactly the same numbers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from index.base import Embedder, VectorIndex
from index.faiss_index import FaissIndex, atomic_write_bytes

log = logging.getLogger(__name__)

KINDS = ("solution", "need", "experience")
FORMAT_VERSION = 1
_MAGIC = b"PIUIDX1\n"


class VectorSource(Protocol):
    """Where the vectors of every process are kept (see :mod:`core.vectors`)."""

    def get(self, kind: str, model_id: str, wanted: Mapping[int, str]) -> dict[int, bytes]:
        """Stored vector bytes of the ids of ``wanted`` (id -> text hash) that match."""
        ...

    def put(self, kind: str, model_id: str, rows: Mapping[int, tuple[str, bytes]]) -> None:
        """Store id -> (text hash, vector bytes)."""
        ...

    def drop(self, kind: str, ids: list[int]) -> None:
        """Forget the vectors of entries that are no longer searchable."""
        ...


#: A document whose new text has no stored vector yet is left to the process that wrote
#: it (it embeds it and bumps the catalogue version) for this long before a reader
#: embeds it itself (the writer may have died).
WRITER_GRACE_S = 20.0


def to_stored(vectors: np.ndarray) -> list[bytes]:
    """Each row as little-endian float16 bytes (the stored form)."""
    return [row.tobytes() for row in np.asarray(vectors, dtype="<f2")]


def from_stored(blobs: list[bytes], dim: int) -> np.ndarray:
    """Stored float16 bytes back to float32 rows."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim).astype(np.float32)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class IndexMeta:
    kind: str
    model_id: str
    dim: int
    count: int
    built_at: str
    items: dict[int, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model_id": self.model_id,
            "dim": self.dim,
            "count": self.count,
            "built_at": self.built_at,
            "format_version": self.format_version,
            "fingerprint": fingerprint(self.items),
            "items": {str(k): v for k, v in self.items.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        return cls(
            kind=data["kind"],
            model_id=data["model_id"],
            dim=int(data["dim"]),
            count=int(data["count"]),
            built_at=data["built_at"],
            items={int(k): v for k, v in data["items"].items()},
            format_version=int(data.get("format_version", 0)),
        )


def fingerprint(items: dict[int, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(items):
        h.update(f"{key}:{items[key]};".encode())
    return h.hexdigest()


def pack(meta: IndexMeta, index: VectorIndex) -> bytes:
    meta_bytes = json.dumps(meta.to_json(), separators=(",", ":")).encode()
    return _MAGIC + struct.pack("<Q", len(meta_bytes)) + meta_bytes + index.to_bytes()


def unpack(data: bytes, backend: type[VectorIndex] = FaissIndex) -> tuple[IndexMeta, VectorIndex]:
    if not data.startswith(_MAGIC):
        raise ValueError("not a PIU index file")
    start = len(_MAGIC)
    (size,) = struct.unpack("<Q", data[start : start + 8])
    meta = IndexMeta.from_json(json.loads(data[start + 8 : start + 8 + size]))
    index = backend.from_bytes(data[start + 8 + size :])
    if index.count() != meta.count or index.dim != meta.dim:
        raise ValueError("index and metadata disagree")
    return meta, index


@dataclass
class SyncReport:
    kind: str
    loaded: bool
    embedded: int
    removed: int
    count: int
    reason: str


class IndexStore:
    """The vector indexes of every kind, persisted under ``directory``."""

    def __init__(
        self,
        directory: Path,
        embedder: Embedder,
        *,
        batch_size: int = 32,
        backend: type[VectorIndex] = FaissIndex,
        vectors: VectorSource | None = None,
    ) -> None:
        self.directory = directory
        self.embedder = embedder
        self.vectors = vectors
        #: (kind, id) -> (text hash, when first seen without a stored vector)
        self._waiting: dict[tuple[str, int], tuple[str, float]] = {}
        #: vectors embedded by this process and vectors loaded from the source (counters)
        self.embedded = 0
        self.loaded_vectors = 0
        self.batch_size = batch_size
        self.backend = backend
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._indexes: dict[str, VectorIndex] = {}
        self._meta: dict[str, IndexMeta] = {}

    def path(self, kind: str) -> Path:
        return self.directory / f"{kind}.piuindex"

    # -- persistence -------------------------------------------------------
    def _load(self, kind: str) -> tuple[IndexMeta, VectorIndex] | None:
        path = self.path(kind)
        if not path.exists():
            return None
        try:
            meta, index = unpack(path.read_bytes(), self.backend)
        except Exception as exc:  # a damaged or foreign file is rebuilt, never trusted
            log.warning("index %s unreadable (%s): rebuilding", path, exc)
            return None
        return meta, index

    def _in_memory(self, kind: str) -> tuple[IndexMeta, VectorIndex] | None:
        if kind in self._indexes and kind in self._meta:
            return self._meta[kind], self._indexes[kind]
        return None

    def save(self, kind: str) -> None:
        """Write the index of ``kind`` atomically; searches go on while the bytes are written."""
        with self._save_lock:  # one writer at a time in this process, in snapshot order
            with self._lock:
                meta, index = self._meta[kind], self._indexes[kind]
                meta.count = index.count()
                data = pack(meta, index)
                summary = {k: v for k, v in meta.to_json().items() if k != "items"}
            atomic_write_bytes(self.path(kind), data)
            atomic_write_bytes(
                self.path(kind).with_suffix(".meta.json"),
                json.dumps(summary, indent=2).encode(),
            )

    # -- sync with the database -------------------------------------------
    def sync(
        self,
        documents: Mapping[str, Mapping[int, str]],
        *,
        force: bool = False,
        progress: bool = False,
        wait_for_writer: bool = False,
    ) -> list[SyncReport]:
        """Load the index of each kind of ``documents`` and bring it in line with them:
        the texts (by id) that must be searchable, as the database holds them.

        ``wait_for_writer``: a text with no stored vector yet is left as it is (for up to
        ``WRITER_GRACE_S``): the process that wrote it is embedding it (a refresh after
        another process's change, as opposed to a start-up).
        """
        return [
            self._sync_kind(
                kind, docs, force=force, progress=progress, wait_for_writer=wait_for_writer
            )
            for kind, docs in documents.items()
        ]

    def waiting_overdue(self) -> bool:
        """Some text has waited for its writer's vector longer than ``WRITER_GRACE_S``."""
        return bool(self.overdue_kinds())

    def overdue_kinds(self) -> set[str]:
        """The kinds of the texts that have waited for their writer's vector longer than
        ``WRITER_GRACE_S``."""
        cutoff = time.monotonic() - WRITER_GRACE_S
        return {kind for (kind, _), (_, since) in list(self._waiting.items()) if since < cutoff}

    def _remove_stale_temp_files(self, kind: str) -> None:
        """Temp files left by a writer killed before its ``os.replace`` (never read).

        Only old ones: a fresh one may belong to another worker writing right now.
        """
        cutoff = time.time() - 600
        for tmp in self.directory.glob(f".{self.path(kind).name}.*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    def _sync_kind(
        self,
        kind: str,
        docs: Mapping[int, str],
        *,
        force: bool,
        progress: bool,
        wait_for_writer: bool = False,
    ) -> SyncReport:
        self._remove_stale_temp_files(kind)
        wanted = {doc_id: text_hash(text) for doc_id, text in docs.items()}
        with self._lock:
            # what this process holds already (a refresh), else the file (a start-up)
            loaded = None if force else (self._in_memory(kind) or self._load(kind))
            reason = "up to date"
            if loaded is None:
                reason = "forced rebuild" if force else "no usable index file"
            elif loaded[0].model_id != self.embedder.model_id:
                reason = f"model changed ({loaded[0].model_id} -> {self.embedder.model_id})"
                loaded = None
            elif loaded[0].dim != self.embedder.dim:
                reason = "dimension changed"
                loaded = None
            if loaded is None:
                meta = IndexMeta(kind, self.embedder.model_id, self.embedder.dim, 0, _now())
                index = self.backend(self.embedder.dim)
            else:
                meta, index = loaded
            stale = [i for i in meta.items if i not in wanted]
            todo = [i for i, h in wanted.items() if meta.items.get(i) != h]
            if stale:
                index.remove(np.array(stale, dtype=np.int64))
                for i in stale:
                    meta.items.pop(i, None)
                if self.vectors is not None:
                    self.vectors.drop(kind, stale)
            changed = bool(todo)
            if todo and reason == "up to date":
                reason = f"{len(todo)} changed"
            if not force:  # a forced rebuild embeds every text again (and stores it)
                todo = self._load_stored(kind, index, meta, todo, wanted, bulk=loaded is None)
            if todo and wait_for_writer:
                todo = self._left_to_writer(kind, todo, wanted)
            if todo:
                self._embed_into(index, meta, todo, docs, wanted, progress=progress, kind=kind)
            self._waiting = {  # what still waits: searchable, and not in the index as it is
                key: seen
                for key, seen in self._waiting.items()
                if key[0] != kind or meta.items.get(key[1], "") != wanted.get(key[1], "")
            }
            rebuilt = index.rebalance()
            self._indexes[kind], self._meta[kind] = index, meta
            dirty = bool(stale or changed or rebuilt or loaded is None)
            if dirty:
                meta.built_at = _now()
            report = SyncReport(
                kind, loaded is not None, len(todo), len(stale), index.count(), reason
            )
        if dirty:  # outside _lock: save() takes _save_lock, then _lock (one order only)
            self.save(kind)
        return report

    def _load_stored(
        self,
        kind: str,
        index: VectorIndex,
        meta: IndexMeta,
        todo: list[int],
        wanted: dict[int, str],
        *,
        bulk: bool,
    ) -> list[int]:
        """Put the stored vectors of ``todo`` in ``index``; returns the ids still to embed.

        ``bulk``: ``index`` is new, so it is built in one go (the exact or approximate
        kind of index its size calls for)."""
        if not todo or self.vectors is None:
            return todo
        stored = self.vectors.get(kind, self.embedder.model_id, {i: wanted[i] for i in todo})
        if not stored:
            return todo
        ids = [i for i in todo if i in stored]
        vectors = from_stored([stored[i] for i in ids], self.embedder.dim)
        if bulk and len(ids) == len(todo):
            index.build(np.array(ids, dtype=np.int64), vectors)
        else:
            index.upsert(np.array(ids, dtype=np.int64), vectors)
        meta.items.update({i: wanted[i] for i in ids})
        self.loaded_vectors += len(ids)
        return [i for i in todo if i not in stored]

    def _left_to_writer(self, kind: str, todo: list[int], wanted: dict[int, str]) -> list[int]:
        """Of ``todo`` (no stored vector), the ids whose writer had its grace time."""
        now = time.monotonic()
        due = []
        for i in todo:
            key = (kind, i)
            seen = self._waiting.get(key)
            if seen is None or seen[0] != wanted[i]:
                self._waiting[key] = (wanted[i], now)
            elif now - seen[1] >= WRITER_GRACE_S:
                due.append(i)
        return due

    def _embed_into(
        self,
        index: VectorIndex,
        meta: IndexMeta,
        ids: list[int],
        docs: Mapping[int, str],
        hashes: dict[int, str],
        *,
        progress: bool,
        kind: str,
    ) -> None:
        bar = tqdm(total=len(ids), desc=f"index {kind}", unit="doc", disable=not progress)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            vectors = self._embed(kind, {i: docs[i] for i in chunk})
            index.upsert(np.array(chunk, dtype=np.int64), vectors)
            meta.items.update({i: hashes[i] for i in chunk})
            bar.update(len(chunk))
        bar.close()

    def _embed(self, kind: str, docs: Mapping[int, str]) -> np.ndarray:
        """Embed ``docs`` (id -> text), store the vectors, return them as stored
        (float16-rounded float32 rows, in the order of ``docs``)."""
        blobs = to_stored(self.embedder.encode_passages(list(docs.values())))
        self.embedded += len(blobs)
        if self.vectors is not None:
            self.vectors.put(
                kind,
                self.embedder.model_id,
                {i: (text_hash(t), b) for (i, t), b in zip(docs.items(), blobs, strict=True)},
            )
        return from_stored(blobs, self.embedder.dim)

    # -- incremental changes ----------------------------------------------
    def upsert(self, kind: str, doc_id: int, text: str) -> None:
        self.upsert_many(kind, {doc_id: text})

    def upsert_many(self, kind: str, docs: dict[int, str], *, save: bool = True) -> None:
        """Embed ``docs`` (id -> text) in batches and put them in the index of ``kind``.

        ``save=False`` leaves the file behind the memory (the background indexer saves
        every few seconds); the start-up sync re-embeds what a crash kept out of it.
        """
        if not docs:
            return
        ids = list(docs)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start : start + self.batch_size]
            vectors = self._embed(kind, {i: docs[i] for i in chunk})
            with self._lock:
                self._ensure(kind).upsert(np.array(chunk, dtype=np.int64), vectors)
                self._meta[kind].items.update({i: text_hash(docs[i]) for i in chunk})
        if save:
            self.save(kind)

    def remove(self, kind: str, doc_id: int, *, save: bool = True) -> bool:
        with self._lock:
            index = self._ensure(kind)
            removed = index.remove(np.array([doc_id], dtype=np.int64))
            if removed:
                self._meta[kind].items.pop(doc_id, None)
        if removed and self.vectors is not None:
            self.vectors.drop(kind, [doc_id])
        if removed and save:
            self.save(kind)
        return bool(removed)

    def _ensure(self, kind: str) -> VectorIndex:
        if kind not in self._indexes:
            self._indexes[kind] = self.backend(self.embedder.dim)
            self._meta[kind] = IndexMeta(kind, self.embedder.model_id, self.embedder.dim, 0, _now())
        return self._indexes[kind]

    # -- queries ------------------------------------------------------------
    def search(self, kind: str, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock:
            index = self._indexes.get(kind)
            if index is None or index.count() == 0:
                return []
            scores, ids = index.search(query_vector.reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def similarity(self, kind: str, query_vector: np.ndarray, ids: list[int]) -> dict[int, float]:
        """Exact dense similarity of the query with given documents (for fusion)."""
        with self._lock:
            index = self._indexes.get(kind)
            if index is None:
                return {}
            vectors = index.vectors_for(ids)
        q = query_vector.reshape(-1)
        return {i: float(np.dot(v, q)) for i, v in vectors.items()}

    def count(self, kind: str) -> int:
        with self._lock:
            index = self._indexes.get(kind)
            return index.count() if index else 0

    def meta(self, kind: str) -> IndexMeta | None:
        return self._meta.get(kind)

    def ids(self, kind: str) -> list[int]:
        with self._lock:
            index = self._indexes.get(kind)
            return index.ids().tolist() if index else []


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
