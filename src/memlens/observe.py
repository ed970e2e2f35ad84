"""Per-model, per-example observables computed from a model's outputs.

Every function maps outputs of shape (M, N, C) and labels (N,) to named (M, N) arrays:
``correct`` (0/1), ``loss`` (cross-entropy), ``confidence`` (LiRA's logit-scaled true-class
confidence φ = log p_y − log Σ_{y'≠y} p_{y'}, so that p_y = sigmoid(φ)), and ``probabilities``
(M, N, C) stored as float16 to keep a 1000×60000 run on disk.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

SCALAR_OBSERVABLES = ("correct", "loss", "confidence")


def from_logits(logits: np.ndarray, y: np.ndarray, *, probabilities: bool = True) -> dict[str, np.ndarray]:
    """Observables from logits (M, N, C), numerically stable for confident models.

    >>> out = from_logits(np.array([[[2.0, 0.0], [0.0, 3.0]]]), np.array([0, 0]))
    >>> out["correct"].tolist(), np.round(out["confidence"], 3).tolist()
    ([[1.0, 0.0]], [[2.0, -3.0]])
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    at_label = np.broadcast_to(y[None, :, None], (*logits.shape[:2], 1))
    true = np.take_along_axis(logits, at_label, axis=2)[..., 0]
    top = logits.max(axis=2, keepdims=True)
    exp = np.exp(logits - top)  # one exponential pass serves the loss, the confidence and the probabilities
    total = exp.sum(axis=2)
    lse = top[..., 0] + np.log(total)
    kept = np.take_along_axis(exp, at_label, axis=2)
    np.put_along_axis(exp, at_label, 0.0, axis=2)
    others = exp.sum(axis=2)  # Σ_{y'≠y} exp(z_y' − max), summed without the label's term: no cancellation
    np.put_along_axis(exp, at_label, kept, axis=2)
    with np.errstate(divide="ignore"):
        lse_others = top[..., 0] + np.log(others)  # log Σ_{y'≠y} exp z_y'
    underflow = others < 1e-300  # the label's logit is so far above the rest that they vanish after
    if underflow.any():  # shifting by it: shift those rows by their own largest other logit instead
        rows = logits[underflow]
        rest = np.where(np.arange(rows.shape[1]) == y[np.nonzero(underflow)[1]][:, None], -np.inf, rows)
        lse_others[underflow] = logsumexp(rest, axis=1)
    out = {
        "correct": (logits.argmax(axis=2) == y).astype(np.float32),
        "loss": (lse - true).astype(np.float32),
        "confidence": (true - lse_others).astype(np.float32),
    }
    if probabilities:
        out["probabilities"] = (exp / total[..., None]).astype(np.float16)
    return out


def from_probabilities(probs: np.ndarray, y: np.ndarray, *, probabilities: bool = True) -> dict[str, np.ndarray]:
    """Observables from class probabilities (M, N, C), e.g. a scikit-learn ``predict_proba``.

    Sums the other classes directly rather than computing 1 − p_y, which cancels near 1.
    """
    probs = np.asarray(probs, dtype=np.float64)
    tiny = 1e-45
    logp = np.log(np.clip(probs, tiny, None))
    return from_logits(logp, y, probabilities=probabilities)
