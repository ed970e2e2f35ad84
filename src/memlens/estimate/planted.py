"""How well a score recovers planted ground truth (flipped labels, conflicting duplicates)."""

from __future__ import annotations

import numpy as np

from .metrics import auc, roc_curve


def planted_recovery(planted, scores) -> dict:
    """AUROC of ``scores`` for finding the planted examples, and precision among the top k.

    k is the number of planted examples; NaN scores rank last; examples tied with the k-th score
    share the remaining places in proportion (the expectation under random tie-breaking).

    Args:
        planted: (N,) bool, True for planted examples.
        scores: (N,) float, higher = more suspicious.

    Example:
        >>> planted_recovery(np.array([True, False, False, True]), np.array([0.9, 0.1, np.nan, 0.5]))
        {'n_planted': 2, 'auroc': 1.0, 'found_in_top': 2.0, 'precision_at_k': 1.0}
        >>> planted_recovery(np.array([True, False, False, False]), np.array([1.0, 1.0, 0.0, 0.0]))["found_in_top"]
        0.5
    """
    planted = np.asarray(planted, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if planted.shape != scores.shape or planted.ndim != 1:
        raise ValueError(f"planted {planted.shape} and scores {scores.shape} must be equal 1-D shapes.")
    k = int(planted.sum())
    if k == 0 or k == len(planted) or np.isnan(scores).all():
        return {"n_planted": k, "auroc": float("nan"), "found_in_top": 0, "precision_at_k": float("nan")}
    finite = scores[np.isfinite(scores)]
    low = (finite.min() if finite.size else 0.0) - 1.0
    filled = np.clip(np.where(np.isnan(scores), low - 1.0, scores), low - 1.0, (finite.max() if finite.size else 0.0) + 1.0)
    fpr, tpr, _ = roc_curve(planted, filled)
    # the top k, with examples tied at the k-th score counted fractionally (as if ties were
    # broken at random), so that a score with many ties at its maximum is not flattered by row order
    kth = np.sort(filled)[::-1][k - 1]
    above, tied = filled > kth, filled == kth
    slots = k - int(above.sum())
    found = float(planted[above].sum() + slots * planted[tied].sum() / tied.sum())
    return {"n_planted": k, "auroc": float(auc(fpr, tpr)), "found_in_top": round(found, 2),
            "precision_at_k": found / k}
