"""ROC curves and low-FPR summaries for membership-inference attacks.

The conventions follow the LiRA evaluation code (Carlini et al., S&P 2022,
``tensorflow/privacy`` ``research/mi_lira_2021/plot.py``): one ROC point per distinct score
threshold, trapezoidal AUC, and TPR at a fixed FPR read as ``tpr[np.where(fpr < target)[0][-1]]``.
Higher score always means "predicted member".
"""

from __future__ import annotations

import numpy as np
from scipy import (
    special,  # betaincinv(a, b, q) is scipy.stats.beta.ppf(q, a, b), without scipy.stats' import cost
)


def _as_labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if labels.dtype != np.bool_:
        raise ValueError(
            f"labels must be a boolean array (True = member), got dtype {labels.dtype}"
        )
    if labels.ndim != 1 or scores.ndim != 1:
        raise ValueError(
            f"labels and scores must be 1-D, got shapes {labels.shape} and {scores.shape}"
        )
    if labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must have the same length, got {labels.size} and {scores.size}"
        )
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    scores = scores.astype(np.float64, copy=False)
    if np.isnan(scores).any():
        raise ValueError(
            f"scores contain {int(np.isnan(scores).sum())} NaN value(s); drop them first "
            "(attack_in_turn does this and reports how many)"
        )
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.size:
        raise ValueError(
            f"labels need both members and non-members, got {n_pos} member(s) out of {labels.size}"
        )
    return labels, scores


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic of a score that predicts membership.

    Same points as ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``: one
    point per distinct threshold (tied scores move together), starting at (0, 0) with
    threshold ``+inf``. Used for the LiRA/RMIA evaluations (Carlini et al. 2022).

    Args:
        labels: (n,) bool, True for members. Both classes must occur.
        scores: (n,) float, higher = more likely member. NaN is rejected.

    Returns:
        ``(fpr, tpr, thresholds)``, each (k + 1,) for k distinct scores; ``thresholds`` is
        decreasing and point i counts the examples with ``score >= thresholds[i]``.

    Example:
        >>> fpr, tpr, thr = roc_curve(np.array([True, False, True, False]),
        ...                           np.array([0.9, 0.8, 0.8, 0.1]))
        >>> fpr.tolist(), tpr.tolist(), thr.tolist()
        ([0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0], [inf, 0.9, 0.8, 0.1])
    """
    labels, scores = _as_labels_scores(labels, scores)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]  # (n,) descending
    y = labels[order]
    last_of_run = np.flatnonzero(s[1:] != s[:-1])  # last index of each block of equal scores
    idx = np.r_[last_of_run, s.size - 1]  # (k,)
    tps = np.cumsum(y)[idx]
    fps = idx + 1 - tps
    tps = np.r_[0, tps]
    fps = np.r_[0, fps]
    thresholds = np.r_[np.inf, s[idx]]
    return fps / fps[-1], tps / tps[-1], thresholds


def auc(fpr, tpr) -> float:
    """Area under a ROC curve by the trapezoid rule.

    Args:
        fpr: (k,) non-decreasing false-positive rates, as returned by :func:`roc_curve`.
        tpr: (k,) true-positive rates.

    Returns:
        The area, a float in [0, 1] for a proper ROC curve.

    Example:
        >>> auc(np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]))
        1.0
    """
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size < 2:
        raise ValueError(
            f"fpr and tpr must be 1-D of equal length >= 2, got {fpr.shape} and {tpr.shape}"
        )
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        raise ValueError("fpr and tpr must not contain NaN")
    if np.any(np.diff(fpr) < 0):
        raise ValueError("fpr must be non-decreasing")
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def tpr_at_fpr(fpr, tpr, target: float) -> float:
    """True-positive rate at a fixed false-positive rate, LiRA's convention.

    Returns the largest TPR among ROC points whose FPR is strictly below ``target``, i.e.
    ``tpr[np.where(fpr < target)[0][-1]]`` as in LiRA's ``plot.py`` (Carlini et al. 2022). With
    fewer than ``1 / target`` negatives the only such point has FPR 0.

    Args:
        fpr: (k,) non-decreasing false-positive rates starting at 0.
        tpr: (k,) matching non-decreasing true-positive rates.
        target: the FPR level, in (0, 1].

    Returns:
        The TPR as a float.

    Example:
        >>> tpr_at_fpr(np.array([0.0, 0.1, 0.5, 1.0]), np.array([0.2, 0.4, 0.9, 1.0]), 0.5)
        0.4
    """
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size == 0:
        raise ValueError(
            f"fpr and tpr must be 1-D of equal non-zero length, got {fpr.shape} and {tpr.shape}"
        )
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target FPR must be in (0, 1], got {target}")
    below = np.flatnonzero(fpr < target)
    if below.size == 0:
        raise ValueError(f"no ROC point has FPR below {target}; does fpr start at 0?")
    return float(tpr[below[-1]])


def clopper_pearson(k, n, *, level: float = 0.95):
    """Exact (Clopper–Pearson) binomial confidence interval for a proportion k / n.

    The standard interval for a TPR estimated from n members (used to put error bars on
    TPR@low-FPR, Carlini et al. 2022). Vectorized over broadcastable ``k`` and ``n``.

    Args:
        k: successes, integer(s) with 0 <= k <= n.
        n: trials, integer(s) >= 1.
        level: coverage of the two-sided interval, in (0, 1).

    Returns:
        ``(lo, hi)``: floats for scalar input, otherwise arrays of the broadcast shape.

    Example:
        >>> lo, hi = clopper_pearson(0, 10)
        >>> round(lo, 4), round(hi, 4)
        (0.0, 0.3085)
    """
    k_arr = np.asarray(k)
    n_arr = np.asarray(n)
    if k_arr.dtype.kind not in "iu" or n_arr.dtype.kind not in "iu":
        raise ValueError(f"k and n must be integers, got dtypes {k_arr.dtype} and {n_arr.dtype}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("need 0 <= k <= n and n >= 1")
    alpha = 1.0 - level
    kf = k_arr.astype(np.float64)
    nf = n_arr.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k_arr == 0, 0.0, special.betaincinv(kf, nf - kf + 1, alpha / 2))
        hi = np.where(k_arr == n_arr, 1.0, special.betaincinv(kf + 1, nf - kf, 1 - alpha / 2))
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def attack_metrics(labels, scores, *, fprs=(0.001, 0.01), level: float = 0.95) -> dict:
    """Summary of one membership-inference evaluation: AUC and TPR at low FPR with exact CIs.

    Implements the reporting of LiRA (Carlini et al. 2022): AUC plus TPR at fixed low FPRs
    (read with :func:`tpr_at_fpr`), each with a Clopper–Pearson interval on the number of
    members above that threshold out of all members.

    Args:
        labels: (n,) bool, True for members.
        scores: (n,) float, higher = more likely member; NaN is rejected.
        fprs: FPR levels, each in (0, 1]. Dict keys are ``format(f, 'g')``.
        level: coverage of the TPR intervals.

    Returns:
        ``{"auc", "tpr_at_fpr": {key: float}, "tpr_ci": {key: [lo, hi]}, "n_members",
        "n_nonmembers", "warnings": [str]}``. ``warnings`` is always present (empty when all is
        well); it names every FPR level that has fewer than ``1 / fpr`` non-members behind it.

    Example:
        >>> m = attack_metrics(np.array([True, True, False, False]),
        ...                    np.array([2.0, 1.0, 0.5, -1.0]), fprs=(0.5,))
        >>> m["auc"], m["tpr_at_fpr"], m["n_members"], m["warnings"]
        (1.0, {'0.5': 1.0}, 2, [])
    """
    labels, scores = _as_labels_scores(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    n_members = int(labels.sum())
    n_nonmembers = int(labels.size - n_members)
    out: dict = {
        "auc": auc(fpr, tpr),
        "tpr_at_fpr": {},
        "tpr_ci": {},
        "n_members": n_members,
        "n_nonmembers": n_nonmembers,
        "warnings": [],
    }
    for f in fprs:
        key = format(f, "g")
        t = tpr_at_fpr(fpr, tpr, f)
        k = int(round(t * n_members))
        lo, hi = clopper_pearson(k, n_members, level=level)
        out["tpr_at_fpr"][key] = t
        out["tpr_ci"][key] = [lo, hi]
        needed = int(np.ceil(1.0 / f - 1e-9))  # 1 / f, robust to 1 / 0.001 rounding
        if n_nonmembers < needed:
            out["warnings"].append(
                f"FPR {key} cannot be resolved: only {n_nonmembers} non-members, at least "
                f"{needed} are needed for one false positive at that rate; "
                f"the reported TPR is the TPR at zero false positives. Aggregate more target "
                f"models (attack_in_turn) before quoting it."
            )
    return out
