"""Memorization measures for language models: pure functions of arrays (numpy and scipy only).

Method notes: ``shared/papers/lm-generative-ssl.md`` §3 (approximate memorization, Ippolito et al.
2023) and §5 (counterfactual memorization, extractability, exposure, membership scores).

Conventions shared by every function here:

- **Per-token log-probabilities** are one ``(N, T)`` float array, ``token_logprobs[i, t] =
  log p(x_{t+1} | x_{<=t})`` of sequence ``i``'s actual next token, in nats or any other base used
  consistently. Sequences shorter than ``T`` are **NaN-padded on the right**; NaN anywhere else, an
  all-NaN row, ``inf`` or a value above 0 is a ``ValueError``. As in the Min-K% and Min-K%++
  reference code the first token of a text has no log-probability (nothing predicts it), so a text
  of ``n`` tokens gives ``n - 1`` values. :func:`pad_logprobs` turns a list of 1-D arrays into this
  layout.
- **Membership scores** return ``(N,)`` floats where **higher = more likely a member**
  (seed notes §5d), so they plug into :func:`memlens.estimate.roc_curve` unchanged.
- **Token sequences** (extraction, edit similarity, BLEU) are compared pair by pair: ``a[i]``
  against ``b[i]``.
- Options are keyword-only; every bad input raises ``ValueError`` naming the argument.

The functions live in :mod:`~memlens.lm.membership_scores`, :mod:`~memlens.lm.extraction`
(extraction and approximate memorization), :mod:`~memlens.lm.exposure` and
:mod:`~memlens.lm.counterfactual`; this module gathers them under one name.
"""

from __future__ import annotations

from memlens.lm.counterfactual import counterfactual_memorization
from memlens.lm.exposure import exposure_chance, exposure_exact, exposure_skew_normal
from memlens.lm.extraction import (
    bleu,
    edit_distance,
    edit_similarity,
    extractable,
    k_extractable_rate,
    shortest_extracting_prefix,
)
from memlens.lm.membership_scores import (
    LOGPROB_SLACK,  # noqa: F401 (re-exported constant, outside __all__ as before)
    VAR_FLOOR,  # noqa: F401
    loss_score,
    min_k_plus_plus_score,
    min_k_score,
    next_token_moments,
    pad_logprobs,
    reference_ratio_score,
    zlib_score,
)

__all__ = [
    "bleu",
    "counterfactual_memorization",
    "edit_distance",
    "edit_similarity",
    "exposure_chance",
    "exposure_exact",
    "exposure_skew_normal",
    "extractable",
    "k_extractable_rate",
    "loss_score",
    "min_k_plus_plus_score",
    "min_k_score",
    "next_token_moments",
    "pad_logprobs",
    "reference_ratio_score",
    "shortest_extracting_prefix",
    "zlib_score",
]
