"""Yun, Sra & Jadbabaie's explicit memorizer: a ReLU net of hidden widths 2p−1 and 2q fits any N ≤ p·q distinct points.

"Small ReLU networks are powerful memorizers" (NeurIPS 2019) proves that two hidden layers of
Θ(√N) units memorize N points. :class:`SqrtNMemorizer` builds such a network in closed form
(no training): project the inputs on a random direction ``t = uᵀx``, sort, cut the sorted points
into p blocks of at most q consecutive points; layer 1 (2p−1 units) puts ReLU breakpoints in the
gaps between blocks, layer 2 (2q units, one pair per position r in a block) makes for each r a
piecewise-linear function of t that crosses zero between positions r−1 and r of *every* block,
and the output ``Σ_r ReLU(A_r) − ReLU(A_r − Δ_r)`` telescopes to the label (``Δ_r`` is the
block's label increment at position r). :class:`SqrtNClassifier` adds the paper's third hidden
layer: 3 units per class turn the real output (the class code 1..K) into one bump per class.

Both export the network as a ``torch.nn.Sequential`` (:meth:`SqrtNMemorizer.to_torch`) to train
it further. The construction is exact in real arithmetic; in float64 its error grows with N (the
slopes scale with 1/gap between projected points): it is measured at fit (``max_abs_error_``) and
a fit whose network does not reproduce its labels within ``tol`` raises instead of returning.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from memlens.capacity.errors import CapacityInputError

__all__ = ["CapacityInputError", "SqrtNClassifier", "SqrtNMemorizer", "check_finite", "conflicting_duplicates"]


def _ids(ids, limit: int = 10) -> str:
    ids = [int(i) for i in ids]
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check_finite(X: np.ndarray) -> None:
    """Refuse features that are NaN or ±inf, naming the rows (ids = row positions)."""
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise CapacityInputError(
            f"The features of {int(bad.sum())} example(s) are not finite (NaN or inf): ids "
            f"{_ids(np.flatnonzero(bad))}. A memorizing network maps each input to its label and has no "
            "value for a missing or infinite feature; drop or impute those rows before fitting.")


def class_codes(estimator, X, y, why: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a classifier's training data: float X without NaN/inf rows, labels of at least two
    classes. Sets ``estimator.classes_``; returns X, y and each label's class code. ``why`` ends the
    one-class refusal: why this estimator needs two classes."""
    X, y = validate_data(estimator, X, y, dtype=np.float64, ensure_all_finite=False)
    check_finite(X)
    check_classification_targets(y)
    estimator.classes_, codes = np.unique(y, return_inverse=True)
    if len(estimator.classes_) < 2:
        raise CapacityInputError(f"All {len(y)} examples have one class ({estimator.classes_[0]!r}); {why}")
    return X, y, codes


def _distinct_rows(X: np.ndarray, y: np.ndarray):
    """Distinct rows of X, the id of each one's first occurrence, and groups of ids sharing a row but not a label."""
    rows, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    clash = np.flatnonzero(y != y[first][inverse])  # ids whose label differs from their row's first label
    conflicts = [np.flatnonzero(inverse == group) for group in np.unique(inverse[clash])]
    return rows, first, conflicts


def conflicting_duplicates(X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Groups of row ids (each sorted) with identical features but different labels.

    No function of x can give two labels to one input, so these make exact interpolation impossible.
    """
    return _distinct_rows(X, y)[2]


def _refuse_conflicts(conflicts: list[np.ndarray]) -> None:
    if conflicts:
        listed = "; ".join("{" + _ids(g, 5) + "}" for g in conflicts[:5])
        more = f" (and {len(conflicts) - 5} more groups)" if len(conflicts) > 5 else ""
        raise CapacityInputError(
            f"{len(conflicts)} group(s) of examples have identical features but different labels: ids "
            f"{listed}{more}. No network can give one input two outputs, so these cannot be memorized; "
            "drop or relabel all but one example of each group (memlens' duplicates plant makes such pairs).")


def _project(X: np.ndarray, rng: np.random.RandomState, tries: int = 4):
    """A random direction u with the projections t = Xu of the (distinct) rows well apart; the widest of ``tries``.

    Returns (u, t). Distinct rows project to distinct t almost surely; rows that coincide up to
    float rounding are refused by name.
    """
    best = None
    for _ in range(tries):
        u = rng.standard_normal(X.shape[1])
        t = X @ u
        order = np.argsort(t, kind="stable")
        gaps = np.diff(t[order])
        scale = max(float(np.abs(t).max()), np.finfo(float).tiny)
        rel_gap = float(gaps.min()) / scale if len(gaps) else np.inf
        if best is None or rel_gap > best[0]:
            best = (rel_gap, u, t, order, gaps)
    rel_gap, u, t, order, gaps = best
    if rel_gap <= 1024 * np.finfo(float).eps:
        i = int(np.argmin(gaps))
        raise CapacityInputError(
            f"Examples {int(order[i])} and {int(order[i + 1])} differ only at the level of float rounding "
            f"(their projections are {gaps[i]:.3g} apart at scale {np.abs(t).max():.3g}), so no stable "
            "interpolating network separates them; merge them or rescale the features.")
    return u, t


class SqrtNMemorizer(RegressorMixin, BaseEstimator):
    """Yun et al.'s 3-layer ReLU memorizer: widths (2p−1, 2q), exact on any N ≤ p·q distinct inputs.

    ``predict`` returns the network's real output (at training points: their labels). With
    ``widths=None``, p = q = ⌈√N⌉, so ``hidden_widths_ = (2⌈√N⌉ − 1, 2⌈√N⌉)``; ``widths=(d1, d2)``
    is a budget: p = ⌊(d1 + 1)/2⌋, q = ⌊d2/2⌋, refused when N > p·q. Identical inputs with the same
    label count once; with different labels they are refused by id.

    Args:
        widths: (layer-1, layer-2) width budget, or None for the smallest square one.
        tol: largest accepted |f(x_i) − y_i| at fit, relative to max(1, max|y|).
        random_state: seed of the projection direction.

    Attributes:
        hidden_widths_: (2p−1, 2q) as built (p is min(p, number of distinct inputs)).
        layers_: [(W1, b1), (W2, b2), (w3, b3)] float64 weights, W of shape (out, in).
        max_abs_error_: max |f(x_i) − y_i| over the training set, as computed in float64.
        n_parameters_: weights and biases in all layers.

    Example:
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = np.arange(50) % 7
        >>> net = SqrtNMemorizer(random_state=0).fit(X, y)
        >>> net.hidden_widths_, bool(np.abs(net.predict(X) - y).max() < 1e-6)
        ((15, 16), True)
    """

    def __init__(self, widths: tuple[int, int] | None = None, *, tol: float = 1e-3, random_state=None):
        self.widths = widths
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y):
        """Build the network that maps each row of X (n, d) to its label y (n,); returns self."""
        labels = np.asarray(y) if y is not None else None
        if labels is not None and labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise CapacityInputError(
                f"The labels of examples {_ids(np.flatnonzero(~np.isfinite(labels.ravel())))} are not finite "
                "(NaN or inf); a network output must be a real number: drop those rows or fix their labels.")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False, y_numeric=True)
        check_finite(X)
        y = np.asarray(y, dtype=np.float64)
        self._build(X, y)
        return self

    def _pq(self, n_points: int) -> tuple[int, int]:
        if self.widths is None:
            side = math.isqrt(n_points - 1) + 1 if n_points > 1 else 1  # ⌈√N⌉
            return side, side
        d1, d2 = (int(w) for w in self.widths)
        p, q = (d1 + 1) // 2, d2 // 2
        if p < 1 or q < 1:
            raise CapacityInputError(
                f"widths={self.widths!r} leaves no units: layer 1 needs width ≥ 1 (p = ⌊(d1+1)/2⌋ blocks) and "
                "layer 2 width ≥ 2 (q = ⌊d2/2⌋ positions per block); pass larger widths or widths=None.")
        if n_points > p * q:
            side = math.isqrt(n_points - 1) + 1
            raise CapacityInputError(
                f"{n_points} distinct inputs are more than this width budget memorizes: widths={tuple(self.widths)} "
                f"give p·q = {p}·{q} = {p * q} points at most. Pass widths of at least ({2 * side - 1}, {2 * side}) "
                "(p = q = ⌈√N⌉), or widths=None to choose them.")
        return p, q

    def _build(self, X: np.ndarray, y: np.ndarray) -> None:
        rows, first, conflicts = _distinct_rows(X, y)  # identical inputs with one label count once
        _refuse_conflicts(conflicts)
        labels = y[first]
        p, q = self._pq(len(rows))
        u, t = _project(rows, check_random_state(self.random_state))
        order = np.argsort(t, kind="stable")
        self.layers_ = _memorizer_layers(u, t[order], labels[order], p, q)
        self.hidden_widths_ = (self.layers_[0][0].shape[0], self.layers_[1][0].shape[0])
        self.n_parameters_ = int(sum(W.size + b.size for W, b in self.layers_))
        self.max_abs_error_ = float(np.abs(self._output(X) - y).max())
        scale = max(1.0, float(np.abs(y).max()))
        if not self.max_abs_error_ <= self.tol * scale:
            raise CapacityInputError(
                f"The constructed network misses its labels by up to {self.max_abs_error_:.3g} in float64 "
                f"(tol {self.tol:g} × {scale:g}): the projected inputs are too close for this many points "
                f"(N = {len(rows)}). Raise tol if that error is acceptable, or rescale/deduplicate near-identical inputs.")

    def _output(self, X: np.ndarray) -> np.ndarray:
        (W1, b1), (W2, b2), (w3, b3) = self.layers_
        hidden = np.maximum(X @ W1.T + b1, 0.0)
        hidden = np.maximum(hidden @ W2.T + b2, 0.0)
        return hidden @ w3[0] + b3[0]

    def predict(self, X):
        """The network's real output for each row of X (n, d): shape (n,)."""
        check_is_fitted(self, "layers_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        check_finite(X)
        return self._output(X)

    def to_torch(self, dtype=None):
        """The network as ``torch.nn.Sequential`` (Linear, ReLU, Linear, ReLU, Linear), output (n, 1).

        ``dtype`` defaults to float64: the construction's slopes are large and float32 loses the labels
        once N is in the thousands.
        """
        check_is_fitted(self, "layers_")
        return _sequential(self.layers_, dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _memorizer_layers(u: np.ndarray, t: np.ndarray, y: np.ndarray, p: int, q: int):
    """Weights of the (2p−1, 2q) memorizer for sorted distinct projections t (n,) with labels y (n,).

    Block g holds at most q consecutive points (sizes as equal as possible, p = min(p, n) blocks).
    For position r of every block, the layer-2 pair computes A_r and B_r = A_r − Δ_{g,r}, with A_r
    affine on block g: constant 2|Δ| at r = 0; else slope 4|Δ|/h crossing zero midway between
    positions r−1 and r (h their distance), so A_r ≥ 2|Δ| from position r on and ≤ −2|Δ| before it:
    ReLU(A_r) − ReLU(B_r) is then exactly Δ_{g,r} from r on and 0 before. In the gaps between blocks
    two layer-1 ramps per gap make A_r continuous.
    """
    n = len(t)
    p = min(p, n)
    sizes = np.full(p, n // p)
    sizes[: n % p] += 1
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    position = np.arange(q)
    valid = position[None, :] < sizes[:, None]  # (p, q)
    index = np.where(valid, starts[:, None] + position[None, :], 0)
    T = np.where(valid, t[index], 0.0)
    Y = np.where(valid, y[index], 0.0)
    rising = Y - np.concatenate([np.zeros((p, 1)), Y[:, :-1]], axis=1)  # Δ_{g,r} = y_{g,r} − y_{g,r−1}
    # Odd blocks run the other way (unit r fires at positions < r and adds −Δ_r onto the block's
    # last label), so A_r is positive at both ends of each gap between an even and an odd block
    # and negative at both ends of the next: the ramps in the gaps bridge a difference, not a sum.
    falling = np.concatenate([Y[np.arange(p), sizes - 1][:, None], -rising[:, 1:]], axis=1)
    odd = (np.arange(p) % 2 == 1)[:, None]
    delta = np.where(valid, np.where(odd, falling, rising), 0.0)  # (p, q) what pair r adds on its side
    direction = np.where(odd, -1.0, 1.0)
    # A on block g: slope[g, r] * (t − cross[g, r]) + lift[g, r]
    slope = np.zeros((p, q))
    cross = np.zeros((p, q))
    lift = np.zeros((p, q))
    lift[:, 0] = 2 * np.abs(delta[:, 0])
    if q > 1:
        h = T[:, 1:] - T[:, :-1]
        inner = valid[:, 1:]
        slope[:, 1:] = np.where(inner, direction * 4 * np.abs(delta[:, 1:]) / np.where(inner, h, 1.0), 0.0)
        cross[:, 1:] = np.where(inner, (T[:, 1:] + T[:, :-1]) / 2, 0.0)
    # layer 1: h0 = ReLU(t − t_0 + offset) is t shifted on the data; then two ramps per gap
    offset = (t[-1] - t[0]) / n if n > 1 and t[-1] > t[0] else 1.0
    last = starts + sizes - 1
    left, right = t[last[:-1]], t[starts[1:]]  # (p−1,) gap ends
    lo, hi = left + (right - left) / 8, right - (right - left) / 8
    # Any pair may carry any step of a block: block by block, give the pair whose value leaving the
    # previous block is k-th largest the step whose value entering this block is k-th largest, so the
    # ramps bridge small differences (the float64 error grows with the ramps' slopes).
    for g in range(1, p):
        leaving = slope[g - 1] * (lo[g - 1] - cross[g - 1]) + lift[g - 1]
        entering = slope[g] * (hi[g - 1] - cross[g]) + lift[g]
        step = np.empty(q, dtype=np.intp)
        step[np.argsort(leaving, kind="stable")] = np.argsort(entering, kind="stable")
        slope[g], cross[g], lift[g], delta[g] = slope[g, step], cross[g, step], lift[g, step], delta[g, step]
    W1 = np.tile(u, (2 * p - 1, 1))
    b1 = -np.concatenate([[t[0] - offset], np.column_stack([lo, hi]).ravel()])

    def unit(lift_):
        """Layer-2 row (2p−1,) and bias of the function equal to slope·(t − cross) + lift_ on each block."""
        at_lo = slope[:-1] * (lo[:, None] - cross[:-1]) + lift_[:-1]  # (p−1, q) value leaving block g−1
        at_hi = slope[1:] * (hi[:, None] - cross[1:]) + lift_[1:]  # value entering block g
        ramp = (at_hi - at_lo) / (hi - lo)[:, None]
        weights = np.empty((q, 2 * p - 1))
        weights[:, 0] = slope[0]
        weights[:, 1::2] = (ramp - slope[:-1]).T
        weights[:, 2::2] = (slope[1:] - ramp).T
        bias = slope[0] * (t[0] - offset - cross[0]) + lift_[0]
        return weights, bias

    wa, ba = unit(lift)
    wb, bb = unit(lift - delta)
    W2 = np.empty((2 * q, 2 * p - 1))
    W2[0::2], W2[1::2] = wa, wb
    b2 = np.empty(2 * q)
    b2[0::2], b2[1::2] = ba, bb
    w3 = np.tile([1.0, -1.0], q)[None, :]
    return [(W1, b1), (W2, b2), (w3, np.zeros(1))]


def _sequential(layers, dtype=None):
    import torch

    dtype = dtype or torch.float64
    modules = []
    for k, (W, b) in enumerate(layers):
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(W, dtype=dtype))
            linear.bias.copy_(torch.as_tensor(b, dtype=dtype))
        modules.append(linear)
        if k < len(layers) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


class SqrtNClassifier(ClassifierMixin, BaseEstimator):
    """Yun et al.'s 4-layer classifier: the memorizer of class codes 1..K, then 3 bump units per class.

    Widths (2p−1, 2q, 3K); for class k the third layer computes ReLU(c−k+1), ReLU(c−k), ReLU(c−k−1)
    of the memorizer's output c, and output k is their combination (1, −2, 1): 1 at c = k, 0 at
    the other integers. Digits (N = 1797, K = 10) give widths (85, 86, 30).

    Args:
        widths: (layer-1, layer-2) budget as in :class:`SqrtNMemorizer`.
        tol: largest accepted error of the code c at training points (absolute; below 0.5 the
            right bump is the largest, at 0.25 it is ≥ 0.75 and the others ≤ 0.25).
        random_state: seed of the projection.

    Attributes:
        classes_, hidden_widths_ (three widths), layers_ (four (W, b) pairs), max_abs_error_ (of c),
        n_parameters_.
    """

    def __init__(self, widths: tuple[int, int] | None = None, *, tol: float = 0.25, random_state=None):
        self.widths = widths
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y):
        """Build the network classifying each row of X (n, d) as its label y (n,); returns self."""
        X, y, codes = class_codes(self, X, y, "a classifier needs at least two classes to memorize (a constant "
                                  "predicts one): pass data with two or more labels.")
        memorizer = SqrtNMemorizer(self.widths, tol=np.inf, random_state=self.random_state)
        memorizer._build(X, codes.astype(np.float64) + 1.0)
        if not memorizer.max_abs_error_ <= self.tol:
            raise CapacityInputError(
                f"The constructed network's class code misses by up to {memorizer.max_abs_error_:.3g} in float64 "
                f"(tol {self.tol:g}): the projected inputs are too close for this many points (N = {len(X)}). "
                "Raise tol (below 0.5 every class is still right) or deduplicate near-identical inputs.")
        (W1, b1), (W2, b2), (w3, b3) = memorizer.layers_
        K = len(self.classes_)
        k = np.repeat(np.arange(1, K + 1, dtype=np.float64), 3)
        shift = np.tile([1.0, 0.0, -1.0], K)  # ReLU(c − k + 1), ReLU(c − k), ReLU(c − k − 1)
        W3 = np.repeat(w3, 3 * K, axis=0)
        b3_ = b3[0] - k + shift
        W4 = np.zeros((K, 3 * K))
        for j in range(K):
            W4[j, 3 * j: 3 * j + 3] = (1.0, -2.0, 1.0)
        self.layers_ = [(W1, b1), (W2, b2), (W3, b3_), (W4, np.zeros(K))]
        self.hidden_widths_ = (*memorizer.hidden_widths_, 3 * K)
        self.n_parameters_ = int(sum(W.size + b.size for W, b in self.layers_))
        self.max_abs_error_ = memorizer.max_abs_error_
        return self

    def network_output(self, X) -> np.ndarray:
        """The K bump outputs for each row of X (n, d): shape (n, K); 1 at the memorized class."""
        check_is_fitted(self, "layers_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        check_finite(X)
        out = X
        for i, (W, b) in enumerate(self.layers_):
            out = out @ W.T + b
            if i < len(self.layers_) - 1:
                out = np.maximum(out, 0.0)
        return out

    def predict(self, X):
        """The class whose bump output is largest, for each row of X (n, d)."""
        out = self.network_output(X)
        return self.classes_[np.argmax(out, axis=1)]

    def to_torch(self, dtype=None):
        """The 4-layer network as ``torch.nn.Sequential``; its output (n, K) equals :meth:`network_output`."""
        check_is_fitted(self, "layers_")
        return _sequential(self.layers_, dtype)
