"""MIMM fit cost vs scikit-learn's KernelRidge on the same RBF kernel, and Cholesky vs an explicit inverse.

(a) ``MIMM.fit`` (memlens.capacity.memorization_machines): distances, the RBF kernel, the memory
width (median pairwise distance), duplicate detection, one Cholesky factorisation of the
(N, N) block and two solves for the bordered LS-SVM system; (b) ``KernelRidge(kernel="rbf")``
with the same gamma, fitted to ±1 labels: one kernel and one positive-definite solve, the nearest
off-the-shelf fit of the same size (it has no bias and no memory). Also ``LSSVM.fit``. Then the
linear algebra alone on MIMM's matrix H: ``solve_bordered_system`` (cho_factor/cho_solve) vs
forming ``inv(H)`` and multiplying (numpy.linalg.inv), with each solution's residual on the full
(N+1)×(N+1) system. Two noisy Gaussian classes in R^20. Best of ``--repeats`` after a warm-up;
one BLAS thread by default (the cores are shared). Prints a table and, last, the ratio at the
largest N.

    python bench/memorization_machines.py [--n 500,1000,2000,4000] [--repeats 7] [--threads 1] [--smoke]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from threadpoolctl import threadpool_info, threadpool_limits

from memlens.capacity.memorization_machines import LSSVM, MIMM, solve_bordered_system

if __package__ in (None, ""):  # run as `python bench/NAME.py`
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import best_of  # noqa: E402


def two_noisy_classes(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) inputs of two overlapping Gaussian classes and (n,) labels with 10% flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + 0.7 * (2 * y[:, None] - 1) / np.sqrt(d)
    flipped = rng.random(n) < 0.1
    y[flipped] = 1 - y[flipped]
    return X, y


def bordered_by_inverse(H: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The same elimination as ``solve_bordered_system`` through an explicit inverse (the slow twin)."""
    inverse = np.linalg.inv(H)
    eta, nu = inverse @ y, inverse @ np.ones_like(y)
    b = float(y @ nu) / float(y @ eta)
    return b, nu - b * eta


def residual(H: np.ndarray, y: np.ndarray, b: float, alpha: np.ndarray) -> float:
    """Max-norm residual of [[0, yᵀ], [y, H]] [b; a] = [0; 1]."""
    return float(max(abs(y @ alpha), np.abs(y * b + H @ alpha - 1.0).max()))


def mimm_matrix(model: MIMM, X: np.ndarray, s: np.ndarray) -> np.ndarray:
    """H = Ω + I/λ + I/C of a fitted MIMM on distinct inputs (its memory block is I/λ)."""
    from sklearn.metrics.pairwise import euclidean_distances

    H = np.exp(-model.gamma_ * euclidean_distances(X, squared=True)) * np.outer(s, s)
    H[np.diag_indices_from(H)] += 1.0 / model.memory_penalty + 1.0 / model.C
    return H


def measure(n: int, d: int, repeats: int, seed: int) -> dict:
    X, y = two_noisy_classes(n, d, seed)
    s = np.where(y == 1, 1.0, -1.0)
    lam = 10.0
    mimm = MIMM(C=1e6, memory_penalty=lam)
    t_mimm, fitted = best_of(lambda: mimm.fit(X, y), repeats)
    assert fitted.score(X, y) == 1.0  # C > λ N: every training point is fitted
    # the same kernel and the same ridge (1/λ + 1/C) as MIMM's kernel part
    ridge = KernelRidge(alpha=1.0 / lam + 1.0 / mimm.C, kernel="rbf", gamma=fitted.gamma_)
    t_ridge, _ = best_of(lambda: ridge.fit(X, s), repeats)
    t_lssvm, _ = best_of(lambda: LSSVM(C=lam).fit(X, y), repeats)
    H = mimm_matrix(fitted, X, s)
    t_chol, (b_chol, a_chol) = best_of(lambda: solve_bordered_system(H, s), repeats)
    t_inv, (b_inv, a_inv) = best_of(lambda: bordered_by_inverse(H, s), repeats)
    return {"n": n, "d": d, "mimm_fit_s": t_mimm, "kernel_ridge_fit_s": t_ridge, "lssvm_fit_s": t_lssvm,
            "ratio_mimm_vs_kernel_ridge": t_mimm / t_ridge, "ratio_mimm_vs_lssvm": t_mimm / t_lssvm,
            "cholesky_solve_s": t_chol, "inverse_solve_s": t_inv, "inverse_vs_cholesky": t_inv / t_chol,
            "residual_cholesky": residual(H, s, b_chol, a_chol), "residual_inverse": residual(H, s, b_inv, a_inv),
            "max_abs_difference": float(np.abs(np.r_[b_chol - b_inv, a_chol - a_inv]).max())}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", default="500,1000,2000,4000", help="comma-separated training-set sizes")
    p.add_argument("--d", type=int, default=20)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="two small sizes, one repeat (for the test suite)")
    a = p.parse_args(argv)
    sizes, repeats = ([200, 400], 1) if a.smoke else ([int(v) for v in a.n.split(",")], a.repeats)
    rows = []
    with threadpool_limits(a.threads or None):
        blas = ", ".join(sorted({f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()}))
        print(f"BLAS: {blas}; d = {a.d}; best of {repeats}")
        print(f"{'N':>6} {'MIMM fit':>10} {'KernelRidge':>12} {'LSSVM':>10} {'MIMM/KR':>8} "
              f"{'cho solve':>10} {'inv solve':>10} {'inv/cho':>8} {'res cho':>9} {'res inv':>9}")
        measure(sizes[0], a.d, 1, a.seed)  # warm-up: the first fits of a process pay for page faults
        for n in sizes:
            r = measure(n, a.d, repeats, a.seed)
            rows.append(r)
            print(f"{n:>6} {r['mimm_fit_s'] * 1e3:>8.1f}ms {r['kernel_ridge_fit_s'] * 1e3:>10.1f}ms "
                  f"{r['lssvm_fit_s'] * 1e3:>8.1f}ms {r['ratio_mimm_vs_kernel_ridge']:>8.2f} "
                  f"{r['cholesky_solve_s'] * 1e3:>8.1f}ms {r['inverse_solve_s'] * 1e3:>8.1f}ms "
                  f"{r['inverse_vs_cholesky']:>8.2f} {r['residual_cholesky']:>9.1e} {r['residual_inverse']:>9.1e}",
                  flush=True)
    print(f"ratio MIMM/KernelRidge {rows[-1]['ratio_mimm_vs_kernel_ridge']:.2f} at N = {rows[-1]['n']}")
    return rows


if __name__ == "__main__":
    main()
