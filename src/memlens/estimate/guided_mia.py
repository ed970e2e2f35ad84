"""Memorization-guided membership inference, the attack itself: per-example privacy scores, the
selection of targets, and an attack's power on them (see :mod:`memlens.estimate.guided`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from ._validate import as_membership, as_observations
from .in_turn import attack_in_turn_per_target
from .metrics import attack_metrics
from .mia import (
    Attack,
    _fit_gaussian,
    lira_online,  # noqa: F401 (the guided_attack example uses it)
)

FIX_VARIANCE_BELOW = 64
"""With fewer models than this, LiRA's advice (and LeakPro's rule for the privacy score) is to
pool one variance over all examples instead of estimating one per example."""


# --------------------------------------------------------------------------------------------
# checks


def _as_mask(mask, n: int, name: str) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean mask over the examples, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}; the observations imply ({n},)")
    return arr


def _as_model_indices(indices, n_models: int, name: str) -> np.ndarray:
    arr = np.asarray(list(indices))
    if arr.size == 0:
        raise ValueError(f"{name} must name at least one model")
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(f"{name} must be a sequence of integer model indices, got {arr!r}")
    if arr.min() < 0 or arr.max() >= n_models:
        raise ValueError(f"{name} must lie in [0, {n_models}), got {arr.tolist()}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{name} names a model more than once: {arr.tolist()}")
    return arr


def _as_fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return float(value)


def _as_count(value, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _auto_fix_variance(fix_variance, n_models: int) -> bool:
    if fix_variance is None:
        return n_models < FIX_VARIANCE_BELOW
    if not isinstance(fix_variance, (bool, np.bool_)):
        raise ValueError(
            f"fix_variance must be True, False or None (automatic), got {fix_variance!r}"
        )
    return bool(fix_variance)


# --------------------------------------------------------------------------------------------
# scores and selection


def privacy_scores(
    membership, observations, *, online: bool = True, fix_variance=None, target_obs=None
) -> np.ndarray:
    """Choi et al.'s privacy score: how far apart an example's IN and OUT phi distributions lie.

    "Why Train More?" (Choi et al. 2023), step 3 of the algorithm, as in LeakPro's
    ``Memorization._privacy_score``. Online: ``|mu_in - mu_out| / (sigma_in + sigma_out)``, means
    and ddof=0 stds of phi over the models trained / not trained on each example. Offline (OUT
    models and one target model only): ``|target_obs - mu_out| / (2 sigma_out)``, assuming
    sigma_in ~= sigma_out and the target's phi standing in for the missing IN models. A higher
    score means a more separable, more attackable example; LeakPro's literature threshold is 2.

    With ``fix_variance`` (default: automatically when there are fewer than
    :data:`FIX_VARIANCE_BELOW` = 64 models) sigma_in is one std over all IN values pooled across
    examples and sigma_out one over all OUT values, as LiRA's ``fix_variance`` and LeakPro do; the
    ranking is then that of ``|mu_in - mu_out|``. Sigmas are floored at ``SIGMA_FLOOR``.

    Args:
        membership: (M, N) bool, True where model k was trained on example i. M >= 2 online,
            M >= 1 offline (only the False entries are used then).
        observations: (M, N) finite phi of those models.
        online: the online score (default) or the offline one.
        fix_variance: pool the variances; ``None`` decides by the number of models.
        target_obs: (N,) the target model's phi; required offline, refused online.

    Returns:
        (N,) scores >= 0; NaN where an example has no IN (online) or no OUT model.

    Example:
        >>> membership = np.array([[True, True], [True, False], [False, True], [False, False]])
        >>> phi = np.array([[4.0, 1.0], [6.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
        >>> privacy_scores(membership, phi, fix_variance=False).tolist()  # |5 - 1| / (1 + 1)
        [2.0, 0.5]
        >>> privacy_scores(membership, phi, online=False, target_obs=np.array([5.0, 0.0]),
        ...                fix_variance=False).tolist()
        [2.0, 0.5]
    """
    membership = as_membership(membership, min_models=2 if online else 1)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    fix_variance = _auto_fix_variance(fix_variance, membership.shape[0])
    mu_out, sd_out = _fit_gaussian(obs, ~membership, center="mean", fix_variance=fix_variance)
    if online:
        if target_obs is not None:
            raise ValueError(
                "target_obs is only used by the offline score; drop it or pass online=False"
            )
        mu_in, sd_in = _fit_gaussian(obs, membership, center="mean", fix_variance=fix_variance)
        return np.abs(mu_in - mu_out) / (sd_in + sd_out)
    if target_obs is None:
        raise ValueError(
            "the offline privacy score needs target_obs, the target model's (N,) phi; "
            "or use online=True with IN and OUT models"
        )
    target = as_observations(
        target_obs,
        name="target_obs",
        shape=(membership.shape[1],),
        against="membership (one value per example)",
    )
    return np.abs(target - mu_out) / (2.0 * sd_out)


def select_targets(scores, *, top_fraction=None, threshold=None, min_count: int = 10) -> np.ndarray:
    """Which examples to attack: the top fraction by score and/or those above a threshold.

    Choi et al. (2023), step 4, with LeakPro's defaults in mind (top 20%, at least 10 points;
    literature thresholds memorization > 0.8, privacy score > 2). Examples are ranked by
    decreasing score, ties by index. ``top_fraction`` keeps the first
    ``ceil(top_fraction * n_valid)`` of the ``n_valid`` non-NaN scores; ``threshold`` keeps
    scores strictly above it; with both, an example must pass both. If that leaves fewer than
    ``min_count``, the next-ranked examples are added up to ``min_count`` (or all valid ones).
    NaN scores are never selected. The selection is always a prefix of the ranking.

    Args:
        scores: (N,) float, higher = more memorized / more attackable.
        top_fraction: in (0, 1], e.g. 0.1 for the top 10%.
        threshold: a score level; examples with ``score > threshold`` pass.
        min_count: the fewest examples to select, >= 0.

    Returns:
        (N,) bool mask of the selected examples.

    Example:
        >>> s = np.array([0.1, 0.9, np.nan, 0.5, 0.7])
        >>> select_targets(s, top_fraction=0.5, min_count=0).tolist()
        [False, True, False, False, True]
        >>> select_targets(s, threshold=0.8, min_count=3).tolist()
        [False, True, False, True, True]
    """
    arr = np.asarray(scores)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if top_fraction is None and threshold is None:
        raise ValueError(
            "give top_fraction (e.g. 0.1 for the top 10%) and/or threshold (e.g. 0.8 for "
            "memorization, 2.0 for privacy scores)"
        )
    min_count = _as_count(min_count, "min_count", minimum=0)
    valid = ~np.isnan(arr)
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise ValueError(f"all {arr.size} scores are NaN; nothing can be selected")
    order = np.argsort(-arr, kind="stable")  # (N,) descending, ties by index, NaN last
    rank = np.empty(arr.size, dtype=np.int64)
    rank[order] = np.arange(arr.size)
    selected = valid.copy()
    if top_fraction is not None:
        fraction = _as_fraction(top_fraction, "top_fraction")
        selected &= rank < math.ceil(fraction * n_valid - 1e-9)
    if threshold is not None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float, np.integer, np.floating))
            or math.isnan(threshold)
        ):
            raise ValueError(f"threshold must be a number, got {threshold!r}")
        selected &= arr > threshold
    if selected.sum() < min_count:
        selected |= valid & (rank < min(min_count, n_valid))
    return selected


# --------------------------------------------------------------------------------------------
# guided attack


def _scores_by_target(membership, obs, attack, targets, shadows) -> np.ndarray:
    """(T, N) attack scores, target t attacked with ``shadows`` minus t (all others if None).

    Goes through :func:`attack_in_turn_per_target`, so its protocol and checks apply unchanged
    (with all other models as shadows, in one call; with a shadow pool, on the stacked rows
    ``[t, shadows...]`` of each target).
    """
    if shadows is None:
        return attack_in_turn_per_target(membership, obs, attack, targets=targets)[1]
    out = np.empty((len(targets), membership.shape[1]))  # (T, N)
    for j, t in enumerate(targets.tolist()):  # loop over target models, not examples
        rows = np.r_[t, shadows[shadows != t]]
        if rows.size < 2:
            raise ValueError(f"target {t} has no shadow model besides itself")
        out[j] = attack_in_turn_per_target(membership[rows], obs[rows], attack, targets=[0])[1][0]
    return out


def _metrics(labels, scores, fprs, name: str) -> dict:
    """attack_metrics on the non-NaN (target, example) pairs, plus counts."""
    labels, scores = labels.ravel(), scores.ravel()
    keep = ~np.isnan(scores)
    try:
        m = attack_metrics(labels[keep], scores[keep], fprs=fprs)
    except ValueError as err:
        raise ValueError(f"cannot evaluate the {name!r} examples: {err}") from None
    m["n_dropped"] = int(keep.size - keep.sum())
    return m


def guided_attack(
    membership,
    observations,
    attack: Attack,
    *,
    targets: Iterable[int],
    selected,
    shadows: Iterable[int] | None = None,
    compare: Mapping[str, np.ndarray] | None = None,
    restrict: str = "evaluation",
    fprs=(0.001, 0.01),
    seed: int = 0,
) -> dict:
    """An attack's power on the selected examples, on all examples, and on a random subset.

    Choi et al. (2023), step 5: run the MIA and report TPR at low FPR on the memorization-selected
    subset, against the same attack on every example and on a uniformly drawn subset of the same
    size (``np.random.default_rng(seed)``). Each target model is attacked with the shadow models
    (default: every other model, as :func:`attack_in_turn`); scores and membership are pooled over
    targets and summarized with :func:`attack_metrics`.

    ``restrict="evaluation"`` (default) runs the attack once on all examples and only evaluates
    on the subset: the attack keeps every shadow observation, so a pooled variance (LiRA's
    ``fix_variance``) or a population (RMIA compares each example with all the others) is the
    same for every subset, and the three results differ only in which examples are scored —
    the quantity the paper is about. ``restrict="columns"`` instead passes only the subset's
    columns to the attack (variances pooled, RMIA population drawn, within the subset) — what
    an attacker who only ever queries those examples would do.

    Args:
        membership: (M, N) bool, M >= 2.
        observations: (M, N) finite observations the attack reads (e.g. phi).
        attack: ``(target_obs (N,), shadow_membership (S, N), shadow_obs (S, N)) -> (N,)``.
        targets: model indices attacked in turn.
        selected: (N,) bool, the examples chosen (e.g. by :func:`select_targets`); not empty.
        shadows: model indices used as shadows for every target (a target is never its own
            shadow); default every other model.
        compare: more named (N,) bool subsets to evaluate the same way, e.g. low memorization.
        restrict: ``"evaluation"`` or ``"columns"``, see above.
        fprs: FPR levels for :func:`attack_metrics`.
        seed: seed of the random subset.

    Returns:
        ``{"selected", "all", "random", **compare}`` each :func:`attack_metrics`'s dict plus
        ``n_dropped`` (NaN scores) and ``n_examples``; and ``n_selected``, ``n_examples``,
        ``targets``, ``n_shadows`` (shadows per target, the fewest), ``restrict``, ``seed``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> membership = rng.random((16, 200)) < 0.5
        >>> gap = np.where(np.arange(200) < 20, 6.0, 0.0)  # the first 20 examples leak
        >>> phi = rng.normal(size=(16, 200)) + membership * gap
        >>> r = guided_attack(membership, phi, lira_online, targets=range(4),
        ...                   selected=np.arange(200) < 20, fprs=(0.1,))
        >>> r["selected"]["tpr_at_fpr"]["0.1"] > 0.9 > r["all"]["tpr_at_fpr"]["0.1"]
        True
    """
    membership = as_membership(membership, min_models=2)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    n_models, n_examples = membership.shape
    selected = _as_mask(selected, n_examples, "selected")
    if not selected.any():
        raise ValueError("selected is empty; select at least one example to attack")
    targets = _as_model_indices(targets, n_models, "targets")
    if shadows is not None:
        shadows = _as_model_indices(shadows, n_models, "shadows")
    if restrict not in ("evaluation", "columns"):
        raise ValueError(f"restrict must be 'evaluation' or 'columns', got {restrict!r}")
    rng = np.random.default_rng(seed)
    n_selected = int(selected.sum())
    random = np.zeros(n_examples, dtype=bool)
    random[rng.choice(n_examples, n_selected, replace=False)] = True
    subsets = {"selected": selected, "all": np.ones(n_examples, dtype=bool), "random": random}
    for name, mask in (compare or {}).items():
        if name in subsets:
            raise ValueError(f"compare may not reuse the name {name!r}")
        subsets[name] = _as_mask(mask, n_examples, f"compare[{name!r}]")
        if not subsets[name].any():
            raise ValueError(f"compare[{name!r}] selects no example")

    labels = membership[targets]  # (T, N)
    result: dict = {}
    if restrict == "evaluation":
        scores = _scores_by_target(membership, obs, attack, targets, shadows)  # (T, N)
    for name, cols in subsets.items():
        if restrict == "columns":
            sub = _scores_by_target(membership[:, cols], obs[:, cols], attack, targets, shadows)
        else:
            sub = scores[:, cols]
        result[name] = _metrics(labels[:, cols], sub, fprs, name)
        result[name]["n_examples"] = int(cols.sum())
    n_shadows = (  # per target; the fewest if a target is also among the shadows
        n_models - 1 if shadows is None else min(int((shadows != t).sum()) for t in targets)
    )
    result.update(
        n_selected=n_selected,
        n_examples=n_examples,
        targets=targets.tolist(),
        n_shadows=n_shadows,
        restrict=restrict,
        seed=seed,
    )
    return result
