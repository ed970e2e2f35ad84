"""MemFree decoding: the Bloom n-gram filter and the VerbatimBlocker logits processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memlens.errors import DataError, MemlensError
from memlens.lm.generate import greedy_continuations
from memlens.lm.index import CorpusIndex
from memlens.lm.model import tiny_gpt2
from memlens.lm.verbatim import (
    NgramBloomFilter,
    VerbatimBlocker,
    emitted_training_ngrams,
    encode_ngrams,
)

VOCAB, N_DOCS, DOC_LEN, PREFIX, NEW = 40, 6, 24, 4, 16


@pytest.fixture(scope="module")
def memorized():
    """A tiny GPT-2 that has memorized six random token documents (each starts with its own
    4-token prefix)."""
    rng = np.random.default_rng(0)
    docs = rng.integers(2, VOCAB, size=(N_DOCS, DOC_LEN))
    model = tiny_gpt2(VOCAB, n_layer=2, n_embd=64, n_head=4, n_positions=32, seed=0)
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ids = torch.tensor(docs)
    model.train()
    for _ in range(120):
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, docs


def test_filter_has_every_training_ngram_and_not_cross_document():
    docs = [[5, 6, 7, 8], [6, 7, 9], [1]]
    f = NgramBloomFilter(docs, n=3)
    assert len(f) == 3 and all(g in f for g in ([5, 6, 7], [6, 7, 8], [6, 7, 9]))
    assert [7, 8, 6] not in f and [-1, 2, 3] not in f
    assert f.contains_many([[5, 6, 7], [9, 9, 9]]).tolist() == [True, False]
    assert encode_ngrams([[1, 256]]) == [b"\x01\x00\x00\x00\x00\x01\x00\x00"]


@pytest.mark.parametrize("rate", [1e-2, 1e-4])
def test_false_positive_rate_is_roughly_as_configured(rate):
    rng = np.random.default_rng(1)
    docs = rng.integers(0, 1000, size=(200, 101))  # 20,000 4-grams
    f = NgramBloomFilter(docs, n=4, false_positive_rate=rate)
    present = {tuple(w) for d in docs for w in np.lib.stride_tricks.sliding_window_view(d, 4)}
    assert f.contains_many(np.array(sorted(present))).all()  # no false negatives
    queries = rng.integers(0, 1000, size=(100_000, 4))
    absent = np.array([q for q in queries if tuple(q) not in present])
    observed = f.contains_many(absent).mean()
    expected = rate * len(absent)
    assert observed * len(absent) <= 3 * expected + 5
    if rate >= 1e-2:
        assert observed >= rate / 3


def test_bad_input_is_refused():
    with pytest.raises(MemlensError, match="n must be an integer >= 2"):
        NgramBloomFilter([[1, 2, 3]], n=1)
    with pytest.raises(DataError, match="empty corpus"):
        NgramBloomFilter([], n=3)
    with pytest.raises(DataError, match="no 3-grams"):
        NgramBloomFilter([[], [1, 2]], n=3)
    with pytest.raises(DataError, match="outside"):
        NgramBloomFilter([[1, -2, 3]], n=2)
    with pytest.raises(MemlensError, match="false_positive_rate"):
        NgramBloomFilter([[1, 2, 3]], n=2, false_positive_rate=0)
    f = NgramBloomFilter([[1, 2, 3]], n=2)
    with pytest.raises(MemlensError, match="differs"):
        VerbatimBlocker(f, 3)
    with pytest.raises(MemlensError, match="top_k"):
        VerbatimBlocker(f, 2, top_k=0)


def test_top_k_blocking_picks_what_full_vocabulary_blocking_picks():
    rng = np.random.default_rng(2)
    docs = rng.integers(0, 30, size=(20, 30))  # about half of all 2-grams over 30 tokens
    f = NgramBloomFilter(docs, n=2)
    ids = torch.tensor(rng.integers(0, 30, size=(50, 5)))
    scores = torch.randn(50, 30)
    full = VerbatimBlocker(f, 2, top_k=None)(ids, scores.clone())
    chunked = VerbatimBlocker(f, 2, top_k=2)(ids, scores.clone())
    assert torch.equal(full.argmax(-1), chunked.argmax(-1))
    assert torch.isfinite(chunked).sum(-1).min() >= 1
    for row, token in zip(ids[:, -1].tolist(), chunked.argmax(-1).tolist(), strict=True):
        assert [row, token] not in f


def test_without_the_blocker_the_model_regurgitates(memorized):
    model, docs = memorized
    out = greedy_continuations(model, None, docs[:, :PREFIX], max_new_tokens=NEW)
    assert (out == docs[:, PREFIX : PREFIX + NEW]).all(axis=1).mean() >= 5 / 6
    index = CorpusIndex(docs)
    assert emitted_training_ngrams(index, out, 4).sum() > 0


@pytest.mark.parametrize("n", [3, 6])
def test_with_the_blocker_no_training_ngram_is_emitted(memorized, n):
    model, docs = memorized
    index = CorpusIndex(docs)  # exact suffix-array check, independent of the Bloom filter
    blocker = VerbatimBlocker(NgramBloomFilter(docs, n=n), n)
    out = greedy_continuations(
        model, None, docs[:, :PREFIX], max_new_tokens=NEW, logits_processor=blocker
    )
    assert blocker.n_blocked > 0
    assert emitted_training_ngrams(index, out, n).sum() == 0
    # prompt + output: no window ending in the output is a training n-gram either
    both = np.concatenate([docs[:, PREFIX - (n - 1) :][:, : n - 1], out], axis=1)
    assert emitted_training_ngrams(index, both, n).sum() == 0

    # the same processor drives transformers' own generate, to the same tokens
    from transformers import LogitsProcessorList

    prompt = torch.tensor(docs[:, :PREFIX])
    generated = model.generate(
        prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=NEW,
        eos_token_id=[], pad_token_id=1,
        logits_processor=LogitsProcessorList([VerbatimBlocker(blocker.bloom, n)]),
    )[:, PREFIX:].numpy()  # fmt: skip
    assert emitted_training_ngrams(index, generated, n).sum() == 0
    assert (generated == out).mean() >= 0.95
