"""Reproduction: the empirical score memorizes, regularization prevents it (Baptista et al. 2025).

Training sets of N ∈ {8, 16, 64} points from scikit-learn's ``make_moons`` (noise 0.05);
5,000 fresh population points from the same generator for the MMD. VP process with
β ∈ [0.1, 20], T = 1, t_min = 1e-3. Each closed-form score — the empirical minimizer s*, the
Tikhonov score s_c (c ∈ {0, 1e-4, 1e-3, 1e-2, 1e-1}) and the density-floor score s_τ
(τ ∈ {0, 1e-3, 1e-2, 1e-1, 1}), all :func:`memlens.generative.closed_form.mixture_score` — drives
2,000 samples (the same noise for every score) through the reverse SDE (Euler–Maruyama, 1,000
steps) and the probability-flow ODE (RK45, rtol 1e-5).

A sample is read out, as samplers usually do, with one final denoising (Tweedie) step at t_min
using the same score: x̂ = (x + σ(t_min)² s(x, t_min)) / m(t_min) — what the EDM Heun sampler of
the neural part does too (its last step returns D(x; σ_min)). The raw end states are reported as
well: at t_min = 1e-3 they still carry noise of std σ(t_min) ≈ 0.0105, more than the collapse
radius when N = 64. Collapse (:func:`memlens.generative.metrics.collapse_fraction`): distance to
the nearest training point < 0.05 × the median nearest-neighbour distance among training points.

Pass criteria (§7): (a) s* collapses ≥ 95% of samples, SDE and ODE; (b) ≥ 95% of ODE
trajectories end at the training point y_n whose scaled copy m(t) y_n is nearest to the state at
t = 0.05 (Voronoi basins); (c) collapse strictly decreasing in c and in τ, ≤ 0.2 at the largest;
(d) some c > 0 has lower MMD (unbiased MMD², RBF, median-heuristic bandwidth of the population,
one bandwidth for all scores) to the population than c = 0; (e) trained EDM denoisers
(:class:`memlens.generative.diffusion.DiffusionTrainer`, MLP widths 16/64/256, snapshots up to
100k steps, Heun sampler, samples mapped back to data space): collapse for N = 8 grows by ≥ 0.3
from the first to the last snapshot, and the widest net reaches 50% collapse in fewer steps than
the narrowest. One trainer per width, its membership rows the N = 8, 16 and 64 sets
(``--neural-sizes``). Also reported: Voronoi agreement at later times (0.02, 0.01, 0.005), and the
MMD at the median bandwidth / 4 and / 16 (a kernel fine enough to see point masses).

    python experiments/diffusion_regularization.py [--smoke] [--neural-steps 100000]
    # ~15–27 min on 2 shared cores; --widths '' or --sizes '' skips the trained or closed-form part
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

C_GRID = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
TAU_GRID = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
T_MIN, T_VORONOI = 1e-3, 0.05
VORONOI_TIMES = (0.05, 0.02, 0.01, 0.005)  # (b) is judged at 0.05; the later times show where basins settle
NARROW = (4, 16)  # MMD also at the median-heuristic bandwidth divided by these (a finer kernel)


def moons(n: int, seed: int, stream: int) -> np.ndarray:
    """``n`` points of ``make_moons`` (noise 0.05) from an experiment-local stream of ``seed``."""
    from sklearn.datasets import make_moons

    state = int(np.random.SeedSequence([seed, 0xB4, stream]).generate_state(1)[0] >> 1)
    return make_moons(n, noise=0.05, random_state=state)[0]


def tweedie(score, process, x: np.ndarray, t: float) -> np.ndarray:
    """The denoised estimate E[X_0 | X_t = x] = (x + σ(t)² s(x, t)) / m(t) under ``score``."""
    return (x + process.std(t) ** 2 * score(x, t)) / process.mean_scale(t)


def _bound_score(mixture_score, mix, process, **strength):
    """s(x, t) of one regularized mixture score, for the samplers."""
    return lambda x, t: mixture_score(mix, x, t, process, **strength)


def strictly_decreasing(values) -> bool:
    return bool(np.all(np.diff(np.asarray(values, dtype=np.float64)) < 0))


def closed_form(train, population, noise, *, em_steps: int, seed: int, bandwidth: float,
                c_grid=C_GRID, tau_grid=TAU_GRID) -> dict:
    """Every closed-form score on one training set: collapse (denoised and raw), MMD, Voronoi basins."""
    from memlens.generative.closed_form import EmpiricalMixture, VPProcess, mixture_score
    from memlens.generative.metrics import collapse_fraction, mmd_rbf, nearest_distance
    from memlens.generative.samplers import euler_maruyama_sample, probability_flow_sample

    vp, mix = VPProcess(), EmpiricalMixture(train)
    scores = [("c", c) for c in c_grid] + [("tau", tau) for tau in tau_grid[1:]]  # tau = 0 is c = 0
    rows, voronoi = {}, None
    for kind, value in scores:
        score = _bound_score(mixture_score, mix, vp, **{kind: value})
        sde = euler_maruyama_sample(score, vp, noise, steps=em_steps, t_min=T_MIN, rng=[seed, 0x5DE])
        flow = probability_flow_sample(score, vp, noise, t_min=T_MIN, rtol=1e-5,
                                       t_eval=VORONOI_TIMES if value == 0 else None)
        row = {}
        for name, raw in (("sde", sde), ("ode", flow.x)):
            out = tweedie(score, vp, raw, T_MIN)
            row[name] = {"collapse": collapse_fraction(out, train),
                         "collapse_raw": collapse_fraction(raw, train),
                         "mmd": mmd_rbf(out, population, bandwidth=bandwidth)}
            if kind == "c":
                row[name]["mmd_narrow"] = {f"median/{k}": mmd_rbf(out, population, bandwidth=bandwidth / k)
                                           for k in NARROW}
        row["ode"]["nfev"] = int(flow.nfev)
        rows[f"{kind}={value:g}"] = row
        if value == 0:  # Voronoi basins of s*: nearest scaled point at time t vs the point reached
            _, landed = nearest_distance(flow.x, train)
            voronoi = {}
            for t, at in zip(flow.t, flow.path, strict=True):
                basin = np.linalg.norm(at[:, None] - vp.mean_scale(t) * train[None], axis=-1).argmin(1)
                voronoi[f"{t:g}"] = float((basin == landed).mean())
    star = rows["c=0"]
    c_sde = [rows[f"c={c:g}"]["sde"]["collapse"] for c in c_grid]
    c_ode = [rows[f"c={c:g}"]["ode"]["collapse"] for c in c_grid]
    tau_keys = ["c=0" if tau == 0 else f"tau={tau:g}" for tau in tau_grid]
    tau_sde = [rows[k]["sde"]["collapse"] for k in tau_keys]
    tau_ode = [rows[k]["ode"]["collapse"] for k in tau_keys]
    mmd_sde = [rows[f"c={c:g}"]["sde"]["mmd"] for c in c_grid]
    mmd_ode = [rows[f"c={c:g}"]["ode"]["mmd"] for c in c_grid]
    raw_sde = [rows[f"c={c:g}"]["sde"]["collapse_raw"] for c in c_grid]
    raw_ode = [rows[f"c={c:g}"]["ode"]["collapse_raw"] for c in c_grid]
    narrow = {f"median/{k}": {s: [rows[f"c={c:g}"][s]["mmd_narrow"][f"median/{k}"] for c in c_grid]
                              for s in ("sde", "ode")} for k in NARROW}
    return {
        "scores": rows,
        "voronoi_agreement": voronoi[f"{T_VORONOI:g}"],
        "voronoi_agreement_by_t": voronoi,
        "collapse_vs_c": {"sde": c_sde, "ode": c_ode},
        "collapse_raw_vs_c": {"sde": raw_sde, "ode": raw_ode},
        "collapse_vs_tau": {"sde": tau_sde, "ode": tau_ode},
        "mmd_vs_c": {"sde": mmd_sde, "ode": mmd_ode},
        "mmd_narrow_vs_c": narrow,
        "pass_a_sde": star["sde"]["collapse"] >= 0.95,
        "pass_a_ode": star["ode"]["collapse"] >= 0.95,
        "pass_a_raw_end_states": star["sde"]["collapse_raw"] >= 0.95 and star["ode"]["collapse_raw"] >= 0.95,
        "pass_b_voronoi": voronoi[f"{T_VORONOI:g}"] >= 0.95,
        "pass_c_c": {s: strictly_decreasing(v) and v[-1] <= 0.2 for s, v in (("sde", c_sde), ("ode", c_ode))},
        "pass_c_c_raw_end_states": {s: strictly_decreasing(v) and v[-1] <= 0.2
                                    for s, v in (("sde", raw_sde), ("ode", raw_ode))},
        "pass_c_tau": {s: strictly_decreasing(v) and v[-1] <= 0.2 for s, v in (("sde", tau_sde), ("ode", tau_ode))},
        "pass_d_mmd": {s: min(v[1:]) < v[0] for s, v in (("sde", mmd_sde), ("ode", mmd_ode))},
        "pass_d_mmd_narrow": {h: {s: min(v[1:]) < v[0] for s, v in by.items()} for h, by in narrow.items()},
        "best_c_by_mmd": {s: c_grid[1 + int(np.argmin(v[1:]))] for s, v in (("sde", mmd_sde), ("ode", mmd_ode))},
    }


def neural(train_sets: dict, widths, steps: int, snapshots, samples: int, seed: int, progress: bool) -> dict:
    """EDM MLP denoisers, one trainer per width (rows = the training sets), collapse per snapshot."""
    from memlens.generative.diffusion import DiffusionTrainer
    from memlens.generative.metrics import collapse_fraction
    from memlens.seeds import model_seeds

    sizes = list(train_sets)
    data = np.vstack([train_sets[n] for n in sizes])
    membership = np.zeros((len(sizes), len(data)), dtype=bool)
    offsets = np.cumsum([0] + [len(train_sets[n]) for n in sizes])
    for row, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        membership[row, a:b] = True
    lo, hi = float(data.min()), float(data.max())  # the bounding box → [−1, 1]
    out = {"value_range": [lo, hi], "snapshots": list(snapshots), "widths": {}}
    for width in widths:
        t = time.perf_counter()
        trainer = DiffusionTrainer("mlp", hidden=width, steps=steps, snapshots=snapshots, samples=samples,
                                   value_range=(lo, hi))
        obs = trainer.fit_observe(data, membership, model_seeds(seed, len(sizes)))
        points = lo + (obs["sample_points"].astype(np.float64) + 1) / 2 * (hi - lo)  # (models, snaps, B, 2)
        per_size = {}
        for row, n in enumerate(sizes):
            curve = [collapse_fraction(points[row, s], train_sets[n]) for s in range(len(snapshots))]
            reach = next((step for step, f in zip(snapshots, curve, strict=True) if f >= 0.5), None)
            per_size[str(n)] = {"collapse": curve, "steps_to_half": reach,
                                "loss": obs["sample_loss"][row].tolist()}
        out["widths"][str(width)] = {"seconds": round(time.perf_counter() - t, 1), "sizes": per_size}
        if progress:
            print(f"width {width}: {round(time.perf_counter() - t, 1)} s, "
                  + "; ".join(f"N={n} collapse {np.round(v['collapse'], 3).tolist()}" for n, v in per_size.items()),
                  flush=True)
    if "8" in out["widths"][str(widths[0])]["sizes"]:
        growth = {str(w): out["widths"][str(w)]["sizes"]["8"]["collapse"][-1]
                  - out["widths"][str(w)]["sizes"]["8"]["collapse"][0] for w in widths}
        reach = {str(w): out["widths"][str(w)]["sizes"]["8"]["steps_to_half"] for w in widths}
        wide, narrow = reach[str(max(widths))], reach[str(min(widths))]
        out["n8_growth_first_to_last"] = growth
        out["n8_steps_to_half"] = reach
        out["pass_e_growth_every_width"] = all(g >= 0.3 for g in growth.values())
        out["pass_e_growth_widest"] = growth[str(max(widths))] >= 0.3
        out["pass_e_widest_faster"] = wide is not None and (narrow is None or wide < narrow)
    return out


def main(argv=None) -> dict:
    import torch

    p = parser(__doc__)
    p.add_argument("--sizes", default="8,16,64", help="training-set sizes N for the closed-form scores ('' skips them)")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--population", type=int, default=5000)
    p.add_argument("--em-steps", type=int, default=1000)
    p.add_argument("--widths", default="16,64,256", help="MLP widths of the trained denoisers ('' skips them)")
    p.add_argument("--neural-sizes", default="8,16,64", help="training-set sizes for the trained denoisers")
    p.add_argument("--neural-steps", type=int, default=100_000)
    p.add_argument("--snapshots", default="1000,2000,5000,10000,20000,50000,100000",
                   help="training steps at which each denoiser samples (≤ --neural-steps are kept)")
    a = p.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine; every problem here is small
    try:
        return run(a)
    finally:
        torch.set_num_threads(threads)  # called from the test suite: leave torch as it was


def run(a) -> dict:
    """The experiment for parsed arguments ``a`` (see :func:`main`)."""
    if a.smoke:
        sizes, samples, population, widths, neural_sizes = [8], 200, 1000, [16, 64], [8]
        steps, snapshots, neural_samples = 300, [100, 300], 100
        c_grid, tau_grid = (0.0, 1e-3, 1e-1), (0.0, 1e-1, 1.0)  # the ends and one middle value
    else:
        sizes, samples, population = [int(s) for s in a.sizes.split(",") if s.strip()], a.samples, a.population
        widths = [int(w) for w in a.widths.split(",") if w.strip()]
        neural_sizes = [int(s) for s in a.neural_sizes.split(",") if s.strip()]
        steps, neural_samples = a.neural_steps, a.samples
        snapshots = sorted({int(s) for s in a.snapshots.split(",") if int(s) <= steps} | {steps})
        c_grid, tau_grid = C_GRID, TAU_GRID
    out = a.out or Path("runs/exp-diffusion-regularization" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    from memlens.generative.metrics import collapse_radius, median_bandwidth, mmd_rbf

    pop = moons(population, a.seed, 0)
    bandwidth = median_bandwidth(pop)
    # the MMD a perfect sampler would score: fresh population points, as many as the samples
    floor = mmd_rbf(moons(samples, a.seed, 1), pop, bandwidth=bandwidth)
    noise = np.random.default_rng([a.seed, 0x401]).standard_normal((samples, 2))
    train_sets = {n: moons(n, a.seed, n) for n in sorted(set(sizes) | set(neural_sizes))}
    results = {"experiment": "diffusion-regularization", "process": {"kind": "VP", "beta": [0.1, 20.0],
               "t_min": T_MIN}, "samples": samples, "population": population, "em_steps": a.em_steps,
               "c_grid": list(c_grid), "tau_grid": list(tau_grid), "mmd_bandwidth": bandwidth,
               "mmd_fresh_population_sample": floor,
               "collapse_radius": {str(n): collapse_radius(x) for n, x in train_sets.items()}, "sizes": {}}
    t = time.perf_counter()
    for n in sizes:
        t_n = time.perf_counter()
        results["sizes"][str(n)] = closed_form(train_sets[n], pop, noise, em_steps=a.em_steps, seed=a.seed,
                                               bandwidth=bandwidth, c_grid=c_grid, tau_grid=tau_grid)
        results["sizes"][str(n)]["seconds"] = round(time.perf_counter() - t_n, 1)
        if not a.no_progress:
            r = results["sizes"][str(n)]
            print(f"N={n}: collapse vs c (SDE) {np.round(r['collapse_vs_c']['sde'], 3).tolist()}, "
                  f"vs tau {np.round(r['collapse_vs_tau']['sde'], 3).tolist()}", flush=True)
    results["closed_form_seconds"] = round(time.perf_counter() - t, 1)
    if widths and neural_sizes:
        t = time.perf_counter()
        results["neural"] = neural({n: train_sets[n] for n in neural_sizes}, widths, steps, snapshots,
                                   neural_samples, a.seed, not a.no_progress)
        results["neural"]["steps"] = steps
        results["neural_seconds"] = round(time.perf_counter() - t, 1)
    record(out, "diffusion_regularization", results)
    return results


if __name__ == "__main__":
    main()
