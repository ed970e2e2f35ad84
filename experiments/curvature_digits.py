"""Reproduction: loss curvature from one training run finds mislabelled and duplicated examples.

Garg, Ravikumar & Roy (ICML 2024), CPU experiment E5: digits with 10% of labels flipped plus 20
duplicates given conflicting labels; ONE MLP (64-256-10, no weight decay, as the paper's "wd0"
models that surface duplicates) trained to fit everything, with input-loss curvature (h = 1e-3,
n = 10 Rademacher vectors) averaged over checkpoints. Pass: AUROC for the flipped labels ≥ 0.85
and ≥ 75% of the 40 conflicting-duplicate examples (copies and sources) in the top 10%. Also
reports the final-checkpoint-only curvature, to show whether averaging over training matters.

    python experiments/curvature_digits.py [--dataset fashion-mnist:10000]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import memlens as ml

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record


def evaluate(data, curvature: np.ndarray) -> dict:
    flipped = data.plant_kind == "label-noise"
    duplicated = np.isin(data.plant_kind.astype(str), ["duplicate", "duplicate-source"])
    top = curvature >= np.quantile(curvature, 0.9)
    return {"auroc_flipped": ml.estimate.planted_recovery(flipped, curvature)["auroc"],
            "duplicates_in_top10pct": int((top & duplicated).sum()), "n_duplicates": int(duplicated.sum())}


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--lr", type=float, default=0.05)
    a = p.parse_args(argv)
    dataset, epochs, vectors = ("digits:400", 20, 2) if a.smoke else (a.dataset, a.epochs, 10)
    out = a.out or Path("runs/exp-curvature-" + dataset.replace(":", "-") + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    data = ml.data.load(dataset).plant(ml.data.label_noise(0.1, seed=a.seed)).plant(ml.data.duplicates(20, seed=a.seed))
    everyone = np.ones((1, data.n_examples), dtype=bool)
    trainer = ml.train.Ensemble("mlp", epochs=epochs, optimizer=a.optimizer, lr=a.lr, proxies=("curvature",),
                                proxy_every=max(1, epochs // 20), curvature_vectors=vectors)
    t = time.perf_counter()
    obs = trainer.fit_observe(data, everyone, ml.train.model_seeds(a.seed, 1))
    results = {"experiment": "curvature", "dataset": dataset, "n_examples": data.n_examples,
               "trainer": trainer.config(), "seconds": round(time.perf_counter() - t, 1),
               "train_accuracy": float(obs["correct"].mean()),
               "averaged": evaluate(data, obs["curvature"][0].astype(np.float64))}
    # the same training (same seed), curvature of the final model only
    final = _final_curvature(data, a, epochs, vectors)
    results["final epoch only"] = evaluate(data, final)
    avg = results["averaged"]
    results["targets"] = {"auroc_flipped": ">= 0.85", "duplicates_in_top10pct": ">= 75% of the 40"}
    if not a.smoke:
        results["pass"] = bool(avg["auroc_flipped"] >= 0.85 and avg["duplicates_in_top10pct"] >= 0.75 * avg["n_duplicates"])
    return record(out, "curvature", results)


def _final_curvature(data, a, epochs, vectors) -> np.ndarray:
    """Curvature of the final model only: the same training, one checkpoint at the last epoch."""
    import torch

    from memlens.train.proxies import ProxyTracker

    trainer = ml.train.Ensemble("mlp", epochs=epochs, optimizer=a.optimizer, lr=a.lr)
    captured = {}
    original = trainer._observe

    def observe_and_score(params, X, y, image_shape, probabilities=True):
        if "curvature" not in captured:  # the first call observes the training set
            tracker = ProxyTracker(trainer, ("curvature",), 1, len(X), epochs=epochs, curvature_vectors=vectors)
            with torch.enable_grad():
                tracker.update(params, X, torch.from_numpy(np.asarray(y)), image_shape, epoch=epochs, lr=trainer.lr)
            captured["curvature"] = tracker.results()["curvature"][0]
        return original(params, X, y, image_shape, probabilities)

    trainer._observe = observe_and_score
    trainer.fit_observe(data, np.ones((1, data.n_examples), dtype=bool), ml.train.model_seeds(a.seed, 1))
    return captured["curvature"].astype(np.float64)


if __name__ == "__main__":
    main()
