"""Membership-inference attack statistics: LiRA (online/offline), RMIA (offline), loss threshold.

LiRA: Carlini et al., "Membership Inference Attacks From First Principles" (S&P 2022); reference
code ``tensorflow/privacy`` ``research/mi_lira_2021/plot.py``. RMIA: Zarifzadeh, Liu, Shokri,
"Low-Cost High-Power Membership Inference Attacks" (ICML 2024); reference code
``privacytrustlab/ml_privacy_meter``. Loss threshold: Yeom et al. (CSF 2018).

Every attack returns one score per example, and a higher score always means "more likely a
member". Attacks that need shadow/reference models take ``(target_obs, shadow_membership,
shadow_obs)`` so :func:`attack_in_turn` can run any of them leave-one-model-out.

Memory: the built-in attacks read their (S, N) shadow matrices one block of examples at a time
(``_blocks``), in float64 only block by block, so a memory-mapped 1,000 × 60,000 run is never
copied whole; :func:`attack_in_turn` hands them every model but the target by masking that row
out of each block instead of copying the other rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._blocks import example_blocks, release_pages
from ._validate import (
    as_membership,
    as_numeric,
    as_observations,
    as_probabilities,
    count_nonfinite,
    nonfinite_error,
    probability_range_error,
)
from .metrics import auc, roc_curve

SIGMA_FLOOR = 1e-8
"""Lower bound on every LiRA standard deviation. The reference code adds 1e-30 instead; a floor
keeps an example whose shadow observations are all equal (e.g. one IN shadow with per-example
variance) from giving an infinite score, while still letting it dominate."""

PROB_FLOOR = 1e-30
"""Lower bound on RMIA's Pr(x); it only bites when ``a == 1`` and every OUT reference gives the
example probability 0."""

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_A_GRID = tuple(np.linspace(0.0, 1.0, 11).round(10).tolist())

Attack = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------------
# helpers


def _masked_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Median over rows where ``mask``, per column; NaN for empty columns. (S, N) -> (N,).

    Sorting with +inf padding keeps it vectorized (``np.nanmedian`` loops over columns for large
    S). ``values`` must be finite.
    """
    count = mask.sum(axis=0)  # (N,)
    srt = np.sort(np.where(mask, values, np.inf), axis=0)  # (S, N), IN values first
    lo = np.maximum((count - 1) // 2, 0)[None, :]  # (1, N)
    hi = np.maximum(count // 2, 0)[None, :]
    with np.errstate(invalid="ignore"):
        med = (np.take_along_axis(srt, lo, 0)[0] + np.take_along_axis(srt, hi, 0)[0]) / 2.0
    return np.where(count > 0, med, np.nan)


def _masked_mean_std(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ddof=0 std over rows where ``mask``, per column; NaN for empty columns."""
    count = mask.sum(axis=0)  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, values, 0.0).sum(axis=0) / count
        var = (np.where(mask, values - mean, 0.0) ** 2).sum(axis=0) / count
    return mean, np.sqrt(var)


def _pooled_std(values: np.ndarray, mask: np.ndarray) -> float:
    """One ddof=0 std over every value where ``mask``, pooled across examples (NaN if none)."""
    pooled = values[mask]
    return float(np.std(pooled)) if pooled.size else float("nan")


def _gaussian(values, mask, *, center: str, pooled_sd: float | None = None):
    """Per-example (center, sigma) of the values selected by ``mask``; (N,) each.

    ``pooled_sd`` replaces the per-example std (LiRA's fixed variance); sigma is floored at
    :data:`SIGMA_FLOOR` and stays NaN where the side is empty.
    """
    mean, std = _masked_mean_std(values, mask)
    mu = _masked_median(values, mask) if center == "median" else mean
    if pooled_sd is not None:
        std = np.full_like(mean, pooled_sd)
    return mu, np.maximum(std, SIGMA_FLOOR)  # NaN stays NaN


def _fit_gaussian(values, mask, *, center: str, fix_variance: bool):
    """Per-example (center, sigma) of the shadow observations selected by ``mask``; (N,) each."""
    _check_center(center)
    pooled = _pooled_std(values, mask) if fix_variance else None
    return _gaussian(values, mask, center=center, pooled_sd=pooled)


def _check_center(center: str) -> None:
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")


def _normal_logpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - _LOG_SQRT_2PI


# --------------------------------------------------------------------------------------------
# block-wise evaluation: every built-in attack is a _Kernel run over blocks of examples


@dataclass(frozen=True)
class _Kernel:
    """One attack, split so that it can run over blocks of examples.

    ``score(target, values, in_mask, out_mask, pooled_sd)`` gets one block: the target's (b,)
    observations, the shadows' (S, b) float64 observations and the (S, b) masks of the shadows
    that are IN / OUT for each example (a row masked out of both is not a shadow), and returns
    (b,) scores. ``pooled_sd`` is ``(sd_in, sd_out)`` over all examples when ``pooled`` is set.
    ``finish`` maps the whole (N,) row afterwards, for statistics across examples.
    """

    score: Callable
    min_shadows: int
    pooled: bool = False
    finish: Callable[[np.ndarray], np.ndarray] | None = None
    transform: Callable[[np.ndarray], np.ndarray] | None = None  # applied to every observation
    probabilities: bool = False  # observations must lie in [0, 1]
    uses_shadows: bool = True


def _check_blocks(array, *, name: str, probabilities: bool = False) -> None:
    """Finiteness (and, for probabilities, range) of an (S, N) array, one block at a time."""
    bad, low, high = 0, np.inf, -np.inf
    for block in example_blocks(array.shape[1], array.shape[0]):
        values = np.asarray(array[:, block])
        bad += count_nonfinite(values)
        if probabilities and values.size and not bad:  # (a non-finite value is reported first)
            low, high = min(low, float(values.min())), max(high, float(values.max()))
        release_pages(array)
    if bad:
        raise nonfinite_error(name, bad)
    if probabilities and (low < 0.0 or high > 1.0):
        raise probability_range_error(name, low, high)


def _pooled_sds(membership, observations, exclude, transform) -> list[tuple[float, float]]:
    """For each entry of ``exclude``, (std of all IN values, std of all OUT values) of the
    shadows, i.e. every row but that one (every row for ``None``); ddof=0, NaN if none.

    One pass accumulates per-row counts, sums and sums of squares about a shift (the first
    block's mean on each side, which keeps the subtraction from cancelling); leaving a row out
    then costs nothing. Equal to ``np.std(values[mask])`` to ~1e-15 relative.
    """
    n_rows = membership.shape[0]
    sums = {side: np.zeros((3, n_rows)) for side in ("in", "out")}  # count, Σ(x-c), Σ(x-c)²
    shift: dict[str, float] = {}
    for block in example_blocks(membership.shape[1], n_rows):
        inside = np.asarray(membership[:, block])  # (S, b)
        values = np.asarray(observations[:, block], dtype=np.float64)
        if transform is not None:
            values = transform(values)
        for side, mask in (("in", inside), ("out", ~inside)):
            if side not in shift and mask.any():
                shift[side] = float(values[mask].mean())
            dev = np.where(mask, values - shift.get(side, 0.0), 0.0)  # (S, b)
            sums[side][0] += mask.sum(axis=1)
            sums[side][1] += dev.sum(axis=1)
            sums[side][2] += (dev * dev).sum(axis=1)
        release_pages(membership, observations)
    result = []
    for row in exclude:
        keep = np.ones(n_rows, dtype=bool)
        if row is not None:
            keep[row] = False
        sds = []
        for side in ("in", "out"):
            count, first, second = sums[side][:, keep].sum(axis=1)
            if count == 0:
                sds.append(float("nan"))
                continue
            mean_dev = first / count
            sds.append(float(np.sqrt(max(second / count - mean_dev * mean_dev, 0.0))))
        result.append((sds[0], sds[1]))
    return result


def _score_blocks(kernel: _Kernel, target_obs, membership, observations, exclude) -> np.ndarray:
    """(T, N) scores: row j attacks ``target_obs[j]`` with every shadow row but ``exclude[j]``.

    Args:
        kernel: the attack.
        target_obs: (T, N) float64 target observations.
        membership, observations: (S, N) shadow rows (memory-mapped is fine; read by block).
        exclude: T row indices (or None), each left out of the shadows for its target.
    """
    n_rows, n_examples = membership.shape
    pooled = (
        _pooled_sds(membership, observations, exclude, kernel.transform)
        if kernel.pooled
        else [None] * len(exclude)
    )
    targets = target_obs if kernel.transform is None else kernel.transform(target_obs)
    scores = np.empty((len(exclude), n_examples))  # (T, N)
    for block in example_blocks(n_examples, n_rows):
        values = inside = outside = None
        if kernel.uses_shadows:
            inside = np.asarray(membership[:, block])  # (S, b) bool
            outside = ~inside
            values = np.asarray(observations[:, block], dtype=np.float64)  # (S, b)
            if kernel.transform is not None:
                values = kernel.transform(values)
        for j, row in enumerate(exclude):
            in_mask, out_mask = inside, outside
            if row is not None and kernel.uses_shadows:  # the target is nobody's shadow
                in_mask, out_mask = inside.copy(), outside.copy()
                in_mask[row] = out_mask[row] = False
            scores[j, block] = kernel.score(targets[j, block], values, in_mask, out_mask, pooled[j])
        release_pages(membership, observations)
    if kernel.finish is not None:
        for j in range(len(exclude)):
            scores[j] = kernel.finish(scores[j])
    return scores


def _attack_one_target(kernel: _Kernel, target_obs, shadow_membership, shadow_obs) -> np.ndarray:
    """Validate (N,), (S, N) bool, (S, N) inputs and run ``kernel`` on them block by block."""
    membership = as_membership(
        shadow_membership, name="shadow_membership", min_models=kernel.min_shadows
    )
    shadow = as_numeric(
        shadow_obs, name="shadow_obs", shape=membership.shape, against="shadow_membership"
    )
    _check_blocks(shadow, name="shadow_obs", probabilities=kernel.probabilities)
    check = as_probabilities if kernel.probabilities else as_observations
    target = check(
        target_obs,
        name="target_obs",
        shape=(membership.shape[1],),
        against="shadow_membership (one value per example)",
    )
    return _score_blocks(kernel, target[None, :], membership, shadow, [None])[0]


# --------------------------------------------------------------------------------------------
# LiRA


def _lira_online_kernel(*, fix_variance: bool = False, center: str = "median") -> _Kernel:
    _check_center(center)

    def score(target, values, in_mask, out_mask, pooled):
        sd_in, sd_out = pooled if pooled is not None else (None, None)
        mu_in, sigma_in = _gaussian(values, in_mask, center=center, pooled_sd=sd_in)
        mu_out, sigma_out = _gaussian(values, out_mask, center=center, pooled_sd=sd_out)
        return _normal_logpdf(target, mu_in, sigma_in) - _normal_logpdf(target, mu_out, sigma_out)

    return _Kernel(score, min_shadows=2, pooled=bool(fix_variance))


def _lira_offline_kernel(
    *, fix_variance: bool = False, one_sided: bool = True, center: str = "median"
) -> _Kernel:
    _check_center(center)

    def score(target, values, in_mask, out_mask, pooled):
        sd_out = pooled[1] if pooled is not None else None
        mu_out, sigma_out = _gaussian(values, out_mask, center=center, pooled_sd=sd_out)
        if one_sided:
            return special.log_ndtr((target - mu_out) / sigma_out)  # = scipy.stats.norm.logcdf
        return -_normal_logpdf(target, mu_out, sigma_out)

    return _Kernel(score, min_shadows=1, pooled=bool(fix_variance))


def lira_online(
    target_obs, shadow_membership, shadow_obs, *, fix_variance: bool = False, center: str = "median"
) -> np.ndarray:
    """LiRA online: Gaussian likelihood ratio of IN versus OUT shadow observations.

    Carlini et al. (S&P 2022), ``generate_ours`` in ``plot.py``. Per example, fit
    N(mu_in, sigma_in) to the shadows trained on it and N(mu_out, sigma_out) to the others;
    score = log N(phi; mu_in, sigma_in) - log N(phi; mu_out, sigma_out). Centers are medians
    (``center="mean"`` for means); sigmas are ddof=0 stds around the mean. With
    ``fix_variance=True`` sigma_in is one std over all IN values pooled across examples and
    sigma_out one std over all OUT values (the reference code took the OUT one from IN data by
    mistake; this does not). Sigmas are floored at :data:`SIGMA_FLOOR`.

    Args:
        target_obs: (N,) target model's observation, normally the logit-scaled confidence phi.
        shadow_membership: (S, N) bool, S >= 2.
        shadow_obs: (S, N) shadow models' observations; finite. May be memory-mapped: it is read
            one block of examples at a time.
        fix_variance: pool the variances (advised with fewer than ~64 shadows).
        center: ``"median"`` (as the reference code) or ``"mean"``.

    Returns:
        (N,) scores; NaN for examples with no IN or no OUT shadow.

    Example:
        >>> membership = np.array([[True], [True], [False], [False]])
        >>> shadow = np.array([[3.0], [5.0], [-1.0], [1.0]])
        >>> lira_online(np.array([4.0]), membership, shadow).tolist()  # 0 - (-8)
        [8.0]
    """
    kernel = _lira_online_kernel(fix_variance=fix_variance, center=center)
    return _attack_one_target(kernel, target_obs, shadow_membership, shadow_obs)


def lira_offline(
    target_obs,
    shadow_membership,
    shadow_obs,
    *,
    fix_variance: bool = False,
    one_sided: bool = True,
    center: str = "median",
) -> np.ndarray:
    """LiRA offline: how far above the OUT shadow distribution the target observation lies.

    Carlini et al. (S&P 2022). Only shadows NOT trained on an example are used. With
    ``one_sided=True`` (the paper's test) score = log Phi((phi - mu_out) / sigma_out); with
    ``one_sided=False`` (``generate_ours_offline`` in the code) score = -log N(phi; mu_out,
    sigma_out), which also flags observations far *below* the OUT distribution. mu_out is the
    median (``center="mean"`` for the mean); sigma_out per example or, with ``fix_variance``,
    one std over all OUT values; floored at :data:`SIGMA_FLOOR`.

    Args:
        target_obs: (N,) target model's observation (logit-scaled confidence phi).
        shadow_membership: (S, N) bool, S >= 1; only the False entries are used.
        shadow_obs: (S, N) shadow observations; finite; read one block of examples at a time.
        fix_variance: pool the OUT variance over all examples.
        one_sided: paper's one-sided test (default) or the code's two-sided one.
        center: ``"median"`` or ``"mean"``.

    Returns:
        (N,) scores; NaN for examples with no OUT shadow.

    Example:
        >>> membership = np.array([[False], [False], [True]])
        >>> shadow = np.array([[-1.0], [1.0], [9.0]])
        >>> lira_offline(np.array([0.0]), membership, shadow).round(4).tolist()
        [-0.6931]
    """
    kernel = _lira_offline_kernel(fix_variance=fix_variance, one_sided=one_sided, center=center)
    return _attack_one_target(kernel, target_obs, shadow_membership, shadow_obs)


# --------------------------------------------------------------------------------------------
# RMIA


def _pairwise_fraction(ratio: np.ndarray, gamma: float) -> np.ndarray:
    """For each x, fraction of other finite z with ratio[x] / ratio[z] >= gamma. O(N log N).

    ``ratio[x] / ratio[z] >= gamma`` is evaluated as ``ratio[z] <= ratio[x] / gamma`` (equal
    except for rounding at exact ties); x with ratio 0 scores 0. NaN ratios are outside the
    population and score NaN.
    """
    valid = np.isfinite(ratio)
    pop = np.sort(ratio[valid])  # (n_pop,)
    n_pop = pop.size
    score = np.full(ratio.shape, np.nan)
    if n_pop < 2:
        return score
    r = ratio[valid]
    thresh = r / gamma
    count = np.searchsorted(pop, thresh, side="right")  # includes x itself iff r <= r / gamma
    count = count - (r <= thresh)
    score[valid] = np.where(r > 0, count / (n_pop - 1), 0.0)
    return score


def _rmia_kernel(*, a: float = 0.3, gamma: float = 2.0, on_confidence: bool = False) -> _Kernel:
    """RMIA offline; ``on_confidence``: observations are LiRA's phi, mapped to p = sigmoid(phi)."""
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must be in [0, 1], got {a}")
    if not gamma > 0.0:
        raise ValueError(f"gamma must be > 0, got {gamma}")

    def likelihood_ratio(target, values, in_mask, out_mask, pooled):
        with np.errstate(invalid="ignore", divide="ignore"):  # NaN where no OUT reference
            pr_out = np.where(out_mask, values, 0.0).sum(axis=0) / out_mask.sum(axis=0)
        pr_x = np.maximum(0.5 * ((1.0 + a) * pr_out + (1.0 - a)), PROB_FLOOR)
        return target / pr_x

    return _Kernel(
        likelihood_ratio,
        min_shadows=1,
        finish=functools.partial(_pairwise_fraction, gamma=gamma),
        transform=special.expit if on_confidence else None,  # stable for any finite phi
        probabilities=not on_confidence,
    )


def rmia_offline(
    target_prob, reference_membership, reference_prob, *, a: float = 0.3, gamma: float = 2.0
) -> np.ndarray:
    """RMIA offline: fraction of population points the target's likelihood ratio beats by gamma.

    Zarifzadeh, Liu & Shokri (ICML 2024). Pr_OUT(x) = mean reference probability over references
    not trained on x; Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2 (floored at
    :data:`PROB_FLOOR`); ratio_x = target_prob[x] / Pr(x); score(x) = fraction of the other
    examples z (all examples but x with a defined ratio) with ratio_x / ratio_z >= gamma.
    Computed by sorting and ``searchsorted`` in O(N log N).

    Args:
        target_prob: (N,) target model's probability of the true label, in [0, 1].
        reference_membership: (R, N) bool, R >= 1; only the False entries are used.
        reference_prob: (R, N) reference models' true-label probabilities, in [0, 1]; read one
            block of examples at a time.
        a: offline mixing coefficient in [0, 1] (0.3 in the CIFAR-10 configs; tune it with
            :func:`tune_rmia_offline_a`).
        gamma: pairwise threshold > 0 (2.0 in the research configs).

    Returns:
        (N,) scores in [0, 1]; NaN for examples with no OUT reference.

    Example:
        >>> ref_membership = np.zeros((1, 4), dtype=bool)
        >>> ref_prob = np.full((1, 4), 0.5)
        >>> rmia_offline(np.array([0.9, 0.4, 0.2, 0.1]), ref_membership, ref_prob).tolist()
        [1.0, 0.6666666666666666, 0.3333333333333333, 0.0]
    """
    membership = as_membership(reference_membership, name="reference_membership", min_models=1)
    reference = as_numeric(
        reference_prob, name="reference_prob", shape=membership.shape,
        against="reference_membership",
    )  # fmt: skip
    _check_blocks(reference, name="reference_prob", probabilities=True)
    target = as_probabilities(
        target_prob,
        name="target_prob",
        shape=(membership.shape[1],),
        against="reference_membership (one value per example)",
    )
    kernel = _rmia_kernel(a=a, gamma=gamma)
    return _score_blocks(kernel, target[None, :], membership, reference, [None])[0]


def tune_rmia_offline_a(
    reference_membership, reference_prob, *, grid=_A_GRID, gamma: float = 2.0
) -> float:
    """Choose RMIA's offline coefficient a by attacking reference 0 with the other references.

    As ``tune_offline_a`` in ``privacytrustlab/ml_privacy_meter`` (Zarifzadeh et al. 2024):
    reference 0 plays the target, references 1.. play the reference models, and the a in
    ``grid`` with the highest AUC on reference 0's membership wins (first one on ties).

    Args:
        reference_membership: (R, N) bool, R >= 2; reference 0 must have members and
            non-members.
        reference_prob: (R, N) true-label probabilities in [0, 1].
        grid: candidate values of a, each in [0, 1]; default 0, 0.1, ..., 1.
        gamma: pairwise threshold passed to :func:`rmia_offline`.

    Returns:
        The chosen a as a float.

    Example:
        >>> membership = np.array([[True, True, False, False],
        ...                        [False, True, False, True],
        ...                        [True, False, True, False]])
        >>> prob = np.array([[0.9, 0.8, 0.3, 0.2], [0.5, 0.9, 0.6, 0.9], [0.9, 0.4, 0.9, 0.3]])
        >>> tune_rmia_offline_a(membership, prob, grid=(0.0, 0.5, 1.0))
        0.0
    """
    membership = as_membership(reference_membership, name="reference_membership", min_models=2)
    prob = as_probabilities(
        reference_prob,
        name="reference_prob",
        shape=membership.shape,
        against="reference_membership",
    )
    grid = np.asarray(grid, dtype=np.float64).ravel()
    if grid.size == 0:
        raise ValueError("grid must contain at least one value of a")
    scorable = (~membership[1:]).any(axis=0)  # examples with an OUT reference among 1..
    labels = membership[0][scorable]
    n_in = int(labels.sum())
    if n_in == 0 or n_in == labels.size:
        raise ValueError(
            f"reference 0 needs both members and non-members among the {labels.size} examples "
            f"that some other reference holds out; it has {n_in} member(s)"
        )
    aucs = []
    for a in grid:  # a handful of values, not examples
        scores = rmia_offline(prob[0], membership[1:], prob[1:], a=float(a), gamma=gamma)
        fpr, tpr, _ = roc_curve(labels, scores[scorable])
        aucs.append(auc(fpr, tpr))
    return float(grid[int(np.argmax(aucs))])


# --------------------------------------------------------------------------------------------
# Loss threshold and adapters for attack_in_turn


def loss_attack(target_loss) -> np.ndarray:
    """Loss-threshold attack score: the negated loss (low loss = likely member).

    Yeom et al., "Privacy Risk in Machine Learning" (CSF 2018); LiRA's global-threshold baseline.

    Args:
        target_loss: (N,) the target model's per-example loss; finite.

    Returns:
        (N,) scores, ``-target_loss``.

    Example:
        >>> loss_attack(np.array([0.1, 2.0])).tolist()
        [-0.1, -2.0]
    """
    loss = as_observations(target_loss, name="target_loss", ndim=1)
    return -loss


def _loss_kernel(*, observation: str = "confidence") -> _Kernel:
    if observation == "confidence":  # phi -> cross-entropy -log sigmoid(phi), stably
        to_loss = lambda phi: -special.log_expit(phi)  # noqa: E731
    elif observation == "loss":
        to_loss = lambda loss: loss  # noqa: E731
    else:
        raise ValueError(f"observation must be 'confidence' or 'loss', got {observation!r}")
    return _Kernel(lambda target, *_: -to_loss(target), min_shadows=1, uses_shadows=False)


def loss_threshold_attack(
    target_obs, shadow_membership, shadow_obs, *, observation: str = "confidence"
) -> np.ndarray:
    """:func:`loss_attack` with the shadow-attack signature, for :func:`attack_in_turn`.

    Yeom et al. (CSF 2018). The shadow arguments are validated and ignored. With
    ``observation="confidence"`` the observations are LiRA's phi and are turned into the
    true-label cross-entropy ``-log sigmoid(phi)`` (stable, ``scipy.special.log_expit``);
    with ``observation="loss"`` they are used as losses directly.

    Args:
        target_obs: (N,) phi or loss of the target model.
        shadow_membership: (S, N) bool, unused.
        shadow_obs: (S, N), unused.
        observation: ``"confidence"`` or ``"loss"``.

    Returns:
        (N,) scores, higher = more likely member.

    Example:
        >>> s = loss_threshold_attack(np.array([0.0]), np.array([[True]]), np.array([[1.0]]))
        >>> round(float(s[0]), 4)  # -log 2
        -0.6931
    """
    kernel = _loss_kernel(observation=observation)
    return _attack_one_target(kernel, target_obs, shadow_membership, shadow_obs)


def rmia_offline_attack(
    target_obs, shadow_membership, shadow_obs, *, a: float = 0.3, gamma: float = 2.0
) -> np.ndarray:
    """:func:`rmia_offline` on LiRA confidences phi, with the shadow-attack signature.

    Zarifzadeh et al. (ICML 2024). Observations are phi = log p_y - log(1 - p_y); they are mapped
    back to p_y = sigmoid(phi) with ``scipy.special.expit`` (stable for any finite phi).

    Args:
        target_obs: (N,) target model's phi.
        shadow_membership: (S, N) bool reference membership.
        shadow_obs: (S, N) reference models' phi.
        a: offline coefficient, see :func:`rmia_offline`.
        gamma: pairwise threshold, see :func:`rmia_offline`.

    Returns:
        (N,) scores in [0, 1]; NaN for examples with no OUT reference.

    Example:
        >>> rmia_offline_attack(np.array([2.0, -2.0]), np.zeros((1, 2), dtype=bool),
        ...                     np.zeros((1, 2))).tolist()
        [1.0, 0.0]
    """
    kernel = _rmia_kernel(a=a, gamma=gamma, on_confidence=True)
    return _attack_one_target(kernel, target_obs, shadow_membership, shadow_obs)
