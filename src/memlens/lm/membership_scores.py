"""Membership scores for language models (loss, zlib, Min-K%, Min-K%++, reference ratio), higher =
more likely a member (seed notes §5d). Conventions (layouts, errors): :mod:`memlens.lm.measures`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from scipy import special

LOGPROB_SLACK = 1e-6
"""Largest positive log-probability accepted (float32 log-softmax can overshoot 0 by rounding)."""

VAR_FLOOR = 1e-12
"""Lower bound on Min-K%++'s per-token variance sigma^2 (so sigma >= 1e-6): a next-token
distribution with all its mass on one token has variance 0 and the reference code divides by 0."""


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
