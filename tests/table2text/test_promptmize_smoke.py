"""experiments/promptmize.py --smoke runs end to end and records every criterion."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sacrebleu")


def test_promptmize_smoke(tmp_path):
    from experiments import promptmize

    r = promptmize.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "promptmize.json").read_text())
    assert saved["criteria"] == r["criteria"] and "gap_shrinks" in r["criteria"]
    for shots in ("10", "20"):
        for variant in ("plain", "planner", "adapter", "full", "copy_prompt"):
            m = r["mean"][shots][variant]
            assert 0 <= m["bleu4"] <= 100 and 0 <= m["slot_coverage"] <= 1
