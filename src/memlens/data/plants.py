"""Plants: deliberate, recorded corruptions whose ground truth an audit must recover.

``label-noise:RATE`` flips a fraction of labels to another class; ``duplicates:K`` appends K
copies of training examples with a different label (the conflicting duplicates that curvature
scores surfaced in CIFAR-100 and ImageNet). Both record ``plant_kind`` per example.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from memlens import seeds
from memlens.data.dataset import Dataset
from memlens.errors import DataError

Planter = Callable[[Dataset], Dataset]


def _other_labels(rng: np.random.Generator, y: np.ndarray, n_classes: int) -> np.ndarray:
    """A uniformly random label different from each entry of ``y``."""
    shift = rng.integers(1, n_classes, size=len(y))
    return (y + shift) % n_classes


def label_noise(rate: float, *, seed: int = 0) -> Planter:
    """Flip ``round(rate * N)`` labels of clean examples to a uniformly random other class.

    >>> from memlens.data import load
    >>> d = load("digits").plant(label_noise(0.1, seed=0))
    >>> int(d.planted.sum()), bool((d.y[d.planted] != d.original_y[d.planted]).all())
    (135, True)
    """
    if not 0 < rate < 1:
        raise DataError(f"label-noise rate must be between 0 and 1 (exclusive); got {rate}.")

    def apply(data: Dataset) -> Dataset:
        rng = seeds.rng(seed, "plant:label-noise")  # == default_rng([seed, 1]), as before
        clean = np.flatnonzero(~data.planted)
        n = round(rate * data.n_examples)
        if n > len(clean):
            raise DataError(f"label-noise:{rate} needs {n} clean examples; only {len(clean)} remain.")
        chosen = rng.choice(clean, size=n, replace=False)
        y = data.y.copy()
        y[chosen] = _other_labels(rng, y[chosen], data.n_classes)
        kind = data.plant_kind.copy()
        kind[chosen] = "label-noise"
        return data.replace(y=y, plant_kind=kind, plants=(*data.plants, f"label-noise:{rate:g}"),
                            plant_seeds=(*data.plant_seeds, seed))  # fmt: skip

    return apply


def duplicates(k: int, *, seed: int = 0) -> Planter:
    """Append ``k`` copies of random clean examples, each given a different label.

    Both the copy (``"duplicate"``) and its source (``"duplicate-source"``) count as planted:
    a model cannot fit both labels without memorizing one of them.

    >>> from memlens.data import load
    >>> d = load("digits")
    >>> p = d.plant(duplicates(20, seed=0))
    >>> p.n_examples - d.n_examples, int(p.planted.sum())
    (20, 40)
    """
    if k < 1:
        raise DataError(f"duplicates:K needs K >= 1; got {k}.")

    def apply(data: Dataset) -> Dataset:
        rng = seeds.rng(seed, "plant:duplicates")  # == default_rng([seed, 2]), as before
        clean = np.flatnonzero(~data.planted)
        if k > len(clean):
            raise DataError(f"duplicates:{k} needs {k} clean examples; only {len(clean)} remain.")
        src = rng.choice(clean, size=k, replace=False)
        new_y = _other_labels(rng, data.y[src], data.n_classes)
        kind = np.concatenate([data.plant_kind, np.full(k, "duplicate", dtype=object)])
        kind[src] = "duplicate-source"
        return data.replace(
            X=np.concatenate([data.X, data.X[src]]),
            y=np.concatenate([data.y, new_y]),
            original_y=np.concatenate([data.original_y, data.original_y[src]]),
            plant_kind=kind,
            plants=(*data.plants, f"duplicates:{k}"), plant_seeds=(*data.plant_seeds, seed),
        )

    return apply


def parse_plant(spec: str, *, seed: int = 0) -> Planter:
    """Turn ``"label-noise:0.05"`` or ``"duplicates:20"`` into a planter."""
    name, _, arg = spec.partition(":")
    makers = {"label-noise": (label_noise, float), "duplicates": (duplicates, int)}
    if name in makers:
        make, convert = makers[name]
        try:
            value = convert(arg)
        except ValueError:
            raise DataError(f"Plant '{spec}' has a malformed argument '{arg}'.") from None
        return make(value, seed=seed)
    raise DataError(
        f"Unknown plant '{spec}'. Known plants: label-noise:RATE (e.g. label-noise:0.05) and "
        "duplicates:K (e.g. duplicates:20)."
    )
