"""`memlens capacity construct` / `decode`: numbers against closed forms, refusals, and the audit options they need."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cli_assertions import one_paragraph
from memlens.capacity.cli import balanced_order, loglog_slope, parse_sizes


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")


# --------------------------------------------------------------------------------------- pure parts


def test_loglog_slope_is_exact_on_a_power_law_and_matches_linregress_on_noise():
    n = np.array([100, 200, 400, 800, 1600])
    exact = loglog_slope(n, 3.0 * n**0.5)
    assert exact["slope"] == pytest.approx(0.5, abs=1e-12)
    assert exact["intercept"] == pytest.approx(math.log(3.0), abs=1e-12)
    assert exact["low"] == pytest.approx(0.5, abs=1e-9) and exact["high"] == pytest.approx(0.5, abs=1e-9)
    rng = np.random.default_rng(0)
    width = 2.0 * n**0.7 * np.exp(rng.normal(0, 0.1, len(n)))
    fit, ref = loglog_slope(n, width, confidence=0.9), stats.linregress(np.log(n), np.log(width))
    assert fit["slope"] == pytest.approx(ref.slope)
    half = stats.t.ppf(0.95, len(n) - 2) * ref.stderr
    assert (fit["low"], fit["high"]) == pytest.approx((ref.slope - half, ref.slope + half))
    two = loglog_slope([10, 40], [5, 10])
    assert two["slope"] == pytest.approx(0.5) and two["low"] is None and two["high"] is None


def test_balanced_order_deals_the_classes_out_in_turn():
    labels = np.repeat([0, 1, 2], [50, 30, 5])
    order = balanced_order(labels, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(len(labels)))
    for n in (3, 9, 15):
        assert np.bincount(labels[order[:n]], minlength=3).tolist() == [n // 3] * 3
    counts = np.bincount(labels[order[:40]], minlength=3)  # class 2 runs out after 5: the others share the rest
    assert counts[2] == 5 and abs(int(counts[0]) - int(counts[1])) <= 1


def test_default_sizes_double_up_to_the_pool():
    assert parse_sizes(None, 1347) == (100, 200, 400, 800)
    assert parse_sizes("400, 100,200", 1347) == (100, 200, 400)


# --------------------------------------------------------------------------------------- construct


def _read(out):
    return json.loads((out / "capacity.json").read_text()), pd.read_parquet(out / "constructions.parquet")


def _agree(summary, table):
    assert table["n"].tolist() == summary["sizes"]
    for row, (_, parquet) in zip(summary["rows"], table.iterrows(), strict=True):
        for key in ("width_total", "parameters", "train_accuracy", "heldout_accuracy", "heldout_n", "seconds"):
            assert parquet[key] == pytest.approx(row[key]), key
        assert parquet["widths"] == ",".join(map(str, row["widths"]))
    refit = loglog_slope(table["n"], table["width_total"])
    assert summary["slope"]["slope"] == pytest.approx(refit["slope"])


def test_sqrt_n_widths_follow_the_closed_form_and_grow_as_root_n(run_cli, tmp_path):
    out = tmp_path / "sqrt"
    code, stdout, err = run_cli("capacity", "construct", "--method", "sqrt-n", "--sizes", "50,100,200,400",
                                "--out", out, "--no-progress")
    assert code == 0, err
    summary, table = _read(out)
    _agree(summary, table)
    for row in summary["rows"]:
        p = math.ceil(math.sqrt(row["n"]))  # Yun et al.: widths 2p − 1 and 2p with p = ⌈√N⌉
        assert row["widths"] == [2 * p - 1, 2 * p]
        assert row["train_accuracy"] == 1.0 and row["max_abs_error"] < 1e-3
        assert row["heldout_n"] == summary["pool"] - row["n"]
    # documented range: √N up to the ceiling's wobble at these small N
    assert 0.4 <= summary["slope"]["slope"] <= 0.6
    assert summary["slope"]["low"] <= 0.5 <= summary["slope"]["high"]
    page = (out / "report.html").read_text()
    assert f"{summary['slope']['slope']:.2f}" in page
    assert "N<sup>" in page and "<td>400</td>" in page
    assert "width ∝ N^" in stdout


def test_mimm_memorizes_random_labels_with_one_unit_per_example(run_cli, tmp_path):
    out = tmp_path / "mimm"
    code, _, err = run_cli("capacity", "construct", "--method", "mimm", "--labels", "random", "--sizes", "50,100,200",
                           "--seed", "3", "--out", out, "--no-progress")
    assert code == 0, err
    summary, table = _read(out)
    _agree(summary, table)
    for row in summary["rows"]:  # one-vs-rest: 10 machines, each with N kernel units and N memories
        assert row["widths"] == [10 * row["n"], 10 * row["n"]] and row["machines"] == 10
        assert row["train_accuracy"] == 1.0
        assert row["heldout_accuracy"] < 0.25  # random labels: nothing to generalize, chance is 0.1
    assert summary["slope"]["slope"] == pytest.approx(1.0)


def _npz_with_conflicting_copies(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    X[41], y[41] = X[7], (y[7] + 1) % 3  # the same input twice with two labels
    path = tmp_path / "clash.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "deep"], r"Unknown --method 'deep'"),
    (["--method", "sqrt-n", "--sizes", "100,5000"], r"5000 examples but the dataset has 1347"),
    (["--method", "sqrt-n", "--sizes", "100,abc"], r"comma-separated whole numbers"),
    (["--method", "mimm", "--labels", "shuffled"], r"'given' or 'random'"),
    (["--method", "sqrt-n", "--dataset", "CLASH", "--sizes", "20,50"], r"dataset ids \{7, 41\}"),
])
def test_bad_construct_input_exits_2_with_one_paragraph_and_writes_nothing(run_cli, tmp_path, args, message):
    args = [str(_npz_with_conflicting_copies(tmp_path)) if a == "CLASH" else a for a in args]
    out = tmp_path / "never"
    code, _, err = run_cli("capacity", "construct", *args, "--out", out, "--no-progress")
    assert code == 2
    one_paragraph(err, message)
    assert not out.exists()


# --------------------------------------------------------------------------------------- decode


@pytest.fixture(scope="module")
def activation_run(tmp_path_factory):
    """4 two-hidden-layer MLPs on 200 digits with 30% flipped labels, activations observed (a few seconds)."""
    import memlens as ml

    data = ml.data.load("digits:200").plant(ml.data.label_noise(0.3, seed=0))
    design = ml.design.halves(4, data.n_examples, seed=0)
    trainer = ml.train.Ensemble("mlp", width=32, depth=2, epochs=8, activations=True)
    return ml.audit(data, design, trainer, tmp_path_factory.mktemp("act") / "run", progress=False), data


def test_decode_writes_masc_per_model_and_layer_that_a_direct_fit_reproduces(run_cli, activation_run, tmp_path):
    from memlens.capacity.masc import MASC

    run, data = activation_run
    out = tmp_path / "masc"
    code, _, err = run_cli("capacity", "decode", run.path, "--out", out, "--no-progress")
    assert code == 0, err
    summary, table = json.loads((out / "capacity.json").read_text()), pd.read_parquet(out / "masc.parquet")
    assert summary["layers"] == ["input", "hidden_1", "hidden_2"]
    assert len(table) == 4 * 3 * 2  # models × layers × (given, true)
    for kind in ("given", "true"):
        means = table[table.subspaces == kind].groupby("layer")["test"].mean().loc[summary["layers"]]
        assert summary["masc"][kind]["test"]["mean"] == pytest.approx(means.round(4).tolist(), abs=1e-4)
    members = np.asarray(run.membership)[2]  # brute-force twin: model 2, second hidden layer, given labels
    acts, test_acts = np.asarray(run.observations["activations_1"][2]), np.asarray(run.observations["test_activations_1"][2])
    direct = MASC(0.99).fit(acts[members], data.y[members])
    row = table[(table.model == 2) & (table.layer == "hidden_2") & (table.subspaces == "given")].iloc[0]
    assert row["test"] == pytest.approx((direct.predict(test_acts) == data.y_test).mean())
    assert row["train_given"] == pytest.approx((direct.predict(acts[members]) == data.y[members]).mean())
    assert summary["network_test_accuracy"] == pytest.approx(np.asarray(run.observations["test_correct"]).mean(), abs=1e-4)
    page = (out / "report.html").read_text()
    assert summary["best_test_layer"] in page and "hidden_2" in page
    assert summary["corruption"] == 0.3 and table["corruption"].eq(0.3).all()  # label-noise:0.3
    assert table["run"].eq(str(run.path)).all() and len(summary["runs"]) == 1
    assert {k: summary[k] for k in summary["runs"][0]} == summary["runs"][0]  # top level = the one run


@pytest.fixture(scope="module")
def rate_runs(tmp_path_factory):
    """Two audits of 200 digits, no label noise and 40% flipped labels, 4 two-hidden-layer MLPs each."""
    import memlens as ml

    clean = ml.data.load("digits:200")
    runs = {}
    for rate in (0.0, 0.4):
        data = clean if rate == 0 else clean.plant(ml.data.label_noise(rate, seed=0))
        design = ml.design.halves(4, data.n_examples, seed=0)
        trainer = ml.train.Ensemble("mlp", width=32, depth=2, epochs=8, activations=True)
        runs[rate] = ml.audit(data, design, trainer, tmp_path_factory.mktemp("rate") / f"rho{rate}", progress=False)
    return runs


def test_decode_of_several_runs_keeps_one_summary_per_corruption_rate(run_cli, rate_runs, tmp_path):
    out = tmp_path / "rates"
    paths = [rate_runs[0.4].path, rate_runs[0.0].path]  # given out of order: the page sorts by rate
    code, _, err = run_cli("capacity", "decode", *paths, "--out", out, "--no-progress")
    assert code == 0, err
    summary, table = json.loads((out / "capacity.json").read_text()), pd.read_parquet(out / "masc.parquet")
    assert table.groupby("run").size().to_dict() == {str(p): 4 * 3 * 2 for p in paths}
    corruption = table.groupby("run")["corruption"].agg(lambda c: set(c.fillna(-1))).to_dict()
    assert corruption == {str(paths[0]): {0.4}, str(paths[1]): {-1}}  # NaN: no label noise planted
    assert [r["audit_run"] for r in summary["runs"]] == [str(p) for p in paths]
    assert [r["corruption"] for r in summary["runs"]] == [0.4, None]
    assert summary["audit_run"] == str(paths[0]) and summary["masc"] == summary["runs"][0]["masc"]
    for entry, path in zip(summary["runs"], paths, strict=True):
        part = table[table.run == str(path)]
        given = part[part.subspaces == "given"].groupby("layer")
        test = given["test"].mean().loc[entry["layers"]]
        assert entry["masc"]["given"]["test"]["mean"] == pytest.approx(test.round(4).tolist(), abs=1e-4)
        assert entry["best_test_layer"] == entry["layers"][int(np.argmax(test.round(4).to_numpy()))]
        observations = rate_runs[entry["corruption"] or 0.0].observations
        assert entry["network_test_accuracy"] == pytest.approx(np.asarray(observations["test_correct"]).mean(), abs=1e-4)
        membership = np.asarray(rate_runs[entry["corruption"] or 0.0].membership)
        train = np.asarray(observations["correct"])[membership].mean()
        assert entry["network_train_accuracy"] == pytest.approx(train, abs=1e-4)
    # the clean run has no corrupted examples to score; the noisy one has
    assert all(v is None for v in summary["runs"][1]["masc"]["given"]["noisy_given"]["mean"])
    assert all(v is not None for v in summary["runs"][0]["masc"]["given"]["noisy_given"]["mean"])
    page = (out / "report.html").read_text()
    assert "ρ = 0.4" in page and "ρ = 0 (no label noise)" in page and page.count("<img ") == 2
    assert page.index("<td>ρ = 0 (no label noise)</td>") < page.index("<td>ρ = 0.4</td>")


def test_decode_of_several_runs_needs_out_and_distinct_runs(run_cli, rate_runs, tmp_path):
    paths = [rate_runs[0.0].path, rate_runs[0.4].path]
    code, _, err = run_cli("capacity", "decode", *paths, "--no-progress")
    assert code == 2
    one_paragraph(err, r"2 audit runs were given but no --out")
    assert not paths[0].with_name(paths[0].name + "-masc").exists()
    out = tmp_path / "never"
    code, _, err = run_cli("capacity", "decode", paths[0], paths[0], "--out", out, "--no-progress")
    assert code == 2
    one_paragraph(err, r"listed twice")
    assert not out.exists()


def test_decode_refuses_a_run_without_activations_and_its_own_directory(run_cli, small_run, activation_run, tmp_path):
    out = tmp_path / "never"
    code, _, err = run_cli("capacity", "decode", small_run.path, "--out", out, "--no-progress")
    assert code == 2
    one_paragraph(err, r"stored no hidden activations", r"--activations", r"activations=True")
    assert not out.exists()
    run = activation_run[0].path
    code, _, err = run_cli("capacity", "decode", run, "--out", run, "--no-progress")
    assert code == 2
    one_paragraph(err, r"is the audit run itself")


def test_audit_stores_activations_of_every_layer_on_request(run_cli, tmp_path, one_torch_thread):
    import memlens as ml

    out = tmp_path / "audit"
    code, _, err = run_cli("audit", "--dataset", "digits:120", "--models", "2", "--epochs", "2", "--width", "16",
                           "--depth", "2", "--activations", "--targets", "1", "--out", out, "--no-progress")
    assert code == 0, err
    run = ml.Run.open(out)
    assert run.config["trainer"]["depth"] == 2 and run.config["trainer"]["activations"] is True
    assert np.asarray(run.observations["activations_1"]).shape == (2, 120, 16)
    assert np.asarray(run.observations["test_activations_0"]).shape[:2] == (2, 450)
    code, _, err = run_cli("audit", "--dataset", "digits:120", "--models", "2", "--activations", "--model",
                           "sklearn:sklearn.linear_model.LogisticRegression", "--out", tmp_path / "never")
    assert code == 2
    one_paragraph(err, r"--depth and --activations")
    assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------------------------- sweep

SWEEP = ["capacity", "sweep", "--m", "32,64", "--d", "4,8", "--draws", "2", "--required", "2", "--probes", "5",
         "--rounds", "2", "--epochs", "300", "--no-progress"]


def test_sweep_brackets_the_smallest_fitting_width_and_fits_its_exponent(run_cli, tmp_path, one_torch_thread):
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(*SWEEP, "--out", out)
    assert code == 0, err
    summary, table = json.loads((out / "capacity.json").read_text()), pd.read_parquet(out / "sweep.parquet")
    assert [(r["m"], r["d"]) for r in summary["rows"]] == [(32, 4), (32, 8), (64, 4), (64, 8)]
    assert table["q_min"].tolist() == [r["q_min"] for r in summary["rows"]]
    for row in summary["rows"]:
        assert row["q_min"] is not None and row["q_min"] % 2 == 0 and row["q_min"] == row["bracket_high"]
        fitted = {int(w): tuple(map(int, v.split("/"))) for w, v in row["fitted_draws_by_width"].items()}
        assert fitted[row["q_min"]][0] >= 2  # q_min passed in at least --required draws
        assert all(f < 2 for w, (f, _) in fitted.items() if w <= row["bracket_low"])  # nothing at or below the bracket passed
        assert row["m_over_d"] == row["m"] / row["d"]
    refit = loglog_slope([r["m_over_d"] for r in summary["rows"]], [r["q_min"] for r in summary["rows"]])
    assert summary["slope"]["slope"] == pytest.approx(refit["slope"])
    assert "q_min ∝ (m/d)^" in stdout and (out / "m64-d8" / "round-1").is_dir()
    assert "(m/d)<sup>" in (out / "report.html").read_text()


def test_sweep_refuses_more_required_draws_than_draws(run_cli, tmp_path):
    out = tmp_path / "never"
    code, _, err = run_cli(*SWEEP[:-1], "--required", "3", "--out", out)
    assert code == 2
    one_paragraph(err, r"--required \(3\) cannot exceed --draws \(2\)")
    assert not out.exists()
