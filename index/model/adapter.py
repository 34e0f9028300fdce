"""The fine-tuned model: the converted base folder with the adapter's tensors applied.

The adapter (``piu model finetune``, see :mod:`index.finetune`) holds the trained
tensors in float16; :func:`apply_adapter` writes base + adapter as a folder of its own,
beside the base, once per adapter file.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.model.folder import (
    STAMP_FILE,
    ModelInstallError,
    file_sha256,
    read_stamp,
    staging,
    stamp_and_swap,
    stamp_matches,
)
from index.model.onnx_export import ONNX_DIR

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)


#: Bump when the applied folder's content changes; fine-tuned folders are rebuilt.
APPLY_VERSION = "1"


def active_adapter(settings: Settings) -> Path | None:
    """The adapter to apply: only with ``use_finetuned``, the default model and the file."""
    from core.config import DEFAULT_MODEL

    adapter = getattr(settings, "finetuned_adapter", None)
    if not getattr(settings, "use_finetuned", False) or adapter is None:
        return None
    if settings.embedding_model != DEFAULT_MODEL:
        return None
    adapter = Path(adapter).expanduser()
    return adapter if adapter.is_file() else None


def apply_adapter(base: Path, adapter: Path, target: Path, *, force: bool = False) -> Path:
    """Write ``target`` = the converted folder ``base`` with the adapter's tensors, once.

    The adapter (float16 safetensors of the trained tensors, see :mod:`index.finetune`)
    must have been trained on this base (same source sha256). ``target`` is stamped
    with the base stamp plus the adapter's sha256: a matching folder is reused as is
    (one sha256 of the 43 MB adapter), otherwise it is written beside and swapped in.
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    base_stamp = read_stamp(base)
    if base_stamp is None:
        raise ModelInstallError(f"{base}: not a converted model folder (no {STAMP_FILE})")
    expected = {
        **{k: base_stamp.get(k) for k in ("converter_version", "source_file", "source_sha256")},
        "apply_version": APPLY_VERSION,
        "adapter_file": Path(adapter).name,
        "adapter_sha256": file_sha256(adapter),
    }
    if not force and stamp_matches(read_stamp(target), expected):
        return target

    with safe_open(str(adapter), framework="numpy") as fh:
        meta = fh.metadata() or {}
    trained_on = meta.get("base_source_sha256")
    if trained_on != base_stamp.get("source_sha256"):
        raise ModelInstallError(
            f"{adapter} was trained on another base model ({trained_on!r:.20}); "
            "retrain it with `piu model finetune`"
        )
    started = time.perf_counter()
    with staging(target) as tmp:
        for item in base.iterdir():
            if item.name in ("model.safetensors", STAMP_FILE, ONNX_DIR, "README.md"):
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
        weights = load_file(str(base / "model.safetensors"))
        for name, value in load_file(str(adapter)).items():
            current = weights.get(name)
            if current is None or current.shape != value.shape:
                raise ModelInstallError(f"{adapter}: tensor {name} does not fit the base model")
            weights[name] = value.astype(np.float32)
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del weights
        (tmp / "README.md").write_text(
            "# multilingual-e5-small, fine-tuned for PIU\n\n"
            f"The converted base model ({base.name}) with the adapter {Path(adapter).name} "
            "(`piu model finetune`) applied. Regenerated automatically when either changes.\n",
            encoding="utf-8",
        )
        if not stamp_and_swap(tmp, target, expected, force=force):
            return target
    log.info("fine-tuned model written to %s (%.1f s)", target, time.perf_counter() - started)
    return target
