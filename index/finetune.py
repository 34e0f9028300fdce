"""Domain adaptation of multilingual-e5-small on (need, solution) pairs.

One epoch of contrastive training with in-batch negatives (the
``MultipleNegativesRankingLoss`` of sentence-transformers: ``scores = q · pᵀ × 20``,
cross-entropy over the passages of the batch), word embeddings frozen, written as a
plain torch loop (no ``datasets``/``accelerate``). Only the trained tensors are saved,
as a float16 safetensors *adapter* (~43 MB) that
:func:`index.model.install.install_finetuned` adds on top of the converted base model.

Pairs are built by the caller (``cli.finetune``): each need's ``short`` and ``long``
texts are separate queries whose positive is the relevant solution's text exactly as
the index embeds it (``core.models.Solution.index_text``). Nothing here reads
``ingest`` (imports point one way).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: Bump when the adapter's content or meaning changes.
ADAPTER_FORMAT = "1"
ADAPTER_FILE_NAME = "e5-piu-adapter.safetensors"
#: Tensors never trained (and never saved): the 96M-parameter vocabulary and the unused
#: pooler (sentence-transformers mean-pools the last hidden states).
FROZEN_PREFIXES = ("embeddings.word_embeddings.", "pooler.")


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    key: str  # identity of the positive: no two pairs of a batch share it
    #: Hard negatives (passages that are not the answer), scored with the batch's passages.
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1
    seed: int = 13
    batch_size: int = 16
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 256
    scale: float = 20.0
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    #: Stop after this many optimiser steps (tests); ``None`` = all epochs.
    max_steps: int | None = None


@dataclass
class TrainResult:
    state: dict[str, Any]  # trained tensors (float32 torch tensors), by HF BertModel name
    losses: list[float]
    steps: int
    seconds: float
    trainable_params: int
    config: TrainConfig
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- data


def sha256_files(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0")
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def split_holdout(
    needs: Sequence[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Seeded split by qid: ``(train, held_out)``; ``fraction`` of the needs are held out."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError("holdout must be in [0, 1)")
    ordered = sorted(needs, key=lambda n: n["qid"])
    if fraction == 0.0:
        return ordered, []
    qids = [n["qid"] for n in ordered]
    random.Random(seed).shuffle(qids)
    held = set(qids[: round(len(qids) * fraction)])
    return [n for n in ordered if n["qid"] not in held], [n for n in ordered if n["qid"] in held]


def build_pairs(
    needs: Sequence[dict[str, Any]],
    passages: dict[str, str],
    fields: Sequence[str] = ("short", "long"),
) -> list[Pair]:
    """One pair per need, text field and relevant solution (missing solutions are errors)."""
    pairs: list[Pair] = []
    missing = sorted({r for n in needs for r in n["relevant"] if r not in passages})
    if missing:
        raise ValueError(f"relevant solutions missing from the catalogue: {missing[:5]}")
    for need in needs:
        for name in fields:
            text = (need.get(name) or "").strip()
            if not text:
                continue
            for rel in need["relevant"]:
                pairs.append(Pair(text, passages[rel], rel))
    return pairs


def make_batches(pairs: Sequence[Pair], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches in which no two pairs share a positive (no false in-batch negatives).

    A pair that would duplicate a positive waits for the next batch (like
    sentence-transformers' ``NoDuplicatesBatchSampler``).
    """
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    while order:
        batch: list[int] = []
        seen: set[str] = set()
        rest: list[int] = []
        for i in order:
            if len(batch) < batch_size and pairs[i].key not in seen:
                batch.append(i)
                seen.add(pairs[i].key)
            else:
                rest.append(i)
        batches.append(batch)
        order = rest
    return batches


# --------------------------------------------------------------------------- training


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_trainable(name: str) -> bool:
    return not name.startswith(FROZEN_PREFIXES)


def load_base(folder: Path) -> tuple[Any, Any]:
    """The converted base model as a ``BertModel`` and its fast tokenizer (local files only)."""
    from transformers import AutoModel, AutoTokenizer

    from index.embedder import quiet_transformers

    with quiet_transformers():
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return model, tokenizer


def _embed(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> Any:
    """Mean pooling over the attention mask, then L2 normalisation (as sentence-transformers)."""
    import torch

    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])[0]
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def train(
    base_folder: Path,
    pairs: Sequence[Pair],
    config: TrainConfig = TrainConfig(),
    *,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Fine-tune the base model on ``pairs``; returns the trained (non-frozen) tensors."""
    import torch

    if not pairs:
        raise ValueError("no training pairs")
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        _seed_everything(config.seed)
        model, tokenizer = load_base(base_folder)
        model.train()  # dropout on, as sentence-transformers' fit
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        trainable = 0
        for name, param in model.named_parameters():
            if not is_trainable(name):
                param.requires_grad_(False)
                continue
            trainable += param.numel()
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
        optimiser = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=config.lr,
        )
        rng = random.Random(config.seed)
        epochs = [make_batches(pairs, config.batch_size, rng) for _ in range(config.epochs)]
        total = sum(len(b) for b in epochs)
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        warmup = math.ceil(total * config.warmup_ratio)

        def schedule(step: int) -> float:  # transformers' linear schedule with warm-up
            if step < warmup:
                return (step + 1) / (warmup + 1) if warmup else 1.0
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
        loss_fn = torch.nn.CrossEntropyLoss()
        losses: list[float] = []
        started = time.perf_counter()
        step = 0
        for batches in epochs:
            for batch in batches:
                if step >= total:
                    break
                queries = [config.query_prompt + pairs[i].query for i in batch]
                passages = [config.passage_prompt + pairs[i].passage for i in batch]
                positives = {pairs[i].passage for i in batch}
                passages += [
                    config.passage_prompt + n
                    for i in batch
                    for n in pairs[i].negatives
                    if n not in positives  # another query's answer is no negative
                ]
                q = _embed(model, tokenizer, queries, config.max_length)
                p = _embed(model, tokenizer, passages, config.max_length)
                scores = q @ p.T * config.scale
                loss = loss_fn(scores, torch.arange(len(batch)))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                step += 1
                if on_step is not None:
                    on_step(step, total, losses[-1])
        seconds = time.perf_counter() - started
        state = {
            name: tensor.detach().clone()
            for name, tensor in model.state_dict().items()
            if is_trainable(name) and tensor.is_floating_point()
        }
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return TrainResult(
        state=state,
        losses=losses,
        steps=step,
        seconds=seconds,
        trainable_params=trainable,
        config=config,
    )


# --------------------------------------------------------------------------- saving


def sidecar_path(adapter: Path) -> Path:
    return Path(adapter).with_suffix(".json")


def save_adapter(result: TrainResult, out: Path, info: dict[str, Any]) -> Path:
    """Write the trained tensors as float16 safetensors plus a JSON sidecar, atomically.

    The safetensors metadata holds only deterministic facts (so the same seed and data
    give the same bytes, hence the same model id); the sidecar adds times and figures.
    """
    import torch
    from safetensors.torch import save

    from index.faiss_index import atomic_write_bytes

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(torch.float16).contiguous() for k, v in sorted(result.state.items())}
    metadata = {
        "format": "pt",
        "piu_adapter_format": ADAPTER_FORMAT,
        "base_source_sha256": str(info.get("base_source_sha256", "")),
        "base_converter_version": str(info.get("base_converter_version", "")),
        "seed": str(result.config.seed),
        "data_sha256": str(info.get("data_sha256", "")),
    }
    atomic_write_bytes(out, save(tensors, metadata=metadata))
    _readable(out)
    sidecar = {
        "adapter": out.name,
        "adapter_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "adapter_format": ADAPTER_FORMAT,
        "dtype": "float16",
        "tensors": len(tensors),
        "parameters": int(sum(t.numel() for t in tensors.values())),
        **info,
        "train": {
            **{k: v for k, v in asdict(result.config).items() if k != "max_steps"},
            "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "loss_first": round(result.losses[0], 4) if result.losses else None,
            "loss_last": round(result.losses[-1], 4) if result.losses else None,
            "loss_mean_last_5": round(float(np.mean(result.losses[-5:])), 4)
            if result.losses
            else None,
            "torch": torch.__version__,
            **result.extra,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_bytes(
        sidecar_path(out),
        (json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )
    _readable(sidecar_path(out))
    return out


def _readable(path: Path) -> None:
    """``mkstemp`` creates 0600 files; a shipped artefact gets the usual umask permissions."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)
