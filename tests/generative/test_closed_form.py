"""Closed-form diffusion scores and samplers against brute-force loops, closed forms and Gu et al.'s (a)."""

import math

import numpy as np
import pytest
import torch

from memlens.errors import DataError, MemlensError
from memlens.generative.closed_form import (
    EmpiricalMixture,
    VEProcess,
    VPProcess,
    chunk_rows,
    empirical_denoiser,
    empirical_score,
    mixture_score,
)
from memlens.generative.samplers import (
    SamplerError,
    edm_heun_sample,
    euler_maruyama_sample,
    karras_sigmas,
    probability_flow_sample,
)

# ---------------------------------------------------------------------------------------------
# slow twins: one sample at a time, distances taken directly


def brute_posterior(x, train, sigma, scale=1.0):
    """Per-sample loop: (Σ softmax(log φ) y, log Σ φ) with φ = exp(−‖x − scale·y‖²/2σ²)."""
    sig = np.broadcast_to(sigma, (len(x),))
    m = np.broadcast_to(scale, (len(x),))
    means, masses = [], []
    for xi, s, mi in zip(x, sig, m, strict=True):
        log_phi = np.array([-np.sum((xi - mi * y) ** 2) / (2 * s * s) for y in train])
        top = log_phi.max()
        w = np.exp(log_phi - top)
        means.append((w / w.sum()) @ train)
        masses.append(top + np.log(w.sum()))
    return np.array(means), np.array(masses)


def brute_mixture_score(x, train, t, process, c=0.0, tau=0.0):
    """Baptista et al.'s formulas written out literally (unnormalized φ, Σφ floored at τ)."""
    m, s = process.mean_scale(t), process.std(t)
    out = []
    for xi in x:
        phi = np.array([np.exp(-np.sum((xi - m * y) ** 2) / (2 * s * s)) for y in train])
        if tau > 0:
            out.append((m * phi @ train - xi * phi.sum()) / (s * s * max(phi.sum(), tau)))
        else:
            out.append((m * (phi / phi.sum()) @ train - xi) / (s * s + c))
    return np.array(out)


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 6)) + 3.0, rng.normal(size=(9, 6)) + 3.0  # off-centre on purpose


# ---------------------------------------------------------------------------------------------
# the denoiser


@pytest.mark.parametrize("sigma", [0.3, 1.0, 7.0])
@pytest.mark.parametrize("max_bytes", [3 * 8 * 40 * 2, 2**28])  # 2-row chunks, one chunk
def test_denoiser_matches_per_sample_loop(small, sigma, max_bytes):
    train, x = small
    mix = EmpiricalMixture(train, max_bytes=max_bytes)
    mean, log_mass = mix.posterior(x, sigma)
    want_mean, want_mass = brute_posterior(x, train, sigma)
    np.testing.assert_allclose(mean, want_mean, atol=1e-9)
    np.testing.assert_allclose(log_mass, want_mass, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mix.score(x, sigma), (want_mean - x) / sigma**2, atol=1e-8)


def test_per_sample_sigma_and_scale_and_torch_path(small):
    train, x = small
    sig = np.linspace(0.5, 3.0, len(x))
    scale = np.linspace(0.2, 1.0, len(x))
    mix = EmpiricalMixture(train, max_bytes=3 * 8 * 40 * 4)
    want = brute_posterior(x, train, sig, scale)
    got = mix.posterior(x, sig, scale=scale)
    np.testing.assert_allclose(got[0], want[0], atol=1e-9)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9)
    got_t = mix.posterior(torch.from_numpy(x), torch.from_numpy(sig), scale=torch.from_numpy(scale))
    assert isinstance(got_t[0], torch.Tensor)
    np.testing.assert_allclose(got_t[0].numpy(), want[0], atol=1e-9)


def test_float32_agrees_with_float64_at_image_scale():
    rng = np.random.default_rng(1)
    train = rng.uniform(-1, 1, size=(300, 64))
    x = train[:20] + 0.3 * rng.normal(size=(20, 64))
    for sigma in (0.2, 1.0, 10.0):
        d64 = empirical_denoiser(x, train, sigma)
        d32 = empirical_denoiser(x.astype(np.float32), train, sigma, dtype=torch.float32)
        assert d32.dtype == np.float32
        np.testing.assert_allclose(d32, d64, atol=2e-4)


def test_one_training_point_is_its_own_denoising():
    point = np.array([[0.5, -2.0, 3.0]])
    x = np.random.default_rng(2).normal(size=(5, 3)) * 10
    for sigma in (1e-3, 1.0, 1e3):
        np.testing.assert_allclose(
            empirical_denoiser(x, point, sigma), np.repeat(point, 5, 0), atol=1e-12
        )


def test_small_sigma_gives_nearest_point_and_large_sigma_the_mean(small):
    train, x = small
    nearest = train[np.argmin(((x[:, None] - train[None]) ** 2).sum(-1), 1)]
    np.testing.assert_allclose(empirical_denoiser(x, train, 1e-3), nearest, atol=1e-9)
    np.testing.assert_allclose(
        empirical_denoiser(x, train, 1e5),
        np.repeat(train.mean(0, keepdims=True), len(x), 0),
        atol=1e-6,
    )


def test_score_is_the_gradient_of_the_smoothed_log_density(small):
    """s = ∇ log (1/N) Σ N(x; m y_n, σ² I), checked by autograd on the log-mixture density."""
    train, x = small
    vp = VPProcess()
    t = 0.3
    m, s = vp.mean_scale(t), vp.std(t)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.from_numpy(train)
    log_p = torch.logsumexp(-((xt[:, None] - m * yt[None]) ** 2).sum(-1) / (2 * s * s), 1).sum()
    (grad,) = torch.autograd.grad(log_p, xt)
    mix = EmpiricalMixture(train)
    np.testing.assert_allclose(mixture_score(mix, x, t, vp), grad.numpy(), rtol=1e-7, atol=1e-8)
    # VE at σ(t) is the EDM score of D*
    ve = VEProcess()
    np.testing.assert_allclose(
        mixture_score(mix, x, 0.4, ve), empirical_score(x, train, ve.std(0.4)), atol=1e-10
    )


def test_bad_inputs_are_refused():
    with pytest.raises(DataError, match="non-empty"):
        EmpiricalMixture(np.zeros((0, 3)))
    with pytest.raises(DataError, match="NaN"):
        EmpiricalMixture(np.array([[np.nan, 0.0]]))
    with pytest.raises(DataError, match=r"\(B, 2\)"):
        EmpiricalMixture(np.zeros((3, 2))).denoise(np.zeros((1, 3)), 1.0)
    with pytest.raises(MemlensError, match="≥ 0"):
        mixture_score(EmpiricalMixture(np.zeros((3, 2))), np.zeros((1, 2)), 0.5, VPProcess(), c=-1)


def test_chunk_rule():
    assert chunk_rows(60_000, 8) == 186 and chunk_rows(60_000, 4) == 372
    assert chunk_rows(10**9, 8) == 1  # never zero
    assert chunk_rows(100, 8, max_bytes=3 * 8 * 100 * 7) == 7


# ---------------------------------------------------------------------------------------------
# processes and regularized scores


def test_processes_follow_their_sdes():
    vp, ve = VPProcess(), VEProcess()
    t, h = np.array([0.05, 0.4, 0.9]), 1e-6
    m = vp.mean_scale(t)
    np.testing.assert_allclose(
        (vp.mean_scale(t + h) - vp.mean_scale(t - h)) / (2 * h), -0.5 * vp.beta(t) * m, rtol=1e-6
    )
    np.testing.assert_allclose(vp.std(t) ** 2 + m**2, 1.0, rtol=1e-12)
    # d σ²/dt = g² − β σ² for VP (variance ODE of the OU process), and g² = dσ²/dt for VE
    dvar = (vp.std(t + h) ** 2 - vp.std(t - h) ** 2) / (2 * h)
    np.testing.assert_allclose(dvar, vp.diffusion_sq(t) - vp.beta(t) * vp.std(t) ** 2, rtol=1e-6)
    dvar = (ve.std(t + h) ** 2 - ve.std(t - h) ** 2) / (2 * h)
    np.testing.assert_allclose(dvar, ve.diffusion_sq(t), rtol=1e-6)
    assert ve.mean_scale(0.3) == 1.0 and math.isclose(ve.std(0.0), ve.sigma_min)


@pytest.mark.parametrize("process", [VPProcess(), VEProcess(sigma_min=0.05, sigma_max=5.0)])
@pytest.mark.parametrize(("c", "tau"), [(0.0, 0.0), (0.05, 0.0), (0.0, 1e-3), (0.0, 0.5)])
def test_regularized_scores_match_the_formulas(small, process, c, tau):
    train, x = small
    train, x = train / 3, x / 3
    t = 0.35
    got = mixture_score(EmpiricalMixture(train), x, t, process, c=c, tau=tau)
    np.testing.assert_allclose(
        got, brute_mixture_score(x, train, t, process, c=c, tau=tau), rtol=1e-7, atol=1e-9
    )


def test_regularization_limits_recover_the_empirical_score(small):
    train, x = small
    mix, vp = EmpiricalMixture(train / 3), VPProcess()
    x = x / 3
    exact = mixture_score(mix, x, 0.02, vp)
    for c in (1e-2, 1e-5, 1e-9):
        diff = np.abs(mixture_score(mix, x, 0.02, vp, c=c) - exact).max()
        assert diff <= np.abs(exact).max() * c / vp.std(0.02) ** 2 * 1.01  # s_c = s* σ²/(σ²+c)
    assert np.array_equal(mixture_score(mix, x, 0.02, vp, tau=1e-300), exact)
    # τ above the density damps the score by Σφ/τ: far from data it vanishes
    far = x + 50.0
    assert (
        np.abs(mixture_score(mix, far, 0.02, vp, tau=1.0)).max()
        < 1e-6 * np.abs(mixture_score(mix, far, 0.02, vp)).max()
    )


# ---------------------------------------------------------------------------------------------
# samplers


def test_karras_schedule():
    sig = karras_sigmas()
    assert (
        len(sig) == 19
        and sig[0] == pytest.approx(80.0)
        and sig[17] == pytest.approx(0.002)
        and sig[18] == 0
    )
    assert np.all(np.diff(sig) < 0)
    ramp = np.linspace(0, 1, 18)
    np.testing.assert_allclose(
        sig[:-1] ** (1 / 7), 80 ** (1 / 7) + ramp * (0.002 ** (1 / 7) - 80 ** (1 / 7))
    )


def _gaussian_checks(samples, mean, std):
    n = len(samples)
    assert np.abs(samples.mean(0) - mean).max() < 5 * std / np.sqrt(n)
    assert np.abs(samples.std(0) / std - 1).max() < 0.08


def test_samplers_draw_a_gaussian_from_its_exact_score():
    """Data N(μ, s²I): the exact denoiser/score is linear; each sampler must return N(μ, s²I)."""
    mu, s = np.array([1.0, -0.5]), 0.7
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((4000, 2))

    def denoiser(x, sigma):  # E[y | y + σε = x]
        return mu + s**2 / (s**2 + sigma**2) * (x - mu)

    _gaussian_checks(edm_heun_sample(denoiser, noise), mu, s)
    vp = VPProcess()

    def score(x, t):
        m, sd = vp.mean_scale(t), vp.std(t)
        return -(x - m * mu) / (m**2 * s**2 + sd**2)

    _gaussian_checks(euler_maruyama_sample(score, vp, noise, steps=500, rng=4), mu, s)
    flow = probability_flow_sample(score, vp, noise, t_eval=[0.5])
    _gaussian_checks(flow.x, mu, s)
    assert flow.path.shape == (1, 4000, 2) and flow.t.tolist() == [0.5] and flow.nfev > 10


def test_heun_on_torch_tensors_equals_numpy_and_package_exports_lazily():
    import memlens.generative as generative

    train = np.random.default_rng(8).normal(size=(20, 4))
    noise = np.random.default_rng(9).standard_normal((10, 4))
    mix = generative.EmpiricalMixture(train)
    from_numpy = generative.edm_heun_sample(mix.denoise, noise)
    from_torch = generative.edm_heun_sample(mix.denoise, torch.from_numpy(noise))
    assert isinstance(from_torch, torch.Tensor)
    np.testing.assert_allclose(from_torch.numpy(), from_numpy, atol=1e-12)


def test_nan_stops_the_sampler_naming_step_and_sigma():
    def broken(x, sigma):
        return x * np.nan if sigma < 1.0 else x * 0

    with pytest.raises(SamplerError, match=r"step \d+ \(σ = [\d.]+"):
        edm_heun_sample(broken, np.ones((2, 3)))


def test_moons_collapse_onto_training_points_unless_regularized():
    """Baptista et al. (a) and (c) in miniature: s* collapses samples, a large c does not."""
    from sklearn.datasets import make_moons

    train, _ = make_moons(8, noise=0.05, random_state=0)
    mix, vp = EmpiricalMixture(train), VPProcess()
    nn_gap = np.sort(np.linalg.norm(train[:, None] - train[None], axis=-1), 1)[:, 1]
    radius = 0.05 * np.median(nn_gap)
    noise = np.random.default_rng(5).standard_normal((300, 2))

    def collapsed(samples):
        return (np.linalg.norm(samples[:, None] - train[None], axis=-1).min(1) < radius).mean()

    sde = euler_maruyama_sample(
        lambda x, t: mixture_score(mix, x, t, vp), vp, noise, steps=1000, rng=6
    )
    assert collapsed(sde) >= 0.95
    ode = probability_flow_sample(
        lambda x, t: mixture_score(mix, x, t, vp), vp, noise[:100], t_eval=[0.05]
    )
    assert collapsed(ode.x) >= 0.95
    # Voronoi basins: the point reached is the nearest scaled training point at t = 0.05
    m = vp.mean_scale(0.05)
    basin = np.linalg.norm(ode.path[0][:, None] - m * train[None], axis=-1).argmin(1)
    landed = np.linalg.norm(ode.x[:, None] - train[None], axis=-1).argmin(1)
    assert (basin == landed).mean() >= 0.95
    for option in ({"c": 0.1}, {"tau": 1.0}):  # collapse 0.0 and 0.007 when written
        reg = euler_maruyama_sample(
            lambda x, t, o=option: mixture_score(mix, x, t, vp, **o), vp, noise, steps=1000, rng=6
        )
        assert collapsed(reg) <= 0.2


def _nn_ratio(samples, train):
    """Gu et al.'s criterion in 8-bit pixel space: d(x, NN1) / d(x, NN2)."""
    to_pixels = lambda a: np.clip(np.round((a + 1) * 127.5), 0, 255)  # noqa: E731
    d = np.sort(np.linalg.norm(to_pixels(samples)[:, None] - to_pixels(train)[None], axis=-1), 1)
    return d[:, 0] / d[:, 1]


@pytest.mark.parametrize("size", [16, 64])
def test_closed_form_heun_samples_reproduce_digits(size):
    """Gu et al.'s reproduction (a): D* with EDM Heun memorizes ≥ 95% of samples."""
    from memlens.data import load

    # [−1, 1], without duplicate images (their NN ratio would be 0/0)
    X = np.unique(load("digits").X.astype(np.float64) * 2 - 1, axis=0)
    train = X[np.random.default_rng(size).choice(len(X), size, replace=False)]
    mix = EmpiricalMixture(train)
    samples = edm_heun_sample(mix.denoise, np.random.default_rng(7).standard_normal((200, 64)))
    assert (_nn_ratio(samples, train) < 1 / 3).mean() >= 0.95
    # many training points, not one
    assert len({tuple(r) for r in np.round(samples, 6)}) > size // 2


def test_bench_smoke(capsys):
    from bench import closed_form_sampler

    result = closed_form_sampler.main(["--smoke"])
    # timings at smoke size are noise (shared 2-core machine); the answers must still agree
    assert result["speedup"] > 0 and result["max_abs_diff"] < 1e-4 and result["same_nearest"] == 1.0
    assert "speedup" in capsys.readouterr().out
