"""Pure readers: bytes -> rows (dicts) with the line each row came from.

Supported: JSON Lines, a JSON array of objects, CSV (``;`` or ``,`` sniffed from the
header), all UTF-8 with or without BOM, optionally gzip-compressed. Every problem is
reported as an :class:`ingest.IngestError` naming the line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ingest import IngestError

#: A row and where it came from ("line 3", "item 2").
Record = tuple[str, dict[str, Any]]

csv.field_size_limit(10_000_000)

_FORMATS = ("jsonl", "json", "csv")


def detect_format(name: str, text: str) -> str:
    """``jsonl``, ``json`` or ``csv``: from the file name, else from the first character."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    suffix = lowered.rsplit(".", 1)[-1] if "." in lowered else ""
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "json":
        return "json"
    if suffix in ("csv", "tsv", "txt"):
        return "csv"
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    if head == "{":
        return "jsonl"
    return "csv"


def decode(data: bytes) -> str:
    """UTF-8 text (BOM removed, gzip transparently inflated) or an :class:`IngestError`."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestError(f"not a valid gzip file ({exc})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise IngestError(f"not UTF-8 (byte 0x{bad:02x} at offset {exc.start})") from None
    if not text.strip():
        raise IngestError("file is empty")
    return text


def _objects(items: Iterable[tuple[str, Any]], problems: list[str]) -> list[Record]:
    """The ``(where, value)`` items that are JSON objects; any other item, or any problem
    ``items`` itself adds to ``problems`` while iterated, rejects the whole input."""
    records: list[Record] = []
    for where, value in items:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a JSON object, got {_json_type(value)}")
            continue
        records.append((where, value))
    if problems:
        raise IngestError(problems, rejected=len(problems))
    return records


def parse_jsonl(text: str) -> list[Record]:
    problems: list[str] = []

    def lines() -> Iterator[tuple[str, Any]]:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: invalid JSON: {exc.msg} (column {exc.colno})")

    return _objects(lines(), problems)


def parse_json(text: str) -> list[Record]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if isinstance(value, dict):
        # {"items": [...]} or a single object
        inner = next((v for v in value.values() if isinstance(v, list)), None)
        value = inner if inner is not None and len(value) == 1 else [value]
    if not isinstance(value, list):
        raise IngestError(f"expected a JSON array of objects, got {_json_type(value)}")
    if not value:
        raise IngestError("file is empty")
    return _objects(((f"item {i}", item) for i, item in enumerate(value, start=1)), [])


def sniff_delimiter(header: str) -> str:
    """``;`` or ``,`` (or a tab), whichever the header line uses most."""
    counts = {d: header.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_csv(text: str) -> list[Record]:
    first_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise IngestError("file is empty") from None
    except csv.Error as exc:
        raise IngestError(f"line 1: malformed CSV: {exc}") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise IngestError("line 1: empty CSV header")
    duplicates = sorted({h for h in header if h and header.count(h) > 1})
    if duplicates:
        raise IngestError(f"line 1: duplicate column {duplicates[0]!r}")
    records: list[Record] = []
    problems: list[str] = []
    line = reader.line_num + 1
    while True:
        start = line
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {start}: malformed CSV: {exc}")
            break
        line = reader.line_num + 1
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            problems.append(f"line {start}: {len(values)} values for {len(header)} columns")
            continue
        row = {
            h: (v if v.strip() != "" else None) for h, v in zip(header, values, strict=False) if h
        }
        records.append((f"line {start}", row))
    if problems:
        raise IngestError(problems, rejected=len(problems))
    if not records:
        raise IngestError("file is empty")
    return records


def parse_bytes(data: bytes, name: str = "", fmt: str | None = None) -> list[Record]:
    """Rows of a file's bytes; ``fmt`` forces ``jsonl``/``json``/``csv``."""
    if not data:
        raise IngestError("file is empty")
    text = decode(data)
    fmt = fmt or detect_format(name, text)
    if fmt not in _FORMATS:
        raise IngestError(f"unknown format {fmt!r} (expected jsonl, json or csv)")
    if fmt == "jsonl":
        return parse_jsonl(text)
    if fmt == "json":
        return parse_json(text)
    return parse_csv(text)


def read_records(path: Path, fmt: str | None = None) -> list[Record]:
    """Rows of the file at ``path`` (see :func:`parse_bytes`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise IngestError(f"not a file: {path}") from None
    return parse_bytes(data, path.name, fmt)


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
