"""Memorization of density models (van den Burg & Williams, NeurIPS 2021), a pure estimator.

The score adapts Feldman's label memorization to likelihoods: ``M(i) = log p(x_i | A(D)) −
log p(x_i | A(D \\ {x_i}))``. With a K-fold design (every example OUT of one model per repetition,
IN the others) it is estimated, as the authors' ``summarize.py`` does, by a log-mean-exp over models
— ``U_i = logmeanexp(log p̂_m(x_i) : m has i IN)``, ``V_i = logmeanexp(… : m has i OUT)``,
``M_i = U_i − V_i`` — i.e. the log of the ratio of the *mean likelihoods*, not the mean log ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.errors import MemlensError


@dataclass(frozen=True)
class DensityMemorization:
    """Per-example density memorization and its parts (all shape (N,), NaN where not estimable)."""

    memorization: np.ndarray  #: M = held_in − held_out, in nats; higher = more memorized
    held_in: np.ndarray  #: U: log-mean-exp of log-likelihood over the models that trained on it
    held_out: np.ndarray  #: V: log-mean-exp of log-likelihood over the models that did not
    in_count: np.ndarray  #: models with the example IN
    out_count: np.ndarray  #: models with the example OUT


def masked_logmeanexp(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``log(mean(exp(values[mask[:, i], i])))`` per column i, stably; NaN for an empty column.

    ``-inf`` entries (zero density) count as zeros of the mean; a column all ``-inf`` gives ``-inf``.
    """
    values = np.asarray(values, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    count = mask.sum(axis=0)
    masked = np.where(mask, values, -np.inf)
    peak = masked.max(axis=0)
    shift = np.where(np.isfinite(peak), peak, 0.0)  # an all -inf (or empty) column needs no shift
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.exp(masked - shift).sum(axis=0)
        out = np.log(total) + shift - np.log(count)
    return np.where(count > 0, out, np.nan)


def density_memorization(
    membership: np.ndarray, loglik: np.ndarray, *, min_in: int = 1, min_out: int = 1
) -> DensityMemorization:
    """The K-fold memorization score of every example from a (models × examples) log-likelihood matrix.

    Args:
        membership: (M, N) bool, True where model m trained on example i.
        loglik: (M, N) log p̂_m(x_i) in nats (exact, or an importance-sampled estimate).
        min_in, min_out: Fewest IN / OUT models for a score; examples with fewer get NaN.

    Raises:
        MemlensError: shapes differ, or a log-likelihood is NaN or +inf (``-inf``, zero density, is
            accepted).
    """
    membership = np.asarray(membership)
    loglik = np.asarray(loglik, dtype=np.float64)
    if membership.ndim != 2 or membership.shape != loglik.shape:
        raise MemlensError(
            f"density_memorization needs a (models × examples) membership mask and log-likelihoods of "
            f"the same shape; got {membership.shape} and {loglik.shape}. Pass one log-likelihood per "
            "model and example."
        )
    if membership.dtype != bool:
        raise MemlensError(f"The membership mask must be boolean; got dtype {membership.dtype}.")
    bad = np.isnan(loglik) | (loglik == np.inf)
    if bad.any():
        models, examples = np.nonzero(bad)
        raise MemlensError(
            f"{int(bad.sum())} log-likelihood(s) are NaN or +inf (first at model {int(models[0])}, "
            f"example {int(examples[0])}): the density model failed there. Check its fit (for a "
            "Gaussian mixture, raise reg_covar; for a KDE, the bandwidth must be > 0) and rerun."
        )
    in_count = membership.sum(axis=0)
    out_count = (~membership).sum(axis=0)
    held_in = masked_logmeanexp(loglik, membership)
    held_out = masked_logmeanexp(loglik, ~membership)
    ok = (in_count >= min_in) & (out_count >= min_out)
    with np.errstate(invalid="ignore"):
        score = np.where(ok, held_in - held_out, np.nan)
    return DensityMemorization(score, np.where(ok, held_in, np.nan), np.where(ok, held_out, np.nan),
                               in_count, out_count)


def nearest_sample_distance(train: np.ndarray, samples: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Per training example, the ℓ2 distance to its nearest generated sample (the copy-detection test).

    The test the paper contrasts with its score: a training image close to some generated sample
    looks "copied". Distances are computed in chunks of ``chunk`` training rows.
    """
    train = np.asarray(train, dtype=np.float64).reshape(len(train), -1)
    samples = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    sample_sq = (samples**2).sum(axis=1)
    out = np.empty(len(train))
    for start in range(0, len(train), chunk):
        block = train[start:start + chunk]
        sq = (block**2).sum(axis=1)[:, None] - 2 * block @ samples.T + sample_sq[None, :]
        out[start:start + chunk] = np.sqrt(np.maximum(sq.min(axis=1), 0.0))
    return out
