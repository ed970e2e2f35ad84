"""A feature space for image replication: a small CNN trained to classify the dataset's images.

Gu et al.'s 1/3 test is defined on pixels; a copy that is shifted or re-shaded can escape it. Their
follow-ups (and DiffMemorize's SSCD option) also search a learned feature space. The bundled
MiniLM embeds text only, so memlens trains its own instrument: two convolutions and a 64-feature
layer, trained as a classifier on all images (not the audited model; seeded from the run seed's
``generative:encoder`` stream), whose L2-normalized penultimate layer is the feature space that
:func:`~memlens.generative.replication.feature_space_replication` searches.
"""

from __future__ import annotations

import numpy as np

from ..errors import MemlensError


class ImageEncoder:
    """``fit(pixels, labels)`` then ``encoder(pixels) → (b, features)``; pixels uint8, one row per image."""

    def __init__(self, image_shape, *, features: int = 64, steps: int = 1000, batch_size: int = 128,
                 lr: float = 2e-3, seed: int = 0):
        if image_shape is None or len(image_shape) != 2:
            raise MemlensError(f"The feature space needs 2-D grey-scale images; got image shape {image_shape}.")
        self.image_shape, self.features, self.steps = tuple(int(v) for v in image_shape), features, steps
        self.batch_size, self.lr, self.seed = batch_size, lr, seed
        self.accuracy: float | None = None  # training accuracy: how much class structure it learned

    def _network(self, n_classes: int):
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(128, self.features), nn.ReLU(),
        )
        return body, nn.Linear(self.features, n_classes)

    def _tensor(self, pixels):
        import torch

        pixels = np.asarray(pixels)
        if pixels.ndim != 2 or pixels.shape[1] != int(np.prod(self.image_shape)):
            raise MemlensError(
                f"The encoder takes rows of {int(np.prod(self.image_shape))} pixels ({self.image_shape}); "
                f"got shape {pixels.shape}."
            )
        return torch.from_numpy(pixels.astype(np.float32) / 255.0).reshape(-1, 1, *self.image_shape)

    def fit(self, pixels, labels) -> ImageEncoder:
        """Train the classifier on uint8 ``pixels`` (N, H·W) and class ``labels`` (N,)."""
        import torch

        if labels is None:
            raise MemlensError("The feature space is learned from class labels; this dataset has none.")
        x, y = self._tensor(pixels), torch.from_numpy(np.asarray(labels, dtype=np.int64))
        self.body, head = self._network(int(y.max()) + 1)
        params = [*self.body.parameters(), *head.parameters()]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        g = torch.Generator().manual_seed(self.seed)
        done = 0
        while done < self.steps:  # whole shuffled epochs until `steps` mini-batches
            for batch in torch.randperm(len(x), generator=g).split(self.batch_size):
                done += 1
                loss = torch.nn.functional.cross_entropy(head(self.body(x[batch])), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            self.accuracy = float((head(self.body(x)).argmax(1) == y).float().mean())
        return self

    def __call__(self, pixels) -> np.ndarray:
        import torch

        if not hasattr(self, "body"):
            raise MemlensError("Fit the encoder (ImageEncoder.fit) before encoding images.")
        with torch.no_grad():
            f = self.body(self._tensor(pixels))
            return torch.nn.functional.normalize(f, dim=1).numpy().astype(np.float64)
