"""Held-out TPR at low FPR against a plain-loop twin, a planted effect and interval coverage."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from memlens.estimate import clopper_pearson, heldout_tpr_at_fpr, split_halves

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores_with_halves(draw, max_n=50):
    """At least 2 members and 2 non-members; tied scores common; a valid calibration mask."""
    n = draw(st.integers(4, max_n))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[:4] = [True, True, False, False]
    half = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    half[:4] = [True, False, True, False]  # each half has a member and a non-member
    ties = draw(st.booleans())
    elem = st.sampled_from([-1.0, 0.0, 0.5, 2.0]) if ties else st.floats(-1e3, 1e3, allow_nan=False)
    scores = draw(st.lists(elem, min_size=n, max_size=n))
    return np.array(labels), np.array(scores), np.array(half)


def brute_heldout(labels, scores, half, target):
    """Every candidate threshold tried by hand on the calibration half; counted on the other."""
    cal = [(y, s) for y, s, h in zip(labels, scores, half, strict=True) if h]
    ev = [(y, s) for y, s, h in zip(labels, scores, half, strict=True) if not h]
    n_pos = sum(1 for y, _ in cal if y)
    n_neg = len(cal) - n_pos
    best_t, best_tpr = float("inf"), 0.0  # "nothing is a member" always qualifies
    for t in sorted({s for _, s in cal}, reverse=True):
        tp = sum(1 for y, s in cal if y and s >= t)
        fp = sum(1 for y, s in cal if not y and s >= t)
        if fp / n_neg < target and tp / n_pos >= best_tpr:
            best_t, best_tpr = t, tp / n_pos  # lower thresholds win ties: LiRA's last point
    k = sum(1 for y, s in ev if y and s >= best_t)
    j = sum(1 for y, s in ev if not y and s >= best_t)
    m = sum(1 for y, _ in ev if y)
    return best_t, k, m, j, len(ev) - m


@FAST
@given(labelled_scores_with_halves(), st.sampled_from([0.001, 0.05, 0.3, 1.0]))
def test_matches_brute_force_twin(data, target):
    labels, scores, half = data
    got = heldout_tpr_at_fpr(labels, scores, fprs=(target,), calibration=half)
    key = format(target, "g")
    t, k, m, j, u = brute_heldout(labels, scores, half, target)
    assert got["threshold"][key] == t
    assert got["flagged"][key] == {"members": k, "nonmembers": j}
    assert got["tpr_at_fpr"][key] == k / m and got["fpr_achieved"][key] == j / u
    assert got["tpr_ci"][key] == list(clopper_pearson(k, m))
    assert got["fpr_ci"][key] == list(clopper_pearson(j, u))
    assert got["n_members"]["evaluation"] == m and got["n_nonmembers"]["evaluation"] == u
    assert got["calibration_fpr"][key] < target


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([True] * 41 + [False] * 17)
    a = split_halves(labels, seed=3)
    assert a.dtype == bool and a.shape == labels.shape
    assert (int(a[labels].sum()), int(a[~labels].sum())) == (20, 8)  # odd extra → evaluation
    np.testing.assert_array_equal(a, split_halves(labels, seed=3))
    assert not np.array_equal(a, split_halves(labels, seed=4))
    # the default split of heldout_tpr_at_fpr is this one
    scores = np.random.default_rng(0).normal(size=labels.size) + labels
    assert heldout_tpr_at_fpr(labels, scores, seed=3) == heldout_tpr_at_fpr(
        labels, scores, calibration=a
    )


def test_planted_gaussian_shift_recovers_the_true_tpr_and_fpr():
    """Members ~ N(2, 1), non-members ~ N(0, 1): at 1% FPR the true TPR is 1 − Φ(z₀.₉₉ − 2)."""
    rng = np.random.default_rng(1)
    n = 40_000
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    scores = np.r_[rng.normal(2.0, 1.0, n), rng.normal(0.0, 1.0, n)]
    r = heldout_tpr_at_fpr(labels, scores, fprs=(0.001, 0.01), seed=0, level=0.999)
    for f in (0.001, 0.01):
        key = format(f, "g")
        t = r["threshold"][key]
        # the population rates of the chosen threshold lie in the stated (99.9%) intervals …
        lo, hi = r["tpr_ci"][key]
        assert lo <= stats.norm.sf(t - 2.0) <= hi
        flo, fhi = r["fpr_ci"][key]
        assert flo <= stats.norm.sf(t) <= fhi
        # … and are those of the nominal level, up to the calibration half's sampling error
        assert 0.6 * f <= stats.norm.sf(t) <= 1.4 * f
        assert abs(r["tpr_at_fpr"][key] - stats.norm.sf(stats.norm.isf(f) - 2.0)) < 0.05
        assert r["resolvable"][key]
    assert r["warnings"] == []


def test_tpr_interval_covers_the_tpr_of_the_chosen_threshold():
    """Given the threshold, the evaluation counts are binomial: the 95% interval covers the
    population TPR at that threshold (known in closed form) in about 95% of repetitions."""
    rng = np.random.default_rng(2)
    covered, reps = 0, 300
    labels = np.r_[np.ones(200, bool), np.zeros(400, bool)]
    for rep in range(reps):
        scores = np.r_[rng.normal(1.0, 1.0, 200), rng.normal(0.0, 1.0, 400)]
        r = heldout_tpr_at_fpr(labels, scores, fprs=(0.01,), seed=rep)
        truth = stats.norm.sf(r["threshold"]["0.01"] - 1.0)
        lo, hi = r["tpr_ci"]["0.01"]
        covered += lo <= truth <= hi
    assert covered / reps >= 0.92


def test_few_nonmembers_are_reported_not_claimed():
    """30 non-members cannot resolve 0.1% or 1% FPR: say so, and report what the threshold let through."""
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(240, bool), np.zeros(60, bool)]
    scores = np.r_[rng.normal(0.5, 1.0, 240), rng.normal(0.0, 1.0, 60)]
    r = heldout_tpr_at_fpr(labels, scores, seed=0)
    assert r["n_nonmembers"] == {"calibration": 30, "evaluation": 30}
    assert r["resolvable"] == {"0.001": False, "0.01": False}
    assert len(r["warnings"]) == 2 and all("cannot be resolved" in w for w in r["warnings"])
    for key in ("0.001", "0.01"):
        j = r["flagged"][key]["nonmembers"]
        assert f"{j} of 30 evaluation non-members" in r["warnings"][["0.001", "0.01"].index(key)]
        # the calibration threshold sits above every calibration non-member
        assert r["calibration_fpr"][key] == 0.0
        assert r["fpr_ci"][key][1] >= clopper_pearson(0, 30)[1] - 1e-12  # ≥ 11.6%: never 0.1%


def test_bad_input_is_refused():
    labels = np.array([True, True, False, False])
    with pytest.raises(ValueError, match="NaN"):
        heldout_tpr_at_fpr(labels, np.array([1.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="no non-members"):
        heldout_tpr_at_fpr(labels, np.arange(4.0), calibration=np.array([True, False, True, True]))
    with pytest.raises(ValueError, match="at least 2"):
        heldout_tpr_at_fpr(np.array([True, True, False]), np.arange(3.0))
    with pytest.raises(ValueError, match="target FPR"):
        heldout_tpr_at_fpr(labels, np.arange(4.0), fprs=(0.0,))
    with pytest.raises(ValueError, match="boolean mask"):
        heldout_tpr_at_fpr(labels, np.arange(4.0), calibration=np.array([1, 0, 1, 0]))
