"""memlens.retrieval: the RetroPrompt-style head, its datastore, and exact self-influence."""

from __future__ import annotations

import numpy as np
import pytest

import memlens as ml
from dying_trainer import DiesAfter, Killed
from memlens.engine import run_design
from memlens.retrieval import (
    Datastore,
    FrozenPCA,
    RetrievalError,
    RetrievalHead,
    RetrievalTrainer,
    design_matrix,
    fit_logistic,
    interpolate,
    predict_logistic,
    self_influence,
)  # fmt: skip
from memlens.retrieval.head import MAX_KNN_NLL


def _logistic_problem(n=24, d=3, classes=3, seed=0):
    """A small noisy 3-class problem with a shared per-class block, as the demonstrations give."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, d)) + 1.5 * np.eye(classes, d)[y]
    shared = rng.normal(size=(n, classes, 2))
    weights = 1.0 + rng.random(n)  # as the kNN-guided loss gives
    return design_matrix(X, classes, shared), y, weights


def _loss(design, y, coef):
    logits = design @ coef
    return np.logaddexp.reduce(logits, axis=1) - logits[np.arange(len(y)), y]


def test_self_influence_is_the_derivative_of_the_own_loss_under_downweighting():
    # removing a fraction eps of example i's weight raises its own loss by eps · w_i gᵀH⁻¹g + O(eps²):
    # the exact definition the Hessian formula must meet (to the optimizer's precision)
    Phi, y, w = _logistic_problem()
    coef = fit_logistic(Phi, y, l2=1.0, weights=w)
    influence = self_influence(Phi, y, coef, 1.0, w)
    eps = 1e-3
    for i in (0, 5, 17):
        lighter = w.copy()
        lighter[i] *= 1 - eps
        moved = fit_logistic(Phi, y, l2=1.0, weights=lighter)
        derivative = (_loss(Phi, y, moved)[i] - _loss(Phi, y, coef)[i]) / eps
        assert derivative == pytest.approx(influence[i], rel=5e-3)


def test_self_influence_agrees_with_brute_force_leave_one_out_to_first_order():
    # leaving example i out entirely is a finite step, not an infinitesimal one: the first-order
    # influence misses the change of the Hessian when i leaves, a relative gap of the order of
    # i's leverage. With 24 points and 14 parameters leverages reach ~0.5 (measured: median gap
    # 0.31, largest 0.53), so: within 60% per point, 40% at the median, and the same ranking.
    Phi, y, w = _logistic_problem()
    coef = fit_logistic(Phi, y, l2=1.0, weights=w)
    influence = self_influence(Phi, y, coef, 1.0, w)
    loo = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        retrained = fit_logistic(Phi[keep], y[keep], l2=1.0, weights=w[keep])
        loo[i] = _loss(Phi[i : i + 1], y[i : i + 1], retrained)[0] - _loss(Phi, y, coef)[i]
    assert (influence > 0).all() and (loo > 0).all()
    gap = np.abs(influence - loo) / loo
    assert gap.max() < 0.6 and np.median(gap) < 0.4
    assert np.corrcoef(influence, loo)[0, 1] > 0.98


def test_a_training_point_never_retrieves_itself():
    rng = np.random.default_rng(1)
    keys = rng.normal(size=(40, 5))
    keys[1] = keys[0]  # an exact duplicate: excluding row 0 must still find row 1
    labels = np.arange(40) % 4
    store = Datastore(keys, labels, 4)
    own = np.arange(40)
    sims, rows = store.search(keys, 39, exclude=own)
    assert (rows != own[:, None]).all()
    assert sorted(rows[0]) == [r for r in range(40) if r != 0]  # every other entry, itself never
    assert rows[0, 0] == 1 and sims[0, 0] == pytest.approx(1.0)
    plain_sims, plain_rows = store.search(keys, 1)
    assert plain_sims[:, 0] == pytest.approx(1.0, abs=1e-6)  # without exclusion it finds itself first
    # demonstrations: a class with two far-apart members — each one's demonstration is the other
    pair = Datastore(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), np.array([0, 0, 1]), 2)
    demos = pair.demonstrations(pair.keys, 1, exclude=np.arange(3))
    np.testing.assert_allclose(demos[0, 0], pair.keys[1])
    np.testing.assert_allclose(demos[1, 0], pair.keys[0])
    np.testing.assert_array_equal(demos[2, 1], 0.0)  # class 1's only member is the query itself
    # the kNN-guided weights come from the other entries: a lone class-1 point cannot vote for itself
    p = pair.knn_distribution(pair.keys, 2, exclude=np.arange(3))
    assert p[2, 1] == 0.0 and p[0, 1] > 0.99  # row 0 with itself would vote class 0 at weight ~1


def test_interpolation_at_zero_and_one_is_the_head_and_the_knn():
    data = ml.data.load("digits:300")
    features = FrozenPCA(16).fit(data.X).transform(data.X)
    train, query = slice(0, 200), features[200:]
    heads = {lam: RetrievalHead(interpolation=lam).fit(features[train], data.y[train], 10) for lam in (0.0, 0.3, 1.0)}
    head = heads[0.0]
    np.testing.assert_allclose(heads[0.0].predict_proba(query), predict_logistic(head._design(query), head.coef_))
    knn = head.store_.knn_distribution(query, 16, 0.05)
    np.testing.assert_allclose(heads[1.0].predict_proba(query), knn)
    # the fit does not depend on λ, so λ = 0.3 is the linear mixture of the two
    np.testing.assert_allclose(heads[0.3].predict_proba(query), 0.3 * knn + 0.7 * heads[0.0].predict_proba(query))
    assert interpolate(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), 0.25).tolist() == [[0.75, 0.25]]


def test_knn_on_random_labels_is_at_chance_on_held_out_points(digits):
    features = FrozenPCA(32).fit(digits.X).transform(digits.X)
    held_out = slice(1000, None)
    n_test = len(digits.y) - 1000

    def knn_accuracy(labels):
        store = Datastore(features[:1000], labels[:1000], 10)
        return (store.knn_distribution(features[held_out], 16).argmax(1) == labels[held_out]).mean()

    random_labels = np.random.default_rng(0).integers(0, 10, len(digits.y))
    # chance is 0.1 with binomial sd sqrt(0.09 / 347) = 0.016; 4 sd either side
    assert abs(knn_accuracy(random_labels) - 0.1) < 4 * np.sqrt(0.09 / n_test)
    assert knn_accuracy(digits.y) > 0.9  # the same kNN on the true labels: not a broken search


def test_knn_guided_loss_weights_atypical_examples_more():
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(20, 4)) + [6, 0, 0, 0], rng.normal(size=(20, 4)) - [6, 0, 0, 0]])
    y = np.repeat([0, 1], 20)
    y[0] = 1  # a mislabelled point inside class 0's cluster: its neighbours disagree
    head = RetrievalHead(k=8, beta=1.0).fit(X, y, 2)
    assert head.weights_[0] == head.weights_.max() and head.weights_[0] <= 1 + MAX_KNN_NLL
    assert np.median(head.weights_[1:]) < 1.1  # the datastore already classifies the rest


def _digits_run(out, trainer, shard_size=2):
    data = ml.data.load("digits:90")
    return run_design(data, ml.design.halves(4, data.n_examples, seed=0), trainer, out,
                      shard_size=shard_size, progress=False)  # fmt: skip


def test_engine_runs_the_trainer_and_a_killed_run_resumes_to_identical_arrays(tmp_path):
    trainer = RetrievalTrainer(RetrievalHead(k=8), components=16)
    whole = _digits_run(tmp_path / "whole", trainer)
    names = {"correct", "confidence", "loss", "probabilities", "test_correct", "test_confidence", "test_loss"}
    assert names <= set(whole.observation_names())
    assert whole.observation("test_correct").mean() > 0.7
    with pytest.raises(Killed):
        _digits_run(tmp_path / "killed", DiesAfter(trainer, 1))
    resumed = _digits_run(tmp_path / "killed", trainer)
    for name in names:
        np.testing.assert_array_equal(resumed.observation(name), whole.observation(name))


def test_the_cli_spelling_and_bad_input_are_refused_clearly():
    from memlens.train import parse_model

    assert isinstance(parse_model("retrieval", epochs=3), RetrievalTrainer)
    with pytest.raises(ml.errors.MemlensError, match="retrieval"):
        parse_model("retreival")
    with pytest.raises(ml.errors.MemlensError, match="Drop --proxies"):
        parse_model("retrieval", proxies=["curvature"])
    X, y = np.random.default_rng(0).normal(size=(10, 3)), np.arange(10) % 2
    with pytest.raises(RetrievalError, match="k <= 9"):
        RetrievalHead(k=16).fit(X, y, 2)  # 16 neighbours from 9 others
    with pytest.raises(RetrievalError, match="1 <= k <= 10"):
        Datastore(X, y, 2).search(X, 11)
    for lam in (-0.1, 1.5):
        with pytest.raises(RetrievalError, match=r"\[0, 1\]"):
            RetrievalHead(interpolation=lam)
        with pytest.raises(RetrievalError, match=r"\[0, 1\]"):
            interpolate(np.ones((1, 2)) / 2, np.ones((1, 2)) / 2, lam)


def test_memlens_audit_model_retrieval_writes_memorization_and_attacks(run_cli, tmp_path):
    import json

    import pandas as pd

    code, out, err = run_cli("audit", "--dataset", "digits:80", "--out", tmp_path / "r", "--model", "retrieval",
                             "--models", "4", "--no-progress")  # fmt: skip
    assert code == 0, err
    scores = pd.read_parquet(tmp_path / "r" / "scores.parquet")
    assert scores["memorization"].notna().all() and len(scores) == 80
    mia = json.loads((tmp_path / "r" / "mia.json").read_text())
    assert "lira-online" in mia["attacks"]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["config"]["trainer"]["trainer"] == "retrieval"
