"""The :class:`Dataset` container and its validation."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from memlens.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled training pool (the examples membership refers to) and an optional test set.

    Attributes:
        name: Where it came from (``"digits"``, a file path).
        X: (N, D) float32 features; images are flattened, ``image_shape`` says how to unflatten.
        y: (N,) int64 labels in ``[0, len(classes))`` — the labels models are trained on.
        classes: One display name per class.
        X_test, y_test: Optional held-out (N_test, D) features and (N_test,) labels.
        image_shape: ``(H, W)`` or ``(C, H, W)`` when rows are images, else ``None``.
        plant_kind: (N,) str, what was planted on each example (``""`` when clean).
        original_y: (N,) labels before any plant changed them.
        plants: The plant specs applied, in order (``("label-noise:0.05",)``).
        plant_seeds: The seed each plant drew from, in the same order (``memlens.seeds`` streams
            ``plant:<kind>`` of it), so the plants can be replayed exactly.

    Example ids are row positions, ``np.arange(N)``: stable because plants only append.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    plant_kind: np.ndarray = field(default=None)  # type: ignore[assignment]
    original_y: np.ndarray = field(default=None)  # type: ignore[assignment]
    plants: tuple[str, ...] = ()
    plant_seeds: tuple[int, ...] = ()
    label_column: str | None = None  # for CSV files: which column held the labels

    def __post_init__(self) -> None:
        if self.plant_kind is None:
            object.__setattr__(self, "plant_kind", np.full(len(self.y), "", dtype=object))
        if self.original_y is None:
            object.__setattr__(self, "original_y", np.asarray(self.y).copy())

    @property
    def n_examples(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.n_examples)

    @property
    def planted(self) -> np.ndarray:
        """(N,) bool: True where a plant touched the example."""
        return self.plant_kind != ""

    @property
    def has_test(self) -> bool:
        return self.X_test is not None

    def plant(self, planter: Callable[[Dataset], Dataset]) -> Dataset:
        """Return a copy with ``planter`` applied (see :mod:`memlens.data.plants`)."""
        return planter(self)

    def replace(self, **changes) -> Dataset:
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """SHA-256 of everything training depends on, so a run directory can refuse other data."""
        h = hashlib.sha256()
        for a in (self.X, self.y, self.X_test, self.y_test):
            if a is not None:
                a = np.ascontiguousarray(a)
                h.update(f"{a.dtype}{a.shape}".encode())
                h.update(a.tobytes())
        h.update("|".join(self.classes).encode())
        h.update("|".join(map(str, self.plant_kind)).encode())
        return h.hexdigest()

    def summary(self) -> dict:
        return {
            "name": self.name,
            "n_examples": self.n_examples,
            "n_features": int(self.X.shape[1]),
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "n_test": 0 if self.X_test is None else len(self.X_test),
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "plants": list(self.plants),
            "plant_seeds": list(self.plant_seeds),
            "label_column": self.label_column,
            "n_planted": int(self.planted.sum()),
        }


def validate(
    X, y, *, classes: tuple[str, ...] | None = None, source: str = "the dataset", part: str = ""
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Check and convert features and labels, raising :class:`DataError` that says how to fix them.

    Returns float32 ``X`` of shape (N, D), int64 ``y`` of shape (N,) and the class names.
    """
    where = f"{source}{' (' + part + ')' if part else ''}"
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 2:
        raise DataError(f"Features in {where} must have one row per example; got shape {X.shape}.")
    if y.ndim != 1:
        raise DataError(f"Labels in {where} must be one-dimensional; got shape {y.shape}.")
    if len(X) != len(y):
        raise DataError(
            f"{where} has {len(X)} feature rows but {len(y)} labels: X and y must have the same "
            "length, one label per example."
        )
    if len(X) == 0:
        raise DataError(f"{where} is empty (X has shape {X.shape}): it needs at least one example.")
    if X.size == 0:
        raise DataError(
            f"{where} has no features (X has shape {X.shape}): each example needs at least one "
            "feature. For a CSV, is every column except the label column missing?"
        )
    X = X.reshape(len(X), -1)
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise DataError(f"Features in {where} must be real numbers; got dtype {X.dtype}.")
    X = X.astype(np.float32, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise DataError(
            f"{where} has NaN or infinite features in {len(rows)} example(s) (first rows: "
            f"{rows[:5].tolist()}). Impute or drop them before auditing."
        )
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise DataError(
            f"Labels in {where} must be integers 0..C-1; got dtype {y.dtype}. Encode class "
            "names as integers (for a CSV, memlens does this for you)."
        )
    missing = ~np.isfinite(y)
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataError(
            f"Labels in {where} must be whole numbers 0..C-1; {len(rows)} label(s) are NaN or infinite "
            f"(first rows: {rows[:5].tolist()}). Drop those examples or give them a label."
        )
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(f"Labels in {where} must be whole numbers 0..C-1; some are fractional.")
    if y.min() < np.iinfo(np.int64).min or y.max() > np.iinfo(np.int64).max:
        raise DataError(f"Labels in {where} must be class indices 0..C-1; some are far out of range.")
    y = y.astype(np.int64)
    if classes is None and int(y.max()) + 1 > len(y):
        # 0..max would be more classes than examples: labels that are ids or codes, not indices
        raise DataError(
            f"Labels in {where} must be class indices 0..C-1, but they reach {int(y.max())} with only "
            f"{len(y)} examples. Re-encode them (np.unique(y, return_inverse=True)) or give "
            "class_names."
        )
    n_classes = len(classes) if classes is not None else int(y.max()) + 1
    out = (y < 0) | (y >= n_classes)
    if out.any():
        raise DataError(
            f"Labels in {where} must lie in [0, {n_classes}); {int(out.sum())} do not "
            f"(e.g. {sorted(set(y[out].tolist()))[:5]})."
            + (" The class_names array lists fewer classes than the labels use." if classes else "")
        )
    if n_classes < 2:
        raise DataError(f"{where} has a single class: membership audits need at least two.")
    if classes is None:
        classes = tuple(str(c) for c in range(n_classes))
    return X, y, tuple(str(c) for c in classes)
