"""Reproduction: removing the most memorized examples vs as many random ones (Feldman & Zhang 2020).

The long-tail claim: the examples a network memorizes are mostly rare subpopulations that the
test set also contains, so dropping them costs more test accuracy than dropping as many random
examples. Protocol per dataset: a Feldman–Zhang audit (MLPs on random 70% subsets); then the
top 2% most memorized examples are removed (``Design.excluding``) and, as the control, three
draws of 2% random examples; each retrained with the same design rows and model seeds as the
first models of the audit, so model m after removal differs from model m before only by the
removed examples (a paired comparison). Recorded: mean test accuracy change over models with its
standard error, and the memorization distribution before and after. Criterion (recorded whatever
it is): the accuracy drop from removing memorized examples exceeds each random draw's.

    python experiments/removal_longtail.py          # digits + fashion-mnist:2000, ~20 min on one core
    python experiments/removal_longtail.py --smoke  # seconds, for the test suite
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
from memlens.mitigations.removal import most_memorized_ids, random_ids


def quantiles(values: np.ndarray) -> dict:
    """Mean and quantiles of the finite memorization scores."""
    v = values[np.isfinite(values)]
    q = np.quantile(v, [0.5, 0.9, 0.98, 0.99]) if len(v) else [np.nan] * 4
    return {"n": int(len(v)), "mean": float(v.mean()) if len(v) else None,
            "median": float(q[0]), "p90": float(q[1]), "p98": float(q[2]), "p99": float(q[3]),
            "share_above_0.5": float((v > 0.5).mean()) if len(v) else None}


def test_accuracy(run) -> np.ndarray:
    """(M,) test accuracy of each model of a run."""
    return np.asarray(run.observations["test_correct"], dtype=np.float64).mean(axis=1)


def one_dataset(dataset: str, *, models: int, retrain: int, share: float, draws: int, seed: int,
                out: Path, progress: bool, epochs: int | None = None) -> dict:
    data = ml.data.load(dataset)
    n = data.n_examples
    k = max(1, round(share * n))
    design = ml.design.subsample(models, n, 0.7, seed=seed)
    epochs = epochs or ml.train.ensemble.auto_epochs(int(design.membership[0].sum()), 128)
    trainer = ml.train.Ensemble("mlp", epochs=epochs, precision="float32", device="cpu")
    slug = dataset.replace(":", "-")
    t = time.perf_counter()
    before = ml.audit(data, design, trainer, out / f"{slug}-audit", seed=seed, progress=progress)
    mem_before = before.scores["memorization"].to_numpy(dtype=np.float64)
    acc_before = test_accuracy(before)[:retrain]  # the models the retrains pair with
    # the first `retrain` rows of the audit's design: same subsets, same model seeds
    base = ml.design.subsample(retrain, n, 0.7, seed=seed)
    assert np.array_equal(base.membership, design.membership[:retrain])
    removals = {"memorized": most_memorized_ids(before.scores, k)}
    for draw in range(draws):
        removals[f"random-{draw}"] = random_ids(n, k, seed=seed + 1000 * (draw + 1))
    conditions = {}
    for name, ids in removals.items():
        run = ml.audit(data, base.excluding(ids, f"removal_longtail:{name}"), trainer,
                       out / f"{slug}-{name}", seed=seed, progress=progress)
        acc = test_accuracy(run)
        change = acc - acc_before
        mem_after = run.scores["memorization"].to_numpy(dtype=np.float64)
        kept = np.setdiff1d(np.arange(n), ids)
        conditions[name] = {
            "removed": int(len(ids)),
            "removed_mean_memorization_before": float(np.nanmean(mem_before[ids])),
            "test_accuracy": float(acc.mean()),
            "test_accuracy_change": float(change.mean()),
            "test_accuracy_change_stderr": float(change.std(ddof=1) / np.sqrt(len(change))),
            "memorization_after_kept": quantiles(mem_after[kept]),
            "memorization_before_kept": quantiles(mem_before[kept]),
        }
    random_changes = [conditions[f"random-{d}"]["test_accuracy_change"] for d in range(draws)]
    memorized_change = conditions["memorized"]["test_accuracy_change"]
    return {
        "dataset": dataset, "n_examples": n, "n_test": int(len(data.y_test)), "models_audit": models,
        "models_retrained": retrain, "removed_each": k, "share": share, "trainer": trainer.config(),
        "test_accuracy_before": float(acc_before.mean()),
        "memorization_before": quantiles(mem_before),
        "conditions": conditions,
        "random_change_mean": float(np.mean(random_changes)),
        "memorized_minus_random": float(memorized_change - np.mean(random_changes)),
        "memorized_costs_more_than_every_random_draw": bool(all(memorized_change < r for r in random_changes)),
        "seconds": round(time.perf_counter() - t, 1),
    }


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--datasets", default="digits@300x100,fashion-mnist:2000@160x50",
                   help="comma-separated DATASET@AUDIT_MODELSxRETRAIN_MODELS")
    p.add_argument("--draws", type=int, default=3, help="random-removal draws (the control)")
    p.add_argument("--share", type=float, default=0.02, help="share of the examples removed")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    epochs = None  # enough for >= 500 steps per model (memlens audit's default)
    if a.smoke:
        plans, draws, epochs = [("digits:200", 8, 4)], 2, 20
    else:
        plans, draws = [], a.draws
        for item in a.datasets.split(","):
            name, _, sizes = item.partition("@")
            models, _, retrain = (sizes or "300x100").partition("x")
            plans.append((name, int(models), int(retrain)))
    out = a.out or Path("runs/exp-removal-longtail" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    per_dataset = [one_dataset(d, models=models, retrain=retrain, share=a.share, draws=draws, seed=a.seed,
                               out=out, progress=not a.no_progress, epochs=epochs) for d, models, retrain in plans]  # fmt: skip
    results = {
        "experiment": "removal-longtail", "design": "subsample:0.7", "datasets": per_dataset,
        "criterion": "removing the top 2% most memorized costs more test accuracy than each of the random 2% draws",
        "pass": bool(all(d["memorized_costs_more_than_every_random_draw"] for d in per_dataset)),
    }
    return record(out, "removal_longtail", results)


if __name__ == "__main__":
    main()
