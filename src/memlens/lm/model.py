"""Causal language models: a tiny GPT-2 trained here, local checkpoints, per-token log-probs.

Everything is Hugging Face ``transformers``: a model trained by :func:`train_lm` saves with
:func:`save_causal_lm` and reloads with :func:`load_causal_lm`, which also opens any local
causal-LM checkpoint a user points at (``local_files_only``: nothing is downloaded).
:func:`sequence_logprobs` gives the per-token observables the membership scores are built from
(loss, zlib, Min-K%, and the vocabulary mean and variance Min-K%++ needs).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.corpus import Corpus

Progress = Callable[[int], None]


def tiny_gpt2(
    vocab_size: int,
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_positions: int = 128,
    dropout: float = 0.0,
    bos_token_id: int = 0,
    eos_token_id: int = 0,
    pad_token_id: int = 1,
    seed: int = 0,
):
    """A small randomly initialised ``GPT2LMHeadModel`` (2 layers, 64 wide: ~0.4 M parameters at
    a 4,096 vocabulary). The special-token ids default to :func:`~memlens.lm.corpus.train_tokenizer`'s
    and are set explicitly (GPT-2's defaults point at id 50256, outside a small vocabulary).
    Dropout defaults to 0: memorization studies want the model to fit its data.

    >>> m = tiny_gpt2(300, n_layer=1, n_embd=32, n_head=2, n_positions=16)
    >>> m.config.n_positions, m.config.eos_token_id, m.get_input_embeddings().num_embeddings
    (16, 0, 300)
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = pad_token_id
    return model.eval()


def context_length(model) -> int:
    """The longest sequence (prefix plus generated tokens) the model can attend over."""
    config = model.config
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2**31 - 1  # relative/rotary models without a stated limit


def check_context(
    model,
    n_tokens: int,
    *,
    what: str = "A sequence",
    fix: str = "Use shorter prefixes (or fewer new tokens)",
) -> None:
    """Raise :class:`MemlensError` when ``n_tokens`` exceed the model's context.

    >>> check_context(tiny_gpt2(10, n_layer=1, n_embd=8, n_head=1, n_positions=4), 5)
    Traceback (most recent call last):
    ...
    memlens.errors.MemlensError: A sequence needs 5 tokens but the model's context holds 4. Use shorter prefixes (or fewer new tokens), or a model with a longer context (n_positions).
    """
    limit = context_length(model)
    if n_tokens > limit:
        raise MemlensError(
            f"{what} needs {n_tokens} tokens but the model's context holds {limit}. {fix}, or a "
            "model with a longer context (n_positions)."
        )


def _token_ids(tokenizer, corpus: Corpus | Sequence[str]) -> list[list[int]]:
    """Each document as ``[bos, ...text..., eos]``."""
    texts = corpus.documents if isinstance(corpus, Corpus) else list(corpus)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [[bos, *ids, tokenizer.eos_token_id] for ids in encoded]


def _chunks(docs: list[list[int]], seq_len: int) -> list[list[int]]:
    """Split each document into windows of ``seq_len`` that overlap by one token, so every
    token after a document's first is predicted exactly once, with as much of its own
    document as context as the window allows and never another document's text."""
    out = []
    step = seq_len - 1
    for ids in docs:
        for start in range(0, max(len(ids) - 1, 1), step):
            piece = ids[start : start + seq_len]
            if len(piece) >= 2:
                out.append(piece)
    return out


def _pad(rows: list[list[int]], pad_id: int, *, left: bool = False):
    import torch

    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, sl] = torch.tensor(r, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask  # (B, T), (B, T)


def train_lm(
    model,
    tokenizer,
    corpus: Corpus | Sequence[str],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-3,
    seq_len: int = 128,
    seed: int = 0,
    weight_decay: float = 0.0,
    max_steps: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Train a causal LM in place on per-document chunks; return each step's mean token loss.

    Each document becomes ``[bos, text, eos]``, cut into ``seq_len`` windows overlapping by one
    token (a window never mixes documents, so a canary is always seen from its own start).
    Windows are shuffled each epoch, then grouped by length so padding stays small; AdamW with
    linear warm-up over the first 5% of steps and cosine decay. ``progress(1)`` is called per step.

    Returns:
        (S,) float array: the loss of every optimizer step.
    """
    import torch

    if seq_len < 2:
        raise MemlensError(f"seq_len must be >= 2; got {seq_len}.")
    check_context(model, seq_len, what=f"Training with seq_len={seq_len}", fix="Lower seq_len")
    vocab = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > vocab:
        raise MemlensError(
            f"The tokenizer has {len(tokenizer)} tokens but the model's embedding has {vocab} rows; "
            "build the model with vocab_size=len(tokenizer)."
        )
    chunks = _chunks(_token_ids(tokenizer, corpus), seq_len)
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(chunks) / batch_size)
    total = (
        steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        warmup = max(1, total // 20)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: (
                min(1.0, (s + 1) / warmup)
                * 0.5
                * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
            ),
        )
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        model.train()
        losses = []
        try:
            for _ in range(epochs):
                for rows in length_grouped_batches([len(c) for c in chunks], batch_size, rng):
                    batch = [chunks[i] for i in rows]
                    if len(losses) >= total:
                        break
                    ids, mask = _pad(batch, pad)  # (B, T)
                    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
                    targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # (B, T-1)
                    loss = torch.nn.functional.cross_entropy(
                        logits[:, :-1].reshape(-1, logits.shape[-1]),
                        targets.reshape(-1),
                        ignore_index=-100,
                    )
                    optimizer_step(model, opt, schedule, loss, losses)
                    if progress:
                        progress(1)
        finally:
            model.eval()
    return np.asarray(losses)


def optimizer_step(model, opt, schedule, loss, losses: list) -> None:
    """One step of the small-LM loops here: backward, clip the gradient norm at 1, step the
    optimizer and its schedule, record the loss."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    schedule.step()
    losses.append(loss.item())


def length_grouped_batches(lengths, batch_size: int, rng: np.random.Generator, *, pool_batches: int = 32):
    """Shuffled batches (lists of indices) of similar length: shuffle, sort by ``lengths`` within
    pools of ``pool_batches`` batches, shuffle the batches — little padding, still random."""
    order = rng.permutation(len(lengths))
    pool = batch_size * pool_batches
    batches = []
    for s in range(0, len(order), pool):
        part = sorted(order[s : s + pool], key=lambda i: lengths[i])
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    for b in rng.permutation(len(batches)):
        yield batches[b]


class SequenceLogprobs(NamedTuple):
    """Per-token observables of N sequences, NaN beyond each sequence's length.

    ``logprobs[i, t] = log p(x_{t+1} | x_{<=t})`` for the tokens after the first (for text: every
    token of the text, scored after a prepended ``bos``); ``mean[i, t]`` and ``var[i, t]`` are the
    mean and variance of ``log p(z | x_{<=t})`` over the vocabulary under ``p`` itself, so that
    Min-K%++'s ``(logprobs - mean) / sqrt(var)`` is one line. All (N, T) float64.
    """

    logprobs: np.ndarray
    mean: np.ndarray
    var: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int: how many tokens each sequence has scored."""
        return (~np.isnan(self.logprobs)).sum(axis=1)


def sequence_logprobs(
    model,
    tokenizer,
    texts: Sequence[str] | Sequence[Sequence[int]],
    *,
    batch_size: int = 32,
    truncate: bool = False,
) -> SequenceLogprobs:
    """Score every token of every text under the model, in batches, without gradients.

    Strings are tokenized with ``bos`` prepended, so every text token is scored. Token-id
    sequences are taken as given: their first token is context only. A sequence longer than the
    model's context raises :class:`MemlensError` unless ``truncate`` (keep the first tokens).

    Returns:
        :class:`SequenceLogprobs`, arrays (N, T) with T the longest scored length.
    """
    import torch

    if len(texts) and isinstance(texts[0], str):
        if tokenizer is None:
            raise MemlensError(
                "Scoring text needs a tokenizer; pass token ids, or the model's tokenizer."
            )
        bos = (
            tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        )
        encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        seqs = [[bos, *ids] for ids in encoded]
    else:
        seqs = [list(map(int, s)) for s in texts]
    limit = context_length(model)
    for i, s in enumerate(seqs):
        if len(s) > limit:
            if not truncate:
                check_context(
                    model, len(s), what=f"Sequence {i} (with its bos token)",
                    fix="Split long documents, pass truncate=True to score their first tokens",
                )  # fmt: skip
            seqs[i] = s[:limit]
    vocab = model.get_input_embeddings().num_embeddings
    for i, s in enumerate(seqs):
        if s and (min(s) < 0 or max(s) >= vocab):
            raise MemlensError(
                f"Sequence {i} has token ids outside the model's vocabulary of {vocab}."
            )
    width = max((len(s) - 1 for s in seqs), default=0)
    out = np.full((3, len(seqs), max(width, 0)), np.nan)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # little padding per batch
    order = [i for i in order if len(seqs[i]) >= 2]
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            rows = order[s : s + batch_size]
            ids, mask = _pad([seqs[i] for i in rows], 0)  # (B, T), right padding
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # (B, T-1, V)
            logp = torch.log_softmax(logits, dim=-1)  # (B, T-1, V)
            token = logp.gather(-1, ids[:, 1:, None])[..., 0]  # (B, T-1)
            p = logp.exp()
            mean = (p * logp).sum(-1)  # (B, T-1)
            var = ((p * logp.square()).sum(-1) - mean.square()).clamp_min(0)
            for b, i in enumerate(rows):
                n = len(seqs[i]) - 1
                out[0, i, :n] = token[b, :n].numpy()
                out[1, i, :n] = mean[b, :n].numpy()
                out[2, i, :n] = var[b, :n].numpy()
    return SequenceLogprobs(out[0], out[1], out[2])


def save_causal_lm(model, tokenizer, path: str | os.PathLike) -> Path:
    """Write model and tokenizer to ``path`` (a new folder, written whole or not at all)."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise MemlensError(
            f"{path} exists and is not empty; choose a new folder for the checkpoint."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        if path.exists():
            path.rmdir()
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_causal_lm(path: str | os.PathLike):
    """Open a local causal-LM checkpoint folder: ``(model, tokenizer or None)``, model in eval mode.

    Loads with ``local_files_only=True``: nothing is downloaded. Refuses, with a
    :class:`MemlensError` that says why, a folder without a config or weights, a model that is
    not a causal (decoder) LM (e.g. a BERT encoder), and a tokenizer with more tokens than the
    model's embedding has rows. (A tokenizer with fewer is accepted: checkpoints often pad the
    embedding to a round size.) The tokenizer is ``None`` when the folder has none.
    """
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    path = Path(path)
    if not path.is_dir():
        raise MemlensError(f"No checkpoint folder at {path}.")
    if not (path / "config.json").is_file():
        raise MemlensError(
            f"{path} is not a Hugging Face checkpoint (no config.json). Point at the folder "
            "save_pretrained wrote, or train one with `memlens lm train`."
        )
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as e:
        raise MemlensError(
            f"{path}/config.json could not be read as a model config ({e})."
        ) from None
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    architectures = list(getattr(config, "architectures", None) or [])
    is_causal = config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(
        config, "is_encoder_decoder", False
    )
    if architectures:
        is_causal = is_causal and all(a in causal for a in architectures)
    if not is_causal:
        kind = ", ".join(architectures) or config.model_type
        raise MemlensError(
            f"{path} holds a {kind} model, not a causal language model (a decoder such as "
            "GPT2LMHeadModel or LlamaForCausalLM); memlens.lm audits models that generate text."
        )
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "some weights were not initialised" is raised below
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError) as e:
        raise MemlensError(f"{path}: the model weights could not be loaded ({e}).") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", []) if "lm_head" not in k]
    if missing:
        raise MemlensError(
            f"{path}: the weights lack {len(missing)} of the model's tensors (e.g. {missing[0]}); "
            "the checkpoint is incomplete or belongs to another architecture."
        )
    tokenizer = None
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise MemlensError(f"{path}: the tokenizer could not be loaded ({e}).") from None
        rows = model.get_input_embeddings().num_embeddings
        if len(tokenizer) > rows:
            raise MemlensError(
                f"{path}: the tokenizer has {len(tokenizer)} tokens but the model's embedding has "
                f"{rows} rows, so they were not trained together. Put the model's own tokenizer in "
                "the folder (or remove it and pass token ids)."
            )
    return model.eval(), tokenizer
