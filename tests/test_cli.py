"""The command line: the audit works end to end, and every bad input gets one clear paragraph."""

import json

import numpy as np
import pytest

FAST = ["--models", "8", "--epochs", "20", "--width", "32", "--no-progress"]


def test_audit_then_show(tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("audit", "--dataset", "digits:400", "--plant", "label-noise:0.05",
                                "--out", out, *FAST)
    assert code == 0, err
    assert "lira-online" in stdout and "report:" in stdout
    assert (out / "report.html").exists()
    mia = json.loads((out / "mia.json").read_text())
    assert set(mia["attacks"]) == {"lira-online", "lira-offline", "rmia", "loss"}
    code, stdout, err = run_cli("show", out, "--top", "5")
    assert code == 0, err
    assert "top 5 by memorization" in stdout and "planted 20 examples" in stdout
    code, _, err = run_cli("show", out, "--sort", "nope")
    assert code == 2 and "No score column 'nope'" in err


def test_help_explains(run_cli):
    code, stdout, _ = run_cli("audit", "--help")
    assert code == 0 and "label-noise:RATE" in stdout and "resumes" in stdout


def _npz(tmp_path, **arrays):
    p = tmp_path / "data.npz"
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize(
    "arrays, message",
    [
        (dict(X=np.zeros((10, 3)), y=np.arange(9) % 2), "10 feature rows but 9 labels"),
        (dict(X=np.full((10, 3), np.nan), y=np.arange(10) % 2), "NaN or infinite"),
        (dict(X=np.zeros((10, 3)), y=np.arange(10) - 1), r"must lie in \[0"),
        (dict(X=np.zeros((10, 3)), y=np.linspace(0, 1, 10)), "whole numbers"),
    ],
)
def test_bad_data_gets_one_paragraph(tmp_path, run_cli, arrays, message):
    import re

    code, _, err = run_cli("audit", "--dataset", _npz(tmp_path, **arrays), "--out", tmp_path / "r", *FAST)
    assert code == 2 and re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_unknown_dataset(tmp_path, run_cli):
    code, _, err = run_cli("audit", "--dataset", "imagenet", "--out", tmp_path / "r")
    assert code == 2 and "Unknown dataset 'imagenet'" in err and "Traceback" not in err


def test_other_configuration_and_truncated_npy(tmp_path, run_cli):
    out = tmp_path / "r"
    assert run_cli("audit", "--dataset", "digits:200", "--out", out, *FAST)[0] == 0
    code, _, err = run_cli("audit", "--dataset", "digits:200", "--seed", "3", "--out", out, *FAST)
    assert code == 2 and "another configuration" in err and "seed" in err and "Traceback" not in err
    f = out / "membership.npy"
    f.write_bytes(f.read_bytes()[:64])
    code, _, err = run_cli("show", out)
    assert code == 2 and "membership.npy" in err and "Traceback" not in err


def test_usage_errors(tmp_path, run_cli):
    code, _, err = run_cli("audit", "--dataset", "digits", "--out", tmp_path / "r", "--design", "thirds")
    assert code == 2 and "Unknown design 'thirds'" in err
    code, _, err = run_cli("audit", "--dataset", "digits", "--out", tmp_path / "r", "--model", "cnn",
                           "--plant", "blur:3")
    assert code == 2 and "Unknown plant" in err


def test_too_few_models_for_estimators(tmp_path, run_cli):
    out = tmp_path / "r"
    code, stdout, err = run_cli("audit", "--dataset", "digits:100", "--models", "2", "--epochs", "2",
                                "--no-progress", "--out", out)
    assert code == 0, err
    assert "at least 3 models" in stdout


def test_examples_without_out_models_get_nan_and_a_count(tmp_path, run_cli):
    code, stdout, err = run_cli("audit", "--dataset", "digits:60", "--design", "loo:0,1",
                                "--models", "3", "--epochs", "2", "--no-progress", "--out", tmp_path / "r")
    assert code == 0, err
    assert "58 example(s) had too few IN or OUT models and got NaN" in stdout.replace("\n", " ")
    assert "caution:" in stdout  # a handful of non-members cannot resolve TPR at 0.1% FPR


def test_budget_plan(tmp_path, run_cli):
    out = tmp_path / "r"
    code, stdout, err = run_cli("audit", "--dataset", "digits:400", "--plant", "label-noise:0.1",
                                "--budget", "4", "--out", out, "--models", "16", "--epochs", "20", "--width", "32", "--no-progress")
    assert code == 0, err
    plan = json.loads((out / "plan.json").read_text())
    assert plan["budget_models"] == 4 and plan["recommended_targets"] >= 10
    assert "plan for 4 shadow model(s)" in stdout
    code, _, err = run_cli("audit", "--dataset", "digits:400", "--plant", "label-noise:0.1",
                           "--budget", "0", "--out", out, "--models", "16", "--epochs", "20", "--width", "32", "--no-progress")
    assert code == 2 and "at least 1" in err


def test_threads_option_and_polite_openmp(tmp_path, run_cli, monkeypatch):
    import torch

    from memlens.cli import share_cores_politely

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    share_cores_politely()
    assert __import__("os").environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    share_cores_politely()  # the user's choice stands
    assert __import__("os").environ["OMP_WAIT_POLICY"] == "ACTIVE"
    threads = torch.get_num_threads()
    try:
        code, _, err = run_cli("audit", "--dataset", "digits:120", "--models", "2", "--epochs", "2", "--width", "8",
                               "--threads", "1", "--out", tmp_path / "r", "--no-progress")  # fmt: skip
        assert code == 0, err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    code, _, err = run_cli("audit", "--dataset", "digits:120", "--threads", "0", "--out", tmp_path / "r0")
    assert code == 2 and "--threads must be at least 1" in err and not (tmp_path / "r0").exists()


def test_a_single_model_audit_is_refused_before_training(tmp_path, run_cli):
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "1", "--design", "subsample:0.5",
                           "--out", tmp_path / "r", "--no-progress")  # fmt: skip
    assert code == 2 and "needs at least 2 models" in err and "bug" not in err
    assert not (tmp_path / "r").exists()
