"""Model folders on disk: the stamp that says what a folder was built from, and the
atomic swap that puts a finished folder in place (shared by conversion, adapter, ONNX)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAMP_FILE = "piu_model.json"


class ModelInstallError(RuntimeError):
    """The model could not be installed (missing package, corrupt file...)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_stamp(folder: Path, name: str = STAMP_FILE) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stamp_matches(stamp: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    return stamp is not None and all(stamp.get(k) == v for k, v in expected.items())


def make_readable(folder: Path) -> None:
    """``mkdtemp`` creates 0700 folders; give the tree the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _swap_in(tmp: Path, target: Path) -> None:
    """Atomically move ``tmp`` to ``target``; an existing ``target`` is moved aside first."""
    trash: Path | None = None
    if target.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, trash / target.name)
    os.replace(tmp, target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def stamp_and_swap(tmp: Path, target: Path, expected: dict[str, Any], *, force: bool) -> bool:
    """Stamp the finished ``tmp`` folder and swap it in as ``target``.

    Returns False (nothing swapped) when another process finished the same
    installation meanwhile and ``force`` is off.
    """
    write_json(tmp / STAMP_FILE, {**expected, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    make_readable(tmp)
    if not force and stamp_matches(read_stamp(target), expected):
        return False
    _swap_in(tmp, target)
    return True


@contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` to build it in (same file system, so
    :func:`stamp_and_swap` is a rename); removed on the way out, whatever happened."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
