"""The verbatim-memorization filter (MemFree decoding) that Ippolito et al. show is not enough.

Ippolito, Tramèr, Nasr, Zhang, Jagielski, Lee, Choquette-Choo & Carlini, "Preventing Verbatim
Memorization in Language Models Gives a False Sense of Privacy" (INLG 2023; seed notes §3): put
every length-``n`` token window of the training corpus in a Bloom filter, and at each decoding
step forbid any next token that would complete an n-gram found in the filter. No output then
contains a training n-gram — yet the model still leaks the same records with small edits, or in
another style, which approximate measures (BLEU, edit and embedding similarity) catch.

* :class:`NgramBloomFilter` — the set of training n-grams in an ``rbloom.Bloom``.
* :class:`VerbatimBlocker` — a ``transformers.LogitsProcessor`` for ``model.generate`` and for
  :func:`memlens.lm.generate.greedy_continuations` (``logits_processor=``).

**Hashing.** An n-gram is encoded as the bytes of ``n`` little-endian uint32 token ids
(``np.asarray(ngram, "<u4").tobytes()``, 4·n bytes), and that byte string is hashed with BLAKE2b
(16-byte digest read as a signed little-endian 128-bit integer, the range ``rbloom`` takes). The
hash is deterministic across processes (Python's own ``hash`` of bytes is salted per process),
so a saved filter means the same thing when loaded. Token ids must lie in ``[0, 2**32)``.

**Window.** The blocker looks at the last ``n - 1`` tokens of ``input_ids`` — prompt included —
so no n-gram of *prompt + output* that ends inside the output is a training n-gram (stricter than
checking the output alone, which is what the paper's guarantee is about). Rows with fewer than
``n - 1`` tokens (only left padding before them) are checked with the pad ids in the window;
padding never appears in training, so this can only over-block, never leak.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from memlens.errors import DataError, MemlensError

try:  # a LogitsProcessor subclass when transformers is installed (memlens[lm]); else a plain base
    from transformers import LogitsProcessor as _Base
except ImportError:  # pragma: no cover
    _Base = object

_MAX_TOKEN = 2**32 - 1


def ngram_hash(key: bytes) -> int:
    """The Bloom hash of an encoded n-gram: BLAKE2b-128 as a signed little-endian integer."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "little", signed=True)


def encode_ngrams(ngrams) -> list[bytes]:
    """(M, n) token ids -> M keys: each row's ids as little-endian uint32 bytes."""
    a = np.ascontiguousarray(np.asarray(ngrams, dtype="<u4"))
    width = 4 * a.shape[1]
    raw = a.tobytes()
    return [raw[i : i + width] for i in range(0, len(raw), width)]


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise MemlensError(
            f"n must be an integer >= 2 (a blocked n-gram is n-1 context tokens plus the next "
            f"token); got {n!r}."
        )
    return int(n)


class NgramBloomFilter:
    """Every length-``n`` window of the training documents, in a Bloom filter.

    No false negatives: every training n-gram is reported present. False positives (absent
    n-grams reported present) occur at about ``false_positive_rate``; for a blocker they only
    forbid a harmless token, never let a training n-gram through.

    Args:
        documents_token_ids: the training documents as token-id sequences, exactly as the model
            saw them (e.g. ``[bos, *ids, eos]``). Windows never cross documents.
        n: the n-gram length, >= 2.
        false_positive_rate: the target rate, in (0, 1); the filter is sized for the number of
            *distinct* n-grams.

    >>> f = NgramBloomFilter([[5, 6, 7, 8], [6, 7, 9]], n=3)
    >>> [5, 6, 7] in f, [6, 7, 9] in f, len(f)
    (True, True, 3)
    >>> [7, 8, 6] in f  # would cross from document 0 into document 1
    False
    """

    def __init__(self, documents_token_ids, *, n: int, false_positive_rate: float = 1e-4):
        from rbloom import Bloom

        self.n = _check_n(n)
        if not 0 < float(false_positive_rate) < 1:
            raise MemlensError(
                f"false_positive_rate must be in (0, 1); got {false_positive_rate!r}."
            )
        self.false_positive_rate = float(false_positive_rate)
        windows = []
        n_docs = 0
        for i, doc in enumerate(documents_token_ids):
            n_docs += 1
            d = np.asarray(doc)
            if d.size == 0:
                continue
            if d.dtype.kind not in "iu" or d.ndim != 1:
                raise DataError(f"document {i} must be a 1-D sequence of integer token ids.")
            if d.min() < 0 or d.max() > _MAX_TOKEN:
                raise DataError(f"document {i} has token ids outside [0, 2**32).")
            if len(d) >= self.n:
                windows.append(np.lib.stride_tricks.sliding_window_view(d, self.n))
        if n_docs == 0:
            raise DataError("Cannot build an n-gram filter from an empty corpus (no documents).")
        if not windows:
            raise DataError(
                f"No document has {self.n} or more tokens, so the corpus has no {self.n}-grams; "
                "give longer documents or a smaller n."
            )
        distinct = np.unique(np.concatenate(windows).astype("<u4"), axis=0)  # (M, n)
        self.n_ngrams = len(distinct)
        self.bloom = Bloom(max(self.n_ngrams, 1), self.false_positive_rate, hash_func=ngram_hash)
        self.bloom.update(encode_ngrams(distinct))

    def __len__(self) -> int:
        """The number of distinct n-grams inserted."""
        return self.n_ngrams

    def __contains__(self, ngram) -> bool:
        a = np.asarray(ngram)
        if a.shape != (self.n,):
            raise DataError(f"expected an n-gram of {self.n} tokens; got shape {a.shape}.")
        if a.dtype.kind not in "iu" or a.min() < 0 or a.max() > _MAX_TOKEN:
            return False  # not a token sequence the corpus could hold
        return encode_ngrams(a[None])[0] in self.bloom

    def contains_many(self, ngrams) -> np.ndarray:
        """(M, n) token ids -> (M,) bool membership."""
        a = np.asarray(ngrams)
        if a.ndim != 2 or a.shape[1] != self.n:
            raise DataError(f"expected an (M, {self.n}) array of n-grams; got shape {a.shape}.")
        bloom = self.bloom
        return np.fromiter((k in bloom for k in encode_ngrams(a)), dtype=bool, count=len(a))

    def __repr__(self) -> str:
        return (
            f"NgramBloomFilter(n={self.n}, n_ngrams={self.n_ngrams:,}, "
            f"false_positive_rate={self.false_positive_rate:g})"
        )


class VerbatimBlocker(_Base):
    """MemFree decoding: forbid (−inf) every next token that would complete a training n-gram.

    For each row, the context is its last ``n - 1`` tokens of ``input_ids``; a candidate ``v``
    is blocked when ``context + [v]`` is in ``bloom``.

    ``top_k`` (default 32) makes the check *top-k aware*: candidates are checked in order of
    decreasing score, ``top_k`` at a time, until a chunk leaves at least one token unblocked;
    every token not checked is set to −inf as well. So every token left with a finite score has
    been checked — no output can complete a filtered n-gram, whatever the decoding — and greedy
    decoding picks exactly the best unblocked token of the full vocabulary, as full-vocabulary
    MemFree would (up to ties in score). Sampling, however, is restricted to the checked tokens
    (at least ``top_k``); pass ``top_k=None`` to check the whole vocabulary for sampling
    (exact, but about V/top_k times slower: each check is one Python-level Bloom lookup).

    Works as ``model.generate(..., logits_processor=LogitsProcessorList([blocker]))`` and as
    ``greedy_continuations(..., logits_processor=blocker)``. ``n_blocked`` counts the tokens it
    forbade (those it checked and found in the filter), for reports.

    >>> import torch
    >>> blocker = VerbatimBlocker(NgramBloomFilter([[1, 2, 3]], n=3), 3)
    >>> scores = torch.tensor([[0.0, 0.0, 0.0, 5.0, 1.0]])
    >>> blocker(torch.tensor([[0, 1, 2]]), scores).argmax(-1).tolist()  # 3 would make [1, 2, 3]
    [4]
    """

    def __init__(self, bloom: NgramBloomFilter, n: int | None = None, *, top_k: int | None = 32):
        n = bloom.n if n is None else _check_n(n)
        if n != bloom.n:
            raise MemlensError(f"The blocker's n = {n} differs from the filter's n = {bloom.n}.")
        if top_k is not None and (isinstance(top_k, bool) or int(top_k) < 1):
            raise MemlensError(f"top_k must be >= 1 or None (the whole vocabulary); got {top_k!r}.")
        self.bloom, self.n = bloom, n
        self.top_k = None if top_k is None else int(top_k)
        self.n_blocked = 0

    def _blocked(self, context: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """(B, n-1) contexts, (B, k) candidate ids -> (B, k) bool: completes a filtered n-gram."""
        b, k = candidates.shape
        grams = np.concatenate(
            [np.broadcast_to(context[:, None, :], (b, k, self.n - 1)), candidates[:, :, None]],
            axis=2,
        ).reshape(b * k, self.n)
        return self.bloom.contains_many(grams).reshape(b, k)

    def __call__(self, input_ids, scores):
        import torch

        ids = input_ids.detach().cpu().numpy()
        b, vocab = scores.shape
        if ids.shape[1] < self.n - 1:  # no full context anywhere yet: nothing can complete
            return scores
        context = ids[:, ids.shape[1] - (self.n - 1) :]  # (B, n-1)
        if self.top_k is None or self.top_k >= vocab:
            blocked = self._blocked(context, np.broadcast_to(np.arange(vocab), (b, vocab)))
            if blocked.all(axis=1).any():
                raise MemlensError("Every token of the vocabulary is blocked for some row.")
            self.n_blocked += int(blocked.sum())
            mask = torch.from_numpy(blocked).to(scores.device)
            return scores.masked_fill(mask, float("-inf"))
        order = torch.argsort(scores, dim=-1, descending=True).cpu().numpy()  # (B, V)
        keep = np.zeros((b, vocab), dtype=bool)  # checked and not blocked
        pending = np.arange(b)  # rows with no unblocked token yet
        start = 0
        while len(pending):
            if start >= vocab:
                raise MemlensError("Every token of the vocabulary is blocked for some row.")
            chunk = order[pending, start : start + self.top_k]  # (P, k)
            blocked = self._blocked(context[pending], chunk)
            self.n_blocked += int(blocked.sum())
            rows = np.broadcast_to(pending[:, None], chunk.shape)
            keep[rows[~blocked], chunk[~blocked]] = True
            pending = pending[blocked.all(axis=1)]
            start += self.top_k
        mask = torch.from_numpy(~keep).to(scores.device)
        return scores.masked_fill(mask, float("-inf"))


def emitted_training_ngrams(index, generations: Sequence[Sequence[int]], n: int) -> np.ndarray:
    """(N,) int: how many length-``n`` windows of each generation occur verbatim in the corpus.

    An exact check with a :class:`memlens.lm.index.CorpusIndex` (suffix array), independent of
    the Bloom filter — what validates the blocker.
    """
    return np.array([int(index.ngram_in_corpus_mask(np.asarray(g), n).sum()) for g in generations])
