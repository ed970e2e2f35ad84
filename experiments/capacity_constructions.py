"""Reproductions E1 (Dirksen, Finke & Genzel) and E2a–c (Yun, Sra & Jadbabaie): two memorizing constructions.

E1 — :class:`~memlens.capacity.interpolating.RandomizedInterpolatingNet` (n random threshold
hyperplanes, greedy cover, OR):

* E1a: ``make_moons(N, noise=0.05)``, N ∈ {1k, 10k, 100k}, n = 1000, λ = 1.0, 20 seeds. Pass: the
  interpolation rate ≥ 0.95 at every N, mean layer-2 width W₂(100k) ≤ 1.5·W₂(1k) and W₂ ≤ 20.
* E1b: the same inputs with permuted labels, N ∈ {200, 400, 800}. Pass: W₂(800)/W₂(200) ≥ 3
  (and E1a's ratio ≤ 1.5).
* E1c: digits 1-vs-7, n ∈ {20, 50, 100, 200, 500}, λ = 0.5, 10 seeds. Pass: rate at n = 500
  ≥ 0.9 and non-decreasing in n within 0.1.

E2 — :class:`~memlens.capacity.sqrt_n.SqrtNMemorizer` (widths 2p−1, 2q for N ≤ p·q):

* E2a: digits (N = 1797, d = 64) with uniform random labels 0..9, p = q = 43 (widths 85, 86).
  Pass: max |f(x_i) − y_i| < 1e-3 and rounded accuracy 100%; parameters vs the 1,797-unit
  one-hidden-layer interpolator.
* E2b: Gaussian X (N × 20), N ∈ {100, 400, 1600, 6400}, random labels 0..9, 3 seeds. Pass:
  exact (max error < 1e-3, rounded 100%) with d₁ + d₂ ≤ 4√N + 2 at every N, and the log–log slope
  of d₁ + d₂ against N in 0.5 ± 0.05.
* E2c: :class:`~memlens.capacity.sqrt_n.SqrtNClassifier` on E2a's data: pass if 100% training
  accuracy with widths (85, 86, 30).
* Fit time of ``SqrtNMemorizer`` on N = 100,000 Gaussian points in R^20 (target < 60 s on 2 cores).

Every figure is recorded whatever it is, with its pass/fail.

    python experiments/capacity_constructions.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record


def _moons(n: int, seed: int):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.05, random_state=seed)


def _fit_rin(X, y, n_hidden: int, max_bias: float, seed: int):
    from memlens.capacity.interpolating import NotInterpolatingWarning, RandomizedInterpolatingNet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotInterpolatingWarning)  # recorded as the interpolation rate
        return RandomizedInterpolatingNet(n_hidden, max_bias=max_bias, random_state=seed).fit(X, y)


def _summary(nets) -> dict:
    widths = np.array([net.hidden_widths_[1] for net in nets], dtype=float)
    return {"interpolation_rate": float(np.mean([net.interpolates_ for net in nets])),
            "layer2_width_mean": float(widths.mean()), "layer2_width_std": float(widths.std(ddof=1)),
            "layer2_width_min": int(widths.min()), "layer2_width_max": int(widths.max()), "runs": len(nets)}


def e1(sizes, random_sizes, n_hidden: int, digits_widths, seeds: int, digit_seeds: int) -> dict:
    """E1a–c; widths are layer-2 widths (the OR layer's inputs), rates over seeds."""
    from sklearn.datasets import load_digits

    t = time.perf_counter()
    a = {}
    for n in sizes:
        nets = []
        for s in range(seeds):
            X, y = _moons(n, s)
            nets.append(_fit_rin(X, y, n_hidden, 1.0, s))
        a[str(n)] = _summary(nets)
    b = {}
    for n in random_sizes:
        nets = []
        for s in range(seeds):
            X, y = _moons(n, s)
            nets.append(_fit_rin(X, np.random.default_rng([s, 0xE1B]).permutation(y), n_hidden, 1.0, s))
        b[str(n)] = _summary(nets)
    X, y = load_digits(return_X_y=True)
    pair = (y == 1) | (y == 7)
    c = {str(w): _summary([_fit_rin(X[pair], y[pair], w, 0.5, s) for s in range(digit_seeds)])
         for w in digits_widths}
    first, last = str(sizes[0]), str(sizes[-1])
    true_ratio = a[last]["layer2_width_mean"] / a[first]["layer2_width_mean"]
    random_ratio = (b[str(random_sizes[-1])]["layer2_width_mean"] / b[str(random_sizes[0])]["layer2_width_mean"])
    rates = [c[str(w)]["interpolation_rate"] for w in digits_widths]
    checks = {
        "E1a_rate_at_least_0.95_every_N": all(v["interpolation_rate"] >= 0.95 for v in a.values()),
        f"E1a_width_ratio_{last}_over_{first}": true_ratio,
        "E1a_width_ratio_at_most_1.5": true_ratio <= 1.5,
        "E1a_width_at_most_20_everywhere": all(v["layer2_width_mean"] <= 20 for v in a.values()),
        f"E1b_width_ratio_{random_sizes[-1]}_over_{random_sizes[0]}": random_ratio,
        "E1b_width_ratio_at_least_3": random_ratio >= 3,
        f"E1c_rate_at_n{digits_widths[-1]}": rates[-1],
        "E1c_rate_at_largest_n_at_least_0.9": rates[-1] >= 0.9,
        "E1c_rate_non_decreasing_within_0.1": all(r2 >= r1 - 0.1 for r1, r2 in zip(rates, rates[1:], strict=False)),
    }
    return {"E1a_moons": a, "E1b_moons_random_labels": b, "E1c_digits_1_vs_7": c, "n_hidden": n_hidden,
            "checks": checks, "seconds": round(time.perf_counter() - t, 1)}


def _exactness(net, X, y) -> dict:
    out = net.predict(X)
    return {"max_abs_error": float(np.abs(out - y).max()), "rounded_accuracy": float((np.rint(out) == y).mean())}


def e2(sizes, seeds: int, digits_n: int | None, bench_n: int) -> dict:
    """E2a–c and the fit-time benchmark."""
    from sklearn.datasets import load_digits

    from memlens.capacity.sqrt_n import SqrtNClassifier, SqrtNMemorizer

    t = time.perf_counter()
    X, _ = load_digits(return_X_y=True)
    X = X[:digits_n]
    y = np.random.default_rng([0, 0xE2A]).integers(0, 10, len(X)).astype(float)
    side = int(np.ceil(np.sqrt(len(X))))
    net = SqrtNMemorizer((2 * side - 1, 2 * side), random_state=0).fit(X, y)
    d1, d2 = net.hidden_widths_
    baseline = X.shape[1] * len(X) + len(X) + len(X) + 1  # one hidden layer of N units: d·N + N + N + 1
    a = {"N": len(X), "p": side, "q": side, "hidden_widths": net.hidden_widths_, **_exactness(net, X, y),
         "parameters": net.n_parameters_, "one_hidden_layer_parameters": baseline,
         "parameter_ratio": net.n_parameters_ / baseline}
    b = {}
    for n in sizes:
        runs = []
        for s in range(seeds):
            rng = np.random.default_rng([s, 0xE2B])
            Xg, yg = rng.normal(size=(n, 20)), rng.integers(0, 10, n).astype(float)
            m = SqrtNMemorizer(random_state=s).fit(Xg, yg)
            runs.append({"hidden_widths": m.hidden_widths_, **_exactness(m, Xg, yg)})
        b[str(n)] = {"hidden_widths": runs[0]["hidden_widths"], "width_sum": sum(runs[0]["hidden_widths"]),
                     "bound_4sqrtN_plus_2": 4 * np.sqrt(n) + 2,
                     "max_abs_error_over_seeds": max(r["max_abs_error"] for r in runs),
                     "min_rounded_accuracy": min(r["rounded_accuracy"] for r in runs), "seeds": seeds}
    slope = float(np.polyfit(np.log(sizes), np.log([b[str(n)]["width_sum"] for n in sizes]), 1)[0])
    clf = SqrtNClassifier((2 * side - 1, 2 * side), random_state=0).fit(X, y.astype(int))
    c = {"hidden_widths": clf.hidden_widths_, "train_accuracy": float(clf.score(X, y.astype(int))),
         "max_abs_code_error": clf.max_abs_error_, "parameters": clf.n_parameters_}
    rng = np.random.default_rng([0, 0xBE])
    Xb, yb = rng.normal(size=(bench_n, 20)), rng.integers(0, 10, bench_n).astype(float)
    start = time.perf_counter()
    bench_net = SqrtNMemorizer(tol=0.5 / 9, random_state=0).fit(Xb, yb)  # labels ≤ 9: 0.5 absolute
    fit_seconds = time.perf_counter() - start
    bench = {"N": bench_n, "d": 20, "fit_seconds": round(fit_seconds, 2), "hidden_widths": bench_net.hidden_widths_,
             "max_abs_error_float64": bench_net.max_abs_error_,
             "rounded_accuracy": float((np.rint(bench_net.predict(Xb)) == yb).mean()),
             "note": "fit includes the float64 forward pass over all N that measures the error"}
    checks = {
        "E2a_max_error_below_1e-3": a["max_abs_error"] < 1e-3, "E2a_rounded_accuracy_100pct": a["rounded_accuracy"] == 1,
        "E2b_exact_every_N": all(v["max_abs_error_over_seeds"] < 1e-3 and v["min_rounded_accuracy"] == 1
                                 for v in b.values()),
        "E2b_widths_within_4sqrtN_plus_2": all(v["width_sum"] <= v["bound_4sqrtN_plus_2"] for v in b.values()),
        "E2b_loglog_slope": slope, "E2b_slope_within_0.5_pm_0.05": abs(slope - 0.5) <= 0.05,
        "E2c_train_accuracy_100pct": c["train_accuracy"] == 1.0,
        "E2c_widths": c["hidden_widths"], "E2c_widths_are_85_86_30": tuple(c["hidden_widths"]) == (85, 86, 30),
        "fit_100k_under_60s": fit_seconds < 60 if bench_n >= 100_000 else None,
    }
    return {"E2a_digits_random_labels": a, "E2b_gaussian_scaling": b, "E2c_classifier": c,
            "fit_benchmark": bench, "checks": checks, "seconds": round(time.perf_counter() - t, 1)}


def main(argv=None) -> dict:
    import torch

    p = parser(__doc__)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    out = a.out or Path("runs/exp-capacity-constructions" + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    if a.smoke:
        first = e1((300, 1000), (100, 400), 300, (20, 100), seeds=3, digit_seeds=3)
        second = e2((100, 400), seeds=1, digits_n=400, bench_n=2000)
    else:
        first = e1((1000, 10_000, 100_000), (200, 400, 800), 1000, (20, 50, 100, 200, 500), seeds=20, digit_seeds=10)
        second = e2((100, 400, 1600, 6400), seeds=3, digits_n=None, bench_n=100_000)
    results = {"experiment": "capacity-constructions", "smoke": a.smoke, "E1": first, "E2": second,
               "checks": {**first["checks"], **second["checks"]}}
    return record(out, "capacity_constructions", results)


if __name__ == "__main__":
    main()
