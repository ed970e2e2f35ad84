"""``memlens ssl dejavu``: the déjà vu test end to end — canvases, encoders on the engine, estimates.

:func:`dejavu_audit` draws the canvases (:mod:`.canvas`), trains target/reference encoder pairs
with :func:`memlens.engine.run_design` (:mod:`.trainer`; a killed run resumes with the same call),
and writes ``dejavu.json`` through the run's store. :func:`dejavu_estimates` is the pure part: from
the membership mask, the set of every example, the labels and the stored embeddings it decodes
each background crop's label from its k nearest public neighbours (:func:`.dejavu.knn_label_inference`)
with the target and with the reference encoder, and reports, per layer (projector, backbone) and
snapshot epoch, the symmetrized accuracy gap on the p% most confident crops and the sample-level
partition, averaged over pairs.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import MemlensError
from .canvas import PARTS, PUBLIC, A, B, Canvas
from .dejavu import (
    DatasetLevelResult,
    correct_predictions,
    dataset_level_test,
    knn_backend,
    knn_label_inference,
    sample_level_partition,
    symmetrized,
)

#: confidence fractions of the accuracy-vs-confidence curve (0.05, 0.10, …, 1.00)
SWEEP = tuple(round(0.05 * i, 2) for i in range(1, 21))
LAYERS = ("projector", "backbone")
HEADLINE_FRACTION = 0.2


def pair_rows(membership: np.ndarray, part: np.ndarray) -> list[tuple[int, int]]:
    """(row trained on A, row trained on B) for each pair of consecutive design rows."""
    membership = np.asarray(membership, bool)
    on_a, on_b = membership[:, part == A].any(axis=1), membership[:, part == B].any(axis=1)
    pairs = []
    for r in range(0, len(membership) - 1, 2):
        if on_a[r] and on_b[r + 1] and not on_b[r] and not on_a[r + 1]:
            pairs.append((r, r + 1))
        elif on_b[r] and on_a[r + 1] and not on_a[r] and not on_b[r + 1]:
            pairs.append((r + 1, r))
        else:
            raise MemlensError(f"Design rows {r} and {r + 1} are not a target/reference pair (one trained on A "
                               "and not B, the other on B and not A); build the design with dejavu_design.")
    if not pairs:
        raise MemlensError("The déjà vu test needs at least one target/reference pair of models (--models 2 or more).")
    return pairs


def _side(model_target, model_reference, queries, public, labels, k):
    """Decode ``queries`` with both encoders: (predictions, confidences) of target and reference."""
    out = []
    for emb in (model_target, model_reference):
        inferred = knn_label_inference(emb[queries], emb[public], labels[public], k=k, n_classes=10)
        out += [inferred.predicted, inferred.confidence]
    return out


def dejavu_estimates(membership, part, labels, embeddings: dict, snapshots, *, k: int = 20,
                     fractions=SWEEP) -> dict:
    """The déjà vu test from stored arrays; a pure function (no training, no I/O).

    Args:
        membership: (M, N) bool, rows in target/reference pairs (:func:`.trainer.dejavu_design`).
        part: (N,) set codes of :mod:`.canvas` (A, B, shared, public).
        labels: (N,) classes.
        embeddings: layer name → (M, N, S, D) embeddings: background crops for A/B/shared rows,
            whole canvases for public rows.
        snapshots: the S epochs.
        k: public neighbours per crop.
        fractions: confidence fractions p of the accuracy curve (must include 0.2 and 1.0).

    Returns:
        ``{"layers": {layer: {"snapshots": [per epoch: {"epoch", "target_accuracy",
        "reference_accuracy", "gap", "gap_per_pair", "gap_stderr", "partition", "partition_counts",
        "public_accuracy"}]}}, "fractions",
        "k", "pairs", "chance", "n_attacked"}``; accuracies are lists over ``fractions``,
        symmetrized over A↔B and averaged over pairs.
    """
    part, labels = np.asarray(part), np.asarray(labels, np.int64)
    fractions = tuple(float(f) for f in fractions)
    if HEADLINE_FRACTION not in fractions or 1.0 not in fractions:
        raise MemlensError(f"fractions must include {HEADLINE_FRACTION} and 1.0; got {fractions}.")
    pairs = pair_rows(membership, part)
    public, on_a, on_b = part == PUBLIC, part == A, part == B
    if public.sum() < k:
        raise MemlensError(f"k = {k} public neighbours need at least {k} public canvases; got {int(public.sum())}. "
                           "Lower --k or raise --public.")
    layers = {}
    for layer, stored in embeddings.items():
        stored = np.asarray(stored)
        per_snapshot = []
        for s, epoch in enumerate(snapshots):
            results, partitions = [], []
            for target, reference in pairs:
                emb_t = stored[target, :, s].astype(np.float32)
                emb_r = stored[reference, :, s].astype(np.float32)
                # side A: target trained on A; side B: the reference trained on B plays the target
                pa_t, ca_t, pa_r, ca_r = _side(emb_t, emb_r, on_a, public, labels, k)
                pb_t, cb_t, pb_r, cb_r = _side(emb_r, emb_t, on_b, public, labels, k)
                results.append(symmetrized(
                    dataset_level_test(pa_t, ca_t, pa_r, ca_r, labels[on_a], fractions=fractions),
                    dataset_level_test(pb_t, cb_t, pb_r, cb_r, labels[on_b], fractions=fractions)))
                partitions.append(symmetrized(
                    sample_level_partition(correct_predictions(pa_t, labels[on_a]),
                                           correct_predictions(pa_r, labels[on_a])),
                    sample_level_partition(correct_predictions(pb_t, labels[on_b]),
                                           correct_predictions(pb_r, labels[on_b]))))
            per_snapshot.append({**_average(epoch, results, partitions),
                                 "public_accuracy": public_accuracy(stored[:, :, s], public, labels, k)})
        layers[layer] = {"snapshots": per_snapshot}
    return {"layers": layers, "fractions": list(fractions), "k": int(k), "pairs": [list(p) for p in pairs],
            "chance": 0.1, "n_attacked": {"A": int(on_a.sum()), "B": int(on_b.sum())}}


def public_accuracy(embeddings: np.ndarray, public: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Whether the encoders represent objects at all: k-NN accuracy of the last third of the public
    canvases (whole, object visible) decoded from the first two thirds, mean over models. Near chance,
    no background crop can be decoded either, memorized or not."""
    ids = np.flatnonzero(public)
    index, queries = ids[: 2 * len(ids) // 3], ids[2 * len(ids) // 3:]
    if len(queries) == 0 or len(index) < k:
        return float("nan")
    scores = []
    for emb in embeddings:
        emb = emb.astype(np.float32)
        inferred = knn_label_inference(emb[queries], emb[index], labels[index], k=k, n_classes=10)
        scores.append(float((inferred.predicted == labels[queries]).mean()))
    return float(np.mean(scores))


def _average(epoch: int, results: list[DatasetLevelResult], partitions) -> dict:
    target = np.mean([r.target_accuracy for r in results], axis=0)
    reference = np.mean([r.reference_accuracy for r in results], axis=0)
    gaps = np.array([r.gap for r in results])
    parts = partitions[0].shares.keys()
    return {
        "epoch": int(epoch),
        "target_accuracy": target.tolist(), "reference_accuracy": reference.tolist(),
        "gap": gaps.mean(axis=0).tolist(), "gap_per_pair": gaps.tolist(),
        "gap_stderr": (gaps.std(axis=0, ddof=1) / math.sqrt(len(gaps))).tolist() if len(gaps) > 1 else None,
        "partition": {p: float(np.mean([q.shares[p] for q in partitions])) for p in parts},
        "partition_counts": {p: int(sum(q.counts[p] for q in partitions)) for p in parts},
    }  # fmt: skip


def at_fraction(result: dict, layer: str, key: str, fraction: float, snapshot: int = -1) -> float:
    """One figure of ``dejavu.json``: ``key`` (e.g. ``gap``) of ``layer`` at ``fraction``, last epoch by default."""
    index = [round(f, 6) for f in result["fractions"]].index(round(fraction, 6))
    return float(result["layers"][layer]["snapshots"][snapshot][key][index])


def criteria(result: dict) -> dict:
    """Meehan et al.'s reproduction criteria (a)–(d) of the notes, with the figures they compare."""
    ref_all = at_fraction(result, "projector", "reference_accuracy", 1.0)
    gap20 = at_fraction(result, "projector", "gap", HEADLINE_FRACTION)
    first = at_fraction(result, "projector", "gap", HEADLINE_FRACTION, 0)
    backbone = at_fraction(result, "backbone", "gap", HEADLINE_FRACTION)
    return {
        "a_reference_near_chance": {"reference_accuracy": ref_all, "threshold": 0.15, "pass": ref_all <= 0.15},
        "b_gap_top20": {"gap": gap20, "threshold": 0.10, "pass": gap20 >= 0.10},
        "c_gap_grows": {"first_epoch_gap": first, "last_epoch_gap": gap20, "pass": gap20 > first},
        "d_backbone_smaller": {"backbone_gap": backbone, "projector_gap": gap20, "pass": backbone < gap20},
    }


def criteria_words(result: dict) -> list[str]:
    """The run's summary in a few printed lines: the headline gap, then criteria (a)–(d) with their figures."""
    c = result.get("criteria") or criteria(result)
    last = result["snapshots"][-1] if result.get("snapshots") else "?"
    mark = {True: "pass", False: "FAIL"}
    t20 = at_fraction(result, "projector", "target_accuracy", HEADLINE_FRACTION)
    r20 = at_fraction(result, "projector", "reference_accuracy", HEADLINE_FRACTION)
    memorized = result["layers"]["projector"]["snapshots"][-1]["partition"]["memorized"]
    return [
        f"déjà vu ({result.get('objective')}, epoch {last}, projector, symmetrized A↔B over "
        f"{len(result['pairs'])} pair(s)): on the 20% most confident background crops the target decodes the "
        f"object's label {t20:.1%}, the reference {r20:.1%} (gap {t20 - r20:+.3f}); {memorized:.1%} of crops "
        "are decoded only by the encoder that trained on them.",
        f"(a) reference accuracy, all crops: {c['a_reference_near_chance']['reference_accuracy']:.3f} "
        f"(≤ 0.15, chance 0.10) — {mark[c['a_reference_near_chance']['pass']]}",
        f"(b) target − reference, 20% most confident: {c['b_gap_top20']['gap']:+.3f} (≥ 0.10) — "
        f"{mark[c['b_gap_top20']['pass']]}",
        f"(c) gap grows with epochs: {c['c_gap_grows']['first_epoch_gap']:+.3f} at epoch {result['snapshots'][0]} → "
        f"{c['c_gap_grows']['last_epoch_gap']:+.3f} at epoch {last} — {mark[c['c_gap_grows']['pass']]}",
        f"(d) smaller with backbone embeddings: {c['d_backbone_smaller']['backbone_gap']:+.3f} vs projector "
        f"{c['d_backbone_smaller']['projector_gap']:+.3f} — {mark[c['d_backbone_smaller']['pass']]}",
    ]


def dejavu_audit(canvas: Canvas, trainer, out, *, pairs: int = 1, seed: int = 0, k: int = 20,
                 progress: bool = True) -> dict:
    """Train ``pairs`` target/reference pairs on ``canvas`` into ``out``; write and return dejavu.json."""
    from memlens.engine import run_design

    from .trainer import dejavu_design

    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= int((canvas.part == PUBLIC).sum()):
        raise MemlensError(f"--k (public neighbours per crop) must be a whole number from 1 to the public set's size "
                           f"({int((canvas.part == PUBLIC).sum())}); got {k!r}.")
    design = dejavu_design(canvas, pairs, seed=seed)
    started = time.perf_counter()
    result: dict = {}

    def finish(store) -> None:
        result.update(write_estimates(store, canvas, trainer, k=k, seconds=time.perf_counter() - started))

    # one pair per shard: a killed run loses at most the pair in training
    run_design(canvas, design, trainer, out, seed=seed, progress=progress, finish=finish, shard_size=2,
               description=f"{design.n_models} {trainer.objective} encoders")
    return result


def write_estimates(store, canvas: Canvas, trainer, *, k: int, seconds: float) -> dict:
    """dejavu.json of a finished run, computed from its stored arrays and written through its store."""
    config = trainer.config()
    embeddings = {layer: store.observation(f"embedding_{layer}") for layer in LAYERS}
    result = dejavu_estimates(store.membership, canvas.part, canvas.labels, embeddings, config["snapshots"], k=k)
    training = store.manifest.get("training_seconds")
    n_models = int(store.membership.shape[0])
    result.update({
        "kind": "dejavu", "dataset": "canvas", "objective": config["objective"], "epochs": config["epochs"],
        "snapshots": config["snapshots"], "models": n_models, "sets": canvas.summary()["sets"],
        "canvas": [int(canvas.images.shape[1]), int(canvas.images.shape[2])], "seed": canvas.seed,
        "seconds": round(seconds, 1), "training_seconds": training,
        "seconds_per_epoch": (round(float(training) / (n_models * config["epochs"]), 4)
                              if isinstance(training, int | float) else None),
        "knn": {"faiss": "FAISS IndexFlatL2 (exact ℓ2)", "sklearn": "scikit-learn NearestNeighbors (exact ℓ2)"}[
            knn_backend()],
    })  # fmt: skip
    result["criteria"] = criteria(result)
    store.save_json("dejavu.json", result)
    return result


__all__ = ["LAYERS", "PARTS", "SWEEP", "at_fraction", "criteria", "criteria_words", "dejavu_audit", "dejavu_estimates", "pair_rows",
           "write_estimates"]
