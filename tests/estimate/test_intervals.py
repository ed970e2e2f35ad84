"""TPR intervals for scores pooled over targets: a weighted-ROC twin, and coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from memlens.estimate import (
    attack_metrics,
    attack_summary,
    bootstrap_tpr_at_fpr,
    clopper_pearson,
    per_target_tpr_at_fpr,
)
from memlens.estimate.intervals import _SortedScores

FPRS = (0.001, 0.01)


def _pooled(labels, scores):
    keep = ~np.isnan(scores)
    return labels[keep], scores[keep]


def _ties_and_gaps(rng, n_targets, n_examples, decimals):
    labels = rng.random((n_targets, n_examples)) < 0.5
    scores = np.round(rng.normal(size=labels.shape) + 1.5 * labels, decimals)
    scores[rng.random(labels.shape) < 0.1] = np.nan  # unscored pairs
    scores[rng.random(labels.shape) < 0.01] = np.inf  # an attack may be certain either way
    scores[rng.random(labels.shape) < 0.01] = -np.inf
    return labels, scores


# ---------------------------------------------------------------------------------------------
# the weighted ROC read against attack_metrics on the data the weights stand for


@pytest.mark.parametrize("seed", range(6))
def test_point_estimate_is_the_pooled_attack_metrics(seed):
    rng = np.random.default_rng(seed)
    labels, scores = _ties_and_gaps(rng, int(rng.integers(1, 6)), 300, decimals=seed % 3)
    fprs = (0.001, 0.01, 0.1, 0.5)
    boot = bootstrap_tpr_at_fpr(labels, scores, fprs=fprs, replicates=2)
    assert boot["tpr_at_fpr"] == attack_metrics(*_pooled(labels, scores), fprs=fprs)["tpr_at_fpr"]


@pytest.mark.parametrize("seed", range(8))
def test_weighted_read_equals_attack_metrics_on_the_expanded_resample(seed):
    """Weights w_i (examples) and v_t (targets) must act exactly like repeating column i w_i
    times and row t v_t times; including weights that force the prefix to grow."""
    rng = np.random.default_rng(100 + seed)
    n_targets, n_examples = 4, 600
    labels, scores = _ties_and_gaps(rng, n_targets, n_examples, decimals=seed % 3)
    pairs = _SortedScores(labels, scores)
    fprs = (0.002, 0.01, 0.05)
    example_w = rng.multinomial(
        pairs.columns.size, np.full(pairs.columns.size, 1 / pairs.columns.size), 5
    )
    target_w = rng.multinomial(n_targets, np.full(n_targets, 1 / n_targets), 5)
    target_w[0] = [0, 0, 4, 0]  # one target only: its top is far down the pooled ranking
    got = pairs.tpr_at_fprs(example_w.astype(float), target_w.astype(float), fprs)
    for r in range(5):
        rows = np.repeat(np.arange(n_targets), target_w[r])
        cols = np.repeat(pairs.columns, example_w[r])
        expanded_labels, expanded_scores = labels[rows][:, cols], scores[rows][:, cols]
        want = attack_metrics(*_pooled(expanded_labels, expanded_scores), fprs=fprs)["tpr_at_fpr"]
        np.testing.assert_allclose(got[r], [want[format(f, "g")] for f in fprs], rtol=1e-12)


def test_long_runs_of_tied_scores_at_the_top():
    """A run of equal top scores longer than the first prefix the weighted read looks at."""
    rng = np.random.default_rng(9)
    labels = rng.random((3, 5000)) < 0.5
    scores = np.where(rng.random((3, 5000)) < 0.4, 10.0, rng.normal(size=(3, 5000)))
    for s in (scores, np.zeros((3, 5000))):  # and every score tied
        boot = bootstrap_tpr_at_fpr(labels, s, replicates=20)
        assert boot["tpr_at_fpr"] == attack_metrics(labels.ravel(), s.ravel())["tpr_at_fpr"]
    assert bootstrap_tpr_at_fpr(labels, np.zeros((3, 5000)), replicates=20)["tpr_ci"] == {
        "0.001": [0.0, 0.0], "0.01": [0.0, 0.0],
    }  # fmt: skip


def test_same_seed_same_interval_and_resampling_choices():
    rng = np.random.default_rng(3)
    labels, scores = _ties_and_gaps(rng, 5, 800, decimals=3)
    a = bootstrap_tpr_at_fpr(labels, scores, fprs=(0.01,), seed=7)
    assert a == bootstrap_tpr_at_fpr(labels, scores, fprs=(0.01,), seed=7)
    assert a["tpr_ci"] != bootstrap_tpr_at_fpr(labels, scores, fprs=(0.01,), seed=8)["tpr_ci"]
    assert a["replicates"] == 200 and a["resample"] == "both" and a["n_invalid"] == 0
    lo, hi = a["tpr_ci"]["0.01"]
    assert lo <= a["tpr_at_fpr"]["0.01"] <= hi
    widths = {}
    for how in ("both", "examples", "targets"):
        lo, hi = bootstrap_tpr_at_fpr(labels, scores, fprs=(0.01,), resample=how)["tpr_ci"]["0.01"]
        widths[how] = hi - lo
    assert widths["both"] > max(widths["examples"], widths["targets"])  # both sources add up


def test_bad_input_is_refused():
    labels = np.array([[True, False], [False, True]])
    scores = np.zeros((2, 2))
    with pytest.raises(ValueError, match="boolean"):
        bootstrap_tpr_at_fpr(labels.astype(int), scores)
    with pytest.raises(ValueError, match="2-D"):
        bootstrap_tpr_at_fpr(labels[0], scores[0])
    with pytest.raises(ValueError, match="resample"):
        bootstrap_tpr_at_fpr(labels, scores, resample="models")
    with pytest.raises(ValueError, match="replicates"):
        bootstrap_tpr_at_fpr(labels, scores, replicates=1)
    with pytest.raises(ValueError, match="members and non-members"):
        bootstrap_tpr_at_fpr(labels, np.where(labels, 0.0, np.nan))
    with pytest.raises(ValueError, match="fprs"):
        bootstrap_tpr_at_fpr(labels, scores, fprs=(0.0,))


# ---------------------------------------------------------------------------------------------
# per-target values and the mia.json summary


def test_per_target_values_are_each_targets_own_roc():
    rng = np.random.default_rng(4)
    labels, scores = _ties_and_gaps(rng, 3, 2500, decimals=2)
    labels[2] = True  # a target with members only: no ROC, NaN
    r = per_target_tpr_at_fpr(labels, scores, fprs=FPRS)
    for t in range(2):
        m = attack_metrics(*_pooled(labels[t], scores[t]), fprs=FPRS)
        assert r["auc"][t] == m["auc"]
        assert [r["tpr_at_fpr"][k][t] for k in ("0.001", "0.01")] == list(m["tpr_at_fpr"].values())
        assert r["n_members"][t] == m["n_members"]
    assert r["auc"][2] is None and r["tpr_at_fpr"]["0.01"][2] is None and r["n_nonmembers"][2] == 0
    values = r["tpr_at_fpr"]["0.01"][:2]
    assert r["spread"]["0.01"] == {
        "min": min(values), "max": max(values), "sd": pytest.approx(np.std(values, ddof=1)),
    }  # fmt: skip
    assert r["resolved"] == {"0.001": False, "0.01": False}  # target 2 has no non-members
    assert per_target_tpr_at_fpr(labels[:2], scores[:2], fprs=FPRS)["resolved"] == {
        "0.001": True, "0.01": True,
    }  # fmt: skip


def test_summary_keeps_clopper_pearson_for_one_target_and_bootstraps_several():
    rng = np.random.default_rng(5)
    labels, scores = _ties_and_gaps(rng, 4, 1500, decimals=3)
    one = attack_summary(labels[:1], scores[:1])
    exact = attack_metrics(*_pooled(labels[:1], scores[:1]))
    assert one["tpr_ci_method"] == "clopper-pearson" and "interval" not in one
    assert one["tpr_ci"] == exact["tpr_ci"] and one["auc"] == exact["auc"]
    k = round(one["tpr_at_fpr"]["0.01"] * one["n_members"])
    assert one["tpr_ci"]["0.01"] == list(clopper_pearson(k, one["n_members"]))
    assert one["n_dropped"] == int(np.isnan(scores[0]).sum())

    many = attack_summary(labels, scores, replicates=50, seed=1)
    pooled = attack_metrics(*_pooled(labels, scores))
    assert many["tpr_ci_method"] == "bootstrap"
    assert many["interval"] == {
        "resample": "both", "replicates": 50, "level": 0.95, "seed": 1, "n_invalid": 0,
    }  # fmt: skip
    assert many["tpr_at_fpr"] == pooled["tpr_at_fpr"] and many["auc"] == pooled["auc"]
    assert many["tpr_ci"] == bootstrap_tpr_at_fpr(labels, scores, replicates=50, seed=1)["tpr_ci"]
    assert len(many["per_target"]["auc"]) == 4 and many["n_members"] == pooled["n_members"]


# ---------------------------------------------------------------------------------------------
# coverage: the stated 95% interval covers the true TPR at least 90% of the time


def _simulate(rng, n_examples, n_targets, *, target_shift, target_memorization):
    """Scores with the audit's dependence: example effects shared by every target, target effects
    shared by every example. Example i has a baseline c_i ~ N(0, 1) (members and non-members
    alike) and, if vulnerable (10%), a member boost d_i ~ U(2, 5); target t shifts all its scores
    by a_t ~ N(0, target_shift²) and vulnerable members' by b_t ~ N(0, target_memorization²);
    per-pair noise N(0, 1); each target trains on a random half."""
    c = rng.normal(size=n_examples)
    d = np.where(rng.random(n_examples) < 0.1, rng.uniform(2, 5, n_examples), 0.0)
    a = rng.normal(0, target_shift, n_targets)[:, None]
    b = rng.normal(0, target_memorization, n_targets)[:, None]
    member = rng.random((n_targets, n_examples)) < 0.5
    noise = rng.normal(size=member.shape)
    return member, c + a + noise + member * (d + b * (d > 0))


def _true_tpr(fpr, *, target_shift, target_memorization):
    """TPR at the threshold where a fresh non-member of a fresh target is flagged w.p. fpr."""
    spread = math.sqrt(2.0 + target_shift**2)  # c + a + noise
    threshold = spread * stats.norm.isf(fpr)
    vulnerable_spread = math.sqrt(spread**2 + target_memorization**2)
    vulnerable, _ = integrate.quad(
        lambda d: stats.norm.sf((threshold - d) / vulnerable_spread) / 3.0, 2.0, 5.0
    )
    return 0.9 * fpr + 0.1 * vulnerable


@pytest.mark.parametrize(
    ("target_shift", "target_memorization"), [(0.0, 0.0), (0.15, 0.3)], ids=["alike", "differ"]
)
def test_interval_covers_the_true_tpr(target_shift, target_memorization):
    effects = {"target_shift": target_shift, "target_memorization": target_memorization}
    truth = np.array([_true_tpr(f, **effects) for f in FPRS])
    rng = np.random.default_rng(2024)
    repetitions = 100
    covered = np.zeros(2)
    covered_binomial = np.zeros(2)
    for rep in range(repetitions):
        labels, scores = _simulate(rng, 2000, 8, **effects)
        r = bootstrap_tpr_at_fpr(labels, scores, fprs=FPRS, seed=rep)
        lo, hi = np.array([r["tpr_ci"][format(f, "g")] for f in FPRS]).T
        covered += (lo <= truth) & (truth <= hi)
        naive = attack_metrics(labels.ravel(), scores.ravel(), fprs=FPRS)["tpr_ci"]
        lo, hi = np.array([naive[format(f, "g")] for f in FPRS]).T
        covered_binomial += (lo <= truth) & (truth <= hi)
    coverage = covered / repetitions
    assert np.all(coverage >= 0.90), coverage
    # the pooled binomial interval, which treats the 8 × 2000 pairs as independent, does not
    assert np.all(covered_binomial / repetitions <= 0.80), covered_binomial / repetitions
