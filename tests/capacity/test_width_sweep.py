"""Width sweep (Daniely): batched padded training equals training alone, bisection, power-law exponent."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from memlens import seeds as seed_streams
from memlens.capacity.width_sweep import (
    CapacityInputError,
    RandomLabels,
    WidthSweepTrainer,
    bisect_width,
    first_round_widths,
    fit_power_law,
    initial_weights,
    margins,
    next_widths,
    random_labels,
    sweep_design,
    train_batched,
)
from memlens.engine import run_design

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def plain_adam_alone(X, y, width, seed, epochs, lr):
    """Brute-force twin: one network at its true width, torch.optim.Adam, autograd, no padding."""
    d = X.shape[1]
    W = initial_weights(seed, d, width, torch.float64).clone().requires_grad_(True)
    a = torch.cat([torch.ones(width // 2), -torch.ones(width // 2)]).double() / width**0.5
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float64))
    opt = torch.optim.Adam([W], lr=lr)
    for _ in range(epochs):
        loss = torch.nn.functional.softplus(-yt * (torch.relu(Xt @ W) @ a)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return W.detach().numpy()


def test_random_labels_is_a_pure_function_of_seed_and_draw():
    X, y = random_labels(50, 7, seed=3, draw=1)
    X2, y2 = random_labels(50, 7, seed=3, draw=1)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, random_labels(50, 7, seed=3, draw=0)[0])
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0) and set(np.unique(y)) == {-1, 1}
    data = RandomLabels(50, 7, draws=3, seed=3)
    assert np.array_equal(data.X[50:100], X) and data.n_examples == 150
    assert data.fingerprint() == RandomLabels(50, 7, draws=3, seed=3).fingerprint()
    assert data.fingerprint() != RandomLabels(50, 7, draws=3, seed=4).fingerprint()


@pytest.mark.parametrize("cache_elements", [1, 1 << 16])  # one model per chunk; all models in one chunk
def test_padded_models_train_exactly_as_alone_at_their_true_width(cache_elements, monkeypatch):
    from memlens.capacity import width_sweep

    monkeypatch.setattr(width_sweep, "CACHE_ELEMENTS", cache_elements)
    data = RandomLabels(40, 5, draws=3, seed=1)
    widths, draws = [4, 18, 10, 2], [0, 1, 2, 1]  # narrower models padded to 18 hidden units
    members = [np.flatnonzero(data.members(s)) for s in draws]
    members[3] = members[3][:25]  # fewer points than the others: padded with weight-0 rows
    seeds = seed_streams.model_seeds(0, 4)
    together, ran = train_batched(data.X, data.y, members, widths, seeds, epochs=60, lr=0.05,
                                  stop_when_fit=False, dtype="float64")
    assert ran.tolist() == [60] * 4
    for k in range(4):
        alone, _ = train_batched(data.X, data.y, [members[k]], [widths[k]], [seeds[k]], epochs=60, lr=0.05,
                                 stop_when_fit=False, dtype="float64")
        twin = plain_adam_alone(data.X[members[k]], data.y[members[k]], widths[k], seeds[k], 60, 0.05)
        assert together[k].shape == (5, widths[k])
        np.testing.assert_allclose(together[k], alone[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(together[k], twin, rtol=0, atol=1e-9)
        assert not np.allclose(together[k], initial_weights(seeds[k], 5, widths[k], torch.float64).numpy())


def test_early_stopping_drops_fitted_models_without_changing_the_others():
    data = RandomLabels(48, 6, draws=1, seed=2)
    rows = np.flatnonzero(data.members(0))
    widths = [48, 2, 24]  # the widest fits first, and the batch shrinks its padding
    seeds = seed_streams.model_seeds(5, 3)
    together, ran = train_batched(data.X, data.y, [rows] * 3, widths, seeds, epochs=400, lr=0.05,
                                  check_every=10, dtype="float64")
    assert ran[0] < 400 and ran[1] == 400  # width 2 cannot fit 48 random labels in R^6
    for k in range(3):
        alone, ran_alone = train_batched(data.X, data.y, [rows], [widths[k]], [seeds[k]], epochs=400, lr=0.05,
                                         check_every=10, dtype="float64")
        np.testing.assert_allclose(together[k], alone[0], atol=1e-12)
        assert ran_alone[0] == ran[k]
    margin = margins(together, widths, data.X, data.y)
    assert (margin[0] > 0).all() and not (margin[1] > 0).all()


def test_trainer_on_the_engine_observes_fit_per_example_and_is_shard_independent(tmp_path):
    data = RandomLabels(30, 6, draws=2, seed=0)
    design = sweep_design(data, [0, 1, 0, 1])
    trainer = WidthSweepTrainer((2, 2, 40, 40), epochs=800, lr=0.05, dtype="float64")  # exact; float32 rounding
    # differs with the padding (summation order) and Adam amplifies it over hundreds of steps
    one = run_design(data, design, trainer, tmp_path / "one", progress=False, shard_size=4)
    two = run_design(data, design, trainer, tmp_path / "two", progress=False, shard_size=1)
    correct, margin = np.asarray(one.observation("correct")), np.asarray(one.observation("margin"))
    assert correct.shape == margin.shape == (4, 60)
    assert np.array_equal(correct, margin > 0)
    np.testing.assert_allclose(margin, np.asarray(two.observation("margin")), atol=1e-9)
    train_acc = [correct[k][design.membership[k]].mean() for k in range(4)]
    assert train_acc[2] == train_acc[3] == 1.0 and max(train_acc[:2]) < 1.0
    held_out = [correct[k][~design.membership[k]].mean() for k in range(4)]
    assert all(0.2 < a < 0.8 for a in held_out)  # random labels: nothing to generalize


def test_bisection_brackets_q_min_by_its_own_probes(tmp_path):
    result = bisect_width(48, 8, tmp_path, draws=2, required=2, probes=5, rel_tol=0.05, max_rounds=3,
                          trainer_options={"epochs": 400, "lr": 0.05})
    counts = result.pass_counts()
    lo, hi = result.bracket
    assert result.q_min == hi and counts[hi][0] >= 2
    assert lo == 0 or counts[lo][0] < 2
    assert all(counts[w][0] < 2 for w in counts if w < hi and w > lo) or hi - lo <= 2
    assert 2 <= result.q_min <= 4 * 48 / 8 and result.rounds >= 2


def test_probe_widths():
    assert first_round_widths(256, 16, 7, 0.25, 16) == [4, 8, 16, 32, 64, 128, 256]
    assert next_widths(10, 20, 10) == [12, 14, 16, 18]
    picks = next_widths(100, 300, 5)
    assert len(picks) == 5 and all(100 < w < 300 and w % 2 == 0 for w in picks)


def test_power_law_exponent_on_an_exact_law_and_against_closed_form():
    x = np.array([8.0, 16, 32, 64, 128, 256])
    exact = fit_power_law(x, 3.0 * x**0.8)
    assert exact.exponent == pytest.approx(0.8, abs=1e-12) and exact.log_prefactor == pytest.approx(np.log(3))
    assert exact.ci_high - exact.ci_low < 1e-9
    boot = fit_power_law(x, 3.0 * x**0.8, method="bootstrap", n_boot=200)
    assert boot.ci_low == pytest.approx(0.8, abs=1e-9) and boot.ci_high == pytest.approx(0.8, abs=1e-9)
    rng = np.random.default_rng(0)
    y = 2.0 * x**1.1 * np.exp(rng.normal(0, 0.2, len(x)))
    fit = fit_power_law(x, y, confidence=0.9)
    ref = stats.linregress(np.log(x), np.log(y))
    half = stats.t.ppf(0.95, len(x) - 2) * ref.stderr
    assert fit.exponent == pytest.approx(ref.slope) and fit.ci_low == pytest.approx(ref.slope - half)
    assert fit.ci_high == pytest.approx(ref.slope + half)


def test_power_law_interval_covers_the_true_exponent_at_its_rate():
    rng = np.random.default_rng(1)
    x = np.geomspace(4, 512, 8)
    covered = [fit_power_law(x, x**0.9 * np.exp(rng.normal(0, 0.3, 8))) for _ in range(600)]
    rate = np.mean([f.ci_low <= 0.9 <= f.ci_high for f in covered])
    assert 0.92 <= rate <= 0.98
    x = np.geomspace(4, 512, 60)
    y = x**0.9 * np.exp(rng.normal(0, 0.3, 60))
    ols, boot = fit_power_law(x, y), fit_power_law(x, y, method="bootstrap", n_boot=1000)
    assert 0.7 < (boot.ci_high - boot.ci_low) / (ols.ci_high - ols.ci_low) < 1.4


def test_bad_input_is_refused_with_a_reason(tmp_path):
    with pytest.raises(CapacityInputError, match="even"):
        WidthSweepTrainer((4, 5))
    with pytest.raises(CapacityInputError, match="positive"):
        fit_power_law([1, 2, 3], [1, 0, 2])
    with pytest.raises(CapacityInputError, match="cannot exceed"):
        bisect_width(16, 4, tmp_path, draws=2, required=3)
    data = RandomLabels(10, 3, draws=1)
    data.X = data.X.copy()
    data.X[4] = data.X[7]
    data.y = data.y.copy()
    data.y[4], data.y[7] = 1, -1
    with pytest.raises(CapacityInputError, match=r"\(4, 7\)"):
        WidthSweepTrainer((4,)).fit_observe(data, np.ones((1, 10), bool), seed_streams.model_seeds(0, 1))
    data.X[2, 1] = np.nan
    with pytest.raises(CapacityInputError, match=r"\[2\]"):
        WidthSweepTrainer((4,)).fit_observe(data, np.ones((1, 10), bool), seed_streams.model_seeds(0, 1))
    with pytest.raises(CapacityInputError, match="one width per model"):
        WidthSweepTrainer((4,)).fit_observe(RandomLabels(10, 3), np.ones((2, 10), bool),
                                            seed_streams.model_seeds(0, 2))


def test_capacity_width_smoke(tmp_path):
    from experiments import capacity_width

    r = capacity_width.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert len(r["settings"]) == 3 and (tmp_path / "capacity_width.json").exists()
    assert all(s["q_min"] is not None for s in r["settings"])
    assert r["fit"]["exponent"] == pytest.approx(
        stats.linregress(np.log([s["m_over_d"] for s in r["settings"]]),
                         np.log([s["q_min"] for s in r["settings"]])).slope)
