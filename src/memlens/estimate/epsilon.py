"""Lower bounds on a training algorithm's differential-privacy ε from membership audits.

An (ε, δ)-DP training algorithm limits every membership test: TPR ≤ e^ε · FPR + δ and
TNR ≤ e^ε · FNR + δ. An audit that shows a better test proves ε is at least some value, with
confidence 1 − β over the audit's own randomness. Two designs:

- :func:`epsilon_lower_bound` (many runs; Jagielski, Ullman & Oprea 2020, "Auditing differentially
  private machine learning"; Nasr et al. 2021): one (model, canary) trial per training run, the
  canary IN or OUT; Clopper–Pearson bounds on TPR and FPR at each score threshold.
- :func:`one_run_epsilon_lower_bound` (one run; Steinke, Nasr & Jagielski 2023, "Privacy auditing
  with one (1) training run"): m canaries each included with probability ½ in a single run; the
  auditor guesses IN for the top-scored, OUT for the bottom-scored, abstains on the rest.

Both return 0 when the audit proves nothing (ε ≥ 0 always holds). A lower bound is evidence
against a claimed ε only: a bound far below the accountant's ε says the attack is weak, not that
the model is more private.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..errors import DataError
from .heldout import split_halves
from .metrics import clopper_pearson


def _as_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)):
        raise DataError(f"beta must be a number in (0, 1), got {beta!r}")
    if not 0.0 < float(beta) < 1.0:
        raise DataError(
            f"beta must be in (0, 1): it is the audit's failure probability (0.05 gives a bound "
            f"that holds with 95% confidence), got {beta}"
        )
    return float(beta)


def _as_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)):
        raise DataError(f"delta must be a number in [0, 1), got {delta!r}")
    if not 0.0 <= float(delta) < 1.0:
        raise DataError(
            f"delta must be in [0, 1) (the δ of the (ε, δ)-DP claim under test), got {delta}"
        )
    return float(delta)


def _as_membership_scores(membership, scores) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (n,) bool labels and (n,) float scores; 0/1 integers accepted as labels."""
    labels = np.asarray(membership)
    values = np.asarray(scores)
    if labels.shape != values.shape:
        raise DataError(
            f"membership and scores must have the same shape (one score per trial), got "
            f"{labels.shape} and {values.shape}"
        )
    if labels.size == 0:
        raise DataError("membership and scores are empty; an audit needs trials")
    if labels.dtype != np.bool_:
        if labels.dtype.kind not in "iuf" or not np.isin(labels, (0, 1)).all():
            raise DataError(
                f"membership must be boolean or 0/1 (1 = the canary was trained on), got dtype "
                f"{labels.dtype} with values outside {{0, 1}}; convert explicitly"
            )
        labels = labels == 1
    if values.dtype.kind not in "biuf":
        raise DataError(f"scores must be numeric (higher = member), got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise DataError(
            f"scores contain {bad} NaN or infinite value(s); drop those trials (with their "
            "membership entries) before auditing"
        )
    return labels.ravel(), values.ravel()


def _need_both_classes(labels: np.ndarray, what: str) -> tuple[int, int]:
    n_in = int(labels.sum())
    n_out = int(labels.size - n_in)
    if n_in == 0 or n_out == 0:
        raise DataError(
            f"{what} has {n_in} IN and {n_out} OUT trial(s); a bound on TPR and FPR needs both"
        )
    return n_in, n_out


def _threshold_counts(labels, scores):
    """Per distinct threshold t (descending), how many IN / OUT trials have score >= t."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = labels[order]
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]  # last index of each tie block
    tp = np.cumsum(y)[ends]
    fp = ends + 1 - tp
    return s[ends], tp, fp


def _bound_from_counts(tp, fp, n_in, n_out, *, delta, beta):
    """ε lower bound per threshold from flagged counts; both one-sided bounds at β / 2 each."""
    tpr_lo, _ = clopper_pearson(tp, n_in, level=1.0 - beta)
    _, fpr_hi = clopper_pearson(fp, n_out, level=1.0 - beta)
    tpr_lo = np.asarray(tpr_lo, dtype=np.float64)
    fpr_hi = np.asarray(fpr_hi, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # TPR ≤ e^ε FPR + δ  and  TNR ≤ e^ε FNR + δ, each at its least favourable bound
        via_tpr = np.log(np.maximum(tpr_lo - delta, 0.0) / fpr_hi)
        via_tnr = np.log(np.maximum(1.0 - fpr_hi - delta, 0.0) / (1.0 - tpr_lo))
    eps = np.maximum(np.maximum(via_tpr, via_tnr), 0.0)
    return eps, tpr_lo, fpr_hi


def epsilon_lower_bound_curve(membership, scores, *, delta: float = 0.0, beta: float = 0.05):
    """ε lower bound at every score threshold of a many-run audit (Jagielski et al. 2020).

    Flagging "score ≥ t" as IN gives tp of n_in IN trials and fp of n_out OUT trials. With
    Clopper–Pearson bounds TPR_lo (one-sided, β / 2) and FPR_hi (one-sided, β / 2), which hold
    together with probability ≥ 1 − β, ε ≥ max(log((TPR_lo − δ) / FPR_hi),
    log((1 − FPR_hi − δ) / (1 − TPR_lo)), 0) — the pair of Jagielski et al.'s code, with the
    least favourable end of each interval in both ratios. Each entry alone holds at 1 − β; the
    maximum over entries does not (see :func:`epsilon_lower_bound`).

    Args:
        membership: any shape, bool or 0/1, True = the canary was in that run's training set.
        scores: same shape, float, higher = more likely IN. NaN and inf are rejected.
        delta: the δ of the (ε, δ)-DP claim, in [0, 1).
        beta: failure probability of each bound, in (0, 1).

    Returns:
        ``(thresholds, epsilon, tp, fp)``: (k,) arrays over the k distinct scores, thresholds
        descending.

    Example:
        >>> thr, eps, tp, fp = epsilon_lower_bound_curve(
        ...     np.array([1] * 50 + [0] * 50), np.array([1.0] * 50 + [0.0] * 50))
        >>> thr.tolist(), tp.tolist(), fp.tolist(), round(float(eps[0]), 3)
        ([1.0, 0.0], [50, 50], [0, 50], 2.57)
    """
    beta = _as_beta(beta)
    delta = _as_delta(delta)
    labels, values = _as_membership_scores(membership, scores)
    n_in, n_out = _need_both_classes(labels, "the audit")
    thresholds, tp, fp = _threshold_counts(labels, values)
    eps, _, _ = _bound_from_counts(tp, fp, n_in, n_out, delta=delta, beta=beta)
    return thresholds, eps, tp, fp


def epsilon_lower_bound(
    membership,
    scores,
    *,
    delta: float = 0.0,
    beta: float = 0.05,
    split: bool = False,
    seed: int | np.random.SeedSequence = 0,
) -> dict:
    """Best ε lower bound over score thresholds from a many-run membership audit.

    Implements Jagielski et al. 2020 / Nasr et al. 2021 (see :func:`epsilon_lower_bound_curve` for
    the per-threshold bound). Clopper–Pearson needs independent trials: one canary per training
    run, as in those papers. Many examples scored in the same model are dependent; pooling them
    here gives a heuristic figure, for one run use :func:`one_run_epsilon_lower_bound`.

    Picking the best threshold on the same trials that bound it makes the result optimistic (a
    maximum over many 1 − β bounds is not a 1 − β bound), though the conservative intervals
    usually hide it. ``split=True`` removes the issue: IN and OUT trials are each halved at random
    (:func:`~memlens.estimate.heldout.split_halves`), the threshold with the best bound on the
    first half is chosen, and the bound is computed on the second half alone — valid at 1 − β,
    at the cost of half the trials.

    Args:
        membership: any shape, bool or 0/1, True = the canary was trained on in that trial.
        scores: same shape, float, higher = more likely IN. NaN and inf are rejected.
        delta: the δ of the (ε, δ)-DP claim, in [0, 1).
        beta: failure probability, in (0, 1); 0.05 means 95% confidence.
        split: choose the threshold on one half of the trials and bound on the other.
        seed: seeds the split.

    Returns:
        ``{"epsilon", "threshold", "tp", "fp", "n_in", "n_out", "tpr_lower", "fpr_upper",
        "delta", "beta", "split", "n_thresholds"}``: the counts are those of the trials the bound
        was computed on (the second half when ``split``); ``threshold`` is ``inf`` (flag nothing)
        when no threshold gives a positive bound.

    Example:
        >>> r = epsilon_lower_bound(np.array([1] * 50 + [0] * 50),
        ...                         np.array([1.0] * 50 + [0.0] * 50))
        >>> round(r["epsilon"], 3), r["threshold"], r["tp"], r["fp"]
        (2.57, 1.0, 50, 0)
    """
    beta = _as_beta(beta)
    delta = _as_delta(delta)
    labels, values = _as_membership_scores(membership, scores)
    _need_both_classes(labels, "the audit")
    if split:
        first = split_halves(labels, seed=seed)
        for name, half in (("first", first), ("second", ~first)):
            _need_both_classes(labels[half], f"the {name} half (split=True needs ≥ 2 of each)")
        thr_c, eps_c, _, _ = epsilon_lower_bound_curve(
            labels[first], values[first], delta=delta, beta=beta
        )
        chosen = float(thr_c[int(np.argmax(eps_c))]) if eps_c.max() > 0 else math.inf
        labels, values = labels[~first], values[~first]
        n_in, n_out = _need_both_classes(labels, "the second half")
        flagged = values >= chosen
        tp = np.array([int((flagged & labels).sum())])
        fp = np.array([int((flagged & ~labels).sum())])
        thresholds = np.array([chosen])
        n_thresholds = int(thr_c.size)
    else:
        n_in, n_out = _need_both_classes(labels, "the audit")
        thresholds, tp, fp = _threshold_counts(labels, values)
        n_thresholds = int(thresholds.size)
    eps, tpr_lo, fpr_hi = _bound_from_counts(tp, fp, n_in, n_out, delta=delta, beta=beta)
    best = int(np.argmax(eps))
    if eps[best] <= 0.0 and not split:
        threshold, k, j = math.inf, 0, 0  # nothing proved: report the "flag nothing" test
        lo = clopper_pearson(0, n_in, level=1.0 - beta)[0]
        hi = clopper_pearson(0, n_out, level=1.0 - beta)[1]
    else:
        threshold, k, j = float(thresholds[best]), int(tp[best]), int(fp[best])
        lo, hi = float(tpr_lo[best]), float(fpr_hi[best])
    return {
        "epsilon": float(eps[best]),
        "threshold": threshold,
        "tp": k,
        "fp": j,
        "n_in": n_in,
        "n_out": n_out,
        "tpr_lower": float(lo),
        "fpr_upper": float(hi),
        "delta": delta,
        "beta": beta,
        "split": bool(split),
        "n_thresholds": n_thresholds,
    }


def one_run_p_value(m: int, r: int, v: int, epsilon: float, *, delta: float = 0.0) -> float:
    """Probability of ≥ v correct guesses out of r if training were (ε, δ)-DP (Steinke et al. 2023).

    With δ = 0 this is P[Binomial(r, e^ε / (1 + e^ε)) ≥ v] (their Theorem 1: the correct guesses
    are stochastically dominated by that binomial). With δ > 0 it adds
    2 m δ · max_{1 ≤ i ≤ v} P[v − i ≤ Binomial < v] / i (their Theorem 3 as computed in their
    Appendix D); m is the number of canaries, guessed on or not.

    Args:
        m: canaries, each included independently with probability ½.
        r: guesses made (abstentions excluded), 0 ≤ r ≤ m.
        v: correct guesses, 0 ≤ v ≤ r.
        epsilon: the ε under test, ≥ 0.
        delta: the δ under test, in [0, 1).

    Returns:
        The p-value, capped at 1.

    Example:
        >>> round(one_run_p_value(100, 10, 10, 0.0), 6)  # ten right coin flips
        0.000977
    """
    for name, value in (("m", m), ("r", r), ("v", v)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"{name} must be an integer count, got {value!r}")
    if not 0 <= v <= r <= m:
        raise DataError(f"need 0 <= v <= r <= m (correct ≤ guesses ≤ canaries), got {v}, {r}, {m}")
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise DataError(f"epsilon must be finite and >= 0, got {epsilon}")
    delta = _as_delta(delta)
    q = float(special.expit(epsilon))  # accuracy of ε-DP randomized response
    from scipy import stats  # lazily: scipy.stats costs ~0.5 s of every CLI start

    tail = float(stats.binom.sf(v - 1, r, q))
    if delta > 0.0 and v > 0:
        below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[Bin = v − i], i = 1..v
        worst = float(np.max(np.cumsum(below) / np.arange(1, v + 1)))
        tail += worst * delta * 2 * m
    return min(tail, 1.0)


def _one_run_bound(m: int, r: int, v: int, *, beta: float, delta: float) -> float:
    if r == 0 or v == 0:
        return 0.0
    if delta == 0.0:
        # P[Bin(r, q) ≥ v] = β exactly at the one-sided Clopper–Pearson lower bound on v / r
        q_lo = float(special.betaincinv(v, r - v + 1, beta))  # the Beta(v, r − v + 1) quantile
        return max(float(special.logit(q_lo)), 0.0)
    if one_run_p_value(m, r, v, 0.0, delta=delta) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0  # keep p(lo) < beta <= p(hi)
    while one_run_p_value(m, r, v, hi, delta=delta) < beta:
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:
            return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if one_run_p_value(m, r, v, mid, delta=delta) < beta:
            lo = mid
        else:
            hi = mid
    return lo


def _as_included_scores(included, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, values = _as_membership_scores(included, scores)
    if np.asarray(included).ndim != 1:
        raise DataError(
            f"included must be 1-D (one entry per canary of the single run), got shape "
            f"{np.asarray(included).shape}"
        )
    return labels, values


def one_run_epsilon_lower_bound(
    included,
    scores,
    *,
    n_guess_in: int,
    n_guess_out: int = 0,
    delta: float = 0.0,
    beta: float = 0.05,
) -> dict:
    """ε lower bound from one training run with randomly included canaries (Steinke et al. 2023).

    The auditor guesses IN for the ``n_guess_in`` highest-scored canaries and OUT for the
    ``n_guess_out`` lowest, abstaining on the rest (ties broken by canary order); v of the
    r = n_guess_in + n_guess_out guesses are correct. The bound is the largest ε whose p-value
    (:func:`one_run_p_value`) is below β: with δ = 0, the ε with
    P[Binomial(r, e^ε / (1 + e^ε)) ≥ v] = β, i.e. the logit of the one-sided Clopper–Pearson lower
    bound on v / r (closed form); with δ > 0, Steinke et al.'s Theorem 3 by bisection. Valid at
    1 − β only if the canaries were included independently with probability ½ and the guess
    counts were fixed before looking at the scores.

    Args:
        included: (m,) bool or 0/1, True = the canary was in the training set.
        scores: (m,) float, higher = more likely IN. NaN and inf are rejected.
        n_guess_in: guesses of IN, taken from the top scores.
        n_guess_out: guesses of OUT, taken from the bottom scores; the two may not overlap.
        delta: the δ of the (ε, δ)-DP claim, in [0, 1).
        beta: failure probability, in (0, 1).

    Returns:
        ``{"epsilon", "guesses", "correct", "n_guess_in", "n_guess_out", "m", "delta", "beta"}``.

    Example:
        >>> included = np.array([True] * 10 + [False] * 10)
        >>> r = one_run_epsilon_lower_bound(included, included.astype(float),
        ...                                 n_guess_in=10, n_guess_out=10)
        >>> r["guesses"], r["correct"], round(r["epsilon"], 3)
        (20, 20, 1.823)
    """
    beta = _as_beta(beta)
    delta = _as_delta(delta)
    labels, values = _as_included_scores(included, scores)
    m = labels.size
    for name, k in (("n_guess_in", n_guess_in), ("n_guess_out", n_guess_out)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise DataError(f"{name} must be a non-negative integer, got {k!r}")
    if n_guess_in + n_guess_out > m:
        raise DataError(
            f"{n_guess_in} IN + {n_guess_out} OUT guesses exceed the {m} canaries; each canary "
            "gets at most one guess"
        )
    order = np.argsort(-values, kind="stable")  # (m,) highest score first
    correct = int(labels[order[:n_guess_in]].sum())
    if n_guess_out:
        correct += int((~labels[order[m - n_guess_out :]]).sum())
    r = int(n_guess_in + n_guess_out)
    return {
        "epsilon": _one_run_bound(m, r, correct, beta=beta, delta=delta),
        "guesses": r,
        "correct": correct,
        "n_guess_in": int(n_guess_in),
        "n_guess_out": int(n_guess_out),
        "m": int(m),
        "delta": delta,
        "beta": beta,
    }


def one_run_epsilon_sweep(
    included,
    scores,
    *,
    guesses=None,
    in_fraction: float = 0.5,
    delta: float = 0.0,
    beta: float = 0.05,
    correct_for_sweep: bool = True,
) -> dict:
    """Best one-run ε lower bound over several numbers of guesses (Steinke et al. 2023, §7).

    For each total r in ``guesses``, ``round(r · in_fraction)`` IN guesses come from the top and
    the rest OUT from the bottom (:func:`one_run_epsilon_lower_bound`). Reporting the best r picked
    on the same run is a multiple comparison: with ``correct_for_sweep`` (default) each bound uses
    β / len(guesses) (Bonferroni), so the best holds at 1 − β; with it off the figures match the
    paper's reporting but the maximum is optimistic. Fixing r in advance avoids the issue.

    Args:
        included: (m,) bool or 0/1, True = the canary was in the training set.
        scores: (m,) float, higher = more likely IN.
        guesses: totals r to try, each in [1, m]; default 10, 20, 50, 100, … up to m, plus m.
        in_fraction: share of each r guessed IN, in [0, 1].
        delta: the δ of the (ε, δ)-DP claim, in [0, 1).
        beta: failure probability of the reported best, in (0, 1).
        correct_for_sweep: divide β among the tries (Bonferroni).

    Returns:
        ``{"epsilon", "best": {the best row}, "table": [one row per r, as returned by
        one_run_epsilon_lower_bound], "beta", "beta_each", "corrected"}``.

    Example:
        >>> included = np.array([True] * 10 + [False] * 10)
        >>> s = one_run_epsilon_sweep(included, included.astype(float), guesses=[10, 20])
        >>> s["best"]["guesses"], round(s["epsilon"], 3), s["beta_each"]
        (20, 1.597, 0.025)
    """
    beta = _as_beta(beta)
    labels, values = _as_included_scores(included, scores)
    m = labels.size
    if guesses is None:
        ladder = [c * 10**e for e in range(1, 12) for c in (1, 2, 5)]
        guesses = [g for g in ladder if g < m] + [m]
    guesses = [int(g) for g in guesses]
    if not guesses or any(not 1 <= g <= m for g in guesses):
        raise DataError(
            f"every number of guesses must be in [1, {m}] (the canaries), got {guesses}"
        )
    if not 0.0 <= in_fraction <= 1.0:
        raise DataError(f"in_fraction must be in [0, 1], got {in_fraction}")
    beta_each = beta / len(guesses) if correct_for_sweep else beta
    table = []
    for r in guesses:
        k_in = int(round(r * in_fraction))
        table.append(
            one_run_epsilon_lower_bound(
                labels, values, n_guess_in=k_in, n_guess_out=r - k_in, delta=delta, beta=beta_each
            )
        )
    best = max(table, key=lambda row: row["epsilon"])
    return {
        "epsilon": best["epsilon"],
        "best": best,
        "table": table,
        "beta": beta,
        "beta_each": beta_each,
        "corrected": bool(correct_for_sweep),
    }
