"""The self-supervised trainer of the déjà vu test, on the engine: a small CNN + MLP projector.

One model per membership row (:func:`memlens.engine.run_design`): a target row trains on A ∪
shared, a reference row on B ∪ shared (:func:`dejavu_design`). Each model learns from two
augmented views per canvas (:func:`two_views`) by VICReg (default) or SimCLR; nothing else differs
between the objectives. A view is, with probability ``background_swap`` (default ½), an *object
view* — the canvas's digit pasted on another training canvas's background — and otherwise a
*scene view*, a random in-place crop covering 30–70% of the canvas (the rest zeroed, as the
attacked background crop is); both get a ±1 px shift and Gaussian noise. Without object views the
encoders learn backgrounds only (two crops of a canvas share far more background than digit) and
no digit can be decoded even from whole canvases; with them the digit is what object views share,
and a scene view holding only background can match its partner only if the encoder remembers
which digit that background came with. At each snapshot epoch the model embeds
every example (:meth:`Canvas.attack_inputs`: the background-only crop of A, B and shared canvases,
the whole canvas for the public set) with its backbone and its projector. Observations:

* ``embedding_projector``: (models, N, snapshots, projector dim) float16;
* ``embedding_backbone``: (models, N, snapshots, backbone dim) float16 (the "guillotine" layer).

Model *m*'s initialisation, batch order and augmentations depend only on (run seed, m).
"""

from __future__ import annotations

import numpy as np

from ..design import Design
from ..errors import MemlensError
from .canvas import PUBLIC, SHARED, A, B, Canvas
from .objectives import OBJECTIVES, objective


def dejavu_design(canvas: Canvas, pairs: int, *, seed: int = 0) -> Design:
    """2·``pairs`` rows: row 2p (target) trains on A ∪ shared, row 2p+1 (reference) on B ∪ shared."""
    if isinstance(pairs, bool) or not isinstance(pairs, int | np.integer) or pairs < 1:
        raise MemlensError(f"The déjà vu design needs at least one target/reference pair; got {pairs!r}.")
    target = np.isin(canvas.part, (A, SHARED))
    reference = np.isin(canvas.part, (B, SHARED))
    membership = np.empty((2 * pairs, canvas.n_examples), dtype=bool)
    membership[0::2], membership[1::2] = target, reference
    return Design(f"dejavu-pairs:{pairs}", int(seed), membership)


def default_snapshots(epochs: int) -> list[int]:
    """Epochs at which the models embed every example: about 1/6, 1/3, 2/3 and all of ``epochs``."""
    return sorted({max(1, round(epochs * f)) for f in (1 / 6, 1 / 3, 2 / 3, 1.0)})


def _torch():
    import torch
    from torch import nn

    return torch, nn


def build_encoder(height: int, width: int, *, channels: int = 16, backbone_dim: int = 128,
                  projector_dim: int = 256):
    """(backbone, projector): two conv blocks (3×3 conv, batch norm, ReLU, 2×2 max-pool; ``channels``
    then 2·``channels``) and a linear layer to ``backbone_dim``; projector ``backbone_dim`` →
    ``projector_dim`` → ``projector_dim`` with batch norm and ReLU between, as VICReg's."""
    torch, nn = _torch()
    flat = 2 * channels * (height // 4) * (width // 4)
    backbone = nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(flat, backbone_dim), nn.ReLU(),
    )  # fmt: skip
    projector = nn.Sequential(
        nn.Linear(backbone_dim, projector_dim), nn.BatchNorm1d(projector_dim), nn.ReLU(),
        nn.Linear(projector_dim, projector_dim),
    )  # fmt: skip
    return backbone, projector


def augment(images, generator, *, area=(0.3, 0.7), shift: int = 1, noise: float = 0.05):
    """One augmented view of (B, H, W) images: a random in-place crop covering ``area`` of the
    canvas (aspect ratio 3:4–4:3, the rest zeroed; ``area=None``: no crop), a shift of up to
    ``shift`` pixels (zero fill) and Gaussian noise of standard deviation ``noise``; all drawn
    from ``generator``."""
    torch, _ = _torch()
    b, h, w = images.shape
    if area is None:
        return _shift_and_noise(images, generator, shift, noise)
    share = torch.empty(b).uniform_(area[0], area[1], generator=generator)
    ratio = torch.exp(torch.empty(b).uniform_(np.log(3 / 4), np.log(4 / 3), generator=generator))
    crop_h = torch.sqrt(share * h * w * ratio).round().clamp(1, h).long()
    crop_w = torch.sqrt(share * h * w / ratio).round().clamp(1, w).long()
    top = (torch.rand(b, generator=generator) * (h - crop_h + 1)).long()
    left = (torch.rand(b, generator=generator) * (w - crop_w + 1)).long()
    ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = ((ys >= top[:, None, None]) & (ys < (top + crop_h)[:, None, None])
              & (xs >= left[:, None, None]) & (xs < (left + crop_w)[:, None, None]))  # fmt: skip
    return _shift_and_noise(images * inside, generator, shift, noise)


def _shift_and_noise(views, generator, shift: int, noise: float):
    torch, _ = _torch()
    b, h, w = views.shape
    if shift:
        padded = torch.nn.functional.pad(views, (shift, shift, shift, shift))
        dy = torch.randint(-shift, shift + 1, (b,), generator=generator)
        dx = torch.randint(-shift, shift + 1, (b,), generator=generator)
        rows = (torch.arange(h)[None, :] + shift + dy[:, None])[:, :, None]
        cols = (torch.arange(w)[None, :] + shift + dx[:, None])[:, None, :]
        views = padded[torch.arange(b)[:, None, None], rows, cols]
    if noise:
        views = views + noise * torch.randn(views.shape, generator=generator)
    return views


def two_views(batch, objects, textures, generator, *, swap: float, shift: int = 1, noise: float = 0.05):
    """One view per canvas of ``batch`` (B, H, W): with probability ``swap`` an *object view* — the
    canvas's digit (``objects``, a (B, H, W) bool mask of its box) pasted on a texture drawn from
    ``textures`` (the backgrounds of the model's training canvases), uncropped — else a *scene view*,
    an in-place crop of the canvas itself (:func:`augment`), which may hold background only.

    Object views make the digit the one thing two views share, so the encoder represents digits
    (as natural-image SSL learns objects); scene views pair a canvas's own background with its
    digit, which an encoder can only satisfy by remembering which digit went with that background
    — the memorization the déjà vu test detects.
    """
    torch, _ = _torch()
    scene = augment(batch, generator, shift=shift, noise=noise)
    if not swap:
        return scene
    other = textures[torch.randint(len(textures), (len(batch),), generator=generator)]
    obj = augment(torch.where(objects, batch, other), generator, area=None, shift=shift, noise=noise)
    choose = torch.rand(len(batch), generator=generator) < swap
    return torch.where(choose[:, None, None], obj, scene)


class SSLTrainer:
    """Trains one self-supervised encoder per membership row and embeds every canvas at snapshots.

    Args:
        objective: ``vicreg`` (default; coefficients 25/25/1) or ``simclr`` (temperature 0.5).
        epochs: passes over each model's training set.
        snapshots: epochs at which every example is embedded (default :func:`default_snapshots`);
            the last must be ``epochs``.
        batch_size: canvases per step (two views each).
        lr: Adam's learning rate.
        channels, backbone_dim, projector_dim: the encoder's size (:func:`build_encoder`).
    """

    def __init__(self, objective: str = "vicreg", *, epochs: int = 400, snapshots=None, batch_size: int = 128,
                 lr: float = 1e-3, channels: int = 16, backbone_dim: int = 128, projector_dim: int = 256,
                 background_swap: float = 0.5):
        if objective not in OBJECTIVES:
            raise MemlensError(f"Unknown self-supervised objective {objective!r} (--objective); choose one of "
                               f"{', '.join(OBJECTIVES)}.")
        for name, value in (("--epochs", epochs), ("--batch-size", batch_size), ("channels", channels),
                            ("backbone_dim", backbone_dim), ("projector_dim", projector_dim)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise MemlensError(f"{name} must be a whole number of at least 1; got {value!r}.")
        if batch_size < 2:
            raise MemlensError(f"--batch-size must be at least 2 (the objectives compare views across a batch); "
                               f"got {batch_size}.")
        if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
            raise MemlensError(f"--lr (Adam's learning rate) must be a finite number greater than 0, such as 0.001; "
                               f"got {lr!r}.")
        if not (isinstance(background_swap, int | float) and 0 <= background_swap <= 1):
            raise MemlensError(f"--background-swap (the share of object views) must be a number from 0 to 1; got "
                               f"{background_swap!r}.")
        self.background_swap = float(background_swap)
        snapshots = default_snapshots(epochs) if snapshots is None else sorted({int(s) for s in snapshots})
        if not snapshots or snapshots[0] < 1 or snapshots[-1] != epochs:
            raise MemlensError(f"--snapshots must be epochs from 1 to --epochs whose last is --epochs ({epochs}), "
                               f"such as 50,100,200,{epochs}; got {snapshots}.")
        self.objective, self.epochs, self.snapshots = objective, int(epochs), snapshots
        self.batch_size, self.lr = int(batch_size), float(lr)
        self.channels, self.backbone_dim, self.projector_dim = int(channels), int(backbone_dim), int(projector_dim)
        self.units_per_model = self.epochs

    def config(self) -> dict:
        return {"kind": "ssl", "objective": self.objective, "epochs": self.epochs, "snapshots": self.snapshots,
                "batch_size": self.batch_size, "lr": self.lr, "optimizer": "adam", "channels": self.channels,
                "backbone_dim": self.backbone_dim, "projector_dim": self.projector_dim,
                "augmentation": "in-place crop 30-70% of the canvas, shift ±1 px, noise 0.05",
                "background_swap": self.background_swap}

    def fit_observe(self, data: Canvas, membership, seeds, progress=None) -> dict[str, np.ndarray]:
        from memlens import seeds as seed_streams

        torch, _ = _torch()
        images = torch.from_numpy(np.ascontiguousarray(data.images, dtype=np.float32))
        inputs = torch.from_numpy(np.ascontiguousarray(data.attack_inputs(), dtype=np.float32))
        backgrounds = torch.from_numpy(np.ascontiguousarray(data.backgrounds, dtype=np.float32))
        n, h, w = images.shape
        ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
        box = torch.from_numpy(np.asarray(data.boxes, np.int64))[:, :, None, None]
        object_masks = (xs >= box[:, 0]) & (xs < box[:, 2]) & (ys >= box[:, 1]) & (ys < box[:, 3])
        s = len(self.snapshots)
        projected = np.empty((len(membership), n, s, self.projector_dim), np.float16)
        backbone_out = np.empty((len(membership), n, s, self.backbone_dim), np.float16)
        loss_fn = objective(self.objective)
        for m, (row, seed) in enumerate(zip(np.asarray(membership, bool), seeds, strict=True)):
            if row[data.part == PUBLIC].any():
                raise MemlensError("A déjà vu model may not train on the public set: it is what labels are "
                                   "decoded from. Build the design with memlens.ssl.dejavu_design.")
            generator = torch.Generator().manual_seed(seed_streams.to_int(seed, "int63"))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed_streams.to_int(seed, "int63"))
                backbone, projector = build_encoder(h, w, channels=self.channels, backbone_dim=self.backbone_dim,
                                                    projector_dim=self.projector_dim)
            params = [*backbone.parameters(), *projector.parameters()]
            optimizer = torch.optim.Adam(params, lr=self.lr)
            rows = torch.from_numpy(np.flatnonzero(row))
            train, textures, objects = images[rows], backgrounds[rows], object_masks[rows]
            per_epoch = max(1, len(train) // self.batch_size)
            size = min(self.batch_size, len(train))
            if size < 2:
                raise MemlensError("A déjà vu model needs at least 2 training canvases per batch.")
            for epoch in range(1, self.epochs + 1):
                backbone.train()
                projector.train()
                order = torch.randperm(len(train), generator=generator)
                for step in range(per_epoch):
                    chosen = order[step * size:(step + 1) * size]
                    batch, masks = train[chosen], objects[chosen]
                    z1 = projector(backbone(two_views(batch, masks, textures, generator, swap=self.background_swap)[:, None]))
                    z2 = projector(backbone(two_views(batch, masks, textures, generator, swap=self.background_swap)[:, None]))
                    loss = loss_fn(z1, z2)
                    if not torch.isfinite(loss):
                        raise MemlensError(f"Self-supervised training diverged (loss {float(loss)}) at epoch {epoch}; "
                                           "lower --lr.")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                if epoch in self.snapshots:
                    k = self.snapshots.index(epoch)
                    backbone_out[m, :, k], projected[m, :, k] = self.embed(backbone, projector, inputs)
                if progress is not None:
                    progress(1)
        return {"embedding_projector": projected, "embedding_backbone": backbone_out}

    @staticmethod
    def embed(backbone, projector, inputs, *, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """(backbone, projector) embeddings of (N, H, W) inputs in evaluation mode."""
        torch, _ = _torch()
        backbone.eval()
        projector.eval()
        outs_b, outs_p = [], []
        with torch.no_grad():
            for start in range(0, len(inputs), batch):
                features = backbone(inputs[start:start + batch][:, None])
                outs_b.append(features.numpy())
                outs_p.append(projector(features).numpy())
        return np.concatenate(outs_b), np.concatenate(outs_p)


__all__ = ["SSLTrainer", "augment", "build_encoder", "default_snapshots", "dejavu_design", "two_views"]
