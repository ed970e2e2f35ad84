"""Canary exposure (Carlini et al. 2019, seed notes §5c): exact rank, skew-normal estimate, chance.
Conventions (layouts, score direction, errors): :mod:`memlens.lm.measures`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


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
