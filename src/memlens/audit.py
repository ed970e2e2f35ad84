"""The membership experiment end to end: design → train → observe → store → estimate."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens import estimate, faults
from memlens.data import Dataset
from memlens.design import Design
from memlens.errors import MemlensError
from memlens.estimate._blocks import release_pages
from memlens.executors import Executor, InProcess
from memlens.store import RunStore
from memlens.train.base import Trainer, model_seeds
from memlens.train.proxies import OUTPUTS as PROXY_OUTPUTS

#: the observation each attack reads
ATTACKS = {
    "lira-online": "confidence",
    "lira-offline": "confidence",
    "rmia": "confidence",
    "loss": "loss",
}


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

    Re-running the same call on a half-finished ``out`` resumes from its last finished shard and
    ends with the same arrays; a directory made with other data, design, trainer or seed is refused.

    Returns:
        The finished :class:`Run`, with ``scores`` (one row per example) and ``mia``.
    """
    if design.n_examples != data.n_examples:
        raise MemlensError(f"The design covers {design.n_examples} examples, the data has {data.n_examples}.")
    for name, value in (("shard_size", shard_size), ("n_targets", n_targets)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise MemlensError(f"{name} must be a whole number of at least 1; got {value!r}.")
    design.check_every_model_trains()  # all checks before the run directory is touched
    if hasattr(trainer, "resolve_device"):
        trainer.resolve_device()  # --device cuda without a GPU is refused here, not after
    shard_size = shard_size or (32 if getattr(trainer, "units_per_model", 1) > 1 else 8)
    config = {
        "dataset": {**data.summary(), "fingerprint": data.fingerprint()},
        "design": design.to_dict(),
        "trainer": trainer.config(),
        "seed": seed,
        "shard_size": shard_size,
    }
    store = RunStore.create_or_resume(out, config, design.membership)  # takes the run's lock
    try:
        seeds = model_seeds(seed, design.n_models)
        pending = store.pending_shards(shard_size)
        if pending:
            _train(store, data, design, trainer, seeds, pending, executor or InProcess(), progress)
        store.finalize()
        run = Run(store.path, store, data)
        write_estimates(run, n_targets=n_targets)
    finally:
        store.release()
    return run


def _train(store, data, design, trainer, seeds, pending, executor, show_progress) -> None:
    from memlens.progress import track

    _settle_precision(store, trainer)
    if hasattr(trainer, "resolve_device"):  # where this session trains: recorded, not identity
        from memlens.train import device

        device.record(store, trainer.resolve_device())
    units = getattr(trainer, "units_per_model", 1)
    total = design.n_models * units
    done = (design.n_models - sum(stop - start for _, start, stop in pending)) * units
    with track(total, completed=done, ticks_per_unit=units, description=f"{design.n_models} models",
               enabled=show_progress) as advance:  # fmt: skip

        def train_shard(start: int, stop: int) -> dict:
            return trainer.fit_observe(data, design.membership[start:stop], seeds[start:stop], progress=advance)

        for (index, start, stop), observations, seconds in executor.map(train_shard, pending):
            store.write_shard(index, start, stop, observations, seconds)


def _settle_precision(store, trainer) -> None:
    """Fix what ``--precision auto`` means for this run before its first model trains.

    The choice (float32 or bfloat16, and why) is recorded in the manifest as ``precision`` when
    the run is created and reused on every resume, on any machine: a run never mixes models
    trained in two precisions. The configuration keeps the request (``auto``), so resuming on
    another CPU is not refused.
    """
    resolve = getattr(trainer, "resolve_precision", None)
    if resolve is None:  # a trainer without a precision (scikit-learn)
        return
    stored = store.manifest.get("precision")
    choice = resolve(stored if isinstance(stored, dict) else None)
    if not isinstance(stored, dict):
        with store.writing():
            store.manifest["precision"] = choice
            store.save_manifest()


def write_estimates(run: Run, *, n_targets: int = 8) -> None:
    """Compute ``scores.parquet`` and ``mia.json`` from the stored arrays (cheap; always redone)."""
    with run.store.writing():
        run.store.save_table("scores.parquet", example_scores(run))
        faults.stage("after-scores")
        run.store.save_json("mia.json", membership_inference(run.membership, run.observations, n_targets=n_targets))
        run.store.manifest["estimates"] = {"n_targets": n_targets}
        run.store.save_manifest()
    run.__dict__.pop("scores", None)
    run.__dict__.pop("mia", None)


def example_scores(run: Run):
    """One row per training example: Feldman–Zhang memorization with its evidence, and plants."""
    import pandas as pd

    membership = np.asarray(run.membership)
    correct = run.observations["correct"]
    confidence = run.observations["confidence"]
    mem = estimate.memorization_scores(membership, correct)
    conf = estimate.memorization_scores(membership, confidence)
    data = run.data
    frame = pd.DataFrame(
        {
            "id": np.arange(membership.shape[1]),
            "label": data.y,
            "original_label": data.original_y,
            "memorization": mem.memorization,
            "memorization_stderr": mem.stderr,
            "in_count": mem.in_count,
            "out_count": mem.out_count,
            "accuracy_in": mem.mean_in,
            "accuracy_out": mem.mean_out,
            "confidence_in": conf.mean_in,
            "confidence_out": conf.mean_out,
            "planted": data.planted,
            "plant": data.plant_kind.astype(str),
        }
    )
    for name in (n for outputs in PROXY_OUTPUTS.values() for n in outputs):
        if name in run.observations:  # a one-model proxy: its mean over the models trained on it
            frame[name] = estimate.memorization_scores(membership, run.observations[name]).mean_in
    if "probabilities" in run.observations:
        probs = run.observations["probabilities"]  # (M, N, C) float16, memory-mapped
        for side, mask in (("in", membership), ("out", ~membership)):
            # class with the highest mean probability over the models on this side, computed in
            # blocks of examples so a 1000 × 60,000 run never holds its probabilities in float32,
            # and letting go of each block's file pages (1.2 GB mapped at that size)
            predicted = np.empty(membership.shape[1], dtype=np.int64)
            for start in range(0, len(predicted), 2048):
                block = slice(start, start + 2048)
                summed = np.einsum("mn,mnc->nc", mask[:, block].astype(np.float32), probs[:, block], dtype=np.float32)
                predicted[block] = summed.argmax(axis=1)
                release_pages(probs, membership)
            frame[f"predicted_{side}"] = np.where(mask.any(axis=0), predicted, -1)
    return frame


def membership_inference(membership, observations, *, n_targets: int = 8, seed: int = 0) -> dict:
    """Each attack with several models in turn as the target and the rest as its shadows.

    TPR intervals hold despite the pooling: with several targets every example is scored under each
    of them and the targets share shadows, so the interval is a bootstrap over examples and targets
    (``estimate.intervals``, seeded by ``seed``); with one target, the exact binomial one. Built-in
    attacks read the memory-mapped observations a block of examples at a time.
    """
    membership = np.asarray(membership)
    n_models = membership.shape[0]
    if n_models < 3:
        return {"attacks": {}, "note": f"Membership inference needs at least 3 models; this run has {n_models}."}
    targets = list(range(min(n_targets, n_models)))
    n_shadows = n_models - 1
    # LiRA's advice: per-example variances need many shadows; below 64, pool one global variance
    fix_variance = n_shadows < 64
    attacks = {
        "lira-online": functools.partial(estimate.lira_online, fix_variance=fix_variance),
        "lira-offline": functools.partial(estimate.lira_offline, fix_variance=fix_variance),
        "rmia": estimate.rmia_offline_attack,
        "loss": functools.partial(estimate.loss_threshold_attack, observation="loss"),
    }
    intervals = (
        "exact binomial (Clopper–Pearson) on the target's members"
        if len(targets) == 1
        else f"bootstrap over examples and the {len(targets)} targets together (200 replicates, the "
        "threshold re-chosen in each), because every example is scored under every target and the "
        "targets share shadow models"
    )
    result = {
        "targets": targets,
        "n_shadows": n_shadows,
        "fix_variance": fix_variance,
        "protocol": "each target model in turn; all other models are its shadows; "
        "scores and membership pooled over targets",
        "intervals": f"95% intervals: {intervals}",
        "attacks": {},
    }
    for name, attack in attacks.items():
        obs = np.asarray(observations[ATTACKS[name]])  # a view: memory-mapped stays memory-mapped
        labels, scores = estimate.attack_in_turn_per_target(membership, obs, attack, targets=targets)  # (T, N)
        scored = ~np.isnan(scores)
        if labels[scored].all() or not labels[scored].any():
            result["attacks"][name] = {"note": "not applicable: the design gives no members or no non-members"}
            continue
        metrics = estimate.attack_summary(labels, scores, seed=seed)
        fpr, tpr, _ = estimate.roc_curve(labels[scored], scores[scored])
        metrics["roc"] = _roc_on_log_grid(fpr, tpr, n_nonmembers=metrics["n_nonmembers"])
        result["attacks"][name] = metrics
    return result


def _roc_on_log_grid(fpr: np.ndarray, tpr: np.ndarray, *, n_nonmembers: int, points: int = 120) -> dict:
    """The ROC curve at log-spaced FPRs (enough to draw it on log–log axes, small enough for JSON)."""
    smallest = max(1.0 / max(n_nonmembers, 1), 1e-6)  # one false positive: the finest FPR there is
    grid = np.unique(np.concatenate([np.geomspace(smallest, 1.0, points), [1.0]]))
    # largest TPR reached at an FPR not above each grid point (the curve is a staircase)
    at = np.searchsorted(fpr, grid, side="right") - 1
    return {"fpr": np.round(grid, 8).tolist(), "tpr": np.round(tpr[np.clip(at, 0, None)], 6).tolist()}


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

    def rescore(self) -> None:
        """Recompute ``scores.parquet`` and ``mia.json`` from the stored arrays (after damage)."""
        self.load_data()
        write_estimates(self, n_targets=self.store.manifest.get("estimates", {}).get("n_targets", 8))

    @property
    def config(self) -> dict:
        return self.store.manifest["config"]

    def load_data(self) -> Dataset:
        """Reload the run's dataset (with its plants) and check it is the data the run used."""
        from memlens.data import load, parse_plant
        from memlens.errors import RunStoreError

        if self.data is None:
            cfg = self.config["dataset"]
            data = load(cfg["name"], label_column=cfg.get("label_column"))
            for spec in cfg["plants"]:
                data = data.plant(parse_plant(spec, seed=self.config["seed"]))
            if data.fingerprint() != cfg["fingerprint"]:
                raise RunStoreError(
                    f"The dataset '{cfg['name']}' no longer matches the one {self.path} was trained "
                    "on (its fingerprint differs): the file or package changed since the audit."
                )
            self.data = data
        return self.data
