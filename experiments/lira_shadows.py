"""Reproduction (b): LiRA's power at low FPR grows with the number of shadow models.

digits with 5% flipped labels; 72 MLPs as 36 complementary pairs (each example IN for exactly
half of any set of whole pairs). Models 0–7 are attacked in turn; shadows are nested subsets of
models 8–71 of size S ∈ {2, 4, 8, 16, 32, 64}. Scores and membership are pooled over the 8
targets (~5,400 non-members, so 0.1% FPR is resolved). Pass: TPR at 1% FPR with S = 2 < 8 < 64.

    python experiments/lira_shadows.py          # ~1 min on 2 cores
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

import memlens as ml

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import paired_halves, parser, record

SHADOWS = (2, 4, 8, 16, 32, 64)


def main(argv=None) -> dict:
    p = parser(__doc__)
    a = p.parse_args(argv)
    n_targets = 8
    shadow_counts = (2, 4, 8) if a.smoke else SHADOWS
    dataset = "digits:400" if a.smoke else "digits"
    out = a.out or Path("runs/exp-lira-shadows" + ("-smoke" if a.smoke else ""))
    data = ml.data.load(dataset).plant(ml.data.label_noise(0.05, seed=a.seed))
    models = n_targets + max(shadow_counts)
    design = paired_halves(models, data.n_examples, seed=a.seed)
    trainer = ml.train.Ensemble("mlp", epochs=ml.train.ensemble.auto_epochs(data.n_examples // 2, 128))
    t = time.perf_counter()
    run = ml.audit(data, design, trainer, out, seed=a.seed, progress=not a.no_progress)
    seconds = time.perf_counter() - t
    membership = np.asarray(run.membership)
    confidence = np.asarray(run.observations["confidence"])
    rows = []
    for s in shadow_counts:
        shadows = np.arange(n_targets, n_targets + s)
        row = {"shadows": s}
        for name, attack in {
            "lira-online (global variance)": functools.partial(ml.estimate.lira_online, fix_variance=True),
            "lira-online (per-example variance)": ml.estimate.lira_online,
            "lira-offline (global variance)": functools.partial(ml.estimate.lira_offline, fix_variance=True),
            "rmia": ml.estimate.rmia_offline_attack,
        }.items():
            labels, scores = [], []
            for target in range(n_targets):
                scores.append(attack(confidence[target], membership[shadows], confidence[shadows]))
                labels.append(membership[target])
            labels, scores = np.concatenate(labels), np.concatenate(scores)
            keep = ~np.isnan(scores)
            m = ml.estimate.attack_metrics(labels[keep], scores[keep])
            row[name] = {"auc": round(m["auc"], 4), "tpr@0.1%": round(m["tpr_at_fpr"]["0.001"], 4),
                         "tpr@1%": round(m["tpr_at_fpr"]["0.01"], 4), "dropped": int((~keep).sum())}
        rows.append(row)
        print(f"S={s:>3}: " + "  ".join(f"{k}: TPR@1%={v['tpr@1%']:.3f}" for k, v in row.items() if k != "shadows"))
    key = "lira-online (global variance)"
    tpr = {r["shadows"]: r[key]["tpr@1%"] for r in rows}
    results = {
        "experiment": "lira-shadows", "dataset": dataset, "models": models, "targets": n_targets,
        "design": "paired-halves", "trainer": trainer.config(), "seconds": round(seconds, 1), "sweep": rows,
        "pass_rule": f"{key}: TPR@1%FPR at S=2 < S=8 < S=64",
    }
    if not a.smoke:
        results["pass"] = bool(tpr[2] < tpr[8] < tpr[64])
    return record(out, "lira_shadows", results)


if __name__ == "__main__":
    main()
