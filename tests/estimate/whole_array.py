"""The whole-array implementation of the estimators before they went block-wise (git afd3db2), kept
as a twin: the block-wise estimators must give the same numbers (the tests say how exactly).
Verbatim but for the imports and these lines."""

# ruff: noqa

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from scipy import special

from memlens.estimate._validate import as_membership, as_observations, as_probabilities
from memlens.estimate.metrics import auc, roc_curve

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


def _check_shadows(target_obs, shadow_membership, shadow_obs, *, min_models: int, prob=False):
    """Validate (N,), (S, N) bool, (S, N) inputs; returns float64 arrays."""
    membership = as_membership(shadow_membership, name="shadow_membership", min_models=min_models)
    check = as_probabilities if prob else as_observations
    shadow = check(
        shadow_obs, name="shadow_obs", shape=membership.shape, against="shadow_membership"
    )
    target = check(
        target_obs,
        name="target_obs",
        shape=(membership.shape[1],),
        against="shadow_membership (one value per example)",
    )
    return target, membership, shadow


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


def _fit_gaussian(values, mask, *, center: str, fix_variance: bool):
    """Per-example (center, sigma) of the shadow observations selected by ``mask``; (N,) each."""
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', got {center!r}")
    mean, std = _masked_mean_std(values, mask)
    mu = _masked_median(values, mask) if center == "median" else mean
    if fix_variance:
        std = np.full_like(mean, _pooled_std(values, mask))
    sigma = np.maximum(std, SIGMA_FLOOR)  # NaN stays NaN
    return mu, sigma


def _normal_logpdf(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - _LOG_SQRT_2PI


# --------------------------------------------------------------------------------------------
# LiRA


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
        shadow_obs: (S, N) shadow models' observations; finite.
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
    target, membership, shadow = _check_shadows(
        target_obs, shadow_membership, shadow_obs, min_models=2
    )
    mu_in, sd_in = _fit_gaussian(shadow, membership, center=center, fix_variance=fix_variance)
    mu_out, sd_out = _fit_gaussian(shadow, ~membership, center=center, fix_variance=fix_variance)
    return _normal_logpdf(target, mu_in, sd_in) - _normal_logpdf(target, mu_out, sd_out)


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
        shadow_obs: (S, N) shadow observations; finite.
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
    target, membership, shadow = _check_shadows(
        target_obs, shadow_membership, shadow_obs, min_models=1
    )
    mu_out, sd_out = _fit_gaussian(shadow, ~membership, center=center, fix_variance=fix_variance)
    if one_sided:
        return special.log_ndtr((target - mu_out) / sd_out)  # = scipy.stats.norm.logcdf
    return -_normal_logpdf(target, mu_out, sd_out)


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
        reference_prob: (R, N) reference models' true-label probabilities, in [0, 1].
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
    target, membership, ref = _check_shadows(
        target_prob, reference_membership, reference_prob, min_models=1, prob=True
    )
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must be in [0, 1], got {a}")
    if not gamma > 0.0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    out = ~membership
    with np.errstate(invalid="ignore", divide="ignore"):
        pr_out = np.where(out, ref, 0.0).sum(axis=0) / out.sum(axis=0)  # (N,), NaN if no OUT
    pr_x = np.maximum(0.5 * ((1.0 + a) * pr_out + (1.0 - a)), PROB_FLOOR)
    return _pairwise_fraction(target / pr_x, gamma)


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
    target, _, _ = _check_shadows(target_obs, shadow_membership, shadow_obs, min_models=1)
    if observation == "confidence":
        return loss_attack(-special.log_expit(target))
    if observation == "loss":
        return loss_attack(target)
    raise ValueError(f"observation must be 'confidence' or 'loss', got {observation!r}")


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
    target, membership, shadow = _check_shadows(
        target_obs, shadow_membership, shadow_obs, min_models=1
    )
    return rmia_offline(special.expit(target), membership, special.expit(shadow), a=a, gamma=gamma)


def attack_in_turn(
    membership, observations, attack: Attack, *, targets: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Evaluate an attack leave-one-model-out: each target model attacked with all the others.

    The evaluation protocol of LiRA (Carlini et al. 2022): for each t in ``targets``, call
    ``attack(observations[t], membership[others], observations[others])`` with others = every
    model but t, and label its scores with ``membership[t]``. Results are concatenated over
    targets, so low FPRs have enough non-members behind them. NaN scores (examples an attack
    cannot score, e.g. no OUT shadow) are dropped and counted.

    Args:
        membership: (M, N) bool, M >= 2.
        observations: (M, N) finite observations (e.g. phi).
        attack: callable ``(target_obs (N,), shadow_membership (M-1, N), shadow_obs (M-1, N))
            -> (N,) scores``; bind options with ``functools.partial``.
        targets: model indices in [0, M) to attack in turn.

    Returns:
        ``(labels, scores, n_dropped)``: (n,) bool, (n,) float with n = len(targets) * N -
        n_dropped, and the number of NaN scores dropped.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, False]])
        >>> phi = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> labels, scores, dropped = attack_in_turn(membership, phi, lira_offline,
        ...                                          targets=[0, 1])
        >>> labels.tolist(), dropped  # target 1's example 0 has no OUT shadow
        ([True, False, True], 1)
    """
    membership = as_membership(membership, min_models=2)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    n_models, n_examples = membership.shape
    targets = np.asarray(list(targets))
    if targets.size == 0:
        raise ValueError("targets must name at least one model")
    if targets.dtype.kind not in "iu" or targets.ndim != 1:
        raise ValueError(f"targets must be a sequence of integer model indices, got {targets!r}")
    if targets.min() < 0 or targets.max() >= n_models:
        raise ValueError(f"targets must lie in [0, {n_models}), got {targets.tolist()}")

    all_labels, all_scores = [], []
    for t in targets.tolist():  # loop over target models, not examples
        others = np.arange(n_models) != t
        scores = np.asarray(attack(obs[t], membership[others], obs[others]), dtype=np.float64)
        if scores.shape != (n_examples,):
            raise ValueError(
                f"attack returned shape {scores.shape} for target {t}; expected ({n_examples},)"
            )
        all_labels.append(membership[t])
        all_scores.append(scores)
    labels = np.concatenate(all_labels)
    scores = np.concatenate(all_scores)
    keep = ~np.isnan(scores)
    return labels[keep], scores[keep], int(keep.size - keep.sum())


# ---- memorization.py ----


from dataclasses import dataclass, fields

import numpy as np

from memlens.estimate._validate import as_membership, as_min_models, as_observations


@dataclass(frozen=True, eq=False)
class MemorizationScores:
    """Per-example Feldman–Zhang memorization estimates, all arrays of shape (N,).

    Attributes:
        memorization: mean_in - mean_out; NaN where either side has fewer than ``min_models``.
        stderr: sqrt(var_in / in_count + var_out / out_count), ddof=1 variances; NaN where either
            side has fewer than 2 models or ``memorization`` is NaN.
        in_count: number of models trained on the example (int).
        out_count: number of models not trained on it (int).
        mean_in: mean observation over IN models; NaN where ``in_count == 0``.
        mean_out: mean observation over OUT models; NaN where ``out_count == 0``.
    """

    memorization: np.ndarray
    stderr: np.ndarray
    in_count: np.ndarray
    out_count: np.ndarray
    mean_in: np.ndarray
    mean_out: np.ndarray

    def to_dict(self) -> dict[str, np.ndarray]:
        """Field name -> writable copy of the (N,) array, e.g. for ``pandas.DataFrame``.

        Example:
            >>> s = memorization_scores(np.array([[True], [False]]), np.array([[1.0], [0.0]]))
            >>> sorted(s.to_dict())
            ['in_count', 'mean_in', 'mean_out', 'memorization', 'out_count', 'stderr']
        """
        return {f.name: np.array(getattr(self, f.name)) for f in fields(self)}


def _side_stats(mask: np.ndarray, obs: np.ndarray):
    """Count, mean and ddof=1 variance of ``obs`` over rows where ``mask``; each (N,)."""
    count = mask.sum(axis=0)  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, obs, 0.0).sum(axis=0) / count  # NaN where count == 0
        dev = np.where(mask, obs - mean, 0.0)  # (M, N)
        var = (dev**2).sum(axis=0) / (count - 1)
    var = np.where(count >= 2, var, np.nan)
    return count, mean, var


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)


def memorization_scores(membership, observations, *, min_models: int = 1) -> MemorizationScores:
    """Feldman–Zhang memorization: mean observation when trained on minus when held out.

    Implements the subsampled estimator of Feldman & Zhang (NeurIPS 2020, §6 of the seed notes):
    ``mem_i = mean_{k: i in I_k} obs[k, i] - mean_{k: i not in I_k} obs[k, i]``.

    Args:
        membership: (M, N) bool, True where model k was trained on example i. M >= 2.
        observations: (M, N) numeric, e.g. 0/1 correctness or true-class probability; must be
            finite.
        min_models: examples with fewer than this many IN or OUT models get NaN memorization
            (and stderr) instead of an error.

    Returns:
        :class:`MemorizationScores` of (N,) read-only arrays.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> correct = np.array([[1, 1], [0, 1], [1, 1], [0, 1]])
        >>> memorization_scores(membership, correct).memorization.tolist()
        [1.0, 0.0]
    """
    membership = as_membership(membership, min_models=2)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    min_models = as_min_models(min_models)

    in_count, mean_in, var_in = _side_stats(membership, obs)
    out_count, mean_out, var_out = _side_stats(~membership, obs)
    enough = (in_count >= min_models) & (out_count >= min_models)
    mem = np.where(enough, mean_in - mean_out, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        stderr = np.sqrt(var_in / in_count + var_out / out_count)
    stderr = np.where(enough, stderr, np.nan)
    in_count = in_count.astype(np.int64)
    out_count = out_count.astype(np.int64)
    _readonly(mem, stderr, in_count, out_count, mean_in, mean_out)
    return MemorizationScores(mem, stderr, in_count, out_count, mean_in, mean_out)


def influence_scores(membership, test_observations, *, min_models: int = 1) -> np.ndarray:
    """Feldman–Zhang influence of each training example on each test example.

    Implements ``infl[j, i] = mean_{k: i IN} test[k, j] - mean_{k: i OUT} test[k, j]``
    (Feldman & Zhang, NeurIPS 2020) with two matrix products.

    Args:
        membership: (M, N) bool, True where model k was trained on training example i. M >= 2.
        test_observations: (M, n_test) numeric, e.g. test correctness of each model; finite.
        min_models: columns i with fewer than this many IN or OUT models are NaN.

    Returns:
        (n_test, N) float array.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> test_correct = np.array([[1], [0], [1], [0]])
        >>> influence_scores(membership, test_correct).tolist()
        [[1.0, 0.0]]
    """
    membership = as_membership(membership, min_models=2)
    test = as_observations(test_observations, name="test_observations", ndim=2)
    if test.shape[0] != membership.shape[0]:
        raise ValueError(
            f"test_observations has {test.shape[0]} models (rows) but membership has "
            f"{membership.shape[0]}"
        )
    min_models = as_min_models(min_models)
    inside = membership.astype(np.float64)  # (M, N)
    in_count = inside.sum(axis=0)  # (N,)
    out_count = membership.shape[0] - in_count
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = (test.T @ inside) / in_count  # (n_test, N)
        mean_out = (test.T @ (1.0 - inside)) / out_count
    enough = (in_count >= min_models) & (out_count >= min_models)  # (N,)
    return np.where(enough, mean_in - mean_out, np.nan)
