"""LiRA, RMIA, loss attack and leave-one-out evaluation: loop twins and planted leakage."""

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from memlens.estimate import (
    attack_in_turn,
    attack_metrics,
    lira_offline,
    lira_online,
    loss_attack,
    loss_threshold_attack,
    rmia_offline,
    rmia_offline_attack,
    tune_rmia_offline_a,
)

FAST = settings(max_examples=60, deadline=None)
FLOOR = 1e-8


# ---------------------------------------------------------------------------------------------
# slow twins: one example at a time


def brute_lira(target, membership, shadow, *, mode, fix_variance, center="median"):
    s, n = membership.shape
    ins = [[shadow[k, i] for k in range(s) if membership[k, i]] for i in range(n)]
    outs = [[shadow[k, i] for k in range(s) if not membership[k, i]] for i in range(n)]
    all_in = [x for col in ins for x in col]
    all_out = [x for col in outs for x in col]
    loc = np.median if center == "median" else np.mean
    scores = []
    for i in range(n):
        if not outs[i] or (mode == "online" and not ins[i]):
            scores.append(math.nan)
            continue
        sd_out = max(np.std(all_out) if fix_variance else np.std(outs[i]), FLOOR)
        if mode == "online":
            sd_in = max(np.std(all_in) if fix_variance else np.std(ins[i]), FLOOR)
            scores.append(
                norm.logpdf(target[i], loc(ins[i]), sd_in)
                - norm.logpdf(target[i], loc(outs[i]), sd_out)
            )
        elif mode == "one_sided":
            scores.append(norm.logcdf(target[i], loc(outs[i]), sd_out))
        else:
            scores.append(-norm.logpdf(target[i], loc(outs[i]), sd_out))
    return np.array(scores)


def brute_rmia(target_prob, membership, ref_prob, *, a, gamma):
    r, n = membership.shape
    ratio = []
    for i in range(n):
        outs = [ref_prob[k, i] for k in range(r) if not membership[k, i]]
        if not outs:
            ratio.append(math.nan)
            continue
        pr_x = max(0.5 * ((1 + a) * (sum(outs) / len(outs)) + (1 - a)), 1e-30)
        ratio.append(target_prob[i] / pr_x)
    ratio = np.array(ratio)
    scores = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for x in range(n):
            pop = [z for z in range(n) if z != x and not math.isnan(ratio[z])]
            if math.isnan(ratio[x]) or not pop:
                scores.append(math.nan)
                continue
            beaten = sum(1 for z in pop if ratio[x] / ratio[z] >= gamma)  # 0/0 is NaN: False
            scores.append(beaten / len(pop))
    return np.array(scores)


@st.composite
def shadow_data(draw, min_models=1, integer_obs=True):
    s = draw(st.integers(min_models, 10))
    n = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    membership = rng.random((s, n)) < draw(st.sampled_from([0.2, 0.5, 0.8]))
    if integer_obs and draw(st.booleans()):  # ties and zero variances
        shadow = rng.integers(-2, 3, size=(s, n)).astype(float)
    else:
        shadow = rng.normal(size=(s, n)) * rng.uniform(0.1, 3, size=n)
    target = rng.normal(size=n) * 2
    return target, membership, shadow


# ---------------------------------------------------------------------------------------------
# fast path == slow twin


@FAST
@given(shadow_data(min_models=2), st.booleans(), st.sampled_from(["median", "mean"]))
def test_lira_online_matches_loop(data, fix_variance, center):
    target, membership, shadow = data
    fast = lira_online(target, membership, shadow, fix_variance=fix_variance, center=center)
    slow = brute_lira(
        target, membership, shadow, mode="online", fix_variance=fix_variance, center=center
    )
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-6)


@FAST
@given(shadow_data(), st.booleans(), st.booleans())
def test_lira_offline_matches_loop(data, fix_variance, one_sided):
    target, membership, shadow = data
    fast = lira_offline(target, membership, shadow, fix_variance=fix_variance, one_sided=one_sided)
    mode = "one_sided" if one_sided else "two_sided"
    slow = brute_lira(target, membership, shadow, mode=mode, fix_variance=fix_variance)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-6)


@FAST
@given(
    st.integers(1, 5),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([0.0, 0.3, 1.0]),
    st.sampled_from([0.5, 1.0, 2.0, 3.7]),
)
def test_rmia_offline_matches_quadratic_loop(r, n, seed, a, gamma):
    rng = np.random.default_rng(seed)
    membership = rng.random((r, n)) < 0.5
    ref_prob = rng.random((r, n))
    target_prob = rng.random(n)
    fast = rmia_offline(target_prob, membership, ref_prob, a=a, gamma=gamma)
    slow = brute_rmia(target_prob, membership, ref_prob, a=a, gamma=gamma)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 4.0])
def test_rmia_exact_ties_and_zeros_match_loop(gamma):
    """Ratios that are powers of two make every comparison exact, so ties must agree too."""
    target_prob = np.array([0.0, 0.125, 0.25, 0.25, 0.5, 1.0, 0.0, 0.5])
    membership = np.zeros((2, 8), dtype=bool)
    membership[:, 7] = True  # no OUT reference: NaN, and outside the population
    ref_prob = np.full((2, 8), 0.5)
    fast = rmia_offline(target_prob, membership, ref_prob, a=1.0, gamma=gamma)
    slow = brute_rmia(target_prob, membership, ref_prob, a=1.0, gamma=gamma)
    np.testing.assert_array_equal(fast, slow)
    assert np.isnan(fast[7]) and fast[0] == fast[6] == 0.0


def test_rmia_single_valid_example_is_nan():
    membership = np.array([[False, True, True]])
    out = rmia_offline(np.array([0.5, 0.5, 0.5]), membership, np.full((1, 3), 0.5))
    assert np.isnan(out).all()


def test_tune_rmia_offline_a_matches_grid_loop():
    rng = np.random.default_rng(5)
    keep, phi, _ = planted(rng, n_models=6, n=300)
    prob = special.expit(phi)
    grid = np.linspace(0, 1, 11)
    aucs = []
    for a in grid:
        s = brute_rmia(prob[0], keep[1:], prob[1:], a=a, gamma=2.0)
        ok = ~np.isnan(s)
        aucs.append(roc_auc_score(keep[0][ok], s[ok]))
    assert tune_rmia_offline_a(keep, prob) == pytest.approx(grid[int(np.argmax(aucs))])
    with pytest.raises(ValueError, match="at least 2"):
        tune_rmia_offline_a(keep[:1], prob[:1])


# ---------------------------------------------------------------------------------------------
# the fixed-variance regression (tensorflow/privacy mi_lira_2021/plot.py took std_out from IN)


def test_fixed_variance_uses_out_data_for_sigma_out():
    rng = np.random.default_rng(7)
    s, n = 40, 50
    membership = np.argsort(rng.random((s, n)), axis=0) < s // 2
    shadow = np.where(membership, rng.normal(2.0, 0.1, (s, n)), rng.normal(0.0, 3.0, (s, n)))
    target = rng.normal(1.0, 2.0, n)

    mu_in = np.array([np.median(shadow[membership[:, i], i]) for i in range(n)])
    mu_out = np.array([np.median(shadow[~membership[:, i], i]) for i in range(n)])
    sd_in = np.std(shadow[membership])  # one value, all IN observations pooled
    sd_out = np.std(shadow[~membership])  # one value, all OUT observations pooled
    right = norm.logpdf(target, mu_in, sd_in) - norm.logpdf(target, mu_out, sd_out)
    buggy = norm.logpdf(target, mu_in, sd_in) - norm.logpdf(target, mu_out, sd_in)

    ours = lira_online(target, membership, shadow, fix_variance=True)
    np.testing.assert_allclose(ours, right, rtol=1e-9)
    assert not np.allclose(ours, buggy)  # the bug would fail the line above
    assert 20 < sd_out / sd_in  # the planted variances really differ

    off = lira_offline(target, membership, shadow, fix_variance=True)
    np.testing.assert_allclose(off, norm.logcdf(target, mu_out, sd_out), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# planted leakage


def planted(rng, *, n_models=64, n=1000, frac=0.2, shift=3.0):
    """LiRA keep scheme (each example IN for exactly half the models); phi per example has its
    own mean and spread, and a vulnerable 20% of examples gets phi raised by ``shift`` spreads
    in the models trained on them."""
    keep = np.argsort(rng.random((n_models, n)), axis=0) < n_models // 2  # (M, N)
    base = rng.normal(0.0, 3.0, size=n)
    spread = rng.uniform(0.5, 2.0, size=n)
    vulnerable = rng.random(n) < frac
    phi = base + spread * rng.normal(size=(n_models, n)) + shift * spread * vulnerable * keep
    return keep, phi, vulnerable


@pytest.fixture(scope="module")
def planted_results():
    keep, phi, vulnerable = planted(np.random.default_rng(0))
    targets = range(8)
    attacks = {
        "online": lira_online,
        "online_fixed": functools.partial(lira_online, fix_variance=True),
        "offline": lira_offline,
        "offline_two_sided": functools.partial(lira_offline, one_sided=False),
        "rmia": functools.partial(rmia_offline_attack, a=0.3),
        "loss": loss_threshold_attack,
    }
    out = {}
    for name, attack in attacks.items():
        labels, scores, dropped = attack_in_turn(keep, phi, attack, targets=targets)
        assert dropped == 0
        vuln = np.tile(vulnerable, len(targets))
        out[name] = (
            attack_metrics(labels, scores),
            attack_metrics(labels[vuln], scores[vuln])["auc"],
            attack_metrics(labels[~vuln], scores[~vuln])["auc"],
        )
    return out


@pytest.mark.parametrize(
    ("name", "min_auc"),
    [("online", 0.62), ("online_fixed", 0.62), ("offline", 0.58), ("rmia", 0.56)],
)
def test_attacks_find_planted_members(planted_results, name, min_auc):
    overall, auc_vulnerable, auc_rest = planted_results[name]
    assert overall["auc"] > min_auc
    assert overall["auc"] > planted_results["loss"][0]["auc"]
    assert auc_vulnerable > 0.85  # the planted examples are found ...
    assert abs(auc_rest - 0.5) < 0.04  # ... and nothing is found where nothing was planted


def test_online_lira_beats_loss_attack_at_low_fpr(planted_results):
    online = planted_results["online"][0]["tpr_at_fpr"]["0.01"]
    loss = planted_results["loss"][0]["tpr_at_fpr"]["0.01"]
    assert online > 2 * loss
    assert planted_results["online"][0]["warnings"] == []


def test_one_sided_offline_at_least_two_sided(planted_results):
    one = planted_results["offline"][0]
    two = planted_results["offline_two_sided"][0]
    assert one["auc"] >= two["auc"]
    assert one["tpr_at_fpr"]["0.01"] >= two["tpr_at_fpr"]["0.01"]


# ---------------------------------------------------------------------------------------------
# attack_in_turn, adapters, bad input


def test_attack_in_turn_matches_loop_and_drops_nan():
    rng = np.random.default_rng(2)
    membership = rng.random((6, 15)) < 0.5
    membership[:, 3] = True  # never OUT: every attack on it is NaN
    membership[:, 4] = False
    membership[0, 4] = True  # IN only for model 0: NaN when model 0 is the target
    phi = rng.normal(size=(6, 15))
    targets = [0, 2, 5]
    labels, scores, dropped = attack_in_turn(membership, phi, lira_online, targets=targets)

    exp_labels, exp_scores, exp_dropped = [], [], 0
    for t in targets:
        others = [k for k in range(6) if k != t]
        s = brute_lira(phi[t], membership[others], phi[others], mode="online", fix_variance=False)
        for i in range(15):
            if math.isnan(s[i]):
                exp_dropped += 1
            else:
                exp_labels.append(bool(membership[t, i]))
                exp_scores.append(s[i])
    assert dropped == exp_dropped
    assert dropped >= 3 + 1  # example 3 for every target, example 4 for target 0
    assert len(labels) == len(scores) == 3 * 15 - dropped
    np.testing.assert_array_equal(labels, exp_labels)
    np.testing.assert_allclose(scores, exp_scores, rtol=1e-9)
    assert labels.dtype == bool and not np.isnan(scores).any()


def test_attack_in_turn_validates():
    m = np.array([[True, False], [False, True], [True, True]])
    phi = np.zeros((3, 2))
    with pytest.raises(ValueError, match="targets must lie"):
        attack_in_turn(m, phi, lira_offline, targets=[3])
    with pytest.raises(ValueError, match="at least one"):
        attack_in_turn(m, phi, lira_offline, targets=[])
    with pytest.raises(ValueError, match="expected"):
        attack_in_turn(m, phi, lambda t, sm, so: t[:1], targets=[0])
    with pytest.raises(ValueError, match="at least 2"):
        attack_in_turn(m[:1], phi[:1], lira_offline, targets=[0])


def test_loss_adapters():
    phi = np.array([-1000.0, -3.0, 0.0, 3.0, 1000.0])
    score = loss_threshold_attack(phi, np.ones((1, 5), bool), np.zeros((1, 5)))
    loss = np.log1p(np.exp(-phi[1:4]))  # naive -log sigmoid, fine for moderate phi
    np.testing.assert_allclose(score[1:4], -loss)
    assert np.isfinite(score).all() and np.all(np.diff(score) > 0)  # monotone in phi
    np.testing.assert_array_equal(
        loss_threshold_attack(phi, np.ones((1, 5), bool), np.zeros((1, 5)), observation="loss"),
        -phi,
    )
    np.testing.assert_array_equal(loss_attack(np.array([0.5, 2.0])), [-0.5, -2.0])
    with pytest.raises(ValueError, match="observation"):
        loss_threshold_attack(phi, np.ones((1, 5), bool), np.zeros((1, 5)), observation="prob")


def test_rmia_attack_adapter_converts_confidence():
    rng = np.random.default_rng(4)
    membership = rng.random((3, 20)) < 0.5
    phi = rng.normal(0, 4, (3, 20))
    target = rng.normal(0, 4, 20)
    np.testing.assert_array_equal(
        rmia_offline_attack(target, membership, phi, a=0.5, gamma=1.5),
        rmia_offline(
            1 / (1 + np.exp(-target)), membership, 1 / (1 + np.exp(-phi)), a=0.5, gamma=1.5
        ),
    )


GOOD_M = np.array([[True, False, True], [False, True, False], [True, True, False]])
GOOD_OBS = np.zeros((3, 3))
GOOD_T = np.zeros(3)


@pytest.mark.parametrize(
    "attack", [lira_online, lira_offline, rmia_offline, rmia_offline_attack, loss_threshold_attack]
)
@pytest.mark.parametrize(
    ("target", "membership", "shadow", "match"),
    [
        (GOOD_T, GOOD_M.astype(int), GOOD_OBS, "boolean"),
        (GOOD_T, GOOD_M, np.zeros((3, 4)), "shape"),
        (np.zeros(4), GOOD_M, GOOD_OBS, "shape"),
        (GOOD_T, GOOD_M, np.full((3, 3), np.nan), "non-finite"),
        (np.array([0.0, np.nan, 0.0]), GOOD_M, GOOD_OBS, "non-finite"),
        (GOOD_T, GOOD_M[:0], GOOD_OBS[:0], "at least"),
    ],
)
def test_attacks_reject_bad_input(attack, target, membership, shadow, match):
    with pytest.raises(ValueError, match=match):
        attack(target, membership, shadow)


def test_attack_specific_validation():
    with pytest.raises(ValueError, match="at least 2"):
        lira_online(GOOD_T, GOOD_M[:1], GOOD_OBS[:1])
    with pytest.raises(ValueError, match="center"):
        lira_online(GOOD_T, GOOD_M, GOOD_OBS, center="mode")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rmia_offline(np.array([0.5, 1.5, 0.5]), GOOD_M, np.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="a must be"):
        rmia_offline(GOOD_T, GOOD_M, GOOD_OBS, a=1.5)
    with pytest.raises(ValueError, match="gamma"):
        rmia_offline(GOOD_T, GOOD_M, GOOD_OBS, gamma=0.0)


def test_no_in_or_out_shadow_gives_nan():
    membership = np.array([[True, False, True], [True, False, False]])
    shadow = np.ones((2, 3))
    on = lira_online(np.zeros(3), membership, shadow)
    off = lira_offline(np.zeros(3), membership, shadow)
    assert np.isnan(on[:2]).all() and np.isfinite(on[2])
    assert np.isnan(off[0]) and np.isfinite(off[1:]).all()
