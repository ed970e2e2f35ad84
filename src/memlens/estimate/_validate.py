"""Input checks shared by the estimators; every failure is a ``ValueError`` that names the argument."""

from __future__ import annotations

import numpy as np


def as_membership(membership, *, name: str = "membership", min_models: int = 1) -> np.ndarray:
    """Check a membership matrix: 2-D, boolean dtype, at least ``min_models`` rows. Shape (M, N)."""
    arr = np.asarray(membership)
    if arr.dtype != np.bool_:
        raise ValueError(
            f"{name} must be a boolean array (True = trained on), got dtype {arr.dtype}; "
            f"convert explicitly, e.g. {name}.astype(bool)"
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (models, examples), got shape {arr.shape}")
    if arr.shape[0] < min_models:
        raise ValueError(
            f"{name} has {arr.shape[0]} model(s); this estimator needs at least {min_models}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no examples (shape {arr.shape})")
    return arr


def as_numeric(
    observations,
    *,
    name: str,
    shape: tuple[int, ...] | None = None,
    ndim: int | None = None,
    against: str = "membership",
) -> np.ndarray:
    """Check dtype and shape only; no conversion and no copy, so a memory-mapped input stays so.

    Finiteness is the caller's to check, block by block (:func:`count_nonfinite`).
    """
    arr = observations if isinstance(observations, np.ndarray) else np.asarray(observations)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape} but {against} implies {tuple(shape)}")
    return arr


def count_nonfinite(block: np.ndarray) -> int:
    """How many entries of ``block`` are NaN or infinite (0 for integer and bool arrays)."""
    if block.dtype.kind != "f":
        return 0
    return int(block.size - np.count_nonzero(np.isfinite(block)))


def nonfinite_error(name: str, bad: int) -> ValueError:
    """The error for an array with ``bad`` NaN or infinite values."""
    return ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); not allowed here")


def as_observations(
    observations,
    *,
    name: str,
    shape: tuple[int, ...] | None = None,
    ndim: int | None = None,
    against: str = "membership",
) -> np.ndarray:
    """Convert to float64 and check shape and finiteness (NaN and inf are rejected)."""
    arr = as_numeric(observations, name=name, shape=shape, ndim=ndim, against=against)
    arr = arr.astype(np.float64, copy=False)
    bad = count_nonfinite(arr)
    if bad:
        raise nonfinite_error(name, bad)
    return arr


def as_probabilities(
    prob,
    *,
    name: str,
    shape: tuple[int, ...] | None = None,
    ndim: int | None = None,
    against: str = "membership",
) -> np.ndarray:
    """Like :func:`as_observations`, and every value must lie in [0, 1]."""
    arr = as_observations(prob, name=name, shape=shape, ndim=ndim, against=against)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise probability_range_error(name, arr.min(), arr.max())
    return arr


def probability_range_error(name: str, low: float, high: float) -> ValueError:
    """The error for probabilities that leave [0, 1] (``low``, ``high``: the observed range)."""
    return ValueError(f"{name} must be probabilities in [0, 1], got range [{low:g}, {high:g}]")


def as_min_models(min_models) -> int:
    """Check the ``min_models`` option: an integer >= 1."""
    if isinstance(min_models, bool) or not isinstance(min_models, (int, np.integer)):
        raise ValueError(f"min_models must be an integer, got {min_models!r}")
    if min_models < 1:
        raise ValueError(f"min_models must be >= 1, got {min_models}")
    return int(min_models)
