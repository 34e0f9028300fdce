"""ONNX export of a sentence-transformers folder (``onnx`` backend) and its dynamic int8
quantisation (``onnx-int8`` backend), in the same folder."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from index.model.folder import (
    ModelInstallError,
    make_readable,
    read_stamp,
    stamp_matches,
    write_json,
)

log = logging.getLogger(__name__)


ONNX_CONVERTER_VERSION = "1"
ONNX_DIR = "onnx"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model_qint8.onnx"


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


#: ONNX variants: file name inside ``<model folder>/onnx``.
ONNX_FILES = {"fp32": ONNX_FP32_FILE, "int8": ONNX_INT8_FILE}
_ONNX_HINT = (
    "Exporting the ONNX backends needs the 'onnx' package (install time only): "
    "pip install onnx==1.23.2"
)


def onnx_path(folder: Path, variant: str = "int8") -> Path:
    return folder / ONNX_DIR / ONNX_FILES[variant]


def ensure_onnx(folder: Path, variant: str = "int8", *, force: bool = False) -> Path:
    """Export (and for ``int8`` quantise) the sentence-transformers folder ``folder``, once.

    The graph takes ``input_ids`` and ``attention_mask`` and returns mean-pooled,
    L2-normalised ``sentence_embedding``. The file is written in a temporary folder
    beside it and moved in with ``os.replace``; a stamp beside it records the source
    model, so a re-converted model gets a fresh export.
    """
    if variant not in ONNX_FILES:
        raise ValueError(f"unknown ONNX variant {variant!r}")
    out = onnx_path(folder, variant)
    stamp_name = out.name + ".piu.json"
    model_stamp = read_stamp(folder) or {}
    expected = {
        "onnx_converter_version": ONNX_CONVERTER_VERSION,
        "variant": variant,
        "model": model_stamp.get("source_sha256") or _weights_signature(folder),
    }
    if not force and out.is_file() and stamp_matches(read_stamp(out.parent, stamp_name), expected):
        return out
    _check_mean_pooling(folder)
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ModelInstallError(_ONNX_HINT) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmpdir = Path(tempfile.mkdtemp(prefix=".onnx-tmp-", dir=out.parent))
    try:
        fp32 = tmpdir / ONNX_FP32_FILE
        _export_onnx(folder, fp32)
        produced = fp32
        if variant == "int8":
            produced = tmpdir / ONNX_INT8_FILE
            _quantize_dynamic(fp32, produced)
        write_json(tmpdir / stamp_name, expected)
        make_readable(tmpdir)
        os.replace(produced, out)
        os.replace(tmpdir / stamp_name, out.parent / stamp_name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    log.info("ONNX %s model written to %s (%.1f s)", variant, out, time.perf_counter() - started)
    return out


def _check_mean_pooling(folder: Path) -> None:
    try:
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelInstallError(
            f"{folder}: the ONNX backends need a sentence-transformers folder with mean pooling"
        ) from exc
    if pooling.get("pooling_mode") != "mean" and not pooling.get("pooling_mode_mean_tokens"):
        raise ModelInstallError(f"{folder}: the ONNX backends only support mean pooling")


def _weights_signature(folder: Path) -> str:
    st = folder / "model.safetensors"
    if st.is_file():
        s = st.stat()
        return f"{s.st_size}-{s.st_mtime_ns}"
    return "unknown"


def _export_onnx(folder: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    with _quiet_export():
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            model = AutoModel.from_pretrained(
                str(folder), local_files_only=True, attn_implementation="eager"
            )
        finally:
            hf_logging.set_verbosity(verbosity)
    model.eval()

    class _Encoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    wrapper = _Encoder(model).eval()
    ids = torch.tensor([[0, 6, 7, 8, 2], [0, 6, 7, 2, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=torch.long)
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def _quantize_dynamic(src: Path, dst: Path) -> None:
    """Dynamic int8, per-channel weights (per-tensor loses ~1 point of cosine)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_export():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
