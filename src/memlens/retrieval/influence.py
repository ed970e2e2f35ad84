"""Exact self-influence of each training example on an L2-regularized multinomial logistic head.

The head is a multinomial logit with per-class inputs: example i's logits are ``Φ_i θ``, with
``Φ_i`` a (C, P) design (:func:`memlens.retrieval.head.design_matrix`: one-hot-by-class copies of
the features, plus class-c features shared across classes such as the class-c demonstration).
It minimizes ``J(θ) = Σ_i w_i ℓ_i(θ) + (l2 / 2)‖θ‖²``, ``ℓ_i`` the cross-entropy — convex, so the
optimum θ̂ is unique. Dropping example i moves θ̂ by ``≈ H⁻¹ w_i g_i`` (one Newton step; H the
Hessian of J, g_i = ∇ℓ_i(θ̂)), so its own loss rises by ``≈ w_i g_iᵀ H⁻¹ g_i``: the self-influence,
the first-order leave-one-out memorization of Koh & Liang / Zheng & Jiang that RetroPrompt's
``compute_if.py`` estimates with LiSSA. The head is small, so H is formed in full and factored
by Cholesky: exact, no LiSSA.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.special import softmax

from memlens.errors import MemlensError


def _check(design, labels, coef):
    design = np.asarray(design, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64).ravel()
    labels = np.asarray(labels, dtype=np.int64)
    if design.ndim != 3 or design.shape[2] != coef.size or len(labels) != len(design):
        raise MemlensError(
            f"A logistic head needs an (n, C, P) design, n labels and P coefficients; got shapes "
            f"{design.shape}, {labels.shape} and {coef.shape}."
        )
    return design, labels, coef


def logistic_gradients(design, labels, coef) -> np.ndarray:
    """(n, P) per-example gradients ``Φ_iᵀ (p_i − e_{y_i})`` of the cross-entropy."""
    design, labels, coef = _check(design, labels, coef)
    residual = softmax(design @ coef, axis=1)
    residual[np.arange(len(design)), labels] -= 1.0
    return np.einsum("ic,icp->ip", residual, design)


def logistic_hessian(design, coef, l2: float, weights=None, chunk: int = 256) -> np.ndarray:
    """Hessian of ``Σ_i w_i ℓ_i + (l2/2)‖θ‖²``: ``Σ_i w_i Φ_iᵀ (diag p_i − p_i p_iᵀ) Φ_i + l2·I``."""
    design = np.asarray(design, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64).ravel()
    n, _, P = design.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    H = l2 * np.eye(P)
    for start in range(0, n, chunk):  # chunks bound the (chunk, C, P) temporaries
        Phi = design[start : start + chunk]
        p = softmax(Phi @ coef, axis=1)
        mean = np.einsum("ic,icp->ip", p, Phi)  # p_iᵀ Φ_i
        ww = w[start : start + chunk]
        # Φᵀ diag(p) Φ − (Φᵀp)(Φᵀp)ᵀ, weighted
        H += np.einsum("icp,icq->pq", Phi * (ww[:, None] * p)[..., None], Phi, optimize=True)
        H -= (mean * ww[:, None]).T @ mean
    return H


def self_influence(design, labels, coef, l2: float, weights=None) -> np.ndarray:
    """(n,) ``w_i g_iᵀ H⁻¹ g_i`` at the optimum ``coef`` of the L2-regularized logistic head.

    The first-order increase of example i's own loss when it is left out of training: the head's
    parametric memorization of it. ``coef`` must minimize the same objective
    (:func:`memlens.retrieval.head.fit_logistic` with the same ``l2`` and ``weights``); ``l2 > 0``
    makes H positive definite, so the Cholesky factorization is exact and stable.

    >>> from memlens.retrieval.head import design_matrix, fit_logistic
    >>> Phi, y = design_matrix(np.array([[1.0], [-1.0]]), 2), np.array([0, 1])
    >>> coef = fit_logistic(Phi, y, l2=1.0)
    >>> bool((self_influence(Phi, y, coef, 1.0) > 0).all())
    True
    """
    if not l2 > 0:
        raise MemlensError(f"Exact self-influence needs l2 > 0 (a positive definite Hessian); got {l2}.")
    G = logistic_gradients(design, labels, coef)
    w = np.ones(len(G)) if weights is None else np.asarray(weights, dtype=np.float64)
    factor = cho_factor(logistic_hessian(design, coef, l2, w), lower=True)
    return w * np.einsum("ij,ji->i", G, cho_solve(factor, G.T))
