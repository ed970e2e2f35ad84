"""Déjà vu in self-supervised encoders (Meehan et al., NeurIPS 2023): the estimators, as pure functions.

A target encoder trained on set A and a reference encoder that never saw A each embed a
background-only crop of every A image; the crop's label is decoded from its k nearest labelled
public points. If the target decodes the hidden object far better than the reference, the target
memorized A. Everything here is a function of arrays: no training, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MemlensError


class DejaVuInputError(MemlensError, ValueError):
    """Embeddings, labels, predictions or boxes a déjà vu estimator cannot use as given."""


# ---------------------------------------------------------------------------------------------
# KNN label decoding


@dataclass(frozen=True, eq=False)
class KNNLabelInference:
    """What the k nearest public neighbours say about each query; all arrays have Q rows.

    Attributes:
        predicted: (Q,) int64 top-1 class by neighbour count; ties go to the lower class index.
        top5: (Q, min(5, C)) int64 classes by neighbour count, most first, ties to the lower index.
        histogram: (Q, C) int64 neighbour count per class; each row sums to k.
        confidence: (Q,) float64 −entropy (nats) of the histogram: 0 when all k neighbours agree,
            −ln(min(k, C)) at its lowest.
        neighbours: (Q, k) int64 public rows, nearest first.
    """

    predicted: np.ndarray
    top5: np.ndarray
    histogram: np.ndarray
    confidence: np.ndarray
    neighbours: np.ndarray


def _finite_matrix(name: str, a) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DejaVuInputError(
            f"The {name} must be a non-empty (rows, dimensions) array, one embedding per row; got "
            f"shape {x.shape}. Stack the encoder's outputs into one 2-D array."
        )
    if x.dtype.kind not in "fiu" or not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))[:5] if x.dtype.kind == "f" else []
        raise DejaVuInputError(
            f"The {name} must be finite numbers; found dtype {x.dtype}"
            + (
                f" and NaN or infinite values (first rows: {list(map(int, bad))})"
                if len(bad)
                else ""
            )
            + ". An encoder that diverged produces these: check its training loss, or drop those rows."
        )
    return x.astype(np.float64, copy=False)


def _labels(name: str, a, n: int) -> np.ndarray:
    y = np.asarray(a)
    if y.ndim != 1 or len(y) != n:
        raise DejaVuInputError(
            f"The {name} must be a 1-D array with one label per row ({n}); got shape {y.shape}."
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DejaVuInputError(
                f"The {name} must be whole class indices 0, 1, …; found NaN, infinite or fractional "
                "values. Encode the classes as integers first."
            )
    elif y.dtype.kind not in "iub":
        raise DejaVuInputError(
            f"The {name} must be integer class indices; got dtype {y.dtype}. Encode string classes "
            "as integers first (for example with numpy.unique(..., return_inverse=True))."
        )
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DejaVuInputError(f"The {name} must be class indices ≥ 0; found {int(y.min())}.")
    return y


KNN_BACKENDS = ("auto", "faiss", "sklearn")


def knn_backend(backend: str = "auto") -> str:
    """The search library ``backend`` resolves to: ``"faiss"`` or ``"sklearn"``."""
    if backend not in KNN_BACKENDS:
        raise DejaVuInputError(f"Unknown k-NN backend {backend!r}; choose one of {', '.join(KNN_BACKENDS)}.")
    if backend != "auto":
        return backend
    try:
        import faiss  # noqa: F401
    except ImportError:
        return "sklearn"
    return "faiss"


def nearest_neighbours(queries: np.ndarray, public: np.ndarray, k: int, *, backend: str = "auto") -> np.ndarray:
    """(Q, k) rows of ``public`` nearest (ℓ2) to each query, nearest first, by exact search."""
    if knn_backend(backend) == "faiss":
        import faiss

        index = faiss.IndexFlatL2(public.shape[1])
        index.add(np.ascontiguousarray(public, dtype=np.float32))
        _, neighbours = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return neighbours.astype(np.int64)
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k).fit(public).kneighbors(queries)[1].astype(np.int64)


def knn_label_inference(
    query_embeddings,
    public_embeddings,
    public_labels,
    *,
    k: int = 100,
    n_classes: int | None = None,
    backend: str = "auto",
) -> KNNLabelInference:
    """Decode a label for each query from its k nearest labelled public embeddings (ℓ2).

    Meehan et al.'s attack: the class counts among the k = 100 nearest public points give the
    prediction (top-1 and top-5 by count) and the confidence, −entropy of the count histogram.
    The search is exact: FAISS's flat ℓ2 index (``IndexFlatL2``, float32, as the paper's code)
    when FAISS is importable, else scikit-learn's ``NearestNeighbors`` (float64); both find the
    same neighbours except among points whose distances agree to float32 precision. Ties
    between classes with equal counts go to the lower class index (as ``numpy.argmax`` and
    scikit-learn's ``KNeighborsClassifier`` do); points at exactly the k-th distance are chosen
    by the search library.

    Args:
        query_embeddings: (Q, D) embeddings of the attacked crops.
        public_embeddings: (N, D) embeddings of the labelled public set, by the same encoder.
        public_labels: (N,) integer classes of the public set.
        k: neighbours per query, 1 ≤ k ≤ N.
        n_classes: C, the number of classes (default: the largest public label + 1).
        backend: ``"faiss"``, ``"sklearn"`` or ``"auto"`` (FAISS when importable, else scikit-learn).

    Returns:
        ``KNNLabelInference`` with (Q,) ``predicted`` and ``confidence``, (Q, C) ``histogram``.

    Example:
        >>> public = np.array([[0.0], [0.1], [0.2], [5.0]])
        >>> out = knn_label_inference(np.array([[0.05]]), public, np.array([1, 1, 0, 0]), k=3)
        >>> out.predicted.tolist(), out.histogram.tolist(), round(float(out.confidence[0]), 4)
        ([1], [[1, 2]], -0.6365)
    """
    queries = _finite_matrix("query embeddings", query_embeddings)
    public = _finite_matrix("public embeddings", public_embeddings)
    if queries.shape[1] != public.shape[1]:
        raise DejaVuInputError(
            f"Query and public embeddings must have the same dimension; got {queries.shape[1]} and "
            f"{public.shape[1]}. Embed both with the same encoder and the same layer (projector or "
            "backbone)."
        )
    labels = _labels("public labels", public_labels, len(public))
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= len(public):
        raise DejaVuInputError(
            f"k (neighbours per query) must be a whole number from 1 to the public set's size "
            f"({len(public)}); got {k!r}. Lower k or use a larger public set."
        )
    top_label = int(labels.max())
    if n_classes is None:
        n_classes = top_label + 1
    elif (
        isinstance(n_classes, bool)
        or not isinstance(n_classes, int | np.integer)
        or n_classes <= top_label
    ):
        raise DejaVuInputError(
            f"n_classes must be a whole number larger than every public label (the largest is "
            f"{top_label}); got {n_classes!r}."
        )
    n_classes = int(n_classes)

    neighbours = nearest_neighbours(queries, public, int(k), backend=backend)  # (Q, k), nearest first
    neighbour_labels = labels[neighbours]  # (Q, k)
    # one bincount over (row, class) cells: cell r·C + c counts row r's neighbours of class c
    cells = np.arange(len(queries))[:, None] * n_classes + neighbour_labels  # (Q, k)
    histogram = np.bincount(cells.ravel(), minlength=len(queries) * n_classes)
    histogram = histogram.reshape(len(queries), n_classes).astype(np.int64)  # (Q, C)

    share = histogram / k
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(share > 0, share * np.log(share), 0.0).sum(axis=1)  # −entropy
    # A stable sort of −count keeps equal counts in class order: ties go to the lower class.
    ranked = np.argsort(-histogram, axis=1, kind="stable")
    return KNNLabelInference(
        predicted=ranked[:, 0].astype(np.int64),
        top5=ranked[:, : min(5, n_classes)].astype(np.int64),
        histogram=histogram,
        confidence=confidence,
        neighbours=neighbours.astype(np.int64),
    )


def correct_predictions(predictions, labels) -> np.ndarray:
    """Whether each prediction is right: (Q,) top-1 classes, or (Q, t) top-t rows (right if any is).

    Example:
        >>> correct_predictions(np.array([[3, 1], [0, 2]]), np.array([1, 1])).tolist()
        [True, False]
    """
    y = _labels("labels", labels, len(np.asarray(labels).reshape(-1)))
    pred = np.asarray(predictions)
    if pred.ndim not in (1, 2) or pred.shape[0] != len(y):
        raise DejaVuInputError(
            f"Predictions must be (Q,) or (Q, t) with one row per label ({len(y)}); got shape "
            f"{pred.shape}."
        )
    if pred.dtype.kind not in "iub" and not (
        pred.dtype.kind == "f" and np.isfinite(pred).all() and (pred == np.round(pred)).all()
    ):
        raise DejaVuInputError(
            f"Predictions must be integer class indices; got dtype {pred.dtype} with non-whole or "
            "non-finite values."
        )
    pred = pred.astype(np.int64)
    return pred == y if pred.ndim == 1 else (pred == y[:, None]).any(axis=1)


# ---------------------------------------------------------------------------------------------
# Dataset-level test


@dataclass(frozen=True, eq=False)
class DatasetLevelResult:
    """Label-inference accuracy of target and reference on their own p% most confident crops.

    Attributes:
        fractions: (F,) the fractions p.
        n_selected: (F,) crops each model is scored on at each p (summed over both sides when
            symmetrized).
        target_accuracy: (F,) the target's accuracy on its own most confident crops.
        reference_accuracy: (F,) the reference's accuracy on its own most confident crops.
        gap: (F,) target − reference: the déjà vu beyond what the reference's correlation explains.
        n_examples: attacked crops (summed over both sides when symmetrized).
    """

    fractions: np.ndarray
    n_selected: np.ndarray
    target_accuracy: np.ndarray
    reference_accuracy: np.ndarray
    gap: np.ndarray
    n_examples: int


def _check_fractions(fractions) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if len(f) == 0 or not np.isfinite(f).all() or (f <= 0).any() or (f > 1).any():
        raise DejaVuInputError(
            f"fractions must be one or more numbers in (0, 1], such as (0.05, 0.2, 1.0); got "
            f"{fractions!r}."
        )
    return f


def _n_selected(fraction: float, n: int) -> int:
    # The paper keeps int(n·p); the 1e-9 absorbs float error (0.29·100 = 28.999…), and at least
    # one crop is kept so a small set never averages over nothing.
    return max(1, int(np.floor(fraction * n + 1e-9)))


def _confident_accuracy(correct: np.ndarray, confidence: np.ndarray, n_keep: int) -> float:
    """Accuracy on the ``n_keep`` most confident rows, ties at the cut broken uniformly at random
    in expectation: crops tied with the last one kept count by their mean correctness."""
    cut = np.sort(confidence)[::-1][n_keep - 1]
    above = confidence > cut
    tied = confidence == cut
    from_tied = n_keep - int(above.sum())
    return float((correct[above].sum() + from_tied * correct[tied].mean()) / n_keep)


def dataset_level_test(
    pred_target,
    conf_target,
    pred_reference,
    conf_reference,
    labels,
    *,
    fractions=(0.05, 0.2, 1.0),
) -> DatasetLevelResult:
    """Accuracy gap between target and reference on their p% most confident attacked crops.

    Meehan et al.'s dataset-level test: each model ranks the attacked crops by its *own*
    confidence (−entropy of the KNN histogram) and is scored on its top ``floor(p·Q)`` (at least
    one). Where crops tie in confidence at the cut, the result is the expectation over a uniformly
    random order of the tied crops (they count by their mean correctness), so it does not depend
    on the order of the rows; ties are common when k is small and many histograms are pure.

    Args:
        pred_target: (Q,) top-1 classes, or (Q, t) top-t rows, decoded by the target encoder.
        conf_target: (Q,) the target's confidences, higher = more confident.
        pred_reference: predictions of the reference encoder on the same crops.
        conf_reference: (Q,) the reference's confidences.
        labels: (Q,) the true classes of the attacked images.
        fractions: the fractions p in (0, 1]; 1.0 is the accuracy on all crops.

    Returns:
        ``DatasetLevelResult`` with one entry per fraction.

    Example:
        >>> r = dataset_level_test([1, 1, 0, 0], [0, -1, -1, -2], [0, 1, 1, 0], [0, 0, -1, -1],
        ...                        [1, 1, 1, 1], fractions=(0.5, 1.0))
        >>> r.target_accuracy.tolist(), r.reference_accuracy.tolist(), r.gap.tolist()
        ([0.75, 0.5], [0.5, 0.5], [0.25, 0.0])
    """
    y = _labels("labels", labels, len(np.asarray(labels).reshape(-1)))
    n = len(y)
    if n == 0:
        raise DejaVuInputError("There are no attacked crops: labels is empty.")
    f = _check_fractions(fractions)
    sides = {}
    for side, pred, conf in (
        ("target", pred_target, conf_target),
        ("reference", pred_reference, conf_reference),
    ):
        c = np.asarray(conf)
        if c.ndim != 1 or len(c) != n:
            raise DejaVuInputError(
                f"conf_{side} must hold {n} finite confidences, one per label; got shape {c.shape}."
            )
        if c.dtype.kind not in "fiub" or not np.isfinite(c).all():
            raise DejaVuInputError(
                f"conf_{side} must hold {n} finite confidences, one per label; found NaN, infinite "
                "or non-numeric values. −entropy of a neighbour histogram is always finite: check "
                "how the confidences were computed."
            )
        c = c.astype(np.float64)
        if np.asarray(pred).shape[:1] != (n,):
            raise DejaVuInputError(
                f"pred_{side} must have one row per label ({n}); got shape {np.shape(pred)}."
            )
        correct = correct_predictions(pred, y).astype(np.float64)
        sides[side] = np.array([_confident_accuracy(correct, c, _n_selected(p, n)) for p in f])
    return DatasetLevelResult(
        fractions=f,
        n_selected=np.array([_n_selected(p, n) for p in f], dtype=np.int64),
        target_accuracy=sides["target"],
        reference_accuracy=sides["reference"],
        gap=sides["target"] - sides["reference"],
        n_examples=n,
    )


# ---------------------------------------------------------------------------------------------
# Sample-level partition


@dataclass(frozen=True, eq=False)
class SamplePartition:
    """Where each attacked crop falls: target right/wrong × reference right/wrong.

    Attributes:
        n_examples: attacked crops (summed over both sides when symmetrized).
        counts: crops per part: ``memorized`` (target right, reference wrong), ``correlated``
            (both right), ``misrepresented`` (reference right, target wrong; the paper's
            "forgotten"), ``unassociated`` (neither).
        shares: the same as fractions of the crops (averaged over both sides when symmetrized).
    """

    n_examples: int
    counts: dict[str, int]
    shares: dict[str, float]

    @property
    def dejavu(self) -> float:
        """The memorized share: crops only the encoder that trained on them decodes."""
        return self.shares["memorized"]


PARTS = ("memorized", "correlated", "misrepresented", "unassociated")


def _boolean(name: str, a, n: int | None = None) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != 1 or (n is not None and len(x) != n):
        want = f"{n} values" if n is not None else "one value per crop"
        raise DejaVuInputError(f"{name} must be a 1-D array of {want}; got shape {x.shape}.")
    if x.dtype.kind != "b" and not (x.dtype.kind in "iuf" and np.isin(x, (0, 1)).all()):
        raise DejaVuInputError(
            f"{name} must hold True/False (or 0/1) per crop; found other values. Compare "
            "predictions with labels first (correct_predictions)."
        )
    return x.astype(bool)


def sample_level_partition(correct_target, correct_reference) -> SamplePartition:
    """Split the attacked crops by which encoder decodes them (Meehan et al.'s sample-level test).

    Déjà vu is the *memorized* share: crops the target (which trained on the image) decodes and
    the reference (which did not) does not. The *correlated* share — both right — is what the
    background alone reveals; *misrepresented* is its mirror image and, with no memorization,
    matches the memorized share in expectation.

    Args:
        correct_target: (Q,) bool, whether the target's prediction is right.
        correct_reference: (Q,) bool, whether the reference's prediction on the same crop is right.

    Returns:
        ``SamplePartition``; ``.dejavu`` is the memorized share.

    Example:
        >>> p = sample_level_partition([True, True, False, False], [False, True, True, False])
        >>> p.counts, p.dejavu
        ({'memorized': 1, 'correlated': 1, 'misrepresented': 1, 'unassociated': 1}, 0.25)
    """
    target = _boolean("correct_target", correct_target)
    if len(target) == 0:
        raise DejaVuInputError("There are no attacked crops: correct_target is empty.")
    reference = _boolean("correct_reference", correct_reference, len(target))
    masks = {
        "memorized": target & ~reference,
        "correlated": target & reference,
        "misrepresented": ~target & reference,
        "unassociated": ~target & ~reference,
    }
    counts = {part: int(masks[part].sum()) for part in PARTS}
    n = len(target)
    return SamplePartition(n, counts, {part: counts[part] / n for part in PARTS})


def symmetrized(on_a, on_b):
    """Average a test run both ways: A's crops (target A, reference B) and B's (target B, reference A).

    Meehan et al. report the mean of the two sides. For ``DatasetLevelResult`` the accuracies
    and the gap are averaged (``n_selected`` and ``n_examples`` summed); for ``SamplePartition``
    the shares are averaged and the counts summed, so the shares equal counts / n_examples only
    when A and B have the same number of crops.

    Example:
        >>> a = sample_level_partition([True, True], [False, True])
        >>> b = sample_level_partition([False, False], [False, True])
        >>> symmetrized(a, b).shares["memorized"], symmetrized(a, b).counts["correlated"]
        (0.25, 1)
    """
    if isinstance(on_a, DatasetLevelResult) and isinstance(on_b, DatasetLevelResult):
        if on_a.fractions.shape != on_b.fractions.shape or not np.allclose(
            on_a.fractions, on_b.fractions
        ):
            raise DejaVuInputError(
                f"Both sides must be tested at the same fractions; got {on_a.fractions.tolist()} "
                f"and {on_b.fractions.tolist()}."
            )
        target = (on_a.target_accuracy + on_b.target_accuracy) / 2
        reference = (on_a.reference_accuracy + on_b.reference_accuracy) / 2
        return DatasetLevelResult(
            fractions=on_a.fractions.copy(),
            n_selected=on_a.n_selected + on_b.n_selected,
            target_accuracy=target,
            reference_accuracy=reference,
            gap=target - reference,
            n_examples=on_a.n_examples + on_b.n_examples,
        )
    if isinstance(on_a, SamplePartition) and isinstance(on_b, SamplePartition):
        return SamplePartition(
            on_a.n_examples + on_b.n_examples,
            {part: on_a.counts[part] + on_b.counts[part] for part in PARTS},
            {part: (on_a.shares[part] + on_b.shares[part]) / 2 for part in PARTS},
        )
    raise DejaVuInputError(
        "symmetrized takes two results of the same kind: two DatasetLevelResult (from "
        "dataset_level_test) or two SamplePartition (from sample_level_partition); got "
        f"{type(on_a).__name__} and {type(on_b).__name__}."
    )


# ---------------------------------------------------------------------------------------------
# Background crop


def _check_box(box, height: int, width: int) -> tuple[int, int, int, int]:
    try:
        values = [int(v) for v in box]
        whole = len(values) == 4 and all(float(v) == int(v) for v in box)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise DejaVuInputError(
            f"box must be four whole pixel coordinates (x_min, y_min, x_max, y_max); got {box!r}."
        )
    x0, y0, x1, y1 = values
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise DejaVuInputError(
            f"box (x_min, y_min, x_max, y_max) = {tuple(values)} must satisfy 0 ≤ x_min < x_max ≤ "
            f"{width} and 0 ≤ y_min < y_max ≤ {height} (the image is {height}×{width}; x_max and "
            "y_max are exclusive). A box reaching outside the image is skipped in the paper: drop it."
        )
    return x0, y0, x1, y1


def largest_background_box(
    height: int, width: int, box, *, min_side: int = 100
) -> tuple[int, int, int, int] | None:
    """The free rectangle (x_min, y_min, x_max, y_max) outside ``box`` with the largest shorter side.

    Meehan et al. crop the largest axis-aligned rectangle outside the object's bounding box,
    largest meaning the longest *minimum* side, and skip the image unless that side exceeds
    ``min_side`` (100 px on ImageNet). With one box every free rectangle lies inside one of four
    strips — left or right of the box at full height, above or below it at full width — so the
    best is the best strip (ties: larger area, then left, right, above, below). The paper's code
    sweeps x-intervals and limits the above/below candidates to the box's own width, so it can
    miss a full-width strip that is better; this function finds the true optimum.

    Args:
        height, width: the image size in pixels.
        box: (x_min, y_min, x_max, y_max) of the object; x_max, y_max exclusive (slice ends).
        min_side: the crop's shorter side must be strictly larger than this.

    Returns:
        (x_min, y_min, x_max, y_max), exclusive ends, or None when no free rectangle is large enough.

    Example:
        >>> largest_background_box(16, 24, (0, 5, 8, 13), min_side=8)
        (8, 0, 24, 16)
    """
    x0, y0, x1, y1 = _check_box(box, height, width)
    strips = [
        (0, 0, x0, height),  # left
        (x1, 0, width, height),  # right
        (0, 0, width, y0),  # above
        (0, y1, width, height),  # below
    ]
    best, best_key = None, None
    for sx0, sy0, sx1, sy1 in strips:
        w, h = sx1 - sx0, sy1 - sy0
        if w <= 0 or h <= 0:
            continue
        key = (min(w, h), w * h)
        if best_key is None or key > best_key:  # strict: an equal later strip does not replace
            best, best_key = (sx0, sy0, sx1, sy1), key
    if best is None or best_key[0] <= min_side:
        return None
    return best


def background_crop(image, box, *, min_side: int = 100) -> np.ndarray | None:
    """The background-only crop of ``image``: its largest free rectangle outside ``box``, or None.

    See ``largest_background_box`` for the rule. The paper then resizes the crop for the encoder
    (resize 256, center-crop 224); that belongs to the encoder's preprocessing, not here.

    Args:
        image: (H, W) or (H, W, channels) array.
        box: (x_min, y_min, x_max, y_max) of the object, x_max and y_max exclusive.
        min_side: the crop's shorter side must be strictly larger than this (100 on ImageNet).

    Returns:
        A copy of the crop, (h, w) or (h, w, channels), or None when the image must be skipped.

    Example:
        >>> canvas = np.arange(16 * 24).reshape(16, 24)
        >>> background_crop(canvas, (0, 5, 8, 13), min_side=8).shape
        (16, 16)
    """
    pixels = np.asarray(image)
    if pixels.ndim not in (2, 3) or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise DejaVuInputError(
            f"image must be a non-empty (H, W) or (H, W, channels) array; got shape {pixels.shape}. "
            "Move a channels-first (C, H, W) image's channel axis last."
        )
    free = largest_background_box(pixels.shape[0], pixels.shape[1], box, min_side=min_side)
    if free is None:
        return None
    fx0, fy0, fx1, fy1 = free
    return pixels[fy0:fy1, fx0:fx1].copy()
