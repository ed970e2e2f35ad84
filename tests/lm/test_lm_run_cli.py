"""One CLI for every run: `lm audit` from the checkpoint's record, `show` and `report` on LM runs.

One tiny model is trained (from a relative corpus path, in another working directory) and audited
without --corpus, once per module; the tests read that run back through the real entry point.
"""

import json
import math
import os
import shutil
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from memlens.cli import app
from memlens.estimate import heldout_tpr_at_fpr
from memlens.lm.audit import MIA_SCORES, RECORD
from memlens.lm.cli import _rate

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda sigma tau".split()
TINY = ["--epochs", "2", "--layers", "1", "--width", "32", "--context", "32", "--vocab", "300", "--no-progress"]


@contextmanager
def working_directory(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """(corpus file, checkpoint, run): trained with `--corpus docs.txt` inside data/, audited from
    elsewhere/ with no --corpus at all."""
    home = tmp_path_factory.mktemp("lm-run-cli")
    (home / "data").mkdir()
    (home / "elsewhere").mkdir()
    rng = np.random.default_rng(0)
    corpus = home / "data" / "docs.txt"
    corpus.write_text("\n\n".join(" ".join(rng.choice(WORDS, 10)) for _ in range(30)) + "\n")
    runner = CliRunner()
    with working_directory(home / "data"):
        done = runner.invoke(app, ["lm", "train", "--corpus", "docs.txt", "--canaries", "2", "--repeats", "1,4",
                                   "--secret-digits", "2", "--out", "../model", *TINY])  # fmt: skip
    assert done.exit_code == 0, done.output
    with working_directory(home / "elsewhere"):
        done = runner.invoke(app, ["lm", "audit", "--model", str(home / "model"), "--out", "run",
                                   "--prefixes", "2,4", "--suffix", "4", "--no-progress"])  # fmt: skip
    assert done.exit_code == 0, done.output
    return corpus, home / "model", home / "elsewhere" / "run"


def test_paths_are_recorded_absolute_and_the_audit_finds_the_corpus(lm_run):
    corpus, model, run = lm_run
    record = json.loads((model / RECORD).read_text())
    assert record["corpus"] == str(corpus.resolve())
    config = json.loads((run / "lm.json").read_text())["config"]
    assert config["corpus"] == str(corpus.resolve()) and config["model"] == str(model.resolve())
    assert config["canaries"]["n"] == 2  # canaries from the record too
    # documents are counted as in the summary; the canary copies apart
    summary = json.loads((run / "lm.json").read_text())["summary"]
    assert config["n_documents"] == summary["n_documents"] == 30
    assert config["n_canary_copies"] == 1 + 4


def test_lm_json_tpr_at_low_fpr_is_the_heldout_estimator_on_the_table(lm_run):
    _, _, run = lm_run
    mia = json.loads((run / "lm.json").read_text())["mia"]
    docs = pd.read_parquet(run / "lm_scores.parquet").query("kind == 'document'")
    labels = docs["member"].to_numpy()
    assert mia["low_fpr"]["seed"] == 0 and set(mia["low_fpr"]["scores"]) <= set(MIA_SCORES)
    assert {"loss", "zlib", "min_k", "min_k_pp"} <= set(mia["low_fpr"]["scores"])
    for name, got in mia["low_fpr"]["scores"].items():
        s = docs[name].to_numpy()
        ok = ~np.isnan(s)
        want = heldout_tpr_at_fpr(labels[ok], s[ok], seed=0)
        for key in ("tpr_at_fpr", "fpr_achieved", "flagged", "resolvable", "n_members", "n_nonmembers"):
            assert got[key] == want[key], (name, key)
        for level, ci in want["tpr_ci"].items():
            assert np.allclose(got["tpr_ci"][level], ci) and np.allclose(got["fpr_ci"][level], want["fpr_ci"][level])
            t = want["threshold"][level]
            assert got["threshold"][level] == (t if math.isfinite(t) else None)
    # 6 held-out documents: neither level can be resolved, and lm.json says so once per level
    assert [w.split(" cannot")[0] for w in mia["warnings"]] == ["FPR 0.001", "FPR 0.01"]


def test_show_lists_the_top_rows_of_a_language_model_run(lm_run, run_cli):
    _, _, run = lm_run
    code, out, err = run_cli("show", run, "--top", "3")
    assert code == 0, err
    flat = " ".join(out.split())  # rich wraps at the terminal's width
    assert "language-model audit of" in flat and "30 documents (6 held out), 2 canaries" in flat
    assert "AUROC" in out and "TPR@1%" in out and "FPR@1%" in out
    loss = json.loads((run / "lm.json").read_text())["mia"]["low_fpr"]["scores"]["loss"]
    lo, hi = loss["tpr_ci"]["0.01"]
    assert f"{_rate(loss['tpr_at_fpr']['0.01'])} ({_rate(lo)}–{_rate(hi)})" in out  # lm.json's numbers
    frame = pd.read_parquet(run / "lm_scores.parquet")
    top = frame.sort_values("loss", ascending=False).head(3)["id"].tolist()
    code, out, err = run_cli("show", run, "--top", "3", "--sort", "loss")
    assert code == 0, err
    assert "top 3 by loss" in out
    positions = [out.index(f" {i} ") for i in top]  # each id in its own table cell, in loss order
    assert positions == sorted(positions)
    code, _, err = run_cli("show", run, "--sort", "memorization")
    assert code == 2 and "No numeric column 'memorization'" in err and "loss" in err


def test_report_rewrites_the_language_model_page(lm_run, run_cli):
    _, _, run = lm_run
    (run / "report.html").unlink()
    code, out, err = run_cli("report", run)
    assert code == 0, err
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "language-model audit" in page and 'id="lm-auroc"' in page
    code, _, err = run_cli("report", run, "--rescore")
    assert code == 2 and "language-model run" in err


def test_an_unfinished_language_model_run_is_named_as_such(tmp_path, run_cli):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lm.json").write_text("{}")
    for command in ("show", "report"):
        code, _, err = run_cli(command, tmp_path / "run")
        assert code == 2 and "did not finish" in err and "Traceback" not in err


def test_another_corpus_is_refused_naming_both_absolute_paths(lm_run, run_cli, tmp_path, monkeypatch):
    corpus, model, _ = lm_run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.txt").write_text("a different corpus\n\nwith two documents\n")
    code, _, err = run_cli("lm", "audit", "--model", model, "--corpus", "other.txt", "--out", "run2", "--no-progress")
    assert code == 2 and "trained on another corpus" in err
    flat = " ".join(err.split())  # the message is wrapped to the terminal
    assert str(corpus.resolve()) in flat.replace(" ", "") or str(corpus.resolve()) in flat
    assert "other.txt" in flat and str(tmp_path.resolve()) in flat.replace(" ", "")
    assert not (tmp_path / "run2").exists()


def test_without_a_record_or_with_a_moved_corpus_the_audit_asks_for_corpus(lm_run, run_cli, tmp_path):
    corpus, model, _ = lm_run
    bare = tmp_path / "bare"
    shutil.copytree(model, bare)
    (bare / RECORD).unlink()
    code, _, err = run_cli("lm", "audit", "--model", bare, "--out", tmp_path / "r1", "--no-progress")
    assert code == 2 and "records no training corpus" in err and "--corpus" in err
    moved = tmp_path / "moved"
    shutil.copytree(model, moved)
    record = json.loads((moved / RECORD).read_text())
    record["corpus"] = str(tmp_path / "gone" / "docs.txt")
    (moved / RECORD).write_text(json.dumps(record))
    code, _, err = run_cli("lm", "audit", "--model", moved, "--out", tmp_path / "r2", "--no-progress")
    assert code == 2 and "no longer there" in err and "--corpus" in err
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
