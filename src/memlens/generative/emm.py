"""Effective model memorization (Gu et al.): the largest training-set size a configuration still memorizes.

EMM_ε = the largest |D| at which the expected memorization ratio is ≥ 1 − ε (ε = 0.1). Pieces:

* :func:`size_design` — one model per (size, repeat), each on a class-balanced subset; the
  subsets of one repeat are nested (the first |D| of one class-interleaved order), so a larger
  size only adds images;
* :func:`effective_memorization` — EMM read off a grid of (size, ratio), pure;
* :func:`emm_search` — the search itself: train at increasing |D| (doubling) until the ratio
  falls below the target, then bisect between the last two sizes; every size is a set of models
  on the engine in ``OUT/size-<D>``, so a killed search resumes where it stopped, and the same
  command replays finished sizes from their stores.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import MemlensError

TARGET = 0.9  # 1 − ε with Gu et al.'s ε = 0.1
SEARCH_FILE = "emm.json"


class EMMInputError(MemlensError, ValueError):
    """Bad sizes or targets for an EMM search."""


def balanced_order(labels, rng: np.random.Generator) -> np.ndarray:
    """All ids in an order whose every prefix is class-balanced (classes interleaved, each shuffled)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in rng.permutation(classes)]
    order, depth = [], max(len(q) for q in queues)
    for i in range(depth):  # round robin: one of each class while it lasts
        order.extend(int(q[i]) for q in queues if i < len(q))
    return np.asarray(order, dtype=np.int64)


def size_design(labels, sizes, *, repeats: int = 1, seed: int = 0):
    """A :class:`~memlens.design.Design` with one model per (repeat, size): row ``r·len(sizes) + j``
    trains on the first ``sizes[j]`` ids of repeat r's class-balanced order.

    Args:
        labels: (N,) class of each example (one class for unlabelled data: pass zeros).
        sizes: training-set sizes |D|, each in 2 … N.
        repeats: independent orders (different subsets) per size.
    """
    from memlens import seeds
    from memlens.design import Design

    labels = np.asarray(labels)
    n = len(labels)
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise EMMInputError("Give at least one training-set size, e.g. --sizes 16,32,64.")
    bad = [s for s in sizes if not 2 <= s <= n]
    if bad:
        raise EMMInputError(
            f"Training-set size(s) {bad} are outside 2 … {n}: the dataset has {n} examples, and the "
            "replication test needs at least 2 training images per model. Use smaller sizes or more data."
        )
    if isinstance(repeats, bool) or repeats < 1:
        raise EMMInputError(f"repeats must be at least 1; got {repeats!r}.")
    membership = np.zeros((repeats * len(sizes), n), dtype=bool)
    for r in range(repeats):
        order = balanced_order(labels, seeds.rng(seed, "design", r))
        for j, s in enumerate(sizes):
            membership[r * len(sizes) + j, order[:s]] = True
    spec = f"sizes:{','.join(map(str, sizes))}" + (f"x{repeats}" if repeats > 1 else "")
    return Design(spec, int(seed), membership)


@dataclass(frozen=True)
class EMM:
    """EMM read off (size, ratio) pairs.

    Attributes:
        value: the largest size reaching the target with every smaller size reaching it too
            (None when the smallest size already fails).
        crossed: some size reaches the target and a larger one does not: ``value`` is bracketed.
        first_below: the smallest size above ``value`` whose ratio is below target (None if none).
        target: 1 − ε.
        message: the finding in words, with the ratios.
    """

    value: int | None
    crossed: bool
    first_below: int | None
    target: float
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def effective_memorization(sizes, ratios, *, target: float = TARGET) -> EMM:
    """EMM from memorization ratios measured at ``sizes``: the largest size of the run of sizes,
    from the smallest up, whose ratio is ≥ ``target``.

    Sizes past the first failure are not counted even if they recover (noise, or an unlucky
    subset): EMM is the size up to which memorization holds.

    Example:
        >>> effective_memorization([16, 32, 64, 128], [1.0, 0.95, 0.6, 0.1]).value
        32
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    ratios = np.asarray(ratios, dtype=np.float64)
    if sizes.shape != ratios.shape or sizes.ndim != 1 or not len(sizes):
        raise EMMInputError(
            f"effective_memorization needs one ratio per size; got {sizes.shape} sizes and {ratios.shape} ratios."
        )
    if not np.isfinite(ratios).all() or (ratios < 0).any() or (ratios > 1).any():
        raise EMMInputError("Memorization ratios must be finite numbers in [0, 1].")
    if not 0 < target <= 1:
        raise EMMInputError(f"The target ratio 1 − ε must be in (0, 1]; got {target}.")
    order = np.argsort(sizes, kind="stable")
    sizes, ratios = sizes[order], ratios[order]
    listing = ", ".join(f"|D| = {s}: {r:.3f}" for s, r in zip(sizes, ratios, strict=True))
    below = np.flatnonzero(ratios < target)
    if len(below) and below[0] == 0:
        return EMM(None, False, int(sizes[0]), target,
                   f"No size reaches a memorization ratio of {target:g} ({listing}): even the smallest |D| "
                   f"is below it, so EMM < {sizes[0]}. Try smaller sizes (or longer training).")
    if not len(below):
        return EMM(int(sizes[-1]), False, None, target,
                   f"Every size memorizes at ≥ {target:g} ({listing}): EMM ≥ {sizes[-1]}, the grid never "
                   "crossed the target. Add larger sizes to find where memorization stops.")
    last = below[0] - 1
    return EMM(int(sizes[last]), True, int(sizes[below[0]]), target,
               f"EMM ≈ {sizes[last]}: the largest |D| with memorization ratio ≥ {target:g} "
               f"(|D| = {sizes[below[0]]} falls to {ratios[below[0]]:.3f}). {listing}.")


def next_size(tried: dict[int, float], *, start: int, limit: int, target: float, tolerance: float) -> int | None:
    """The next |D| an EMM search trains, given the ratios ``tried`` so far; None when it is done.

    Doubling from ``start`` while every size reaches the target (capped at ``limit``), then
    bisection between the largest passing and the smallest failing size until they are within
    ``tolerance`` (relative) of each other.
    """
    if start not in tried:
        return start
    passing = [s for s, r in tried.items() if r >= target]
    failing = [s for s, r in tried.items() if r < target]
    if not passing:
        return None  # the first size already fails: EMM < start
    lo = max(passing)
    above = [s for s in failing if s > lo]
    if not above:
        if lo >= limit:
            return None  # memorizes up to the whole dataset
        return min(2 * lo, limit)
    hi = min(above)
    if hi - lo <= max(1, tolerance * lo):
        return None
    return (lo + hi) // 2


def emm_search(dataset, trainer, out, *, start: int = 16, target: float = TARGET, tolerance: float = 0.1,
               max_size: int | None = None, repeats: int = 1, seed: int = 0, progress: bool = True,
               known: dict[int, float] | None = None, on_step=None) -> dict:
    """Search EMM for ``trainer`` on ``dataset``; one engine run per size in ``out/size-<D>``.

    ``out/emm.json`` records every size tried (its ratio, the models' ratios, seconds) and, when the
    search ends, the EMM. Re-running the same call resumes: finished sizes are read back from
    their runs, a half-trained size resumes from its last shard.

    Args:
        trainer: a diffusion trainer (:class:`~memlens.generative.diffusion.DiffusionTrainer` or
            :class:`~memlens.generative.closed_form_trainer.ClosedFormTrainer`).
        start: the first |D|; doubled while memorized.
        target: 1 − ε.
        tolerance: stop bisecting when the bracket is within this fraction of its lower end.
        max_size: the largest |D| to try (default: the dataset's size).
        repeats: models (different subsets) per size; the ratio is their mean.
        known: ratios already measured for this configuration (e.g. on a grid), by size; the
            search starts from them instead of retraining those sizes.
        on_step: called with (size, ratio) after each size, e.g. to print progress.

    Returns:
        The content of ``emm.json``.
    """
    from memlens.engine import n_examples, run_design
    from memlens.files import write_json
    from memlens.runlock import RunLock

    n = n_examples(dataset)
    limit = int(max_size or n)
    if not 2 <= start <= limit <= n:
        raise EMMInputError(
            f"The search needs 2 ≤ start ({start}) ≤ max size ({limit}) ≤ the dataset's {n} examples."
        )
    if not 0 < target <= 1 or not 0 < tolerance < 1:
        raise EMMInputError(f"Need 0 < target ≤ 1 and 0 < tolerance < 1; got {target}, {tolerance}.")
    labels = getattr(dataset, "y", None)
    labels = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels)
    out = Path(out)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in (SEARCH_FILE, ".lock") and not p.name.startswith("size-"))
        if foreign:
            raise EMMInputError(
                f"{out} is not empty and is not an EMM search (it holds {', '.join(foreign[:5])}), so it was not "
                "touched. Choose a new --out."
            )
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock.acquire(out)  # one search per folder
    try:
        tried = {int(k): float(v) for k, v in (known or {}).items()}
        steps = [{"size": k, "ratio": v, "source": "given"} for k, v in sorted(tried.items())]
        record = {"target": target, "tolerance": tolerance, "start": start, "max_size": limit,
                  "repeats": repeats, "seed": seed, "trainer": trainer.config(), "steps": steps}
        while (size := next_size(tried, start=start, limit=limit, target=target, tolerance=tolerance)) is not None:
            t = time.perf_counter()
            design = size_design(labels, [size], repeats=repeats, seed=seed)
            store = run_design(dataset, design, trainer, out / f"size-{size}", seed=seed, progress=progress,
                               description=f"|D| = {size}: {design.n_models} model(s)")
            per_model = best_ratios(store.observation("sample_replicated"))
            tried[size] = float(np.mean(per_model))
            steps.append({"size": size, "ratio": tried[size], "source": "trained", "model_ratios": per_model.tolist(),
                          "seconds": round(time.perf_counter() - t, 1)})
            write_json(out / SEARCH_FILE, record)
            if on_step is not None:
                on_step(size, tried[size])
        emm = effective_memorization(list(tried), list(tried.values()), target=target)
        record["emm"] = emm.to_dict()
        write_json(out / SEARCH_FILE, record)
        return record
    finally:
        lock.release()


def best_ratios(replicated) -> np.ndarray:
    """Each model's memorization ratio at its best snapshot: (models, snapshots, samples) flags → (models,)."""
    replicated = np.asarray(replicated, dtype=bool)
    if replicated.ndim != 3:
        raise EMMInputError(
            f"Replication flags must be (models, snapshots, samples); got shape {replicated.shape}."
        )
    return replicated.mean(axis=-1).max(axis=-1)
