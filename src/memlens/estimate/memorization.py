"""Feldman–Zhang memorization and influence estimates from many subsampled models.

Feldman & Zhang, "What Neural Networks Memorize and Why" (NeurIPS 2020): train models on random
subsets; an example's memorization is how much more often models get it right when it was in
their training set than when it was not. Any per-(model, example) observation works: 0/1
correctness gives the paper's estimator, true-class probability gives the confidence variant of
Choi et al., "Why Train More?" (2023).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ._blocks import example_blocks, release_pages
from ._validate import (
    as_membership,
    as_min_models,
    as_numeric,
    as_observations,
    count_nonfinite,
    nonfinite_error,
)


@dataclass(frozen=True, eq=False)
class MemorizationScores:
    """Per-example Feldman–Zhang memorization estimates, all arrays of shape (N,).

    Attributes:
        memorization: mean_in - mean_out; NaN where either side has fewer than ``min_models``.
        stderr: sqrt(var_in / in_count + var_out / out_count), ddof=1 variances; NaN where either
            side has fewer than 2 models or ``memorization`` is NaN.
        in_count: number of models trained on the example (int).
        out_count: number of models not trained on it (int).
        mean_in: mean observation over IN models; NaN where ``in_count == 0``.
        mean_out: mean observation over OUT models; NaN where ``out_count == 0``.
    """

    memorization: np.ndarray
    stderr: np.ndarray
    in_count: np.ndarray
    out_count: np.ndarray
    mean_in: np.ndarray
    mean_out: np.ndarray

    def to_dict(self) -> dict[str, np.ndarray]:
        """Field name -> writable copy of the (N,) array, e.g. for ``pandas.DataFrame``.

        Example:
            >>> s = memorization_scores(np.array([[True], [False]]), np.array([[1.0], [0.0]]))
            >>> sorted(s.to_dict())
            ['in_count', 'mean_in', 'mean_out', 'memorization', 'out_count', 'stderr']
        """
        return {f.name: np.array(getattr(self, f.name)) for f in fields(self)}


def _side_stats(mask: np.ndarray, obs: np.ndarray):
    """Count, mean and ddof=1 variance of ``obs`` over rows where ``mask``; each (N,)."""
    count = mask.sum(axis=0)  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, obs, 0.0).sum(axis=0) / count  # NaN where count == 0
        dev = np.where(mask, obs - mean, 0.0)  # (M, N)
        var = (dev**2).sum(axis=0) / (count - 1)
    var = np.where(count >= 2, var, np.nan)
    return count, mean, var


def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)


def memorization_scores(membership, observations, *, min_models: int = 1) -> MemorizationScores:
    """Feldman–Zhang memorization: mean observation when trained on minus when held out.

    Implements the subsampled estimator of Feldman & Zhang (NeurIPS 2020, §6 of the seed notes):
    ``mem_i = mean_{k: i in I_k} obs[k, i] - mean_{k: i not in I_k} obs[k, i]``.

    Args:
        membership: (M, N) bool, True where model k was trained on example i. M >= 2.
        observations: (M, N) numeric, e.g. 0/1 correctness or true-class probability; must be
            finite. May be memory-mapped: it is read one block of examples at a time, so memory
            stays at a few blocks whatever M × N.
        min_models: examples with fewer than this many IN or OUT models get NaN memorization
            (and stderr) instead of an error.

    Returns:
        :class:`MemorizationScores` of (N,) read-only arrays.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> correct = np.array([[1, 1], [0, 1], [1, 1], [0, 1]])
        >>> memorization_scores(membership, correct).memorization.tolist()
        [1.0, 0.0]
    """
    membership = as_membership(membership, min_models=2)
    obs = as_numeric(observations, name="observations", shape=membership.shape)
    min_models = as_min_models(min_models)

    n_models, n_examples = membership.shape
    in_count, out_count = np.empty(n_examples, np.int64), np.empty(n_examples, np.int64)
    mean_in, var_in, mean_out, var_out = (np.empty(n_examples) for _ in range(4))
    bad = 0
    for block in example_blocks(n_examples, n_models):  # float64 one block of examples at a time
        inside = np.asarray(membership[:, block])  # (M, b)
        values = np.asarray(obs[:, block], dtype=np.float64)  # (M, b)
        bad += count_nonfinite(values)
        in_count[block], mean_in[block], var_in[block] = _side_stats(inside, values)
        out_count[block], mean_out[block], var_out[block] = _side_stats(~inside, values)
        release_pages(membership, obs)
    if bad:
        raise nonfinite_error("observations", bad)
    enough = (in_count >= min_models) & (out_count >= min_models)
    mem = np.where(enough, mean_in - mean_out, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        stderr = np.sqrt(var_in / in_count + var_out / out_count)
    stderr = np.where(enough, stderr, np.nan)
    _readonly(mem, stderr, in_count, out_count, mean_in, mean_out)
    return MemorizationScores(mem, stderr, in_count, out_count, mean_in, mean_out)


def influence_scores(membership, test_observations, *, min_models: int = 1) -> np.ndarray:
    """Feldman–Zhang influence of each training example on each test example.

    Implements ``infl[j, i] = mean_{k: i IN} test[k, j] - mean_{k: i OUT} test[k, j]``
    (Feldman & Zhang, NeurIPS 2020) with one matrix product per block of training examples (the
    OUT sum is the total minus the IN sum), so besides the (n_test, N) result memory stays at a
    few blocks.

    Args:
        membership: (M, N) bool, True where model k was trained on training example i. M >= 2.
            May be memory-mapped.
        test_observations: (M, n_test) numeric, e.g. test correctness of each model; finite.
        min_models: columns i with fewer than this many IN or OUT models are NaN.

    Returns:
        (n_test, N) float array.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, True], [False, False]])
        >>> test_correct = np.array([[1], [0], [1], [0]])
        >>> influence_scores(membership, test_correct).tolist()
        [[1.0, 0.0]]
    """
    membership = as_membership(membership, min_models=2)
    test = as_observations(test_observations, name="test_observations", ndim=2)
    if test.shape[0] != membership.shape[0]:
        raise ValueError(
            f"test_observations has {test.shape[0]} models (rows) but membership has "
            f"{membership.shape[0]}"
        )
    min_models = as_min_models(min_models)
    n_models, n_examples = membership.shape
    by_test = np.ascontiguousarray(test.T)  # (n_test, M)
    total = by_test.sum(axis=1, keepdims=True)  # (n_test, 1): sum over all models
    influence = np.empty((by_test.shape[0], n_examples))  # (n_test, N)
    for block in example_blocks(n_examples, max(n_models, by_test.shape[0])):
        inside = np.asarray(membership[:, block], dtype=np.float64)  # (M, b)
        in_count = inside.sum(axis=0)  # (b,)
        out_count = n_models - in_count
        summed_in = by_test @ inside  # (n_test, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            # OUT sum = total - IN sum: one matrix product per block instead of two
            diff = summed_in / in_count - (total - summed_in) / out_count
        enough = (in_count >= min_models) & (out_count >= min_models)  # (b,)
        influence[:, block] = np.where(enough, diff, np.nan)
        release_pages(membership)
    return influence
