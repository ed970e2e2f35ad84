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
    # every style-transfer prompt, unfiltered and filtered; the filter holds under each
    for style in verbatim_filter.STYLES:
        if style != "original":
            assert r["conditions"][f"style_{style}_memfree_n8"]["training_8grams_per_generation"] == 0
            assert f"style_{style}_plain" in r["conditions"]
    assert r["conditions"]["style_uppercase_plain"]["prompt_example"].isupper()
    assert set(r["approx_kept_by_style"]) == {*verbatim_filter.STYLES, "style_token_upper",
                                               "style_token_original_case"}  # fmt: skip
    token = r["style_token_model"]["conditions"]
    assert token["upper_token_memfree_n8"]["training_8grams_per_generation"] == 0
    assert token["upper_token_plain"]["prompt_example"].startswith(verbatim_filter.STYLE_TOKEN)
    for c in (*r["conditions"].values(), *token.values()):
        assert abs(sum(c["level_fractions"].values()) - 1) < 1e-9
        assert 0 <= c["approximate_rate"] <= 1 and 0 <= c["paraphrase_rate"] <= 1
