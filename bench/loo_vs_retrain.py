"""Closed-form leave-one-out vs retraining N times: ridge and RBF kernel ridge on digits.

(a) what users would otherwise run: refit scikit-learn's ``Ridge`` / ``KernelRidge`` once per
example with that row deleted and predict it; (b) ``memlens.train.closed_form``: all N
leave-one-out predictions from one SVD (ridge) or one Cholesky factorization (kernel ridge).
Targets are one-hot labels (K = 10), as for a classifier. The baseline times ``--refits`` random
refits and extrapolates linearly to N (``--refits all`` does every one); the kernel baseline
reuses one precomputed kernel matrix, while the closed-form time includes computing it, so both
choices favour the baseline. The two must agree to 1e-6 on every refit done. Prints a table and,
last, ``speedup N.Nx`` (the smaller of the two models' speedups).

    python bench/loo_vs_retrain.py [--n 1500] [--data digits|synthetic] [--refits 100|all]
                                   [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge, RidgeCV
from threadpoolctl import threadpool_info, threadpool_limits

from memlens.data import load
from memlens.train.closed_form import kernel_ridge_loo, rbf_kernel, ridge_loo

if __package__ in (None, ""):  # run as `python bench/NAME.py`
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import best_of  # noqa: E402

TOL = 1e-6


def dataset(name: str, n: int, seed: int):
    """(n, 64) features and (n,) labels: digits' train and test pools together, or blobs."""
    if name == "digits":
        d = load("digits")
        X = np.concatenate([d.X, d.X_test]).astype(np.float64)  # (1797, 64)
        y = np.concatenate([d.y, d.y_test])
        if n > len(X):
            sys.exit(f"digits has {len(X)} examples; for --n {n} use --data synthetic")
        return X[:n], y[:n]
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    centers = rng.normal(size=(10, 64))
    return centers[y] + 1.5 * rng.normal(size=(n, 64)), y


def blas_threads() -> str:
    return ", ".join(sorted({f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()}))


def refit_ridge(X, Y, i, alpha):
    keep = np.arange(len(X)) != i
    return Ridge(alpha=alpha).fit(X[keep], Y[keep]).predict(X[i : i + 1])[0]


def refit_kernel_ridge(K, Y, i, alpha):
    keep = np.arange(len(K)) != i
    model = KernelRidge(alpha=alpha, kernel="precomputed").fit(K[keep][:, keep], Y[keep])
    return model.predict(K[i : i + 1, keep])[0]


def retrain(refit, which, n):
    """Time the refits in ``which``; return (seconds per refit, (R, K) predictions)."""
    refit(which[0])  # warm-up
    t = time.perf_counter()
    preds = np.array([refit(i) for i in which])
    return (time.perf_counter() - t) / len(which), preds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=1500, help="examples (>= 1000 for the issue's target)")
    p.add_argument("--data", default="digits", choices=["digits", "synthetic"])
    p.add_argument("--refits", default="100", help="refits to time, or 'all'")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge penalty")
    p.add_argument("--kernel-alpha", type=float, default=0.01, help="kernel ridge penalty")
    p.add_argument("--gamma", type=float, default=0.05, help="RBF kernel width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: as is)")
    a = p.parse_args(argv)
    if a.threads is not None:
        threadpool_limits(a.threads)

    X, y = dataset(a.data, a.n, a.seed)
    Y = np.eye(10)[y]  # (N, 10) one-hot targets
    n = len(X)
    rng = np.random.default_rng(a.seed)
    which = (
        np.arange(n)
        if a.refits == "all"
        else rng.choice(n, size=min(int(a.refits), n), replace=False)
    )
    extrapolated = len(which) < n
    print(
        f"{a.data}: N={n}, D={X.shape[1]}, K=10 one-hot targets; ridge alpha={a.alpha}, "
        f"RBF kernel ridge gamma={a.gamma} alpha={a.kernel_alpha}; {os.cpu_count()} CPU cores, "
        f"BLAS threads {blas_threads()}"
    )
    print(
        f"baseline: {len(which)} refits "
        + (
            f"at random examples (seed {a.seed}), time extrapolated linearly to N={n}"
            if extrapolated
            else "(all)"
        )
    )

    rows = []
    # ridge ------------------------------------------------------------------------------------
    t_cf, r = best_of(lambda: ridge_loo(X, Y, alpha=a.alpha), repeats=5)
    per, preds = retrain(lambda i: refit_ridge(X, Y, i, a.alpha), which, n)
    err = float(np.abs(preds - r.loo[which]).max())
    rows.append(("ridge (SVD)", t_cf, per, per * n, err))
    t_cv, _ = best_of(
        lambda: RidgeCV(
            alphas=[a.alpha], store_cv_results=True, scoring="neg_mean_squared_error"
        ).fit(X, Y),
        repeats=5,
    )
    # kernel ridge -----------------------------------------------------------------------------
    K = rbf_kernel(X, gamma=a.gamma)
    t_cf, r = best_of(
        lambda: kernel_ridge_loo(rbf_kernel(X, gamma=a.gamma), Y, alpha=a.kernel_alpha), repeats=3
    )
    per, preds = retrain(lambda i: refit_kernel_ridge(K, Y, i, a.kernel_alpha), which, n)
    err = float(np.abs(preds - r.loo[which]).max())
    rows.append(("RBF kernel ridge (Cholesky)", t_cf, per, per * n, err))

    print()
    head = f"{'model':<28} {'closed form':>12} {'one refit':>10} {'N refits':>11} {'speedup':>9} {'max |diff|':>11}"
    print(head)
    print("-" * len(head))
    for name, t_cf, per, total, err in rows:
        mark = "~" if extrapolated else " "
        print(
            f"{name:<28} {t_cf * 1e3:>9.1f} ms {per * 1e3:>7.2f} ms {mark}{total:>8.2f} s "
            f"{total / t_cf:>8.1f}x {err:>11.1e}"
        )
    if extrapolated:
        print(f"(~ = extrapolated from {len(which)} refits; 'max |diff|' is over those refits)")
    else:
        print(f"('max |diff|' is over all {n} refits)")
    print(
        f"for reference, sklearn RidgeCV(store_cv_results=True), which uses the same identity for "
        f"ridge only: {t_cv * 1e3:.1f} ms"
    )
    worst = max(err for *_, err in rows)
    print(
        f"agreement with refitting: max |diff| {worst:.1e} ({'within' if worst <= TOL else 'OUTSIDE'} {TOL:g})"
    )
    speedup = min(total / t_cf for _, t_cf, _, total, _ in rows)
    print(f"speedup {speedup:.1f}x")
    if worst > TOL:
        sys.exit(1)


if __name__ == "__main__":
    main()
