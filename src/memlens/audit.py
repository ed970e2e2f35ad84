"""The classifier audit: the engine (:mod:`memlens.engine`) plus the classifier estimates.

:func:`audit` is :func:`memlens.engine.run_design` followed by
:func:`memlens.classifier_estimates.write_estimates`; :class:`Run` opens a finished run
directory. The estimates' names (``write_estimates``, ``example_scores``,
``membership_inference``, ``ATTACKS``) are importable from here too.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens.classifier_estimates import (  # noqa: F401  (public names of memlens.audit, kept)
    ATTACKS,
    EXAMPLES,
    GALLERY,
    ExampleTable,
    example_scores,
    membership_inference,
    write_estimates,
)
from memlens.data import Dataset
from memlens.design import Design
from memlens.engine import _settle_precision, run_design  # noqa: F401
from memlens.errors import MemlensError
from memlens.executors import Executor
from memlens.store import RunStore
from memlens.train.base import Trainer


def audit(
    data: Dataset,
    design: Design,
    trainer: Trainer,
    out,
    *,
    seed: int = 0,
    shard_size: int | None = None,
    executor: Executor | None = None,
    n_targets: int = 8,
    progress: bool = True,
) -> Run:
    """Train one model per design row, observe all of them, estimate, and write ``out``.

    The engine (:func:`memlens.engine.run_design`) trains and stores; this adds the classifier
    estimates (:mod:`memlens.classifier_estimates`): ``scores.parquet``, ``mia.json``, the run's
    examples table and the gallery of the most memorized examples, so that the report and
    ``--rescore`` read only the run directory.

    Re-running the same call on a half-finished ``out`` resumes from its last finished shard and
    ends with the same arrays; a directory made with other data, design, trainer or seed is refused.

    Returns:
        The finished :class:`Run`, with ``scores`` (one row per example) and ``mia``.
    """
    if n_targets is not None and (
        isinstance(n_targets, bool) or not isinstance(n_targets, int | np.integer) or n_targets < 1
    ):
        raise MemlensError(f"n_targets must be a whole number of at least 1; got {n_targets!r}.")
    if design.n_models < 2:  # refused before anything is trained or written
        raise MemlensError(
            f"A memorization audit compares models trained with an example against models trained without "
            f"it, so it needs at least 2 models; design '{design.spec}' has {design.n_models}. Use --models 2 "
            "or more (64 for LiRA at low false-positive rates)."
        )
    finished: list[Run] = []

    def estimate(store: RunStore) -> None:
        run = Run(store.path, store, data)
        write_estimates(run, n_targets=n_targets)
        privacy = trainer.privacy_accounting(store.membership) if hasattr(trainer, "privacy_accounting") else None
        if privacy is not None:  # DP-SGD (memlens.train.dp): the accountant's ε beside the audit's
            store.save_json("privacy.json", privacy)
        finished.append(run)

    if hasattr(trainer, "privacy_accounting"):  # DP-SGD: unfit layers, δ, an unreachable ε — refused before out exists
        trainer.check_privacy(data, design.membership)
    run_design(data, design, trainer, out, seed=seed, shard_size=shard_size, executor=executor,
               progress=progress, finish=estimate)  # fmt: skip
    return finished[0]


class _LazyObservations(Mapping):
    def __init__(self, store: RunStore):
        self.store, self.names, self.loaded = store, store.observation_names(), {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(name)
        if name not in self.loaded:
            self.loaded[name] = self.store.observation(name)
        return self.loaded[name]

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Run:
    """A finished run: arrays memory-mapped from the run directory, tables loaded on first use."""

    path: Path
    store: RunStore
    data: Dataset | None = None
    _observations: Mapping | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path) -> Run:
        return cls(Path(path), RunStore.open(path))

    @property
    def membership(self) -> np.ndarray:
        return self.store.membership

    @property
    def observations(self) -> Mapping[str, np.ndarray]:
        """Observation arrays by name, each memory-mapped (and checksum-verified) on first access."""
        if self._observations is None:
            self._observations = _LazyObservations(self.store)
        return self._observations

    @functools.cached_property
    def scores(self):
        return self.store.read_table("scores.parquet")

    @functools.cached_property
    def mia(self) -> dict:
        return self.store.read_json("mia.json")

    @property
    def examples(self):
        """Labels and plants per example (y, original_y, planted, plant_kind, each (N,)).

        From the run's own ``examples.parquet``; from ``data`` for a run written before it existed.
        """
        if EXAMPLES in self.store.manifest.get("files", {}):
            return ExampleTable.from_frame(self.store.read_table(EXAMPLES))
        return self.data if self.data is not None else self.load_data()

    def rescore(self) -> None:
        """Recompute ``scores.parquet`` and ``mia.json`` from the stored arrays (after damage).

        Reads only the run directory (its arrays and ``examples.parquet``), so it works for runs
        whose dataset is gone or never existed (``memlens import``).
        """
        n_targets = self.store.manifest.get("estimates", {}).get("n_targets", 8)
        if self.data is None:
            self.data = self.examples
        if "correct" not in self.observations and "loss" in self.observations:  # imported losses
            from memlens.importing import write_loss_estimates

            write_loss_estimates(self, n_targets=n_targets)
        else:
            write_estimates(self, n_targets=n_targets)

    @property
    def config(self) -> dict:
        return self.store.manifest["config"]

    def load_data(self) -> Dataset:
        """Reload the run's dataset (with its plants) and check it is the data the run used."""
        from memlens.data import load, parse_plant
        from memlens.errors import RunStoreError

        if self.data is None or not isinstance(self.data, Dataset):
            cfg = self.config["dataset"]
            data = load(cfg["name"], label_column=cfg.get("label_column"))
            # each plant replays with the seed it recorded (runs before plant_seeds: the run's seed)
            plant_seeds = cfg.get("plant_seeds") or [self.config["seed"]] * len(cfg["plants"])
            for spec, plant_seed in zip(cfg["plants"], plant_seeds, strict=True):
                data = data.plant(parse_plant(spec, seed=plant_seed))
            if data.fingerprint() != cfg["fingerprint"]:
                raise RunStoreError(
                    f"The dataset '{cfg['name']}' no longer matches the one {self.path} was trained "
                    "on (its fingerprint differs): the file or package changed since the audit."
                )
            self.data = data
        return self.data
