"""Bottleneck adapters hooked into every block of a Hugging Face GPT-2, and knowledge memorization:
training only the adapters on an unlabelled domain corpus while the base model stays frozen.

PromptMize's knowledge adapter (Guo et al., arXiv 2302.04415) stores domain knowledge in added
parameters so the pre-trained model is untouched. Each adapter is Houlsby-style:
``h + up(gelu(down(h)))`` applied to a block's output, with ``up`` zero-initialized, so a fresh
adapter leaves the model's outputs exactly as they were (tests/table2text check this against the
bare model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch  # this module is the torch part of memlens.table2text (the package does not import it)

from memlens.errors import MemlensError

ADAPTER_NAME = "knowledge_adapter"  # each block's adapter submodule: transformer.h.<i>.knowledge_adapter


class Bottleneck(torch.nn.Module):
    """``h + up(gelu(down(h)))`` on (B, T, C) hidden states; ``up`` starts at zero, so a fresh
    adapter is the identity."""

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        self.down = torch.nn.Linear(width, bottleneck)
        self.up = torch.nn.Linear(bottleneck, width)
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.up.bias)

    def forward(self, h):  # (B, T, C) -> (B, T, C)
        return h + self.up(torch.nn.functional.gelu(self.down(h)))


def add_adapters(model, *, bottleneck: int = 32, seed: int = 0):
    """Insert one zero-initialized bottleneck adapter after each transformer block, in place.

    Each adapter is a submodule of its block (``transformer.h.<i>.knowledge_adapter``), so it trains,
    saves and deep-copies with the model; a forward hook on each block applies it. Returns ``model``.

    >>> from memlens.lm.model import tiny_gpt2
    >>> m = add_adapters(tiny_gpt2(50, n_layer=2, n_embd=16, n_head=2, n_positions=8), bottleneck=4)
    >>> len(adapter_parameters(m))  # down and up, weight and bias, per block
    8
    """
    blocks = getattr(getattr(model, "transformer", None), "h", None)
    if blocks is None:
        raise MemlensError(
            f"{type(model).__name__} has no model.transformer.h blocks; adapters are hooked into "
            "GPT-2-style models (GPT2LMHeadModel)."
        )
    if adapter_parameters(model):
        raise MemlensError("The model already has knowledge adapters; add them once.")
    if bottleneck < 1:
        raise MemlensError(f"The adapter bottleneck must be >= 1; got {bottleneck}.")
    width = model.config.n_embd
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for block in blocks:
            # a submodule of its block, so it trains, saves, loads and deep-copies with the model;
            # the hook finds it through the block it is called with (no closure over one copy)
            block.add_module(ADAPTER_NAME, Bottleneck(width, bottleneck))
            block.register_forward_hook(_apply_adapter)
    return model


def _apply_adapter(block, args, output):
    """Forward hook: the block's output through its adapter. GPT2Block returns a tensor
    (transformers 5) or a tuple whose first item is the hidden states (4.x)."""
    adapter = getattr(block, ADAPTER_NAME)
    if isinstance(output, tuple):
        return (adapter(output[0]), *output[1:])
    return adapter(output)


def adapter_parameters(model) -> list:
    """The adapters' parameters (empty list when the model has none)."""
    blocks = getattr(getattr(model, "transformer", None), "h", None) or []
    return [p for b in blocks if hasattr(b, ADAPTER_NAME) for p in getattr(b, ADAPTER_NAME).parameters()]


def freeze_base(model) -> None:
    """Make only the adapters trainable (the PromptMize knowledge pre-training setting)."""
    if not adapter_parameters(model):
        raise MemlensError("The model has no knowledge adapters; call add_adapters first.")
    own = {id(p) for p in adapter_parameters(model)}
    for p in model.parameters():
        p.requires_grad_(id(p) in own)


def unfreeze(model) -> None:
    """Make every parameter trainable again (few-shot fine-tuning trains the whole model)."""
    for p in model.parameters():
        p.requires_grad_(True)


def memorize_knowledge(
    model,
    tokenizer,
    corpus: Sequence[str],
    *,
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 1e-2,
    seq_len: int = 64,
    seed: int = 0,
    loss_spans: Sequence[Sequence[tuple[int, int]] | None] | None = None,
) -> np.ndarray:
    """Train only the adapters on the unlabelled corpus (causal LM loss), base frozen; return the
    per-step losses. The base model's weights are unchanged afterwards (a test checks this).

    ``loss_spans`` (optional, one entry per text): the character spans whose tokens carry the loss
    (:func:`span_labels`); ``None`` for a text puts the loss on all of it. Without it every token
    of every text is predicted (:func:`memlens.lm.model.train_lm`, windows of ``seq_len``).

    Returns:
        (S,) float array of step losses.
    """
    from memlens.lm.model import train_lm

    freeze_base(model)
    try:
        if loss_spans is None:
            return train_lm(
                model, tokenizer, corpus, epochs=epochs, batch_size=batch_size, lr=lr,
                seq_len=seq_len, seed=seed,
            )  # fmt: skip
        return _train_on_spans(model, span_labels(tokenizer, corpus, loss_spans), epochs=epochs,
                               batch_size=batch_size, lr=lr, seq_len=seq_len, seed=seed,
                               pad_id=tokenizer.pad_token_id or 0)  # fmt: skip
    finally:
        unfreeze(model)


def span_labels(tokenizer, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]] | None]):
    """Each text as ``[bos, …, eos]`` token ids and next-token labels: a token is a target when its
    characters overlap one of the text's spans (and the eos then too, when the text's spans are
    ``None``: the whole text is a target); every other label is -100.

    Returns:
        list of (ids, labels) pairs of int lists, ``len(labels) == len(ids)`` (``labels[0]`` is
        the bos's, always -100).
    """
    if len(texts) != len(spans):
        raise MemlensError(f"Got {len(texts)} texts but {len(spans)} span lists; give one per text.")
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    out = []
    for ids, offsets, text_spans in zip(enc["input_ids"], enc["offset_mapping"], spans, strict=True):
        if text_spans is None:
            labels = [-100, *ids, tokenizer.eos_token_id]
        else:
            hit = [any(a < e and b > s for s, e in text_spans) for a, b in offsets]
            labels = [-100, *(t if h else -100 for t, h in zip(ids, hit, strict=True)), -100]
        out.append(([bos, *ids, tokenizer.eos_token_id], labels))
    return out


def _train_on_spans(model, pairs, *, epochs: int, batch_size: int, lr: float, seq_len: int, seed: int, pad_id: int):
    """AdamW on (ids, labels) pairs, the same schedule as :func:`memlens.lm.model.train_lm` (5%
    linear warm-up, cosine decay, length-grouped shuffled batches); texts longer than ``seq_len``
    are cut at its end. Texts without any target still count as batch members (no loss)."""
    import math

    from memlens.lm.model import _pad, length_grouped_batches, optimizer_step

    pairs = [(ids[:seq_len], labels[:seq_len]) for ids, labels in pairs]
    rng = np.random.default_rng(seed)
    total = math.ceil(len(pairs) / batch_size) * epochs
    losses: list = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
        warmup = max(1, total // 20)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total))))
        )
        model.train()
        try:
            for _ in range(epochs):
                for rows in length_grouped_batches([len(p[0]) for p in pairs], batch_size, rng):
                    ids, mask = _pad([pairs[i][0] for i in rows], pad_id)  # (B, T)
                    labels, _ = _pad([pairs[i][1] for i in rows], -100)  # (B, T)
                    if (labels[:, 1:] == -100).all():
                        continue  # nothing to predict in this batch
                    logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
                    loss = torch.nn.functional.cross_entropy(
                        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
                    )
                    optimizer_step(model, opt, schedule, loss, losses)
        finally:
            model.eval()
    return np.asarray(losses)
