"""Smoke version of experiments/capacity_machines.py (E8: MIMM/WIMM vs LS-SVM)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def test_capacity_machines_smoke(tmp_path):
    from experiments import capacity_machines

    r = capacity_machines.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert set(r["datasets"]) == {"wine_0_vs_rest", "moons"} and r["splits"] == 2
    moons = r["datasets"]["moons"]
    # C ≤ 1000 and m ≤ 140 give C_memory = 1e6 > λ m: MIMM must fit every training point
    assert r["checks"]["1_mimm_train_accuracy_1_every_split"] is True
    assert [split["n_train"] + split["n_test"] for split in r["per_split"]["moons"]] == [200, 200]
    assert set(moons["lssvm_C_chosen"]) <= set(capacity_machines.C_GRID)
    # the control: noisy moons are not fitted by the LS-SVM, nor by MIMM's kernel part without memory
    assert moons["lssvm"]["train_min"] < 1.0 and moons["mimm@0.05"]["train_memory_off_mean"] < 1.0
    assert 0.7 < moons["mimm@0.01"]["test_mean"] <= 1.0
    assert moons["mimm@0.05"]["fit_time_ratio_vs_lssvm"] > 0
    on_disk = json.loads((tmp_path / "capacity_machines.json").read_text())
    assert on_disk["checks"] == r["checks"] and on_disk["pass"] == r["pass"]
