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
) -> np.ndarray:
    """Train only the adapters on the unlabelled corpus (causal LM loss), base frozen; return the
    per-step losses. The base model's weights are unchanged afterwards (a test checks this).

    Returns:
        (S,) float array of step losses.
    """
    from memlens.lm.model import train_lm

    freeze_base(model)
    try:
        return train_lm(
            model, tokenizer, corpus, epochs=epochs, batch_size=batch_size, lr=lr,
            seq_len=seq_len, seed=seed,
        )  # fmt: skip
    finally:
        unfreeze(model)
