"""The classifier estimates of a run: per-example scores, membership inference, stored examples.

Pure reading of a run's arrays (``membership.npy``, ``observations/``) plus the run's examples
table; nothing here trains, and nothing here reloads a dataset. What a report shows about the
examples themselves is written into the run too, through the store (so it is checksummed):

* ``examples.parquet`` — id, label, original_label, planted, plant: what the scores need besides
  the arrays, so ``memlens report RUN --rescore`` works without the dataset (imported runs have
  none);
* ``gallery.parquet`` — the contents (pixels, feature values or text) of the
  :data:`GALLERY_STORED` most memorized examples, which the report's gallery shows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from memlens import estimate, faults
from memlens.estimate._blocks import release_pages
from memlens.train.proxies import OUTPUTS as PROXY_OUTPUTS

#: the run's examples: id, label, original_label, planted, plant (also written by integrations)
EXAMPLES = "examples.parquet"
#: contents of the most memorized examples, for the report's gallery
GALLERY = "gallery.parquet"
#: how many examples' contents the gallery file holds (the page shows the first 24)
GALLERY_STORED = 48

#: the observation each attack reads
ATTACKS = {
    "lira-online": "confidence",
    "lira-offline": "confidence",
    "rmia": "confidence",
    "loss": "loss",
}


def write_estimates(run, *, n_targets: int = 8) -> None:
    """Compute ``scores.parquet`` and ``mia.json`` from the stored arrays (cheap; always redone).

    Also records the run's examples table (:data:`EXAMPLES`) when missing and, when ``run.data``
    holds the examples' contents, the gallery (:data:`GALLERY`) of the most memorized ones.
    """
    with run.store.writing():
        if EXAMPLES not in run.store.manifest["files"]:
            save_examples(run.store, run.data)
        scores = example_scores(run)
        run.store.save_table("scores.parquet", scores)
        faults.stage("after-scores")
        canaries = run.store.manifest.get("config", {}).get("design", {}).get("canaries")
        mia = membership_inference(run.membership, run.observations, n_targets=n_targets, columns=canaries)
        if canaries:  # a one-run design (Steinke et al. 2023): its own ε bound, one per model
            from memlens.mitigations.one_run import one_run_audit

            mia["one_run"] = one_run_audit(run.membership, run.observations["loss"], canaries)
        run.store.save_json("mia.json", mia)
        run.store.manifest["estimates"] = {"n_targets": n_targets}
        run.store.save_manifest()
        save_gallery(run.store, run.data, scores)
    run.__dict__.pop("scores", None)
    run.__dict__.pop("mia", None)


def example_scores(run):
    """One row per training example: Feldman–Zhang memorization with its evidence, and plants.

    Reads ``run.membership``, ``run.observations`` and ``run.examples`` (labels and plants; any
    object with ``membership``, ``observations`` and ``data`` holding ``y``, ``original_y``,
    ``planted``, ``plant_kind`` works too).
    """
    import pandas as pd

    membership = np.asarray(run.membership)
    correct = run.observations["correct"]
    confidence = run.observations["confidence"]
    mem = estimate.memorization_scores(membership, correct)
    conf = estimate.memorization_scores(membership, confidence)
    data = run.examples if hasattr(type(run), "examples") else run.data  # a Run, or any object with .data
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
                summed = np.einsum(
                    "mn,mnc->nc",
                    mask[:, block].astype(np.float32),
                    probs[:, block],
                    dtype=np.float32,
                )
                predicted[block] = summed.argmax(axis=1)
                release_pages(probs, membership)
            frame[f"predicted_{side}"] = np.where(mask.any(axis=0), predicted, -1)
    return frame


def membership_inference(membership, observations, *, n_targets: int = 8, seed: int = 0, columns=None) -> dict:
    """Each attack with several models in turn as the target and the rest as its shadows.

    ``columns``: attack only these examples — a one-run design's canaries, since every other
    example is IN for every model (no OUT shadow, no non-member to tell apart: the loss attack
    would count them all as members found).

    TPR intervals hold despite the pooling: with several targets every example is scored under each
    of them and the targets share shadows, so the interval is a bootstrap over examples and targets
    (``estimate.intervals``, seeded by ``seed``); with one target, the exact binomial one. Built-in
    attacks read the memory-mapped observations a block of examples at a time.
    """
    membership = np.asarray(membership)
    if columns is not None:
        columns = np.asarray(columns, dtype=np.int64)
        membership = membership[:, columns]
        observations = {name: np.asarray(observations[name])[:, columns] for name in set(ATTACKS.values())}
    n_models = membership.shape[0]
    if n_models < 3:
        return {
            "attacks": {},
            "note": f"Membership inference needs at least 3 models; this run has {n_models}.",
        }
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
    if columns is not None:
        result["examples"] = f"the {len(columns)} canaries only (every other example is IN for every model)"
    for name, attack in attacks.items():
        obs = np.asarray(observations[ATTACKS[name]])  # a view: memory-mapped stays memory-mapped
        labels, scores = estimate.attack_in_turn_per_target(
            membership, obs, attack, targets=targets
        )  # (T, N)
        scored = ~np.isnan(scores)
        if labels[scored].all() or not labels[scored].any():
            result["attacks"][name] = {
                "note": "not applicable: the design gives no members or no non-members"
            }
            continue
        metrics = estimate.attack_summary(labels, scores, seed=seed)
        fpr, tpr, _ = estimate.roc_curve(labels[scored], scores[scored])
        metrics["roc"] = _roc_on_log_grid(fpr, tpr, n_nonmembers=metrics["n_nonmembers"])
        metrics["epsilon_lower_bound"] = _epsilon_bound(labels[scored], scores[scored], seed)
        result["attacks"][name] = metrics
    return result


def _epsilon_bound(labels: np.ndarray, scores: np.ndarray, seed: int) -> dict:
    """The DP ε lower bound this attack demonstrates (δ = 0, 95%), threshold chosen on half the trials.

    Heuristic here: the trials are examples scored under a few target models, not independent
    training runs, which the Clopper–Pearson bound assumes (``estimate.epsilon``).
    """
    bound = estimate.epsilon_lower_bound(labels.astype(bool), scores, delta=0.0, beta=0.05, split=True, seed=seed)
    return {"epsilon": float(bound["epsilon"]), "threshold": float(bound["threshold"]), "beta": 0.05,
            "delta": 0.0, "trials": int(bound["n_in"] + bound["n_out"]),
            "note": "threshold chosen on one random half of the trials, bound on the other; trials are "
                    "examples under a few target models, not independent training runs, so read it as a "
                    "heuristic lower bound"}


def _roc_on_log_grid(
    fpr: np.ndarray, tpr: np.ndarray, *, n_nonmembers: int, points: int = 120
) -> dict:
    """The ROC curve at log-spaced FPRs (enough to draw it on log–log axes, small enough for JSON)."""
    smallest = max(1.0 / max(n_nonmembers, 1), 1e-6)  # one false positive: the finest FPR there is
    grid = np.unique(np.concatenate([np.geomspace(smallest, 1.0, points), [1.0]]))
    # largest TPR reached at an FPR not above each grid point (the curve is a staircase)
    at = np.searchsorted(fpr, grid, side="right") - 1
    return {
        "fpr": np.round(grid, 8).tolist(),
        "tpr": np.round(tpr[np.clip(at, 0, None)], 6).tolist(),
    }


@dataclass(frozen=True)
class ExampleTable:
    """A run's examples as the scores read them: the fields of a Dataset they use, (N,) each."""

    y: np.ndarray
    original_y: np.ndarray
    planted: np.ndarray
    plant_kind: np.ndarray

    @classmethod
    def from_frame(cls, frame) -> ExampleTable:
        return cls(
            y=frame["label"].to_numpy(dtype=np.int64), original_y=frame["original_label"].to_numpy(dtype=np.int64),
            planted=frame["planted"].to_numpy(dtype=bool), plant_kind=frame["plant"].to_numpy(dtype=object),
        )  # fmt: skip


def save_examples(store, data) -> None:
    """Write :data:`EXAMPLES` from a Dataset (or anything with its y, original_y, plant_kind)."""
    import pandas as pd

    kind = np.asarray(data.plant_kind).astype(str)
    store.save_table(EXAMPLES, pd.DataFrame({
        "id": np.arange(len(data.y)), "label": np.asarray(data.y, dtype=np.int64),
        "original_label": np.asarray(data.original_y, dtype=np.int64),
        "planted": kind != "", "plant": kind,
    }))  # fmt: skip


def most_memorized(scores, k: int) -> np.ndarray:
    """Row positions of the ``k`` most memorized examples; ties (many score exactly 1 with few
    models) are broken by the confidence gap between models trained on and held out from it."""
    mem = np.nan_to_num(scores["memorization"].to_numpy(dtype=np.float64), nan=-np.inf)
    gap = np.zeros(len(mem))
    if {"confidence_in", "confidence_out"} <= set(scores.columns):
        gap = np.nan_to_num(
            (scores["confidence_in"] - scores["confidence_out"]).to_numpy(dtype=np.float64),
            nan=-np.inf,
        )
    return np.lexsort((-gap, -mem))[:k]


def gallery_ids(scores, k: int) -> np.ndarray:
    """Example ids of the ``k`` most memorized examples (:func:`most_memorized`)."""
    order = most_memorized(scores, k)
    return scores["id"].to_numpy(dtype=np.int64)[order] if "id" in scores.columns else order


def gallery_frame(data, ids: np.ndarray):
    """One row per id: ``kind`` (image, features or text), ``values`` (float32 list), ``shape``, ``text``.

    ``None`` when ``data`` holds no contents (labels only: imported predictions, a callback run).
    """
    import pandas as pd

    texts = getattr(data, "texts", None)
    X = getattr(data, "X", None)
    if texts is None and (X is None or np.ndim(X) != 2 or X.shape[1] == 0):
        return None
    shape = list(getattr(data, "image_shape", None) or [])
    rows = []
    for i in ids.tolist():
        if texts is not None:
            rows.append({"id": i, "kind": "text", "values": [], "shape": [], "text": str(texts[i])})
        else:
            values = np.asarray(X[i], dtype=np.float32).tolist()
            kind = "image" if shape and int(np.prod(shape)) == len(values) else "features"
            rows.append(
                {
                    "id": i,
                    "kind": kind,
                    "values": values,
                    "shape": shape if kind == "image" else [],
                    "text": "",
                }
            )
    return pd.DataFrame(rows, columns=["id", "kind", "values", "shape", "text"])


def save_gallery(store, data, scores, *, k: int = GALLERY_STORED) -> bool:
    """Write :data:`GALLERY` for the ``k`` most memorized examples; False when ``data`` has no contents."""
    if data is None:
        return False
    frame = gallery_frame(data, gallery_ids(scores, k))
    if frame is None:
        return False
    store.save_table(GALLERY, frame)
    return True
