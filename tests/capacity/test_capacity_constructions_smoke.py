"""Smoke version of experiments/capacity_constructions.py (the full run is recorded in REPRODUCTIONS.md)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def test_capacity_constructions_smoke(tmp_path, one_torch_thread):  # main() sets one thread; restored after
    from experiments import capacity_constructions

    r = capacity_constructions.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    on_disk = json.loads((tmp_path / "capacity_constructions.json").read_text())
    assert on_disk["checks"] == json.loads(json.dumps(r["checks"]))
    e1, e2 = r["E1"], r["E2"]
    assert set(e1["E1a_moons"]) == {"300", "1000"} and all(v["runs"] == 3 for v in e1["E1a_moons"].values())
    # moons are well separated: every run interpolates with a handful of layer-2 units, at either N
    assert r["checks"]["E1a_rate_at_least_0.95_every_N"] and r["checks"]["E1a_width_at_most_20_everywhere"]
    # permuted labels need more units at 4× the points
    assert e1["E1b_moons_random_labels"]["400"]["layer2_width_mean"] > e1["E1b_moons_random_labels"]["100"][
        "layer2_width_mean"]
    # 400 digits with random labels: ⌈√400⌉ = 20, exact, and the bump layer adds 3 per class
    assert tuple(e2["E2a_digits_random_labels"]["hidden_widths"]) == (39, 40)
    assert e2["E2a_digits_random_labels"]["max_abs_error"] < 1e-3
    assert tuple(e2["E2c_classifier"]["hidden_widths"]) == (39, 40, 30) and e2["E2c_classifier"]["train_accuracy"] == 1.0
    assert e2["E2b_gaussian_scaling"]["400"]["width_sum"] == 39 + 40
    assert e2["fit_benchmark"]["rounded_accuracy"] == 1.0 and r["checks"]["fit_100k_under_60s"] is None
