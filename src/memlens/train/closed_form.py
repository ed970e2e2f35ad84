"""Exact leave-one-out for ridge, kernel ridge and a linear head, without retraining.

For a penalized least-squares fit whose predictions are ``F = H Y``, deleting example i and
refitting changes its own prediction to

    f_{-i}(x_i) = (f(x_i) - H_ii y_i) / (1 - H_ii)        (the PRESS / hat-matrix identity,
                                                           Allen 1974; Sherman–Morrison)

so one fit gives all N leave-one-out predictions. These models are deterministic, so
``1[right when trained on i] - 1[right when not]`` is exactly Feldman–Zhang memorization
(NeurIPS 2020) with the training randomness removed, computed at the cost of one fit instead of
hundreds of models. Verified against brute-force refitting of scikit-learn's ``Ridge`` and
``KernelRidge`` in ``tests/test_closed_form.py``; timed against it in ``bench/loo_vs_retrain.py``.

Everything here is numpy/scipy; shapes are (N, D) inputs, (N, K) targets and predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from numbers import Real

import numpy as np
import scipy.linalg

__all__ = [
    "LOOResult",
    "kernel_ridge_loo",
    "linear_head_loo",
    "linear_kernel",
    "loo_memorization",
    "rbf_kernel",
    "ridge_loo",
]


@dataclass(frozen=True, eq=False)
class LOOResult:
    """In-sample and exact leave-one-out predictions of one deterministic fit.

    Attributes:
        fitted: (N, K) predictions of the model trained on all N examples.
        loo: (N, K) ``loo[i]`` is the prediction at ``x_i`` of the model trained without i.
        leverage: (N,) diagonal of the hat matrix, ``H_ii = d fitted[i] / d Y[i]``; in [0, 1) for
            ridge and positive semi-definite kernels.
    """

    fitted: np.ndarray
    loo: np.ndarray
    leverage: np.ndarray

    def to_dict(self) -> dict[str, np.ndarray]:
        """Field name -> writable copy of the array.

        Example:
            >>> sorted(ridge_loo(np.eye(3), np.eye(3), alpha=1.0).to_dict())
            ['fitted', 'leverage', 'loo']
        """
        return {f.name: np.array(getattr(self, f.name)) for f in fields(self)}


# ---------------------------------------------------------------------------------------------
# input checks: every failure is a ValueError that names the argument


def _as_float_array(a, *, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); not allowed")
    return arr


def _as_targets(Y, n: int, *, against: str) -> np.ndarray:
    """(N,) or (N, K) numeric -> (N, K) float64."""
    Y = _as_float_array(Y, name="Y", ndim=(1, 2))
    if Y.shape[0] != n:
        raise ValueError(
            f"Y has {Y.shape[0]} rows but {against} has {n}; one target row per example"
        )
    Y = Y.reshape(n, -1)
    if Y.shape[1] == 0:
        raise ValueError("Y has no columns (shape (N, 0)); pass at least one target")
    return Y


def _as_n_examples(n: int) -> None:
    if n < 2:
        raise ValueError(f"leave-one-out needs at least 2 examples, got {n}")


def _as_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real | np.floating | np.integer):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(
            f"alpha must be finite and > 0, got {alpha}: without a ridge penalty the hat matrix "
            "can reach 1 and leave-one-out is undefined"
        )
    return alpha


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


# ---------------------------------------------------------------------------------------------
# ridge


def ridge_loo(X, Y, *, alpha: float, fit_intercept: bool = True) -> LOOResult:
    """Exact leave-one-out predictions of multi-output ridge regression from one SVD.

    Identity: ``f_{-i}(x_i) = (f(x_i) - H_ii y_i) / (1 - H_ii)`` (PRESS, Allen 1974), where
    ``H`` is the hat matrix. With an intercept, the model minimizes
    ``||Y - 1 b^T - X W||^2 + alpha ||W||^2`` with ``b`` unpenalized: penalized least squares on
    ``A = [1, X]`` with penalty ``P = diag(0, alpha I)``, so ``H = A (A^T A + P)^{-1} A^T``, and
    since the centered ``Xc = X - mean(X)`` is orthogonal to ``1``,
    ``H = 11^T / N + Xc (Xc^T Xc + alpha I)^{-1} Xc^T``. Refitting scikit-learn's
    ``Ridge(alpha, fit_intercept=True)`` without row i (which re-centers on the other N - 1 rows)
    minimizes that same objective without row i, so the identity gives its prediction exactly.

    With the thin SVD ``Xc = U S V^T``, ``H_ii = 1/N + sum_j U_ij^2 s_j^2 / (s_j^2 + alpha)``:
    cost ``O(N D min(N, D) + N min(N, D) K)`` time and ``O(N min(N, D))`` memory; the N x N hat
    matrix is never formed.

    Args:
        X: (N, D) features, finite. D may exceed N.
        Y: (N, K) targets (one-hot labels for classification), or (N,) for K = 1.
        alpha: ridge penalty on the weights (not the intercept), > 0; scikit-learn's ``alpha``.
        fit_intercept: fit an unpenalized intercept, as scikit-learn's ``Ridge`` does.

    Returns:
        :class:`LOOResult` with (N, K) ``fitted`` and ``loo`` (2-D even for a 1-D ``Y``) and (N,)
        ``leverage``; read-only arrays.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> r = ridge_loo(X, 2 * X[:, 0] + 1, alpha=1e-9)
        >>> np.round(r.loo[:, 0], 6).tolist()  # a line: removing a point changes nothing
        [1.0, 3.0, 5.0, 7.0]
        >>> np.round(r.leverage, 2).tolist()
        [0.7, 0.3, 0.3, 0.7]
    """
    X = _as_float_array(X, name="X", ndim=(2,))
    n = X.shape[0]
    _as_n_examples(n)
    Y = _as_targets(Y, n, against="X")
    alpha = _as_alpha(alpha)

    if fit_intercept:
        Xc = X - X.mean(axis=0)  # (N, D)
        y_mean = Y.mean(axis=0)  # (K,)
        Yc = Y - y_mean
    else:
        Xc, y_mean, Yc = X, np.zeros(Y.shape[1]), Y
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)  # U (N, r), s (r,), r = min(N, D)
    shrink = s**2 / (s**2 + alpha)  # (r,) eigenvalues of the centered hat matrix
    fitted = y_mean + U @ (shrink[:, None] * (U.T @ Yc))  # (N, K)
    leverage = (U**2) @ shrink + (1.0 / n if fit_intercept else 0.0)  # (N,)
    loo = Y - (Y - fitted) / (1.0 - leverage)[:, None]  # LOO residual = residual / (1 - H_ii)
    _readonly(fitted, loo, leverage)
    return LOOResult(fitted, loo, leverage)


# ---------------------------------------------------------------------------------------------
# kernels and kernel ridge


def linear_kernel(X) -> np.ndarray:
    """(N, N) Gram matrix ``X X^T`` of the (N, D) features ``X``.

    Example:
        >>> linear_kernel(np.array([[1.0, 2.0], [0.0, 1.0]])).tolist()
        [[5.0, 2.0], [2.0, 1.0]]
    """
    X = _as_float_array(X, name="X", ndim=(2,))
    return X @ X.T


def rbf_kernel(X, *, gamma: float | None = None) -> np.ndarray:
    """(N, N) Gaussian kernel ``exp(-gamma ||x_i - x_j||^2)`` of the (N, D) features ``X``.

    ``gamma`` defaults to ``1 / D``, as in scikit-learn's ``rbf_kernel``. Matches it to ~1e-12.

    Example:
        >>> np.round(rbf_kernel(np.array([[0.0], [1.0]]), gamma=1.0), 4).tolist()
        [[1.0, 0.3679], [0.3679, 1.0]]
    """
    X = _as_float_array(X, name="X", ndim=(2,))
    if gamma is None:
        gamma = 1.0 / max(X.shape[1], 1)
    if (
        isinstance(gamma, bool)
        or not isinstance(gamma, Real)
        or not np.isfinite(gamma)
        or gamma <= 0
    ):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma!r}")
    sq = np.einsum("nd,nd->n", X, X)  # (N,) squared norms
    dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0)  # (N, N)
    np.fill_diagonal(dist, 0.0)
    return np.exp(-float(gamma) * dist)


def kernel_ridge_loo(K, Y, *, alpha: float) -> LOOResult:
    """Exact leave-one-out predictions of kernel ridge regression from one Cholesky factorization.

    With ``G = (K + alpha I)^{-1}`` and dual coefficients ``A = G Y``, the hat matrix is
    ``H = K G = I - alpha G``, and the PRESS identity
    ``f_{-i}(x_i) = (f(x_i) - H_ii y_i) / (1 - H_ii)`` becomes ``y_i - A_i / G_ii``
    (Rifkin & Lippert, "Notes on regularized least squares", 2007; Cawley & Talbot, 2004), which
    needs no subtraction from 1. This is scikit-learn's ``KernelRidge(alpha,
    kernel="precomputed")`` (no intercept) refitted on ``K[keep][:, keep]`` and evaluated at
    ``K[i, keep]``.

    Cost: one Cholesky factorization and one triangular inverse, ``O(N^3)`` once (about two
    refits' worth) instead of N refits; ``O(N^2)`` memory. A symmetric ``K`` that is not positive
    semi-definite (so ``K + alpha I`` has no Cholesky factor) falls back to one eigendecomposition.

    Args:
        K: (N, N) symmetric kernel matrix over the training examples, e.g. :func:`rbf_kernel`.
        Y: (N, K) targets (one-hot labels for classification), or (N,) for one target.
        alpha: ridge penalty, > 0; scikit-learn's ``alpha``.

    Returns:
        :class:`LOOResult` with (N, K) ``fitted`` and ``loo`` and (N,) ``leverage``; read-only.

    Example:
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> r = kernel_ridge_loo(linear_kernel(X), X[:, 0], alpha=1e-9)
        >>> np.round(r.loo[:, 0], 6).tolist()  # y = x through the origin: exact without any point
        [0.0, 1.0, 2.0, 3.0]
    """
    K = _as_float_array(K, name="K", ndim=(2,))
    if K.shape[0] != K.shape[1]:
        raise ValueError(
            f"K must be a square (N, N) kernel matrix over the examples, got shape {K.shape}"
        )
    n = K.shape[0]
    _as_n_examples(n)
    scale = float(np.abs(K).max()) if K.size else 0.0
    asym = float(np.abs(K - K.T).max())
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(
            f"K must be symmetric (a kernel matrix k(x_i, x_j)); max |K - K^T| = {asym:.3g} "
            f"against max |K| = {scale:.3g}"
        )
    Y = _as_targets(Y, n, against="K")
    alpha = _as_alpha(alpha)

    M = K + alpha * np.eye(n)  # (N, N)
    try:
        L = scipy.linalg.cholesky(M, lower=True, check_finite=False)  # M = L L^T
        L_inv, info = scipy.linalg.lapack.dtrtri(L, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("singular Cholesky factor")
        A = L_inv.T @ (L_inv @ Y)  # (N, K) dual coefficients, G Y
        G_diag = np.einsum("ji,ji->i", L_inv, L_inv)  # (N,) G = L^-T L^-1
    except np.linalg.LinAlgError:  # indefinite K: one eigendecomposition instead
        lam, Q = np.linalg.eigh(M)  # (N,), (N, N)
        if np.abs(lam).min() <= n * np.finfo(float).eps * np.abs(lam).max():
            raise ValueError(
                f"K + alpha*I is singular (eigenvalues down to {lam.min():.3g}); K must be a "
                "positive semi-definite kernel matrix (rbf_kernel, linear_kernel), or raise alpha"
            ) from None
        A = Q @ ((Q.T @ Y) / lam[:, None])
        G_diag = (Q**2) @ (1.0 / lam)
    fitted = K @ A  # (N, K), what KernelRidge.predict computes
    loo = Y - A / G_diag[:, None]
    leverage = 1.0 - alpha * G_diag
    _readonly(fitted, loo, leverage)
    return LOOResult(fitted, loo, leverage)


# ---------------------------------------------------------------------------------------------
# classification: memorization from leave-one-out predictions


def _as_labels(y, n: int, n_classes: int, *, against: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"y must be 1-D with one label per example ({n} from {against}), got shape {y.shape}"
        )
    if y.dtype.kind not in "iub":
        if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}) for {n_classes} classes, got range "
            f"[{y.min()}, {y.max()}]"
        )
    return y


def _margin(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,) score of the true class minus the best other class."""
    rows = np.arange(len(y))
    true = scores[rows, y]
    other = scores.copy()
    other[rows, y] = -np.inf
    return true - other.max(axis=1)


def loo_memorization(result: LOOResult, y) -> dict[str, np.ndarray]:
    """Per-example memorization of a deterministic classifier from its leave-one-out predictions.

    Feldman–Zhang memorization (NeurIPS 2020) is ``P[right | trained on i] - P[right | not]``;
    for a deterministic model both probabilities are 0 or 1, so it is
    ``1[argmax fitted_i == y_i] - 1[argmax loo_i == y_i]`` (ties go to the lowest class, as in
    ``np.argmax``). ``margin_drop`` is its continuous version.

    Args:
        result: a :class:`LOOResult` with K >= 2 columns, one score per class.
        y: (N,) integer labels in ``[0, K)``: the labels the model was trained on.

    Returns:
        Dict of (N,) float arrays: ``memorization`` (in {-1, 0, 1}); ``margin_drop`` =
        ``fitted_margin - loo_margin``, where a margin is the true class's score minus the best
        other class's; ``fitted_margin``; ``loo_margin``; ``leverage``.

    Example:
        >>> fitted = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> loo = np.array([[0.7, 0.3], [0.6, 0.4]])
        >>> s = loo_memorization(LOOResult(fitted, loo, np.array([0.2, 0.5])), [0, 1])
        >>> s["memorization"].tolist(), np.round(s["margin_drop"], 6).tolist()
        ([0.0, 1.0], [0.4, 0.8])
    """
    fitted = _as_float_array(result.fitted, name="result.fitted", ndim=(2,))
    loo = _as_float_array(result.loo, name="result.loo", ndim=(2,))
    if loo.shape != fitted.shape:
        raise ValueError(f"result.loo has shape {loo.shape} but result.fitted has {fitted.shape}")
    n, k = fitted.shape
    if k < 2:
        raise ValueError(
            f"memorization needs one score column per class (K >= 2), got K = {k}; pass one-hot "
            "targets to the fit"
        )
    y = _as_labels(y, n, k, against="result.fitted")
    right_in = (fitted.argmax(axis=1) == y).astype(np.float64)
    right_out = (loo.argmax(axis=1) == y).astype(np.float64)
    fitted_margin = _margin(fitted, y)
    loo_margin = _margin(loo, y)
    return {
        "memorization": right_in - right_out,
        "margin_drop": fitted_margin - loo_margin,
        "fitted_margin": fitted_margin,
        "loo_margin": loo_margin,
        "leverage": np.array(result.leverage, dtype=np.float64),
    }


def linear_head_loo(
    features,
    y,
    *,
    alpha: float,
    n_classes: int | None = None,
    fit_intercept: bool = True,
) -> tuple[LOOResult, dict[str, np.ndarray]]:
    """Exact leave-one-out for a linear classification head on frozen features.

    The head is ridge regression on one-hot targets (a least-squares classifier; predicted class
    = argmax of the K outputs), so :func:`ridge_loo` gives every leave-one-out prediction from one
    SVD, and :func:`loo_memorization` turns them into Feldman–Zhang memorization of the head.
    Typical use: penultimate-layer embeddings of a pretrained network as ``features``.

    Args:
        features: (N, D) frozen features.
        y: (N,) integer labels in ``[0, n_classes)``.
        alpha: ridge penalty, > 0.
        n_classes: number of classes K; defaults to ``max(y) + 1``.
        fit_intercept: fit an unpenalized bias per class.

    Returns:
        ``(result, scores)``: the :class:`LOOResult` over the (N, K) one-hot targets, and the
        dict of (N,) arrays from :func:`loo_memorization`.

    Example:
        >>> features = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2], [0.15]])
        >>> y = np.array([0, 0, 0, 1, 1, 1, 1])  # the last one sits among the 0s
        >>> result, scores = linear_head_loo(features, y, alpha=1e-3)
        >>> scores["memorization"].tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        >>> int(np.argmax(scores["margin_drop"]))
        6
    """
    features = _as_float_array(features, name="features", ndim=(2,))
    n = features.shape[0]
    if n_classes is None:
        y_arr = np.asarray(y)
        if y_arr.size == 0 or y_arr.dtype.kind not in "iubf":
            raise ValueError(
                f"y must hold integer class labels, got {y_arr.dtype} of shape {y_arr.shape}"
            )
        n_classes = int(np.nanmax(y_arr)) + 1
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    y = _as_labels(y, n, int(n_classes), against="features")
    onehot = np.eye(int(n_classes))[y]  # (N, K)
    result = ridge_loo(features, onehot, alpha=alpha, fit_intercept=fit_intercept)
    return result, loo_memorization(result, y)
