"""Reproduction (a): Feldman–Zhang memorization finds flipped labels on digits.

digits (1,347 training images), 5% of labels flipped to another class, 400 MLPs each trained on
a random 70% subset (the paper's protocol). Pass: AUROC of memorization for the flipped labels
≥ 0.95, split-half Pearson correlation of the score (models 1–200 vs 201–400) ≥ 0.8.

    python experiments/fz_digits.py            # ~2 min on 2 cores
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

import memlens as ml

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--models", type=int, default=400)
    a = p.parse_args(argv)
    models, dataset = (20, "digits:400") if a.smoke else (a.models, "digits")
    out = a.out or Path("runs/exp-fz-digits" + ("-smoke" if a.smoke else ""))
    data = ml.data.load(dataset).plant(ml.data.label_noise(0.05, seed=a.seed))
    design = ml.design.subsample(models, data.n_examples, 0.7, seed=a.seed)
    epochs = ml.train.ensemble.auto_epochs(int(design.membership[0].sum()), 128)
    trainer = ml.train.Ensemble("mlp", epochs=epochs)
    t = time.perf_counter()
    run = ml.audit(data, design, trainer, out, seed=a.seed, progress=not a.no_progress)
    seconds = time.perf_counter() - t
    membership, correct = np.asarray(run.membership), np.asarray(run.observations["correct"])
    mem = run.scores["memorization"].to_numpy()
    found = ml.estimate.planted_recovery(data.planted, mem)
    half = models // 2
    first = ml.estimate.memorization_scores(membership[:half], correct[:half]).memorization
    second = ml.estimate.memorization_scores(membership[half:], correct[half:]).memorization
    ok = ~np.isnan(first) & ~np.isnan(second)
    results = {
        "experiment": "fz-digits", "dataset": dataset, "plant": "label-noise:0.05", "models": models,
        "design": "subsample:0.7", "trainer": trainer.config(), "seconds": round(seconds, 1),
        "auroc_flipped": found["auroc"], "flipped_in_top_k": found["found_in_top"], "n_flipped": found["n_planted"],
        "mean_mem_flipped": float(np.nanmean(mem[data.planted])), "mean_mem_clean": float(np.nanmean(mem[~data.planted])),
        "split_half_pearson": float(pearsonr(first[ok], second[ok])[0]),
        "split_half_spearman": float(spearmanr(first[ok], second[ok])[0]),
        "test_accuracy": float(np.asarray(run.observations["test_correct"]).mean()),
        "targets": {"auroc_flipped": ">= 0.95", "split_half_pearson": ">= 0.8"},
    }
    results["pass"] = bool(results["auroc_flipped"] >= 0.95 and results["split_half_pearson"] >= 0.8)
    return record(out, "fz_digits", results)


if __name__ == "__main__":
    main()
