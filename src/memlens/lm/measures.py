"""Memorization measures for language models: pure functions of arrays (numpy and scipy only).

Method notes: ``shared/papers/lm-generative-ssl.md`` §3 (approximate memorization, Ippolito et al.
2023) and §5 (counterfactual memorization, extractability, exposure, membership scores).

Conventions shared by every function here:

- **Per-token log-probabilities** are one ``(N, T)`` float array, ``token_logprobs[i, t] =
  log p(x_{t+1} | x_{<=t})`` of sequence ``i``'s actual next token, in nats or any other base used
  consistently. Sequences shorter than ``T`` are **NaN-padded on the right**; NaN anywhere else, an
  all-NaN row, ``inf`` or a value above 0 is a ``ValueError``. As in the Min-K% and Min-K%++
  reference code the first token of a text has no log-probability (nothing predicts it), so a text
  of ``n`` tokens gives ``n - 1`` values. :func:`pad_logprobs` turns a list of 1-D arrays into this
  layout.
- **Membership scores** return ``(N,)`` floats where **higher = more likely a member**
  (seed notes §5d), so they plug into :func:`memlens.estimate.roc_curve` unchanged.
- **Token sequences** (extraction, edit similarity, BLEU) are compared pair by pair: ``a[i]``
  against ``b[i]``.
- Options are keyword-only; every bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import special, stats

from memlens.estimate import MemorizationScores, memorization_scores

LOGPROB_SLACK = 1e-6
"""Largest positive log-probability accepted (float32 log-softmax can overshoot 0 by rounding)."""

VAR_FLOOR = 1e-12
"""Lower bound on Min-K%++'s per-token variance sigma^2 (so sigma >= 1e-6): a next-token
distribution with all its mass on one token has variance 0 and the reference code divides by 0."""

__all__ = [
    "bleu",
    "counterfactual_memorization",
    "edit_distance",
    "edit_similarity",
    "exposure_chance",
    "exposure_exact",
    "exposure_skew_normal",
    "extractable",
    "k_extractable_rate",
    "loss_score",
    "min_k_plus_plus_score",
    "min_k_score",
    "next_token_moments",
    "pad_logprobs",
    "reference_ratio_score",
    "shortest_extracting_prefix",
    "zlib_score",
]


# --------------------------------------------------------------------------------------------
# validation


def _as_token_logprobs(x, *, name: str = "token_logprobs", upper: bool = True) -> np.ndarray:
    """Check the (N, T) right-NaN-padded layout; returns float64."""
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ValueError(
            f"{name} must be one (N, T) float array, NaN-padded on the right; for a list of "
            f"1-D arrays of different lengths use pad_logprobs({name}) first"
        )
    if arr.dtype.kind not in "biuf" or arr.dtype == np.bool_:
        raise ValueError(f"{name} must be a float array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (sequences, tokens), NaN-padded on the right; got shape "
            f"{arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no sequences (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no tokens (shape {arr.shape}); sequences must be non-empty")
    if np.isinf(arr).any():
        raise ValueError(
            f"{name} contains inf; a log-probability of -inf means the model gave the token "
            f"probability 0: clip it first, e.g. np.maximum({name}, -100.0)"
        )
    valid = ~np.isnan(arr)
    holes = ~valid[:, :-1] & valid[:, 1:]  # a NaN followed by a value
    if holes.any():
        row = int(np.flatnonzero(holes.any(axis=1))[0])
        raise ValueError(
            f"{name} row {row} has NaN before a value; NaN is only allowed as padding at the "
            f"right end of a sequence"
        )
    empty = ~valid.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{name} row {int(np.flatnonzero(empty)[0])} is all NaN (an empty sequence); every "
            f"sequence needs at least one token log-probability"
        )
    if upper and valid.any() and np.nanmax(arr) > LOGPROB_SLACK:
        raise ValueError(
            f"{name} must be log-probabilities (<= 0), got a maximum of {np.nanmax(arr):g}; "
            f"pass log p, not -log p or a loss"
        )
    return arr


def _as_k(k) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
        raise ValueError(f"k must be a number in (0, 1], got {k!r}")
    if not 0.0 < k <= 1.0:
        raise ValueError(
            f"k must be a fraction in (0, 1] (0.2 = the lowest 20% of tokens), got {k}"
        )
    return float(k)


def _lengths(arr: np.ndarray) -> np.ndarray:
    return (~np.isnan(arr)).sum(axis=1)  # (N,)


def _as_tokens(x, *, name: str) -> np.ndarray:
    """A 2-D integer array of token ids, at least one column."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array of token ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (sequences, tokens), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need >= 1 sequence of >= 1 token")
    return arr


def _as_sequence_batch(x, *, name: str, allow_str: bool) -> list:
    """A batch of sequences: a 2-D array (rows) or a list of str / 1-D sequences of tokens."""
    if isinstance(x, (str, bytes)):
        raise ValueError(
            f"{name} must be a batch of sequences (a list, or a 2-D array), got one "
            f"{type(x).__name__}; wrap a single pair in lists: [{name}]"
        )
    if isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(
                f"{name} as an array must be 2-D (sequences, tokens), got shape {x.shape}"
            )
        return x.tolist()
    try:
        items = list(x)
    except TypeError:
        raise ValueError(f"{name} must be a batch of sequences, got {type(x).__name__}") from None
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not allow_str:
                raise ValueError(
                    f"{name}[{i}] is a string; BLEU compares token sequences, so tokenize "
                    f"first (e.g. text.split() or a tokenizer's ids)"
                )
            out.append(item)
        elif isinstance(item, np.ndarray):
            if item.ndim != 1:
                raise ValueError(f"{name}[{i}] must be 1-D, got shape {item.shape}")
            out.append(item.tolist())
        else:
            try:
                out.append(list(item))
            except TypeError:
                raise ValueError(
                    f"{name}[{i}] must be a sequence of tokens, got {type(item).__name__}"
                ) from None
    return out


def _pairs(a, b, *, names: tuple[str, str], allow_str: bool) -> tuple[list, list]:
    left = _as_sequence_batch(a, name=names[0], allow_str=allow_str)
    right = _as_sequence_batch(b, name=names[1], allow_str=allow_str)
    if len(left) != len(right):
        raise ValueError(
            f"{names[0]} has {len(left)} sequences but {names[1]} has {len(right)}; they are "
            f"compared pair by pair"
        )
    if not left:
        raise ValueError(f"{names[0]} and {names[1]} are empty batches")
    return left, right


# --------------------------------------------------------------------------------------------
# membership scores (seed notes §5d): higher = more likely a member


def pad_logprobs(sequences: Sequence) -> np.ndarray:
    """Stack 1-D per-token log-probability arrays into the (N, T) right-NaN-padded layout.

    Args:
        sequences: N array-likes of shape (T_i,), each with T_i >= 1.

    Returns:
        (N, max T_i) float64 array, NaN after each sequence's end.

    Example:
        >>> pad_logprobs([[-1.0, -2.0], [-0.5]]).tolist()
        [[-1.0, -2.0], [-0.5, nan]]
    """
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        return _as_token_logprobs(sequences, name="sequences")
    rows = [np.asarray(s, dtype=np.float64) for s in sequences]
    if not rows:
        raise ValueError("sequences is empty; need at least one sequence")
    for i, r in enumerate(rows):
        if r.ndim != 1:
            raise ValueError(f"sequences[{i}] must be 1-D, got shape {r.shape}")
        if r.size == 0:
            raise ValueError(f"sequences[{i}] is empty; every sequence needs >= 1 log-probability")
        if np.isnan(r).any():
            raise ValueError(f"sequences[{i}] contains NaN; NaN is reserved for padding")
    out = np.full((len(rows), max(r.size for r in rows)), np.nan)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return _as_token_logprobs(out, name="sequences")


def loss_score(token_logprobs) -> np.ndarray:
    """Mean per-token log-probability, i.e. minus the mean loss (Yeom et al. 2018; §5d "Loss").

    Args:
        token_logprobs: (N, T) log p of each actual next token, NaN-padded on the right.

    Returns:
        (N,) mean over each sequence's tokens; higher = more likely a member.

    Example:
        >>> loss_score(np.array([[-1.0, -3.0], [-0.5, np.nan]])).tolist()
        [-2.0, -0.5]
    """
    arr = _as_token_logprobs(token_logprobs)
    return np.nansum(arr, axis=1) / _lengths(arr)


def zlib_score(token_logprobs, texts: Sequence) -> np.ndarray:
    """Mean log-likelihood divided by the zlib-compressed size of the text in bytes.

    Carlini et al., "Extracting Training Data from Large Language Models" (USENIX Sec 2021):
    the ratio of the target model's log-perplexity to the text's zlib entropy, which discounts
    texts that are likely only because they are repetitive. Sign: this returns
    ``mean(log p) / len(zlib.compress(text))``, i.e. **minus** Carlini's ratio (whose lower
    values mean "member"), so that higher = more likely a member, exactly as the Min-K%++
    reference code (``zjysteven/mink-plus-plus`` ``run.py``) computes it. ``str`` texts are
    UTF-8 encoded; ``zlib.compress`` runs at its default level.

    Args:
        token_logprobs: (N, T) log p of each actual next token, NaN-padded on the right.
        texts: N ``str`` or ``bytes``, the text each row scores.

    Returns:
        (N,) scores; higher = more likely a member.

    Example:
        >>> lp = np.array([[-2.0, -2.0]])
        >>> zlib_score(lp, ["ab"]).tolist() == [-2.0 / len(zlib.compress(b"ab"))]
        True
    """
    arr = _as_token_logprobs(token_logprobs)
    if isinstance(texts, (str, bytes)):
        raise ValueError("texts must be a sequence of N texts, got a single text; wrap it: [text]")
    texts = list(texts)
    if len(texts) != arr.shape[0]:
        raise ValueError(
            f"texts has {len(texts)} entries but token_logprobs has {arr.shape[0]} rows"
        )
    sizes = np.empty(len(texts))
    for i, t in enumerate(texts):
        if isinstance(t, str):
            t = t.encode("utf-8")
        elif not isinstance(t, (bytes, bytearray)):
            raise ValueError(f"texts[{i}] must be str or bytes, got {type(t).__name__}")
        sizes[i] = len(zlib.compress(bytes(t)))
    return loss_score(arr) / sizes


def _mean_lowest(values: np.ndarray, k: float) -> np.ndarray:
    """Mean of the floor(k * T_i) (at least 1) smallest values of each right-NaN-padded row."""
    lengths = _lengths(values)  # (N,)
    # the reference code's int(len * ratio), computed in the same float arithmetic
    n_low = np.maximum(np.floor(lengths * k), 1).astype(np.int64)  # (N,)
    ordered = np.sort(values, axis=1)  # NaN sorts last, (N, T)
    take = np.arange(values.shape[1]) < n_low[:, None]  # (N, T)
    return np.where(take, ordered, 0.0).sum(axis=1) / n_low


def min_k_score(token_logprobs, *, k: float = 0.2) -> np.ndarray:
    """Min-K% Prob: the mean of a sequence's lowest k fraction of token log-probabilities.

    Shi et al., "Detecting Pretraining Data from Large Language Models" (ICLR 2024): a member
    has fewer outlier tokens of very low probability. Each sequence of T_i tokens keeps its
    ``max(1, floor(k * T_i))`` smallest log-probabilities (the reference code's
    ``int(len * ratio)``, except that it never keeps zero tokens); ``k=1`` gives
    :func:`loss_score`.

    Args:
        token_logprobs: (N, T) log p of each actual next token, NaN-padded on the right.
        k: fraction of tokens kept, in (0, 1]; the paper recommends 0.2.

    Returns:
        (N,) scores; higher = more likely a member.

    Example:
        >>> lp = np.array([[-0.1, -5.0, -0.2, -3.0, -0.1]])
        >>> min_k_score(lp, k=0.4).tolist()
        [-4.0]
    """
    k = _as_k(k)
    return _mean_lowest(_as_token_logprobs(token_logprobs), k)


def next_token_moments(vocab_logprobs) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of log p(z) under z ~ p, for each next-token distribution.

    The two statistics Min-K%++ normalizes by (Zhang et al., ICLR 2025; reference code
    ``zjysteven/mink-plus-plus`` ``run.py``): ``mu = sum_z p(z) log p(z)`` (minus the entropy)
    and ``var = sum_z p(z) (log p(z) - mu)^2``. A numpy reference for what a model wrapper
    computes on the accelerator, one position at a time.

    Args:
        vocab_logprobs: (..., V) logits or log-probabilities over the vocabulary; they are
            normalized here with a log-softmax, so raw logits are fine.

    Returns:
        ``(mean, var)``, each of shape (...).

    Example:
        >>> mu, var = next_token_moments(np.log([[0.5, 0.5], [0.25, 0.75]]))
        >>> np.round(mu, 6).tolist(), np.round(var, 6).tolist()
        ([-0.693147, -0.562335], [0.0, 0.226303])
    """
    arr = np.asarray(vocab_logprobs)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise ValueError(f"vocab_logprobs must be a float array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"vocab_logprobs needs a last (vocabulary) axis, got shape {arr.shape}")
    if np.isnan(arr).any() or np.isposinf(arr).any():
        raise ValueError("vocab_logprobs contains NaN or +inf")
    logp = special.log_softmax(arr, axis=-1)  # (..., V)
    p = np.exp(logp)
    plogp = np.where(p > 0, p * logp, 0.0)  # 0 log 0 = 0
    mu = plogp.sum(axis=-1)
    dev = np.where(p > 0, logp - mu[..., None], 0.0)
    var = (p * dev**2).sum(axis=-1)
    return mu, var


def min_k_plus_plus_score(
    token_logprobs, token_logprob_mean, token_logprob_var, *, k: float = 0.2
) -> np.ndarray:
    """Min-K%++: Min-K% on token log-probabilities standardized by the model's own distribution.

    Zhang et al., "Min-K%++: Improved Baseline for Detecting Pre-Training Data from Large
    Language Models" (ICLR 2025): training pushes a member's tokens towards local maxima of the
    likelihood, so each token's log-probability is compared with what the model expected at
    that position, ``z_t = (log p(x_t) - mu_t) / sigma_t`` with ``mu_t``, ``sigma_t^2`` the mean
    and variance of ``log p(z)`` for ``z ~ p(. | x_<t)`` (:func:`next_token_moments`); the score
    is the mean of the lowest k fraction of ``z_t`` (same count as :func:`min_k_score`).
    ``sigma_t^2`` is floored at :data:`VAR_FLOOR`; variances down to -1e-6 (rounding in
    ``E[x^2] - mu^2``) are read as 0.

    Args:
        token_logprobs: (N, T) log p of each actual next token, NaN-padded on the right.
        token_logprob_mean: (N, T) mu_t, NaN exactly where ``token_logprobs`` is.
        token_logprob_var: (N, T) sigma_t^2 >= 0, NaN exactly where ``token_logprobs`` is.
        k: fraction of tokens kept, in (0, 1]; the paper uses 0.2.

    Returns:
        (N,) scores; higher = more likely a member.

    Example:
        >>> lp = np.log([[0.5, 0.25]])
        >>> mu, var = np.array([[-0.5, -1.0]]), np.array([[0.25, 1.0]])
        >>> np.round(min_k_plus_plus_score(lp, mu, var, k=0.5), 4).tolist()
        [-0.3863]
    """
    k = _as_k(k)
    lp = _as_token_logprobs(token_logprobs)
    mu = _as_token_logprobs(token_logprob_mean, name="token_logprob_mean", upper=False)
    var = _as_token_logprobs(token_logprob_var, name="token_logprob_var", upper=False)
    for name, other in (("token_logprob_mean", mu), ("token_logprob_var", var)):
        if other.shape != lp.shape:
            raise ValueError(
                f"{name} has shape {other.shape} but token_logprobs has {lp.shape}; give one "
                f"value per token position"
            )
        if not np.array_equal(np.isnan(other), np.isnan(lp)):
            raise ValueError(f"{name} must be NaN exactly where token_logprobs is (the padding)")
    if np.nanmin(var) < -1e-6:
        raise ValueError(f"token_logprob_var must be >= 0, got a minimum of {np.nanmin(var):g}")
    if np.nanmax(mu) > LOGPROB_SLACK:
        raise ValueError(
            f"token_logprob_mean is a mean of log-probabilities, so <= 0; got a maximum of "
            f"{np.nanmax(mu):g}"
        )
    z = (lp - mu) / np.sqrt(np.maximum(var, VAR_FLOOR))  # (N, T), NaN stays NaN
    return _mean_lowest(z, k)


def reference_ratio_score(
    target_logprobs, reference_logprobs, *, reduce: str = "mean"
) -> np.ndarray:
    """Target-model log-likelihood minus a reference model's on the same texts.

    Carlini et al. (USENIX Sec 2021) compare the target with a smaller reference model, so that
    texts any model finds easy are discounted; in difference form (``log p_target -
    log p_reference``, as MIMIR's reference attack and Watson et al.'s difficulty calibration)
    rather than Carlini's ratio of log-perplexities, which has no fixed sign convention.

    Args:
        target_logprobs: (N, T) per-token log-probabilities under the target model, NaN-padded.
        reference_logprobs: (N, T') the same under the reference model; T' may differ from T
            (another tokenizer).
        reduce: ``"mean"`` (default): difference of mean per-token log-probabilities, i.e.
            ``loss_score(target) - loss_score(reference)``; ``"sum"``: difference of total
            log-likelihoods, the log-likelihood ratio of the text, which is the one to use when
            the two models tokenize differently.

    Returns:
        (N,) scores; higher = more likely a member.

    Example:
        >>> t = np.array([[-1.0, -1.0]]); r = np.array([[-3.0, -2.0]])
        >>> reference_ratio_score(t, r).tolist(), reference_ratio_score(t, r, reduce="sum").tolist()
        ([1.5], [3.0])
    """
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    t = _as_token_logprobs(target_logprobs, name="target_logprobs")
    r = _as_token_logprobs(reference_logprobs, name="reference_logprobs")
    if t.shape[0] != r.shape[0]:
        raise ValueError(
            f"target_logprobs has {t.shape[0]} sequences but reference_logprobs has {r.shape[0]}"
        )
    if reduce == "sum":
        return np.nansum(t, axis=1) - np.nansum(r, axis=1)
    return loss_score(t) - loss_score(r)


# --------------------------------------------------------------------------------------------
# extraction (seed notes §5b)


def extractable(generated, reference) -> np.ndarray:
    """Whether each greedy continuation reproduces the true suffix exactly (verbatim).

    Carlini et al., "Quantifying Memorization Across Neural Language Models" (ICLR 2023): a
    suffix is extractable with k tokens of context when greedy decoding from its k-token
    training prefix emits it token for token.

    Args:
        generated: (N, L) int token ids the model generated after each prefix.
        reference: (N, L) int, the true suffix from the training data.

    Returns:
        (N,) bool, True where all L tokens match.

    Example:
        >>> extractable(np.array([[1, 2, 3], [1, 2, 4]]), np.array([[1, 2, 3], [1, 2, 3]])).tolist()
        [True, False]
    """
    gen = _as_tokens(generated, name="generated")
    ref = _as_tokens(reference, name="reference")
    if gen.shape != ref.shape:
        raise ValueError(
            f"generated has shape {gen.shape} but reference has {ref.shape}; generate exactly "
            f"as many tokens as the suffix has"
        )
    return (gen == ref).all(axis=1)


def _by_prefix(generated, reference) -> np.ndarray:
    gen = np.asarray(generated)
    if gen.dtype.kind not in "iu":
        raise ValueError(f"generated must be an integer array of token ids, got dtype {gen.dtype}")
    if gen.ndim != 3:
        raise ValueError(
            f"generated must be 3-D (prefix lengths, sequences, tokens), got shape {gen.shape}"
        )
    if gen.shape[0] == 0:
        raise ValueError("generated has no prefix lengths (axis 0 is empty)")
    ref = _as_tokens(reference, name="reference")
    if gen.shape[1:] != ref.shape:
        raise ValueError(
            f"generated has shape {gen.shape}, so each prefix length gives {gen.shape[1:]}, but "
            f"reference has {ref.shape}"
        )
    return (gen == ref[None]).all(axis=2)  # (K, N)


def k_extractable_rate(generated, reference) -> np.ndarray:
    """Fraction of sequences extractable, for each prefix length k.

    Carlini et al. (ICLR 2023) report this against k (their k in {50, 100, 200, 500}).

    Args:
        generated: (K, N, L) int, ``generated[j]`` = greedy continuations after the j-th prefix
            length (prefixes end where the suffix starts, so only their length differs).
        reference: (N, L) int, the true suffixes.

    Returns:
        (K,) float in [0, 1].

    Example:
        >>> ref = np.array([[5, 6], [7, 8]])
        >>> gen = np.array([[[5, 6], [0, 0]], [[5, 6], [7, 8]]])
        >>> k_extractable_rate(gen, ref).tolist()
        [0.5, 1.0]
    """
    return _by_prefix(generated, reference).mean(axis=1)


def shortest_extracting_prefix(generated, reference, *, prefix_lengths) -> np.ndarray:
    """The shortest prefix length whose greedy continuation reproduced the suffix, per sequence.

    Summarizes Carlini et al.'s (ICLR 2023) sweep over prefix lengths in one column per text
    (``extractable_at_k``): the least context an attacker needed.

    Args:
        generated: (K, N, L) int, as for :func:`k_extractable_rate`.
        reference: (N, L) int, the true suffixes.
        prefix_lengths: K distinct positive ints, the prefix length behind ``generated[j]``.

    Returns:
        (N,) int64: the smallest extracting prefix length, or -1 where none extracted.

    Example:
        >>> ref = np.array([[5, 6], [7, 8]])
        >>> gen = np.array([[[5, 6], [0, 0]], [[5, 6], [1, 8]]])
        >>> shortest_extracting_prefix(gen, ref, prefix_lengths=[8, 4]).tolist()
        [4, -1]
    """
    hit = _by_prefix(generated, reference)  # (K, N)
    ks = np.asarray(prefix_lengths)
    if ks.dtype.kind not in "iu" or ks.shape != (hit.shape[0],):
        raise ValueError(
            f"prefix_lengths must be {hit.shape[0]} integers (one per row of generated), got "
            f"{prefix_lengths!r}"
        )
    if (ks < 1).any() or np.unique(ks).size != ks.size:
        raise ValueError(f"prefix_lengths must be distinct positive integers, got {ks.tolist()}")
    big = np.iinfo(np.int64).max
    best = np.where(hit, ks.astype(np.int64)[:, None], big).min(axis=0)  # (N,)
    return np.where(best == big, -1, best)


# --------------------------------------------------------------------------------------------
# approximate memorization (seed notes §3)


def _encode_batch(left: list, right: list) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Map strings to code points and other tokens to ids of one shared vocabulary."""
    vocab: dict = {}
    enc = []
    for side, name in ((left, "a"), (right, "b")):
        rows = []
        for i, s in enumerate(side):
            if isinstance(s, str):
                rows.append(np.frombuffer(s.encode("utf-32-le"), dtype="<u4").astype(np.int64))
                continue
            try:
                rows.append(np.array([vocab.setdefault(t, len(vocab)) for t in s], np.int64))
            except TypeError:
                raise ValueError(f"{name}[{i}] holds unhashable tokens") from None
        enc.append(rows)
    for i, (x, y) in enumerate(zip(left, right, strict=True)):
        if isinstance(x, str) != isinstance(y, str):
            raise ValueError(
                f"pair {i} compares a string with a token sequence; compare like with like"
            )
    return enc[0], enc[1]


def _levenshtein_batch(left: list[np.ndarray], right: list[np.ndarray]) -> np.ndarray:
    """Levenshtein distances of N pairs at once: one numpy step per row of the DP table.

    Row i of the table from row i-1: ``E[j] = min(D[i-1, j] + 1, D[i-1, j-1] + cost)`` and
    ``D[i, j] = min(E[j], D[i, j-1] + 1) = min_{j' <= j} (E[j'] + j - j')``, a running minimum.
    Pairs of different lengths share the padded table; cells beyond a pair's lengths never
    feed back into the cells it reads.
    """
    n = len(left)
    la = np.array([x.size for x in left], dtype=np.int64)
    lb = np.array([y.size for y in right], dtype=np.int64)
    width = int(lb.max()) + 1
    a = np.zeros((n, max(int(la.max()), 1)), dtype=np.int64)
    b = np.zeros((n, width - 1), dtype=np.int64)
    for i in range(n):
        a[i, : la[i]] = left[i]
        b[i, : lb[i]] = right[i]
    cols = np.arange(width)
    prev = np.broadcast_to(cols, (n, width)).copy()  # D[0, j] = j, (n, width)
    out = np.where(la == 0, lb, 0)
    for i in range(1, int(la.max()) + 1):
        cost = (a[:, i - 1 : i] != b).astype(np.int64)  # (n, width - 1)
        e = np.empty_like(prev)
        e[:, 0] = i
        e[:, 1:] = np.minimum(prev[:, 1:] + 1, prev[:, :-1] + cost)
        prev = np.minimum.accumulate(e - cols, axis=1) + cols  # D[i, :]
        rows = np.flatnonzero(la == i)
        out[rows] = prev[rows, lb[rows]]
    return out


def edit_distance(a, b) -> np.ndarray:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions) of each pair.

    Args:
        a: batch of N sequences: a 2-D int array (one sequence per row), or a list whose items
            are strings (compared character by character) or sequences of hashable tokens
            (token ids, words).
        b: batch of N sequences of the same kinds; ``a[i]`` is compared with ``b[i]``.

    Returns:
        (N,) int64.

    Example:
        >>> edit_distance(["kitten", ""], ["sitting", "abc"]).tolist()
        [3, 3]
    """
    left, right = _pairs(a, b, names=("a", "b"), allow_str=True)
    return _levenshtein_batch(*_encode_batch(left, right))


def edit_similarity(a, b) -> np.ndarray:
    """Edit similarity ``1 - levenshtein(a, b) / max(len a, len b)`` of each pair, in [0, 1].

    The approximate-memorization measure of Lee et al., "Deduplicating Training Data Makes
    Language Models Better" (ACL 2022) and Ippolito et al. (INLG 2023; seed notes §3), on tokens
    or characters. Two empty sequences are identical: similarity 1.

    Args:
        a: batch of N sequences, as for :func:`edit_distance`.
        b: batch of N sequences; ``a[i]`` is compared with ``b[i]``.

    Returns:
        (N,) float in [0, 1].

    Example:
        >>> edit_similarity(["kitten"], ["sitting"]).round(4).tolist()
        [0.5714]
        >>> edit_similarity(np.array([[1, 2, 3, 4]]), np.array([[1, 2, 0, 4]])).tolist()
        [0.75]
    """
    left, right = _pairs(a, b, names=("a", "b"), allow_str=True)
    ea, eb = _encode_batch(left, right)
    dist = _levenshtein_batch(ea, eb)
    longest = np.array([max(x.size, y.size) for x, y in zip(ea, eb, strict=True)])
    return np.where(longest == 0, 1.0, 1.0 - dist / np.maximum(longest, 1))


def _ngrams(tokens: list, n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _sentence_bleu(cand: list, ref: list, max_n: int) -> float:
    if not cand:
        return 0.0
    log_p = 0.0
    order = 0
    zeros = 0
    for n in range(1, max_n + 1):
        total = len(cand) - n + 1
        if total <= 0:  # effective order: the candidate has no n-grams this long
            break
        order = n
        c, r = _ngrams(cand, n), _ngrams(ref, n)
        matches = sum(min(cnt, r[g]) for g, cnt in c.items())
        if matches == 0:
            zeros += 1
            log_p += -math.log(2.0**zeros * total)  # 'exp' smoothing: 1 / (2^zeros * total)
        else:
            log_p += math.log(matches / total)
    bp = 1.0 if len(cand) >= len(ref) else math.exp(1.0 - len(ref) / len(cand))
    return bp * math.exp(log_p / order)


def bleu(candidates, references, *, max_n: int = 4) -> np.ndarray:
    """Sentence BLEU of each candidate against one reference, in [0, 1].

    Papineni et al. (ACL 2002), as used for approximate memorization by Ippolito et al.
    (INLG 2023; "approximately memorized" when BLEU > 0.75, seed notes §3): the geometric mean
    of clipped n-gram precisions for n = 1..max_n times the brevity penalty
    ``min(1, exp(1 - len(ref) / len(cand)))``. Smoothing is sacrebleu's sentence-BLEU default,
    ``'exp'`` (Chen & Cherry 2014 method 3, the NIST geometric sequence): the j-th order with no
    matching n-gram counts precision ``1 / (2^j * total_n)`` instead of 0. With sacrebleu's
    ``effective_order``, orders longer than the candidate are left out of the mean. An empty
    candidate scores 0. Differs from sacrebleu only in scale (0-1, not 0-100) and in taking
    tokens as given (no 13a tokenization).

    Args:
        candidates: batch of N token sequences (2-D int array, or a list of 1-D int arrays or
            lists of hashable tokens such as words). Strings are refused: tokenize first.
        references: batch of N non-empty token sequences, one reference each.
        max_n: longest n-gram order, >= 1.

    Returns:
        (N,) float.

    Example:
        >>> bleu([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]]).tolist()
        [1.0]
        >>> round(float(bleu([[1, 2, 3, 9]], [[1, 2, 3, 4]])[0]), 4)  # (3/4 * 2/3 * 1/2 * 1/2)^(1/4)
        0.5946
    """
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise ValueError(f"max_n must be an integer >= 1, got {max_n!r}")
    cands, refs = _pairs(
        candidates, references, names=("candidates", "references"), allow_str=False
    )
    for i, r in enumerate(refs):
        if len(r) == 0:
            raise ValueError(f"references[{i}] is empty; BLEU needs a non-empty reference")
    try:
        return np.array(
            [_sentence_bleu(c, r, int(max_n)) for c, r in zip(cands, refs, strict=True)]
        )
    except TypeError:
        raise ValueError("tokens must be hashable (ints, strings)") from None


# --------------------------------------------------------------------------------------------
# canary exposure (seed notes §5c)


def _as_canary(x) -> tuple[np.ndarray, bool]:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise ValueError(f"canary_logprob must be a number or a 1-D float array, got {x!r}")
    if arr.ndim > 1:
        raise ValueError(f"canary_logprob must be a scalar or 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("canary_logprob is empty")
    if not np.isfinite(arr).all():
        raise ValueError("canary_logprob must be finite (clip -inf log-probabilities first)")
    return np.atleast_1d(arr.astype(np.float64)), arr.ndim == 0


def _as_space(x, *, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise ValueError(f"{name} must be a 1-D float array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (clip -inf log-probabilities first)")
    return arr


def _drop(space: np.ndarray, exclude) -> np.ndarray:
    """``space`` without the positions in ``exclude`` ((|R|,) bool mask or int indices)."""
    if exclude is None:
        return space
    ex = np.asarray(exclude)
    keep = np.ones(space.size, dtype=bool)
    if ex.dtype == np.bool_:
        if ex.shape != space.shape:
            raise ValueError(f"exclude as a mask must have shape {space.shape}, got {ex.shape}")
        keep = ~ex
    elif ex.size:
        if ex.dtype.kind not in "iu" or ex.ndim != 1:
            raise ValueError("exclude must be a bool mask or a 1-D array of candidate indices")
        if ex.min() < 0 or ex.max() >= space.size:
            raise ValueError(
                f"exclude indices must lie in [0, {space.size}), got {ex.min()}..{ex.max()}"
            )
        keep[ex] = False
    if not keep.any():
        raise ValueError("exclude leaves no candidates to rank against")
    return space[keep]


def exposure_exact(canary_logprob, candidate_logprobs, *, exclude=None):
    """Exposure of a canary by exact rank over the whole secret space (bits).

    Carlini et al., "The Secret Sharer" (USENIX Sec 2019): ``exposure = log2 |R| - log2 rank``,
    rank 1 = the most likely candidate, so exposure lies in [0, log2 |R|]. Ranking by
    log-probability (any base) is ranking by log-perplexity reversed. **Ties count against
    the canary**: ``rank = #{r in R : log p(r) >= log p(canary)}``, so a model indifferent
    between all candidates has exposure 0, not log2 |R|.

    **The other inserted canaries are not the null.** When several canaries share a secret
    space, each one's secret was also trained on, so it may outrank the canary for reasons that
    are not this canary's memorization. TF Privacy's secret sharer (``exposures.py``) ranks each
    canary only against references that were never inserted; here ``exclude`` names the other
    canaries' positions in ``candidate_logprobs``, and R becomes the space minus them (the canary
    stays in). TF Privacy divides by the reference count without the canary (log2 |R| - 1
    candidates); the difference is log2(|R| / (|R| - 1)) bits, 1.4e-4 at |R| = 10^4.

    Args:
        canary_logprob: scalar or (C,) log-probability of the canary(ies) (full secret or the
            whole templated sentence, as long as candidates are scored the same way).
        candidate_logprobs: (|R|,) log-probabilities of every candidate of the secret space,
            the canary included (score both in the same pass so the values agree exactly).
        exclude: None, a (|R|,) bool mask, or int indices of candidates left out of the ranking
            (the other inserted canaries' secrets); never the canary's own position.

    Returns:
        float for a scalar canary, else (C,) float.

    Example:
        >>> exposure_exact(-1.0, [-1.0, -2.0, -3.0, -4.0])
        2.0
        >>> exposure_exact([-1.0, -3.0], [-1.0, -2.0, -3.0, -4.0]).round(4).tolist()  # ranks 1, 3
        [2.0, 0.415]
        >>> round(exposure_exact(-3.0, [-1.0, -2.0, -3.0, -4.0], exclude=[0]), 4)  # rank 2 of 3
        0.585
    """
    canary, scalar = _as_canary(canary_logprob)
    space = _drop(_as_space(candidate_logprobs, name="candidate_logprobs"), exclude)
    space = np.sort(space)  # ascending
    rank = space.size - np.searchsorted(space, canary, side="left")  # count of >= canary
    if (rank == 0).any():
        raise ValueError(
            "canary_logprob is higher than every candidate_logprobs value, so the canary is not "
            "among the candidates; include it (scored in the same pass) in candidate_logprobs"
        )
    exposure = np.log2(space.size) - np.log2(rank)
    return float(exposure[0]) if scalar else exposure


def exposure_skew_normal(canary_logprob, sampled_logprobs, *, space_size: int):
    """Exposure extrapolated from a random sample of the secret space with a skew-normal fit.

    Carlini et al., "The Secret Sharer" (USENIX Sec 2019, §4.3): when |R| is too large to
    enumerate, fit a skew-normal density to the log-probabilities of candidates drawn uniformly
    from R and read the canary's rank fraction off its tail. Here: fit
    ``scipy.stats.skewnorm`` by maximum likelihood to ``sampled_logprobs``, take
    ``q = P(log p(r) >= log p(canary))`` from the fit's survival function, and count the canary
    itself plus the ``|R| - 1`` others, of which a fraction q beat it:
    ``rank = 1 + (|R| - 1) q`` and ``exposure = log2 |R| - log2 rank``. For ``q >> 1/|R|`` this
    is the paper's ``-log2 q``; unlike it, it saturates at log2 |R| (rank 1) instead of
    exceeding the exact exposure's maximum.

    Args:
        canary_logprob: scalar or (C,) log-probability of the canary(ies).
        sampled_logprobs: (S,) log-probabilities of candidates sampled uniformly from R, scored
            like the canary; S >= 10 and not all equal. By the reference convention (see
            :func:`exposure_exact`) R excludes the other inserted canaries: sample from the space
            without them, and give their number's complement as ``space_size``.
        space_size: |R|, an integer >= 2.

    Returns:
        float for a scalar canary, else (C,) float, in [0, log2 |R|].

    Example:
        >>> sample = stats.skewnorm.rvs(-4, loc=-20, scale=3, size=2000, random_state=0)
        >>> round(exposure_skew_normal(np.median(sample), sample, space_size=10**6), 2)  # rank |R|/2
        1.0
        >>> exposure_skew_normal(-1.0, sample, space_size=10**6) == math.log2(10**6)  # rank 1
        True
    """
    canary, scalar = _as_canary(canary_logprob)
    sample = _as_space(sampled_logprobs, name="sampled_logprobs")
    if (
        isinstance(space_size, bool)
        or not isinstance(space_size, (int, np.integer))
        or space_size < 2
    ):
        raise ValueError(f"space_size must be an integer >= 2 (|R|), got {space_size!r}")
    if sample.size < 10:
        raise ValueError(
            f"sampled_logprobs needs >= 10 values to fit 3 parameters, got {sample.size}"
        )
    if np.ptp(sample) == 0:
        raise ValueError("sampled_logprobs are all equal; a skew-normal cannot be fitted")
    a, loc, scale = stats.skewnorm.fit(sample)
    log_q = stats.skewnorm.logsf(canary, a, loc, scale)  # (C,), stable deep in the tail
    # log2(1 + (|R| - 1) q), computed in logs so that tiny q keeps its precision
    log_rank = np.logaddexp(0.0, math.log(space_size - 1) + log_q) / math.log(2.0)
    exposure = np.clip(math.log2(space_size) - log_rank, 0.0, math.log2(space_size))
    return float(exposure[0]) if scalar else exposure


def exposure_chance(space_size: int) -> float:
    """Mean exposure (bits) of a canary whose rank is uniform on 1..|R|: a model that knows nothing.

    ``log2 |R| - mean(log2 k, k = 1..|R|) = log2 |R| - log2(|R|!) / |R|``, which tends to
    ``log2 e`` ≈ 1.443 bits as |R| grows. The yardstick for a tokenizer-only control.

    >>> round(exposure_chance(2), 4), round(exposure_chance(10**4), 3)
    (0.5, 1.442)
    """
    if (
        isinstance(space_size, bool)
        or not isinstance(space_size, (int, np.integer))
        or space_size < 1
    ):
        raise ValueError(f"space_size must be an integer >= 1 (|R|), got {space_size!r}")
    n = int(space_size)
    return float(math.log2(n) - math.lgamma(n + 1) / (n * math.log(2.0)))


# --------------------------------------------------------------------------------------------
# counterfactual memorization (seed notes §5a)


def counterfactual_memorization(
    membership, observations, *, min_models: int = 1
) -> MemorizationScores:
    """Counterfactual memorization of each document: performance when trained on it minus not.

    Zhang et al., "Counterfactual Memorization in Neural Language Models" (NeurIPS 2023):
    ``mem(x) = E_{S: x in S}[M(A(S), x)] - E_{S: x not in S}[M(A(S), x)]`` over models trained
    on random subsets, with M a per-document performance measure (the paper: per-token accuracy
    of the argmax next token under teacher forcing; a mean log-likelihood also works). This is
    Feldman–Zhang on documents and is computed by
    :func:`memlens.estimate.memorization_scores`. What is specific to language models is the
    per-token input: ``observations`` may be (M, N, T) per-token values (e.g. 0/1 argmax
    correctness or log p), NaN-padded on the right, and each document's measure is the mean
    over its tokens. Every model scores the same tokens, so the padding must be identical across
    models.

    Args:
        membership: (M, N) bool, True where model m was trained on document n; M >= 2.
        observations: (M, N) per-document measure, or (M, N, T) per-token values NaN-padded on
            the right (every document with >= 1 token).
        min_models: documents with fewer IN or OUT models get NaN memorization.

    Returns:
        :class:`memlens.estimate.MemorizationScores`; ``memorization`` is (N,).

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> nan = np.nan
        >>> acc = np.array([[[1, 1], [0, nan]], [[0, 1], [1, nan]],
        ...                 [[1, 1], [1, nan]], [[0, 0], [1, nan]]])
        >>> counterfactual_memorization(membership, acc).memorization.tolist()
        [0.75, 0.5]
    """
    obs = np.asarray(observations)
    if obs.ndim == 3:
        if obs.dtype.kind not in "biuf":
            raise ValueError(f"observations must be numeric, got dtype {obs.dtype}")
        obs = obs.astype(np.float64, copy=False)
        m, n, t = obs.shape
        if t == 0:
            raise ValueError(f"observations has no tokens (shape {obs.shape})")
        if m == 0 or n == 0:
            raise ValueError(f"observations has no models or no documents (shape {obs.shape})")
        if np.isinf(obs).any():
            raise ValueError("observations contains inf; per-token values must be finite")
        pad = np.isnan(obs)  # (M, N, T)
        if not (pad == pad[:1]).all():
            raise ValueError(
                "observations' NaN padding differs between models; every model must score the "
                "same tokens of each document"
            )
        valid = ~pad[0]  # (N, T), the same for every model
        holes = (~valid[:, :-1] & valid[:, 1:]).any(axis=1)
        if holes.any():
            raise ValueError(
                f"observations document {int(np.flatnonzero(holes)[0])} has NaN before a value; "
                f"NaN is only allowed as padding at the right end"
            )
        empty = ~valid.any(axis=1)
        if empty.any():
            raise ValueError(
                f"observations document {int(np.flatnonzero(empty)[0])} has no tokens (all NaN)"
            )
        obs = np.nansum(obs, axis=2) / valid.sum(axis=1)  # (M, N) per-document means
    elif obs.ndim != 2:
        raise ValueError(
            f"observations must be (models, documents) or (models, documents, tokens), got "
            f"shape {obs.shape}"
        )
    return memorization_scores(membership, obs, min_models=min_models)
