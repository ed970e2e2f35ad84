"""Collapse fraction and RBF MMD against brute-force twins, plus planted effects."""

import math

import numpy as np
import pytest

from memlens.errors import DataError
from memlens.generative import metrics
from memlens.generative.metrics import (
    collapse_fraction,
    collapse_radius,
    median_bandwidth,
    mmd_rbf,
    nearest_distance,
)


def _dist(a, b):
    return math.sqrt(sum((u - v) ** 2 for u, v in zip(a, b, strict=True)))


def _brute_collapse(samples, train, scale):
    nn = [min(_dist(p, q) for j, q in enumerate(train) if j != i) for i, p in enumerate(train)]
    radius = scale * float(np.median(nn))
    return sum(min(_dist(s, q) for q in train) < radius for s in samples) / len(samples)


def _brute_mmd(x, y, h):
    k = lambda a, b: math.exp(-_dist(a, b) ** 2 / (2 * h * h))  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def test_collapse_fraction_matches_brute_force(monkeypatch):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(9, 3))
    # half the samples planted within a tiny distance of a training point, half anywhere
    near = train[rng.integers(0, 9, 20)] + 1e-4 * rng.normal(size=(20, 3))
    samples = np.vstack([near, rng.normal(size=(20, 3))])
    monkeypatch.setattr(metrics, "BLOCK_BYTES", 8 * 9 * 3)  # 3-row blocks: exercise the chunking
    for scale in (0.05, 0.5, 2.0):
        assert collapse_fraction(samples, train, scale) == pytest.approx(_brute_collapse(samples, train, scale))
    assert collapse_fraction(near, train) == 1.0
    dist, idx = nearest_distance(samples, train)
    for s, d, i in zip(samples, dist, idx, strict=True):
        brute = [_dist(s, q) for q in train]
        assert i == int(np.argmin(brute)) and d == pytest.approx(min(brute), abs=1e-9)


def test_collapse_radius_uses_nearest_neighbour_spacing():
    train = np.array([[0.0], [1.0], [3.0], [7.0]])  # nn distances 1, 1, 2, 4 → median 1.5
    assert collapse_radius(train, 0.1) == pytest.approx(0.15)
    with pytest.raises(DataError):
        collapse_radius(train[:1])
    with pytest.raises(DataError):
        collapse_fraction(np.zeros((2, 3)), train)


def test_mmd_matches_brute_force_and_median_heuristic(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(13, 2)), rng.normal(0.5, 1.5, size=(17, 2))
    monkeypatch.setattr(metrics, "BLOCK_BYTES", 8 * 17 * 4)
    for h in (0.3, 1.0, 4.0):
        assert mmd_rbf(x, y, bandwidth=h) == pytest.approx(_brute_mmd(x, y, h), rel=1e-10, abs=1e-12)
    pooled = np.vstack([x, y])
    pairs = [_dist(pooled[i], pooled[j]) for i in range(30) for j in range(i + 1, 30)]
    h = float(np.median(pairs))
    assert median_bandwidth(x, y) == pytest.approx(h)
    assert mmd_rbf(x, y) == pytest.approx(_brute_mmd(x, y, h), rel=1e-10)
    # subsampled pooling stays within the data's scale
    assert 0.5 * h < median_bandwidth(x, y, max_points=10) < 2 * h


def test_mmd_separates_distributions_and_is_near_zero_for_one():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    shifted = rng.normal(size=(400, 2)) + [1.0, 0.0]
    same, differ = mmd_rbf(a, b, bandwidth=1.0), mmd_rbf(a, shifted, bandwidth=1.0)
    assert abs(same) < 0.01 and differ > 0.05
    # collapsing a sample onto a few of its points raises the MMD to the population
    collapsed = a[:8][rng.integers(0, 8, 400)]
    assert mmd_rbf(collapsed, b, bandwidth=1.0) > 5 * abs(same)
    with pytest.raises(DataError):
        mmd_rbf(a[:1], b)
    with pytest.raises(DataError):
        mmd_rbf(a, b, bandwidth=0.0)
