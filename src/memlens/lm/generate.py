"""Greedy continuations of many prefixes at once: left padding, attention mask, KV cache.

Extraction (Carlini et al., ICLR 2023) asks, for thousands of training-set prefixes, what the
model continues with under greedy decoding. :func:`greedy_continuations` decodes a batch of
prefixes per forward pass with a hand-written loop over the key/value cache: the prompt is one
forward over the left-padded batch, then one single-token forward per new token. Position ids
count real tokens only, so each row sees exactly what it would see alone; the test suite checks
the output equals :func:`greedy_one_by_one` (``model.generate`` per prefix, unpadded).

Decoding never stops early: every row gets exactly ``max_new_tokens`` tokens, an end-of-text
token being just another token (cut at it if you want documents).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memlens.errors import MemlensError
from memlens.lm.model import _pad, check_context


def _check(model, prefixes: Sequence[Sequence[int]], max_new_tokens: int) -> list[list[int]]:
    if max_new_tokens < 1:
        raise MemlensError(f"max_new_tokens must be >= 1; got {max_new_tokens}.")
    rows = [list(map(int, p)) for p in prefixes]
    vocab = model.get_input_embeddings().num_embeddings
    for i, p in enumerate(rows):
        if not p:
            raise MemlensError(f"Prefix {i} is empty; give at least one token (e.g. bos).")
        if min(p) < 0 or max(p) >= vocab:
            raise MemlensError(
                f"Prefix {i} has token ids outside the model's vocabulary of {vocab}."
            )
        check_context(
            model,
            len(p) + max_new_tokens,
            what=f"Prefix {i} ({len(p)} tokens) plus {max_new_tokens} new tokens",
        )
    return rows


def greedy_continuations(
    model,
    tokenizer,
    prefixes: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    batch_size: int = 256,
    logits_processor=None,
) -> np.ndarray:
    """Greedy continuations of token-id prefixes, decoded ``batch_size`` at a time.

    Prefixes may differ in length; batches are formed from prefixes of similar length. The
    tokenizer only supplies the pad id (any id works: pads are masked) and may be ``None``.

    ``logits_processor`` (optional) is called like a ``transformers`` ``LogitsProcessor`` (a
    ``LogitsProcessorList`` works too) before each argmax: ``processor(input_ids, scores) ->
    scores`` with ``input_ids`` the (B, t) tokens so far, prefix included (left-padded with the
    pad id), and ``scores`` the (B, V) float logits of the next token; e.g.
    :class:`memlens.lm.verbatim.VerbatimBlocker`.

    Returns:
        (N, max_new_tokens) int64 array of generated token ids, row ``i`` for ``prefixes[i]``.

    >>> from memlens.lm.model import tiny_gpt2
    >>> m = tiny_gpt2(50, n_layer=1, n_embd=16, n_head=2, n_positions=16)
    >>> greedy_continuations(m, None, [[0, 5, 6], [0, 7]], max_new_tokens=4).shape
    (2, 4)
    """
    import torch

    rows = _check(model, prefixes, max_new_tokens)
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None) or 0
    out = np.zeros((len(rows), max_new_tokens), dtype=np.int64)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                batch = order[s : s + batch_size]
                ids, mask = _pad([rows[i] for i in batch], pad, left=True)  # (B, P)
                out[batch] = _greedy_batch(
                    model, ids, mask, max_new_tokens, logits_processor
                ).numpy()
    finally:
        model.train(was_training)
    return out


def _new_cache(model):
    """An empty ``DynamicCache`` for ``model`` and the name of the forward argument that takes it.

    The cache object is the API transformers supports from 4.52 on (GPT-2 took only tuples before);
    transformers 5 renamed the argument from ``past_key_values`` to ``cache`` (the old name warns,
    and goes in 5.40). Given the model's config (4.56 on), the cache lays out its layers as the
    model needs (e.g. sliding-window layers).
    """
    import inspect

    from transformers import DynamicCache

    takes = inspect.signature(model.forward).parameters
    kwarg = "cache" if "cache" in takes else "past_key_values"
    if "config" in inspect.signature(DynamicCache).parameters:
        return DynamicCache(config=model.config), kwarg
    return DynamicCache(), kwarg


def _greedy_batch(model, ids, mask, n_new: int, processor=None):
    """(B, P) left-padded ids and mask -> (B, n_new) greedy tokens, with the KV cache."""
    import torch

    def pick(logits, so_far):  # (B, V) last-position logits -> (B,) next tokens
        if processor is not None:
            logits = processor(so_far, logits.float())
        return logits.argmax(-1)

    positions = (mask.cumsum(-1) - 1).clamp_min(0)  # (B, P): real tokens count from 0
    cache, cache_kwarg = _new_cache(model)  # filled in place by every forward below
    result = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
        logits_to_keep=1, **{cache_kwarg: cache},
    )  # fmt: skip
    # logits of the last position only: (B, 1, V)
    token = pick(result.logits[:, -1], ids)  # (B,)
    tokens = [token]
    position = positions[:, -1:]  # (B, 1)
    ones = torch.ones((len(ids), 1), dtype=mask.dtype)
    for _ in range(n_new - 1):
        mask = torch.cat([mask, ones], dim=1)  # (B, P + t)
        position = position + 1
        result = model(
            input_ids=token[:, None], attention_mask=mask, position_ids=position,
            use_cache=True, logits_to_keep=1, **{cache_kwarg: cache},
        )  # fmt: skip
        so_far = None if processor is None else torch.cat([ids, torch.stack(tokens, 1)], 1)
        token = pick(result.logits[:, -1], so_far)
        tokens.append(token)
    return torch.stack(tokens, dim=1)  # (B, n_new)


def greedy_one_by_one(
    model, prefixes: Sequence[Sequence[int]], *, max_new_tokens: int
) -> np.ndarray:
    """The slow, obviously correct twin: ``model.generate`` on each prefix alone, no padding.

    Returns:
        (N, max_new_tokens) int64 array, as :func:`greedy_continuations`.
    """
    import torch

    rows = _check(model, prefixes, max_new_tokens)
    options = dict(
        do_sample=False,
        max_new_tokens=max_new_tokens,
        eos_token_id=[],  # never stop early (None would fall back to the model's eos)
        pad_token_id=getattr(model.config, "pad_token_id", None) or 0,
    )
    out = np.zeros((len(rows), max_new_tokens), dtype=np.int64)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i, p in enumerate(rows):
                ids = torch.tensor([p])
                generated = model.generate(ids, attention_mask=torch.ones_like(ids), **options)
                new = generated[0, len(p) :]
                if len(new) != max_new_tokens:
                    raise MemlensError(
                        f"generate stopped after {len(new)} of {max_new_tokens} tokens."
                    )
                out[i] = new.numpy()
    finally:
        model.train(was_training)
    return out
