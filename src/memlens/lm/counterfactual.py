"""Counterfactual memorization of documents (Zhang et al. 2023, seed notes §5a) from per-token or
per-document measures of models trained on random subsets.
"""

from __future__ import annotations

import numpy as np

from memlens.estimate import MemorizationScores, memorization_scores


def counterfactual_memorization(
    membership, observations, *, min_models: int = 1
) -> MemorizationScores:
    """Counterfactual memorization of each document: performance when trained on it minus not.

    Zhang et al., "Counterfactual Memorization in Neural Language Models" (NeurIPS 2023):
    ``mem(x) = E_{S: x in S}[M(A(S), x)] - E_{S: x not in S}[M(A(S), x)]`` over models trained
    on random subsets, with M a per-document performance measure (the paper: per-token accuracy
    of the argmax next token under teacher forcing; a mean log-likelihood also works). This is
    Feldman–Zhang on documents and is computed by
    :func:`memlens.estimate.memorization_scores`. What is specific to language models is the
    per-token input: ``observations`` may be (M, N, T) per-token values (e.g. 0/1 argmax
    correctness or log p), NaN-padded on the right, and each document's measure is the mean
    over its tokens. Every model scores the same tokens, so the padding must be identical across
    models.

    Args:
        membership: (M, N) bool, True where model m was trained on document n; M >= 2.
        observations: (M, N) per-document measure, or (M, N, T) per-token values NaN-padded on
            the right (every document with >= 1 token).
        min_models: documents with fewer IN or OUT models get NaN memorization.

    Returns:
        :class:`memlens.estimate.MemorizationScores`; ``memorization`` is (N,).

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> nan = np.nan
        >>> acc = np.array([[[1, 1], [0, nan]], [[0, 1], [1, nan]],
        ...                 [[1, 1], [1, nan]], [[0, 0], [1, nan]]])
        >>> counterfactual_memorization(membership, acc).memorization.tolist()
        [0.75, 0.5]
    """
    obs = np.asarray(observations)
    if obs.ndim == 3:
        if obs.dtype.kind not in "biuf":
            raise ValueError(f"observations must be numeric, got dtype {obs.dtype}")
        obs = obs.astype(np.float64, copy=False)
        m, n, t = obs.shape
        if t == 0:
            raise ValueError(f"observations has no tokens (shape {obs.shape})")
        if m == 0 or n == 0:
            raise ValueError(f"observations has no models or no documents (shape {obs.shape})")
        if np.isinf(obs).any():
            raise ValueError("observations contains inf; per-token values must be finite")
        pad = np.isnan(obs)  # (M, N, T)
        if not (pad == pad[:1]).all():
            raise ValueError(
                "observations' NaN padding differs between models; every model must score the "
                "same tokens of each document"
            )
        valid = ~pad[0]  # (N, T), the same for every model
        holes = (~valid[:, :-1] & valid[:, 1:]).any(axis=1)
        if holes.any():
            raise ValueError(
                f"observations document {int(np.flatnonzero(holes)[0])} has NaN before a value; "
                f"NaN is only allowed as padding at the right end"
            )
        empty = ~valid.any(axis=1)
        if empty.any():
            raise ValueError(
                f"observations document {int(np.flatnonzero(empty)[0])} has no tokens (all NaN)"
            )
        obs = np.nansum(obs, axis=2) / valid.sum(axis=1)  # (M, N) per-document means
    elif obs.ndim != 2:
        raise ValueError(
            f"observations must be (models, documents) or (models, documents, tokens), got "
            f"shape {obs.shape}"
        )
    return memorization_scores(membership, obs, min_models=min_models)
