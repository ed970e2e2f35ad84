"""Dirksen et al.'s randomized threshold net: the cover's invariants, N-independent width, bad input."""

import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.utils.estimator_checks import parametrize_with_checks

from memlens.capacity.interpolating import (
    NotInterpolatingWarning,
    RandomizedInterpolatingNet,
    greedy_cover,
)
from memlens.capacity.sqrt_n import CapacityInputError


def test_greedy_cover_units_fire_on_no_other_point_and_cover_exactly_what_they_claim():
    """Brute force in integers: ⟨u, z⟩ < m over every row, against the packed-bit popcounts."""
    rng = np.random.default_rng(0)
    Z = rng.random((300, 70)) < 0.5  # 70 bits: two uint64 words, the second padded
    target = rng.random(300) < 0.4
    U, m, missed = greedy_cover(Z, target, np.random.RandomState(1))
    fires = (Z.astype(int) @ U.T.astype(int)) < m  # (rows, units)
    assert not fires[~target].any()
    assert (fires.any(axis=1) == (target & ~missed)).all()
    assert not missed.any()  # random 70-bit codes are distinct: every point can be cut out alone
    for k, (u, threshold) in enumerate(zip(U, m, strict=True)):  # unit k is ¬z_i of a target point i, m = min over the rest
        i = np.flatnonzero((~Z == u).all(axis=1) & target)[0]
        assert threshold == (Z[~target].astype(int) @ u.astype(int)).min() > 0
        assert fires[i, k]


def test_moons_interpolate_with_a_width_that_does_not_grow_with_n():
    widths = {}
    for n in (500, 5000):
        X, y = make_moons(n, noise=0.05, random_state=0)
        net = RandomizedInterpolatingNet(1000, max_bias=1.0, random_state=0).fit(X, y)
        assert net.interpolates_ and net.score(X, y) == 1.0 and net.uncovered_ids_.size == 0
        widths[n] = net.hidden_widths_[1]
    assert max(widths.values()) <= 20 and widths[5000] <= 2 * widths[500]
    assert net.n_parameters_ == 1000 * 3 + widths[5000] * 1001 + widths[5000] + 1


def test_width_grows_with_n_for_random_labels():
    rng = np.random.default_rng(0)
    X, _ = make_moons(800, noise=0.05, random_state=0)
    y = rng.integers(0, 2, 800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotInterpolatingWarning)
        small = RandomizedInterpolatingNet(1000, random_state=0).fit(X[:200], y[:200]).hidden_widths_[1]
        large = RandomizedInterpolatingNet(1000, random_state=0).fit(X, y).hidden_widths_[1]
    assert large >= 2.5 * small


def test_multiclass_one_vs_rest_fires_exactly_one_or_per_training_point():
    X, y = load_digits(n_class=4, return_X_y=True)
    X, y = X[:300], y[:300]
    net = RandomizedInterpolatingNet(300, max_bias=0.5, random_state=0).fit(X, y)
    out = net.network_output(X)
    assert out.shape == (300, 4) and net.interpolates_
    assert (out.sum(axis=1) == 1).all() and (out[np.arange(300), y] == 1).all()
    assert net.hidden_widths_ == (300, sum(net.layer2_widths_)) and len(net.layer2_widths_) == 4
    assert net.n_parameters_ == 300 * 65 + sum(k * 301 + k + 1 for k in net.layer2_widths_)


def test_failure_to_interpolate_warns_and_names_exactly_the_misclassified():
    X, y = make_moons(400, noise=0.2, random_state=0)
    with pytest.warns(NotInterpolatingWarning, match="does not interpolate"):
        net = RandomizedInterpolatingNet(8, max_bias=0.2, random_state=0).fit(X, y)
    assert not net.interpolates_
    assert net.uncovered_ids_.tolist() == np.flatnonzero(net.predict(X) != y).tolist()


def test_bad_input_is_refused_by_id():
    X, y = make_moons(50, noise=0.05, random_state=0)
    X[9], y[9] = X[2], 1 - y[2]
    with pytest.raises(CapacityInputError, match=r"ids \{2, 9\}"):
        RandomizedInterpolatingNet(50).fit(X, y)
    X[9, 0] = np.nan
    with pytest.raises(CapacityInputError, match="ids 9"):
        RandomizedInterpolatingNet(50).fit(X, y)
    with pytest.raises(CapacityInputError, match="one class"):
        RandomizedInterpolatingNet(50).fit(X[:5], np.ones(5))


def test_control_held_out_predictions_match_random_labels_at_chance_only():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2600, 10))
    y = rng.integers(0, 2, 2600)
    net = RandomizedInterpolatingNet(2000, max_bias=1.0, random_state=0).fit(X[:600], y[:600])
    assert net.interpolates_
    held_out = (net.predict(X[600:]) == y[600:]).mean()
    assert abs(held_out - 0.5) < 4 * math.sqrt(0.25 / 2000)


@parametrize_with_checks([RandomizedInterpolatingNet(300, random_state=0)])
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
