"""`memlens lm train` then `memlens lm audit` through the real entry point, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from memlens.lm.audit import COLUMNS

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda sigma tau".split()
TINY = ["--epochs", "2", "--layers", "1", "--width", "32", "--context", "32", "--vocab", "300", "--no-progress"]


@pytest.fixture
def corpus_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(" ".join(rng.choice(WORDS, 10)) for _ in range(25)) + "\n")
    return path


def test_train_then_audit(tmp_path, corpus_file, run_cli):
    model = tmp_path / "model"
    code, stdout, err = run_cli("lm", "train", "--corpus", corpus_file, "--canaries", "2",
                                "--repeats", "1,4", "--secret-digits", "2", "--out", model, *TINY)
    assert code == 0, err
    assert "saved" in stdout and (model / "config.json").exists()
    record = json.loads((model / "memlens_lm.json").read_text())
    assert record["canaries"]["n"] == 2 and len(record["heldout"]) == 5
    run = tmp_path / "run"
    code, stdout, err = run_cli("lm", "audit", "--model", model, "--corpus", corpus_file,
                                "--out", run, "--prefixes", "2,4", "--suffix", "4", "--no-progress",
                                "--reference", model)  # the model as its own reference: score 0
    assert code == 0, err
    assert "AUROC" in stdout and "exposure by insertions" in stdout and "reference" in stdout
    frame = pd.read_parquet(run / "lm_scores.parquet")
    assert list(frame.columns) == list(COLUMNS) and (frame.kind == "canary").sum() == 2
    assert np.allclose(frame.reference, 0.0, atol=1e-5)
    assert json.loads((run / "lm.json").read_text())["config"]["canaries"]["n"] == 2
    # the same model against another corpus is refused, and nothing is written
    other = tmp_path / "other.txt"
    other.write_text("a different corpus\n\nwith two documents\n")
    code, _, err = run_cli("lm", "audit", "--model", model, "--corpus", other,
                           "--out", tmp_path / "run2", "--no-progress")
    assert code == 2 and "trained on another corpus" in err
    assert not (tmp_path / "run2").exists()


def test_bad_input_exits_2_and_writes_nothing(tmp_path, run_cli):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    code, _, err = run_cli("lm", "train", "--corpus", empty, "--out", tmp_path / "m", *TINY)
    assert code == 2 and "holds no text" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()
    encoder = tmp_path / "bert"
    encoder.mkdir()
    (encoder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    good = tmp_path / "good.txt"
    good.write_text("one document\n\nanother document\n")
    code, _, err = run_cli("lm", "audit", "--model", encoder, "--corpus", good,
                           "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and "not a causal language model" in err
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli("lm", "train", "--corpus", good, "--repeats", "1,x",
                           "--canaries", "1", "--out", tmp_path / "m", *TINY)
    assert code == 2 and "--repeats" in err
    assert not (tmp_path / "m").exists()


def test_lm_help(run_cli):
    code, stdout, _ = run_cli("lm", "--help")
    assert code == 0 and "train" in stdout and "audit" in stdout
