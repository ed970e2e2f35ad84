"""Smoke version of experiments/lm_counterfactual.py (the full run is recorded in REPRODUCTIONS.md)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("transformers")


def test_lm_counterfactual_smoke(tmp_path):
    from experiments import lm_counterfactual

    r = lm_counterfactual.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    for key in ("mean_counterfactual_rare", "mean_counterfactual_duplicated",
                "ratio_rare_over_duplicated", "checks", "pass"):  # fmt: skip
        assert key in r
    assert r["n_training_documents"] == r["n_rare"] + r["n_duplicated"] * r["copies"]
    assert len(r["counterfactual_duplicated_per_text"]) == r["n_duplicated"]
    assert -1 <= r["mean_counterfactual_rare"] <= 1 and -1 <= r["mean_counterfactual_duplicated"] <= 1
    saved = json.loads((tmp_path / "lm_counterfactual.json").read_text())
    assert saved["mean_counterfactual_rare"] == pytest.approx(r["mean_counterfactual_rare"])
    assert (tmp_path / "run.json").exists() and (tmp_path / "observations").is_dir()
