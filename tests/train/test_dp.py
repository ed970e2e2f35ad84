"""DP-SGD (memlens.train.dp): the accountant's ε, reproducibility, a plain-SGD twin, bad input,
and the audited ε lower bound never above the accountant's upper bound."""

import json
import math
import warnings

import numpy as np
import pytest

pytest.importorskip("opacus")

import memlens as ml  # noqa: E402
from memlens.design import halves  # noqa: E402
from memlens.errors import MemlensError  # noqa: E402
from memlens.train import model_seeds  # noqa: E402
from memlens.train.dp import DPTrainer, _child_int  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Opacus's small per-example matmuls are slower, not faster, on several threads."""


@pytest.fixture(scope="module")
def digits():
    return ml.data.load("digits:200")


def test_privacy_accounting_is_opacus_accountant_after_training(digits, monkeypatch):
    """privacy.json (pure, from the config) == the ε Opacus's own engine reports after training."""
    import opacus

    engines = []

    class Recording(opacus.PrivacyEngine):
        def __init__(self, **kw):
            super().__init__(**kw)
            engines.append(self)

    monkeypatch.setattr(opacus, "PrivacyEngine", Recording)
    membership = halves(2, digits.n_examples, seed=3).membership
    membership[1, :7] = False  # a different training-set size: its own sample rate and ε
    trainer = DPTrainer("linear", epochs=3, batch_size=32, noise_multiplier=1.3)
    privacy = trainer.privacy_accounting(membership)
    trainer.fit_observe(digits, membership, model_seeds(0, 2))
    measured = [e.get_epsilon(privacy["delta"]) for e in engines]
    assert np.allclose(privacy["epsilon_per_model"], measured, rtol=1e-9)
    assert privacy["epsilon"] == max(privacy["epsilon_per_model"])
    counts = membership.sum(axis=1)
    assert privacy["sample_rate_per_model"] == [1 / math.ceil(c / 32) for c in counts]
    assert [e.accountant.history for e in engines] == [
        [(1.3, q, 3 * math.ceil(c / 32))] for q, c in zip(privacy["sample_rate_per_model"], counts, strict=True)
    ]
    keys = {"mechanism", "library", "accountant", "delta", "target_epsilon", "noise_multiplier", "max_grad_norm",
            "epochs", "sample_rate_per_model", "epsilon_per_model", "epsilon"}
    assert keys <= set(privacy) and privacy["mechanism"] == "DP-SGD" and privacy["library"].startswith("opacus ")


def test_target_epsilon_noise_is_opacus_get_noise_multiplier():
    """Full batches (sample rate 1) keep Opacus's noise search fast enough for a unit test."""
    from opacus.accountants.utils import get_noise_multiplier

    membership = halves(4, 300, seed=0).membership
    for accountant in ("rdp", "prv"):
        trainer = DPTrainer("mlp", epochs=5, batch_size=400, target_epsilon=2.0, accountant=accountant)
        privacy = trainer.privacy_accounting(membership)
        with warnings.catch_warnings(), np.errstate(divide="ignore"):  # Opacus's own notices at rate 1
            warnings.simplefilter("ignore", UserWarning)
            sigma = get_noise_multiplier(target_epsilon=2.0, target_delta=1e-5, sample_rate=1.0, steps=5,
                                         accountant=accountant)
        assert privacy["noise_multiplier_per_model"] == [sigma] * 4 and privacy["sample_rate_per_model"] == [1.0] * 4
        assert all(2.0 - 0.05 < e <= 2.0 + 1e-9 for e in privacy["epsilon_per_model"])  # met, within the search tolerance


def test_same_seed_same_arrays_and_shards_resume_identically(digits):
    membership = halves(4, digits.n_examples, seed=1).membership
    trainer = DPTrainer("mlp", width=8, epochs=2, noise_multiplier=1.0)
    seeds = model_seeds(5, 4)
    whole = trainer.fit_observe(digits, membership, seeds)
    again = trainer.fit_observe(digits, membership, model_seeds(5, 4))
    first, second = (trainer.fit_observe(digits, membership[a:b], seeds[a:b]) for a, b in ((0, 1), (1, 4)))
    assert set(whole) >= {"correct", "loss", "confidence", "probabilities", "test_correct", "test_loss"}
    for name in whole:
        assert np.array_equal(whole[name], again[name]), name
        assert np.array_equal(whole[name], np.concatenate([first[name], second[name]])), name
    other = trainer.fit_observe(digits, membership[:1], model_seeds(6, 1))
    assert not np.array_equal(other["loss"], whole["loss"][:1])  # the seed matters (init, batches, noise)


def test_noise_free_unclipped_is_plain_sgd_on_the_same_poisson_batches(digits):
    """A twin in plain torch: same init, same Poisson batches, Σ gradients / expected batch, momentum."""
    import torch
    import torch.nn.functional as F

    from memlens.train.ensemble import _standardizer

    membership = halves(2, digits.n_examples, seed=2).membership[:1]
    seed = model_seeds(0, 1)[0]
    trainer = DPTrainer("linear", epochs=4, batch_size=24, optimizer="sgd", lr=0.1,
                        noise_multiplier=0.0, max_grad_norm=math.inf)
    assert trainer.privacy_accounting(membership) is None  # nothing to account
    got = trainer.fit_observe(digits, membership, [seed])["loss"][0]

    mean, std = _standardizer(digits.X)
    X = torch.from_numpy((digits.X - mean) / std)
    y = torch.from_numpy(digits.y).long()
    members = np.flatnonzero(membership[0])
    Xo, yo = X[members], y[members]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_child_int(seed, 1))
        net = torch.nn.Linear(64, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    steps = math.ceil(len(members) / 24)
    rate, expected = 1 / steps, int(len(members) / steps)
    g = torch.Generator().manual_seed(_child_int(seed, 2))
    for _ in range(4 * steps):
        batch = torch.nonzero(torch.rand(len(members), generator=g) < rate).reshape(-1)
        opt.zero_grad()
        (F.cross_entropy(net(Xo[batch]), yo[batch], reduction="sum") / expected).backward()
        opt.step()
    with torch.no_grad():
        twin = F.cross_entropy(net(X), y, reduction="none").numpy()
    assert np.allclose(got, twin, rtol=1e-4, atol=1e-5)
    noisy = DPTrainer("linear", epochs=4, batch_size=24, optimizer="sgd", lr=0.1, noise_multiplier=0.5)
    assert not np.allclose(noisy.fit_observe(digits, membership, [seed])["loss"][0], twin, atol=1e-3)


def _batchnorm_net(n_features, n_classes):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(n_features, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                               torch.nn.Linear(8, n_classes))


def test_batchnorm_refused_naming_the_layer_before_anything_is_written(digits, tmp_path):
    design = halves(2, digits.n_examples)
    with pytest.raises(MemlensError, match=r"1 \(BatchNorm1d\).*GroupNorm.*ModuleValidator\.fix"):
        ml.audit(digits, design, DPTrainer(_batchnorm_net, noise_multiplier=1.0), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"target_epsilon": 1.0, "noise_multiplier": 1.0}, "exactly one of --dp-epsilon .* got both"),
        ({}, "exactly one of --dp-epsilon .* got neither"),
        ({"noise_multiplier": 1.0, "max_grad_norm": 0.0}, "--dp-max-grad-norm .* must be > 0"),
        ({"noise_multiplier": 1.0, "max_grad_norm": -1.0}, "--dp-max-grad-norm .* must be > 0"),
        ({"noise_multiplier": 1.0, "max_grad_norm": math.inf}, "finite clipping norm"),
        ({"target_epsilon": 0.0}, "--dp-epsilon must be a finite number > 0"),
        ({"noise_multiplier": 1.0, "delta": 0.0}, r"--dp-delta must be in \(0, 1\)"),
        ({"noise_multiplier": 1.0, "accountant": "gdpx"}, "Unknown accountant"),
    ],
)
def test_bad_settings_refused(settings, message):
    with pytest.raises(MemlensError, match=message):
        DPTrainer("linear", **settings)


def test_delta_at_least_one_over_n_refused(digits):
    membership = halves(2, digits.n_examples).membership  # about 100 examples per model
    with pytest.raises(MemlensError, match=r"--dp-delta 0\.02 is at least 1/n for a model trained on 9\d examples.*--dp-delta 0\.001"):
        DPTrainer("linear", noise_multiplier=1.0, delta=0.02).privacy_accounting(membership)


def test_unreachable_epsilon_names_the_knobs():
    membership = np.ones((1, 50), dtype=bool)  # sample rate 1: no amplification
    trainer = DPTrainer("linear", epochs=20000, batch_size=50, target_epsilon=0.01, delta=1e-10, accountant="rdp")
    with pytest.raises(MemlensError, match=r"cannot reach ε = 0\.01 .* 20000 epochs .*--epochs.*--batch-size"):
        trainer.privacy_accounting(membership)


def test_cli_refuses_contradictory_or_foreign_dp_options(tmp_path, run_cli):
    from cli_assertions import one_paragraph

    base = ["audit", "--dataset", "digits:100", "--models", "2", "--epochs", "1", "--no-progress"]
    code, _, err = run_cli(*base, "--out", tmp_path / "a", "--dp-epsilon", "1", "--dp-noise-multiplier", "1")
    assert code != 0
    one_paragraph(err, "--dp-epsilon or --dp-noise-multiplier, not both")
    code, _, err = run_cli(*base, "--out", tmp_path / "b", "--model", "sklearn:sklearn.linear_model.LogisticRegression",
                           "--dp-epsilon", "1")
    assert code != 0
    one_paragraph(err, "sklearn:sklearn.linear_model.LogisticRegression trains its own model")
    code, _, err = run_cli(*base, "--out", tmp_path / "c", "--dp-max-grad-norm", "0.5")
    assert code != 0
    one_paragraph(err, "needs the privacy level too")
    assert not any(tmp_path.iterdir())


def test_cli_dp_run_writes_privacy_json_and_reports_it(tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("audit", "--dataset", "digits:200", "--model", "logreg", "--models", "4", "--epochs",
                                "2", "--targets", "2", "--dp-epsilon", "8", "--no-progress", "--out", out)
    assert code == 0, err
    privacy = json.loads((out / "privacy.json").read_text())
    assert privacy["target_epsilon"] == 8 and privacy["epsilon"] <= 8 and privacy["delta"] == 1e-5
    assert json.loads((out / "run.json").read_text())["config"]["trainer"]["trainer"] == "dp-sgd"
    assert "ε ≤" in stdout and "DP-SGD" in stdout
    assert "DP-SGD accountant" in (out / "report.html").read_text()


def test_audited_epsilon_never_exceeds_the_accountants(tmp_path):
    """16 DP linear models at ε = 1: no audit (multi-run per attack, one-run on model 0) beats Opacus's ε."""
    from memlens.estimate.epsilon import one_run_epsilon_sweep

    data = ml.data.load("digits:400").plant(ml.data.parse_plant("label-noise:0.05", seed=0))
    trainer = DPTrainer("linear", epochs=10, batch_size=512, target_epsilon=1.0)  # full batches: fast accounting
    run = ml.audit(data, halves(16, data.n_examples), trainer, tmp_path / "run", n_targets=4, progress=False)
    accountant = run.store.read_json("privacy.json")["epsilon"]
    assert 0.95 < accountant <= 1.0
    audited = [m["epsilon_lower_bound"]["epsilon"] for m in run.mia["attacks"].values()]
    assert len(audited) == 4 and max(audited) <= accountant
    loss = np.asarray(run.observations["loss"])
    one_run = one_run_epsilon_sweep(np.asarray(run.membership)[0], -loss[0], guesses=[10, 20, 50, 100],
                                    in_fraction=0.0, delta=1e-5)
    assert one_run["epsilon"] <= accountant


def test_dp_sgd_digits_experiment_smoke(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from experiments import dp_sgd_digits

    r = dp_sgd_digits.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert [arm["epsilon_target"] for arm in r["arms"]] == ["1", "4", "16", "inf"]
    for arm in r["arms"][:3]:
        assert arm["multi_run_epsilon_lower_bound"] <= arm["accountant_epsilon"] <= float(arm["epsilon_target"])
        assert arm["one_run"]["epsilon"] <= arm["accountant_epsilon"]
    assert r["arms"][3]["accountant_epsilon"] is None and (tmp_path / "dp_sgd_digits.json").exists()
