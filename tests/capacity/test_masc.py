"""MASC against the authors' algorithm written out literally, on planted subspaces and random labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from memlens.capacity.masc import MASC, CapacityInputError, layerwise_accuracy
from memlens.errors import MemlensError


def brute_force_masc(X, y, X_new, n=0.99):
    """The official MASC_DNN recipe step by step: ±h, np.cov, eigh, cut, project, arccos, argmin."""
    classes = np.unique(y)
    angles = np.empty((len(X_new), len(classes)))
    for j, c in enumerate(classes):
        rows = X[y == c]
        sym = np.vstack([rows, -rows])  # Added_data_layer
        values, vectors = np.linalg.eigh(np.cov(sym, rowvar=False))
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        cumulative = np.cumsum(values) / values.sum()
        k = int((cumulative <= n).sum()) + 1
        P = vectors[:, :k].T
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
        for i, h in enumerate(X_new):
            proj = h @ P.T @ P
            cos = np.clip(h @ proj / (np.linalg.norm(h) * np.linalg.norm(proj)), -1, 1)
            angles[i, j] = np.degrees(np.arccos(cos))
    return classes[np.argmin(angles, axis=1)], angles


@parametrize_with_checks(
    [MASC()],
    # scikit-learn's check fits 3 centred blobs in the plane: every class's 0.99 subspace is the
    # whole plane, so all angles are 0 and MASC cannot separate them — a property of the method.
    expected_failed_checks=lambda est: {
        "check_classifiers_train": "2-D centred blobs: every class subspace is the whole plane"
    },
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n", [0.5, 0.9, 0.99])
def test_matches_brute_force(n):
    rng = np.random.default_rng(0)
    # low-rank-ish classes in 12-D, positive like ReLU activations, with distinct spectra
    X = np.abs(rng.standard_normal((90, 12)) @ np.diag(np.linspace(3, 0.2, 12)))
    y = rng.integers(0, 3, 90)
    X_new = np.abs(rng.standard_normal((40, 12)))
    masc = MASC(n).fit(X, y)
    expected_pred, expected_angles = brute_force_masc(X, y, X_new, n)
    np.testing.assert_allclose(masc.angles(X_new), expected_angles, atol=1e-6)
    np.testing.assert_array_equal(masc.predict(X_new), expected_pred)
    # and the number of components is the brute force's cut
    for c, P in zip(masc.classes_, masc.components_, strict=True):
        s = np.linalg.svd(X[y == c], compute_uv=False) ** 2
        assert len(P) == int((np.cumsum(s) / s.sum() <= n).sum()) + 1
        np.testing.assert_allclose(P @ P.T, np.eye(len(P)), atol=1e-10)


def test_orthogonal_class_subspaces_are_decoded_exactly():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((40, 40)))[0].T  # orthonormal rows
    blocks = [basis[5 * c : 5 * c + 5] for c in range(4)]  # class c lives in its own 5-D subspace

    def sample(n):
        y = rng.integers(0, 4, n)
        return np.stack([rng.standard_normal(5) @ blocks[c] for c in y]), y

    X, y = sample(200)
    X_test, y_test = sample(300)
    masc = MASC().fit(X, y)
    assert (masc.predict(X_test) == y_test).all()
    assert masc.n_components_.tolist() == [5, 5, 5, 5]
    np.testing.assert_allclose(masc.angles(X_test)[np.arange(300), y_test], 0, atol=1e-5)
    # every other class's subspace is orthogonal to the input
    off = masc.angles(X_test)[np.arange(300)[:, None], (y_test[:, None] + np.arange(1, 4)) % 4]
    np.testing.assert_allclose(off, 90, atol=1e-5)


def test_random_labels_decode_at_chance_on_held_out_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((800, 20))
    y = rng.integers(0, 4, 800)
    X_test, y_test = rng.standard_normal((2000, 20)), rng.integers(0, 4, 2000)
    accuracy = (MASC().fit(X, y).predict(X_test) == y_test).mean()
    assert abs(accuracy - 0.25) < 0.05  # binomial sd ≈ 0.01


def test_zero_row_and_zero_class():
    X = np.array([[1.0, 0], [2, 0], [3, 0.1], [0, 0], [0, 0]])
    masc = MASC().fit(X, [0, 0, 0, 1, 1])
    assert masc.n_components_.tolist() == [1, 0]  # class 1 is all zeros: an empty subspace
    assert masc.predict([[0.0, 0.0], [0.0, 5.0]]).tolist() == [0, 0]
    assert np.isnan(masc.angles([[0.0, 0.0]])).all()
    assert masc.angles([[0.0, 5.0]])[0, 1] == 90


@pytest.mark.parametrize(
    "X, y, message",
    [
        ([[1.0, 2], [np.nan, 1], [3, np.inf]], [0, 1, 0], "rows [1, 2]"),
        ([[1.0, 2], [2, 1]], [3, 3], "one class"),
    ],
)
def test_bad_input_is_a_clear_error(X, y, message):
    with pytest.raises(CapacityInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        MASC().fit(X, y)
    assert issubclass(CapacityInputError, MemlensError)


@pytest.mark.parametrize("n", [0, 1.5, "all", True])
def test_bad_explained_variance(n):
    with pytest.raises(CapacityInputError, match="explained_variance"):
        MASC(n).fit([[1.0, 0], [0, 1]], [0, 1])


def test_layerwise_accuracy_separates_given_and_true_labels():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.standard_normal((12, 12)))[0].T
    truth = rng.integers(0, 3, 120)
    # layer "a" carries the true class (its own 4-D subspace); layer "b" only noise
    a = np.stack([rng.standard_normal(4) @ basis[4 * c : 4 * c + 4] for c in truth])
    b = rng.standard_normal((120, 12))
    given = truth.copy()
    given[:30] = (truth[:30] + 1) % 3  # 30 corrupted labels
    train = {"a": a[None, :80].repeat(2, 0), "b": b[:80]}
    test = {"a": a[None, 80:].repeat(2, 0), "b": b[80:]}
    membership = np.ones((2, 80), bool)
    membership[1, :10] = False
    table = layerwise_accuracy(train, test, membership, given[:80], truth[:80], truth[80:])
    assert len(table) == 2 * 2 * 2
    true_a = table[(table.layer == "a") & (table.subspaces == "true")]
    assert (true_a.test == 1).all() and (true_a.train_true == 1).all() and (true_a.noisy_true == 1).all()
    # model 1 left out the first 10 corrupted examples: its noisy columns average over 20
    expected = MASC().fit(a[10:80], given[10:80]).predict(a[10:30]) == given[10:30]
    row = table[(table.model == 1) & (table.layer == "a") & (table.subspaces == "given")].iloc[0]
    assert row.noisy_given == pytest.approx(expected.mean())
    assert table[table.layer == "b"].test.max() < 0.75
    with pytest.raises(CapacityInputError, match="same layers"):
        layerwise_accuracy(train, {"a": test["a"]}, membership, given[:80], truth[:80], truth[80:])


# --- the ensemble's opt-in activations, which MASC reads --------------------------------------


def test_ensemble_observes_every_hidden_layer_consistently():
    from memlens.data import load
    from memlens.train import Ensemble, model_seeds

    data = load("digits:60")
    data = data.replace(X_test=data.X[:20].copy(), y_test=data.y[:20].copy())  # test rows = training rows
    membership = np.ones((2, 60), bool)
    plain = Ensemble("mlp", width=8, depth=2, epochs=3).fit_observe(data, membership, model_seeds(0, 2))
    obs = Ensemble("mlp", width=8, depth=2, epochs=3, activations=True).fit_observe(data, membership, model_seeds(0, 2))
    assert {k for k in obs if "activations" in k} == {
        "activations_0", "activations_1", "test_activations_0", "test_activations_1"}  # fmt: skip
    assert obs["activations_1"].shape == (2, 60, 8) and obs["test_activations_0"].shape == (2, 20, 8)
    for k in (0, 1):  # the test path computes the same activations for the same rows
        np.testing.assert_allclose(obs[f"test_activations_{k}"], obs[f"activations_{k}"][:, :20], rtol=1e-5, atol=1e-6)
        assert (obs[f"activations_{k}"] >= 0).all()  # post-ReLU
    assert not np.allclose(obs["activations_0"][0], obs["activations_0"][1])  # each model its own weights
    np.testing.assert_array_equal(plain["loss"], obs["loss"])  # observing changes no other observation
    cnn = Ensemble("cnn", width=2, epochs=1, activations=True).fit_observe(data, membership[:1], model_seeds(0, 1))
    assert cnn["activations_0"].shape == (1, 60, 2 * 4 * 4) and cnn["activations_1"].shape == (1, 60, 4 * 2 * 2)


def test_ensemble_config_is_unchanged_unless_the_options_are_used():
    from memlens.train import Ensemble

    assert "depth" not in Ensemble().config() and "activations" not in Ensemble().config()
    config = Ensemble(depth=3, activations=True).config()
    assert config["depth"] == 3 and config["activations"] is True
    with pytest.raises(MemlensError, match="needs model 'mlp'"):
        Ensemble("cnn", depth=2)
    with pytest.raises(MemlensError, match="linear model has none"):
        Ensemble("linear", activations=True)
    with pytest.raises(MemlensError, match="depth"):
        Ensemble(depth=0)


def test_experiment_smoke(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from experiments import capacity_masc

    r = capacity_masc.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["layers"] == ["input", "hidden_1", "hidden_2"] and set(r["rates"]) == {"0", "0.6"}
    assert (tmp_path / "capacity_masc.json").exists() and (tmp_path / "masc-rho-0.6.csv").exists()
    noisy = r["rates"]["0.6"]
    assert noisy["n_flipped"] == 240
    # true-label subspaces decode the test set at least as well as corrupted ones, at every layer
    assert all(t >= g - 0.02 for t, g in zip(noisy["masc"]["true"]["test"]["mean"],
                                             noisy["masc"]["given"]["test"]["mean"], strict=True))  # fmt: skip
    assert all(isinstance(c["pass"], bool) for c in r["criteria"].values())
