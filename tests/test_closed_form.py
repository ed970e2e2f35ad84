"""Closed-form leave-one-out against brute-force refitting, explicit hat matrices and planted noise."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf_kernel

from memlens.data import label_noise
from memlens.estimate import planted_recovery
from memlens.train.closed_form import (
    LOOResult,
    kernel_ridge_loo,
    linear_head_loo,
    linear_kernel,
    loo_memorization,
    rbf_kernel,
    ridge_loo,
)

FAST = settings(max_examples=40, deadline=None)
TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# slow twins: refit without each example, one at a time


def brute_ridge_loo(X, Y, *, alpha, fit_intercept):
    n = len(X)
    preds = []
    for i in range(n):
        keep = np.arange(n) != i
        model = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X[keep], Y[keep])
        preds.append(np.reshape(model.predict(X[i : i + 1]), -1))
    return np.array(preds)  # (N, K)


def brute_kernel_ridge_loo(K, Y, *, alpha):
    n = len(K)
    preds = []
    for i in range(n):
        keep = np.arange(n) != i
        model = KernelRidge(alpha=alpha, kernel="precomputed").fit(K[keep][:, keep], Y[keep])
        preds.append(np.reshape(model.predict(K[i : i + 1, keep]), -1))
    return np.array(preds)


def explicit_hat(X, *, alpha, fit_intercept):
    """H = A (A^T A + P)^-1 A^T with A = [1, X], P = diag(0, alpha I): the augmented design."""
    n, d = X.shape
    A = np.hstack([np.ones((n, 1)), X]) if fit_intercept else X
    P = alpha * np.eye(A.shape[1])
    if fit_intercept:
        P[0, 0] = 0.0
    return A @ np.linalg.solve(A.T @ A + P, A.T)


@st.composite
def regression_data(draw):
    """Random X, Y with D < N and D > N, sometimes a duplicated row and a constant column."""
    n = draw(st.integers(2, 14))
    d = draw(st.integers(1, 20))
    k = draw(st.sampled_from([1, 1, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=d)
    if n >= 3 and draw(st.booleans()):
        X[1] = X[0]  # high-leverage pair
        X[:, 0] = 1.5  # constant column: a zero singular value once centered
    Y = rng.normal(size=(n, k)) + X[:, :1]
    one_d = k == 1 and draw(st.booleans())
    return X, (Y[:, 0] if one_d else Y)


alphas = st.sampled_from([0.01, 0.3, 1.0, 10.0])


# ---------------------------------------------------------------------------------------------
# fast path == slow twin


@FAST
@given(regression_data(), alphas, st.booleans())
def test_ridge_loo_matches_refitting_sklearn(data, alpha, fit_intercept):
    X, Y = data
    r = ridge_loo(X, Y, alpha=alpha, fit_intercept=fit_intercept)
    Y2 = Y.reshape(len(Y), -1)
    assert r.fitted.shape == r.loo.shape == Y2.shape and r.leverage.shape == (len(X),)
    np.testing.assert_allclose(
        r.loo, brute_ridge_loo(X, Y, alpha=alpha, fit_intercept=fit_intercept), rtol=0, atol=TOL
    )
    full = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y).predict(X)
    np.testing.assert_allclose(r.fitted, full.reshape(Y2.shape), rtol=0, atol=TOL)


@FAST
@given(regression_data(), alphas, st.booleans())
def test_ridge_leverage_is_the_augmented_hat_diagonal(data, alpha, fit_intercept):
    X, Y = data
    r = ridge_loo(X, Y, alpha=alpha, fit_intercept=fit_intercept)
    H = explicit_hat(X, alpha=alpha, fit_intercept=fit_intercept)
    np.testing.assert_allclose(r.leverage, np.diag(H), rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.fitted, H @ Y.reshape(len(Y), -1), rtol=0, atol=1e-8)
    assert np.all(r.leverage < 1)


@FAST
@given(regression_data(), alphas, st.sampled_from(["rbf", "linear"]))
def test_kernel_ridge_loo_matches_refitting_sklearn(data, alpha, kind):
    X, Y = data
    K = rbf_kernel(X, gamma=0.2) if kind == "rbf" else linear_kernel(X)
    r = kernel_ridge_loo(K, Y, alpha=alpha)
    np.testing.assert_allclose(r.loo, brute_kernel_ridge_loo(K, Y, alpha=alpha), rtol=0, atol=TOL)
    full = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, Y).predict(K)
    np.testing.assert_allclose(r.fitted, full.reshape(r.fitted.shape), rtol=0, atol=TOL)
    H = K @ np.linalg.inv(K + alpha * np.eye(len(K)))
    np.testing.assert_allclose(r.leverage, np.diag(H), rtol=0, atol=1e-9)


@FAST
@given(regression_data(), alphas)
def test_linear_kernel_ridge_is_ridge_without_intercept(data, alpha):
    X, Y = data
    a = kernel_ridge_loo(linear_kernel(X), Y, alpha=alpha)
    b = ridge_loo(X, Y, alpha=alpha, fit_intercept=False)
    for f in ("fitted", "loo", "leverage"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=0, atol=1e-8)


@pytest.mark.filterwarnings("ignore:Singular matrix in solving dual problem")
def test_indefinite_kernel_falls_back_and_still_matches():
    rng = np.random.default_rng(3)
    B = rng.normal(size=(9, 9))
    K = (B + B.T) / 2  # symmetric, indefinite: no Cholesky factor of K + alpha I
    Y = rng.normal(size=(9, 2))
    assert np.linalg.eigvalsh(K + 0.5 * np.eye(9)).min() < 0
    r = kernel_ridge_loo(K, Y, alpha=0.5)
    np.testing.assert_allclose(r.loo, brute_kernel_ridge_loo(K, Y, alpha=0.5), rtol=0, atol=TOL)


def test_rbf_and_linear_kernels_match_sklearn():
    X = np.random.default_rng(0).normal(size=(30, 7))
    np.testing.assert_allclose(rbf_kernel(X, gamma=0.3), sk_rbf_kernel(X, gamma=0.3), atol=1e-12)
    np.testing.assert_allclose(rbf_kernel(X), sk_rbf_kernel(X), atol=1e-12)  # gamma = 1 / D
    np.testing.assert_allclose(linear_kernel(X), X @ X.T)


# ---------------------------------------------------------------------------------------------
# memorization from LOO predictions


def brute_memorization(fitted, loo, y):
    """Per example, with Python lists: right in - right out, and margin drop."""
    mem, drop = [], []
    for f, o, label in zip(fitted.tolist(), loo.tolist(), y.tolist(), strict=True):
        right_in = float(max(range(len(f)), key=lambda c: (f[c], -c)) == label)
        right_out = float(max(range(len(o)), key=lambda c: (o[c], -c)) == label)
        margin_in = f[label] - max(v for c, v in enumerate(f) if c != label)
        margin_out = o[label] - max(v for c, v in enumerate(o) if c != label)
        mem.append(right_in - right_out)
        drop.append(margin_in - margin_out)
    return np.array(mem), np.array(drop)


@FAST
@given(st.integers(1, 30), st.integers(2, 5), st.integers(0, 2**32 - 1), st.booleans())
def test_loo_memorization_matches_loop(n, k, seed, ties):
    rng = np.random.default_rng(seed)

    def draw(shape):
        return rng.integers(0, 3, size=shape).astype(float) if ties else rng.normal(size=shape)

    fitted, loo = draw((n, k)), draw((n, k))
    y = rng.integers(0, k, size=n)
    s = loo_memorization(LOOResult(fitted, loo, rng.uniform(size=n)), y)
    mem, drop = brute_memorization(fitted, loo, y)
    np.testing.assert_array_equal(s["memorization"], mem)
    np.testing.assert_allclose(s["margin_drop"], drop, atol=1e-12)
    assert set(s) == {"memorization", "margin_drop", "fitted_margin", "loo_margin", "leverage"}


def test_linear_head_is_ridge_on_one_hot_and_matches_refitting():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(40, 6))
    y = rng.integers(0, 4, size=40)
    result, scores = linear_head_loo(feats, y, alpha=0.5, n_classes=4)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(
        result.loo, brute_ridge_loo(feats, onehot, alpha=0.5, fit_intercept=True), atol=TOL
    )
    expected = loo_memorization(ridge_loo(feats, onehot, alpha=0.5), y)
    for key, value in expected.items():
        np.testing.assert_array_equal(scores[key], value)
    # refit without i and predict: memorization by brute force
    refit_right = [
        Ridge(alpha=0.5)
        .fit(np.delete(feats, i, 0), np.delete(onehot, i, 0))
        .predict(feats[i : i + 1])
        .argmax()
        == y[i]
        for i in range(40)
    ]
    right = result.fitted.argmax(1) == y
    np.testing.assert_array_equal(
        scores["memorization"], right.astype(float) - np.array(refit_right)
    )


def test_linear_head_infers_n_classes():
    feats = np.arange(12, dtype=float).reshape(6, 2)
    result, _ = linear_head_loo(feats, [0, 1, 2, 0, 1, 2], alpha=1.0)
    assert result.fitted.shape == (6, 3)


# ---------------------------------------------------------------------------------------------
# planted ground truth: flipped labels on digits


@pytest.fixture(scope="module")
def noisy_digits(digits):
    return digits.plant(label_noise(0.05, seed=0))


def test_ridge_head_finds_flipped_digits(noisy_digits):
    d = noisy_digits
    assert d.X.shape == (1347, 64) and d.planted.sum() == 67
    _, scores = linear_head_loo(d.X, d.y, alpha=1.0, n_classes=d.n_classes)
    rec = planted_recovery(d.planted, scores["margin_drop"])
    print("ridge head, margin_drop:", rec)  # auroc 0.934 at alpha = 1
    assert rec["auroc"] > 0.85


def test_rbf_kernel_ridge_memorizes_flipped_digits(noisy_digits):
    d = noisy_digits
    result = kernel_ridge_loo(rbf_kernel(d.X, gamma=0.05), np.eye(d.n_classes)[d.y], alpha=0.01)
    scores = loo_memorization(result, d.y)
    drop = planted_recovery(d.planted, scores["margin_drop"])
    mem = planted_recovery(d.planted, scores["memorization"])
    print("rbf kernel ridge, margin_drop:", drop, "memorization:", mem)  # 0.994, 0.742
    assert drop["auroc"] > 0.95
    assert mem["auroc"] > 0.65  # a binary score: flipped labels fitted only when trained on


# ---------------------------------------------------------------------------------------------
# bad input


X3 = np.arange(6, dtype=float).reshape(3, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ridge_loo(X3, np.ones(4), alpha=1.0), "Y has 4 rows but X has 3"),
        (lambda: ridge_loo(np.where(X3 == 2, np.nan, X3), np.ones(3), alpha=1.0), "non-finite"),
        (lambda: ridge_loo(X3, [1.0, np.inf, 0.0], alpha=1.0), "Y contains 1 non-finite"),
        (lambda: ridge_loo(X3, np.ones(3), alpha=0.0), "alpha must be finite and > 0"),
        (lambda: ridge_loo(X3, np.ones(3), alpha=-1.0), "alpha must be finite and > 0"),
        (lambda: ridge_loo(X3, np.ones(3), alpha=True), "alpha must be a positive number"),
        (lambda: ridge_loo(X3[0], np.ones(3), alpha=1.0), "X must be 2-D"),
        (lambda: ridge_loo(X3[:1], np.ones(1), alpha=1.0), "at least 2 examples"),
        (lambda: ridge_loo(X3, np.ones((3, 0)), alpha=1.0), "no columns"),
        (lambda: ridge_loo(X3.astype(str), np.ones(3), alpha=1.0), "X must be numeric"),
        (lambda: kernel_ridge_loo(np.ones((3, 4)), np.ones(3), alpha=1.0), "square"),
        (lambda: kernel_ridge_loo(np.triu(np.ones((3, 3))), np.ones(3), alpha=1.0), "symmetric"),
        (lambda: kernel_ridge_loo(np.eye(3), np.ones(2), alpha=1.0), "Y has 2 rows but K has 3"),
        (lambda: kernel_ridge_loo(np.full((3, 3), np.nan), np.ones(3), alpha=1.0), "non-finite"),
        (lambda: kernel_ridge_loo(np.eye(3), np.ones(3), alpha=-2), "alpha must be finite and > 0"),
        (lambda: kernel_ridge_loo(-np.eye(3), np.ones(3), alpha=1.0), "singular"),
        (lambda: rbf_kernel(X3, gamma=0.0), "gamma must be"),
        (
            lambda: linear_head_loo(X3, [0, 1, 3], alpha=1.0, n_classes=3),
            r"labels must lie in \[0, 3\)",
        ),
        (lambda: linear_head_loo(X3, [0, 1], alpha=1.0, n_classes=2), "one label per example"),
        (lambda: linear_head_loo(X3, [0.5, 1, 0], alpha=1.0, n_classes=2), "integer class labels"),
        (lambda: linear_head_loo(X3, [0, 0, 0], alpha=1.0), "n_classes must be an integer >= 2"),
        (lambda: loo_memorization(ridge_loo(X3, np.ones(3), alpha=1.0), [0, 0, 0]), "K >= 2"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_results_are_read_only():
    r = ridge_loo(X3, np.ones(3), alpha=1.0)
    with pytest.raises(ValueError):
        r.loo[0, 0] = 1.0
    r.to_dict()["loo"][0, 0] = 1.0  # copies are writable
