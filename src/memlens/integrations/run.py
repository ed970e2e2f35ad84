"""A run whose models are trained by the user's own script, one model per invocation.

:func:`prepare` lays out the run directory from a dataset and a design without training; each
invocation of the user's script asks :func:`subset_for` which examples model *i* trains on and
:func:`seed_for` for its seed, and a callback (:mod:`memlens.integrations.hf`,
:mod:`memlens.integrations.lightning`) writes the model's observations with :func:`contribute`
as shard *i* (one model per shard). The M invocations may run one after another, side by side
in a job array, or on other machines sharing the directory: each takes the run's lock only for
the moment it records its shard, and re-reads the manifest under the lock first, so no process
loses another's record. When the last model is in, the run is assembled (:func:`finalize`):
observations, ``scores.parquet``, ``mia.json`` and, when the models were observed during
training, ``training_curve.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import numpy as np

from memlens.classifier_estimates import EXAMPLES, ExampleTable, save_examples
from memlens.errors import MemlensError, RunStoreError
from memlens.runlock import RunLockedError
from memlens.store import RunStore

#: membership inference at each evaluation, written by :func:`finalize`
CURVE = "training_curve.json"
#: the shard arrays every model must provide, each (1, N)
REQUIRED = ("correct", "loss", "confidence")
#: how long a process waits for another to finish writing before it gives up (seconds)
WAIT_S = 600.0


def labels_digest(labels) -> str:
    """SHA-256 of the labels as int64: how a callback checks its audit set is the run's data."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def is_external(manifest: dict) -> bool:
    """Whether a run's models are trained outside memlens (made by :func:`prepare`)."""
    return manifest.get("config", {}).get("trainer", {}).get("trainer") == "external"


def prepare(
    data, design, out, *, seed: int = 0, classes=None, name: str | None = None,
    trainer: dict | None = None, wait: float = WAIT_S,
) -> Path:  # fmt: skip
    """Create the run directory ``out`` for ``design`` on ``data``, without training anything.

    Calling it again with the same arguments (from every job of an array, say) finds the run
    and changes nothing; other data, design, seed or trainer description is refused once a model
    is in.

    Args:
        data: A :class:`memlens.data.Dataset`, or the (N,) integer labels of the user's own
            examples in id order (then ``classes`` and ``name`` describe them).
        design: A :class:`memlens.design.Design` over the N examples.
        out: The run directory.
        seed: The run's seed; :func:`seed_for` derives each model's seed from it.
        classes: Class names for labels given as an array (default ``"0"``, ``"1"``, …).
        name: The dataset's name for labels given as an array (default ``"labels"``).
        trainer: What the user's script trains (e.g. ``{"model": "bert-tiny", "epochs": 3}``),
            recorded in the run's configuration.
        wait: Seconds to wait when another process is writing the run.

    Returns:
        The run directory's path.
    """
    from memlens.data import Dataset
    from memlens.design import Design

    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MemlensError(f"The run's seed must be a whole number >= 0; got {seed!r}.")
    if not isinstance(design, Design):
        raise MemlensError(f"design must be a memlens.design.Design (e.g. ml.design.halves(8, n)); got {type(design).__name__}.")
    if isinstance(data, Dataset):
        if classes is not None or name is not None:
            raise MemlensError("classes and name describe labels given as an array; a Dataset has its own.")
        labels, examples = data.y, data
        dataset = {**data.summary(), "fingerprint": data.fingerprint()}
    else:
        labels = as_labels(data, classes)
        nothing = np.full(len(labels), "", dtype=object)
        examples = ExampleTable(y=labels, original_y=labels, planted=nothing != "", plant_kind=nothing)
        n_classes = len(classes) if classes is not None else int(labels.max()) + 1
        classes = [str(c) for c in (classes if classes is not None else range(n_classes))]
        dataset = {"name": str(name or "labels"), "kind": "labels", "n_examples": len(labels),
                   "n_classes": n_classes, "classes": classes, "plants": [], "n_planted": 0,
                   "fingerprint": hashlib.sha256(labels_digest(labels).encode() + "|".join(classes).encode()).hexdigest()}  # fmt: skip
    if design.n_examples != len(labels):
        raise MemlensError(f"The design covers {design.n_examples} examples, the data has {len(labels)}.")
    design.check_every_model_trains()
    config = {
        "dataset": {**dataset, "labels_sha256": labels_digest(labels)},
        "design": design.to_dict(),
        "trainer": {"trainer": "external", "model": "your own training script", **(trainer or {})},
        "seed": seed,
        "shard_size": 1,
    }
    if _already_prepared(out, config, design.membership):
        return Path(out)  # every job of an array may call this: no lock, no hashing of the shards
    store = _retry(lambda: RunStore.create_or_resume(out, config, design.membership), wait)
    try:
        if EXAMPLES not in store.manifest["files"]:  # what the scores need besides the arrays
            save_examples(store, examples)
    finally:
        store.release()
    return store.path


def _already_prepared(out, config: dict, membership: np.ndarray) -> bool:
    """Whether ``out`` holds this very run, laid out (read without the lock; any doubt is False)."""
    import json

    if not (Path(out) / "run.json").is_file():
        return False
    try:
        store = RunStore.open(out, verify=False)
        same = store.manifest["config"] == json.loads(json.dumps(config))
        return same and EXAMPLES in store.manifest["files"] and np.array_equal(store.membership, membership)
    except (RunStoreError, OSError, ValueError, TypeError):
        return False


def as_labels(labels, classes=None) -> np.ndarray:
    """``labels`` as (N,) int64 class indices in [0, C), or a paragraph on what is wrong."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) < 2:
        raise MemlensError(f"Labels must be a one-dimensional array with one label per example; got shape {labels.shape}.")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise MemlensError(
            f"Labels must be integers 0..C-1; got dtype {labels.dtype}. Encode class names first, "
            "e.g. np.unique(names, return_inverse=True)."
        )
    n_classes = len(classes) if classes is not None else int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= n_classes:
        raise MemlensError(f"Labels must lie in [0, {n_classes}); some lie outside (min {labels.min()}, max {labels.max()}).")
    if n_classes < 2:
        raise MemlensError("The labels hold a single class: membership audits need at least two.")
    return labels.astype(np.int64)


def _open(run) -> RunStore:
    """An external run, opened (and its membership mask checked) for reading."""
    store = RunStore.open(run)
    if not is_external(store.manifest):
        raise MemlensError(
            f"{store.path} was made by `memlens audit`, which trains its own models. Callbacks and "
            "subset_for work on runs made by memlens.integrations.prepare (or `memlens prepare`)."
        )
    return store


def _index(store: RunStore, model_index) -> int:
    n_models = store.manifest["config"]["design"]["n_models"]
    if isinstance(model_index, bool) or not isinstance(model_index, int | np.integer) or not 0 <= model_index < n_models:
        raise MemlensError(f"The model index must be a whole number in 0..{n_models - 1} for {store.path}; got {model_index!r}.")
    return int(model_index)


def subset_for(run, model_index: int, data=None):
    """The examples model ``model_index`` of ``run`` trains on.

    Args:
        run: A run directory made by :func:`prepare`.
        model_index: Which model, 0..M-1.
        data: The run's N examples in id order, or None. A PyTorch dataset gives a
            ``torch.utils.data.Subset``, a Hugging Face ``datasets.Dataset`` its ``select``, a
            list a list, an array or DataFrame its rows.

    Returns:
        The sorted (n_i,) example ids when ``data`` is None, else those examples of ``data``.
    """
    store = _open(run)
    i = _index(store, model_index)
    ids = np.flatnonzero(np.asarray(store.membership[i]))
    if data is None:
        return ids
    n_examples = store.membership.shape[1]
    if len(data) != n_examples:
        raise MemlensError(
            f"The data has {len(data)} examples but {store.path} was prepared for {n_examples}: pass "
            "the run's whole dataset, in the order given to prepare."
        )
    if hasattr(data, "select") and callable(data.select):  # a Hugging Face datasets.Dataset
        return data.select(ids.tolist())
    if hasattr(data, "iloc"):  # pandas
        return data.iloc[ids]
    if isinstance(data, np.ndarray):
        return data[ids]
    if isinstance(data, list | tuple):
        return [data[j] for j in ids]
    from torch.utils.data import Subset

    return Subset(data, ids.tolist())


def seed_for(run, model_index: int) -> int:
    """Model ``model_index``'s seed, an integer in [0, 2**32) derived from the run's seed.

    The same per-model seed stream as memlens's own trainers (:func:`memlens.train.model_seeds`):
    seed the model's initialisation and data order with it (``transformers.set_seed``,
    ``lightning.seed_everything``) and re-running model *i* reproduces it.
    """
    from memlens.train import model_seeds

    store = _open(run)
    i = _index(store, model_index)
    config = store.manifest["config"]
    seed = model_seeds(config["seed"], config["design"]["n_models"])[i]
    return int(seed.generate_state(1, dtype=np.uint32)[0])


@contextlib.contextmanager
def _writing(run, wait: float):
    """The run, locked for a write, with its manifest read under the lock.

    Another process may have recorded a shard since this one last read ``run.json``; writing
    from the old copy would erase that record. While another process holds the lock this one
    waits (up to ``wait`` seconds), since each holds it only for a moment.
    """
    with contextlib.ExitStack() as stack:
        store = _retry(lambda: _locked(stack, run), wait)
        yield store


def _locked(stack: contextlib.ExitStack, run) -> RunStore:
    store = _open(run)
    stack.enter_context(store.writing())
    store.manifest = RunStore.open(store.path, verify=False).manifest  # the latest, under the lock
    return store


def _retry(attempt, wait: float):
    """``attempt()``, again after a pause while the run is locked by another process."""
    deadline, pause = time.monotonic() + wait, 0.02
    while True:
        try:
            return attempt()
        except RunLockedError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def contribute(
    run, model_index: int, observations: dict, *, seconds: float, device: dict | None = None,
    replace: bool = False, finalize: bool = True, wait: float = WAIT_S,
) -> bool:  # fmt: skip
    """Record model ``model_index``'s observations as its shard of ``run``.

    Safe while other processes contribute other models: the lock is held only while this shard
    is written and recorded, and the manifest is re-read under it.

    Args:
        observations: Arrays with axis 0 = this one model: at least ``correct``, ``loss``,
            ``confidence`` of shape (1, N); every model of a run must give the same names and
            shapes (the same evaluations).
        seconds: How long the model took to train.
        device: Where it trained (:func:`memlens.train.device.resolve`'s dict), recorded in the run.
        replace: Overwrite the model's shard if it is already in.
        finalize: Assemble the run when this is its last missing model.

    Returns:
        True when this contribution completed and assembled the run.
    """
    observations = {k: np.asarray(v) for k, v in observations.items()}
    _check_observations(observations)
    with _writing(run, wait) as store:
        i = _index(store, model_index)
        n_examples = store.manifest["config"]["dataset"]["n_examples"]
        if observations["loss"].shape != (1, n_examples):
            raise MemlensError(
                f"Model {i}'s observations cover {observations['loss'].shape[1]} examples, but "
                f"{store.path} has {n_examples}: observe the model on the run's whole dataset."
            )
        check_slot(store, i, replace=replace)
        _check_layout(store, i, observations)
        store.write_shard(i, i, i + 1, observations, seconds)
        if device is not None:
            from memlens.train import device as devices

            devices.record(store, device)
        if finalize and not store.pending_shards(1):
            _finalize_locked(store)
            return True
    return False


def check_slot(store: RunStore, i: int, *, replace: bool) -> None:
    """Refuse to write model ``i`` of a finished run, or over a recorded model unless ``replace``."""
    if store.complete:
        raise MemlensError(
            f"{store.path} is finalized: all its models are in, so model {i}'s observations were "
            "not recorded. Prepare a new run (another directory) to train them again."
        )
    if str(i) in store.manifest["shards"] and not replace:
        raise MemlensError(
            f"Model {i} of {store.path} is already recorded (by an earlier run of the training "
            f"script), so it was not trained again. Pass replace=True to the callback to overwrite "
            f"it, or run the script for a missing model; `memlens finalize {store.path}` lists them."
        )


def _check_observations(observations: dict) -> None:
    missing = [k for k in REQUIRED if k not in observations]
    if missing:
        raise MemlensError(f"Observations lack {', '.join(missing)}; a model must give {', '.join(REQUIRED)}.")
    for name, value in observations.items():
        if value.ndim < 2 or value.shape[0] != 1:
            raise MemlensError(f"Observation '{name}' must have one row (axis 0 = this model); got shape {value.shape}.")
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            raise MemlensError(
                f"Observation '{name}' holds NaN or infinite values: the model diverged or its "
                "outputs overflowed. Lower the learning rate and train the model again."
            )


def _check_layout(store: RunStore, i: int, observations: dict) -> None:
    """Refuse observations whose names or shapes differ from the models already in the run."""
    others = [s for k, s in store.manifest["shards"].items() if k != str(i)]
    if not others:
        return
    with np.load(store.path / others[0]["file"]) as first:
        layout = {k: first[k].shape[1:] for k in first.files}
    mine = {k: v.shape[1:] for k, v in observations.items()}
    if mine == layout:
        return
    j = others[0]["models"][0]
    steps = (mine.get("step_loss", (None,))[0], layout.get("step_loss", (None,))[0])
    detail = (
        f"model {i} was observed at {steps[0]} evaluations and model {j} at {steps[1]}"
        if steps[0] != steps[1]
        else f"model {i} gives {sorted(mine.items())}, model {j} gives {sorted(layout.items())}"
    )
    raise MemlensError(
        f"Model {i}'s observations do not match those of the models already in {store.path}: "
        f"{detail}. Every model must be trained by the same script with the same evaluation "
        "schedule and callback settings."
    )


def finalize(run, *, rescore: bool = False, wait: float = WAIT_S):
    """Assemble a run whose models are all in: observations, scores, attacks and training curve.

    Refuses (naming them) while models are missing. A finalized run is returned as it is, or
    with its estimates recomputed from the stored arrays when ``rescore`` (after damage).

    Returns:
        The finished :class:`memlens.Run`.
    """
    from memlens.audit import Run

    opened = _open(run)
    if opened.complete and not rescore:  # nothing to write: no lock to wait for
        return Run(opened.path, opened)
    with _writing(run, wait) as store:
        if not store.complete:
            _finalize_locked(store)
        elif rescore:
            _estimate_locked(store)
    return Run(store.path, RunStore.open(store.path))


def is_external_run(path) -> bool:
    """Whether ``path`` holds a run made by :func:`prepare` (False for anything else)."""
    try:
        return is_external(RunStore.open(path, verify=False).manifest)
    except RunStoreError:
        return False


def _finalize_locked(store: RunStore) -> None:
    n_models = store.manifest["config"]["design"]["n_models"]
    store.drop_damaged_shards()
    missing = [k for k, _, _ in store.pending_shards(1)]
    if missing:
        shown = ", ".join(map(str, missing[:12])) + (" …" if len(missing) > 12 else "")
        raise RunStoreError(
            f"{store.path} has {n_models - len(missing)} of its {n_models} models; model(s) {shown} "
            "are missing (never trained, or their shard was damaged). Run the training script for "
            f"each of them, then `memlens finalize {store.path}` (the callback of the last model "
            "to finish does this by itself)."
        )
    store.finalize()
    _estimate_locked(store)


def _estimate_locked(store: RunStore) -> None:
    """``scores.parquet``, ``mia.json`` and the training curve from the assembled arrays.

    Labels and plants come from the run's examples table; a bundled or file dataset that still
    loads (and matches the run's fingerprint) also gives the report's gallery its examples.
    """
    from memlens.audit import Run, write_estimates

    run = Run(store.path, store)
    try:
        run.data = run.load_data()
    except Exception:  # labels only, a dataset that moved or changed: the gallery is optional
        run.data = None
    write_estimates(run)
    names = store.observation_names()
    if "step_confidence" in names:
        store.save_json(CURVE, training_curve(store))


def training_curve(store: RunStore) -> dict:
    """``training_curve.json``: membership inference at each evaluation, with when it was."""
    from memlens.estimate.over_training import privacy_over_training

    curve = privacy_over_training(
        np.asarray(store.membership), store.observation("step_confidence"), store.observation("step_loss"),
        n_targets=store.manifest.get("estimates", {}).get("n_targets", 8),
    )  # fmt: skip
    # every model runs the same script, so their evaluations agree; the median guards a straggler
    curve["epoch"] = np.median(store.observation("step_epoch"), axis=0).round(4).tolist()
    curve["step"] = np.median(store.observation("step_global"), axis=0).round(1).tolist()
    return curve
