"""Smoke version of experiments/verbatim_filter.py (the full run is recorded in REPRODUCTIONS.md)."""

from __future__ import annotations


def test_verbatim_filter_smoke(tmp_path):
    from experiments import verbatim_filter

    r = verbatim_filter.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert (tmp_path / "verbatim_filter.json").is_file()
    assert r["zero_training_ngrams_with_filter"]
    for name in ("memfree_n8", "memfree_n4"):
        c = r["conditions"][name]
        assert (
            c["training_8grams_per_generation"] == 0 and c["training_8grams_incl_prompt_tail"] == 0
        )
    assert r["conditions"]["memfree_n4"]["training_4grams_per_generation"] == 0
