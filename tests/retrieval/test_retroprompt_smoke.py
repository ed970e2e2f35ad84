"""The RetroPrompt reproduction runs end to end (experiments/retroprompt.py --smoke)."""

from __future__ import annotations


def test_retroprompt_smoke(tmp_path):
    from experiments import retroprompt

    r = retroprompt.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert set(r["shots"]) == {"4", "16"}
    for shots in r["shots"].values():
        variants = shots["variants"]
        assert set(variants) == {"baseline", "retroprompt", "no_demonstrations", "no_knn_loss", "no_interpolation"}
        # the interpolation changes predictions, not the head: equal self-influence
        assert variants["no_interpolation"]["mean_self_influence"] == variants["retroprompt"]["mean_self_influence"]
        assert all(0.5 < v["mean_accuracy"] <= 1 for v in variants.values())
    engine = r["engine"]["noise_0.05"]
    assert {"baseline", "retroprompt", "no_knn_loss"} <= set(engine)
    assert (tmp_path / "retroprompt.json").is_file()
