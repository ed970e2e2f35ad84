"""Reproduction: DP-SGD (Opacus) at ε ∈ {1, 4, 16, ∞} on digits with 5% flipped labels.

One `memlens.audit` per ε, same data, plant, halves design (64 MLPs), architecture, optimizer,
batches and seeds; ε = ∞ is the same training without clipping or noise (DPTrainer with noise
multiplier 0 and clipping norm ∞). Per ε: mean Feldman–Zhang memorization of the flipped vs the
clean examples, LiRA (online) AUC and TPR at 0.1% FPR, test accuracy, the accountant's ε
(privacy.json), and two audited ε lower bounds:

* multi-run: mia.json's ``epsilon_lower_bound`` (Clopper–Pearson over thresholds, δ = 0, 95%,
  threshold chosen on half the pooled (target, example) pairs), the largest over the attacks;
* one-run (Steinke, Nasr & Jagielski 2023): model 0 alone, its N training-pool examples as the
  canaries — in a halves design each example is IN for model 0 independently with probability ½.
  Score = minus model 0's own loss (no shadow models: their membership is tied to model 0's by the
  design, so a score calibrated on them could leak model 0's bits). Guesses: OUT only, for the
  r highest-loss examples, r ∈ {10, 20, 50, 100, 200}, the best r reported with Bonferroni
  (β = 0.05 / 5 each), at the run's δ.

Checks: memorization of the flipped examples and TPR@0.1% fall as ε falls; neither audited
bound exceeds the accountant's ε (asserted).

    python experiments/dp_sgd_digits.py          # ~20 min on one core
    python experiments/dp_sgd_digits.py --smoke  # seconds, for the test suite
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import memlens as ml

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

EPSILONS = (1.0, 4.0, 16.0, math.inf)
ONE_RUN_GUESSES = (10, 20, 50, 100, 200)


def trainer_for(epsilon: float, *, smoke: bool):
    """The DP-SGD trainer of one arm; ε = ∞ is the same optimizer and batches, unclipped, noise-free."""
    from memlens.train.dp import DPTrainer

    # smoke: full batches (sample rate 1), for which Opacus's noise search takes milliseconds
    common = {"width": 16, "epochs": 4, "batch_size": 512} if smoke else {"width": 128, "epochs": 60, "batch_size": 128}
    if math.isinf(epsilon):
        return DPTrainer("mlp", optimizer="sgd", lr=0.05, noise_multiplier=0.0, max_grad_norm=math.inf, **common)
    return DPTrainer("mlp", optimizer="sgd", lr=0.5, target_epsilon=epsilon, max_grad_norm=1.0, **common)


def one_run_bound(membership: np.ndarray, loss: np.ndarray, *, delta: float, guesses) -> dict:
    """Steinke et al.'s one-run ε lower bound for model 0: OUT guesses on its highest losses."""
    from memlens.estimate.epsilon import one_run_epsilon_sweep

    guesses = [g for g in guesses if g <= membership.shape[1]]
    sweep = one_run_epsilon_sweep(membership[0], -loss[0], guesses=guesses, in_fraction=0.0,
                                  delta=delta, beta=0.05, correct_for_sweep=True)  # fmt: skip
    best = sweep["best"]
    return {"epsilon": sweep["epsilon"], "guesses": best["guesses"], "correct": best["correct"],
            "canaries": best["m"], "beta": sweep["beta"], "beta_each": sweep["beta_each"], "delta": delta,
            "score": "-loss of model 0", "guess_counts_tried": guesses}  # fmt: skip


def main(argv=None) -> dict:
    p = parser(__doc__)
    p.add_argument("--models", type=int, default=None, help="models per ε (default 64; smoke 8)")
    p.add_argument("--plant", default="label-noise:0.05")
    a = p.parse_args(argv)
    models = a.models or (8 if a.smoke else 64)
    dataset = "digits:300" if a.smoke else "digits"
    out = a.out or Path("runs/exp-dp-sgd" + ("-smoke" if a.smoke else ""))
    data = ml.data.load(dataset).plant(ml.data.parse_plant(a.plant, seed=a.seed))
    design = ml.design.parse("halves", models, data.n_examples, seed=a.seed)
    flipped = np.asarray(data.planted, dtype=bool)
    arms = []
    for epsilon in EPSILONS:
        trainer = trainer_for(epsilon, smoke=a.smoke)
        name = "inf" if math.isinf(epsilon) else f"{epsilon:g}"
        t = time.perf_counter()
        run = ml.audit(data, design, trainer, out / f"eps-{name}", seed=a.seed, n_targets=4 if a.smoke else 8,
                       progress=not a.no_progress)  # fmt: skip
        seconds = time.perf_counter() - t
        memorization = run.scores["memorization"].to_numpy(dtype=np.float64)
        attacks = run.mia["attacks"]
        lira = attacks["lira-online"]
        audited = {k: m["epsilon_lower_bound"]["epsilon"] for k, m in attacks.items() if "epsilon_lower_bound" in m}
        privacy = run.store.read_json("privacy.json") if "privacy.json" in run.store.manifest["files"] else None
        delta = privacy["delta"] if privacy else trainer.delta
        arm = {
            "epsilon_target": name,
            "accountant_epsilon": privacy["epsilon"] if privacy else None,
            "noise_multiplier": privacy["noise_multiplier"] if privacy else 0.0,
            "memorization_flipped": float(np.nanmean(memorization[flipped])),
            "memorization_clean": float(np.nanmean(memorization[~flipped])),
            "lira_online_auc": lira["auc"],
            "lira_online_tpr_at_0.1%": lira["tpr_at_fpr"]["0.001"],
            "lira_online_tpr_at_1%": lira["tpr_at_fpr"]["0.01"],
            "test_accuracy": float(np.asarray(run.observations["test_correct"]).mean()),
            "multi_run_epsilon_lower_bound": max(audited.values()),
            "multi_run_bound_per_attack": audited,
            "one_run": one_run_bound(np.asarray(run.membership), np.asarray(run.observations["loss"]),
                                     delta=delta, guesses=ONE_RUN_GUESSES),  # fmt: skip
            "seconds": round(seconds, 1),
            "seconds_per_model": round(seconds / models, 2),
        }
        arms.append(arm)
        print(f"ε={name:>4}: accountant ε {arm['accountant_epsilon']}, memorization flipped "
              f"{arm['memorization_flipped']:.3f} / clean {arm['memorization_clean']:.3f}, LiRA AUC "
              f"{arm['lira_online_auc']:.3f} TPR@0.1% {arm['lira_online_tpr_at_0.1%']:.4f}, test acc "
              f"{arm['test_accuracy']:.3f}, audited ε ≥ {arm['multi_run_epsilon_lower_bound']:.3f} (multi-run), "
              f"{arm['one_run']['epsilon']:.3f} (one-run)", flush=True)  # fmt: skip
        if privacy:  # the audits may never beat the accountant: if they do, something is broken
            assert arm["multi_run_epsilon_lower_bound"] <= privacy["epsilon"], arm
            assert arm["one_run"]["epsilon"] <= privacy["epsilon"], arm
    # ordered from ε = ∞ down to ε = 1
    by_privacy = arms[::-1]
    mem = [arm["memorization_flipped"] for arm in by_privacy]
    tpr = [arm["lira_online_tpr_at_0.1%"] for arm in by_privacy]
    results = {
        "experiment": "dp-sgd-digits", "dataset": dataset, "plant": a.plant, "models": models,
        "design": "halves", "n_flipped": int(flipped.sum()),
        "trainers": {arm["epsilon_target"]: trainer_for(e, smoke=a.smoke).config() for arm, e in zip(arms, EPSILONS, strict=True)},
        "arms": arms,
        "checks": {
            "memorization_of_flipped_falls_with_epsilon": bool(all(x >= y for x, y in zip(mem, mem[1:], strict=False))),
            "tpr_at_0.1%_falls_with_epsilon": bool(all(x >= y for x, y in zip(tpr, tpr[1:], strict=False))),
            "audited_bounds_below_accountant": True,  # asserted per arm above
        },
    }  # fmt: skip
    return record(out, "dp_sgd_digits", results)


if __name__ == "__main__":
    main()
