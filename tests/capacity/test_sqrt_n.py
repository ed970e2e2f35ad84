"""Yun et al.'s √N memorizer: exact on random data, the widths formula, the budget, bad input, torch export."""

import math
import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from memlens.capacity.sqrt_n import (
    CapacityInputError,
    SqrtNClassifier,
    SqrtNMemorizer,
    conflicting_duplicates,
)


def _random(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n) * 3


@pytest.mark.parametrize("n", [1, 2, 3, 7, 50, 401, 1600])
def test_interpolates_random_real_labels_with_the_square_widths(n):
    X, y = _random(n, 5, seed=n)
    net = SqrtNMemorizer(random_state=n).fit(X, y)
    side = math.ceil(math.sqrt(n))
    assert net.hidden_widths_ == (2 * side - 1, 2 * side)
    assert np.abs(net.predict(X) - y).max() < 1e-6 * max(1, np.abs(y).max())
    assert net.max_abs_error_ == pytest.approx(np.abs(net.predict(X) - y).max())
    d1, d2 = net.hidden_widths_
    assert net.n_parameters_ == d1 * (5 + 1) + d2 * (d1 + 1) + d2 + 1


def test_interpolation_does_not_depend_on_structure_labels_are_arbitrary():
    """Two label vectors on the same inputs, both reproduced: the labels carry no structure the net uses."""
    X, _ = _random(300, 3)
    rng = np.random.default_rng(1)
    for y in (rng.integers(0, 10, 300), np.arange(300.0) ** 2 / 1000, np.zeros(300)):
        net = SqrtNMemorizer(random_state=2).fit(X, y)
        np.testing.assert_allclose(net.predict(X), y, atol=1e-6 * max(1, np.abs(y).max()))


def test_width_budget_fits_n_up_to_pq_and_refuses_more():
    X, y = _random(26, 4)
    net = SqrtNMemorizer((9, 10), random_state=0).fit(X[:25], y[:25])  # p = q = 5
    assert net.hidden_widths_ == (9, 10)
    np.testing.assert_allclose(net.predict(X[:25]), y[:25], atol=1e-8)
    wide = SqrtNMemorizer((21, 6), random_state=0).fit(X[:25], y[:25])  # p = 11, q = 3: 33 ≥ 25
    assert wide.hidden_widths_ == (21, 6)
    np.testing.assert_allclose(wide.predict(X[:25]), y[:25], atol=1e-8)
    with pytest.raises(CapacityInputError, match=r"26 distinct inputs.*5·5 = 25.*\(11, 12\)"):
        SqrtNMemorizer((9, 10)).fit(X, y)
    with pytest.raises(CapacityInputError, match="no units"):
        SqrtNMemorizer((0, 10)).fit(X, y)


def test_identical_inputs_with_one_label_count_once_and_conflicts_are_named():
    X, y = _random(20, 3)
    X[7], y[7] = X[3], y[3]
    net = SqrtNMemorizer(random_state=0).fit(X, y)
    assert net.hidden_widths_ == (2 * 5 - 1, 2 * 5)  # 19 distinct points: ⌈√19⌉ = 5
    np.testing.assert_allclose(net.predict(X), y, atol=1e-8)
    X[12], y[12] = X[3], y[3] + 1.0
    assert [g.tolist() for g in conflicting_duplicates(X, y)] == [[3, 7, 12]]
    with pytest.raises(CapacityInputError, match=r"ids \{3, 7, 12\}"):
        SqrtNMemorizer().fit(X, y)
    with pytest.raises(CapacityInputError, match=r"ids \{3, 7, 12\}"):
        SqrtNClassifier().fit(X, (y > 0).astype(int) + (np.arange(20) == 12))


def test_non_finite_features_and_labels_are_named():
    X, y = _random(10, 3)
    X[4, 1], X[8, 0] = np.nan, np.inf
    with pytest.raises(CapacityInputError, match=r"NaN or inf\): ids 4, 8"):
        SqrtNMemorizer().fit(X, y)
    X, y = _random(10, 3)
    y[6] = np.inf
    with pytest.raises(CapacityInputError, match="examples 6 are not finite"):
        SqrtNMemorizer().fit(X, y)
    net = SqrtNMemorizer().fit(*_random(10, 3))
    with pytest.raises(CapacityInputError, match="ids 1"):
        net.predict(np.array([[0.0, 0, 0], [np.nan, 0, 0]]))


def test_torch_module_computes_predict_and_can_be_trained():
    import torch

    X, y = _random(400, 6)
    net = SqrtNMemorizer(random_state=0).fit(X, y)
    module = net.to_torch()
    held_out = np.random.default_rng(5).normal(size=(50, 6))
    for points in (X, held_out):
        out = module(torch.as_tensor(points))[:, 0].detach().numpy()
        np.testing.assert_allclose(out, net.predict(points), rtol=1e-9, atol=1e-7)
    loss = ((module(torch.as_tensor(X))[:, 0] - torch.as_tensor(y) - 1.0) ** 2).mean()  # shifted targets
    loss.backward()
    grads = [p.grad for p in module.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_classifier_memorizes_random_classes_with_widths_2p_1_2q_3k():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8))
    labels = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, 300)]
    clf = SqrtNClassifier(random_state=0).fit(X, labels)
    assert clf.hidden_widths_ == (2 * 18 - 1, 2 * 18, 12)
    assert (clf.predict(X) == labels).all()
    out = clf.network_output(X)
    np.testing.assert_allclose(out[np.arange(300), np.searchsorted(clf.classes_, labels)], 1.0, atol=1e-6)
    assert np.abs(np.sort(out, axis=1)[:, :-1]).max() < 1e-6  # the other bumps are 0 at integer codes
    import torch

    np.testing.assert_allclose(clf.to_torch()(torch.as_tensor(X)).detach().numpy(), out, atol=1e-7)
    with pytest.raises(CapacityInputError, match="one class"):
        SqrtNClassifier().fit(X, np.zeros(300))


def test_control_held_out_predictions_match_random_labels_at_chance_only():
    """Memorizing random labels says nothing about new points: held-out accuracy within 4σ of 1/K."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 10))
    y = rng.integers(0, 5, 3000)
    clf = SqrtNClassifier(random_state=0).fit(X[:1000], y[:1000])
    assert clf.score(X[:1000], y[:1000]) == 1.0
    held_out = (clf.predict(X[1000:]) == y[1000:]).mean()
    assert abs(held_out - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 2000)


def test_float64_error_stays_small_at_thousands_of_points():
    X, _ = _random(6400, 20)
    y = np.random.default_rng(1).integers(0, 10, 6400)
    net = SqrtNMemorizer(random_state=0).fit(X, y)
    assert net.hidden_widths_ == (159, 160) and net.max_abs_error_ < 1e-3
    with pytest.raises(CapacityInputError, match="misses its labels"):
        SqrtNMemorizer(tol=1e-12, random_state=0).fit(X, y)


@parametrize_with_checks([SqrtNMemorizer(random_state=0), SqrtNClassifier(random_state=0)])
def test_sklearn_contract(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
