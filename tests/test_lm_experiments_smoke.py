"""Smoke versions of the language-model reproductions (full runs are recorded in REPRODUCTIONS.md)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("transformers")
pytest.importorskip("faker")


def test_lm_canaries_smoke(tmp_path):
    from experiments import lm_canaries

    r = lm_canaries.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    for key in (
        "exposure_by_repeat",
        "spearman_repeats_excess",
        "spearman_repeats_exposure",
        "max_control_gap_from_chance",
        "extractable_by_dup_and_prefix",
        "extractable_by_prefix",
        "spearman_dup_extractable",
        "spearman_prefix_extractable",
        "checks",
        "canaries_pass",
        "pass",
        "canaries",
    ):
        assert key in r
    assert set(r["exposure_by_repeat"]) == {"1", "4"}
    top = r["exposure"]["exposure_max"]  # log2(100 - 1): the other canary is left out
    assert top == pytest.approx(np.log2(99), abs=1e-3)
    for c in r["canaries"]:
        assert 0 <= c["exposure"] <= top + 1e-9 and 0 <= c["control"] <= top + 1e-9
        assert c["excess"] == pytest.approx(c["exposure"] - c["control"])
        assert 0 <= c["exposure_with_other_canaries"] <= np.log2(100) + 1e-9
    assert len({c["text"].rsplit(" ", 1)[0] for c in r["canaries"]}) == 2  # a prefix per canary
    assert r["exposure"]["cached_vs_whole_text_spread"] < 1e-4
    assert (tmp_path / "lm_canaries.json").is_file()


def test_lm_membership_smoke(tmp_path):
    from experiments import lm_membership

    r = lm_membership.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert set(r["auroc"]) == set(lm_membership.SCORES) == set(r["auroc_early"])
    assert all(0 <= v <= 1 for v in r["auroc"].values())
    assert r["n_members"] == r["n_nonmembers"] and "pass" in r and "checks" in r
    assert json.loads((tmp_path / "lm_membership.json").read_text())["auroc"] == pytest.approx(
        r["auroc"]
    )


def test_lm_finetune_tasks_smoke(tmp_path):
    from experiments import lm_finetune_tasks

    r = lm_finetune_tasks.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert set(r["tasks"]) == set(lm_finetune_tasks.TASKS)
    for t in r["tasks"].values():
        for key in ("edit_sim_gap", "exact_gap", "loss_gap", "loss_auroc", "attention_spread"):
            assert key in t
        assert 0 <= t["attention_spread"] <= 1 + 1e-6
    assert isinstance(r["paper_ordering"], bool) and len(r["ordering_by_edit_sim_gap"]) == 3
    # the task ordering by each granularity detector (issue 14)
    assert set(r["ordering_by_detector"]) == set(lm_finetune_tasks.DETECTORS)
    for d, order in r["ordering_by_detector"].items():
        assert sorted(order) == sorted(lm_finetune_tasks.TASKS)
        gaps = [r["gap_by_detector"][d][t] for t in order]
        assert gaps == sorted(gaps, reverse=True) and all(-1 <= g <= 1 for g in gaps)
        assert isinstance(r["paper_ordering_by_detector"][d], bool)
        assert r["ranking_by_detector"][d].replace(" = ", " > ").split(" > ") == order
        assert all(r["gap_se_by_detector"][d][t] >= 0 for t in order)
    assert (tmp_path / "lm_finetune_tasks.json").is_file()
