"""The trainer protocol and per-model seeding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from memlens.data import Dataset

Progress = Callable[[int], None]


class Trainer(Protocol):
    """Trains one model per membership row and observes every model on every example."""

    #: progress units a single model reports (e.g. its epochs), for progress bars and ETAs
    units_per_model: int

    def config(self) -> dict:
        """Everything that changes the trained models, recorded in the run manifest."""

    def fit_observe(
        self,
        data: Dataset,
        membership: np.ndarray,
        seeds: list[np.random.SeedSequence],
        progress: Progress | None = None,
    ) -> dict[str, np.ndarray]:
        """Train ``len(membership)`` models and return observations.

        Returns named arrays with axis 0 = these models: ``correct``, ``loss``, ``confidence``
        (m, N), ``probabilities`` (m, N, C), and ``test_correct`` etc. (m, N_test) when the data
        has a test set.
        """


def model_seeds(seed: int, n_models: int) -> list[np.random.SeedSequence]:
    """One independent seed per model: :func:`memlens.seeds.model_seeds` (``spawn_key == (m,)``)."""
    from memlens import seeds

    return seeds.model_seeds(seed, n_models)
