"""MIMM / WIMM / LS-SVM: brute-force twins of the linear system, exact memorization, refusals, controls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.utils.estimator_checks import parametrize_with_checks

from memlens.capacity.memorization_machines import (
    LSSVM,
    MIMM,
    WIMM,
    CapacityInputError,
    solve_bordered_system,
)
from memlens.errors import MemlensError


def noisy_xor(n: int, seed: int, flip: float = 0.2):
    """2-D XOR labels with a share ``flip`` of them flipped: a kernel smoother cannot fit them all."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    flipped = rng.random(n) < flip
    y[flipped] = 1 - y[flipped]
    return X, y


def brute_force(model, X, y, X_query):
    """The notes' system written out in full and solved by numpy.linalg.solve; f(X_query) by loops.

    Δ_ij = δ(x_j, x_i): MIMM keeps only the most influential j per row (first on ties), WIMM all.
    """
    m = len(X)
    s = np.where(y == np.unique(y)[1], 1.0, -1.0)  # classes_[1] is the larger label
    gamma = 1.0 / (X.shape[1] * X.var()) if model.gamma == "scale" else model.gamma
    K = np.exp(-gamma * cdist(X, X, "sqeuclidean"))
    A = np.zeros((m + 1, m + 1))
    A[0, 1:], A[1:, 0] = s, s
    A[1:, 1:] = np.outer(s, s) * K + np.eye(m) / model.C
    has_memory = isinstance(model, (MIMM, WIMM))
    if has_memory:
        distances = cdist(X, X)
        distinct = np.unique(X, axis=0)
        pairs = cdist(distinct, distinct)[np.triu_indices(len(distinct), 1)]  # between distinct inputs
        width = model.memory_width or model.memory_width_factor * np.median(pairs)
        delta = np.exp(-(distances**2) / (2 * width**2))  # gaussian memory influence
        if isinstance(model, MIMM):
            keep = np.zeros_like(delta)
            keep[np.arange(m), delta.argmax(axis=1)] = 1.0
            delta = delta * keep
        D = np.diag(s) @ delta @ np.diag(s)
        A[1:, 1:] += D @ D.T / model.memory_penalty
    solution = np.linalg.solve(A, np.r_[0.0, np.ones(m)])
    b, alpha = solution[0], solution[1:]
    c = D.T @ alpha / model.memory_penalty if has_memory else None
    out = []
    for x in X_query:
        value = b + sum(alpha[i] * s[i] * np.exp(-gamma * np.sum((X[i] - x) ** 2)) for i in range(m))
        if has_memory:
            influence = np.exp(-np.sum((X - x) ** 2, axis=1) / (2 * width**2))
            if isinstance(model, MIMM):
                k = int(np.argmax(influence))
                value += s[k] * c[k] * influence[k]
            else:
                value += np.sum(s * c * influence)
        out.append(value)
    return b, alpha, np.array(out)


@pytest.mark.parametrize("model", [LSSVM(C=3.0), MIMM(memory_penalty=2.0), WIMM(memory_penalty=0.5, memory_width=0.4),
                                   LSSVM(C=0.5, gamma=0.7), MIMM(C=5.0, memory_width_factor=0.3)],
                         ids=["lssvm", "mimm", "wimm", "lssvm-gamma", "mimm-small-C"])
def test_agrees_with_brute_force_solve(model):
    X, y = noisy_xor(40, seed=1)
    X[5] = X[17]  # a duplicate input with the same label: MIMM's memory must follow the first copy
    y[5] = y[17]
    X_query = np.vstack([X, np.random.default_rng(2).normal(size=(15, 2))])
    b, alpha, f = brute_force(model, X, y, X_query)
    model.fit(X, y)
    s = np.where(y == 1, 1.0, -1.0)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(model.dual_coef_, alpha * s, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.decision_function(X_query), f, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.training_margins_, s * f[: len(X)], atol=1e-8)  # y_i f(x_i) = 1 − a_i/C


def test_bordered_solve_matches_dense_solve():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(30, 30))
    H = B @ B.T + 0.1 * np.eye(30)
    y = np.where(rng.random(30) < 0.5, 1.0, -1.0)
    A = np.block([[np.zeros((1, 1)), y[None]], [y[:, None], H]])
    expected = np.linalg.solve(A, np.r_[0.0, np.ones(30)])
    b, alpha = solve_bordered_system(H, y)
    np.testing.assert_allclose(np.r_[b, alpha], expected, rtol=1e-9, atol=1e-10)


def test_fit_forms_no_inverse(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an explicit inverse was formed")

    for module in (np.linalg, __import__("scipy.linalg").linalg):
        monkeypatch.setattr(module, "inv", refuse)
    X, y = noisy_xor(50, seed=0)
    for model in (MIMM(), WIMM(), LSSVM()):
        model.fit(X, y).predict(X)


@pytest.mark.parametrize("seed", range(4))
def test_mimm_zero_training_error_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    n, d = [(200, 2), (150, 10), (120, 1), (300, 5)][seed]
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)  # unequal feature scales
    X[:10] = X[10:20]  # duplicated inputs ...
    y = rng.choice(np.array(["a", "b"]), n)  # ... with random string labels, equal within duplicates
    y[:10] = y[10:20]
    model = MIMM(memory_penalty=float(rng.uniform(0.1, 10))).fit(X, y)
    assert (model.predict(X) == y).all()
    assert model.training_margins_.min() > 0.99  # C = 1e6: every point sits near margin 1


def test_wimm_memorizes_with_a_narrow_memory_and_warns_otherwise():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(120, 1)), rng.integers(0, 2, 120)  # 1-D: close neighbours, random labels
    assert WIMM(memory_width_factor=0.002).fit(X, y).score(X, y) == 1.0  # Δ ≈ I: as MIMM
    with pytest.warns(UserWarning, match=r"not fitted .* ids \d"):
        wide = WIMM(memory_width_factor=0.05, memory_penalty=5.0).fit(X, y)
    assert wide.score(X, y) < 1.0  # overlapping memories make Δ ill-conditioned (the notes' finding)
    np.testing.assert_allclose(wide.training_margins_, np.where(y == 1, 1, -1) * wide.decision_function(X),
                               atol=1e-6)


@pytest.mark.filterwarnings("ignore::memlens.capacity.memorization_machines.NotMemorizedWarning")
@pytest.mark.parametrize("memory_function", ["gaussian", "laplacian"])
def test_mimm_margin_bound(memory_function):
    """|1 − y_i f(x_i)| ≤ sqrt(λ m / C): C > λ m guarantees zero training error on distinct inputs."""
    X, y = noisy_xor(80, seed=3, flip=0.5)  # labels independent of the inputs
    lam = 3.0
    for C in (0.5, 10.0, lam * 80 * 1.01, 1e4):
        model = MIMM(C=C, memory_penalty=lam, memory_function=memory_function).fit(X, y)
        assert np.abs(1 - model.training_margins_).max() <= np.sqrt(lam * 80 / C) + 1e-12
    assert model.score(X, y) == 1.0


@pytest.mark.filterwarnings("ignore::memlens.capacity.memorization_machines.NotMemorizedWarning")
def test_memory_off_degrades_to_lssvm_and_stops_interpolating():
    X, y = noisy_xor(150, seed=4)
    lssvm = LSSVM(C=1.0).fit(X, y)
    assert lssvm.score(X, y) < 0.95  # the control: noisy labels are not fitted without memory
    # memory weight → 0 (its penalty → ∞): MIMM is LS-SVM(C), decision for decision
    for cls in (MIMM, WIMM):
        off = cls(C=1.0, memory_penalty=1e12).fit(X, y)
        np.testing.assert_allclose(off.decision_function(X), lssvm.decision_function(X), atol=1e-8)
        assert off.score(X, y) == lssvm.score(X, y) < 0.95
    # memory on: the same kernel part (LS-SVM with 1/γ = 1/λ + 1/C) plus memory fits every label
    mimm = MIMM(C=1e6, memory_penalty=1.0).fit(X, y)
    kernel_part = LSSVM(C=1 / (1 / 1.0 + 1 / 1e6)).fit(X, y)
    np.testing.assert_allclose(mimm.generalization_function(X), kernel_part.decision_function(X), atol=1e-8)
    assert mimm.score(X, y) == 1.0 and (mimm.generalization_function(X) > 0).astype(int).tolist() != y.tolist()


def test_narrow_memory_keeps_generalization():
    """Planted effect: a narrow memory fits noisy labels yet predicts held-out points like the LS-SVM;
    a wide one spreads the flipped labels over their neighbourhoods and loses accuracy."""
    X, y = noisy_xor(300, seed=5)
    X_test, y_test = noisy_xor(2000, seed=6, flip=0.0)
    lssvm = LSSVM(C=1.0).fit(X, y)
    narrow, wide = MIMM(memory_width_factor=0.01).fit(X, y), MIMM(memory_width_factor=0.1).fit(X, y)
    assert narrow.score(X, y) == wide.score(X, y) == 1.0 > lssvm.score(X, y)
    assert narrow.score(X_test, y_test) >= lssvm.score(X_test, y_test) - 0.02
    assert wide.score(X_test, y_test) < narrow.score(X_test, y_test) - 0.05


@pytest.mark.parametrize("cls", [MIMM, WIMM])
def test_refuses_conflicting_duplicates_naming_ids(cls):
    X, y = noisy_xor(30, seed=0)
    X[[7, 21]] = X[3]
    y[[3, 7, 21]] = [0, 0, 1]
    with pytest.raises(CapacityInputError, match=r"3, 7, 21") as caught:
        cls().fit(X, y)
    assert isinstance(caught.value, MemlensError) and "different labels" in str(caught.value)
    LSSVM().fit(X, y)  # the baseline does not promise to interpolate, so it accepts them


@pytest.mark.parametrize("cls", [LSSVM, MIMM, WIMM])
def test_refuses_bad_input(cls):
    X, y = noisy_xor(30, seed=0)
    bad = X.copy()
    bad[4, 1], bad[11, 0] = np.nan, np.inf
    with pytest.raises(CapacityInputError, match=r"ids 4, 11"):
        cls().fit(bad, y)
    model = cls().fit(X, y)
    with pytest.raises(CapacityInputError, match=r"query .* ids 4, 11"):
        model.predict(bad)
    with pytest.raises(CapacityInputError, match="only one class"):
        cls().fit(X, np.ones(30))
    with pytest.raises(CapacityInputError, match="Only binary"):
        cls().fit(X, np.arange(30) % 3)
    with pytest.raises(ValueError, match="positive"):
        cls(C=-1.0).fit(X, y)


@parametrize_with_checks([LSSVM(), MIMM(), WIMM()])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_bench_smoke(capsys):
    """bench/memorization_machines.py --smoke: both solves agree and solve the bordered system."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import memorization_machines

    rows = memorization_machines.main(["--smoke"])
    assert [r["n"] for r in rows] == [200, 400]
    for r in rows:
        assert r["residual_cholesky"] < 1e-9 and r["residual_inverse"] < 1e-9 and r["max_abs_difference"] < 1e-8
        assert min(r["mimm_fit_s"], r["kernel_ridge_fit_s"], r["cholesky_solve_s"], r["inverse_solve_s"]) > 0
    assert "ratio MIMM/KernelRidge" in capsys.readouterr().out
