"""Trained EDM denoisers and the closed-form trainer on the engine: preconditioning, independence of
ensemble members, observations, a planted effect with its untrained control, and bad input."""

import numpy as np
import pytest
import torch

import memlens as ml
from memlens import seeds
from memlens.generative.closed_form_trainer import ClosedFormTrainer
from memlens.generative.diffusion import DiffusionTrainer
from memlens.generative.edm import Condition, DiffusionInputError, preconditioning, to_unit_range
from memlens.generative.replication import replication_scores


@pytest.fixture(scope="module")
def digits():
    return ml.data.load("digits:200")


def test_preconditioning_matches_edm_formulas():
    sigma = torch.tensor([0.002, 0.5, 80.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = preconditioning(sigma)
    s, sd = sigma.numpy(), 0.5
    assert np.allclose(c_skip.numpy(), sd**2 / (s**2 + sd**2))
    assert np.allclose(c_out.numpy(), s * sd / np.sqrt(s**2 + sd**2))
    assert np.allclose(c_in.numpy(), 1 / np.sqrt(s**2 + sd**2))
    assert np.allclose(c_noise.numpy(), np.log(s) / 4)
    # the network's effective target (y − c_skip x)/c_out has unit variance for data of std σ_d (EDM eq. 8)
    cs, co = c_skip.numpy(), c_out.numpy()
    assert np.allclose(((1 - cs) ** 2 * sd**2 + cs**2 * s**2) / co**2, 1.0)


def test_condition_parsing_and_labels():
    rng = np.random.default_rng(0)
    members = np.array([3, 5, 9])
    assert Condition.parse("none").training_labels(members, None, rng) == (None, 0)
    y, n = Condition.parse("labels").training_labels(members, np.arange(10) % 4, rng)
    assert y.tolist() == [3, 1, 1] and n == 4
    y, n = Condition.parse("unique").training_labels(members, None, rng)
    assert y.tolist() == [0, 1, 2] and n == 3
    y, n = Condition.parse("random:5").training_labels(members, None, rng)
    assert n == 5 and y.min() >= 0 and y.max() < 5
    for bad in ("random:0", "random:x", "classes"):
        with pytest.raises(DiffusionInputError, match="Unknown conditioning"):
            Condition.parse(bad)


def test_to_unit_range_refuses_values_outside_the_declared_range():
    assert to_unit_range(np.array([[0.0, 0.5, 1.0]]), (0, 1)).tolist() == [[-1.0, 0.0, 1.0]]
    with pytest.raises(DiffusionInputError, match=r"span \[0, 16\].*outside"):
        to_unit_range(np.array([[0.0, 16.0]]), (0, 1))
    with pytest.raises(DiffusionInputError, match="NaN"):
        to_unit_range(np.array([[np.nan]]), (0, 1))


def _membership(n, rows):
    m = np.zeros((len(rows), n), bool)
    for i, r in enumerate(rows):
        m[i, r] = True
    return m


def test_an_ensemble_member_trains_the_same_alone_or_in_a_group(digits, one_torch_thread):
    trainer = DiffusionTrainer(steps=30, samples=16, hidden=32, batch_size=16, snapshots=[15, 30])
    membership = _membership(200, [np.arange(8), np.arange(20, 40)])
    model_seeds = seeds.model_seeds(0, 2)
    together = trainer.fit_observe(digits, membership, model_seeds)
    alone = trainer.fit_observe(digits, membership[1:], model_seeds[1:])
    assert np.allclose(together["sample_loss"][1], alone["sample_loss"][0], rtol=1e-4)
    assert np.abs(together["sample_images"][1].astype(int) - alone["sample_images"][0]).max() <= 1
    shapes = {k: v.shape for k, v in together.items()}
    assert shapes["sample_replicated"] == (2, 2, 16) and shapes["replications"] == (2, 200)
    assert shapes["sample_images"] == (2, 2, 16, 64)
    # the nearest training image of every sample is one the model trained on
    for m in range(2):
        assert membership[m, together["sample_nearest"][m]].all()


def test_training_pulls_samples_onto_the_training_images_an_untrained_model_does_not(digits, one_torch_thread):
    membership = _membership(200, [np.arange(4)])
    untrained = DiffusionTrainer(steps=1, samples=32, hidden=64, batch_size=32).fit_observe(
        digits, membership, seeds.model_seeds(0, 1))
    trained = DiffusionTrainer(steps=400, samples=32, hidden=64, batch_size=32, lr=3e-3, ema=0.9).fit_observe(
        digits, membership, seeds.model_seeds(0, 1))
    assert untrained["sample_replicated"].mean() == 0  # the control: nothing to have memorized
    assert trained["sample_nearest_distance"].mean() < 0.6 * untrained["sample_nearest_distance"].mean()
    assert trained["replications"].sum() == trained["sample_replicated"][0, 0].sum()


def test_closed_form_replicates_its_training_images_and_only_those(digits):
    rows = [np.arange(0, 50), np.arange(100, 150)]
    trainer = ClosedFormTrainer(samples=64, strengths=[0.1])
    obs = trainer.fit_observe(digits, _membership(200, rows), seeds.model_seeds(0, 2))
    assert obs["sample_replicated"][:, 0].mean() >= 0.95  # Gu et al. (a): D* memorizes
    assert obs["sample_replicated"][:, 1].mean() < 0.3  # Tikhonov c = 0.1 keeps samples off them
    assert obs["sample_regularization"].tolist() == [[0.0, 0.1]] * 2
    # control: the same samples against images the denoiser never saw are not replicas
    training = to_unit_range(digits.X[200 - 50:], (0, 1))
    samples = obs["sample_images"][0, 0]
    control = replication_scores(samples, ((training + 1) * 127.5).round().astype(np.uint8))
    assert control.replicated.mean() < 0.1


def test_unique_labels_make_the_closed_form_copy_the_labelled_image(digits):
    trainer = ClosedFormTrainer(samples=40, condition="unique")
    obs = trainer.fit_observe(digits, _membership(200, [np.arange(10)]), seeds.model_seeds(0, 1))
    assert obs["sample_replicated"].all()
    # label k generates training image k of the subset
    assert (obs["sample_nearest"][0, 0] == obs["sample_label"][0]).all()


def test_trainer_refuses_bad_settings():
    with pytest.raises(DiffusionInputError, match="Snapshot steps"):
        DiffusionTrainer(steps=10, snapshots=[20])
    with pytest.raises(DiffusionInputError, match="network"):
        DiffusionTrainer("transformer")
    with pytest.raises(DiffusionInputError, match="lr"):
        DiffusionTrainer(lr=float("nan"))
    with pytest.raises(DiffusionInputError, match="strengths"):
        ClosedFormTrainer(strengths=[-1])
