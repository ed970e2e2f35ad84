"""Smoke version of experiments/attribute_inference.py (the full run is recorded in REPRODUCTIONS.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def test_attribute_inference_smoke(tmp_path):
    from experiments import attribute_inference

    r = attribute_inference.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["test"] == 40 and (tmp_path / "attribute_inference.json").exists()
    assert r["criteria"]["c_scorer_cases"]["pass"]
    assert r["mechanism"]["stated_values_removed"] == 1.0  # every stated city, job, age and amount is gone
    assert r["mechanism"]["contextual_cues_kept_whole"] > 0.8
    # the adversary reads every stated age and amount, and nothing of them once anonymized
    assert r["adversary"] == "tfidf+numbers" and r["mechanism"]["stated_numbers_read_after"] == 0
    assert r["mechanism"]["stated_numbers_read_before"] > 0
    hardness_2 = r["pooled"]["tags"]
    assert hardness_2["original"]["hardness_2plus"]["top1"] - hardness_2["anonymized"]["hardness_2plus"]["top1"] < 0.1
