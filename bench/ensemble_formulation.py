"""Does the ensemble's hand-written dense step change what an audit finds? Autograd vs hand-written, same seeds.

The fast path (:mod:`memlens.train.dense`) computes the same gradients as autograd, so in float32
it can only differ by summation order; in bfloat16 it rounds at other places than autocast does.
Issue 15 asks that a faster formulation not move memorization or LiRA results beyond their
run-to-run noise. For each dataset and precision this trains the same design with both
formulations and with a second seed, and prints, for Feldman–Zhang memorization (correctness)
and LiRA online (each of 8 models attacked in turn): the change between formulations next to
the change between seeds.

    python bench/ensemble_formulation.py [--models 32] [--datasets digits fashion-mnist:4000]
"""

from __future__ import annotations

import argparse
import time

from scipy.stats import spearmanr

from memlens.data import load
from memlens.design import halves
from memlens.estimate import memorization_scores
from memlens.estimate.in_turn import attack_in_turn
from memlens.estimate.metrics import attack_metrics
from memlens.estimate.mia import lira_online
from memlens.train import Ensemble, model_seeds


def audit(data, membership, seed: int, *, precision: str, hand_written: bool, epochs: int) -> dict:
    """Train the design once and return what an audit reads off it."""
    Ensemble.hand_written = hand_written
    try:
        trainer = Ensemble("mlp", width=256, epochs=epochs, batch_size=128, lr=1e-3, precision=precision, device="cpu")
        start = time.perf_counter()
        obs = trainer.fit_observe(data, membership, model_seeds(seed, len(membership)))
        seconds = time.perf_counter() - start
    finally:
        Ensemble.hand_written = True
    labels, scores, _ = attack_in_turn(membership, obs["confidence"], lira_online, targets=range(8))
    lira = attack_metrics(labels, scores, fprs=(0.01,))
    return {
        "memorization": memorization_scores(membership, obs["correct"]).memorization,
        "auc": lira["auc"],
        "tpr@1%": lira["tpr_at_fpr"]["0.01"],
        "accuracy": float(obs["test_correct"].mean()),
        "seconds": seconds,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=32)
    p.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist:4000"])
    p.add_argument("--epochs", type=int, default=30)
    a = p.parse_args(argv)
    print(f"{a.models} MLPs (width 256) on LiRA halves, {a.epochs} epochs, Adam 1e-3; "
          "Δ = hand-written − autograd (seed 0); noise = seed 1 − seed 0 (autograd)")
    print(f"{'dataset':20s} {'precision':9s} {'memo ρ':>8s} {'noise ρ':>8s} {'ΔAUC':>7s} {'noise':>7s} "
          f"{'ΔTPR@1%':>8s} {'noise':>7s} {'Δacc':>7s} {'speed-up':>8s}")
    for name in a.datasets:
        data = load(name)
        membership = halves(a.models, data.n_examples, seed=0).membership
        for precision in ("float32", "bfloat16"):
            base = audit(data, membership, 0, precision=precision, hand_written=False, epochs=a.epochs)
            fast = audit(data, membership, 0, precision=precision, hand_written=True, epochs=a.epochs)
            other = audit(data, membership, 1, precision=precision, hand_written=False, epochs=a.epochs)
            rho = spearmanr(base["memorization"], fast["memorization"], nan_policy="omit").statistic
            noise = spearmanr(base["memorization"], other["memorization"], nan_policy="omit").statistic
            print(f"{name:20s} {precision:9s} {rho:8.3f} {noise:8.3f} {fast['auc'] - base['auc']:+7.4f} "
                  f"{other['auc'] - base['auc']:+7.4f} {fast['tpr@1%'] - base['tpr@1%']:+8.4f} "
                  f"{other['tpr@1%'] - base['tpr@1%']:+7.4f} {fast['accuracy'] - base['accuracy']:+7.4f} "
                  f"{base['seconds'] / fast['seconds']:7.1f}×", flush=True)


if __name__ == "__main__":
    main()
