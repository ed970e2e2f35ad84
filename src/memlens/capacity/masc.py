"""MASC, the Minimum Angle Subspace Classifier (Ketha & Ramaswamy, arXiv 2501.14687).

Each class is summarised by a linear subspace through the origin: the uncentered PCA of its rows
(the authors add −h for every row h, so the covariance is the second-moment matrix), cut at the
fewest components that explain ``explained_variance`` of it. An input is assigned the class whose
subspace makes the smallest angle with it. Applied to one layer's activations with the labels a
network was trained on, it says how much of the *true* labels that layer still carries — the
paper's "decoding generalization from memorization" in label-noise-trained networks.

:func:`layerwise_accuracy` runs it on every hidden layer that
``Ensemble(..., activations=True)`` observed (see :mod:`memlens.train.ensemble`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from memlens.capacity.errors import CapacityInputError


class MASC(ClassifierMixin, BaseEstimator):
    """Minimum Angle Subspace Classifier: per-class uncentered PCA subspaces, nearest by angle.

    Args:
        explained_variance: Fraction n ∈ (0, 1] of each class's second moment its subspace keeps.
            As in the authors' code, k_c is the number of components whose cumulative explained
            variance is ≤ n, plus one (capped at the rank).

    Attributes:
        classes_: The class labels, sorted.
        components_: One (k_c, D) array per class, orthonormal rows spanning its subspace.
        n_components_: (n_classes,) the k_c.
        majority_class_: The most frequent training label, predicted for an all-zero input (which
            lies in every subspace, so no angle is defined for it).

    Duplicate inputs with different labels are accepted: MASC fits subspaces, not points, and
    conflicting labels are exactly what it is applied to (a noisy-label network's activations).

    Example:
        >>> X = np.array([[1.0, 0.1, 0], [2, -0.1, 0], [0, 0.1, 1], [0, -0.2, 3]])
        >>> MASC().fit(X, [0, 0, 1, 1]).predict([[5.0, 0, 0.5], [0.2, 0, -4]]).tolist()
        [0, 1]
    """

    def __init__(self, explained_variance: float = 0.99):
        self.explained_variance = explained_variance

    def fit(self, X, y):
        """Fit one subspace per class from the rows of ``X`` with that label."""
        self._check_explained_variance()
        X, y = validate_data(self, X, y, ensure_all_finite=False, dtype=np.float64, y_numeric=False)
        _check_finite(X, "fit")
        check_classification_targets(y)
        self.classes_, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        if len(self.classes_) < 2:
            raise CapacityInputError(
                f"MASC needs at least two classes to decode; got one class: every one of the {len(y)} "
                f"training rows has label {self.classes_[0]!r}. Pass activations of examples from several classes."
            )
        self.components_ = [_subspace(X[codes == c], self.explained_variance) for c in range(len(self.classes_))]
        self.n_components_ = np.array([len(P) for P in self.components_])
        self.majority_class_ = self.classes_[np.argmax(counts)]
        return self

    def cosines(self, X) -> np.ndarray:
        """(n, n_classes) cos θ_c = ‖P_c h‖ / ‖h‖ (h projected orthogonally onto class c's subspace).

        NaN for an all-zero row, whose angle to any subspace is undefined.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite=False, dtype=np.float64)
        _check_finite(X, "predict")
        norms = np.linalg.norm(X, axis=1)
        # ⟨h, P h⟩ = ‖P h‖² for an orthogonal projection, so cos = ‖P h‖ / ‖h‖; an empty
        # subspace (a class whose rows are all zero) projects everything to 0
        projected = np.column_stack([np.linalg.norm(X @ P.T, axis=1) for P in self.components_])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.clip(projected / norms[:, None], 0.0, 1.0)

    def angles(self, X) -> np.ndarray:
        """(n, n_classes) angle in degrees between each row and each class's subspace."""
        return np.degrees(np.arccos(self.cosines(X)))

    def _scores(self, X) -> np.ndarray:
        """(n, n_classes) cosines rounded to 12 decimals; an all-zero row scores its majority class 1.

        Rounding makes cosines equal up to floating-point noise exact ties (e.g. two classes whose
        subspaces both contain the input), so a row's prediction does not depend on the batch it
        is computed in.
        """
        cos = np.round(self.cosines(X), 12)
        zero = np.isnan(cos).any(axis=1)
        cos[zero] = self.classes_ == self.majority_class_
        return cos

    def decision_function(self, X) -> np.ndarray:
        """Cosines to each class's subspace (larger = closer): (n, n_classes), or for two classes
        the (n,) difference cos θ₁ − cos θ₀ (positive: ``classes_[1]``), as scikit-learn expects."""
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:
        """The class at minimum angle (ties: the first class); the majority class for an all-zero row."""
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def _check_explained_variance(self) -> None:
        n = self.explained_variance
        if isinstance(n, bool) or not isinstance(n, int | float | np.floating | np.integer) or not 0 < n <= 1:
            raise CapacityInputError(
                f"MASC explained_variance must be a number in (0, 1], the fraction of each class's "
                f"variance its subspace keeps (the paper uses 0.99); got {n!r}."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _subspace(rows: np.ndarray, explained_variance: float) -> np.ndarray:
    """Orthonormal (k, D) basis of the uncentered PCA subspace keeping ``explained_variance``.

    The right singular vectors of ``rows`` are the eigenvectors of the symmetrised set's covariance
    (Σ over ±h of h hᵀ = 2·rowsᵀrows), and the squared singular values its eigenvalues, in order.
    """
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    variance = s**2
    total = variance.sum()
    if total == 0:  # every row of the class is zero: an empty subspace, at 90° from everything
        return np.zeros((0, rows.shape[1]))
    rank = int((variance > variance[0] * max(rows.shape) * np.finfo(float).eps).sum())
    cumulative = np.cumsum(variance) / total
    k = min(int((cumulative <= explained_variance).sum()) + 1, rank)
    return vt[:k]


def _check_finite(X: np.ndarray, where: str) -> None:
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if len(bad):
        raise CapacityInputError(
            f"MASC {where}: rows {bad[:10].tolist()}{' …' if len(bad) > 10 else ''} ({len(bad)} in all) "
            "hold non-finite values (NaN or inf). Activations of a diverged network cannot be decoded: "
            "drop those rows or retrain with a lower learning rate."
        )


def layerwise_accuracy(
    train_layers: dict[str, np.ndarray],
    test_layers: dict[str, np.ndarray],
    membership: np.ndarray,
    labels: np.ndarray,
    original_labels: np.ndarray,
    test_labels: np.ndarray,
    *,
    explained_variance: float = 0.99,
):
    """MASC accuracy of every model and layer, with subspaces from the given and from the true labels.

    Args:
        train_layers: Layer name → (M, N, D_ℓ) activations of the training pool (a layer shared
            by all models, such as the input, may be (N, D_ℓ)).
        test_layers: Layer name → (M, N_test, D_ℓ) (or (N_test, D_ℓ)) activations of the test set.
        membership: (M, N) bool, which examples model m trained on; its subspaces are fitted on
            those rows only.
        labels: (N,) the labels the models were trained on (corrupted for planted examples).
        original_labels: (N,) the true labels.
        test_labels: (N_test,) true test labels.

    Returns:
        A DataFrame, one row per (model, layer, subspaces) with ``subspaces`` "given" (fitted with
        ``labels``: the paper's experiment 1) or "true" (``original_labels``: experiment 2), and
        accuracies ``train_given`` / ``train_true`` (members vs given / true labels), ``clean``
        (members whose label is unchanged), ``noisy_given`` / ``noisy_true`` (members whose label
        was changed, vs the label they were given / their true label; NaN when there are none)
        and ``test``.
    """
    import pandas as pd

    membership = np.asarray(membership, dtype=bool)
    labels, original_labels, test_labels = map(np.asarray, (labels, original_labels, test_labels))
    if set(train_layers) != set(test_layers):
        raise CapacityInputError(
            f"layerwise_accuracy needs the same layers for training and test activations; got "
            f"{sorted(train_layers)} and {sorted(test_layers)}."
        )
    noisy = labels != original_labels

    def mean(hit: np.ndarray, where: np.ndarray) -> float:
        return float(hit[where].mean()) if where.any() else float("nan")

    rows = []
    for m, members in enumerate(membership):
        for name, acts in train_layers.items():
            train = acts if acts.ndim == 2 else acts[m]
            test = test_layers[name] if test_layers[name].ndim == 2 else test_layers[name][m]
            for subspaces, fit_labels in (("given", labels), ("true", original_labels)):
                masc = MASC(explained_variance).fit(train[members], fit_labels[members])
                pred = masc.predict(train[members])
                given, true, noisy_m = pred == labels[members], pred == original_labels[members], noisy[members]
                rows.append({
                    "model": m, "layer": name, "subspaces": subspaces,
                    "train_given": float(given.mean()), "train_true": float(true.mean()),
                    "clean": mean(true, ~noisy_m), "noisy_given": mean(given, noisy_m),
                    "noisy_true": mean(true, noisy_m),
                    "test": float((masc.predict(test) == test_labels).mean()),
                    "mean_components": float(masc.n_components_.mean()),
                })  # fmt: skip
    return pd.DataFrame(rows)
