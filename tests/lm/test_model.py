"""Tiny GPT-2: training, per-token log-probs, batched greedy decoding, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from memlens.errors import MemlensError
from memlens.lm.corpus import Corpus, insert_canaries, load_corpus, train_tokenizer
from memlens.lm.generate import greedy_continuations, greedy_one_by_one
from memlens.lm.model import (
    check_context,
    load_causal_lm,
    save_causal_lm,
    sequence_logprobs,
    tiny_gpt2,
    train_lm,
)

CONTEXT = 64


@pytest.fixture(scope="module")
def corpus():
    return insert_canaries(
        load_corpus("pydoc:12"), n_canaries=4, repeats=(1, 8), secret_digits=4, seed=0
    )


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return train_tokenizer(corpus, vocab_size=400)


@pytest.fixture(scope="module")
def trained(corpus, tokenizer):
    """A tiny GPT-2 after 20 steps, and its losses."""
    model = tiny_gpt2(len(tokenizer), n_layer=2, n_embd=32, n_head=2, n_positions=CONTEXT, seed=0)
    steps = []
    losses = train_lm(
        model, tokenizer, corpus, epochs=5, batch_size=8, lr=1e-2, seq_len=CONTEXT, seed=0,
        max_steps=20, progress=steps.append,
    )  # fmt: skip
    return model, losses, steps


def test_tiny_gpt2_config_and_seed():
    m = tiny_gpt2(300, n_positions=32, seed=1)
    c = m.config
    assert (c.vocab_size, c.n_positions, c.n_layer, c.n_embd, c.n_head) == (300, 32, 2, 64, 4)
    assert (c.bos_token_id, c.eos_token_id, c.pad_token_id) == (0, 0, 1)
    assert not m.training
    same = tiny_gpt2(300, n_positions=32, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), same.parameters(), strict=True))
    assert not torch.equal(
        m.transformer.wte.weight, tiny_gpt2(300, n_positions=32, seed=2).transformer.wte.weight
    )


def test_tiny_model_trains_and_loss_falls(trained):
    model, losses, steps = trained
    assert len(losses) == 20 and steps == [1] * 20 and np.isfinite(losses).all()
    assert losses[-5:].mean() < losses[:3].mean() - 0.5
    assert not model.training


def test_training_is_deterministic(corpus, tokenizer):
    def run():
        m = tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=32, seed=0)
        return train_lm(m, tokenizer, corpus, batch_size=4, seq_len=32, seed=3, max_steps=3)

    np.testing.assert_array_equal(run(), run())


def test_training_refuses_mismatch(corpus, tokenizer):
    small = tiny_gpt2(len(tokenizer) - 10, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    with pytest.raises(MemlensError, match="embedding has"):
        train_lm(small, tokenizer, corpus, seq_len=32, max_steps=1)
    with pytest.raises(MemlensError, match="context holds 32"):
        train_lm(
            tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=32),
            tokenizer,
            corpus,
            seq_len=64,
        )


def brute_force_logprobs(model, ids):
    """One sequence alone, float64 on the vocabulary: (T-1,) log-probs, means, variances."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].double()  # (T-1, V)
    logp = torch.log_softmax(logits, -1)
    token = logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    p = logp.exp()
    mean = (p * logp).sum(-1)
    var = (p * (logp - mean[:, None]) ** 2).sum(-1)  # the textbook form, not E[x^2] - E[x]^2
    return token.numpy(), mean.numpy(), var.numpy()


def test_sequence_logprobs_matches_brute_force(trained, tokenizer, corpus):
    model = trained[0]
    texts = [
        "x",
        "my social security number is 1234",
        corpus.documents[0][:100],
        "a b c d e f g",
        "  ",
    ]
    got = sequence_logprobs(model, tokenizer, texts, batch_size=2)
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert got.logprobs.shape == (5, max(lengths))
    np.testing.assert_array_equal(got.lengths, lengths)
    for i, text in enumerate(texts):
        ids = tokenizer(text)["input_ids"]  # bos + text
        want = brute_force_logprobs(model, ids)
        n = lengths[i]
        for array, expected in zip(got, want, strict=True):
            np.testing.assert_allclose(array[i, :n], expected, rtol=1e-4, atol=1e-4)
            assert np.isnan(array[i, n:]).all()
    assert (got.logprobs[~np.isnan(got.logprobs)] <= 0).all() and (
        got.var[~np.isnan(got.var)] >= 0
    ).all()
    # token ids are taken as given: the first token is context only
    ids = [tokenizer(t)["input_ids"] for t in texts]
    np.testing.assert_allclose(
        sequence_logprobs(model, None, ids).logprobs, got.logprobs, rtol=1e-5
    )


def test_sequence_logprobs_refuses_or_truncates_long_text(trained, tokenizer):
    model = trained[0]
    long = [list(range(2, 2 + CONTEXT + 5))]
    with pytest.raises(
        MemlensError, match=f"needs {CONTEXT + 5} tokens but the model's context holds {CONTEXT}"
    ):
        sequence_logprobs(model, tokenizer, long)
    assert sequence_logprobs(model, tokenizer, long, truncate=True).lengths.tolist() == [
        CONTEXT - 1
    ]
    with pytest.raises(MemlensError, match="outside the model's vocabulary"):
        sequence_logprobs(model, tokenizer, [[0, 10**6]])


def prefixes_for(model, tokenizer, corpus, rng):
    """Prefixes of mixed lengths (1 to 20 tokens) from the corpus, plus random ids."""
    docs = tokenizer(corpus.documents, add_special_tokens=True)["input_ids"]
    out = []
    for i in range(24):
        ids = docs[i % len(docs)]
        n = int(rng.integers(1, 21))
        start = int(rng.integers(0, max(1, len(ids) - n)))
        out.append(ids[start : start + n])
    out += [list(rng.integers(0, len(tokenizer), size=7)) for _ in range(4)]
    return out


@pytest.mark.parametrize("which", ["trained", "random-init"])
def test_batched_greedy_equals_one_by_one(trained, tokenizer, corpus, which):
    model = (
        trained[0]
        if which == "trained"
        else tiny_gpt2(len(tokenizer), n_layer=2, n_embd=32, n_head=2, n_positions=CONTEXT, seed=5)
    )
    prefixes = prefixes_for(model, tokenizer, corpus, np.random.default_rng(0))
    slow = greedy_one_by_one(model, prefixes, max_new_tokens=12)
    assert slow.shape == (len(prefixes), 12)
    for batch_size in (5, 64):
        fast = greedy_continuations(
            model, tokenizer, prefixes, max_new_tokens=12, batch_size=batch_size
        )
        np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(
        greedy_continuations(model, None, prefixes, max_new_tokens=12), slow
    )


def test_greedy_never_stops_at_end_of_text():
    """A model that always predicts end-of-text still yields exactly max_new_tokens tokens."""
    model = tiny_gpt2(50, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    with torch.no_grad():
        v = torch.randn(16, generator=torch.Generator().manual_seed(0))
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(v)
        model.transformer.wte.weight[0] = 10 * v  # eos (id 0) dominates every step
    want = np.zeros((2, 6), dtype=np.int64)
    np.testing.assert_array_equal(
        greedy_continuations(model, None, [[3, 4], [5]], max_new_tokens=6), want
    )
    np.testing.assert_array_equal(greedy_one_by_one(model, [[3, 4], [5]], max_new_tokens=6), want)


def test_over_long_prefix_refused(trained, tokenizer):
    model = trained[0]
    ok = [[0] * (CONTEXT - 8)]
    assert greedy_continuations(model, tokenizer, ok, max_new_tokens=8).shape == (1, 8)
    with pytest.raises(
        MemlensError, match=r"Prefix 1 \(57 tokens\) plus 8 new tokens needs 65 tokens"
    ):
        greedy_continuations(model, tokenizer, [[0], [0] * (CONTEXT - 7)], max_new_tokens=8)
    with pytest.raises(MemlensError, match="context holds"):
        greedy_one_by_one(model, [[0] * CONTEXT], max_new_tokens=1)
    with pytest.raises(MemlensError, match="empty"):
        greedy_continuations(model, tokenizer, [[]], max_new_tokens=1)
    with pytest.raises(MemlensError, match="vocabulary"):
        greedy_continuations(model, tokenizer, [[len(tokenizer) + 5]], max_new_tokens=1)
    check_context(model, CONTEXT)
    with pytest.raises(MemlensError):
        check_context(model, CONTEXT + 1)


def test_save_load_round_trip(trained, tokenizer, tmp_path):
    model = trained[0]
    path = save_causal_lm(model, tokenizer, tmp_path / "ckpt")
    again, tok = load_causal_lm(path)
    assert type(again).__name__ == "GPT2LMHeadModel" and not again.training
    assert tok("my pin")["input_ids"] == tokenizer("my pin")["input_ids"]
    texts = ["the assert statement", "my social security number is 0042"]
    np.testing.assert_allclose(
        sequence_logprobs(again, tok, texts).logprobs,
        sequence_logprobs(model, tokenizer, texts).logprobs,
        rtol=1e-6,
    )
    with pytest.raises(MemlensError, match="not empty"):
        save_causal_lm(model, tokenizer, path)
    bare = save_causal_lm(model, None, tmp_path / "no-tokenizer")
    assert load_causal_lm(bare)[1] is None


def test_bad_checkpoint_folders_refused(trained, tokenizer, tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    model = trained[0]
    with pytest.raises(MemlensError, match="No checkpoint folder"):
        load_causal_lm(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MemlensError, match="no config.json"):
        load_causal_lm(tmp_path / "empty")

    bert = BertForMaskedLM(
        BertConfig(
            vocab_size=100,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    bert.save_pretrained(tmp_path / "bert")
    with pytest.raises(MemlensError, match="BertForMaskedLM model, not a causal language model"):
        load_causal_lm(tmp_path / "bert")

    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "config.json").write_text("{not json")
    with pytest.raises(MemlensError, match="could not be read"):
        load_causal_lm(tmp_path / "garbled")

    no_weights = save_causal_lm(model, tokenizer, tmp_path / "no-weights")
    for f in no_weights.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(MemlensError, match="weights could not be loaded"):
        load_causal_lm(no_weights)

    small = tiny_gpt2(len(tokenizer) - 100, n_layer=1, n_embd=16, n_head=2, n_positions=32)
    mismatched = save_causal_lm(small, tokenizer, tmp_path / "mismatch")
    with pytest.raises(
        MemlensError,
        match=f"tokenizer has {len(tokenizer)} tokens but the model's embedding has {len(tokenizer) - 100} rows",
    ):
        load_causal_lm(mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"]


def test_corpus_of_strings_trains(tokenizer):
    model = tiny_gpt2(len(tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=32)
    losses = train_lm(
        model, tokenizer, Corpus("tiny", ["a", "b c"]).documents, batch_size=2, seq_len=8
    )
    assert len(losses) == 1
