"""Reproduction: one factor of Gu et al. on Fashion-MNIST — unique-label conditioning vs none, over |D|.

Gu et al. (On Memorization in Diffusion Models, TMLR 2025) find that a diffusion model's
memorization ratio falls as its training set |D| grows, and that conditioning on uninformative
*unique* labels (one label per training image) makes it memorize far more than training
unconditionally. Here: the first 6,000 Fashion-MNIST training images, downsampled to 14×14 by
2×2 average pooling; class-balanced subsets of each size in ``--sizes`` (nested: a smaller subset
lies inside the larger), one design row each, trained on the engine (``run_design``) with
:class:`~memlens.generative.diffusion.DiffusionTrainer` — the diffusers U-Net EDM denoiser
(``--network unet``) or the MLP (``mlp``) — once unconditionally and once with unique labels.
Every model samples ``--samples`` images at each snapshot (EDM Heun, 18 steps); a sample is
memorized when its nearest training image (8-bit pixels) is < 1/3 as far as the second nearest;
a model's memorization ratio is its highest over snapshots (Clopper–Pearson interval, joint over
snapshots). Deviations from the paper (2 CPU cores): far fewer training steps, fixed per model
rather than 40,000 epochs; a 1.1 M-parameter U-Net instead of DDPM++; 14×14 grey images;
hundreds of samples instead of 10,000.

Pass (reported, not asserted): at the smallest |D| where the unconditional ratio is below 0.5,
unique labels are ≥ 0.2 higher; the unconditional ratio does not rise with |D|.

    python experiments/diffusion_fashion.py [--smoke] [--network unet|mlp] [--sizes 8,32,128]
                                            [--steps 1000] [--batch 32] [--samples 200]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

CONDITIONS = ("none", "unique")


def main(argv=None) -> dict:
    import torch

    import memlens as ml
    from memlens.engine import run_design
    from memlens.generative.audit import pooled
    from memlens.generative.diffusion import DiffusionTrainer
    from memlens.generative.emm import size_design
    from memlens.generative.replication import max_over_snapshots

    p = parser(__doc__)
    p.add_argument("--network", default="unet", choices=["unet", "mlp"])
    p.add_argument("--dataset", default="fashion-mnist:6000")
    p.add_argument("--pool", type=int, default=2, help="average-pool the images by this factor (2: 28×28 → 14×14)")
    p.add_argument("--sizes", default="8,32,128", help="training-set sizes |D|, comma-separated")
    p.add_argument("--steps", type=int, default=1000, help="training steps per model, whatever |D|")
    p.add_argument("--snapshots", type=int, default=2, help="evenly spaced snapshots, the last at --steps")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ema", type=float, default=0.99)
    p.add_argument("--samples", type=int, default=200, help="images each model generates per snapshot")
    a = p.parse_args(argv)
    torch.set_num_threads(1)  # the 2 cores are shared: one thread each is faster than two contended
    if a.smoke:
        a.dataset, a.pool, a.sizes, a.steps, a.snapshots, a.batch, a.samples = "fashion-mnist:200", 4, "4,8", 10, 2, 8, 6
    sampler_steps = 3 if a.smoke else 18
    sizes = sorted({int(s) for s in str(a.sizes).split(",")})
    out = a.out or Path(f"runs/exp-diffusion-fashion-{a.network}" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = ml.data.load(a.dataset)
    data = pooled(data, a.pool) if a.pool > 1 else data
    design = size_design(data.y, sizes, seed=a.seed)  # class-balanced, nested subsets
    snapshots = sorted({max(1, round(a.steps * (i + 1) / a.snapshots)) for i in range(a.snapshots)})
    rows, trainers, seconds = {}, {}, {}
    for condition in CONDITIONS:
        trainer = DiffusionTrainer(a.network, condition=condition, steps=a.steps, batch_size=a.batch, lr=a.lr,
                                   ema=a.ema, snapshots=snapshots, samples=a.samples,
                                   sampler_steps=sampler_steps)
        started = time.perf_counter()
        store = run_design(data, design, trainer, out / condition, seed=a.seed, progress=not a.no_progress,
                           description=f"{len(sizes)} {a.network} models, condition {condition}")
        replicated = store.observation("sample_replicated")  # (models, snapshots, samples)
        losses = store.observation("sample_loss")  # (models, snapshots)
        trainers[condition] = trainer.config()
        rows[condition] = []
        for m, size in enumerate(sizes):
            best = max_over_snapshots(replicated[m])
            rows[condition].append({
                "size": size, "ratio": best.ratio, "ci_low": best.low, "ci_high": best.high,
                "best_snapshot_step": snapshots[best.best], "ratio_per_snapshot": best.ratios.tolist(),
                "final_loss": float(losses[m, -1]),
                "median_nn_ratio_best_snapshot": float(np.median(store.observation("sample_ratio")[m, best.best])),
            })
        seconds[condition] = round(time.perf_counter() - started, 1)
    none = np.array([r["ratio"] for r in rows["none"]])
    unique = np.array([r["ratio"] for r in rows["unique"]])
    below = np.flatnonzero(none < 0.5)
    at = int(below[0]) if len(below) else None
    results = {
        "experiment": "diffusion-fashion (Gu et al.: conditioning factor)", "network": a.network,
        "dataset": data.name, "image_shape": list(data.image_shape), "sizes": sizes,
        "design": design.spec, "trainer": trainers, "ratios": rows,
        "unique_minus_none": (unique - none).tolist(),
        "size_where_unconditional_below_half": None if at is None else sizes[at],
        "pass_unique_at_least_0p2_higher_there": None if at is None else bool(unique[at] - none[at] >= 0.2),
        "pass_unconditional_non_increasing_in_size": bool(np.all(np.diff(none) <= 0.05)),
        "seconds": round(time.perf_counter() - t0, 1), "seconds_per_condition": seconds,
    }
    return record(out, "diffusion_fashion", results)


if __name__ == "__main__":
    main()
