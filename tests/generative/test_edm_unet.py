"""The diffusers U-Net EDM denoiser: shapes, seeding, caller-given parameters, the trainer on it, bad input."""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from memlens.generative.diffusion import DiffusionTrainer  # noqa: E402
from memlens.generative.edm import DiffusionInputError  # noqa: E402
from memlens.generative.edm_unet import UNetDenoiser  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _seeds(n, seed=0):
    return list(np.random.SeedSequence(seed).spawn(n))


def test_shapes_padding_and_continuous_time_embedding(one_torch_thread):
    for shape, padded in (((8, 8), (8, 8)), ((14, 14), (16, 16)), ((3, 6, 10), (8, 12))):
        net = UNetDenoiser(0, shape, n_labels=3)
        d = int(np.prod(shape))
        x = torch.randn(1, 5, d)
        out = net(net.params, x, torch.zeros(1, 5), torch.tensor([[0, 1, 2, 0, 1]]))
        assert out.shape == (1, 5, d) and tuple(net.padded_shape) == padded
        assert torch.isfinite(out).all()
    net = UNetDenoiser(0, (8, 8))
    x = torch.randn(1, 1, 64)
    # c_noise = ln σ / 4 is fractional: a time embedding that rounded it to an integer timestep
    # (diffusers' treatment of non-tensor timesteps) would map 0.1 and 0.4 to the same output
    a, b = (net(net.params, x, torch.tensor([[c]]), None) for c in (0.1, 0.4))
    assert (a - b).abs().max() > 1e-4


def test_same_seed_same_network_and_the_given_parameters_are_the_ones_used(one_torch_thread):
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = UNetDenoiser(7, (8, 8), n_labels=2)
    after = torch.rand(3)
    assert torch.equal(before, after)  # building a network leaves the caller's RNG alone
    second, other = UNetDenoiser(7, (8, 8), n_labels=2), UNetDenoiser(8, (8, 8), n_labels=2)
    assert len(first.params) == len(second.params) > 50
    assert all(torch.equal(p, q) for p, q in zip(first.params, second.params, strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(first.params, other.params, strict=True))
    assert all(p.is_leaf and p.requires_grad for p in first.params)
    x, c, y = torch.randn(1, 4, 64), torch.randn(1, 4) * 0.5, torch.tensor([[0, 1, 1, 0]])
    # with its own parameters the wrapper is the module's own forward
    direct = first.module(x.reshape(4, 1, 8, 8), c.reshape(4), class_labels=y.reshape(4)).sample
    assert torch.allclose(first(first.params, x, c, y), direct.reshape(1, 4, 64), atol=1e-6)
    # other tensors (as the EMA copies are) are used instead of the module's, which stay untouched
    swapped = first(other.params, x, c, y)
    assert torch.allclose(swapped, other(other.params, x, c, y), atol=1e-6)
    zeroed = [torch.zeros_like(p) if name.startswith("conv_out") else p
              for name, p in zip(first.names, first.params, strict=True)]
    assert torch.equal(first(zeroed, x, c, y), torch.zeros(1, 4, 64))
    assert first.params[0].abs().sum() > 0


def test_trainer_trains_a_unet_and_returns_the_documented_observations(one_torch_thread):
    rng = np.random.default_rng(0)
    X = rng.random((10, 64)).astype(np.float32)
    data = SimpleNamespace(X=X, y=np.arange(10) % 3, image_shape=(8, 8))
    membership = np.zeros((1, 10), bool)
    membership[0, :8] = True  # 8 tiny training images, 2 left out
    trainer = DiffusionTrainer("unet", condition="unique", steps=20, batch_size=8, snapshots=[10, 20],
                               samples=4, sampler_steps=4)
    obs = trainer.fit_observe(data, membership, _seeds(1))
    S, B = 2, 4
    assert obs["sample_images"].shape == (1, S, B, 64) and obs["sample_images"].dtype == np.uint8
    for key in ("nearest", "second", "nearest_distance", "second_distance", "ratio", "replicated"):
        assert obs[f"sample_{key}"].shape == (1, S, B)
    assert obs["sample_steps"].tolist() == [[10, 20]]
    assert np.isfinite(obs["sample_loss"]).all() and obs["sample_loss"].shape == (1, S)
    assert set(obs["sample_nearest"].ravel()) <= set(range(8))  # neighbours among its own training images
    assert obs["replications"].shape == obs["nearest_count"].shape == (1, 10)
    assert obs["nearest_count"].sum() == B and obs["nearest_count"][0, 8:].sum() == 0
    assert (obs["replications"] <= obs["nearest_count"]).all()


def test_a_trained_unet_moves_its_samples_onto_its_few_training_images(one_torch_thread):
    """Planted effect: 4 binary 8×8 patterns; after training, samples sit far closer to them than at step 1."""
    rng = np.random.default_rng(0)
    data = SimpleNamespace(X=(rng.random((4, 64)) < 0.5).astype(np.float32), y=None, image_shape=(8, 8))
    steps = 60
    trainer = DiffusionTrainer("unet", steps=steps, batch_size=16, lr=2e-3, ema=0.9, snapshots=[1, steps],
                               samples=16, sampler_steps=6)
    obs = trainer.fit_observe(data, np.ones((1, 4), bool), _seeds(1, 1))
    untrained, trained = obs["sample_nearest_distance"][0].mean(axis=-1)
    assert trained < 0.6 * untrained  # 144 → 55 on 8-bit pixels (AMD EPYC, torch 2.13)
    replicated = obs["sample_replicated"][0].mean(axis=-1)
    assert replicated[0] == 0 and replicated[1] >= 0.2  # copies of its training images appear (0.44)
    assert obs["sample_loss"][0, 1] < obs["sample_loss"][0, 0]


def test_bad_input_is_refused_with_a_clear_message(one_torch_thread):
    with pytest.raises(DiffusionInputError, match="height, width"):
        UNetDenoiser(0, (8,))
    with pytest.raises(DiffusionInputError, match="height, width"):
        UNetDenoiser(0, (8, 0))
    with pytest.raises(DiffusionInputError, match="multiples of 8"):
        UNetDenoiser(0, (8, 8), channels=(12, 24))
    with pytest.raises(DiffusionInputError, match="n_labels"):
        UNetDenoiser(0, (8, 8), n_labels=-1)
    net = UNetDenoiser(0, (8, 8), n_labels=2)
    good_c, good_y = torch.zeros(1, 2), torch.tensor([[0, 1]])
    with pytest.raises(DiffusionInputError, match=r"\(1, batch, 64\)"):
        net(net.params, torch.zeros(1, 2, 63), good_c, good_y)
    with pytest.raises(DiffusionInputError, match="NaN"):
        net(net.params, torch.full((1, 2, 64), float("nan")), good_c, good_y)
    with pytest.raises(DiffusionInputError, match=r"\[0, 2\)"):
        net(net.params, torch.zeros(1, 2, 64), good_c, torch.tensor([[0, 2]]))
    with pytest.raises(DiffusionInputError, match="integer labels"):
        net(net.params, torch.zeros(1, 2, 64), good_c, None)
    with pytest.raises(DiffusionInputError, match="c_noise"):
        net(net.params, torch.zeros(1, 2, 64), torch.zeros(1, 3), good_y)
    X = np.zeros((4, 64), np.float32)
    X[2, 5] = np.nan
    trainer = DiffusionTrainer("unet", steps=2, samples=2, sampler_steps=2)
    with pytest.raises(DiffusionInputError, match="NaN"):
        trainer.fit_observe(SimpleNamespace(X=X, y=None, image_shape=(8, 8)), np.ones((1, 4), bool), _seeds(1))
    with pytest.raises(DiffusionInputError, match="needs images"):
        trainer.fit_observe(SimpleNamespace(X=np.zeros((4, 64), np.float32), y=None, image_shape=None),
                            np.ones((1, 4), bool), _seeds(1))


def test_diffusion_fashion_smoke_runs_both_conditions_on_the_engine(tmp_path, one_torch_thread):
    from experiments import diffusion_fashion

    from memlens.data.loaders import fashion_mnist_dir

    if not (fashion_mnist_dir() / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("no Fashion-MNIST")
    r = diffusion_fashion.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["sizes"] == [4, 8] and r["image_shape"] == [7, 7]
    for condition in ("none", "unique"):
        assert [row["size"] for row in r["ratios"][condition]] == [4, 8]
        for row in r["ratios"][condition]:
            assert 0 <= row["ci_low"] <= row["ratio"] <= row["ci_high"] <= 1
            assert row["ratio"] == max(row["ratio_per_snapshot"])
        assert (tmp_path / condition / "run.json").exists()
    assert r["trainer"]["unique"]["condition"] == "unique" and r["trainer"]["none"]["network"] == "unet"
    assert (tmp_path / "diffusion_fashion.json").exists()
