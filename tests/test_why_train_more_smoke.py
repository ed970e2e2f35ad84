"""Smoke version of experiments/why_train_more.py (the full run is recorded in REPRODUCTIONS.md)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def test_why_train_more_smoke(tmp_path):
    from experiments import why_train_more

    r = why_train_more.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert [row["shadows"] for row in r["sweep"]] == [1, 2, 4, 8]
    assert r["models"] == 8 + 4 + 8 and r["subsets"]["high"] == 30 and r["subsets"]["low"] == 150
    for row in r["sweep"]:
        if row["shadows"] >= 2:  # whole complementary pairs: every example has IN and OUT shadows
            assert all(
                row["lira-online"][k]["dropped"] == 0 for k in ("high", "all", "low", "random")
            )
    assert (
        r["sweep"][0]["lira-offline (global variance)"]["all"]["dropped"] > 0
    )  # S=1 holds half out
    on_disk = json.loads((tmp_path / "why_train_more.json").read_text())
    assert on_disk["checks"] == r["checks"] and "pass" not in on_disk
    assert (
        0 <= r["checks"]["tpr@0.1%_high_S4"] <= 1
        and r["plan_budget_4"]["recommended_targets"] >= 10
    )
