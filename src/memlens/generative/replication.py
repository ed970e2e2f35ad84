"""Replication detection: is a generated sample a copy of one training image?

Gu et al., "On Memorization in Diffusion Models" (TMLR 2025; sail-sg/DiffMemorize
``mem_ratio.py::calc_knn``): a generated image is *memorized* when its ℓ2 distance to the
nearest training image is less than a third of its distance to the second nearest. The authors'
conventions, reproduced here:

- generated images in [-1, 1] are saved as 8-bit PNGs, ``uint8(clip(x · 127.5 + 128, 0, 255))``
  (the cast truncates), and re-read as floats 0–255; training images are their 8-bit originals;
- distances are plain (not squared) ℓ2 distances between those 0–255 vectors, divided by
  sqrt(C·H·W) (an RMS pixel difference; the division does not change the ratio; the authors'
  repeating of grey images to 3 channels changes neither the ratio nor this distance);
- memorized ⟺ d(x, NN1) / d(x, NN2) < 1/3; the memorization ratio is the fraction of samples
  memorized; a trained run is scored by the highest ratio over its saved snapshots.
- a sample equally near two training images (e.g. a copy of an image the training set holds
  twice) is not memorized: the authors' 0/0 is NaN and NaN < 1/3 is false; here the ratio is
  1. Deduplicate the training images first if copies of duplicated images should count.

The search is exact: pixels centred at 128 fit int8, so their dot products are integers computed
without rounding (torch's int8 matrix product with int32 sums; numpy's float32, exact up to 1,024
values per image, as the fallback), ties are ties and go to the lower training index. Distances
are computed one block of (samples × training images) at a time: 60,000 training images × 10,000
samples need about 130 MB besides the inputs (``bench/replication_search.py``).

The same search runs in any feature space (``feature_space_replication``) given an encoder
function, e.g. a small encoder trained on the images. The MiniLM sentence encoder bundled with
``memlens[lm]`` embeds text only; it cannot embed images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from .neighbours import NearestTwo, ReplicationInputError, nearest_two

REPLICATION_THRESHOLD = 1.0 / 3.0
"""Gu et al.'s cut-off on d(x, NN1) / d(x, NN2)."""

@dataclass(frozen=True, eq=False)
class ReplicationResult:
    """Per-sample nearest and second-nearest training images and the replication flag; (B,) each.

    Attributes:
        nearest: training id of the nearest training image.
        second: training id of the second nearest (a different training row; it may hold the
            same pixels if the training set has duplicates).
        nearest_distance: ℓ2 distance to ``nearest`` divided by sqrt(number of values).
        second_distance: the same for ``second``.
        ratio: nearest_distance / second_distance; 1.0 where both are 0 (two identical
            nearest images: no single one was copied).
        replicated: ratio < threshold (decided exactly, on squared distances).
    """

    nearest: np.ndarray
    second: np.ndarray
    nearest_distance: np.ndarray
    second_distance: np.ndarray
    ratio: np.ndarray
    replicated: np.ndarray

    def to_dict(self) -> dict[str, np.ndarray]:
        """Column name -> writable copy, e.g. for ``pandas.DataFrame``; adds ``sample`` (0..B-1).

        Example:
            >>> train = np.array([[0, 0], [90, 0], [0, 200]], dtype=np.uint8)
            >>> r = replication_scores(np.array([[1, 0]], dtype=np.uint8), train)
            >>> sorted(r.to_dict())[:3]
            ['nearest', 'nearest_distance', 'ratio']
        """
        columns = {"sample": np.arange(len(self.nearest), dtype=np.int64)}
        columns.update({f.name: np.array(getattr(self, f.name)) for f in fields(self)})
        return columns


@dataclass(frozen=True)
class RatioEstimate:
    """A memorization ratio with its exact (Clopper–Pearson) interval."""

    ratio: float
    flagged: int
    n_samples: int
    low: float
    high: float
    level: float


@dataclass(frozen=True, eq=False)
class SnapshotMax:
    """Memorization ratio per snapshot and their maximum (Gu et al. report the maximum).

    Attributes:
        ratios, lows, highs: (S,) per-snapshot ratio and its Clopper–Pearson interval at ``level``.
        best: index of the snapshot with the highest ratio (the first, on ties).
        ratio: the highest ratio.
        low, high: an interval for the highest *expected* ratio over snapshots, from
            Bonferroni-simultaneous intervals (each at level 1 − (1 − level)/S): if every
            snapshot's ratio lies in its interval, the maximum lies in [max lows, max highs].
            It accounts for picking the best of S snapshots, which the per-snapshot interval
            of ``best`` does not.
        level: coverage of the intervals.
    """

    ratios: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    best: int
    ratio: float
    low: float
    high: float
    level: float


def quantize_8bit(images, *, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Images as the 8-bit pixels Gu et al. save: ``uint8(clip((x - lo) · 255/(hi - lo) + 0.5))``.

    For ``value_range=(-1, 1)`` this is EDM's ``(x * 127.5 + 128).clip(0, 255).to(uint8)``
    exactly (the cast truncates, so adding 0.5 rounds half up). uint8 input is returned as is.
    An image stored as 8-bit pixels p and loaded as ``p / 127.5 - 1`` comes back as p.

    Args:
        images: (B, ...) array, float or uint8.
        value_range: (lo, hi) the floats span; values outside are clipped, as the authors do.

    Returns:
        (B, ...) uint8 array.

    Example:
        >>> quantize_8bit(np.array([-1.0, -0.999, 0.0, 0.5, 1.0, 1.3]))
        array([  0,   0, 128, 191, 255, 255], dtype=uint8)
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    lo, hi = _as_value_range(value_range)
    scale = 255.0 / (hi - lo)
    offset = 0.5 - lo * scale  # 128.0 for (-1, 1): the authors' expression, bit for bit
    values = arr.astype(np.float64) * scale + offset
    return np.clip(values, 0.0, 255.0).astype(np.uint8)


def replication_scores(
    samples,
    training,
    *,
    value_range: tuple[float, float] = (-1.0, 1.0),
    threshold: float = REPLICATION_THRESHOLD,
    quantize: bool = True,
    training_ids=None,
    block_bytes: int | None = None,
    backend: str = "auto",
) -> ReplicationResult:
    """Gu et al.'s replication test of each generated sample against the training images.

    Both sets are re-quantized to 8-bit pixels (``quantize_8bit``; uint8 input is taken as is),
    the two nearest training images of each sample found exactly, and the sample flagged when
    d(NN1) / d(NN2) < ``threshold`` (1/3). Distances are reported on the 0–255 scale divided by
    sqrt(values per image), as ``mem_ratio.py`` does.

    Args:
        samples: (B, ...) generated images, floats in ``value_range`` or uint8.
        training: (N, ...) training images of the same shape, N ≥ 2.
        value_range: (lo, hi) spanned by float images; (-1, 1) for EDM-style samplers, (0, 16)
            for scikit-learn digits, (0, 1) for most loaders.
        threshold: the ratio below which a sample counts as a replica.
        quantize: False compares the float values as they are (no 8-bit step), for ablations.
        training_ids: (N,) ids reported instead of row numbers (e.g. a subset's dataset ids).
        block_bytes: memory for one block of distances (see ``nearest_two``).
        backend: how 8-bit products are computed (see ``nearest_two``); the answer is the same.

    Returns:
        ``ReplicationResult`` with (B,) arrays.

    Example:
        >>> train = np.array([[0, 0], [90, 0], [0, 200]], dtype=np.uint8)
        >>> samples = np.array([[1, 0], [45, 0]], dtype=np.uint8)
        >>> replication_scores(samples, train).replicated.tolist()
        [True, False]
    """
    s, t = _as_images(samples, "samples"), _as_images(training, "training")
    if s.shape[1:] != t.shape[1:]:
        raise ReplicationInputError(
            f"Generated samples have shape {s.shape[1:]} per image but training images have "
            f"{t.shape[1:]}; both must be the same image shape (e.g. 28×28)."
        )
    if not 0.0 < threshold <= 1.0:
        raise ReplicationInputError(f"threshold must be in (0, 1]; got {threshold}.")
    if quantize:
        _check_range(s, value_range, "samples", slack=True)
        _check_range(t, value_range, "training", slack=False)
        s_flat = quantize_8bit(s, value_range=value_range).reshape(len(s), -1)
        t_flat = quantize_8bit(t, value_range=value_range).reshape(len(t), -1)
    else:
        s_flat = s.reshape(len(s), -1).astype(np.float64)
        t_flat = t.reshape(len(t), -1).astype(np.float64)
    nn = nearest_two(s_flat, t_flat, block_bytes=block_bytes, backend=backend)
    return _result(nn, s_flat.shape[1], threshold, training_ids, len(t))


def feature_space_replication(
    samples,
    training,
    encoder: Callable[[np.ndarray], np.ndarray],
    *,
    threshold: float = REPLICATION_THRESHOLD,
    batch_size: int = 1024,
    training_ids=None,
    block_bytes: int | None = None,
) -> ReplicationResult:
    """The nearest/second-nearest test in the feature space of ``encoder`` instead of pixels.

    ``encoder`` maps a batch of images (b, ...) to features (b, F); it is called on at most
    ``batch_size`` images at a time, samples and training alike. Use an image encoder — e.g. a
    small network trained on the training images, or PCA — since the bundled MiniLM embeds text
    only. Distances are ℓ2 in feature space divided by sqrt(F); the 1/3 cut-off was calibrated
    by Gu et al. on pixels, so read the flag here as a ranking aid rather than a verdict.

    Returns:
        ``ReplicationResult`` with (B,) arrays.

    Example:
        >>> train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
        >>> r = feature_space_replication(np.array([[0.1, 0.0]]), train, lambda x: 2 * x)
        >>> r.nearest.tolist(), r.replicated.tolist()
        ([0], [True])
    """
    s, t = _as_images(samples, "samples"), _as_images(training, "training")
    if s.shape[1:] != t.shape[1:]:
        raise ReplicationInputError(
            f"Generated samples have shape {s.shape[1:]} per item but training items have "
            f"{t.shape[1:]}; the encoder needs both in the same shape."
        )
    if batch_size < 1:
        raise ReplicationInputError(f"batch_size must be at least 1; got {batch_size}.")
    s_feat = _encode(encoder, s, batch_size, "samples")
    t_feat = _encode(encoder, t, batch_size, "training")
    if s_feat.shape[1] != t_feat.shape[1]:
        raise ReplicationInputError(
            f"The encoder returned {s_feat.shape[1]} features per sample but {t_feat.shape[1]} "
            "per training image; it must return the same number for every input."
        )
    nn = nearest_two(s_feat, t_feat, block_bytes=block_bytes)
    return _result(nn, s_feat.shape[1], threshold, training_ids, len(t))


def memorization_ratio(replicated, *, level: float = 0.95) -> RatioEstimate:
    """Fraction of samples flagged as replicas, with an exact Clopper–Pearson interval.

    Example:
        >>> est = memorization_ratio(np.array([True, False, True, True]))
        >>> est.ratio, est.flagged, est.n_samples
        (0.75, 3, 4)
    """
    from ..estimate import clopper_pearson

    flags = _as_flags(replicated, "replicated")
    k, n = int(flags.sum()), int(flags.size)
    low, high = clopper_pearson(k, n, level=level)
    return RatioEstimate(ratio=k / n, flagged=k, n_samples=n, low=low, high=high, level=level)


def max_over_snapshots(replicated_per_snapshot: Sequence, *, level: float = 0.95) -> SnapshotMax:
    """Memorization ratio of each snapshot (checkpoint) of one model, and the highest.

    Args:
        replicated_per_snapshot: S boolean arrays of flags, one per snapshot (lengths may
            differ), or an (S, B) boolean array.
        level: coverage of the intervals.

    Returns:
        ``SnapshotMax``.

    Example:
        >>> m = max_over_snapshots([np.array([True, False]), np.array([True, True])])
        >>> m.best, m.ratio, m.ratios.tolist()
        (1, 1.0, [0.5, 1.0])
    """
    from ..estimate import clopper_pearson

    snapshots = [_as_flags(f, f"snapshot {i}") for i, f in enumerate(replicated_per_snapshot)]
    if not snapshots:
        raise ReplicationInputError(
            "No snapshots were given; pass one array of flags per snapshot."
        )
    k = np.array([int(f.sum()) for f in snapshots], dtype=np.int64)
    n = np.array([f.size for f in snapshots], dtype=np.int64)
    ratios = k / n
    lows, highs = clopper_pearson(k, n, level=level)
    joint = 1.0 - (1.0 - level) / len(snapshots)
    joint_lows, joint_highs = clopper_pearson(k, n, level=joint)
    best = int(np.argmax(ratios))
    return SnapshotMax(
        ratios=ratios,
        lows=np.asarray(lows, dtype=np.float64),
        highs=np.asarray(highs, dtype=np.float64),
        best=best,
        ratio=float(ratios[best]),
        low=float(np.max(joint_lows)),
        high=float(np.max(joint_highs)),
        level=level,
    )


def gallery_rows(result: ReplicationResult, *, top: int | None = None) -> dict[str, np.ndarray]:
    """Rows "generated | nearest | second nearest" for a report, most replicated first.

    Sorted by ratio ascending (ties by sample index); ``top`` keeps the first rows. Columns:
    ``sample``, ``nearest``, ``nearest_distance``, ``second``, ``second_distance``, ``ratio``,
    ``replicated`` — the ids index the arrays given to the search, so the page can show the
    pixels of the sample and of both training images.

    Example:
        >>> train = np.array([[0, 0], [90, 0], [0, 200]], dtype=np.uint8)
        >>> r = replication_scores(np.array([[45, 0], [1, 0]], dtype=np.uint8), train)
        >>> gallery_rows(r, top=1)["sample"].tolist()
        [1]
    """
    table = result.to_dict()
    order = np.lexsort((table["sample"], table["ratio"]))
    if top is not None:
        order = order[: max(int(top), 0)]
    names = (
        "sample",
        "nearest",
        "nearest_distance",
        "second",
        "second_distance",
        "ratio",
        "replicated",
    )
    return {name: table[name][order] for name in names}


def _result(nn: NearestTwo, n_values: int, threshold: float, training_ids, n_training: int):
    sq1, sq2 = nn.sq_distance[:, 0], nn.sq_distance[:, 1]
    both_zero = sq2 == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(both_zero, 1.0, np.sqrt(sq1 / np.where(both_zero, 1.0, sq2)))
    # d1/d2 < t  ⟺  d1² < t²·d2²; exact for 8-bit input at t = 1/3 (9·d1² < d2²).
    if threshold == REPLICATION_THRESHOLD:
        replicated = 9.0 * sq1 < sq2
    else:
        replicated = sq1 < threshold**2 * sq2
    ids = nn.index
    if training_ids is not None:
        id_map = np.asarray(training_ids)
        if id_map.shape != (n_training,):
            raise ReplicationInputError(
                f"training_ids must hold one id per training image ({n_training}); got shape "
                f"{id_map.shape}."
            )
        ids = id_map[ids]
    scale = np.sqrt(float(n_values))
    return ReplicationResult(
        nearest=ids[:, 0],
        second=ids[:, 1],
        nearest_distance=np.sqrt(sq1) / scale,
        second_distance=np.sqrt(sq2) / scale,
        ratio=ratio,
        replicated=replicated,
    )


def _as_images(images, name: str) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim < 2 or arr.shape[0] == 0 or arr[0].size == 0:
        raise ReplicationInputError(
            f"The {name} must be a non-empty (count, ...) array of images; got shape {arr.shape}."
        )
    if arr.dtype.kind not in "fiub":
        raise ReplicationInputError(f"The {name} must be numeric images; got dtype {arr.dtype}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
        raise ReplicationInputError(
            f"{bad.size} of the {name} hold NaN or infinite values (first rows: {bad[:5].tolist()}). "
            "A sampler that diverged produced them; fix it before testing for replication."
        )
    return arr


def _as_value_range(value_range) -> tuple[float, float]:
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ReplicationInputError(
            f"value_range must be (lo, hi) with lo < hi; got {value_range}."
        )
    return lo, hi


def _check_range(images: np.ndarray, value_range, name: str, *, slack: bool) -> None:
    """Training images must lie in value_range; samples may overshoot (they are clipped)."""
    if images.dtype == np.uint8:
        return
    lo, hi = _as_value_range(value_range)
    width = hi - lo
    margin = width if slack else 1e-6 * width
    found_lo, found_hi = float(images.min()), float(images.max())
    if found_lo < lo - margin or found_hi > hi + margin:
        raise ReplicationInputError(
            f"The {name} span [{found_lo:g}, {found_hi:g}], outside value_range ({lo:g}, {hi:g}). "
            "Pass the range the images are scaled to (e.g. value_range=(0, 255) or (0, 16)), "
            "or uint8 pixels."
        )


def _as_flags(flags, name: str) -> np.ndarray:
    arr = np.asarray(flags)
    if arr.dtype != np.bool_ or arr.size == 0:
        raise ReplicationInputError(
            f"The {name} flags must be a non-empty boolean array (e.g. ReplicationResult.replicated); "
            f"got dtype {arr.dtype} and {arr.size} values."
        )
    return arr.ravel()


def _encode(encoder, images: np.ndarray, batch_size: int, name: str) -> np.ndarray:
    parts = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        feats = np.asarray(encoder(batch))
        if feats.ndim != 2 or feats.shape[0] != len(batch):
            raise ReplicationInputError(
                f"The encoder must return a (batch, features) array; for {len(batch)} {name} it "
                f"returned shape {feats.shape}."
            )
        if feats.dtype.kind not in "fiub" or not np.isfinite(feats).all():
            raise ReplicationInputError(
                f"The encoder returned non-finite or non-numeric features for the {name}; check it."
            )
        parts.append(feats.astype(np.float64))
    return np.concatenate(parts, axis=0)
