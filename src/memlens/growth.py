"""Growing a run: more models on a finished (or half-trained) run of the same design.

``memlens audit … --models 128`` on a 64-model run trains only models 64…127, when the command
differs from the run in nothing but the number of models and the larger design's first 64 rows
are the run's mask. ``subsample:RATE``, ``kfold:K`` and ``loo:…`` are built row by row from one
stream, so they grow (kfold and loo by whole repetitions); ``halves`` deals each example to exactly
half of *all* models, so adding models re-deals every row, and the run says so.

The store (:mod:`memlens.store`) keeps the old models' arrays where they are: the manifest's
``grown_from`` records them, and finalize streams them, then the new shards, into the new arrays.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import RunStoreError


def growth(path, old_config: dict, new_config: dict, old_membership: np.ndarray, new_membership: np.ndarray) -> int | None:
    """How many models the run at ``path`` already has, when ``new_config`` grows it; else ``None``.

    ``None`` means "not a growth request" (the configurations differ in more than the number of
    models, or not at all); a growth that cannot work (fewer models, or a design whose first rows
    change) is refused with why.
    """
    old_models = old_config.get("design", {}).get("n_models")
    new_models = new_config.get("design", {}).get("n_models")
    if old_models == new_models or not isinstance(old_models, int) or not isinstance(new_models, int):
        return None
    same = dict(new_config, design={**new_config["design"], "n_models": old_models})
    if same != old_config:
        return None  # other differences too: the caller lists them all
    spec = new_config["design"].get("spec", "?")
    if new_models < old_models:
        raise RunStoreError(
            f"{path} holds a run with another configuration: {old_models} models, where this command asks "
            f"for {new_models}; a run grows but never shrinks. Use --models {old_models} (or more), a new "
            f"--out, or delete {path} to start over."
        )
    if new_membership.shape[0] < old_models or not np.array_equal(new_membership[:old_models], old_membership):
        why = (
            "halves deals each example to exactly half of ALL the models, so adding models re-deals every "
            "row; grow a subsample:0.5 run instead (each row drawn on its own), or start a new --out"
            if spec == "halves"
            else f"the first {old_models} rows of the {new_models}-model {spec} design are not the run's "
            "mask (kfold and loo grow by whole repetitions); use a number of models they allow, or a new --out"
        )
        raise RunStoreError(f"{path} cannot grow from {old_models} to {new_models} models: {why}.")
    return old_models


def grow(store, config: dict, membership: np.ndarray, grown_from: int) -> None:
    """Make the run in ``store`` (its lock held) the first ``grown_from`` models of a larger one.

    A finished run's arrays stay in ``observations/`` (recorded as ``grown_from``) until finalize
    has streamed them and the new models' shards into the larger arrays.
    """
    store.verify(deep=store.complete)  # the arrays kept must be intact
    if store.complete:
        store.manifest["grown_from"] = {
            "models": grown_from, "seconds": store.manifest.get("training_seconds", 0.0),
        }  # fmt: skip
        store.manifest["status"] = "training"
    store.manifest["config"] = config
    store.save_manifest()
    store._save_array("membership.npy", membership)
    store.save_manifest()


def uncovered(n_models: int, covered: list[tuple[int, int]], shard_size: int, used: set[int]) -> list[tuple[int, int, int]]:
    """(index, start, stop) for each model range not covered yet, in blocks of ``shard_size``.

    A block that a grown run's old last shard covers in part yields only its uncovered part, under
    a fresh index (indices name shard files; the old one keeps its own).
    """
    done = np.zeros(n_models, dtype=bool)
    for start, stop in covered:
        done[start:stop] = True
    fresh = max(max(used, default=-1), -(-n_models // shard_size) - 1) + 1  # past every block's own index
    tasks, taken = [], set(used)
    for k, block_start in enumerate(range(0, n_models, shard_size)):
        block = ~done[block_start : block_start + shard_size]
        # each run of consecutive missing models in the block is one task
        edges = np.flatnonzero(np.diff(np.concatenate(([False], block, [False])).astype(np.int8)))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            index = k
            if index in taken:
                index, fresh = fresh, fresh + 1
            taken.add(index)
            tasks.append((index, block_start + int(start), block_start + int(stop)))
    return tasks


def grown_rows(store, key: str, n_models: int, shape: tuple, dtype, block_bytes: int = 64 << 20):
    """The bytes of a grown run's first ``n_models`` rows of observation ``key``, in blocks.

    Read memory-mapped from the run's ``observations/KEY.npy`` (checked against its SHA-256 when
    the growth began), so memory stays flat however many models the run has.
    """
    name = f"observations/{key}.npy"
    if name not in store.manifest["files"]:
        raise RunStoreError(
            f"{store.path} grew, but its first {n_models} models have no '{key}' observation (the "
            "trainer now records more than it did): grow with the same trainer, or use a new --out."
        )
    old = store.load_array(name)  # after a kill during finalize: already the grown array, same first rows
    if old.shape[0] < n_models or old.shape[1:] != tuple(shape):
        raise RunStoreError(
            f"{store.path}'s first {n_models} models hold '{key}' of shape {old.shape}, not "
            f"{n_models} rows of the {tuple(shape)} the new models' shards hold: grow with the same "
            "trainer, or use a new --out."
        )
    step = max(1, block_bytes // max(1, old[:1].nbytes))
    for start in range(0, n_models, step):
        yield np.ascontiguousarray(old[start : min(start + step, n_models)], dtype=dtype).tobytes()
