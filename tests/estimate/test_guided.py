"""Memorization-guided membership inference: loop twins, a planted leak, and bad input."""

import functools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.estimate import attack_in_turn, attack_metrics, lira_offline, lira_online
from memlens.estimate.guided import (
    guided_attack,
    plan_budget,
    privacy_scores,
    select_targets,
    separability,
    shadows_needed,
)

FAST = settings(max_examples=60, deadline=None)
FLOOR = 1e-8


# ---------------------------------------------------------------------------------------------
# slow twins: one example at a time


def brute_privacy(membership, obs, *, online, fix_variance, target=None):
    m, n = membership.shape
    ins = [[obs[k, i] for k in range(m) if membership[k, i]] for i in range(n)]
    outs = [[obs[k, i] for k in range(m) if not membership[k, i]] for i in range(n)]
    all_in = [x for col in ins for x in col]
    all_out = [x for col in outs for x in col]
    scores = []
    for i in range(n):
        if not outs[i] or (online and not ins[i]):
            scores.append(math.nan)
            continue
        sd_out = max(np.std(all_out) if fix_variance else np.std(outs[i]), FLOOR)
        if online:
            sd_in = max(np.std(all_in) if fix_variance else np.std(ins[i]), FLOOR)
            scores.append(abs(np.mean(ins[i]) - np.mean(outs[i])) / (sd_in + sd_out))
        else:
            scores.append(abs(target[i] - np.mean(outs[i])) / (2 * sd_out))
    return np.array(scores)


def brute_select(scores, *, top_fraction, threshold, min_count):
    valid = [i for i in range(len(scores)) if not math.isnan(scores[i])]
    ranked = sorted(valid, key=lambda i: (-scores[i], i))
    chosen = set(ranked)
    if top_fraction is not None:
        chosen &= set(ranked[: math.ceil(round(top_fraction * len(valid), 9))])
    if threshold is not None:
        chosen &= {i for i in valid if scores[i] > threshold}
    if len(chosen) < min_count:
        chosen |= set(ranked[:min_count])
    return np.array([i in chosen for i in range(len(scores))])


def brute_separability(membership, obs, *, fix_variance, debias):
    m, n = membership.shape
    ins = [[obs[k, i] for k in range(m) if membership[k, i]] for i in range(n)]
    outs = [[obs[k, i] for k in range(m) if not membership[k, i]] for i in range(n)]

    def pooled(cols):  # within-example: deviations from each example's own mean
        devs = [x - np.mean(c) for c in cols if c for x in c]
        return math.sqrt(sum(v * v for v in devs) / len(devs)) if devs else math.nan

    d = []
    for i in range(n):
        if not ins[i] or not outs[i]:
            d.append(math.nan)
            continue
        sd_in = max(pooled(ins) if fix_variance else np.std(ins[i]), FLOOR)
        sd_out = max(pooled(outs) if fix_variance else np.std(outs[i]), FLOOR)
        di = abs(np.mean(ins[i]) - np.mean(outs[i])) / ((sd_in + sd_out) / 2)
        if debias:
            di = math.sqrt(max(di * di - 1 / len(ins[i]) - 1 / len(outs[i]), 0.0))
        d.append(di)
    return np.array(d)


@st.composite
def model_data(draw, min_models=2):
    m = draw(st.integers(min_models, 9))
    n = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    membership = rng.random((m, n)) < draw(st.sampled_from([0.2, 0.5, 0.8]))
    if draw(st.booleans()):  # ties and zero variances
        obs = rng.integers(-2, 3, size=(m, n)).astype(float)
    else:
        obs = rng.normal(size=(m, n)) * rng.uniform(0.1, 3, size=n)
    return membership, obs, rng.normal(size=n) * 2


# ---------------------------------------------------------------------------------------------
# fast path == slow twin


@FAST
@given(model_data(), st.booleans(), st.booleans())
def test_privacy_scores_match_loop(data, fix_variance, online):
    membership, obs, target = data
    kw = {} if online else {"target_obs": target}
    fast = privacy_scores(membership, obs, online=online, fix_variance=fix_variance, **kw)
    slow = brute_privacy(membership, obs, online=online, fix_variance=fix_variance, target=target)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_privacy_scores_pool_variance_below_64_models_unless_told():
    rng = np.random.default_rng(3)
    for m, pooled in ((63, True), (64, False)):
        membership = rng.random((m, 30)) < 0.5
        obs = rng.normal(size=(m, 30)) * rng.uniform(0.2, 3, size=30)
        auto = privacy_scores(membership, obs)
        np.testing.assert_allclose(auto, privacy_scores(membership, obs, fix_variance=pooled))
        assert not np.allclose(auto, privacy_scores(membership, obs, fix_variance=not pooled))


@FAST
@given(
    st.lists(
        st.one_of(
            st.sampled_from([0.0, 0.5, 1.0, math.nan, -math.inf, math.inf]), st.floats(-3, 3)
        ),
        min_size=1,
        max_size=30,
    ),
    st.one_of(st.none(), st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0])),
    st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 2.0])),
    st.integers(0, 12),
)
def test_select_targets_matches_sorting(values, top_fraction, threshold, min_count):
    scores = np.array(values)
    if top_fraction is None and threshold is None or np.isnan(scores).all():
        with pytest.raises(ValueError):
            select_targets(scores, top_fraction=top_fraction, threshold=threshold)
        return
    fast = select_targets(
        scores, top_fraction=top_fraction, threshold=threshold, min_count=min_count
    )
    slow = brute_select(scores, top_fraction=top_fraction, threshold=threshold, min_count=min_count)
    np.testing.assert_array_equal(fast, slow)
    assert not fast[np.isnan(scores)].any()


@FAST
@given(model_data(), st.booleans(), st.booleans())
def test_separability_matches_loop(data, fix_variance, debias):
    membership, obs, _ = data
    fast = separability(membership, obs, fix_variance=fix_variance, debias=debias)
    slow = brute_separability(membership, obs, fix_variance=fix_variance, debias=debias)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_separability_is_twice_the_per_example_privacy_score():
    rng = np.random.default_rng(4)
    membership = rng.random((10, 40)) < 0.5
    obs = rng.normal(size=(10, 40))
    np.testing.assert_allclose(
        separability(membership, obs, fix_variance=False),
        2 * privacy_scores(membership, obs, fix_variance=False),
    )


def test_shadows_needed_constant():
    d = np.array([np.nan, 0.0, 0.1, 0.5, 1.0, 2.0, 10.0])
    need = shadows_needed(d)  # ceil(16 / d^2), at least 2
    np.testing.assert_array_equal(need, [np.nan, np.inf, 1600, 64, 16, 4, 2])
    np.testing.assert_array_equal(shadows_needed(np.array([1.0]), z=1.0), [4])


# ---------------------------------------------------------------------------------------------
# guided_attack against attack_in_turn


def _twin_metrics(labels, scores, fprs=(0.001, 0.01)):
    keep = ~np.isnan(scores)
    return attack_metrics(labels[keep], scores[keep], fprs=fprs)


def test_guided_attack_all_matches_attack_in_turn_and_restricts_only_evaluation():
    rng = np.random.default_rng(1)
    membership = rng.random((10, 120)) < 0.5
    obs = rng.normal(size=(10, 120)) + 2.0 * membership * (np.arange(120) < 30)
    selected = np.arange(120) < 30
    attack = functools.partial(lira_online, fix_variance=True)
    targets = [0, 3, 5]
    r = guided_attack(membership, obs, attack, targets=targets, selected=selected, seed=7)

    labels, scores, dropped = attack_in_turn(membership, obs, attack, targets=targets)
    want = attack_metrics(labels, scores)
    for key in ("auc", "tpr_at_fpr", "n_members", "n_nonmembers"):
        assert r["all"][key] == want[key]
    assert r["all"]["n_dropped"] == dropped

    # the selected subset is evaluated on the all-example scores (pooled variance over all)
    full = np.stack(
        [attack(obs[t], np.delete(membership, t, 0), np.delete(obs, t, 0)) for t in targets]
    )
    sel = _twin_metrics(membership[targets][:, selected].ravel(), full[:, selected].ravel())
    assert r["selected"]["auc"] == sel["auc"] and r["selected"]["tpr_at_fpr"] == sel["tpr_at_fpr"]
    assert r["random"]["n_examples"] == r["n_selected"] == 30 and r["n_shadows"] == 9

    # restrict="columns": the attack only sees the subset's columns
    c = guided_attack(
        membership, obs, attack, targets=targets, selected=selected, restrict="columns", seed=7
    )
    labels, scores, _ = attack_in_turn(
        membership[:, selected], obs[:, selected], attack, targets=targets
    )
    assert c["selected"]["auc"] == attack_metrics(labels, scores)["auc"]
    assert c["all"]["auc"] == r["all"]["auc"]


def test_guided_attack_explicit_shadows_and_compare():
    rng = np.random.default_rng(2)
    membership = rng.random((12, 80)) < 0.5
    obs = rng.normal(size=(12, 80)) + membership
    low = np.arange(80) >= 40
    shadows = [4, 5, 6, 7, 8, 0]  # target 0 is not its own shadow
    r = guided_attack(
        membership, obs, lira_offline, targets=[0, 1], selected=~low, shadows=shadows,
        compare={"low": low},
    )  # fmt: skip
    scores = []
    for t in (0, 1):
        rows = [s for s in shadows if s != t]
        scores.append(lira_offline(obs[t], membership[rows], obs[rows]))
    scores = np.stack(scores)
    want = _twin_metrics(membership[[0, 1]][:, low].ravel(), scores[:, low].ravel())
    assert r["low"]["auc"] == want["auc"] and r["low"]["n_examples"] == 40
    assert r["n_shadows"] == 5


# ---------------------------------------------------------------------------------------------
# planted leak: 10% of examples with a large IN/OUT gap


def planted_case(seed=0, models=64, n=2000, gap=4.0):
    rng = np.random.default_rng(seed)
    first = rng.random((models // 2, n)) < 0.5
    membership = np.empty((models, n), dtype=bool)
    membership[0::2], membership[1::2] = first, ~first  # complementary pairs
    planted = np.zeros(n, dtype=bool)
    planted[rng.choice(n, n // 10, replace=False)] = True
    base = rng.normal(0.0, 1.0, size=n)  # per-example OUT level of phi
    small = rng.uniform(0.0, 0.2, size=n)  # the other 90% barely move when trained on
    phi = base + rng.normal(size=(models, n)) + membership * np.where(planted, gap, small)
    return membership, phi, planted


def test_guided_selection_finds_the_planted_leak_and_beats_random():
    membership, phi, planted = planted_case()
    targets, shadows = np.arange(8), np.arange(8, 64)
    scores = privacy_scores(membership[shadows], phi[shadows])  # never sees a target
    selected = select_targets(scores, top_fraction=0.1)
    assert selected.sum() == 200
    assert (selected & planted).sum() >= 0.95 * planted.sum()
    attack = functools.partial(lira_online, fix_variance=True)
    r = guided_attack(membership, phi, attack, targets=targets, shadows=shadows, selected=selected)
    guided, random = r["selected"]["tpr_at_fpr"]["0.01"], r["random"]["tpr_at_fpr"]["0.01"]
    assert guided > 0.8 and guided > 3 * random, (guided, random)
    assert r["selected"]["tpr_at_fpr"]["0.01"] > r["all"]["tpr_at_fpr"]["0.01"]


def test_plan_budget_recommends_the_planted_examples():
    membership, phi, planted = planted_case(seed=1)
    plan = plan_budget(membership, phi, budget_models=8, target_fprs=(0.001, 0.01))
    json.dumps(plan, allow_nan=False)  # strict JSON
    chosen = plan["recommended_targets"]
    assert 0.95 * planted.sum() <= chosen <= 1.05 * planted.sum()
    assert len(plan["selected_ids"]) == 50 and planted[plan["selected_ids"]].all()
    assert plan["resolvable_among_selected"] >= 0.95 * chosen  # the count and the ranking agree
    assert plan["shadows_needed"]["constant"] == 16.0
    sel, every = plan["expected"]["selected"], plan["expected"]["all"]
    assert sel["empirical"]["tpr_at_fpr"]["0.01"] > 0.8
    assert sel["empirical"]["tpr_at_fpr"]["0.01"] > 3 * every["empirical"]["tpr_at_fpr"]["0.01"]
    assert sel["formula"]["0.01"] > 0.8 > every["formula"]["0.01"]
    assert plan["budget_models"] == 8 and plan["note"]

    # a given memorization ranks the selection: here a reversed one picks the clean examples
    rev = plan_budget(membership, phi, budget_models=8, memorization=np.where(planted, 0.0, 1.0))
    assert rev["recommended_targets"] == chosen and not planted[rev["selected_ids"]].any()

    # a budget larger than the pilot can simulate: formula only, and it says so
    big = plan_budget(membership[:16], phi[:16], budget_models=32)
    assert big["expected"]["selected"]["empirical"] is None and "no empirical check" in big["note"]

    # one shadow model: LiRA offline
    one = plan_budget(membership, phi, budget_models=1, target_fprs=(0.01,))
    assert "offline" in one["note"] and one["expected"]["selected"]["empirical"] is not None


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_input_raises_clear_errors():
    membership, phi, _ = planted_case(models=8, n=50)
    with pytest.raises(ValueError, match="boolean"):
        privacy_scores(membership.astype(int), phi)
    with pytest.raises(ValueError, match="shape"):
        privacy_scores(membership, phi[:, :10])
    with pytest.raises(ValueError, match="needs target_obs"):
        privacy_scores(membership, phi, online=False)
    with pytest.raises(ValueError, match="only used by the offline"):
        privacy_scores(membership, phi, target_obs=phi[0])
    with pytest.raises(ValueError, match="fix_variance"):
        privacy_scores(membership, phi, fix_variance="yes")
    with pytest.raises(ValueError, match="top_fraction"):
        select_targets(np.ones(5))
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        select_targets(np.ones(5), top_fraction=1.5)
    with pytest.raises(ValueError, match="all 3 scores are NaN"):
        select_targets(np.full(3, np.nan), top_fraction=0.5)
    with pytest.raises(ValueError, match="1-D"):
        select_targets(np.ones((2, 2)), top_fraction=0.5)
    with pytest.raises(ValueError, match="selected is empty"):
        guided_attack(membership, phi, lira_online, targets=[0], selected=np.zeros(50, bool))
    with pytest.raises(ValueError, match="selected has shape"):
        guided_attack(membership, phi, lira_online, targets=[0], selected=np.ones(49, bool))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 8\)"):
        guided_attack(membership, phi, lira_online, targets=[9], selected=np.ones(50, bool))
    with pytest.raises(ValueError, match="restrict"):
        guided_attack(
            membership, phi, lira_online, targets=[0], selected=np.ones(50, bool), restrict="x"
        )
    with pytest.raises(ValueError, match="budget_models must be >= 1"):
        plan_budget(membership, phi, budget_models=0)
    with pytest.raises(ValueError, match="target_fprs"):
        plan_budget(membership, phi, budget_models=2, target_fprs=(0.0,))
    with pytest.raises(ValueError, match="memorization must be numeric of shape"):
        plan_budget(membership, phi, budget_models=2, memorization=np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        privacy_scores(membership, np.where(membership, np.nan, phi))
