"""Least-squares generalization–memorization machines (MIMM, WIMM) and their LS-SVM baseline.

Wang, Wang & Shao, "Least Squares Maximum and Weighted Generalization-Memorization Machines"
(arXiv 2308.16456) add a memory term to the LS-SVM decision,

    f(x) = sum_i a_i y_i K(x_i, x) + b + memory(x),

whose per-example memory costs c are penalised by (lam/2)||c||². The least-squares problem

    min ½||w||² + (lam/2)||c||² + (C/2)||e||²   s.t.   y_i (w·φ(x_i) + b) + (D c)_i = 1 − e_i,
    D = diag(y) Δ diag(y),  Δ_ij = δ(x_j, x_i)  (the memory influence of x_j at x_i),

has the closed form of one (m+1)×(m+1) saddle-point system, the size of LS-SVM's:

    [ 0   yᵀ                     ] [b]   [0]
    [ y   Ω + D Dᵀ/lam + I/C      ] [a] = [1],     Ω_ij = y_i y_j K(x_i, x_j),   c = Dᵀ a / lam.

The block H = Ω + D Dᵀ/lam + I/C is symmetric positive definite, so it is factorised once by
Cholesky and solved for two right-hand sides (:func:`solve_bordered_system`); no inverse is formed.
At every training point y_i f(x_i) = 1 − a_i / C exactly (the stored ``training_margins_``), so with
a large C the machine fits every training point while its kernel part stays an LS-SVM regularised
by ``lam``. For MIMM (memory of the most influential training point only) the primal optimum is at
most the cost lam·m/2 of the feasible point w = 0, b = 0, c = 1, so |e_i| ≤ sqrt(lam·m / C): with
C > lam·m every training point is classified correctly, whatever the labels, if the inputs are
distinct. The formulation is the one derived in ``shared/papers/classifier-mia-capacity.md`` §8
(the paper's full text was not available; its exact WIMM weighting is unverified).

Everything is numpy/scipy; shapes are (m, d) training inputs, (n, d) queries, (m,) labels.
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from memlens.capacity.errors import CapacityInputError

__all__ = [
    "LSSVM",
    "MIMM",
    "WIMM",
    "CapacityInputError",
    "NotMemorizedWarning",
    "memory_influence",
    "solve_bordered_system",
]

MEMORY_FUNCTIONS = ("gaussian", "laplacian")
_CHUNK = 2048  # query rows per block of distances at prediction time


class NotMemorizedWarning(UserWarning):
    """A memory machine left some training examples misclassified (C too small or memory too wide)."""


def solve_bordered_system(H: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Solve ``[[0, yᵀ], [y, H]] [b; a] = [0; 1]`` for a symmetric positive definite (m, m) ``H``.

    One Cholesky factorisation of H and two triangular solves: with H η = y and H ν = 1,
    b = yᵀν / yᵀη and a = ν − b η satisfy both block rows (the standard LS-SVM elimination).
    Returns ``(b, a)``.

    Example:
        >>> b, a = solve_bordered_system(np.eye(2), np.array([1.0, -1.0]))
        >>> float(b), a.tolist()
        (0.0, [1.0, 1.0])
    """
    factor = scipy.linalg.cho_factor(H, lower=True, overwrite_a=False, check_finite=False)
    both = scipy.linalg.cho_solve(factor, np.column_stack([y, np.ones_like(y)]), check_finite=False)
    eta, nu = both[:, 0], both[:, 1]  # H⁻¹y, H⁻¹1
    b = float(y @ nu) / float(y @ eta)  # yᵀH⁻¹y > 0 since H is positive definite and y ≠ 0
    return b, nu - b * eta


def memory_influence(squared_distance: np.ndarray, width: float, function: str = "gaussian") -> np.ndarray:
    """The memory influence δ(x_j, x) of a training point at squared distance ``squared_distance``.

    ``"gaussian"``: exp(−‖x_j − x‖² / (2 width²)); ``"laplacian"``: exp(−‖x_j − x‖ / width). Both
    are 1 at distance 0 and decrease with distance, so the most influential training point is the
    nearest one.

    Example:
        >>> memory_influence(np.array([0.0, 2.0]), 1.0).round(4).tolist()
        [1.0, 0.3679]
    """
    if function == "gaussian":
        return np.exp(-squared_distance / (2.0 * width**2))
    if function == "laplacian":
        return np.exp(-np.sqrt(squared_distance) / width)
    raise ValueError(f"memory_function must be one of {MEMORY_FUNCTIONS}; got {function!r}")


def _ids(indices, limit: int = 10) -> str:
    """Example ids as text, the first ``limit`` of them and a count of the rest."""
    indices = [i.item() if isinstance(i, np.generic) else i for i in indices]
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return ", ".join(map(str, indices[:limit])) + more


class _LeastSquaresMachine(ClassifierMixin, BaseEstimator):
    """Shared fit/predict of the binary least-squares kernel machines (RBF kernel part)."""

    _refuses_conflicts = False  # machines that must interpolate refuse duplicates with different labels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # ----------------------------------------------------------------------------- validation
    def _check_finite(self, X: np.ndarray, what: str) -> None:
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            raise CapacityInputError(
                f"{type(self).__name__}: {what} features contain non-finite values (NaN or inf) in "
                f"{int(bad.sum())} example(s), ids {_ids(np.flatnonzero(bad))}. A kernel machine "
                "cannot compare such inputs; drop or impute these rows before fitting or predicting."
            )

    def _check_params(self) -> None:
        for name in self._positive_params:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not value > 0 or not np.isfinite(value):
                raise ValueError(f"{type(self).__name__}: {name} must be a positive finite number; got {value!r}")
        if not (self.gamma == "scale" or (isinstance(self.gamma, Real) and not isinstance(self.gamma, bool)
                                         and np.isfinite(self.gamma) and self.gamma > 0)):
            raise ValueError(f"{type(self).__name__}: gamma must be 'scale' or a positive number; got {self.gamma!r}")

    def _validate_training(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite=False)
        self._check_finite(X, "training")
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        name = type(self).__name__
        if len(self.classes_) < 2:
            raise CapacityInputError(
                f"{name}: the training labels contain only one class ({self.classes_[0]!r}) in "
                f"{len(y)} example(s). A classifier needs examples of two classes; add examples of "
                "the other class."
            )
        if len(self.classes_) > 2:
            raise CapacityInputError(
                f"{name}: Only binary classification is supported. The labels have "
                f"{len(self.classes_)} classes ({_ids(self.classes_)}); train one machine per pair or one-vs-rest "
                "(sklearn.multiclass.OneVsRestClassifier), or merge the classes first."
            )
        return X, np.where(encoded == 1, 1.0, -1.0)

    @staticmethod
    def _duplicate_groups(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per example, the index of the first example with an identical input; and those first indices.

        Rows are compared by their bytes through a dict: exact, and ~5× faster than np.unique(axis=0).
        """
        rows = np.ascontiguousarray(X + 0.0)  # + 0.0 turns −0.0 into 0.0, so equal inputs have equal bytes
        first: dict[bytes, int] = {}
        representative = np.fromiter((first.setdefault(row.tobytes(), i) for i, row in enumerate(rows)),
                                     dtype=np.intp, count=len(rows))
        return representative, np.fromiter(first.values(), dtype=np.intp, count=len(first))

    def _refuse_conflicts(self, representative: np.ndarray, y: np.ndarray) -> None:
        conflict = y != y[representative]  # a duplicate whose label differs from its group's first one
        if conflict.any():
            groups = np.unique(representative[conflict])
            pairs = "; ".join(f"{_ids(np.flatnonzero(representative == g))}" for g in groups[:10])
            raise CapacityInputError(
                f"{type(self).__name__}: {len(groups)} input(s) occur more than once with different "
                f"labels (example ids with identical inputs: {pairs}"
                f"{'; …' if len(groups) > 10 else ''}). No classifier can fit both labels of one input, "
                "so memorizing the training set is impossible; remove or relabel these duplicates."
            )

    # ----------------------------------------------------------------------------- fitting
    def fit(self, X, y):
        """Fit on (m, d) inputs and (m,) labels of two classes; returns self."""
        X, y = self._validate_training(X, y)
        representative = unique_first = None  # copies of one input matter only to the memory term
        if self._refuses_conflicts:
            representative, unique_first = self._duplicate_groups(X)
            self._refuse_conflicts(representative, y)
        squared = euclidean_distances(X, squared=True)  # (m, m), zero diagonal, clipped at 0
        self.gamma_ = self._resolve_gamma(X)
        H = np.exp(-self.gamma_ * squared)  # K, turned into H in place below
        H *= y[:, None] * y[None, :]  # Ω = diag(y) K diag(y)
        self._add_memory(H, X, y, squared, representative, unique_first)  # H += D Dᵀ / lam
        H[np.diag_indices_from(H)] += 1.0 / self.C
        self.intercept_, alpha = solve_bordered_system(H, y)
        self.support_vectors_ = X
        self.dual_coef_ = alpha * y  # f(x) = dual_coef_ · K(X, x) + intercept_ + memory(x)
        self.training_margins_ = 1.0 - alpha / self.C  # y_i f(x_i), exact at the solution
        self._memory_coefficients(alpha, y)
        missed = np.flatnonzero(self.training_margins_ <= 0)
        if self._refuses_conflicts and len(missed):  # a memory machine that did not memorize: say so
            warnings.warn(
                f"{type(self).__name__}: {len(missed)} of {len(y)} training examples are not fitted "
                f"(margin 1 − a_i/C ≤ 0), ids {_ids(missed)}. Raise C (C > memory_penalty · m "
                "guarantees MIMM fits all) or narrow memory_width.", NotMemorizedWarning, stacklevel=2)
        return self

    def _resolve_gamma(self, X: np.ndarray) -> float:
        if self.gamma != "scale":
            return float(self.gamma)
        variance = float(X.var())
        return 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0  # as SVC(gamma="scale")

    def _add_memory(self, H, X, y, squared, representative, unique_first) -> None:
        """Add the (m, m) matrix D Dᵀ / lam to H in place (nothing without a memory term)."""

    def _memory_coefficients(self, alpha: np.ndarray, y: np.ndarray) -> None:
        """Store what prediction needs of the memory term (nothing without one)."""

    def _memory(self, squared_to_memory: np.ndarray) -> np.ndarray:
        """(n,) memory term from (n, k) squared distances to the stored memory inputs."""
        return np.zeros(len(squared_to_memory))

    # ----------------------------------------------------------------------------- prediction
    def _validate_queries(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False, reset=False)
        self._check_finite(X, "query")
        return X

    def _scores(self, X, *, with_memory: bool) -> np.ndarray:
        X = self._validate_queries(X)
        out = np.empty(len(X))
        memory_inputs = getattr(self, "memory_inputs_", None)
        for start in range(0, len(X), _CHUNK):
            rows = X[start:start + _CHUNK]
            kernel = np.exp(-self.gamma_ * euclidean_distances(rows, self.support_vectors_, squared=True))
            out[start:start + _CHUNK] = kernel @ self.dual_coef_ + self.intercept_
            if with_memory and memory_inputs is not None:
                out[start:start + _CHUNK] += self._memory(euclidean_distances(rows, memory_inputs, squared=True))
        return out

    def decision_function(self, X) -> np.ndarray:
        """(n,) signed score f(x); positive means ``classes_[1]``."""
        return self._scores(X, with_memory=True)

    def generalization_function(self, X) -> np.ndarray:
        """(n,) the kernel part Σ a_i y_i K(x_i, x) + b alone, without the memory term (an LS-SVM)."""
        return self._scores(X, with_memory=False)

    def predict(self, X) -> np.ndarray:
        """(n,) predicted labels, ``classes_[1]`` where the decision function is positive."""
        positive = self.decision_function(X) > 0  # checks fitted before classes_ is read
        return self.classes_[positive.astype(int)]


class LSSVM(_LeastSquaresMachine):
    """Least-squares SVM (Suykens & Vandewalle 1999) with an RBF kernel: the baseline MIMM/WIMM reduce to.

    Solves [[0, yᵀ], [y, Ω + I/C]] [b; a] = [0; 1] by Cholesky. Binary; ``gamma="scale"`` is
    1 / (d · Var(X)) as in ``sklearn.svm.SVC``.

    Example:
        >>> from sklearn.datasets import make_moons
        >>> X, y = make_moons(100, noise=0.1, random_state=0)
        >>> float(LSSVM(C=10.0).fit(X, y).score(X, y)) > 0.95
        True
    """

    _positive_params = ("C",)

    def __init__(self, C: float = 1.0, *, gamma="scale"):
        self.C = C
        self.gamma = gamma


class _MemoryMachine(_LeastSquaresMachine):
    _positive_params = ("C", "memory_penalty")
    _refuses_conflicts = True

    def __init__(self, C: float = 1e6, *, memory_penalty: float = 1.0, gamma="scale",
                 memory_width: float | None = None, memory_width_factor: float = 0.05,
                 memory_function: str = "gaussian"):
        self.C = C
        self.memory_penalty = memory_penalty
        self.gamma = gamma
        self.memory_width = memory_width
        self.memory_width_factor = memory_width_factor
        self.memory_function = memory_function

    def _check_params(self) -> None:
        super()._check_params()
        if self.memory_function not in MEMORY_FUNCTIONS:
            raise ValueError(f"memory_function must be one of {MEMORY_FUNCTIONS}; got {self.memory_function!r}")
        for name in ("memory_width", "memory_width_factor"):
            value = getattr(self, name)
            if value is None and name == "memory_width":
                continue
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive number; got {value!r}")

    def _resolve_width(self, squared: np.ndarray, unique_first: np.ndarray) -> float:
        """``memory_width``, or ``memory_width_factor`` × the median distance between distinct training inputs."""
        if self.memory_width is not None:
            return float(self.memory_width)
        if len(unique_first) < len(squared):  # copies of one input are not pairs of distinct inputs
            squared = squared[np.ix_(unique_first, unique_first)]
        m = len(squared)
        if m < 2:
            return 1.0
        # The m(m−1) off-diagonal entries hold every pair twice (same median as each pair once) and sort
        # after the m zeros of the diagonal: the median is the mean of two order statistics of the whole
        # matrix, found by one partition instead of sorting or indexing the upper triangle.
        middle = m + m * (m - 1) // 2
        ordered = np.partition(squared, middle - 1, axis=None)  # one kth: 10× faster than two
        low, high = ordered[middle - 1], ordered[middle:].min()
        return self.memory_width_factor * 0.5 * float(np.sqrt(low) + np.sqrt(high))


class MIMM(_MemoryMachine):
    """Maximum memory impact model: an LS-SVM plus the memory of the most influential training point.

    memory(x) = y_k c_k δ(x_k, x) with k = argmax_j δ(x_j, x), the nearest training input. On the
    training set Δ = I (duplicates of one input share one memory), so the system is LS-SVM's with
    1/γ_eff = 1/memory_penalty + 1/C and c = a / memory_penalty; every training point ends at
    margin 1 − a_i / C, and with C > memory_penalty · m every training point is classified
    correctly (module docstring). ``memory_penalty`` → ∞ switches the memory off: plain LS-SVM(C).

    Args:
        C: cost of the least-squares errors e (large: memorize).
        memory_penalty: λ, the weight of ½λ‖c‖² on the memory costs; the kernel part is an LS-SVM
            regularised by about this value when C is large.
        gamma: RBF kernel width of the generalization part, or ``"scale"`` (as SVC).
        memory_width: σ_δ of the memory influence; None: ``memory_width_factor`` × the median
            pairwise distance of the training inputs (0.05 by default, the notes' E8 setting).
        memory_function: ``"gaussian"`` or ``"laplacian"`` (:func:`memory_influence`).

    Attributes:
        training_margins_: (m,) y_i f(x_i) at the solution, 1 − a_i / C.
        memory_inputs_, memory_coef_: the distinct training inputs and their y_k c_k.
        memory_width_: σ_δ used.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(60, 2)), rng.integers(0, 2, 60)  # random labels
        >>> float(MIMM().fit(X, y).score(X, y))
        1.0
    """

    def _add_memory(self, H, X, y, squared, representative, unique_first):
        self.memory_width_ = self._resolve_width(squared, unique_first)
        self._groups = representative, unique_first
        self.memory_inputs_ = X[unique_first]
        # D has one entry per row, D[i, rep(i)] = y_i y_rep(i) δ(0) = 1 (labels agree within a group),
        # so (D Dᵀ)_ii' = y_i y_i' when i and i' share an input, else 0: the identity for distinct inputs
        if len(unique_first) == len(y):
            H[np.diag_indices_from(H)] += 1.0 / self.memory_penalty
        else:
            same = representative[:, None] == representative[None, :]
            H += (same * (y[:, None] * y[None, :])) / self.memory_penalty

    def _memory_coefficients(self, alpha, y):
        # c = Dᵀa / λ: each distinct input's c is the sum of a over its copies; stored as y_k c_k
        representative, unique_first = self._groups
        del self._groups
        if len(unique_first) == len(y):  # distinct inputs: D = I
            self.memory_coef_ = y * alpha / self.memory_penalty
            return
        group = np.searchsorted(unique_first, representative)  # (m,) row of memory_inputs_ per example
        c = np.bincount(group, weights=alpha, minlength=len(unique_first)) / self.memory_penalty
        self.memory_coef_ = y[unique_first] * c

    def _memory(self, squared_to_memory):
        nearest = np.argmin(squared_to_memory, axis=1)  # argmax of a decreasing δ
        influence = memory_influence(squared_to_memory[np.arange(len(nearest)), nearest],
                                     self.memory_width_, self.memory_function)
        return self.memory_coef_[nearest] * influence


class WIMM(_MemoryMachine):
    """Weighted impact memory model: an LS-SVM plus every training point's memory weighted by δ.

    memory(x) = Σ_j y_j c_j δ(x_j, x) (the generalization–memorization decision of Wang & Shao's
    GMM), Δ the full (m, m) influence matrix, so D Dᵀ = diag(y) Δ Δᵀ diag(y). Training margins are
    1 − a_i / C as for MIMM; with a narrow ``memory_width`` Δ ≈ I and WIMM ≈ MIMM. The paper's exact
    weighting could not be checked (``classifier-mia-capacity.md`` §8); this is the unnormalised one,
    which fades away from the training data. Parameters and attributes as :class:`MIMM`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(60, 2)), rng.integers(0, 2, 60)
        >>> float(WIMM().fit(X, y).score(X, y))
        1.0
    """

    def _add_memory(self, H, X, y, squared, representative, unique_first):
        self.memory_width_ = self._resolve_width(squared, unique_first)
        self.memory_inputs_ = X
        self._influence = memory_influence(squared, self.memory_width_, self.memory_function)  # Δ, symmetric
        gram = self._influence @ self._influence.T  # (m, m) Δ Δᵀ
        gram *= y[:, None] * y[None, :]
        gram /= self.memory_penalty
        H += gram

    def _memory_coefficients(self, alpha, y):
        # y ∘ c = y ∘ Dᵀa/λ = Δᵀ (y ∘ a) / λ
        self.memory_coef_ = self._influence.T @ (y * alpha) / self.memory_penalty
        del self._influence

    def _memory(self, squared_to_memory):
        return memory_influence(squared_to_memory, self.memory_width_, self.memory_function) @ self.memory_coef_
