"""Dirksen, Finke & Genzel's randomized 3-layer threshold network, whose width follows the data's geometry, not N.

"Memorization with neural nets: going beyond the worst case" (JMLR 2024, Algorithm 2; official
code ``patrickfinke/memo``, ``algorithm.py``). Layer 1: n random hyperplanes with threshold
units, z(x) = H(Wx + b), W ~ N(0, 1), b ~ U[−λ, λ], on data rescaled to max-norm 1. Layer 2: a
greedy cover of the class to memorize: pick a random uncovered-candidate point x_i, let u mark the
hyperplanes on whose negative side it lies and m = min over the other class of ⟨u, z(x)⟩; if
m > 0 the unit H(m − ⟨u, z(x)⟩) fires on x_i and on no point of the other class, and every point
it fires on is covered. Layer 3: OR of the layer-2 units. Several classes: one cover per class
(one-vs-rest) on the shared first layer; two classes: one cover, of the second class.

The net interpolates when every cover empties its class; it may not (too few hyperplanes n, or a
bias range λ that does not cut between close points of different classes): then ``interpolates_``
is False, ``uncovered_ids_`` names the training examples it gets wrong, and fit warns.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from memlens.capacity.sqrt_n import (
    CapacityInputError,
    _ids,
    _refuse_conflicts,
    check_finite,
    class_codes,
    conflicting_duplicates,
)

__all__ = ["NotInterpolatingWarning", "RandomizedInterpolatingNet", "greedy_cover"]


class NotInterpolatingWarning(UserWarning):
    """The randomized construction left training examples uncovered (it does not memorize them)."""


def _packed(Z: np.ndarray) -> np.ndarray:
    """Rows of a boolean (n, k) matrix as bits in uint64 words, shape (n, ⌈k/64⌉); padding bits are 0."""
    words = -(-Z.shape[1] // 64)
    bytes_ = np.zeros((Z.shape[0], words * 8), dtype=np.uint8)
    bytes_[:, : -(-Z.shape[1] // 8)] = np.packbits(Z, axis=1)
    return bytes_.view(np.uint64)


def greedy_cover(Z: np.ndarray, target: np.ndarray, rng: np.random.RandomState):
    """Layer 2 of Algorithm 2: units (u, m) covering the ``target`` rows of Z and firing on no other row.

    Args:
        Z: (n, k) boolean first-layer activations.
        target: (n,) boolean, the class to cover (the paper's X⁻); the rest is X⁺.
        rng: candidate order.

    Returns:
        U (units, k) boolean, m (units,) int, uncovered (n,) boolean: target rows no unit fires on.
        A unit fires on z iff ⟨u, z⟩ < m. With no unit, one dummy (u = 0, m = 0) that never fires.
    """
    bits = _packed(Z)
    ones = np.bitwise_count(bits).sum(axis=1, dtype=np.int64)  # |z(x)|
    target_ids = np.flatnonzero(target)
    other = ~target
    candidates = np.ones(len(target_ids), dtype=bool)
    uncovered = np.ones(len(target_ids), dtype=bool)
    units, thresholds = [], []
    while candidates.any() and uncovered.any():
        pick = rng.choice(np.flatnonzero(candidates))
        candidates[pick] = False
        i = target_ids[pick]
        # ⟨1 − z_i, z(x)⟩ = |z(x)| − ⟨z_i, z(x)⟩: hyperplanes x is above and x_i is not
        score = ones - np.bitwise_count(bits & bits[i]).sum(axis=1, dtype=np.int64)
        m = int(score[other].min()) if other.any() else int(score.max()) + 1
        if m > 0:
            still = score[target_ids] >= m
            candidates &= still
            uncovered &= still
            units.append(~Z[i])
            thresholds.append(m)
    if not units:
        units, thresholds = [np.zeros(Z.shape[1], dtype=bool)], [0]
    missed = np.zeros(len(target), dtype=bool)
    missed[target_ids[uncovered]] = True
    return np.asarray(units), np.asarray(thresholds, dtype=np.int64), missed


class RandomizedInterpolatingNet(ClassifierMixin, BaseEstimator):
    """Dirksen et al.'s threshold network: random hyperplanes, greedy cover per class, OR; widths reported.

    Args:
        n_hidden: n, the number of random hyperplanes (layer-1 width).
        max_bias: λ, biases drawn from U[−λ, λ].
        normalize: rescale inputs so the largest training norm is 1, as the paper does.
        random_state: seed of the hyperplanes and of the candidate order.

    Attributes:
        classes_: labels.
        hidden_widths_: (n, total layer-2 units over all covers).
        layer2_widths_: layer-2 units of each cover (one cover for two classes, else one per class).
        n_parameters_: n(d+1) + Σ_c [k_c(n+1) + k_c + 1] (weights and biases).
        interpolates_: every training example is classified correctly by the net.
        uncovered_ids_: training examples the covers missed (empty when ``interpolates_``).

    Example:
        >>> from sklearn.datasets import make_moons
        >>> X, y = make_moons(300, noise=0.05, random_state=0)
        >>> net = RandomizedInterpolatingNet(500, random_state=0).fit(X, y)
        >>> net.interpolates_, net.score(X, y)
        (True, 1.0)
    """

    def __init__(self, n_hidden: int = 1000, *, max_bias: float = 1.0, normalize: bool = True, random_state=None):
        self.n_hidden = n_hidden
        self.max_bias = max_bias
        self.normalize = normalize
        self.random_state = random_state

    def fit(self, X, y):
        """Draw the hyperplanes and cover each class of X (n, d) with labels y (n,); returns self."""
        X, y, codes = class_codes(self, X, y, "the construction covers one class against the others and needs "
                                  "at least two: pass data with two or more labels.")
        if int(self.n_hidden) < 1 or not self.max_bias >= 0:
            raise CapacityInputError(
                f"n_hidden={self.n_hidden!r} and max_bias={self.max_bias!r}: the construction needs at least one "
                "hyperplane (n_hidden ≥ 1) and a bias range max_bias ≥ 0.")
        _refuse_conflicts(conflicting_duplicates(X, codes))
        rng = check_random_state(self.random_state)
        norms = np.linalg.norm(X, axis=1)
        self.scale_ = float(norms.max()) if self.normalize and norms.max() > 0 else 1.0
        n = int(self.n_hidden)
        self.weights_ = rng.standard_normal((n, X.shape[1]))
        self.biases_ = rng.uniform(-self.max_bias, self.max_bias, n)
        Z = self._first_layer(X)
        covered_classes = [1] if len(self.classes_) == 2 else range(len(self.classes_))
        self.covers_, missed = [], np.zeros(len(y), dtype=bool)
        for k in covered_classes:
            U, m, miss = greedy_cover(Z, codes == k, rng)
            self.covers_.append((U, m))
            missed |= miss
        self.layer2_widths_ = tuple(len(m) for _, m in self.covers_)
        self.hidden_widths_ = (n, int(sum(self.layer2_widths_)))
        self.n_parameters_ = int(n * (X.shape[1] + 1) + sum(k * (n + 1) + k + 1 for k in self.layer2_widths_))
        self.uncovered_ids_ = np.flatnonzero(missed)
        self.interpolates_ = not missed.any()
        if not self.interpolates_:
            warnings.warn(
                f"The network does not interpolate: {missed.sum()} of {len(y)} training examples are uncovered "
                f"(ids {_ids(self.uncovered_ids_)}). Use more hyperplanes (n_hidden={n}), another max_bias "
                f"({self.max_bias}) or another random_state.", NotInterpolatingWarning, stacklevel=2)
        return self

    def _first_layer(self, X: np.ndarray) -> np.ndarray:
        """Threshold units z(x) = H(Wx/scale + b) with H(0) = 0: boolean (n, n_hidden)."""
        return (X / self.scale_) @ self.weights_.T + self.biases_ > 0

    def network_output(self, X) -> np.ndarray:
        """The OR outputs, one per cover, for each row of X (n, d): 0/1 floats of shape (n, covers)."""
        check_is_fitted(self, "covers_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        check_finite(X)
        Z = self._first_layer(X).astype(np.float32)
        out = np.empty((len(X), len(self.covers_)))
        for c, (U, m) in enumerate(self.covers_):
            out[:, c] = ((Z @ U.T.astype(np.float32)) < m).any(axis=1)  # exact: integer counts < 2^24
        return out

    def predict(self, X):
        """For two classes the second where the OR fires; else the first class whose OR fires (the first class if none)."""
        out = self.network_output(X)
        if len(self.classes_) == 2:
            return self.classes_[out[:, 0].astype(int)]
        return self.classes_[np.argmax(out, axis=1)]
