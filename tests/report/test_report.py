"""write_report: a self-contained page with the run's numbers, every column, and nothing unescaped."""

from __future__ import annotations

import html
import io
import json
import re

import numpy as np
import pytest

from memlens.report import write_report
from memlens.report.examples import extra_score_columns, png_bytes, script_safe, table_json
from memlens.report.page import fpr_words, pct
from memlens.store import RunStore


def _read(run) -> str:
    return (run.path / "report.html").read_text(encoding="utf-8")


def _table_data(text: str) -> dict:
    block = re.search(
        r'<script type="application/json" id="memlens-data">(.*?)</script>', text, re.S
    )
    assert block, "the table's data block is missing"
    return json.loads(block.group(1))


def test_writes_report_html_into_the_run_and_returns_its_path(digits_run):
    path = write_report(digits_run)
    assert path == digits_run.path / "report.html" and path.stat().st_size > 10_000
    assert not [
        p.name for p in digits_run.path.iterdir() if p.name.startswith(".report.html")
    ]  # no temp left
    assert write_report(str(digits_run.path)) == path  # a run directory works as well as a Run
    assert path.read_text().count('class="example') == 24  # the gallery, stored in the run


def test_page_is_self_contained(digits_run):
    text = _read(digits_run)
    for needle in ("http://", "https://", 'src="//', 'href="//', "@import", "url("):
        assert needle not in text, needle
    assert text.count("<img ") >= 4 + 24  # plots + gallery, all inline
    sources = re.findall(r'<img src="([^"]*)"', text)
    assert all(src.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for src in sources)
    assert sum(src.startswith("data:image/svg+xml;base64,") for src in sources) >= 4  # the plots: SVG
    assert html.escape("default-src 'none'") in text  # and a policy that would block any request


def test_verdict_shows_the_numbers_of_mia_json_and_the_scores(digits_run):
    text = _read(digits_run)
    verdict = text[text.index('id="verdict"') : text.index('<nav class="toc">')]
    mia = digits_run.mia["attacks"]
    for name, m in mia.items():
        assert html.escape(name) in verdict
        for key in ("0.001", "0.01"):
            assert pct(m["tpr_at_fpr"][key]) in verdict
            lo, hi = m["tpr_ci"][key]
            assert pct(lo) in verdict and pct(hi) in verdict
        assert f"{m['auc']:.3f}" in verdict
    mem = digits_run.scores["memorization"]
    strong = int((mem >= 0.5).sum())
    assert f"{strong:,} of {len(mem):,} examples" in verdict
    assert "memorization ≥ 0.5" in verdict  # the threshold is stated
    assert "0.1% FPR" in verdict and "1% FPR" in verdict

    from memlens.estimate import planted_recovery

    found = planted_recovery(digits_run.scores["planted"].to_numpy(), mem.to_numpy())
    assert f"AUROC {found['auroc']:.3f}" in verdict
    assert f"{found['found_in_top']:,} of the {found['n_planted']:,}" in verdict
    assert "label-noise:0.05" in verdict and "duplicates:10" in verdict
    cfg = digits_run.config
    assert (
        f"{cfg['design']['n_models']} models" in verdict
        and f"{cfg['trainer']['epochs']} epochs" in verdict
    )
    assert "training took" in verdict


def test_table_embeds_every_row_and_column(digits_run):
    data = _table_data(_read(digits_run))
    scores = digits_run.scores
    assert data["n"] == len(scores)
    assert [c["name"] for c in data["columns"]] == list(scores.columns)
    by_name = {c["name"]: c for c in data["columns"]}
    np.testing.assert_allclose(
        by_name["memorization"]["values"], scores["memorization"], rtol=1e-4, atol=1e-9
    )
    assert by_name["plant"]["values"] == scores["plant"].tolist()
    assert by_name["label"]["kind"] == "label" and by_name["planted"]["kind"] == "bool"


def test_gallery_shows_the_most_memorized_with_labels(digits_run):
    text = _read(digits_run)
    gallery = text[text.index('id="gallery"') : text.index('id="table"')]
    assert gallery.count('class="example') == 24
    top = digits_run.scores["memorization"].max()
    assert f"{top:.2f}" in gallery
    assert "given" in gallery and "held-out" in gallery and "originally" in gallery


def test_hostile_strings_are_escaped_everywhere(hostile_run, hostile):
    text = _read(hostile_run)
    for s in hostile:
        assert s not in text, f"raw {s!r} in the page"
        assert html.escape(s, quote=True) in text  # shown, as text
    assert "window.__pwned=1</script>" not in text
    markup = re.sub(r'<script type="application/json".*?</script>', "", text, flags=re.S)
    assert "<img src=x" not in markup and 'onerror="' not in markup  # no live attribute anywhere
    data = _table_data(text)  # </script> cannot end the data block early: it still parses
    assert data["classes"] == list(hostile)
    assert "\\u003cscript\\u003e" in text


def test_every_extra_score_column_gets_a_scatter_and_a_table_column(digits_run, tmp_path, copy_run):
    import memlens as ml

    path = copy_run(digits_run, tmp_path / "proxies")
    scores = digits_run.scores.copy()
    rng = np.random.default_rng(0)
    scores["curvature"] = scores["memorization"] + rng.normal(0, 0.1, len(scores))
    scores["self_influence"] = rng.random(len(scores)) * 1e-6  # tiny values keep their digits
    scores["<b>odd</b>"] = rng.random(len(scores))  # a hostile column name, too
    RunStore.open(path).save_table("scores.parquet", scores)
    run = ml.Run.open(path)
    run.data = digits_run.data
    text = _read_after(run)
    for col in ("curvature", "self_influence"):
        assert f"{col} vs Feldman–Zhang memorization" in text
    assert "&lt;b&gt;odd&lt;/b&gt; vs Feldman–Zhang" in text and "<b>odd</b>" not in text
    data = _table_data(text)
    names = [c["name"] for c in data["columns"]]
    assert names[-3:] == ["curvature", "self_influence", "<b>odd</b>"]
    tiny = next(c for c in data["columns"] if c["name"] == "self_influence")["values"]
    np.testing.assert_allclose(tiny, scores["self_influence"], rtol=1e-4)
    assert "vs Feldman–Zhang" not in _read(digits_run)  # none without proxy columns


def _read_after(run) -> str:
    return write_report(run).read_text(encoding="utf-8")


def test_runs_without_membership_inference_render_with_its_note(digits_run, tmp_path, copy_run):
    import memlens as ml

    path = copy_run(digits_run, tmp_path / "few")
    note = "Membership inference needs at least 3 models; this run has 2."
    RunStore.open(path).save_json("mia.json", {"attacks": {}, "note": note})
    text = _read_after(ml.Run.open(path))
    assert "Membership inference was not evaluated" in text and html.escape(note) in text
    assert "ROC" not in text[text.index('id="plots"') :].split('id="gallery"')[0]

    mia = dict(digits_run.mia)
    mia["attacks"] = {**mia["attacks"], "lira-online": {"note": "not applicable: <no members>"}}
    RunStore.open(path).save_json("mia.json", mia)
    text = _read_after(ml.Run.open(path))
    assert "not applicable: &lt;no members&gt;" in text and "lira-offline" in text


def test_the_page_and_rescore_read_only_the_run_directory(digits_run, tmp_path, copy_run):
    """A run whose dataset is gone still shows its gallery and rescores to the same table."""
    import memlens as ml

    path = copy_run(digits_run, tmp_path / "moved")
    store = RunStore.open(path)
    store.manifest["config"]["dataset"]["name"] = str(tmp_path / "gone" / "<moved>.npz")
    store.save_manifest()
    run = ml.Run.open(path)
    text = _read_after(run)
    gallery = text[text.index('id="gallery"') : text.index('id="table"')]
    assert gallery.count('class="example') == 24 and gallery.count("<img ") == 24
    # the thumbnails are the dataset's own pixels, stored in the run at audit time
    from memlens.report.examples import thumbnail_uri
    from memlens.report.page import top_examples

    top = int(digits_run.scores["id"].iloc[top_examples(digits_run.scores, 1)[0]])
    assert thumbnail_uri(digits_run.data.X[top], digits_run.data.image_shape) in gallery
    (path / "scores.parquet").unlink()
    ml.Run.open(path).rescore()  # no dataset to reload: labels and plants come from the run
    again = ml.Run.open(path).scores
    assert again.equals(digits_run.scores)


def test_a_run_without_stored_examples_gives_a_note_instead_of_the_gallery(digits_run, tmp_path, copy_run):
    import memlens as ml

    path = copy_run(digits_run, tmp_path / "bare")
    store = RunStore.open(path)
    del store.manifest["files"]["gallery.parquet"]
    store.save_manifest()
    (path / "gallery.parquet").unlink()
    text = _read_after(ml.Run.open(path))
    assert "The examples cannot be shown: this run stores no example contents" in text
    assert 'class="example' not in text
    assert _table_data(text)["n"] == len(digits_run.scores)  # the rest is all there


def test_tabular_data_shows_feature_values_instead_of_images(digits_run, tmp_path, copy_run):
    import memlens as ml
    from memlens.classifier_estimates import save_gallery

    path = copy_run(digits_run, tmp_path / "tabular")
    run = ml.Run.open(path)
    save_gallery(run.store, digits_run.data.replace(image_shape=None), run.scores)
    text = _read_after(run)
    gallery = text[text.index('id="gallery"') : text.index('id="table"')]
    assert "<img" not in gallery and "(64 features)" in gallery


def test_a_run_without_any_memorization_score_still_renders(digits_run, tmp_path, copy_run):
    import warnings

    import memlens as ml

    path = copy_run(digits_run, tmp_path / "unscored")
    scores = digits_run.scores.copy()
    scores["memorization"] = np.nan
    RunStore.open(path).save_table("scores.parquet", scores)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = _read_after(ml.Run.open(path))
    assert "No example has a memorization score" in text
    assert f"0 of {len(scores):,} examples" in text


def test_an_unfinished_run_is_refused_with_advice(digits_run, tmp_path, copy_run):
    import memlens as ml
    from memlens.errors import RunStoreError

    path = copy_run(digits_run, tmp_path / "unfinished")
    (path / "scores.parquet").unlink()
    with pytest.raises(RunStoreError, match="scores.parquet is missing.*`memlens report .* --rescore`"):
        write_report(ml.Run.open(path))


def test_script_safe_json_round_trips_and_cannot_close_a_script(hostile):
    import pandas as pd

    frame = pd.DataFrame(
        {"id": [0, 1], "plant": [hostile[0], "</SCRIPT><!--"], "memorization": [np.nan, 0.5]}
    )
    text = table_json(frame, list(hostile))
    assert "<" not in text and ">" not in text and "&" not in text
    data = json.loads(text)
    assert data["columns"][1]["values"] == [hostile[0], "</SCRIPT><!--"]
    assert data["columns"][2]["values"] == [None, 0.5]  # NaN is null, not the invalid NaN token
    assert json.loads(script_safe(json.dumps("\u2028 & <"))) == "\u2028 & <"


def test_png_thumbnails_decode_to_the_pixels_they_encode():
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    for pixels in (gray, rgb):
        back = imread(io.BytesIO(png_bytes(pixels)), format="png")  # floats in [0, 1]
        np.testing.assert_array_equal(np.round(back * 255).astype(np.uint8), pixels)


def test_extra_score_columns_are_the_numeric_non_base_ones():
    import pandas as pd

    frame = pd.DataFrame({"id": [0], "memorization": [0.1], "planted": [True], "plant": [""],
                          "curvature": [1.0], "flag": [False], "note": ["x"], "rank": [3]})  # fmt: skip
    assert extra_score_columns(frame) == ["curvature", "rank"]


def test_fpr_and_percent_words():
    assert fpr_words("0.001") == "0.1%" and fpr_words("0.01") == "1%"
    assert pct(0.0728) == "7.28%" and pct(0.153) == "15.3%" and pct(0.00063) == "0.063%"
