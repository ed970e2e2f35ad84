"""memlens compare: pure estimators against brute-force twins, and small real runs compared.

The runs are 8 linear models on 300 digits (under a second each on one thread): a BEFORE run, the
same with weight decay, and the same with 10 examples excluded from training.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from memlens.compare import (
    CompareError,
    compare,
    compare_runs,
    example_mismatches,
    example_rows,
    largest_changes,
    mean_interval,
    model_mean_interval,
    paired_change,
    pareto_front,
)

REMOVED = list(range(0, 40, 4))  # 10 ids excluded from training by the "removal" run


def _audit(out, *, n: int = 300, plant_seed: int = 0, exclude=(), **trainer):
    import torch

    import memlens as ml

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = ml.data.load(f"digits:{n}").plant(ml.data.label_noise(0.05, seed=plant_seed))
        design = ml.design.halves(8, data.n_examples, seed=0)
        if exclude:
            design = design.excluding(list(exclude), "remove-memorized:test")
        return ml.audit(data, design, ml.train.Ensemble("linear", **{"epochs": 30, **trainer}), out, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    return {
        "before": _audit(root / "before").path,
        "decay": _audit(root / "decay", weight_decay=0.05).path,
        "removed": _audit(root / "removed", exclude=REMOVED).path,
        "root": root,
    }


# --- pure estimators -------------------------------------------------------------------------


def test_paired_change_equals_a_brute_force_loop():
    rng = np.random.default_rng(3)
    before = rng.integers(-2, 9, 200) / 8
    after = np.clip(before - rng.integers(0, 3, 200) / 8 + rng.integers(0, 2, 200) / 8, -1, 1)
    before[[3, 50]] = np.nan
    after[[7, 50, 120]] = np.nan
    got = paired_change(before, after, replicates=300, seed=5)

    diffs = [a - b for b, a in zip(before, after, strict=True) if not (math.isnan(a) or math.isnan(b))]
    assert got["n_common"] == len(diffs) == 196
    assert got["mean"] == pytest.approx(sum(diffs) / len(diffs))
    assert got["decreased"] == sum(d < 0 for d in diffs) and got["increased"] == sum(d > 0 for d in diffs)
    assert got["unchanged"] == sum(d == 0 for d in diffs)
    # the paired bootstrap, one replicate at a time
    draw, d = np.random.default_rng(5), np.array(diffs)
    means = [d[draw.integers(0, len(d), size=len(d))].mean() for _ in range(300)]
    assert (got["low"], got["high"]) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    # two-sided sign test: twice the smaller binomial tail (p = ½ is symmetric), capped at 1
    k, m = min(got["decreased"], got["increased"]), got["decreased"] + got["increased"]
    tail = sum(math.comb(m, i) for i in range(k + 1)) / 2**m
    assert got["sign_test_p"] == pytest.approx(min(1.0, 2 * tail))
    assert got["sign_test_p"] < 0.01 and got["wilcoxon_p"] < 0.01  # memorization was pushed down


def test_mean_interval_is_a_percentile_bootstrap_and_skips_nan():
    values = np.r_[np.arange(50) / 50.0, np.nan]
    got = mean_interval(values, replicates=200, seed=1)
    draw = np.random.default_rng(1)
    means = [values[:50][draw.integers(0, 50, 50)].mean() for _ in range(200)]
    assert got["n"] == 50 and got["mean"] == pytest.approx(0.49)
    assert (got["low"], got["high"]) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert math.isnan(mean_interval([np.nan])["mean"])


def test_model_mean_interval_is_the_t_interval():
    from scipy import stats

    acc = np.array([0.80, 0.82, 0.79, 0.85])
    got = model_mean_interval(acc)
    half = stats.t.ppf(0.975, 3) * acc.std(ddof=1) / 2
    assert got["mean"] == pytest.approx(0.815) and got["models"] == 4
    assert (got["low"], got["high"]) == pytest.approx((0.815 - half, 0.815 + half))
    assert math.isnan(model_mean_interval([0.9])["low"])


def test_largest_changes_match_a_sort_with_id_ties():
    ids = np.arange(10, 20)
    before = np.array([0.5, 0.5, 1.0, 0.0, np.nan, 0.25, 0.75, 0.5, 0.0, 1.0])
    after = np.array([0.0, 0.0, 0.0, 0.5, 0.0, 0.25, 0.75, 0.75, np.nan, 0.5])
    fell, rose = largest_changes(ids, ids % 3, before, after, 3)
    rows = sorted(((a - b, i) for i, b, a in zip(ids, before, after, strict=True) if b == b and a == a))
    assert [r["id"] for r in fell] == [i for _, i in rows[:3]] == [12, 10, 11]
    assert [r["id"] for r in rose] == [i for _, i in sorted(rows, key=lambda t: (-t[0], t[1]))[:3]] == [13, 17, 15]
    assert fell[0] == {"id": 12, "label": 0, "before": 1.0, "after": 0.0, "change": -1.0, "planted": False}


def test_pareto_front_keeps_only_unbeaten_points():
    accuracy = [0.90, 0.85, 0.88, 0.80, np.nan]
    leakage = [0.05, 0.01, 0.06, 0.01, 0.0]  # 2 is beaten by 0; 3 by 1; 4 has no accuracy
    assert pareto_front(accuracy, leakage) == [1, 0]


def test_example_mismatches_name_each_difference():
    ref = {"name": "digits:300", "n": 4, "fingerprint": "a" * 64, "ids": [0, 1, 2, 3], "labels": [1, 2, 3, 4]}
    assert example_mismatches(ref, dict(ref)) == []
    labels = example_mismatches(ref, {**ref, "labels": [1, 9, 3, 7]})
    assert labels == ["2 other label(s) (first id 1: 9 instead of 2, id 3: 7 instead of 4)"]
    other = example_mismatches(ref, {**ref, "name": "x.npz", "fingerprint": "b" * 64})
    assert "dataset 'x.npz' instead of 'digits:300'" in other[0] and "fingerprint bbbbbbbbbbbb…" in other[1]
    assert "5 examples instead of 4" in example_mismatches(ref, {**ref, "n": 5, "ids": list(range(5))})[0]


# --- real runs -------------------------------------------------------------------------------


def test_a_run_compared_with_itself_changes_nothing(runs):
    result, facts = compare([runs["before"], runs["before"]])
    change = result["comparisons"][0]["memorization_change"]
    assert change["mean"] == change["low"] == change["high"] == 0.0
    assert change["decreased"] == change["increased"] == 0 and change["sign_test_p"] == 1.0
    before, again = result["runs"]
    assert again["name"] != before["name"]  # told apart although the folder is the same
    for key in ("memorization", "attacks", "best_attack", "epsilon_lower_bound", "test_accuracy"):
        assert again[key] == before[key]
    rows = example_rows(facts)
    assert len(rows) == 300 and (rows["change"].fillna(0) == 0).all()
    pd.testing.assert_series_equal(rows["memorization_before"], rows["memorization_after"], check_names=False)


def test_compare_writes_json_parquet_and_the_change_per_example(runs, tmp_path):
    from memlens.audit import Run

    out = tmp_path / "cmp"
    result = compare_runs([runs["before"], runs["decay"]], out, top=5)
    saved = json.loads((out / "compare.json").read_text())
    assert saved["comparisons"][0]["memorization_change"] == pytest.approx(result["comparisons"][0]["memorization_change"])
    before, after = (Run.open(runs[k]).scores["memorization"].to_numpy() for k in ("before", "decay"))
    rows = pd.read_parquet(out / "compare.parquet")
    np.testing.assert_array_equal(rows["change"].to_numpy(), after - before)
    assert result["comparisons"][0]["memorization_change"]["mean"] == pytest.approx(np.nanmean(after - before))
    pair = result["comparisons"][0]
    assert len(pair["fell_most"]) == 5 and pair["fell_most"][0]["change"] == np.nanmin(after - before)
    assert pair["label"] == "weight_decay=0.05"
    assert "trainer.weight_decay: 0.0 → 0.05" in result["runs"][1]["mitigation"]["config_differences"]
    acc = result["runs"][0]["test_accuracy"]
    correct = np.load(runs["before"] / "observations" / "test_correct.npy")
    assert acc["mean"] == pytest.approx(correct.mean()) and acc["models"] == 8
    assert acc["low"] < acc["mean"] < acc["high"]
    mia = json.loads((runs["before"] / "mia.json").read_text())
    best = result["runs"][0]["best_attack"]
    assert result["runs"][0]["attacks"][best]["tpr_ci"]["0.001"] == mia["attacks"][best]["tpr_ci"]["0.001"]
    assert result["runs"][0]["epsilon_lower_bound"] == max(
        a["epsilon_lower_bound"]["epsilon"] for a in mia["attacks"].values() if "auc" in a)


def test_excluded_examples_are_removed_and_the_rest_compared(runs):
    from memlens.audit import Run

    result, facts = compare([runs["before"], runs["removed"]])
    pair = result["comparisons"][0]
    assert pair["removed"]["excluded_by_after"] == REMOVED
    assert pair["memorization_change"]["n_common"] == 290
    before, after = (Run.open(runs[k]).scores["memorization"].to_numpy() for k in ("before", "removed"))
    assert np.isnan(after[REMOVED]).all()
    keep = np.setdiff1d(np.arange(300), REMOVED)
    assert pair["memorization_change"]["mean"] == pytest.approx((after[keep] - before[keep]).mean())
    assert not {r["id"] for r in pair["fell_most"] + pair["fell_least"]} & set(REMOVED)
    assert "10 removed examples left out" in pair["verdict"] and "remove-memorized:test" in pair["label"]
    rows = example_rows(facts)
    assert rows.loc[rows["removed"], "id"].tolist() == REMOVED and rows.loc[rows["removed"], "change"].isna().all()


def _with_json(source, target, name: str, obj) -> None:
    """A copy of a run with ``name`` written through its store (checksummed, as an audit writes it)."""
    from memlens.store import RunStore

    shutil.copytree(source, target)
    RunStore.open(target).save_json(name, obj)


def test_privacy_json_epsilon_and_the_one_run_bound_show(runs, tmp_path):
    privacy = {"mechanism": "DP-SGD", "library": "opacus 1.5", "accountant": "prv", "delta": 1e-5,
               "target_epsilon": 4.0, "noise_multiplier": 1.1, "max_grad_norm": 1.0, "epochs": 30,
               "sample_rate_per_model": [0.4] * 8, "epsilon_per_model": [3.9] * 7 + [3.97], "epsilon": 3.97}
    _with_json(runs["decay"], tmp_path / "dp", "privacy.json", privacy)
    mia = json.loads((runs["decay"] / "mia.json").read_text())
    mia["one_run"] = {"canaries": 100, "models": [], "epsilon_lower_bound": 0.37, "score": "confidence"}
    from memlens.store import RunStore

    RunStore.open(tmp_path / "dp").save_json("mia.json", mia)
    result = compare_runs([runs["before"], tmp_path / "dp"], tmp_path / "out")
    dp = result["runs"][1]
    assert dp["epsilon_upper_bound"] == 3.97 and dp["privacy"]["accountant"] == "prv"
    assert dp["one_run_epsilon_lower_bound"] == 0.37 and result["runs"][0]["epsilon_upper_bound"] is None
    assert dp["mitigation"]["label"] == "DP-SGD ε=4"
    assert result["comparisons"][0]["verdict"].startswith("DP-SGD ε=4: memorization ")
    assert "accountant ε ≤ 3.97" in result["comparisons"][0]["verdict"]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "accountant ε ≤ 3.97" in page and "opacus 1.5" in page


def test_the_page_has_the_verdict_frontier_scatter_and_example_tables(runs, tmp_path):
    out = tmp_path / "page"
    result = compare_runs([runs["before"], runs["decay"], runs["removed"]], out, top=4)
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    frontier = page.split('<section id="frontier">')[1].split("</section>")[0]
    assert "Privacy–utility frontier" in frontier and frontier.count('<img src="data:image/png;base64,') == 2
    scatter = page.split('<section id="scatter">')[1].split("</section>")[0]
    assert scatter.count("<img ") == 2
    for pair in result["comparisons"]:
        assert pair["label"] in page
    examples = page.split('<section id="examples">')[1].split("</section>")[0]
    assert examples.count("<tbody>") == 4 and examples.count("<tr>") == 4 * (4 + 1)
    assert 'class="thumb"' in examples  # the BEFORE run's gallery holds its most memorized examples
    assert set(result["frontier"]) == {"tpr_at_0.001", "epsilon_lower_bound"}


# --- refusals --------------------------------------------------------------------------------


def test_runs_over_other_examples_are_refused_naming_the_difference(runs, tmp_path):
    fewer = _audit(runs["root"] / "fewer", n=250).path
    with pytest.raises(CompareError) as info:
        compare_runs([runs["before"], fewer], tmp_path / "x")
    assert "250 examples instead of 300" in str(info.value) and "dataset 'digits:250'" in str(info.value)
    assert str(fewer) in str(info.value)
    other_plants = _audit(runs["root"] / "plants", plant_seed=1).path
    with pytest.raises(CompareError) as info:
        compare_runs([runs["before"], runs["decay"], other_plants], tmp_path / "x")
    message = str(info.value)
    assert "fingerprint" in message and "other label(s) (first id " in message and str(other_plants) in message
    assert str(runs["decay"]) + ":" not in message  # the matching run is not listed
    assert not (tmp_path / "x").exists()  # refused before anything is written


def test_cli_compare_prints_the_table_and_refuses_bad_input(runs, run_cli, tmp_path):
    code, out, err = run_cli("compare", runs["before"], runs["decay"], "--out", tmp_path / "c")
    assert code == 0, err
    assert "weight_decay=0.05: memorization" in out and "TPR@0.1%" in out and (tmp_path / "c" / "report.html").exists()
    code, _, err = run_cli("compare", runs["before"], "--out", tmp_path / "d")
    assert code == 2 and "at least one RUN_AFTER" in err
    code, _, err = run_cli("compare", runs["before"], runs["decay"], "--out", runs["decay"])
    assert code == 2 and "is a run directory" in err
    code, _, err = run_cli("compare", runs["before"], tmp_path, "--out", tmp_path / "e")
    assert code == 2 and "not a memlens run directory" in err
    code, _, err = run_cli("compare", runs["before"], runs["decay"], "--out", tmp_path / "f", "--top", "0")
    assert code == 2 and "--top" in err


def test_run_names_reach_the_page_and_terminal_escaped(runs, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the name in one table cell, unfolded
    hostile = tmp_path / '<img src=x onerror="window.__pwned=1">[bold]'
    shutil.copytree(runs["decay"], hostile)
    code, out, err = run_cli("compare", runs["before"], hostile, "--out", tmp_path / "h")
    assert code == 0, err
    page = (tmp_path / "h" / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;[bold]" in page
    assert 'onerror="window.__pwned=1">[bold]' in out  # printed literally, not read as console markup
