"""Feldman–Zhang memorization and influence against plain loops and planted ground truth."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.estimate import MemorizationScores, influence_scores, memorization_scores

FAST = settings(max_examples=60, deadline=None)


def brute_memorization(membership, obs, min_models):
    """One example at a time, with Python lists and the statistics module's definitions."""
    n_models, n = membership.shape
    out = {
        k: [] for k in ("memorization", "stderr", "in_count", "out_count", "mean_in", "mean_out")
    }
    for i in range(n):
        xin = [float(obs[k, i]) for k in range(n_models) if membership[k, i]]
        xout = [float(obs[k, i]) for k in range(n_models) if not membership[k, i]]
        m_in = sum(xin) / len(xin) if xin else math.nan
        m_out = sum(xout) / len(xout) if xout else math.nan
        enough = len(xin) >= min_models and len(xout) >= min_models
        if enough and len(xin) >= 2 and len(xout) >= 2:
            v_in = sum((x - m_in) ** 2 for x in xin) / (len(xin) - 1)
            v_out = sum((x - m_out) ** 2 for x in xout) / (len(xout) - 1)
            se = math.sqrt(v_in / len(xin) + v_out / len(xout))
        else:
            se = math.nan
        out["memorization"].append(m_in - m_out if enough else math.nan)
        out["stderr"].append(se)
        out["in_count"].append(len(xin))
        out["out_count"].append(len(xout))
        out["mean_in"].append(m_in)
        out["mean_out"].append(m_out)
    return out


@st.composite
def mask_and_obs(draw):
    n_models = draw(st.integers(2, 12))
    n = draw(st.integers(1, 10))
    seed = draw(st.integers(0, 2**32 - 1))
    p_in = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    rng = np.random.default_rng(seed)
    membership = rng.random((n_models, n)) < p_in
    if draw(st.booleans()):
        obs = (rng.random((n_models, n)) < 0.7).astype(np.int64)  # 0/1 correctness
    else:
        obs = rng.normal(size=(n_models, n))
    return membership, obs


@FAST
@given(mask_and_obs(), st.integers(1, 4))
def test_memorization_matches_loop(data, min_models):
    membership, obs = data
    fast = memorization_scores(membership, obs, min_models=min_models)
    slow = brute_memorization(membership, obs, min_models)
    for name, expected in slow.items():
        np.testing.assert_allclose(
            getattr(fast, name), expected, rtol=1e-10, atol=1e-12, err_msg=name
        )
    assert fast.in_count.dtype.kind == "i" and fast.out_count.dtype.kind == "i"
    assert np.all(fast.in_count + fast.out_count == membership.shape[0])


@FAST
@given(mask_and_obs(), st.integers(1, 6), st.integers(1, 3))
def test_influence_matches_loop(data, n_test, min_models):
    membership, _ = data
    n_models, n = membership.shape
    test = np.random.default_rng(n_test).normal(size=(n_models, n_test))
    fast = influence_scores(membership, test, min_models=min_models)
    assert fast.shape == (n_test, n)
    for i in range(n):
        ins = [k for k in range(n_models) if membership[k, i]]
        outs = [k for k in range(n_models) if not membership[k, i]]
        for j in range(n_test):
            if len(ins) < min_models or len(outs) < min_models:
                assert math.isnan(fast[j, i])
            else:
                expected = sum(test[k, j] for k in ins) / len(ins) - sum(
                    test[k, j] for k in outs
                ) / len(outs)
                assert fast[j, i] == pytest.approx(expected, abs=1e-12)


def test_memorization_of_diagonal_influence_is_memorization():
    rng = np.random.default_rng(3)
    membership = rng.random((30, 8)) < 0.5
    obs = rng.random((30, 8))
    np.testing.assert_allclose(
        np.diag(influence_scores(membership, obs)),
        memorization_scores(membership, obs).memorization,
    )


def test_planted_memorized_examples_are_recovered():
    """10 of 100 examples are right only when trained on (mislabelled), the rest 90% of the time."""
    rng = np.random.default_rng(0)
    n_models, n, planted = 200, 100, np.arange(10)
    membership = np.argsort(rng.random((n_models, n)), axis=1) < 70  # 70% subsets, as FZ
    correct = rng.random((n_models, n)) < 0.9
    correct[:, planted] = membership[:, planted]
    s = memorization_scores(membership, correct)
    np.testing.assert_array_equal(s.memorization[planted], 1.0)
    rest = np.setdiff1d(np.arange(n), planted)
    assert np.abs(s.memorization[rest]).max() < 0.2
    assert abs(s.memorization[rest].mean()) < 0.02
    assert set(np.argsort(-s.memorization)[:10]) == set(planted)
    # the planted ones are certain (zero variance on both sides); the others are not
    np.testing.assert_array_equal(s.stderr[planted], 0.0)
    assert np.all(s.stderr[rest] > 0)


def test_examples_without_in_models_get_nan_and_are_counted():
    rng = np.random.default_rng(1)
    membership = rng.random((20, 12)) < 0.5
    membership[:, [2, 7]] = False  # never trained on
    membership[:, 5] = True  # never held out
    membership[:, 9] = False
    membership[0, 9] = True  # trained on by a single model
    obs = rng.random((20, 12))
    s = memorization_scores(membership, obs)
    assert np.flatnonzero(np.isnan(s.memorization)).tolist() == [2, 5, 7]
    assert s.in_count[[2, 7]].tolist() == [0, 0] and s.out_count[5] == 0
    assert np.isnan(s.mean_in[[2, 7]]).all() and not np.isnan(s.mean_out[[2, 7]]).any()
    assert not np.isnan(s.memorization[9]) and np.isnan(s.stderr[9])  # 1 IN model: no variance
    s2 = memorization_scores(membership, obs, min_models=2)
    assert np.flatnonzero(np.isnan(s2.memorization)).tolist() == [2, 5, 7, 9]
    infl = influence_scores(membership, obs[:, :3])
    assert np.flatnonzero(np.isnan(infl).all(axis=0)).tolist() == [2, 5, 7]
    assert not np.isnan(np.delete(infl, [2, 5, 7], axis=1)).any()


def test_scores_are_frozen_and_to_dict_copies():
    s = memorization_scores(np.array([[True, False], [False, True]]), np.eye(2))
    assert isinstance(s, MemorizationScores)
    with pytest.raises(AttributeError):
        s.memorization = np.zeros(2)
    with pytest.raises(ValueError):
        s.memorization[0] = 5.0  # read-only
    d = s.to_dict()
    d["memorization"][0] = 5.0
    assert s.memorization[0] == 1.0
    assert list(d) == ["memorization", "stderr", "in_count", "out_count", "mean_in", "mean_out"]


@pytest.mark.parametrize(
    ("membership", "obs", "match"),
    [
        (np.ones((3, 4), dtype=int), np.zeros((3, 4)), "boolean"),
        (np.ones((3, 4), dtype=bool), np.zeros((3, 5)), "shape"),
        (np.ones((1, 4), dtype=bool), np.zeros((1, 4)), "at least 2"),
        (np.ones(4, dtype=bool), np.zeros(4), "2-D"),
        (np.ones((3, 4), dtype=bool), np.full((3, 4), np.nan), "non-finite"),
    ],
)
def test_bad_input_raises(membership, obs, match):
    with pytest.raises(ValueError, match=match):
        memorization_scores(membership, obs)
    if match != "shape":  # influence allows any number of test columns
        with pytest.raises(ValueError, match=match):
            influence_scores(membership, obs if obs.ndim == 2 else obs[:, None])


def test_bad_options_raise():
    m = np.array([[True, False], [False, True]])
    with pytest.raises(ValueError, match="min_models"):
        memorization_scores(m, np.eye(2), min_models=0)
    with pytest.raises(ValueError, match="rows"):
        influence_scores(m, np.zeros((3, 2)))
