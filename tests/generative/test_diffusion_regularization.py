"""Baptista et al.'s reproduction at smoke size: the empirical score collapses, regularization stops it."""

import json

import numpy as np


def test_diffusion_regularization_smoke(tmp_path):
    from experiments import diffusion_regularization as exp

    r = exp.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    n8 = r["sizes"]["8"]
    # (a) s* memorizes: SDE and ODE samples land on training points
    assert n8["pass_a_sde"] and n8["pass_a_ode"]
    assert n8["scores"]["c=0"]["sde"]["collapse"] >= 0.95 and n8["scores"]["c=0"]["ode"]["collapse"] >= 0.95
    # (b) the Voronoi cell of the scaled training points at t = 0.05 decides where a trajectory ends
    assert n8["voronoi_agreement"] >= 0.95 and n8["pass_b_voronoi"]
    # (c) Tikhonov and the density floor stop the collapse: non-increasing in strength, low at the top
    for sampler in ("sde", "ode"):
        by_c = n8["collapse_vs_c"][sampler]
        assert all(b <= a for a, b in zip(by_c, by_c[1:], strict=False)) and by_c[-1] <= 0.2
        assert by_c[0] - by_c[1] >= 0.3  # c = 1e-3 already frees many samples
    by_tau = n8["collapse_vs_tau"]["sde"]
    assert all(b <= a for a, b in zip(by_tau, by_tau[1:], strict=False)) and by_tau[-1] <= 0.2
    # (d) MMD to the population: finite, one bandwidth, and the unregularized value is recorded
    mmd = n8["mmd_vs_c"]["sde"]
    assert np.isfinite(mmd).all() and r["mmd_bandwidth"] > 0 and len(mmd) == len(r["c_grid"]) == 3
    assert isinstance(n8["pass_d_mmd"]["sde"], bool)
    # with a finer kernel the planted effect shows: spread-out (regularized) samples sit closer to
    # the population than point masses on the 8 training points
    fine = n8["mmd_narrow_vs_c"]["median/16"]["sde"]
    assert fine[-1] < 0.5 * fine[0] and n8["pass_d_mmd_narrow"]["median/16"]["sde"]
    assert set(n8["voronoi_agreement_by_t"]) == {"0.05", "0.02", "0.01", "0.005"}
    # (e) the trained denoisers: a collapse curve per width and snapshot, the verdicts computed
    nets = r["neural"]
    assert set(nets["widths"]) == {"16", "64"} and nets["snapshots"] == [100, 300]
    for width in nets["widths"].values():
        curve = width["sizes"]["8"]["collapse"]
        assert len(curve) == 2 and all(0.0 <= f <= 1.0 for f in curve)
    for key in ("pass_e_growth_every_width", "pass_e_growth_widest", "pass_e_widest_faster"):
        assert isinstance(nets[key], bool)
    saved = json.loads((tmp_path / "diffusion_regularization.json").read_text())
    assert saved["sizes"]["8"]["collapse_vs_c"] == n8["collapse_vs_c"]


def test_tweedie_step_lands_on_the_training_point_for_the_empirical_score():
    """The read-out step: with s* and a small σ the denoised estimate is the nearest training point."""
    from experiments.diffusion_regularization import tweedie

    from memlens.generative.closed_form import EmpiricalMixture, VPProcess, mixture_score

    train = np.array([[0.0, 0.0], [1.0, 0.5], [-1.0, 1.0]])
    vp, mix = VPProcess(), EmpiricalMixture(train)
    t = 1e-3
    x = vp.mean_scale(t) * train + 0.01 * np.random.default_rng(0).standard_normal(train.shape)
    out = tweedie(lambda z, s: mixture_score(mix, z, s, vp), vp, x, t)
    assert np.abs(out - train).max() < 1e-9
    # Tikhonov with c ≫ σ² keeps the sample where it is (up to the 1/m rescaling)
    kept = tweedie(lambda z, s: mixture_score(mix, z, s, vp, c=10.0), vp, x, t)
    assert np.abs(kept - x / vp.mean_scale(t)).max() < 1e-4
