"""Batched greedy decoding with transformers' cache object, against decoding with no cache at all.

tests/lm/test_model.py holds the batched decoder against ``model.generate`` one prefix at a time;
here the twin recomputes the whole sequence at every step (no cache, no padding), on two
architectures, and the decoder must not touch any API that transformers has deprecated.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from memlens.lm.generate import _new_cache, greedy_continuations
from memlens.lm.model import tiny_gpt2


def tiny_llama(vocab_size: int = 64, seed: int = 0):
    """A 2-layer Llama (rotary positions, grouped KV heads): another cache layout than GPT-2's."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        bos_token_id=0, eos_token_id=0, pad_token_id=1,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


def greedy_without_cache(model, prefixes, max_new_tokens):
    """The obvious loop: each prefix alone, the whole sequence re-run for every new token."""
    out = np.zeros((len(prefixes), max_new_tokens), dtype=np.int64)
    with torch.inference_mode():
        for i, p in enumerate(prefixes):
            seq = list(p)
            for t in range(max_new_tokens):
                logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
                seq.append(int(logits.argmax()))
                out[i, t] = seq[-1]
    return out


def random_prefixes(rng, vocab, n=9):
    """Prefixes of 1 to 12 tokens, so every batch is left-padded unevenly."""
    return [list(rng.integers(2, vocab, size=int(rng.integers(1, 13)))) for _ in range(n)]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_batched_cache_decoding_equals_recomputing_without_cache(arch):
    model = (
        tiny_gpt2(64, n_layer=2, n_embd=32, n_head=2, n_positions=64, seed=3)
        if arch == "gpt2"
        else tiny_llama()
    )
    prefixes = random_prefixes(np.random.default_rng(0), 64)
    want = greedy_without_cache(model, prefixes, 10)
    for batch_size in (4, 16):
        got = greedy_continuations(model, None, prefixes, max_new_tokens=10, batch_size=batch_size)
        np.testing.assert_array_equal(got, want)


def test_decoding_uses_no_deprecated_transformers_api():
    """A FutureWarning or DeprecationWarning from transformers (e.g. 5.x's `past_key_values is
    deprecated … removed in 5.40`) fails here, before the release that removes the API."""
    model = tiny_gpt2(64, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=FutureWarning)
        warnings.filterwarnings("error", category=DeprecationWarning, module="transformers")
        greedy_continuations(model, None, [[0, 5, 6], [0, 7]], max_new_tokens=4)


def test_the_cache_is_transformers_cache_object_under_the_current_argument_name():
    import inspect

    from transformers import DynamicCache

    model = tiny_gpt2(64, n_layer=2, n_embd=16, n_head=2, n_positions=32)
    cache, kwarg = _new_cache(model)
    assert isinstance(cache, DynamicCache)
    assert kwarg in inspect.signature(model.forward).parameters
    # the forward fills the object in place: two layers, three positions
    model(input_ids=torch.tensor([[0, 5, 6]]), use_cache=True, **{kwarg: cache})
    assert cache.get_seq_length() == 3
