"""Mitigations (removal, down-weighting, dedup, early stopping) and the one-run audit design."""

import sys
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from memlens.audit import Run, membership_inference
from memlens.data import load
from memlens.design import halves, kfold, loo, one_run, subsample
from memlens.errors import MemlensError
from memlens.mitigations import cli_options, dedup
from memlens.mitigations.one_run import check_collisions, one_run_audit
from memlens.train import Ensemble, model_seeds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# --- the design's exclusion -------------------------------------------------------------------


def test_excluded_ids_are_never_in_and_change_the_run_identity():
    d = subsample(16, 40, 0.7, seed=3)
    ids = [0, 7, 39]
    e = d.excluding(ids, "test:3")
    assert not e.membership[:, ids].any()
    keep = np.setdiff1d(np.arange(40), ids)
    assert np.array_equal(e.membership[:, keep], d.membership[:, keep])  # a paired design
    assert e.to_dict() == {**d.to_dict(), "excluded": ids, "exclusion": "test:3"}
    assert e.to_dict() != d.to_dict()
    assert e.excluding([7, 8], "more").to_dict()["excluded"] == [0, 7, 8, 39]
    with pytest.raises(MemlensError, match="outside|covers"):
        d.excluding([40], "x")


def test_designs_without_exclusion_keep_their_old_identity():
    for d in (halves(4, 10), subsample(4, 10, 0.7), kfold(4, 10, 2), loo(3, 10, [1, 2])):
        assert set(d.to_dict()) == {"spec", "seed", "n_models"}
        assert d.excluding([], "nothing") is d


# --- the trainer's loss weights and early stopping --------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load("digits:150")


def test_weight_one_is_bit_for_bit_plain_training(digits):
    design = halves(4, digits.n_examples, seed=0)
    plain = Ensemble("mlp", width=16, epochs=3, batch_size=32)
    weighted = Ensemble("mlp", width=16, epochs=3, batch_size=32, downweighted=(1, 5, 9), downweight=1.0)
    a = plain.fit_observe(digits, design.membership, model_seeds(0, 4))
    b = weighted.fit_observe(digits, design.membership, model_seeds(0, 4))
    for name in ("loss", "confidence", "test_loss"):
        assert np.array_equal(a[name], b[name]), name
    assert "downweighted" not in plain.config() and weighted.config()["downweighted"] == [1, 5, 9]


def test_weight_zero_trains_the_parameters_of_excluding_the_example(digits):
    """Full-batch twin: a weighted mean with weight 0 is the mean over the other examples."""
    n = digits.n_examples
    ids = [3, 10, 20, 33]
    design = halves(4, n, seed=1)
    kwargs = dict(width=16, epochs=4, batch_size=n, lr=1e-2)
    zero = Ensemble("mlp", downweighted=tuple(ids), downweight=0.0, **kwargs)
    a = zero.fit_observe(digits, design.membership, model_seeds(0, 4))
    b = Ensemble("mlp", **kwargs).fit_observe(digits, design.excluding(ids, "t").membership, model_seeds(0, 4))
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=1e-4, atol=1e-6)
    half = Ensemble("mlp", downweighted=tuple(ids), downweight=0.5, **kwargs)
    c = half.fit_observe(digits, design.membership, model_seeds(0, 4))
    assert not np.allclose(c["loss"], b["loss"], rtol=1e-4)  # a weight in between is neither


def test_early_stopping_keeps_each_models_best_epoch(digits):
    """Twin: the early-stopped model equals the plain one trained for its best epoch count."""
    m, epochs, patience = 2, 6, 2
    design = halves(m, digits.n_examples, seed=2)
    kwargs = dict(width=8, batch_size=16, lr=3e-2)
    by_epochs = [Ensemble("mlp", epochs=e, **kwargs).fit_observe(digits, design.membership, model_seeds(0, m))
                 for e in range(1, epochs + 1)]  # fmt: skip
    accuracy = np.array([o["test_correct"].mean(axis=1) for o in by_epochs])  # (E, M)
    stopped = Ensemble("mlp", epochs=epochs, early_stopping=patience, **kwargs)
    out = stopped.fit_observe(digits, design.membership, model_seeds(0, m))
    for j in range(m):
        best, best_epoch = -1.0, 0
        for e in range(1, epochs + 1):  # the rule, by hand
            if accuracy[e - 1, j] > best:
                best, best_epoch = accuracy[e - 1, j], e
            if e - best_epoch >= patience:
                break
        assert np.array_equal(out["test_correct"][j], by_epochs[best_epoch - 1]["test_correct"][j])
        assert np.array_equal(out["loss"][j], by_epochs[best_epoch - 1]["loss"][j])
    assert stopped.config()["early_stopping"] == patience
    with pytest.raises(MemlensError, match="test split"):
        stopped.fit_observe(digits.replace(X_test=None, y_test=None), design.membership, model_seeds(0, m))


# --- deduplication ----------------------------------------------------------------------------


def _brute_force_removed(X, keep_pair) -> set:
    """All O(N²) pairs, union–find, every id but the lowest of each component."""
    n = len(X)
    parent = list(range(n))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if keep_pair(X[i], X[j]):
                parent[max(root(i), root(j))] = min(root(i), root(j))
    return {i for i in range(n) if root(i) != i}


def test_dedup_matches_brute_force_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 12))
    X = np.concatenate([base, base[:8], base[:5] + rng.normal(scale=0.05, size=(5, 12)), base[:3]])
    y = rng.integers(0, 3, size=len(X))
    exact = dedup.deduplicate(X, y, "exact")
    assert set(exact.removed.tolist()) == _brute_force_removed(X, lambda a, b: np.array_equal(a, b))
    assert {tuple(g) for g in exact.conflicting} == {tuple(g) for g in exact.groups if len(set(y[g])) > 1}
    E = dedup.embed(X).astype(np.float64)
    for threshold in (0.99, 0.8, 0.5):
        near = dedup.deduplicate(X, y, f"near:{threshold}")
        assert set(near.removed.tolist()) == _brute_force_removed(E, lambda a, b, t=threshold: a @ b >= t)


def test_dedup_finds_the_planted_duplicates():
    data = load("digits:300").plant(ml.data.duplicates(12, seed=0))
    copies = np.flatnonzero(data.plant_kind == "duplicate")
    sources = np.flatnonzero(data.plant_kind == "duplicate-source")
    for spec in ("exact", "near:0.99"):
        found = dedup.deduplicate(data.X, data.y, spec)
        assert np.isin(copies, found.removed).all() and not np.isin(sources, found.removed).any()
    exact = dedup.deduplicate(data.X, data.y, "exact")
    assert len(exact.conflicting) >= 12  # every plant gave its copy another label
    with pytest.raises(MemlensError, match="near:THRESHOLD"):
        dedup.parse("near:2")


# --- the one-run design and estimate ------------------------------------------------------------


def test_one_run_design_flips_a_fair_coin_per_canary_and_keeps_the_rest_in():
    d = ml.design.parse("one-run:50", 200, 120, seed=4)
    canaries = list(d.canaries)
    assert len(canaries) == 50 and d.to_dict()["canaries"] == canaries and d.to_dict()["spec"] == "one-run:50"
    assert np.delete(d.membership, canaries, axis=1).all()
    rate = d.membership[:, canaries].mean()
    assert abs(rate - 0.5) < 4 * np.sqrt(0.25 / d.membership[:, canaries].size)
    per_canary = d.membership[:, canaries].mean(axis=0)
    assert 0.3 < per_canary.min() and per_canary.max() < 0.7  # independent per model, not per canary
    assert set(one_run(3, 40, 5, candidates=[2, 4, 6, 8, 10, 12]).canaries) <= {2, 4, 6, 8, 10, 12}


def test_one_run_bound_is_positive_when_scores_separate_and_near_zero_when_random():
    rng = np.random.default_rng(0)
    m, n, canaries = 3, 600, np.arange(500)
    membership = np.ones((m, n), dtype=bool)
    membership[:, canaries] = rng.random((m, 500)) < 0.5
    leaky = np.where(membership, 0.05, 1.5) + rng.normal(scale=0.3, size=(m, n))
    planted = one_run_audit(membership, leaky, canaries)
    assert planted["epsilon_lower_bound"] > 1.0 and planted["canaries"] == 500 and len(planted["models"]) == m
    assert planted["epsilon_lower_bound"] == max(row["epsilon_lower_bound"] for row in planted["models"])
    control = one_run_audit(membership, rng.random((m, n)), canaries)
    assert control["epsilon_lower_bound"] < 0.3


def test_membership_inference_attacks_only_the_canaries():
    rng = np.random.default_rng(1)
    membership = np.ones((6, 40), dtype=bool)
    membership[:, :20] = rng.random((6, 20)) < 0.5
    obs = {"confidence": rng.random((6, 40)), "loss": rng.random((6, 40))}
    restricted = membership_inference(membership, obs, columns=np.arange(20))
    direct = membership_inference(membership[:, :20], {k: v[:, :20] for k, v in obs.items()})
    assert restricted["attacks"]["loss"]["auc"] == direct["attacks"]["loss"]["auc"]
    assert restricted["attacks"]["loss"]["n_members"] + restricted["attacks"]["loss"]["n_nonmembers"] == 6 * 20


def test_colliding_canaries_are_refused_and_dedup_resolves_them():
    data = load("digits:100").plant(ml.data.duplicates(5, seed=0))
    design = ml.design.parse("one-run:5", 2, data.n_examples, seed=0)  # 10 planted: 5 copies, 5 sources
    with pytest.raises(MemlensError, match=r"collide.*--dedup exact"):
        cli_options.apply(design, data, {}, model="mlp")
    fixed, _ = cli_options.apply(design, data, {}, model="mlp", dedup="exact")
    copies = np.flatnonzero(data.plant_kind == "duplicate")
    assert not set(fixed.canaries) & set(copies.tolist()) and set(copies.tolist()) <= set(fixed.excluded)
    with pytest.raises(MemlensError, match="collide"):
        check_collisions(np.array([[1.0, 2.0], [1.0, 2.0]]), [0], np.array([False, True]))


# --- removal from a previous run, through the CLI hook ------------------------------------------


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    data = load("digits:120")
    out = tmp_path_factory.mktemp("previous") / "run"
    ml.audit(data, subsample(6, data.n_examples, 0.7), Ensemble("linear", epochs=3), out, progress=False)
    return data, out


def test_remove_memorized_excludes_the_top_scores_of_the_previous_run(previous):
    data, out = previous
    design = subsample(6, data.n_examples, 0.7, seed=5)
    removed, opts = cli_options.apply(design, data, {}, model="mlp", remove_memorized="5%", previous=out)
    scores = Run.open(out).scores
    top = ml.classifier_estimates.most_memorized(scores, 6)
    assert sorted(removed.excluded) == sorted(top.tolist()) and opts == {}
    assert removed.to_dict()["exclusion"].startswith("remove-memorized:5% from run ")
    weighted, opts = cli_options.apply(design, data, {}, model="mlp", downweight_memorized="6:0.25", previous=out)
    assert weighted is design and sorted(opts["downweighted"]) == sorted(top.tolist()) and opts["downweight"] == 0.25
    randomly, _ = cli_options.apply(design, data, {}, model="mlp", remove_random="6")
    assert len(randomly.excluded) == 6 and randomly.to_dict()["exclusion"] == "remove-random:6"


def test_previous_run_over_other_examples_is_refused_naming_the_mismatch(previous):
    _, out = previous
    other = load("digits:130")
    design = subsample(6, other.n_examples, 0.7)
    with pytest.raises(MemlensError, match=r"other examples.*n_examples: 120 there, 130 here.*fingerprint"):
        cli_options.apply(design, other, {}, model="mlp", remove_memorized="2%", previous=out)
    with pytest.raises(MemlensError, match="needs --previous"):
        cli_options.apply(design, other, {}, model="mlp", remove_memorized="2%")
    with pytest.raises(MemlensError, match="mlp, cnn, logreg"):
        cli_options.apply(design, other, {}, model="sklearn:x.Y", early_stopping=3)


def test_removal_longtail_smoke(tmp_path):
    from experiments import removal_longtail

    r = removal_longtail.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    (digits,) = r["datasets"]
    assert set(digits["conditions"]) == {"memorized", "random-0", "random-1"}
    assert all(c["removed"] == 4 and np.isfinite(c["test_accuracy_change"]) for c in digits["conditions"].values())
    assert (tmp_path / "removal_longtail.json").exists()
