"""Synthetic canvases for the déjà vu test: a digit "object" beside a random textured background.

Each canvas (H×W, default 16×24, values in [0, 1]) is a per-image random background — a few
Gaussian blobs plus fixed pixel noise, drawn independently of the label — with an 8×8
scikit-learn digit pasted in its left 8 columns at a random height. The digit's bounding box is
known, so the background-only crop (the largest free rectangle outside it, Meehan et al.'s rule,
:func:`memlens.ssl.dejavu.largest_background_box`) holds no object pixel, and since backgrounds are
independent of labels, an encoder that never saw a canvas decodes its label from that crop only at
chance. Canvases belong to four disjoint sets: **A** (the target encoders' own images), **B** (the
reference encoders'), **shared** (seen by both) and the labelled **public** set X the labels are
decoded from. Digits are drawn with replacement; everything comes from the run seed's
``ssl:canvas`` stream (:mod:`memlens.seeds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MemlensError

#: the sets, in the order of ``Canvas.part`` codes
PARTS = ("A", "B", "shared", "public")
A, B, SHARED, PUBLIC = range(4)
OBJECT_SIDE = 8  # scikit-learn digits are 8×8


class CanvasError(MemlensError, ValueError):
    """Canvas sizes or set sizes the déjà vu data cannot be drawn with."""


@dataclass(frozen=True, eq=False)
class Canvas:
    """N canvases addressed by id 0 … N-1 (the engine's examples), with their sets and object boxes.

    Attributes:
        images: (N, H, W) float32 in [0, 1].
        labels: (N,) int64 digit classes 0–9.
        boxes: (N, 4) int64 object boxes (x_min, y_min, x_max, y_max), ends exclusive.
        part: (N,) int8 set codes: 0 A, 1 B, 2 shared, 3 public (see :data:`PARTS`).
        crop_boxes: (N, 4) int64 the background-only crop of each canvas (outside its object box).
        backgrounds: (N, H, W) float32 each canvas's texture before the digit was pasted on it (the
            trainer's background-swap augmentation puts a canvas's digit on another's texture).
        seed: the run seed the canvases were drawn from.
        min_crop_side: the crop's shorter side had to exceed this.
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    part: np.ndarray
    crop_boxes: np.ndarray
    backgrounds: np.ndarray
    seed: int
    min_crop_side: int
    name: str = field(default="canvas")

    @property
    def n_examples(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return self.n_examples

    @property
    def n_classes(self) -> int:
        return 10

    def ids(self, part: int) -> np.ndarray:
        """The ids of one set (``A``, ``B``, ``SHARED`` or ``PUBLIC``)."""
        return np.flatnonzero(self.part == part)

    def summary(self) -> dict:
        """The canvas data's part of the run configuration."""
        h, w = self.images.shape[1:]
        return {
            "name": self.name, "n_examples": self.n_examples, "height": int(h), "width": int(w),
            "sets": {name: int((self.part == code).sum()) for code, name in enumerate(PARTS)},
            "seed": self.seed, "min_crop_side": self.min_crop_side,
        }  # fmt: skip

    def fingerprint(self) -> str:
        from memlens.engine import fingerprint

        return fingerprint([self.images, self.labels, self.boxes, self.part, self.crop_boxes, self.backgrounds])

    def attack_inputs(self) -> np.ndarray:
        """(N, H, W) what the encoders embed: the background-only crop of every A, B and shared
        canvas (kept in place, everything outside it zero, as the training crops are), and the
        whole canvas for the public set, whose embeddings the labels are decoded from."""
        return np.where(self.part[:, None, None] == PUBLIC, self.images, background_only(self.images, self.crop_boxes))


def background_only(images: np.ndarray, crop_boxes: np.ndarray) -> np.ndarray:
    """``images`` with every pixel outside its crop box set to zero (the crop stays in place)."""
    n, h, w = images.shape
    ys, xs = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    x0, y0, x1, y1 = (crop_boxes[:, i, None, None] for i in range(4))
    inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    return np.where(inside, images, 0.0).astype(images.dtype)


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CanvasError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def random_backgrounds(rng: np.random.Generator, n: int, height: int, width: int, *, blobs: int = 3,
                       brightness=(0.3, 1.0), noise: float = 0.08) -> np.ndarray:
    """(n, height, width) textures: ``blobs`` Gaussian blobs (random centre, width, brightness)
    plus fixed per-pixel noise, clipped to [0, 1]; nothing in them depends on a label."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    centre_y = rng.uniform(0, height, size=(n, blobs, 1, 1))
    centre_x = rng.uniform(0, width, size=(n, blobs, 1, 1))
    spread = rng.uniform(1.5, 4.0, size=(n, blobs, 1, 1))
    peak = rng.uniform(brightness[0], brightness[1], size=(n, blobs, 1, 1))
    texture = (peak * np.exp(-((ys - centre_y) ** 2 + (xs - centre_x) ** 2) / (2 * spread**2))).sum(axis=1)
    texture += rng.normal(0.0, noise, size=(n, height, width))
    return np.clip(texture, 0.0, 1.0)


def make_canvas(*, n_target: int = 200, n_shared: int = 100, n_public: int = 3000, height: int = 16,
                width: int = 24, min_crop_side: int = 8, seed: int = 0, brightness=(0.3, 1.0),
                noise: float = 0.08) -> Canvas:
    """Draw the déjà vu canvases: ``n_target`` each in A and B, ``n_shared`` shared, ``n_public`` public.

    Args:
        n_target: canvases in A, and as many in B (the attacked sets; disjoint).
        n_shared: canvases both encoders of a pair train on (0 allowed).
        n_public: labelled public canvases the labels are decoded from (at least 10).
        height, width: canvas size; the 8×8 digit sits in the left 8 columns at a random height.
        min_crop_side: the background crop's shorter side must be strictly larger (Meehan et al.
            require > 100 px on ImageNet); a canvas too small for that is refused.
        seed: the run seed (its ``ssl:canvas`` stream draws everything).

    Returns:
        A :class:`Canvas`, ids ordered A, B, shared, public.

    Example:
        >>> c = make_canvas(n_target=5, n_shared=2, n_public=20)
        >>> c.images.shape, c.summary()["sets"]
        ((32, 16, 24), {'A': 5, 'B': 5, 'shared': 2, 'public': 20})
    """
    from sklearn.datasets import load_digits

    from memlens import seeds

    from .dejavu import largest_background_box

    n_target = _check_count("The size of A and B (--set-size)", n_target, 1)
    n_shared = _check_count("The shared set's size (--shared)", n_shared, 0)
    n_public = _check_count("The public set's size (--public)", n_public, 10)
    height = _check_count("The canvas height", height, OBJECT_SIDE)
    width = _check_count("The canvas width", width, OBJECT_SIDE)
    min_crop_side = _check_count("The crop's minimum side (--min-crop-side)", min_crop_side, 1)
    # the strip right of the digit is there at every height (the strips above and below shrink)
    guaranteed = min(width - OBJECT_SIDE, height)
    if guaranteed <= min_crop_side:
        raise CanvasError(
            f"A {height}×{width} canvas leaves a background crop of {height}×{width - OBJECT_SIDE} pixels beside the "
            f"8×8 digit, and the crop's shorter side must exceed {min_crop_side} (--min-crop-side): the crop "
            f"would be too small to carry an image's background. Use a canvas at least {min_crop_side + 1} "
            f"tall and {OBJECT_SIDE + min_crop_side + 1} wide (the default is 16×24), or lower --min-crop-side."
        )
    digits_x, digits_y = load_digits(return_X_y=True)
    rng = seeds.rng(seed, "ssl:canvas")
    n = 2 * n_target + n_shared + n_public
    part = np.repeat(np.arange(4, dtype=np.int8), [n_target, n_target, n_shared, n_public])
    source = rng.integers(0, len(digits_y), size=n)  # digits drawn with replacement
    top = rng.integers(0, height - OBJECT_SIDE + 1, size=n)
    backgrounds = random_backgrounds(rng, n, height, width, brightness=brightness, noise=noise).astype(np.float32)
    images = backgrounds.copy()
    boxes = np.stack([np.zeros(n, np.int64), top, np.full(n, OBJECT_SIDE), top + OBJECT_SIDE], axis=1).astype(np.int64)
    for i in range(n):
        images[i, top[i]:top[i] + OBJECT_SIDE, :OBJECT_SIDE] = digits_x[source[i]].reshape(8, 8) / 16.0
    crop_boxes = np.array([largest_background_box(height, width, tuple(b), min_side=min_crop_side) for b in boxes],
                          dtype=np.int64)  # never None: the right strip alone is large enough
    return Canvas(images, digits_y[source].astype(np.int64), boxes, part, crop_boxes, backgrounds, int(seed),
                  min_crop_side)
