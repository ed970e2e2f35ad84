"""Confidence intervals for TPR at low FPR that respect how a leave-one-model-out audit is built.

:func:`~memlens.estimate.in_turn.attack_in_turn` pools T target models' scores into one ROC curve.
The pooled (target, example) pairs are not independent draws: every example is scored under all T
targets (a memorized outlier is found under every target that trained on it), the targets share
all but one shadow model, and each target model is one draw of the training randomness. A
binomial (Clopper–Pearson) interval on the pooled count treats T × N pairs as independent and is
far too narrow (it also ignores that the threshold itself is estimated from the non-members).

:func:`bootstrap_tpr_at_fpr` resamples the two things that were drawn: **examples** (whole
columns, with every target's score for that example, so the across-target dependence and the
shadow models' estimation error for that example travel together) and **targets** (whole rows:
target models are draws too). Each replicate re-chooses the threshold at the target FPR on its
own resampled non-members, by LiRA's rule, and reads the TPR there; the interval is the
percentile interval of the replicates. Resampling rows and columns at once is Owen's pigeonhole
bootstrap (Owen, "The pigeonhole bootstrap", Ann. Appl. Stat. 2007): for crossed random effects
it is mildly conservative (it counts the (target, example) noise up to three times), which is the
safe side for an audit. In the coverage simulation of ``tests/estimate/test_intervals.py``
(8 targets × 2,000 examples, example and target effects, 100 repetitions) it covers the true TPR
at 0.1% and 1% FPR in 97–100% of repetitions whether or not the targets differ; resampling
examples alone (``resample="examples"``: an interval for these T models) covers 94% when the
targets are alike and 90% when they differ; the pooled binomial interval 52–68%. With one
target there is nothing to resample across targets and :func:`attack_summary` keeps the exact
binomial interval.

:func:`attack_summary` is what ``mia.json`` records per attack: the pooled AUC and TPRs, this
interval (named), and the per-target TPRs with their spread.
"""

from __future__ import annotations

import numpy as np

from .metrics import attack_metrics

RESAMPLE = ("both", "examples", "targets")
_BATCH = 25  # replicates drawn and evaluated together: bounds memory, fixes the random stream


def _as_per_target(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Check (T, N) bool labels and (T, N) float scores (NaN = not scored)."""
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if labels.dtype != np.bool_:
        raise ValueError(
            f"labels must be a boolean array (True = member), got dtype {labels.dtype}"
        )
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError(
            f"labels and scores must be 2-D (targets, examples) of one shape, got {labels.shape} "
            f"and {scores.shape}"
        )
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    return labels, scores.astype(np.float64, copy=False)


def _check_fprs(fprs) -> tuple[float, ...]:
    fprs = tuple(float(f) for f in fprs)
    if not fprs or any(not 0.0 < f <= 1.0 for f in fprs):
        raise ValueError(f"fprs must be FPR levels in (0, 1], got {fprs}")
    return fprs


def _draw_counts(rng: np.random.Generator, batch: int, n: int) -> np.ndarray:
    """(batch, n) float counts: how often each of n units is drawn in n draws with replacement."""
    picks = rng.integers(0, n, size=(batch, n)) + (np.arange(batch) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=batch * n).reshape(batch, n).astype(np.float64)


class _SortedScores:
    """The scored (target, example) pairs sorted by descending score, for weighted ROC reads."""

    def __init__(self, labels: np.ndarray, scores: np.ndarray):
        valid = ~np.isnan(scores)
        self.columns = np.flatnonzero(valid.any(axis=0))  # examples with at least one score
        valid = valid[:, self.columns]
        labels, scores = labels[:, self.columns], scores[:, self.columns]
        target, example = np.nonzero(valid)  # (n,) each, n scored pairs
        flat = scores[valid]
        order = np.argsort(-flat, kind="stable")
        self.target, self.example = target[order], example[order]
        member = labels[valid][order]
        self.member = member.astype(np.float64)
        self.nonmember = 1.0 - self.member
        ordered = flat[order]
        # the ROC has one point per distinct score: the last pair of each run of equal scores
        self.ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), ordered.size - 1]
        self.positives = (labels & valid).astype(np.float64)  # (T, n_columns)
        self.negatives = (~labels & valid).astype(np.float64)
        self.n_pairs = ordered.size
        self.negatives_before = np.cumsum(self.nonmember)  # (n,) unweighted

    def tpr_at_fprs(self, example_w: np.ndarray, target_w: np.ndarray, fprs) -> np.ndarray:
        """(R, F) TPR at each FPR for R weightings of the pairs, by LiRA's rule.

        Pair (t, i) counts ``target_w[r, t] * example_w[r, i]`` times. The TPR at FPR f is the
        largest TPR among ROC points whose FPR is strictly below f (0 when none is), exactly
        :func:`~memlens.estimate.metrics.tpr_at_fpr` on the weighted ROC. Only the top of the
        ranking can hold the answer, so weights are accumulated over a prefix (twice the
        non-members max(fprs) needs, unweighted), doubled until every replicate's FPR at its end
        reaches max(fprs).
        """
        total_pos = ((example_w @ self.positives.T) * target_w).sum(axis=1)  # (R,)
        total_neg = ((example_w @ self.negatives.T) * target_w).sum(axis=1)
        top = max(fprs)
        # start where the unweighted ranking has twice the non-members the largest FPR needs
        wanted = 2.0 * top * self.negatives_before[-1] + 100.0
        length = min(self.n_pairs, int(np.searchsorted(self.negatives_before, wanted)) + 1)
        while True:
            ends = self.ends[self.ends < length]
            if ends.size == 0:  # the prefix lies inside one run of tied scores: no ROC point yet
                length = min(self.n_pairs, 2 * length)
                continue
            weight = example_w[:, self.example[:length]] * target_w[:, self.target[:length]]
            false_pos = np.cumsum(weight * self.nonmember[:length], axis=1)[:, ends]  # (R, k)
            true_pos = np.cumsum(weight * self.member[:length], axis=1)[:, ends]
            with np.errstate(invalid="ignore", divide="ignore"):
                fpr = false_pos / total_neg[:, None]
            if length == self.n_pairs or bool(np.all(fpr[:, -1] >= top)):
                break
            length = min(self.n_pairs, 2 * length)
        out = np.empty((example_w.shape[0], len(fprs)))
        for j, f in enumerate(fprs):
            below = (fpr < f).sum(axis=1)  # ROC points (after the origin) with FPR < f
            at = np.take_along_axis(true_pos, np.maximum(below - 1, 0)[:, None], axis=1)[:, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, j] = np.where(below > 0, at, 0.0) / total_pos
        out[(total_pos == 0) | (total_neg == 0)] = np.nan  # a replicate with one class only
        return out


def bootstrap_tpr_at_fpr(
    labels,
    scores,
    *,
    fprs=(0.001, 0.01),
    level: float = 0.95,
    replicates: int = 200,
    resample: str = "both",
    seed: int = 0,
) -> dict:
    """TPR at low FPR of scores pooled over targets, with a bootstrap interval over examples and targets.

    The point estimate is LiRA's pooled TPR at FPR (Carlini et al. 2022), the same number as
    :func:`~memlens.estimate.metrics.attack_metrics` on the pooled non-NaN pairs. Each bootstrap
    replicate draws N examples (whole columns) and/or T targets (whole rows) with replacement,
    re-chooses the threshold at each FPR on its resampled non-members, and reads the TPR; the
    interval is the percentile interval of the replicates (see the module docstring for why).

    Args:
        labels: (T, N) bool, membership of example i in target model t.
        scores: (T, N) float, higher = more likely member; NaN where not scored (dropped).
        fprs: FPR levels in (0, 1]; result keys are ``format(f, "g")``.
        level: coverage of the interval, in (0, 1).
        replicates: bootstrap replicates (200 gives stable 95% percentile limits).
        resample: ``"both"`` (examples and targets; the default), ``"examples"`` (the targets
            held fixed: the interval is for these T models) or ``"targets"``.
        seed: seeds the resampling; the same seed gives the same interval.

    Returns:
        ``{"tpr_at_fpr": {key: float}, "tpr_ci": {key: [lo, hi]}, "replicates", "level",
        "resample", "seed", "n_invalid"}``; ``n_invalid`` counts replicates with no member or no
        non-member (left out of the percentiles).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.random((4, 500)) < 0.5
        >>> scores = rng.normal(size=(4, 500)) + 2.0 * labels
        >>> r = bootstrap_tpr_at_fpr(labels, scores, fprs=(0.1,), replicates=50)
        >>> lo, hi = r["tpr_ci"]["0.1"]
        >>> bool(lo < r["tpr_at_fpr"]["0.1"] < hi)
        True
    """
    labels, scores = _as_per_target(labels, scores)
    fprs = _check_fprs(fprs)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resample not in RESAMPLE:
        raise ValueError(f"resample must be one of {RESAMPLE}, got {resample!r}")
    if (
        isinstance(replicates, bool)
        or not isinstance(replicates, (int, np.integer))
        or replicates < 2
    ):
        raise ValueError(f"replicates must be an integer >= 2, got {replicates!r}")
    valid = ~np.isnan(scores)
    n_pos = int((labels & valid).sum())
    if n_pos == 0 or n_pos == int(valid.sum()):
        raise ValueError(
            f"labels need both members and non-members among the scored pairs, got {n_pos} "
            f"member(s) out of {int(valid.sum())}"
        )
    pairs = _SortedScores(labels, scores)
    n_targets, n_columns = labels.shape[0], pairs.columns.size
    point = pairs.tpr_at_fprs(np.ones((1, n_columns)), np.ones((1, n_targets)), fprs)[0]

    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, int(replicates), _BATCH):
        batch = min(_BATCH, int(replicates) - start)
        example_w = (
            _draw_counts(rng, batch, n_columns)
            if resample in ("both", "examples")
            else np.ones((batch, n_columns))
        )
        target_w = (
            _draw_counts(rng, batch, n_targets)
            if resample in ("both", "targets")
            else np.ones((batch, n_targets))
        )
        draws.append(pairs.tpr_at_fprs(example_w, target_w, fprs))
    draws = np.concatenate(draws)  # (R, F)
    invalid = np.isnan(draws).any(axis=1)
    tail = (1.0 - level) / 2.0
    result = {"tpr_at_fpr": {}, "tpr_ci": {}}
    for j, f in enumerate(fprs):
        key = format(f, "g")
        result["tpr_at_fpr"][key] = float(point[j])
        ok = draws[~invalid, j]
        lo, hi = np.quantile(ok, [tail, 1.0 - tail]) if ok.size else (np.nan, np.nan)
        result["tpr_ci"][key] = [float(lo), float(hi)]
    result.update(
        replicates=int(replicates), level=float(level), resample=resample, seed=int(seed),
        n_invalid=int(invalid.sum()),
    )  # fmt: skip
    return result


def per_target_tpr_at_fpr(labels, scores, *, fprs=(0.001, 0.01)) -> dict:
    """Each target's own AUC and TPR at FPR (its own ROC and threshold), and their spread.

    Shows how much the audited models differ from one another, which a pooled number hides.

    Args:
        labels: (T, N) bool membership per target.
        scores: (T, N) float scores; NaN where not scored.
        fprs: FPR levels in (0, 1].

    Returns:
        ``{"auc": [T], "tpr_at_fpr": {key: [T]}, "n_members": [T], "n_nonmembers": [T],
        "spread": {key: {"min", "max", "sd"}}, "resolved": {key: bool}}``: ``sd`` is the ddof=1
        standard deviation across targets (0 for one target); ``resolved`` says whether every
        target has at least 1/f non-members, i.e. its TPR at f is not a TPR at zero false
        positives. A target with one class only gets None (as does a spread with no value).

    Example:
        >>> labels = np.array([[True, True, False, False], [True, False, True, False]])
        >>> scores = np.array([[2.0, 1.0, 0.5, -1.0], [2.0, 1.0, -1.0, 0.5]])
        >>> r = per_target_tpr_at_fpr(labels, scores, fprs=(0.5,))
        >>> r["auc"], r["tpr_at_fpr"]["0.5"], r["spread"]["0.5"]["max"]
        ([1.0, 0.5], [1.0, 0.5], 1.0)
    """
    labels, scores = _as_per_target(labels, scores)
    fprs = _check_fprs(fprs)
    keys = [format(f, "g") for f in fprs]
    out: dict = {
        "auc": [],
        "tpr_at_fpr": {k: [] for k in keys},
        "n_members": [],
        "n_nonmembers": [],
    }
    for row_labels, row_scores in zip(labels, scores, strict=True):
        keep = ~np.isnan(row_scores)
        y, s = row_labels[keep], row_scores[keep]
        n_members = int(y.sum())
        out["n_members"].append(n_members)
        out["n_nonmembers"].append(int(y.size - n_members))
        if n_members == 0 or n_members == y.size:  # no ROC: None, which JSON can hold
            out["auc"].append(None)
            for k in keys:
                out["tpr_at_fpr"][k].append(None)
            continue
        m = attack_metrics(y, s, fprs=fprs)
        out["auc"].append(m["auc"])
        for k in keys:
            out["tpr_at_fpr"][k].append(m["tpr_at_fpr"][k])
    out["spread"], out["resolved"] = {}, {}
    for f, k in zip(fprs, keys, strict=True):
        needed = int(np.ceil(1.0 / f - 1e-9))  # non-members for one false positive at f
        out["resolved"][k] = bool(min(out["n_nonmembers"]) >= needed)
        values = np.asarray(out["tpr_at_fpr"][k], dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            out["spread"][k] = {"min": None, "max": None, "sd": None}
            continue
        out["spread"][k] = {
            "min": float(finite.min()),
            "max": float(finite.max()),
            "sd": float(finite.std(ddof=1)) if finite.size >= 2 else 0.0,
        }
    return out


def attack_summary(
    labels,
    scores,
    *,
    fprs=(0.001, 0.01),
    level: float = 0.95,
    replicates: int = 200,
    resample: str = "both",
    seed: int = 0,
) -> dict:
    """Everything ``mia.json`` says about one attack evaluated on T targets in turn.

    Pooled AUC and TPR at each FPR (:func:`~memlens.estimate.metrics.attack_metrics` on the
    non-NaN pairs), with an interval that holds: the exact binomial (Clopper–Pearson) one for a
    single target, :func:`bootstrap_tpr_at_fpr` for several. Per-target values and their spread
    come from :func:`per_target_tpr_at_fpr`.

    Args:
        labels: (T, N) bool, from :func:`~memlens.estimate.in_turn.attack_in_turn_per_target`.
        scores: (T, N) float; NaN where not scored.
        fprs, level: as :func:`~memlens.estimate.metrics.attack_metrics`.
        replicates, resample, seed: as :func:`bootstrap_tpr_at_fpr` (used when T >= 2).

    Returns:
        The keys of ``attack_metrics`` (``auc``, ``tpr_at_fpr``, ``tpr_ci``, ``n_members``,
        ``n_nonmembers``, ``warnings``) plus ``n_dropped`` (NaN scores), ``tpr_ci_method``
        (``"clopper-pearson"`` or ``"bootstrap"``), ``interval`` (the bootstrap's settings,
        T >= 2 only) and ``per_target`` (:func:`per_target_tpr_at_fpr`).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> labels = rng.random((1, 400)) < 0.5
        >>> s = attack_summary(labels, rng.normal(size=(1, 400)) + labels, fprs=(0.1,))
        >>> s["tpr_ci_method"], len(s["per_target"]["auc"])
        ('clopper-pearson', 1)
    """
    labels, scores = _as_per_target(labels, scores)
    valid = ~np.isnan(scores)
    summary = attack_metrics(labels[valid], scores[valid], fprs=fprs, level=level)
    summary["n_dropped"] = int(valid.size - valid.sum())
    if labels.shape[0] == 1:
        summary["tpr_ci_method"] = "clopper-pearson"
    else:
        boot = bootstrap_tpr_at_fpr(
            labels, scores, fprs=fprs, level=level, replicates=replicates, resample=resample,
            seed=seed,
        )  # fmt: skip
        summary["tpr_ci"] = boot["tpr_ci"]
        summary["tpr_ci_method"] = "bootstrap"
        summary["interval"] = {
            k: boot[k] for k in ("resample", "replicates", "level", "seed", "n_invalid")
        }
    summary["per_target"] = per_target_tpr_at_fpr(labels, scores, fprs=fprs)
    return summary
