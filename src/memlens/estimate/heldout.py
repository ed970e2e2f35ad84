"""TPR at low FPR with the threshold chosen on one half of the data and judged on the other.

Reading TPR at 0.1 % FPR off the ROC curve of the same examples that set the threshold
(:func:`~memlens.estimate.metrics.attack_metrics`) is optimistic when non-members are few: the
threshold is fitted to exactly those non-members. Here members and non-members are each split
in two at random; the threshold for each target FPR is chosen on the *calibration* half (LiRA's
rule: the largest TPR among thresholds whose FPR is strictly below the target) and applied,
unchanged, to the *evaluation* half, which reports the TPR and the FPR the threshold actually
lets through, each with an exact (Clopper–Pearson) interval. Conditional on the threshold, the
evaluation half's counts are binomial, so the intervals are exact; with too few non-members a
level cannot be resolved, and the result says so instead of claiming it.
"""

from __future__ import annotations

import numpy as np

from .metrics import _as_labels_scores, clopper_pearson, roc_curve


def split_halves(labels, *, seed: int | np.random.SeedSequence = 0) -> np.ndarray:
    """Which examples calibrate: a random half of the members and a random half of the non-members.

    Stratified, so both halves keep the member fraction; with an odd count the extra example goes
    to the evaluation half (it reports the numbers).

    Args:
        labels: (n,) bool, True for members.
        seed: seeds the split; the same seed gives the same halves.

    Returns:
        (n,) bool, True for the calibration half; ``~mask`` is the evaluation half.

    Example:
        >>> labels = np.array([True] * 5 + [False] * 4)
        >>> mask = split_halves(labels, seed=0)
        >>> int(mask[labels].sum()), int(mask[~labels].sum()), int((~mask).sum())
        (2, 2, 5)
    """
    labels = np.asarray(labels)
    if labels.dtype != np.bool_ or labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D boolean array, got {labels.dtype} {labels.shape}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(labels.size, dtype=bool)
    for group in (np.flatnonzero(labels), np.flatnonzero(~labels)):
        mask[rng.permutation(group)[: group.size // 2]] = True
    return mask


def heldout_tpr_at_fpr(
    labels,
    scores,
    *,
    fprs=(0.001, 0.01),
    calibration=None,
    seed: int | np.random.SeedSequence = 0,
    level: float = 0.95,
) -> dict:
    """TPR at target FPRs, thresholds set on a calibration half, rates measured on the other half.

    For each target FPR f, the threshold t is the lowest score threshold whose FPR on the
    calibration half is strictly below f (the point :func:`~memlens.estimate.metrics.tpr_at_fpr`
    reads; ``inf`` when only "nothing is a member" qualifies). On the evaluation half, "score ≥ t"
    flags k of its m members and j of its u non-members: TPR = k / m and the achieved FPR = j / u,
    each with a Clopper–Pearson interval. The achieved FPR is reported, never assumed to be f.

    A level f is *resolvable* only when each half holds at least ``1 / f`` non-members; otherwise
    the calibration threshold is simply "above every calibration non-member" and a warning says
    what FPR the evaluation half actually shows and with what interval.

    Args:
        labels: (n,) bool, True for members; each class needs at least 2 examples.
        scores: (n,) float, higher = more likely member; NaN is rejected (drop it first).
        fprs: target FPR levels in (0, 1]; dict keys are ``format(f, 'g')``.
        calibration: optional (n,) bool, True for the calibration half (default:
            :func:`split_halves` with ``seed``). Both halves need a member and a non-member.
        seed: seeds the default split.
        level: coverage of the intervals.

    Returns:
        ``{"tpr_at_fpr": {key: float}, "tpr_ci": {key: [lo, hi]}, "fpr_achieved": {key: float},
        "fpr_ci": {key: [lo, hi]}, "threshold": {key: float}, "calibration_fpr": {key: float},
        "flagged": {key: {"members": k, "nonmembers": j}}, "resolvable": {key: bool},
        "n_members": {"calibration": int, "evaluation": int}, "n_nonmembers": {…}, "level",
        "warnings": [str]}``.

    Example:
        >>> labels = np.array([True, True, True, True, False, False, False, False])
        >>> scores = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.3, 0.1, 0.0])
        >>> half = np.array([True, False, True, False, True, False, True, False])
        >>> r = heldout_tpr_at_fpr(labels, scores, fprs=(0.5,), calibration=half)
        >>> r["threshold"]["0.5"], r["tpr_at_fpr"]["0.5"], r["fpr_achieved"]["0.5"]
        (0.7, 0.5, 0.0)
    """
    labels, scores = _as_labels_scores(labels, scores)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    fprs = tuple(float(f) for f in fprs)
    if not fprs or any(not 0.0 < f <= 1.0 for f in fprs):
        raise ValueError(f"every target FPR must be in (0, 1], got {fprs}")
    if calibration is None:
        calibration = split_halves(labels, seed=seed)
    calibration = np.asarray(calibration)
    if calibration.dtype != np.bool_ or calibration.shape != labels.shape:
        raise ValueError(
            f"calibration must be a boolean mask of shape {labels.shape}, got "
            f"{calibration.dtype} {calibration.shape}"
        )
    halves = {"calibration": calibration, "evaluation": ~calibration}
    counts = {
        "n_members": {h: int((labels & m).sum()) for h, m in halves.items()},
        "n_nonmembers": {h: int((~labels & m).sum()) for h, m in halves.items()},
    }
    for kind, word in (("n_members", "members"), ("n_nonmembers", "non-members")):
        for half, k in counts[kind].items():
            if k == 0:
                raise ValueError(
                    f"the {half} half has no {word}: each class needs at least 2 examples, "
                    "one per half"
                )

    fpr_c, _, thresholds = roc_curve(labels[calibration], scores[calibration])
    eval_scores, eval_labels = scores[~calibration], labels[~calibration]
    m = counts["n_members"]["evaluation"]
    u = counts["n_nonmembers"]["evaluation"]
    out: dict = {
        "tpr_at_fpr": {}, "tpr_ci": {}, "fpr_achieved": {}, "fpr_ci": {}, "threshold": {},
        "calibration_fpr": {}, "flagged": {}, "resolvable": {}, **counts, "level": level,
        "warnings": [],
    }  # fmt: skip
    for f in fprs:
        key = format(f, "g")
        point = np.flatnonzero(fpr_c < f)[-1]  # fpr_c[0] == 0 (threshold +inf) always qualifies
        t = float(thresholds[point])
        flagged = eval_scores >= t
        k = int((flagged & eval_labels).sum())
        j = int((flagged & ~eval_labels).sum())
        needed = int(np.ceil(1.0 / f - 1e-9))  # 1 / f, robust to 1 / 0.001 rounding
        resolvable = min(counts["n_nonmembers"].values()) >= needed
        out["threshold"][key] = t
        out["calibration_fpr"][key] = float(fpr_c[point])
        out["tpr_at_fpr"][key] = k / m
        out["tpr_ci"][key] = list(clopper_pearson(k, m, level=level))
        out["fpr_achieved"][key] = j / u
        out["fpr_ci"][key] = list(clopper_pearson(j, u, level=level))
        out["flagged"][key] = {"members": k, "nonmembers": j}
        out["resolvable"][key] = bool(resolvable)
        if not resolvable:
            lo, hi = out["fpr_ci"][key]
            out["warnings"].append(
                f"FPR {key} cannot be resolved: the halves hold "
                f"{counts['n_nonmembers']['calibration']} and {u} non-members, at least {needed} "
                f"each are needed for one false positive at that rate. The threshold lets through "
                f"{j} of {u} evaluation non-members (FPR {j / u:.3g}, {level:.0%} interval "
                f"{lo:.3g}–{hi:.3g}); quote that FPR with the TPR, not {key}."
            )
    return out
