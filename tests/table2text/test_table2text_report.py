"""The PromptMize page renders every variant's numbers from promptmize.json and refuses other files."""

import json

import pytest

from memlens.errors import RunStoreError
from memlens.report.table2text_section import build_promptmize, write_promptmize_report

pytest.importorskip("matplotlib")

RESULTS = {
    "experiment": "promptmize",
    "runs": {
        k: {v: {"bleu4": [b + 1.0, b + 3.0], "slot_coverage": [0.5, 0.7]}
            for v, b in (("plain", 10.0), ("planner", 12.0), ("adapter", 14.0), ("full", 16.0),
                         ("copy_prompt", 5.0))}
        for k in ("50", "100", "200")
    },
    "criteria": {"gap_shrinks": False, "full_ge_components_bleu4_50": True},
    "full_minus_plain_bleu4": {"50": 6.0, "100": 6.0, "200": 6.0},
    "pass": False,
    "seconds": 12.0,
}


def test_page_shows_every_mean_and_the_failed_criterion(tmp_path):
    html = build_promptmize(RESULTS)
    for mean in ("12.00 ± 1.00", "14.00 ± 1.00", "16.00 ± 1.00", "18.00 ± 1.00", "7.00 ± 1.00"):
        assert mean in html
    assert "0.600 ± 0.100" in html
    assert "1 of 2 criteria failed" in html and "✗ gap shrinks" in html
    assert html.count("data:image/png;base64,") == 2  # BLEU-4 and slot-coverage curves
    (tmp_path / "promptmize.json").write_text(json.dumps(RESULTS))
    assert write_promptmize_report(tmp_path).read_text() == build_promptmize(RESULTS, name=tmp_path.name)


def test_page_shows_the_pre_training_probes_when_recorded():
    probes = {"copy_unseen_records": {"base": 0.812, "untrained": 0.004, "knowledge_adapters": 0.655},
              "copy_domain_tables_zero_shot": 0.377,
              "facts": {"base": {"answer_loss": 7.25, "accuracy": 0.0},
                        "knowledge_adapters": {"answer_loss": 0.31, "accuracy": 0.93}}}  # fmt: skip
    html = build_promptmize({**RESULTS, "probes": probes})
    for number in ("0.812", "0.004 (untrained twin)", "0.377", "0.31", "7.25 (bare base)", "0.93", "0.655"):
        assert number in html
    assert 'id="promptmize-probes"' not in build_promptmize(RESULTS)  # older results: no section


def test_a_folder_without_results_or_with_foreign_results_is_refused(tmp_path):
    with pytest.raises(RunStoreError, match="no promptmize.json"):
        write_promptmize_report(tmp_path)
    (tmp_path / "promptmize.json").write_text(json.dumps({"experiment": "retroprompt"}))
    with pytest.raises(RunStoreError, match="not the file"):
        write_promptmize_report(tmp_path)
