"""What a generative audit writes beside its arrays: ``generative.json`` and Parquet tables.

Everything here reads the finished store (and, for galleries, the dataset's pixels, which the
report may not reload) and writes through the store, so every file is checksummed in run.json.
The layout is the report's contract (:mod:`memlens.report.generative_section`):

* ``generative.json`` — the summary: per model and per |D| memorization ratios with intervals,
  the EMM, regularization collapse fractions (closed form), or the density-memorization summary;
* ``samples.parquet`` — one row per generated sample per snapshot;
* ``training_examples.parquet`` — one row per example: how often it was replicated;
* ``generative_gallery.parquet`` — generated | nearest | second-nearest pixels for a few samples;
* ``density.parquet`` — per example memorization score and rank (density models).
"""

from __future__ import annotations

import numpy as np

from .emm import TARGET, effective_memorization
from .replication import REPLICATION_THRESHOLD, max_over_snapshots

GALLERY_MODELS, GALLERY_PER_MODEL, DENSITY_TOP = 6, 8, 24


def model_sizes(membership) -> np.ndarray:
    """|D| of each model (its row's IN count)."""
    return np.asarray(membership, dtype=bool).sum(axis=1)


def diffusion_summary(membership, replicated, steps, *, regularization=None, regularization_kind=None,
                      target: float = TARGET, level: float = 0.95) -> dict:
    """Ratios per model (max over snapshots, or the unregularized one for the closed form), per
    size (models of one size pooled), the EMM, and collapse by regularization strength. Pure.

    Args:
        membership: (M, N) bool.
        replicated: (M, S, B) replication flags.
        steps: (M, S) training step of each snapshot.
        regularization: (M, S) strength of each variant (closed form) or None; variant 0 is
            unregularized, and the only one that counts for the memorization ratio.
    """
    replicated = np.asarray(replicated, dtype=bool)
    sizes = model_sizes(membership)
    models = []
    for m in range(len(sizes)):
        flags = replicated[m, :1] if regularization is not None else replicated[m]
        best = max_over_snapshots(flags, level=level)
        models.append({"model": m, "size": int(sizes[m]), "ratio": best.ratio, "ci_low": best.low,
                       "ci_high": best.high, "best_step": int(np.asarray(steps)[m, best.best]),
                       "ratios_by_step": {str(int(s)): float(r) for s, r in zip(np.asarray(steps)[m], best.ratios,
                                                                                  strict=False)}})
    by_size = []
    for size in sorted(set(sizes.tolist())):
        rows = [mm for mm in models if mm["size"] == size]
        pooled = np.concatenate([replicated[mm["model"], _best(mm, steps, regularization)] for mm in rows])
        from ..estimate import clopper_pearson

        low, high = clopper_pearson(int(pooled.sum()), pooled.size, level=level)
        by_size.append({"size": int(size), "models": len(rows), "ratio": float(pooled.mean()),
                        "ci_low": float(low), "ci_high": float(high)})
    emm = effective_memorization([b["size"] for b in by_size], [b["ratio"] for b in by_size], target=target)
    summary = {"threshold": REPLICATION_THRESHOLD, "epsilon": round(1 - target, 12), "level": level,
               "models": models, "by_size": by_size, "emm": {**emm.to_dict(), "target": target}}
    if regularization is not None and np.asarray(regularization).shape[1] > 1:
        strengths = np.asarray(regularization)[0]
        summary["regularization"] = [
            {"kind": regularization_kind, "strength": float(c), "collapse": float(replicated[:, s].mean())}
            for s, c in enumerate(strengths)]
    return summary


def variant_strengths(store):
    """(M, S) regularization strength of each variant of a closed-form run (its snapshot axis holds
    the unregularized D* first, then the regularized ones), or None for trained models."""
    if "sample_regularization" in store.observation_names():
        return store.observation("sample_regularization")
    return None


def _best(model: dict, steps, regularization) -> int:
    if regularization is not None:
        return 0
    return int(np.flatnonzero(np.asarray(steps)[model["model"]] == model["best_step"])[0])


def samples_table(store):
    """One row per generated sample per snapshot (``samples.parquet``)."""
    import pandas as pd

    labels_of_samples = store.observation("sample_label")
    replicated = store.observation("sample_replicated")
    M, S, B = replicated.shape
    sizes = model_sizes(store.membership)
    steps = store.observation("sample_steps")
    frame = {"model": np.repeat(np.arange(M, dtype=np.int32), S * B),
             "size": np.repeat(sizes.astype(np.int32), S * B),
             "step": np.repeat(np.asarray(steps, dtype=np.int64).ravel(), B),
             "sample": np.tile(np.arange(B, dtype=np.int32), M * S),
             "label": np.repeat(np.asarray(labels_of_samples, dtype=np.int32)[:, None, :], S, 1).ravel()}
    strength = variant_strengths(store)
    strength = np.zeros((M, S)) if strength is None else strength
    frame["regularization"] = np.repeat(np.asarray(strength, dtype=np.float64).ravel(), B)
    for name, dtype in (("nearest", np.int32), ("second", np.int32), ("nearest_distance", np.float32),
                        ("second_distance", np.float32), ("ratio", np.float32), ("replicated", bool)):
        frame[name] = np.asarray(store.observation(f"sample_{name}"), dtype=dtype).ravel()
    return pd.DataFrame(frame)


def feature_space(store, summary: dict, encoder, pixels) -> tuple[dict, dict]:
    """The replication test in ``encoder``'s feature space for every model and snapshot.

    Returns the ``feature_*`` columns for ``samples.parquet`` (its row order) and a summary: the
    feature-space ratio per |D| at each model's snapshot (the one its pixel ratio picked).
    """
    from .replication import feature_space_replication

    images = store.observation("sample_images")
    M, S, B = images.shape[:3]
    columns = {"feature_nearest": np.empty((M, S, B), np.int32), "feature_ratio": np.empty((M, S, B), np.float32),
               "feature_replicated": np.empty((M, S, B), bool)}
    steps, regularization = store.observation("sample_steps"), variant_strengths(store)
    flags_at_best = {}
    for m, row in enumerate(np.asarray(store.membership, dtype=bool)):
        members = np.flatnonzero(row)
        for s in range(S):
            r = feature_space_replication(images[m, s], pixels[members], encoder, training_ids=members)
            columns["feature_nearest"][m, s], columns["feature_ratio"][m, s] = r.nearest, r.ratio
            columns["feature_replicated"][m, s] = r.replicated
        flags_at_best[m] = columns["feature_replicated"][m, _best(summary["models"][m], steps, regularization)]
    sizes = model_sizes(store.membership)
    by_size = [{"size": int(size), "ratio": float(np.concatenate([flags_at_best[m] for m in np.flatnonzero(sizes == size)]).mean())}
               for size in sorted(set(sizes.tolist()))]
    return {k: v.ravel() for k, v in columns.items()}, {"by_size": by_size}


def training_examples_table(store, labels=None):
    """One row per dataset example (``training_examples.parquet``)."""
    import pandas as pd

    membership = store.membership
    n = membership.shape[1]
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int32),
        "label": np.full(n, -1, np.int32) if labels is None else np.asarray(labels, dtype=np.int32),
        "models_in": membership.sum(0).astype(np.int32),
        "replications": np.asarray(store.observation("replications")).sum(0).astype(np.int32),
        "nearest_count": np.asarray(store.observation("nearest_count")).sum(0).astype(np.int32),
    })


def gallery_table(store, summary: dict, training_pixels: np.ndarray):
    """generated | nearest | second pixels for up to 6 models × 8 samples spread over the ratio
    ranks of each model's best snapshot (``generative_gallery.parquet``); images only."""
    import pandas as pd

    images = store.observation("sample_images")  # (M, S, B, d) uint8
    models = summary["models"]
    picked = np.unique(np.linspace(0, len(models) - 1, min(GALLERY_MODELS, len(models))).round().astype(int))
    regularization, steps = variant_strengths(store), store.observation("sample_steps")
    ratios, replicated = store.observation("sample_ratio"), store.observation("sample_replicated")
    nearests, seconds = store.observation("sample_nearest"), store.observation("sample_second")
    rows = []
    for i in picked:
        m = models[i]
        s = _best(m, steps, regularization)
        ratio = np.asarray(ratios[m["model"], s])
        order = np.argsort(ratio, kind="stable")
        chosen = order[np.unique(np.linspace(0, len(order) - 1, GALLERY_PER_MODEL).round().astype(int))]
        nearest, second = nearests[m["model"], s], seconds[m["model"], s]
        flags = replicated[m["model"], s]
        for b in chosen:
            rows.append({"model": m["model"], "size": m["size"], "step": m["best_step"], "sample": int(b),
                         "ratio": float(ratio[b]), "replicated": bool(flags[b]),
                         "nearest_id": int(nearest[b]), "second_id": int(second[b]),
                         "generated": images[m["model"], s, b].astype(np.uint8).tolist(),
                         "nearest": training_pixels[nearest[b]].tolist(),
                         "second": training_pixels[second[b]].tolist()})
    return pd.DataFrame(rows)


def density_table(membership, loglik, labels=None, pixels=None):
    """Per example memorization score and rank (``density.parquet``), pixels for the top rows."""
    import pandas as pd

    from .density import density_memorization

    scores = density_memorization(membership, loglik)
    m = scores.memorization
    rank = np.empty(len(m), dtype=np.int32)
    rank[np.argsort(-m, kind="stable")] = np.arange(1, len(m) + 1)
    frame = pd.DataFrame({"id": np.arange(len(m), dtype=np.int32),
                          "label": np.full(len(m), -1, np.int32) if labels is None
                          else np.asarray(labels, dtype=np.int32),
                          "memorization": m, "held_in": scores.held_in, "held_out": scores.held_out,
                          "rank": rank})
    if pixels is not None:
        frame["pixels"] = [pixels[i].tolist() if r <= DENSITY_TOP else None for i, r in enumerate(rank)]
    return frame


def density_summary(frame, folds: int, n_models: int) -> dict:
    top = frame.sort_values("rank").head(DENSITY_TOP)
    m = frame["memorization"].to_numpy()
    return {"folds": folds, "models": n_models, "n_examples": int(len(frame)),
            "median": float(np.median(m)), "p95": float(np.quantile(m, 0.95)), "max": float(m.max()),
            "top": [{"id": int(r.id), "memorization": float(r.memorization), "held_in": float(r.held_in),
                     "held_out": float(r.held_out), "label": int(r.label)} for r in top.itertuples()]}
