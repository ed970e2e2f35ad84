"""`memlens generative audit` and `memlens generative emm` end to end: files, numbers that agree with
the per-sample table, resume after a kill, and bad input refused before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cli_assertions import one_paragraph

CLOSED = ["generative", "audit", "--dataset", "digits:200", "--model", "closed-form", "--sizes", "8,32",
          "--samples", "40", "--strengths", "0.1", "--no-feature-space", "--no-progress"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")


def _cli(args, *, kill_at=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MEMLENS_KILL_AT", None)
    if kill_at:
        env["MEMLENS_KILL_AT"] = kill_at
    proc = subprocess.run([sys.executable, "-m", "memlens.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def _summary(run):
    return json.loads((run / "generative.json").read_text())


def test_closed_form_audit_writes_numbers_that_agree_with_its_samples(run_cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli(*CLOSED, "--feature-space", "--out", run)
    assert code == 0, err
    s = _summary(run)
    assert s["kind"] == "diffusion" and s["model"] == "closed-form" and s["image_shape"] == [8, 8]
    samples = pd.read_parquet(run / "samples.parquet")
    assert len(samples) == 2 * 2 * 40  # models × (D*, c = 0.1) × samples
    for row in s["by_size"]:  # the ratio is the unregularized D*'s replicated share
        mine = samples[(samples["size"] == row["size"]) & (samples["regularization"] == 0)]
        assert row["ratio"] == pytest.approx(mine["replicated"].mean())
        assert row["ci_low"] <= row["ratio"] <= row["ci_high"]
    assert min(r["ratio"] for r in s["by_size"]) >= 0.95  # D* memorizes (Gu et al. (a))
    reg = {r["strength"]: r["collapse"] for r in s["regularization"]}
    assert reg[0.1] < reg[0.0]
    examples = pd.read_parquet(run / "training_examples.parquet")
    assert examples["models_in"].tolist() == np.load(run / "membership.npy").sum(0).tolist()
    assert examples["replications"].sum() == samples[samples["regularization"] == 0]["replicated"].sum()
    assert (examples.loc[examples["models_in"] == 0, "replications"] == 0).all()
    gallery = pd.read_parquet(run / "generative_gallery.parquet")
    assert len(gallery) and all(len(g) == 64 for g in gallery["generated"])
    assert "EMM ≥ 32" in s["emm"]["message"] and "never crossed" in out
    assert (run / "report.html").is_file()
    # the CNN feature space: every sample's feature-space nearest image is one the model trained on
    assert {"feature_nearest", "feature_ratio", "feature_replicated"} <= set(samples.columns)
    membership = np.load(run / "membership.npy")
    assert membership[samples["model"], samples["feature_nearest"]].all()
    assert [r["size"] for r in s["feature_space"]["by_size"]] == [8, 32]


def test_report_rescore_is_refused_for_a_generative_run(run_cli, tmp_path):
    run = tmp_path / "run"
    assert run_cli(*CLOSED, "--out", run)[0] == 0
    code, _, err = run_cli("report", run, "--rescore")
    assert code == 2
    one_paragraph(err, "generative run", "generative audit")
    assert run_cli("report", run)[0] == 0
    code, out, err = run_cli("show", run, "--top", "3")
    assert code == 0, err
    examples = pd.read_parquet(run / "training_examples.parquet")
    top = examples.sort_values("replications", ascending=False, kind="stable").iloc[0]
    assert "most replicated training images" in out and f" {int(top['id'])} " in out
    assert "|D| = 8: memorization ratio" in out


def test_density_audit_ranks_examples(run_cli, tmp_path):
    run = tmp_path / "kde"
    code, out, err = run_cli("generative", "audit", "--dataset", "digits:150", "--model", "kde", "--folds", "3",
                             "--out", run, "--no-progress")
    assert code == 0, err
    frame = pd.read_parquet(run / "density.parquet")
    assert sorted(frame["rank"]) == list(range(1, 151))
    top = frame.sort_values("rank").iloc[0]
    assert top["memorization"] == frame["memorization"].max()
    assert top["memorization"] == pytest.approx(top["held_in"] - top["held_out"])
    assert _summary(run)["density"]["top"][0]["id"] == int(top["id"])
    assert "memorization score" in out


def test_a_killed_audit_resumes_to_the_same_result(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _cli([*CLOSED, "--out", whole])[0] == 0
    code, _, _ = _cli([*CLOSED, "--out", killed], kill_at="after-finalize")
    assert code != 0 and not (killed / "generative.json").exists()
    code, _, err = _cli([*CLOSED, "--out", killed])
    assert code == 0, err
    a, b = _summary(whole), _summary(killed)
    for key in ("seconds", "training_seconds"):
        a.pop(key), b.pop(key)
    assert a == b
    assert pd.read_parquet(whole / "samples.parquet").equals(pd.read_parquet(killed / "samples.parquet"))


BAD = [
    (["--sizes", "8,5000"], r"--sizes 5000 exceed the 200 examples"),
    (["--condition", "classes"], r"Unknown conditioning 'classes'"),
    (["--model", "gan"], r"Unknown generative model 'gan'"),
    (["--pool", "3"], r"--pool 3 does not divide"),
    (["--strengths", "0,1"], r"--strengths needs numbers above 0"),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_audit_options_are_refused_before_anything_is_written(run_cli, tmp_path, extra, message):
    run = tmp_path / "never"
    args = list(CLOSED)
    for i in range(0, len(extra), 2):  # replace an option that CLOSED already gives
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i:i + 2]
    code, _, err = run_cli(*args, "--out", run)
    assert code == 2
    one_paragraph(err, message)
    assert not run.exists()


def test_images_outside_0_1_are_refused(run_cli, tmp_path):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)  # raw 0…16 values
    path = tmp_path / "raw.npz"
    np.savez(path, X=X[:100], y=y[:100])
    code, _, err = run_cli("generative", "audit", "--dataset", path, "--model", "closed-form", "--sizes", "8",
                           "--out", tmp_path / "never", "--no-progress")
    assert code == 2
    one_paragraph(err, r"span \[0, 16\]", r"\[0, 1\]")
    assert not (tmp_path / "never").exists()


def test_emm_search_reports_a_grid_that_never_crosses_and_resumes_without_retraining(run_cli, tmp_path):
    run = tmp_path / "emm"
    args = ["generative", "emm", "--dataset", "digits:200", "--model", "closed-form", "--start", "8",
            "--max-size", "32", "--samples", "30", "--out", run, "--no-progress"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    record = json.loads((run / "emm.json").read_text())
    assert [s["size"] for s in record["steps"]] == [8, 16, 32]
    assert record["emm"]["value"] == 32 and not record["emm"]["crossed"]
    assert "never crossed" in out and "|D| = 16: 1.000" in out
    shards = sorted(p.stat().st_mtime_ns for p in run.rglob("shard-*"))
    code, out2, _ = run_cli(*args)
    assert code == 0 and json.loads((run / "emm.json").read_text())["emm"] == record["emm"]
    assert sorted(p.stat().st_mtime_ns for p in run.rglob("shard-*")) == shards  # nothing retrained


def test_emm_refuses_density_models(run_cli, tmp_path):
    code, _, err = run_cli("generative", "emm", "--dataset", "digits:200", "--model", "kde",
                           "--out", tmp_path / "never", "--no-progress")
    assert code == 2
    one_paragraph(err, "EMM is defined for diffusion models")
