"""Reproduction E3: the width at which gradient training memorizes m random labels grows as m/d (Daniely 2020).

For each (d, m), m points uniform on S^{d−1} with uniform ±1 labels (5 independent draws, each a
pure function of the seed); two-layer ReLU networks f = (1/√q) Σ a_j relu(⟨w_j, x⟩) with symmetric
initialisation, only W trained, full-batch Adam on the logistic loss for up to 3000 epochs (a
model stops once it fits all its points). q_min = the smallest even width fitting 100% of the points
in ≥ 4 of 5 draws, found by bisection: each round trains its probe widths × 5 draws as one batched
ensemble on the engine (:func:`memlens.capacity.width_sweep.bisect_width`). Pass criteria (the
notes' E3; the default ``--grid half`` halves the notes' d and m, (d, m) ∈ {8, 16, 32} × {256, 1024},
keeping their m/d range 8 … 128, to fit ~10 CPU minutes on 2 shared cores; ``--grid quarter`` is
{8, 16, 32} × {128, 512}, ``--grid notes`` the notes' own):

1. the OLS slope of log q_min on log(m/d) is in [0.7, 1.3] (95% t interval and bootstrap reported);
2. q_min·d/m ≤ 16·ln m in every setting;
3. at the largest m, q_min(smallest d)/q_min(largest d) ∈ [2, 8] (d ratio 4).

    python experiments/capacity_width.py [--smoke] [--epochs 3000] [--draws 5 --required 4]
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

GRIDS = {  # (d, m)
    "quarter": ((8, 128), (16, 128), (32, 128), (8, 512), (16, 512), (32, 512)),  # m/d 4 … 64
    "half": ((8, 256), (16, 256), (32, 256), (8, 1024), (16, 1024), (32, 1024)),  # m/d 8 … 128, as the notes
    "notes": ((16, 512), (32, 512), (64, 512), (16, 2048), (32, 2048), (64, 2048)),
}
SMOKE_GRID = ((4, 32), (8, 32), (4, 64))


def main(argv=None) -> dict:
    import torch

    from memlens.capacity.width_sweep import bisect_width, fit_power_law

    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=3000)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--required", type=int, default=4)
    p.add_argument("--probes", type=int, default=13, help="widths per bisection round (× draws models)")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--grid", choices=sorted(GRIDS), default="half",
                   help="(d, m) settings: the notes' grid, or it with d and m halved / quartered")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    grid = GRIDS[args.grid]
    if args.smoke:
        grid = SMOKE_GRID
        args.epochs, args.draws, args.required, args.probes, args.rounds = 300, 2, 2, 5, 2
    out = args.out or Path("runs/capacity_width")
    out.mkdir(parents=True, exist_ok=True)
    settings = []
    for d, m in grid:
        start = time.perf_counter()
        result = bisect_width(m, d, out / f"m{m}-d{d}", draws=args.draws, required=args.required,
                              probes=args.probes, max_rounds=args.rounds, data_seed=args.seed, seed=args.seed,
                              trainer_options={"epochs": args.epochs, "lr": args.lr},
                              progress=not args.no_progress)
        seconds = time.perf_counter() - start
        settings.append({
            "d": d, "m": m, "m_over_d": m / d, "q_min": result.q_min, "bracket": list(result.bracket),
            "q_min_d_over_m": None if result.q_min is None else result.q_min * d / m,
            "bound_16_ln_m": 16 * math.log(m), "rounds": result.rounds, "models": len(result.probes),
            "models_per_round": [sum(p["round"] == r for p in result.probes) for r in range(1, result.rounds + 1)],
            "fitted_draws_by_width": {str(w): f"{a}/{b}" for w, (a, b) in result.pass_counts().items()},
            "seconds": round(seconds, 1),
        })
        print(f"d={d} m={m}: q_min={result.q_min} bracket={result.bracket} ({seconds:.0f}s)", flush=True)
    found = [s for s in settings if s["q_min"] is not None]
    x, y = [s["m_over_d"] for s in found], [s["q_min"] for s in found]
    ols, boot = fit_power_law(x, y), fit_power_law(x, y, method="bootstrap", seed=args.seed)
    m_top = max(m for _, m in grid)
    at_top = {s["d"]: s["q_min"] for s in settings if s["m"] == m_top}
    d_lo, d_hi = min(at_top), max(at_top)
    ratio = at_top[d_lo] / at_top[d_hi] if at_top[d_lo] and at_top[d_hi] else None
    criteria = {
        "slope_in_0.7_1.3": bool(0.7 <= ols.exponent <= 1.3),
        "q_min_d_over_m_le_16_ln_m": all(s["q_min"] is not None and s["q_min_d_over_m"] <= s["bound_16_ln_m"]
                                          for s in settings),
        f"ratio_d{d_lo}_over_d{d_hi}_at_m{m_top}_in_2_8": ratio is not None and 2 <= ratio <= 8,
    }
    return record(out, "capacity_width", {
        "experiment": "E3 Daniely q_min ∝ m/d", "smoke": args.smoke,
        "grid": "smoke" if args.smoke else args.grid,
        "training": {"epochs_max": args.epochs, "lr": args.lr, "optimizer": "Adam, full batch", "draws": args.draws,
                     "required": args.required, "probes_per_round": args.probes, "max_rounds": args.rounds},
        "settings": settings,
        "fit": {"exponent": ols.exponent, "ci95_t": [ols.ci_low, ols.ci_high],
                "ci95_bootstrap": [boot.ci_low, boot.ci_high], "prefactor": float(np.exp(ols.log_prefactor))},
        "ratio_at_top_m": ratio, "criteria": criteria, "passed": all(criteria.values()),
        "total_seconds": round(sum(s["seconds"] for s in settings), 1),
    })


if __name__ == "__main__":
    main()
