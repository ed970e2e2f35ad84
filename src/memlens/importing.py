"""Bring your own predictions: a run directory from arrays computed anywhere.

:func:`import_predictions` takes the membership mask (M models × N examples) of models trained
elsewhere, their outputs on every example — logits or class probabilities (M, N, C), or only
per-example losses (M, N) — and the labels (N,), checks them, and writes a normal run directory
(``membership.npy``, ``observations/``, ``scores.parquet``, ``mia.json``) through the same store
as an audit, after which every estimator, ``memlens show`` and ``memlens report`` work on it.

With logits or probabilities the observations are those of any audit (``correct``, ``loss``,
``confidence``, ``probabilities``) and every attack runs. With losses only, a model's
logit-scaled confidence φ cannot be recovered: the loss need not be softmax cross-entropy, and a
cross-entropy stored in float32 rounds to 0 once a model is confident (margin ≳ 17), where φ is
largest. Such a run stores ``loss`` alone, and:

* memorization is the Feldman–Zhang difference on exp(−loss) — the true-class probability when
  the loss is cross-entropy — in place of correctness (the ``probability_in``/``_out`` columns);
* the attacks are the loss attack and LiRA (online and offline) on −loss, a monotone stand-in for
  φ (``mia.json`` says so per attack); RMIA, which needs class probabilities, is not run.

Inputs may be ``.npy``, ``.npz`` (one array, or one named after what it holds) or Parquet long
tables (:func:`read_array`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from memlens.errors import MemlensError

#: what each kind of prediction is, for messages
KINDS = {"logits": "logits", "probabilities": "class probabilities", "losses": "per-example losses"}
#: names an .npz may give each input
NPZ_KEYS = {
    "--membership": ("membership", "mask", "keep"),
    "--logits": ("logits",),
    "--probs": ("probs", "probabilities"),
    "--losses": ("losses", "loss"),
    "--labels": ("labels", "y"),
}
LOSS_ONLY_NOTE = (
    "Imported losses only: the logit-scaled confidence cannot be recovered from a loss, so LiRA "
    "(online and offline) ran on -loss instead and RMIA, which needs class probabilities, did not "
    "run; memorization is the Feldman-Zhang difference on exp(-loss), the true-class probability "
    "when the loss is cross-entropy."
)


# --- reading ---------------------------------------------------------------------------------


def read_array(path, *, flag: str, keys: tuple[str, ...] = ()) -> np.ndarray:
    """An array from ``.npy``, ``.npz`` or a Parquet long table, or a one-paragraph error.

    An ``.npz`` holding one array gives it; holding several, the one named in ``keys`` (for
    ``--logits``: ``logits``; see ``NPZ_KEYS``). A Parquet file is a long table: integer columns
    ``model`` and ``id`` (``id`` alone for labels) and the value in the remaining column — one
    number per row, or for logits and probabilities a list column of C numbers (or C numeric
    columns, in order). Every (model, id) pair must appear exactly once.
    """
    path = Path(path)
    keys = keys or NPZ_KEYS.get(flag, ())
    if not path.is_file():
        raise MemlensError(f"No file at {path} ({flag}).")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise MemlensError(
                    f"{path} ({flag}) holds Python objects, not numbers; memlens does not unpickle "
                    "arrays. Save a numeric array (np.save(path, np.asarray(values, dtype=float)))."
                ) from None
            raise MemlensError(f"{path} ({flag}) is not a readable .npy file ({e}).") from None
        except (OSError, EOFError) as e:
            raise MemlensError(f"{path} ({flag}) is not a readable .npy file ({e}).") from None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                chosen = names[0] if len(names) == 1 else next((k for k in keys if k in names), None)
                if chosen is None:
                    raise MemlensError(
                        f"{path} ({flag}) holds the arrays {', '.join(names) or 'none'}; memlens looks "
                        f"for {' or '.join(keys)} (or a file holding a single array)."
                    )
                return archive[chosen]
        except MemlensError:
            raise
        except Exception as e:  # zip, pickle and format errors mean the same to a user
            raise MemlensError(f"{path} ({flag}) is not a readable .npz archive ({type(e).__name__}: {e}).") from None
    if suffix in (".parquet", ".pq"):
        return _from_long_table(path, flag)
    raise MemlensError(
        f"{path} ({flag}): memlens reads .npy, .npz and .parquet files; got a '{suffix or 'no'}' extension."
    )


def _from_long_table(path: Path, flag: str) -> np.ndarray:
    """A dense array from a Parquet table with one row per (model, id) (or per id for labels)."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as e:
        raise MemlensError(f"{path} ({flag}) is not a readable Parquet file ({type(e).__name__}: {e}).") from None
    index_columns = ["id"] if flag == "--labels" else ["model", "id"]
    layout = (
        "a column id and one column of labels"
        if flag == "--labels"
        else "integer columns model and id, one row per (model, example), and the value in one more "
        "column (for logits or probabilities: a list column of C numbers, or C numeric columns)"
    )
    if flag == "--labels" and "id" not in frame.columns and len(frame.columns) == 1:
        return frame.iloc[:, 0].to_numpy()  # one column: labels in id order
    missing = [c for c in index_columns if c not in frame.columns]
    values = [c for c in frame.columns if c not in index_columns]
    if missing or not values:
        raise MemlensError(
            f"{path} ({flag}) has the columns {', '.join(map(str, frame.columns)) or 'none'}; a Parquet "
            f"input needs {layout}."
        )
    if len(frame) == 0:
        raise MemlensError(f"{path} ({flag}) has no rows.")
    index = []
    for column in index_columns:
        ids = frame[column].to_numpy()
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0:
            raise MemlensError(f"{path} ({flag}): column {column} must hold whole numbers >= 0 (it is {ids.dtype}).")
        index.append(ids.astype(np.int64))
    dims = tuple(int(i.max()) + 1 for i in index)
    flat = np.ravel_multi_index(tuple(index), dims)
    if len(flat) != int(np.prod(dims)) or len(np.unique(flat)) != len(flat):
        raise MemlensError(
            f"{path} ({flag}) has {len(frame)} rows, but every (model, id) pair of its {' × '.join(map(str, dims))} "
            "must appear exactly once (a dense table, no repeats, no gaps)."
        )
    if len(values) == 1 and frame[values[0]].dtype == object:  # a list column: one vector per row
        try:
            cells = np.stack([np.asarray(v, dtype=np.float64) for v in frame[values[0]]])
        except (ValueError, TypeError) as e:
            raise MemlensError(
                f"{path} ({flag}): column {values[0]} must hold lists of numbers of one length ({e})."
            ) from None
    elif len(values) == 1:
        cells = frame[values[0]].to_numpy()
    else:
        cells = frame[values].to_numpy()
    out = np.empty(dims + cells.shape[1:], dtype=cells.dtype)
    out.reshape(-1, *cells.shape[1:])[flat] = cells
    return out


# --- checking --------------------------------------------------------------------------------


def check_membership(mask, *, where: str = "the membership mask") -> np.ndarray:
    """An (M, N) bool mask in which every model trained on some examples and held out others.

    >>> check_membership(np.array([[1, 0, 1], [0, 1, 0]])).dtype
    dtype('bool')
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or 0 in mask.shape:
        raise MemlensError(
            f"{_cap(where)} must be a (models, examples) array with at least one of each; got shape {mask.shape}."
        )
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.number) or np.issubdtype(mask.dtype, np.complexfloating):
            raise MemlensError(f"{_cap(where)} must hold True/False (or 0/1); got dtype {mask.dtype}.")
        if not np.isin(mask, (0, 1)).all():
            odd = np.unique(mask[~np.isin(mask, (0, 1))])[:5]
            raise MemlensError(f"{_cap(where)} must hold only True/False (or 0/1); it also holds {odd.tolist()}.")
        mask = mask.astype(bool)
    everything, nothing = mask.all(axis=1), ~mask.any(axis=1)
    if everything.any() or nothing.any():
        rows = np.flatnonzero(everything | nothing)
        raise MemlensError(
            f"In {where}, model(s) {rows[:5].tolist()} (rows) trained on "
            f"{'every' if everything[rows[0]] else 'no'} example: each model must have trained on some "
            f"examples and held out others ({mask.shape[0]} models × {mask.shape[1]} examples). Is the "
            "mask transposed? It must be models × examples."
        )
    return mask


def check_labels(labels, *, n_examples: int, n_classes: int | None, where: str = "the labels array") -> np.ndarray:
    """(N,) int64 labels in [0, C)."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n_examples:
        raise MemlensError(f"{_cap(where)} must be one label per example, shape ({n_examples},); got shape {y.shape}.")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise MemlensError(f"{_cap(where)} must be integer class indices 0..C-1; got dtype {y.dtype}.")
    bad = ~np.isfinite(y) | (np.mod(y, 1) != 0) if np.issubdtype(y.dtype, np.floating) else np.zeros(len(y), bool)
    if bad.any():
        raise MemlensError(
            f"{_cap(where)} must be whole numbers 0..C-1; {int(bad.sum())} are NaN, infinite or fractional "
            f"(first examples: {np.flatnonzero(bad)[:5].tolist()})."
        )
    y = y.astype(np.int64)
    limit = n_classes if n_classes is not None else max(int(y.max()) + 1, 2)
    out = (y < 0) | (y >= limit)
    if out.any():
        raise MemlensError(
            f"{_cap(where)} must lie in [0, {limit}) — one per class of the predictions — but {int(out.sum())} do "
            f"not (e.g. {sorted(set(y[out].tolist()))[:5]})."
        )
    return y


def check_predictions(kind: str, values, *, shape: tuple[int, int], where: str) -> np.ndarray:
    """Logits or probabilities (M, N, C) or losses (M, N), finite, as float64."""
    from memlens.train.outputs import check_probabilities

    values = np.asarray(values)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise MemlensError(f"{_cap(where)} must hold real numbers; got dtype {values.dtype}.")
    expected = "(models, examples)" if kind == "losses" else "(models, examples, classes)"
    ndim = 2 if kind == "losses" else 3
    if values.ndim != ndim or values.shape[:2] != shape:
        raise MemlensError(
            f"{_cap(where)} has shape {values.shape}; {KINDS[kind]} must be {expected}, with the "
            f"{shape[0]} models and {shape[1]} examples of the membership mask."
        )
    if kind != "losses" and values.shape[2] < 2:
        raise MemlensError(f"{_cap(where)} has {values.shape[2]} class(es); a classifier's outputs need at least 2.")
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        m, n = np.argwhere(~finite)[0][:2]
        raise MemlensError(
            f"{_cap(where)} holds {int((~finite).sum())} NaN or infinite value(s) (the first at model {m}, "
            f"example {n}). Fix the script that computed them, or drop those models."
        )
    if kind == "probabilities":
        check_probabilities(values, name=where)
    if kind == "losses":
        if (values < -1e-6).any():
            raise MemlensError(
                f"{_cap(where)} holds negative losses (min {values.min():.4g}). memlens needs per-example losses "
                "(the negative log-likelihood of the label), not log-likelihoods: negate them."
            )
        values = np.clip(values, 0, None)
    return values


def _cap(text: str) -> str:
    """``text`` beginning a sentence: a leading lower-case word is capitalised, a path is not."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text


def _sha256_of(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --- writing the run -------------------------------------------------------------------------


def import_predictions(
    out,
    *,
    membership,
    labels,
    logits=None,
    probabilities=None,
    losses=None,
    class_names=None,
    name: str = "imported predictions",
    n_targets: int = 8,
    shard_size: int = 32,
):
    """Write a run directory at ``out`` from predictions computed elsewhere; return the :class:`~memlens.Run`.

    Args:
        membership: (M, N) bool, which examples each model trained on.
        labels: (N,) int class of each example.
        logits, probabilities: (M, N, C) outputs of each model on each example — or
        losses: (M, N) per-example losses. Exactly one of the three.
        class_names: Optional C names for the classes.
        name: What the run says the data was.
        n_targets, shard_size: As in :func:`memlens.audit`.

    Re-running the same call finishes an interrupted import and rewrites the estimates; other
    arrays into the same ``out`` are refused with the differences.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mask = rng.random((4, 50)) < 0.5
        >>> run = import_predictions("/tmp/memlens-doctest-import", membership=mask,
        ...     labels=rng.integers(0, 3, 50), logits=rng.normal(size=(4, 50, 3)))  # doctest: +SKIP
    """
    from memlens.audit import Run, write_estimates
    from memlens.data import Dataset
    from memlens.store import RunStore

    given = {k: v for k, v in (("logits", logits), ("probabilities", probabilities), ("losses", losses)) if v is not None}
    if len(given) != 1:
        raise MemlensError(
            "Give exactly one of logits, probabilities (--probs) or losses for the models' outputs; "
            f"got {', '.join(given) or 'none'}."
        )
    for option, value in (("n_targets", n_targets), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise MemlensError(f"{option} must be a whole number of at least 1; got {value!r}.")
    (kind, values), = given.items()
    mask = check_membership(membership)
    values = check_predictions(kind, values, shape=mask.shape, where=f"the {kind} array")
    n_classes = values.shape[2] if kind != "losses" else (len(class_names) if class_names is not None else None)
    y = check_labels(labels, n_examples=mask.shape[1], n_classes=n_classes)
    n_classes = n_classes or max(int(y.max()) + 1, 2)
    classes = tuple(str(c) for c in class_names) if class_names is not None else tuple(map(str, range(n_classes)))
    if len(classes) != n_classes:
        raise MemlensError(f"{len(classes)} class names were given for predictions over {n_classes} classes.")
    data = Dataset(name, np.zeros((mask.shape[1], 0), np.float32), y, classes)  # labels, no features
    config = {
        "dataset": {**data.summary(), "fingerprint": data.fingerprint(), "source": "imported predictions"},
        "design": {"spec": "given", "seed": 0, "n_models": mask.shape[0]},
        "trainer": {"trainer": "import", "model": f"imported {kind}", "kind": kind, "sha256": _sha256_of(values)},
        "seed": 0,
        "shard_size": shard_size,
    }
    store = RunStore.create_or_resume(out, config, mask)  # takes the run's lock
    try:
        for index, start, stop in store.pending_shards(shard_size):
            store.write_shard(index, start, stop, _observations(kind, values[start:stop], y), 0.0)
        store.finalize()
        run = Run(store.path, store, data)
        if kind == "losses":
            write_loss_estimates(run, n_targets=n_targets)
        else:
            write_estimates(run, n_targets=n_targets)
    finally:
        store.release()
    return run


def _observations(kind: str, values: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    from memlens import observe

    if kind == "logits":
        return observe.from_logits(values, y)
    if kind == "probabilities":
        return observe.from_probabilities(values, y)
    return {"loss": values.astype(np.float32)}


def loss_only_scores(run):
    """One row per example from losses alone: memorization on exp(−loss), mean losses IN and OUT."""
    import pandas as pd

    from memlens import estimate

    membership = np.asarray(run.membership)
    loss = np.asarray(run.observations["loss"], dtype=np.float64)
    probability = estimate.memorization_scores(membership, np.exp(-loss))
    mean_loss = estimate.memorization_scores(membership, loss)
    data = run.data
    return pd.DataFrame({
        "id": np.arange(membership.shape[1]),
        "label": data.y,
        "original_label": data.original_y,
        "memorization": probability.memorization,
        "memorization_stderr": probability.stderr,
        "in_count": probability.in_count,
        "out_count": probability.out_count,
        "probability_in": probability.mean_in,
        "probability_out": probability.mean_out,
        "loss_in": mean_loss.mean_in,
        "loss_out": mean_loss.mean_out,
        "planted": data.planted,
        "plant": data.plant_kind.astype(str),
    })  # fmt: skip


def loss_only_membership_inference(membership, loss, *, n_targets: int = 8) -> dict:
    """``mia.json`` from losses alone: the loss attack, and LiRA on −loss in place of φ (no RMIA)."""
    from memlens.audit import membership_inference

    loss = np.asarray(loss)
    # the engine's attacks read "confidence" for LiRA: give them −loss, then drop RMIA, which
    # would read it as φ = logit(p_y) — and say which observation each attack used
    result = membership_inference(np.asarray(membership), {"confidence": -loss, "loss": loss}, n_targets=n_targets)
    result["attacks"].pop("rmia", None)
    for name in ("lira-online", "lira-offline"):
        if name in result["attacks"]:
            result["attacks"][name]["observation"] = "-loss"
    result["observations"] = LOSS_ONLY_NOTE
    return result


def write_loss_estimates(run, *, n_targets: int = 8) -> None:
    """``scores.parquet`` and ``mia.json`` of a run holding losses only (see the module docstring)."""
    from memlens.classifier_estimates import EXAMPLES, save_examples

    with run.store.writing():
        if EXAMPLES not in run.store.manifest["files"]:
            save_examples(run.store, run.data)  # labels for `memlens report RUN --rescore`
        run.store.save_table("scores.parquet", loss_only_scores(run))
        mia = loss_only_membership_inference(run.membership, run.observations["loss"], n_targets=n_targets)
        run.store.save_json("mia.json", mia)
        run.store.manifest["estimates"] = {"n_targets": n_targets}
        run.store.save_manifest()
    run.__dict__.pop("scores", None)
    run.__dict__.pop("mia", None)
