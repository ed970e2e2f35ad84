"""ROC, AUC, TPR@FPR and Clopper–Pearson against scikit-learn, scipy and plain loops."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics as skm

from memlens.estimate import attack_metrics, auc, clopper_pearson, roc_curve, tpr_at_fpr

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw, max_n=60):
    """Both classes present; scores from a small grid so ties are common."""
    n = draw(st.integers(2, max_n))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[0], labels[1] = True, False
    ties = draw(st.booleans())
    elem = (
        st.sampled_from([-1.0, 0.0, 0.5, 2.0])
        if ties
        else st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)
    )
    scores = draw(st.lists(elem, min_size=n, max_size=n))
    return np.array(labels), np.array(scores)


def brute_tpr_at_fpr(labels, scores, target):
    """Largest TPR over thresholds 'score >= t' whose FPR is strictly below target."""
    n_pos, n_neg = labels.sum(), (~labels).sum()
    best = 0.0  # threshold +inf: nothing predicted member
    for t in sorted(set(scores.tolist())):
        tp = sum(1 for y, s in zip(labels, scores, strict=True) if s >= t and y)
        fp = sum(1 for y, s in zip(labels, scores, strict=True) if s >= t and not y)
        if fp / n_neg < target:
            best = max(best, tp / n_pos)
    return best


@FAST
@given(labelled_scores())
def test_roc_curve_matches_sklearn(data):
    labels, scores = data
    fpr, tpr, thr = roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tpr, sk_tpr, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thr, sk_thr)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert len(thr) == len(np.unique(scores)) + 1


@FAST
@given(labelled_scores())
def test_auc_matches_sklearn(data):
    labels, scores = data
    fpr, tpr, _ = roc_curve(labels, scores)
    assert auc(fpr, tpr) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    assert auc(fpr, tpr) == pytest.approx(skm.auc(fpr, tpr), abs=1e-12)


@FAST
@given(labelled_scores(max_n=40), st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0]))
def test_tpr_at_fpr_matches_threshold_loop(data, target):
    labels, scores = data
    fpr, tpr, _ = roc_curve(labels, scores)
    assert tpr_at_fpr(fpr, tpr, target) == pytest.approx(brute_tpr_at_fpr(labels, scores, target))
    # and it is literally the LiRA plot.py expression
    assert tpr_at_fpr(fpr, tpr, target) == tpr[np.where(fpr < target)[0][-1]]


def test_roc_rejects_nan_scores_and_bad_labels():
    labels = np.array([True, False, True])
    with pytest.raises(ValueError, match="NaN"):
        roc_curve(labels, np.array([0.1, np.nan, 0.3]))
    with pytest.raises(ValueError, match="boolean"):
        roc_curve(np.array([1, 0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        roc_curve(labels, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="both members and non-members"):
        roc_curve(np.array([True, True]), np.array([0.1, 0.2]))


def test_auc_and_tpr_at_fpr_validate():
    with pytest.raises(ValueError, match="non-decreasing"):
        auc(np.array([0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="equal length"):
        auc(np.array([0.0, 1.0]), np.array([0.0]))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        tpr_at_fpr(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.0)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy_binomtest(level):
    for n in (1, 2, 7, 50, 1000):
        for k in sorted({0, 1, n // 3, n - 1, n}):
            lo, hi = clopper_pearson(k, n, level=level)
            ref = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
            assert lo == pytest.approx(ref.low, abs=1e-10)
            assert hi == pytest.approx(ref.high, abs=1e-10)
            assert lo <= k / n <= hi


def test_clopper_pearson_vectorized_equals_scalar():
    k = np.array([0, 3, 10, 10])
    n = np.array([10, 10, 10, 40])
    lo, hi = clopper_pearson(k, n)
    assert lo.shape == hi.shape == (4,)
    for i in range(4):
        assert (lo[i], hi[i]) == pytest.approx(clopper_pearson(int(k[i]), int(n[i])))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(5, 4)
    with pytest.raises(ValueError, match="integers"):
        clopper_pearson(0.5, 4)


def test_attack_metrics_report():
    rng = np.random.default_rng(0)
    labels = rng.random(4000) < 0.5
    scores = rng.normal(size=4000) + 1.0 * labels
    m = attack_metrics(labels, scores, fprs=(0.001, 0.01))
    fpr, tpr, _ = roc_curve(labels, scores)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(labels, scores))
    assert set(m["tpr_at_fpr"]) == set(m["tpr_ci"]) == {"0.001", "0.01"}
    assert m["n_members"] == labels.sum() and m["n_nonmembers"] == (~labels).sum()
    assert m["warnings"] == []  # ~2000 non-members resolve both levels
    for key, f in (("0.001", 0.001), ("0.01", 0.01)):
        t = m["tpr_at_fpr"][key]
        assert t == tpr_at_fpr(fpr, tpr, f)
        lo, hi = m["tpr_ci"][key]
        assert lo <= t <= hi
        k = round(t * m["n_members"])
        assert [lo, hi] == pytest.approx(list(clopper_pearson(k, m["n_members"])))


def test_attack_metrics_warns_when_fpr_unresolvable():
    labels = np.array([True] * 50 + [False] * 500)
    scores = np.linspace(0.0, 1.0, 550)[::-1]
    m = attack_metrics(labels, scores, fprs=(0.001, 0.01))
    assert len(m["warnings"]) == 1
    assert "0.001" in m["warnings"][0] and "500 non-members" in m["warnings"][0]
    with pytest.raises(ValueError, match="NaN"):
        attack_metrics(labels, np.where(labels, np.nan, 0.0))
