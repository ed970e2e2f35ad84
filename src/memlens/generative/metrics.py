"""Sample-quality and memorization metrics for generated points: collapse onto training data, RBF MMD.

Baptista et al. (2025, §7 of the method notes) measure memorization by the fraction of samples
that *collapse* onto training points and quality by the maximum mean discrepancy to fresh
population samples. Both are pure functions of arrays (numpy, float64), memory-bounded by
computing distances one block of rows at a time.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

BLOCK_BYTES = 64 * 2**20  # per (rows × n) distance block


def _points(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or len(a) == 0:
        raise DataError(
            f"{name} must be a non-empty (n, d) array of points, got shape {a.shape}. Reshape "
            "images to one row each (X.reshape(len(X), -1))."
        )
    if not np.isfinite(a).all():
        raise DataError(f"{name} contains NaN or infinite values; remove those rows first.")
    return a


def _sq_distances(a: np.ndarray, b: np.ndarray):
    """Yield (row slice, squared distances (rows, len(b))) block by block, ≥ 0."""
    rows = max(1, BLOCK_BYTES // (8 * len(b)))
    b_sq = (b * b).sum(1)
    for s in range(0, len(a), rows):
        block = a[s : s + rows]
        d2 = (block * block).sum(1)[:, None] - 2 * block @ b.T + b_sq[None]
        yield slice(s, s + len(block)), np.maximum(d2, 0.0)


def nearest_distance(samples, train) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's distance to its nearest training point and that point's index: ((B,), (B,))."""
    x, y = _points(samples, "samples"), _points(train, "train")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"samples have {x.shape[1]} coordinates but the training points {y.shape[1]}.")
    dist, idx = np.empty(len(x)), np.empty(len(x), dtype=np.int64)
    for rows, d2 in _sq_distances(x, y):
        idx[rows] = d2.argmin(1)
        dist[rows] = np.sqrt(d2[np.arange(len(d2)), idx[rows]])
    return dist, idx


def collapse_radius(train, scale: float = 0.05) -> float:
    """``scale`` × the median nearest-neighbour distance among the training points."""
    y = _points(train, "train")
    if len(y) < 2:
        raise DataError("The collapse radius needs at least 2 training points (it is set by their spacing).")
    nn = np.empty(len(y))
    for rows, d2 in _sq_distances(y, y):
        d2[np.arange(len(d2)), np.arange(rows.start, rows.stop)] = np.inf  # not itself
        nn[rows] = np.sqrt(d2.min(1))
    return float(scale * np.median(nn))


def collapse_fraction(samples, train, scale: float = 0.05) -> float:
    """Share of samples within ``scale`` × (median nearest-neighbour distance among training points)
    of some training point — Baptista et al.'s memorization measure (a sample "collapsed" onto data).

    Example:
        >>> collapse_fraction([[0.0, 0.001], [0.5, 0.0]], [[0.0, 0.0], [1.0, 0.0]])
        0.5
    """
    dist, _ = nearest_distance(samples, train)
    return float((dist < collapse_radius(train, scale)).mean())


def median_bandwidth(*samples, max_points: int = 2000) -> float:
    """The median heuristic: median pairwise Euclidean distance among the pooled points (i < j).

    Pools at most ``max_points`` rows, taken evenly spaced over the pooled array (deterministic),
    so the cost stays bounded for large samples.
    """
    pooled = np.vstack([_points(s, "samples") for s in samples])
    if len(pooled) > max_points:
        pooled = pooled[np.linspace(0, len(pooled) - 1, max_points).round().astype(np.int64)]
    if len(pooled) < 2:
        raise DataError("The median heuristic needs at least 2 points.")
    upper = []
    for rows, d2 in _sq_distances(pooled, pooled):
        i = np.arange(rows.start, rows.stop)[:, None]
        upper.append(np.sqrt(d2[np.arange(len(pooled))[None] > i]))
    h = float(np.median(np.concatenate(upper)))
    if not h > 0:
        raise DataError("All pooled points coincide; the median-heuristic bandwidth would be 0. Pass a bandwidth.")
    return h


def _kernel_sum(a: np.ndarray, b: np.ndarray, gamma: float, *, drop_diagonal: bool) -> float:
    total = 0.0
    for rows, d2 in _sq_distances(a, b):
        k = np.exp(-gamma * d2)
        if drop_diagonal:
            k[np.arange(len(k)), np.arange(rows.start, rows.stop)] = 0.0
        total += float(k.sum())
    return total


def mmd_rbf(x, y, *, bandwidth: float | None = None) -> float:
    """Unbiased estimate of MMD² between samples x (m, d) and y (n, d) with k(a, b) = exp(−‖a−b‖²/2h²).

    ``bandwidth`` h defaults to the median heuristic on the pooled samples
    (:func:`median_bandwidth`); pass one fixed h to compare several x against the same y in one
    kernel. The U-statistic drops the i = j terms, so it is ≈ 0 (and may be slightly negative) for
    two samples of one distribution. Needs m, n ≥ 2.

    Example:
        >>> round(mmd_rbf([[0.0], [1.0]], [[0.0], [1.0]], bandwidth=1.0), 6)
        -0.393469
    """
    a, b = _points(x, "x"), _points(y, "y")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"x has {a.shape[1]} coordinates but y has {b.shape[1]}.")
    if len(a) < 2 or len(b) < 2:
        raise DataError("The unbiased MMD needs at least 2 points in each sample.")
    h = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    if not (np.isfinite(h) and h > 0):
        raise DataError(f"The RBF bandwidth must be a positive number; got {bandwidth!r}.")
    gamma = 1.0 / (2 * h * h)
    m, n = len(a), len(b)
    xx = _kernel_sum(a, a, gamma, drop_diagonal=True) / (m * (m - 1))
    yy = _kernel_sum(b, b, gamma, drop_diagonal=True) / (n * (n - 1))
    xy = _kernel_sum(a, b, gamma, drop_diagonal=False) / (m * n)
    return xx + yy - 2 * xy
