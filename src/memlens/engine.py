"""The one orchestration: design → train → observe → store, for every modality.

:func:`run_design` trains one model per row of a membership design, observes every model on every
example, and stores the observations in a run directory, shard by shard. It owns what every
modality shares — the run's configuration, create-or-resume, the named seed streams
(:mod:`memlens.seeds`), sharding, progress and finalize — and knows nothing of what is trained or
observed. A modality brings two things:

* a **dataset** whose examples are addressed by id ``0 … N-1`` (arrays, token sequences, images):
  anything with ``n_examples`` or ``len()``, described for the run's configuration by
  ``summary()`` and ``fingerprint()`` or by the ``describe`` argument;
* a **trainer** (:class:`memlens.train.base.Trainer`): ``config()`` (what changes the models) and
  ``fit_observe(dataset, membership_rows, seeds, progress)`` returning **named observation
  arrays**, axis 0 = those models, axis 1 = the N examples (``(m, N)`` or ``(m, N, …)``).

Estimates are the caller's: :func:`memlens.audit` passes ``finish`` to write the classifier
estimates (:mod:`memlens.classifier_estimates`); ``memlens lm audit`` reads counterfactual
memorization off the stored arrays. Neither writes the report page; the CLI does.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable

import numpy as np

from memlens import faults
from memlens import seeds as seed_streams
from memlens.design import Design
from memlens.errors import MemlensError
from memlens.executors import Executor, InProcess
from memlens.store import RunStore


def n_examples(dataset) -> int:
    """How many examples ``dataset`` addresses (``n_examples``, else ``len``)."""
    n = getattr(dataset, "n_examples", None)
    if n is None:
        try:
            n = len(dataset)
        except TypeError:
            raise MemlensError(
                f"A {type(dataset).__name__} cannot be audited: the engine needs a dataset whose examples "
                "are addressed by id 0 … N-1 (give it n_examples or __len__)."
            ) from None
    return int(n)


def fingerprint(examples) -> str:
    """SHA-256 of a sequence of examples (arrays or strings), in order, shapes and dtypes included:
    a dataset's ``fingerprint`` for the run's configuration when it has none of its own."""
    import hashlib

    h = hashlib.sha256()
    for example in examples:
        if isinstance(example, str):
            data, head = example.encode("utf-8"), b"str"
        else:
            array = np.ascontiguousarray(example)
            data, head = array.tobytes(), f"{array.dtype}{array.shape}".encode()
        for part in (head, data):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return h.hexdigest()


def describe_dataset(dataset) -> dict:
    """The dataset's part of the run configuration: its ``summary()`` and ``fingerprint()``."""
    if not (
        callable(getattr(dataset, "summary", None))
        and callable(getattr(dataset, "fingerprint", None))
    ):
        raise MemlensError(
            f"run_design cannot describe a {type(dataset).__name__} for the run's configuration: give it "
            "summary() and fingerprint() methods, or pass describe={'name': …, 'fingerprint': …} "
            "(the fingerprint must change whenever the examples do, so a run refuses other data)."
        )
    return {**dataset.summary(), "fingerprint": dataset.fingerprint()}


def run_design(
    dataset,
    design: Design,
    trainer,
    out,
    *,
    seed: int = 0,
    shard_size: int | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    describe: dict | None = None,
    description: str | None = None,
    finish: Callable[[RunStore], None] | None = None,
) -> RunStore:
    """Train and observe one model per design row into the run directory ``out``; return its store.

    Re-running the same call on a half-finished ``out`` resumes from its last finished shard and
    ends with the same arrays (model *m* is seeded by child *m* of the run seed's ``models``
    stream, whatever shard or machine trains it); a directory made with other data, design, mask,
    trainer or seed is refused, naming what differs. Everything is checked before ``out`` is
    touched.

    Args:
        dataset: The examples, addressed by id (see the module docstring).
        design: Which examples each model trains on.
        trainer: Has ``config()`` and ``fit_observe``; optionally ``units_per_model`` (progress
            ticks per model), ``resolve_device()`` and ``resolve_precision(stored)``.
        out: The run directory.
        seed: The run's seed; every random stream is a named child of it (:mod:`memlens.seeds`).
        shard_size: Models trained together and saved as one resumable shard (default 8; 32 for
            trainers that report several progress units per model).
        executor: Runs the shards (default: in this process, one after another).
        progress: Show a progress bar (a line every few seconds in a log).
        describe: The dataset's record in the configuration, when it has no ``summary()`` /
            ``fingerprint()``; must hold a fingerprint of its contents.
        description: What the progress bar counts (default ``"M models"``).
        finish: Called with the finalized store while the run's lock is still held — for writing
            estimates through the store.

    Returns:
        The finished :class:`~memlens.store.RunStore` (its lock released).

    Example:
        >>> import memlens as ml
        >>> from memlens.engine import run_design
        >>> data = ml.data.load("digits:120")
        >>> store = run_design(data, ml.design.halves(4, 120), ml.train.Ensemble("linear", epochs=2),
        ...                    "/tmp/memlens-doctest-engine", progress=False)  # doctest: +SKIP
        >>> store.observation("correct").shape                                  # doctest: +SKIP
        (4, 120)
    """
    n = n_examples(dataset)
    if design.n_examples != n:
        raise MemlensError(f"The design covers {design.n_examples} examples, the data has {n}.")
    if shard_size is not None and (
        isinstance(shard_size, bool)
        or not isinstance(shard_size, int | np.integer)
        or shard_size < 1
    ):
        raise MemlensError(f"shard_size must be a whole number of at least 1; got {shard_size!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MemlensError(f"The run's seed must be a whole number >= 0; got {seed!r}.")
    design.check_every_model_trains()  # all checks before the run directory is touched
    if hasattr(trainer, "resolve_device"):
        trainer.resolve_device()  # --device cuda without a GPU is refused here, not after
    units = getattr(trainer, "units_per_model", 1)
    shard_size = int(shard_size or (32 if units > 1 else 8))
    config = {
        "dataset": describe if describe is not None else describe_dataset(dataset),
        "design": design.to_dict(),
        "trainer": trainer.config(),
        "seed": int(seed),
        "shard_size": shard_size,
    }
    executor = executor or InProcess()
    if hasattr(executor, "connect"):
        executor.connect()  # an address that does not answer is refused before anything is written
    store = RunStore.create_or_resume(out, config, design.membership)  # takes the run's lock
    try:
        pending = store.pending_shards(shard_size)
        if pending:
            _train(store, dataset, n, design, trainer, seed, pending, executor,
                   progress, description or f"{design.n_models} models")  # fmt: skip
        store.finalize()
        if finish is not None:
            finish(store)
    finally:
        store.release()
        if hasattr(executor, "shutdown"):
            executor.shutdown()
    return store


def _train(
    store, dataset, n, design, trainer, seed, pending, executor, show_progress, description
) -> None:
    from memlens.progress import track

    _settle_precision(store, trainer)
    if hasattr(trainer, "resolve_device"):  # where this session trains: recorded, not identity
        from memlens.train import device

        device.record(store, trainer.resolve_device())
    model_seeds = seed_streams.model_seeds(seed, design.n_models)  # spawn_key[-1] == model index
    units = getattr(trainer, "units_per_model", 1)
    total = design.n_models * units
    done = (design.n_models - sum(stop - start for _, start, stop in pending)) * units
    with track(total, completed=done, ticks_per_unit=units, description=description,
               enabled=show_progress) as advance:  # fmt: skip
        remote = getattr(executor, "remote", False)
        shard = _Shard(trainer, dataset, design.membership, model_seeds, n)
        # a remote shard reports when it ends: the driver's progress bar does not travel with it
        train_shard = shard if remote else functools.partial(shard, progress=advance)
        for (index, start, stop), observations, seconds in executor.map(train_shard, pending):
            retries = getattr(observations, "retries", None)  # out-of-memory retries (faults.ShardResult)
            store.write_shard(index, start, stop, observations, seconds, retries=retries)
            if remote:
                advance((stop - start) * units)


class _Shard:
    """Trains and observes models [start, stop) of a design: what an executor runs, picklable
    (trainer, data, membership and seeds only) so a remote executor can ship it."""

    def __init__(self, trainer, dataset, membership, model_seeds, n: int):
        self.trainer, self.dataset, self.membership, self.model_seeds, self.n = trainer, dataset, membership, model_seeds, n

    def __call__(self, start: int, stop: int, progress=None) -> dict:
        """Observations of models [start, stop).

        Out of memory once every model has reported its training done (so while observing), the
        shard is trained again with half the observation batch, up to ``faults.OBSERVATION_RETRIES``
        times: that batch changes what is held at once, not what is trained. Any other
        out-of-memory ends as :class:`~memlens.faults.ShardOutOfMemory`, naming the models and the
        allocation that failed. Retries travel with the result (``ShardResult.retries``).
        """
        trainer, retries, reported = self.trainer, [], 0
        units = (stop - start) * getattr(self.trainer, "units_per_model", 1)
        while True:
            ticks = _Ticks(progress, already=reported)
            try:
                rows, seeds = self.membership[start:stop], self.model_seeds[start:stop]
                observed = trainer.fit_observe(self.dataset, rows, seeds, progress=ticks)
                break
            except Exception as e:
                if not faults.is_out_of_memory(e):
                    raise
                reported = max(reported, ticks.count)
                observing = ticks.count >= units  # every model had finished training
                smaller = faults.halved_eval_batch(trainer) if observing else None
                if smaller is None or len(retries) >= faults.OBSERVATION_RETRIES:
                    tried = [r["eval_batch"] for r in retries] + [getattr(trainer, "eval_batch", None)]
                    batches = tuple(b for b in tried if b is not None) if observing else ()
                    raise faults.ShardOutOfMemory(
                        start, stop, observing=observing, needed=faults.requested_bytes(e),
                        detail=f"{type(e).__name__}: {faults.first_line(e)}", peak=faults.peak_rss_bytes(),
                        eval_batches=batches,
                    ) from None  # fmt: skip
                retries.append({
                    "models": [start, stop], "eval_batch": trainer.eval_batch, "retried_with": smaller.eval_batch,
                    "needed_bytes": faults.requested_bytes(e), "error": f"{type(e).__name__}: {faults.first_line(e)}",
                })  # fmt: skip
                trainer = smaller
            gc.collect()  # the failed attempt's tensors, held by its traceback until now
        observed = check_observations(observed, stop - start, self.n, self.trainer)
        return faults.ShardResult(observed, retries) if retries else observed


class _Ticks:
    """A trainer's progress callback that counts the units reported, passing on only those beyond
    ``already`` (a retried shard does not advance the bar twice)."""

    def __init__(self, progress, already: int = 0):
        self.progress, self.already, self.count = progress, already, 0

    def __call__(self, units: int) -> None:
        before, self.count = self.count, self.count + units
        fresh = self.count - max(before, self.already)
        if self.progress is not None and fresh > 0:
            self.progress(fresh)


def check_observations(observed, n_models: int, n: int, trainer=None) -> dict:
    """Refuse a trainer's output that is not named arrays of (models, examples[, …])."""
    who = type(trainer).__name__ if trainer is not None else "the trainer"
    if not isinstance(observed, dict) or not observed:
        raise MemlensError(
            f"{who}.fit_observe must return a non-empty dict of named arrays; got {type(observed).__name__}."
        )
    for name, array in observed.items():
        shape = np.shape(array)
        if not isinstance(name, str) or not name.isidentifier():
            raise MemlensError(
                f"{who} returned an observation named {name!r}; names must be identifiers."
            )
        if (
            len(shape) < 2
            or shape[0] != n_models
            or (shape[1] != n and not name.startswith(("test_", "sample_")))
        ):
            raise MemlensError(
                f"{who} returned observation '{name}' of shape {shape}; it must be ({n_models}, {n}[, …]): "
                "axis 0 the models of the shard, axis 1 every example (test_* arrays: the test examples; "
                "sample_* arrays: what each model generated)."
            )
    return observed


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
