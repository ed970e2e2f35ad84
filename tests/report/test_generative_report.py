"""The generative report page, built from small synthetic run directories written through the store.

No model is trained: each fixture creates a run with :class:`memlens.store.RunStore` (a mask, one
shard, finalized) and saves ``generative.json`` and its Parquet tables as the generative audit
does, with numbers chosen so the page's words can be checked exactly (a ratio grid that crosses
the 90% target at |D| = 64, one that never does, planted pixels, a most-replicated image).
"""

from __future__ import annotations

import base64
import html
import json
import re
import struct
import zlib

import numpy as np
import pandas as pd
import pytest

from memlens.errors import RunStoreError
from memlens.report import write_generative_report, write_report
from memlens.report.assets import JS
from memlens.report.facts import pct
from memlens.report.generative_section import emm_words, is_generative_run, times
from memlens.report.generative_sections import TABLE_IDS, emm_mark, table_script
from memlens.store import RunStore

HOSTILE = "<script>window.__pwned=1</script>"
SIZES = [16, 32, 64, 128, 256]
CROSSING = [0.98, 0.95, 0.92, 0.40, 0.05]  # ≥ 0.9 up to |D| = 64: EMM = 64
NEVER = [0.60, 0.40, 0.30, 0.20, 0.10]  # never reaches 0.9
SIDE = 8  # 8×8 images
N_TRAIN = 300
SAMPLES_PER_SNAPSHOT = 250  # 5 sizes × 2 steps × 250 = 2,500 rows: more than the table's 2,000


def _store(path, *, n_models: int, dataset: str = "digits"):
    """A finished run directory (mask, one shard of log-likelihoods) to save generative files into."""
    rng = np.random.default_rng(0)
    config = {
        "dataset": {"name": dataset, "n_examples": N_TRAIN, "classes": [str(c) for c in range(10)],
                    "image_shape": [SIDE, SIDE]},
        "design": {"spec": "generative-test", "n_models": n_models},
        "trainer": {"trainer": "generative", "model": "closed-form"},
        "seed": 0,
    }  # fmt: skip
    membership = rng.random((n_models, N_TRAIN)) < 0.5
    store = RunStore.create_or_resume(path, config, membership)
    store.write_shard(
        0, 0, n_models, {"loglik": rng.normal(size=(n_models, N_TRAIN)).astype(np.float32)}, 0.1
    )
    store.finalize()
    return store


def _pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, SIDE * SIDE, dtype=np.uint8)


def _diffusion_run(path, ratios, *, regularization: bool = False, crossed: bool = True, emm=64):
    store = _store(path, n_models=len(SIZES))
    rng = np.random.default_rng(1)
    models = [{"model": m, "size": s, "ratio": r, "ci_low": max(r - 0.03, 0.0), "ci_high": min(r + 0.02, 1.0),
               "best_step": 2000, "ratios_by_step": {"2000": r, "1000": r / 2}}
              for m, (s, r) in enumerate(zip(SIZES, ratios, strict=True))]  # fmt: skip
    result = {
        "kind": "diffusion", "dataset": "digits", "model": "mlp-edm", "condition": "random:10",
        "image_shape": [SIDE, SIDE], "value_range": [0.0, 1.0], "threshold": 1 / 3, "epsilon": 0.1,
        "level": 0.95, "models": models,
        "by_size": [{"size": m["size"], "models": 1, "ratio": m["ratio"], "ci_low": m["ci_low"],
                     "ci_high": m["ci_high"]} for m in models],
        "emm": {"value": emm, "crossed": crossed, "first_below": 128 if crossed else None, "target": 0.9,
                "message": f"search note {HOSTILE}"},
        "sampler": "edm-heun-18", "seconds": 75.0,
        "feature_space": {"by_size": [{"size": s, "ratio": r / 2} for s, r in zip(SIZES, ratios, strict=True)],
                          "encoder_training_accuracy": 0.97},
    }  # fmt: skip
    if regularization:
        strengths = [0.0, 1e-4, 1e-3, 1e-2, 1e-1]
        result["regularization"] = (
            [{"kind": "tikhonov", "strength": s, "collapse": c} for s, c in zip(strengths, [0.99, 0.9, 0.6, 0.2, 0.05], strict=True)]
            + [{"kind": "density-floor", "strength": s, "collapse": c} for s, c in zip(strengths, [0.99, 0.95, 0.7, 0.3, 0.1], strict=True)]
        )  # fmt: skip
    store.save_json("generative.json", result)
    samples = []
    for m, size in enumerate(SIZES):
        for step in (1000, 2000):
            ratio = rng.random(SAMPLES_PER_SNAPSHOT).astype(np.float32)
            samples.append(pd.DataFrame({
                "model": np.int32(m), "size": np.int32(size), "step": np.int64(step),
                "sample": np.arange(SAMPLES_PER_SNAPSHOT, dtype=np.int32), "label": np.int32(-1),
                "nearest": rng.integers(0, size, SAMPLES_PER_SNAPSHOT).astype(np.int32),
                "second": rng.integers(0, size, SAMPLES_PER_SNAPSHOT).astype(np.int32),
                "nearest_distance": (ratio * 10).astype(np.float32), "second_distance": np.float32(10.0),
                "ratio": ratio, "replicated": ratio < 1 / 3,
            }))  # fmt: skip
    samples = pd.concat(samples, ignore_index=True)
    if (
        regularization
    ):  # the closed form's regularized variants are samples too (step 1000 stands for them)
        samples["regularization"] = np.where(samples["step"] == 1000, 0.01, 0.0)
    store.save_table("samples.parquet", samples)
    replications = rng.integers(0, 5, N_TRAIN).astype(np.int32)
    replications[7] = 42  # the most replicated training image
    store.save_table("training_examples.parquet", pd.DataFrame({
        "id": np.arange(N_TRAIN, dtype=np.int32), "label": (np.arange(N_TRAIN) % 10).astype(np.int32),
        "models_in": np.int32(2), "replications": replications, "nearest_count": replications,
    }))  # fmt: skip
    gallery = []
    for m, size in ((2, 64), (3, 128)):
        for k in range(8):
            gallery.append({"model": m, "size": size, "step": 2000, "sample": k, "ratio": np.float32(0.1 * k),
                            "replicated": 0.1 * k < 1 / 3, "nearest_id": 10 + k, "second_id": 20 + k,
                            "generated": _pixels(100 * m + k), "nearest": _pixels(100 * m + k + 1000),
                            "second": _pixels(100 * m + k + 2000)})  # fmt: skip
    frame = pd.DataFrame(gallery).astype({"model": np.int32, "size": np.int32, "nearest_id": np.int32,
                                          "second_id": np.int32})  # fmt: skip
    store.save_table("generative_gallery.parquet", frame)
    store.release()
    return path


def _density_run(path):
    store = _store(path, n_models=20, dataset=HOSTILE)
    rng = np.random.default_rng(2)
    memorization = rng.exponential(0.3, N_TRAIN)
    memorization[[5, 50, 150]] = [6.0, 4.0, 3.0]  # the planted atypical examples: the tail
    order = np.argsort(-memorization, kind="stable")
    rank = np.empty(N_TRAIN, np.int64)
    rank[order] = np.arange(1, N_TRAIN + 1)
    held_out = rng.normal(-40, 5, N_TRAIN)
    pixels = [_pixels(3000 + i) if rank[i] <= 24 else None for i in range(N_TRAIN)]
    frame = pd.DataFrame({"id": np.arange(N_TRAIN), "label": np.arange(N_TRAIN) % 10, "memorization": memorization,
                          "held_in": held_out + memorization, "held_out": held_out, "rank": rank, "pixels": pixels})  # fmt: skip
    top = [{"id": int(i), "memorization": float(memorization[i]), "held_in": float(held_out[i] + memorization[i]),
            "held_out": float(held_out[i]), "label": int(i % 10)} for i in order[:24]]  # fmt: skip
    result = {
        "kind": "density", "dataset": HOSTILE, "model": "vae", "condition": None, "image_shape": [SIDE, SIDE],
        "value_range": [0.0, 1.0], "seconds": 12.5,
        "density": {"folds": 10, "models": 20, "n_examples": N_TRAIN, "p95": float(np.percentile(memorization, 95)),
                    "median": float(np.median(memorization)), "top": top},
    }  # fmt: skip
    store.save_json("generative.json", result)
    store.save_table("density.parquet", frame)
    store.release()
    return path, memorization


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    run = _diffusion_run(tmp_path_factory.mktemp("gen") / "run", CROSSING, regularization=True)
    target = write_report(run)  # generative.json: write_report writes the generative page
    return run, target.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def never(tmp_path_factory):
    run = _diffusion_run(tmp_path_factory.mktemp("gen") / "run", NEVER, crossed=False, emm=None)
    return run, write_generative_report(run).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def density(tmp_path_factory):
    run, memorization = _density_run(tmp_path_factory.mktemp("density") / "run")
    return run, memorization, write_report(run).read_text(encoding="utf-8")


def _section(page: str, start: str, stop: str) -> str:
    return page[page.index(f'id="{start}"') : page.index(f'id="{stop}"')]


def _verdict(page: str) -> str:
    return page[page.index('id="verdict"') : page.index('<nav class="toc">')]


def _png_pixels(uri: str) -> np.ndarray:
    """Decode one of the page's gray 8-bit PNGs (filter 0 rows, as examples.png_bytes writes them)."""
    data = base64.b64decode(uri.split(",", 1)[1])
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (depth, color) == (8, 0)
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:]


def _table_data(page: str, element_id: str) -> dict:
    text = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S
    ).group(1)
    return json.loads(text)


def _column(data: dict, name: str) -> list:
    return next(c for c in data["columns"] if c["name"] == name)["values"]


# --- diffusion ----------------------------------------------------------------------------------


def test_write_report_dispatches_to_the_generative_page(crossing):
    run, page = crossing
    assert is_generative_run(run) and (run / "report.html").is_file()
    assert "generative audit (diffusion)" in page
    for section in (
        "verdict",
        "gen-plots",
        "gen-gallery",
        "gen-samples",
        "gen-training",
        "gen-details",
        "gen-models",
    ):
        assert f'id="{section}"' in page, section


def test_verdict_states_the_ratios_the_emm_and_the_conditioning(crossing):
    _, page = crossing
    verdict = _verdict(page)
    assert f"At |D| = 16, {pct(0.98)} of generated samples replicate a training image" in verdict
    assert f"at |D| = 256, {pct(0.05)}" in verdict
    assert "EMM ≈ 64." in verdict and "Effective model memorization ≈ 64" in verdict
    assert "from |D| = 128 the ratio is below it" in verdict
    # every size with its interval, in order
    assert (
        "16: 98.0% (95.0% – 100.0%); 32: 95.0% (92.0% – 97.0%); 64: 92.0% (89.0% – 94.0%)"
        in verdict
    )
    assert "random labels from 10 classes" in verdict and "random labels, C = 10" in verdict
    assert "edm-heun-18" in verdict and "1 min 15 s" in verdict
    assert 'class="card verdict leaks"' in verdict
    assert "In a learned feature space</b> (a small CNN" in verdict and "training accuracy 97.0%" in verdict
    assert f"16: {pct(0.49)}" in verdict  # half the pixel ratio, as the fixture records


def test_verdict_counts_replicated_samples_and_the_most_replicated_image(crossing):
    run, page = crossing
    samples = pd.read_parquet(run / "samples.parquet")
    samples = samples[samples["regularization"] == 0]  # counted on the unregularized score only
    assert len(samples) == 1250
    flagged = samples["replicated"].to_numpy()
    verdict = _verdict(page)
    assert (
        f"{int(flagged.sum()):,} of {len(samples):,} generated samples</b> (unregularized score)"
        in verdict
    )
    assert (
        f"{samples.loc[flagged, 'nearest'].nunique():,} distinct training images are copied"
        in verdict
    )
    assert "#7 with 42 replicas" in verdict


def test_ratio_plot_marks_the_emm_with_a_vertical_line(crossing, never):
    from memlens.report import plots

    _, page = crossing
    plots_html = _section(page, "gen-plots", "gen-gallery")
    assert (
        plots_html.count('src="data:image/png;base64,') == 2
    )  # ratio vs |D| and collapse vs strength
    assert (
        "Memorization ratio vs training-set size" in plots_html
        and "target 1 − ε = 0.90" in plots_html
    )
    assert "EMM ≈ 64 marked" in plots_html
    _, no_emm = never
    assert "no EMM marked" in _section(no_emm, "gen-plots", "gen-gallery")
    assert emm_mark({"emm": {"value": 64, "crossed": True}}) == (64.0, "EMM ≈ 64")
    assert emm_mark({"emm": {"value": None, "crossed": False}}) == (None, "")
    args = (SIZES, CROSSING, CROSSING, CROSSING)
    assert plots.ratio_vs_size(*args, target=0.9, emm=64) != plots.ratio_vs_size(*args, target=0.9)


def test_a_grid_that_never_crosses_the_target_says_so_with_the_ratios(never):
    _, page = never
    verdict = _verdict(page)
    assert "The grid never crossed the 90.0% target" in verdict
    assert "no |D| of the grid reaches it, so the EMM is below the smallest, 16" in verdict
    assert "Ratios: 60.0% at 16, 40.0% at 32, 30.0% at 64, 20.0% at 128, 10.0% at 256." in verdict
    assert "EMM ≈" not in verdict and "&lt; 16" in verdict
    assert "Regularization" not in verdict and "Collapse vs regularization" not in page


def test_every_size_reaching_the_target_gives_a_lower_bound(tmp_path):
    run = _diffusion_run(tmp_path / "run", [0.99, 0.98, 0.97, 0.96, 0.95], crossed=False, emm=256)
    verdict = _verdict(write_generative_report(run).read_text(encoding="utf-8"))
    assert (
        "every |D| of the grid reaches the target, so the EMM is at least the largest, 256"
        in verdict
    )
    assert "≥ 256" in verdict


def test_a_run_without_images_or_ratios_renders_what_it_holds(tmp_path):
    """Two-dimensional data (no image shape, no gallery) and only regularization results."""
    store = _store(tmp_path / "run", n_models=1)
    store.save_json("generative.json", {
        "kind": "diffusion", "dataset": "moons", "model": "closed-form", "condition": None, "image_shape": None,
        "sampler": {"name": "edm-heun", "steps": 18},
        "regularization": [{"kind": "tikhonov", "strength": s, "collapse": c} for s, c in ((0.0, 1.0), (0.1, 0.15))],
    })  # fmt: skip
    store.release()
    page = write_report(tmp_path / "run").read_text(encoding="utf-8")
    assert "No memorization ratio by training-set size in this run: the regularized" in page
    assert "No gallery: the data are not images." in page
    assert "sampler <span class=mono>edm-heun (steps 18)</span>" in page
    assert "100.0% of samples collapse onto a training point at strength 0, 15.0% at 0.1" in page
    assert page.count('src="data:image/png;base64,') == 1  # the collapse plot only
    assert 'id="gen-samples"' not in page and 'id="memlens-data"' not in page


def test_emm_is_read_off_the_ratios_when_the_run_records_none():
    def sizes(ratios):
        return [
            {"size": 16 * 2**i, "ratio": r, "ci_low": np.nan, "ci_high": np.nan}
            for i, r in enumerate(ratios)
        ]

    value, _, sentence = emm_words({"epsilon": 0.1}, sizes([0.95, 0.92, 0.5, 0.95]))
    assert value == "32" and "Effective model memorization ≈ 32" in sentence  # the leading run only
    value, _, sentence = emm_words({"epsilon": 0.1}, sizes([0.5, 0.95]))
    assert value == "< 16" and "a larger size at the target does not count" in sentence
    value, _, _ = emm_words({"epsilon": 0.1}, sizes([0.95, 0.91]))
    assert value == "≥ 32"


def test_regularization_is_plotted_and_worded_per_kind(crossing):
    _, page = crossing
    assert "Collapse vs regularization strength" in page
    verdict = _verdict(page)
    assert (
        "Regularization (tikhonov)</b>: 99.0% of samples collapse onto a training point at strength 0, 5.00% at 0.1"
        in verdict
    )
    assert (
        "Regularization (density-floor)</b>: 99.0% of samples collapse onto a training point at strength 0, 10.0% at 0.1"
        in verdict
    )


def test_gallery_rows_show_generated_nearest_and_second_with_ratio_and_replicated(crossing):
    run, page = crossing
    gallery = _section(page, "gen-gallery", "gen-samples")
    stored = pd.read_parquet(run / "generative_gallery.parquet")
    # each card runs from its opening tag to the next card's (or the end of the section)
    cards = re.findall(
        r'<div class="pair( replicated)?" data-sample="(\d+)">(.*?)(?=<div class="pair[ "]|$)',
        gallery,
        re.S,
    )
    assert len(cards) == len(stored) == 16
    assert (
        sum(bool(c[0]) for c in cards) == int(stored["replicated"].sum()) == 8
    )  # ratios 0, .1, .2, .3 per size
    assert gallery.count("|D| = 64") == 1 and gallery.count("|D| = 128") == 1
    assert "|D| = 64 · model = 2 · step = 2,000 · memorization ratio 92.0%" in gallery
    for (flag, sample, body), row in zip(cards, stored.to_dict("records"), strict=True):
        assert int(sample) == row["sample"] and bool(flag) == row["replicated"]
        uris = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', body)
        assert len(uris) == 3  # generated | nearest | second
        for uri, key in zip(uris, ("generated", "nearest", "second"), strict=True):
            # 8-bit value v is ink of strength v/255: drawn as 255 − v (dark ink on a light page)
            assert np.array_equal(_png_pixels(uri), 255 - np.asarray(row[key]).reshape(SIDE, SIDE))
        assert f'ratio <span class="score">{row["ratio"]:.3f}</span>' in body
        assert f"nearest #{row['nearest_id']}" in body and f"second #{row['second_id']}" in body
        assert ("badge replicated" in body) == row["replicated"]


def test_samples_table_keeps_the_lowest_ratios_and_says_so(crossing):
    run, page = crossing
    samples = pd.read_parquet(run / "samples.parquet")
    data = _table_data(page, "memlens-data")
    assert data["n"] == 2000 and len(samples) == 2500
    assert "the 2,000 with the lowest distance ratio (most replicated first) of 2,500 rows" in page
    shown = np.array(_column(data, "ratio"), dtype=np.float64)
    assert (np.diff(shown) >= 0).all()
    assert np.allclose(shown, np.sort(samples["ratio"].to_numpy())[:2000], atol=1e-4)
    assert data["sort"] == "replicated" and data["planted"] == "replicated"
    assert set(_column(data, "label")) == {-1}


def test_training_table_is_a_second_interactive_table(crossing):
    run, page = crossing
    data = _table_data(page, "memlens-data-training")
    training = pd.read_parquet(run / "training_examples.parquet")
    assert data["n"] == len(training) and data["sort"] == "replications"
    assert _column(data, "id")[0] == 7 and _column(data, "replications")[0] == 42
    assert [c["name"] for c in data["columns"]] == list(training.columns)
    for name in TABLE_IDS:
        assert f'id="{name}-training"' in page
    assert page.count("<script>") == 2 and table_script("training") in page


def test_table_script_copy_renames_every_element_id():
    assert set(re.findall(r'getElementById\("([^"]+)"\)', JS)) == set(TABLE_IDS)
    renamed = set(re.findall(r'getElementById\("([^"]+)"\)', table_script("x")))
    assert renamed == {f"{name}-x" for name in TABLE_IDS}


def test_run_details_show_the_audit_and_the_configuration(crossing):
    _, page = crossing
    details = page[page.index('id="gen-details"') :]
    for needle in (
        "mlp-edm",
        "random:10",
        "edm-heun-18",
        "generative-test",
        "closed-form",
        "<dt>threshold</dt><dd>0.3333</dd>",
        "<dt>seconds</dt><dd>75</dd>",
    ):
        assert needle in details, needle
    models = re.search(r'<table class="small" id="gen-models">(.*?)</table>', details, re.S).group(
        1
    )
    assert models.count("<tr>") == 1 + len(SIZES)
    assert "1000: 49.0% · 2000: 98.0%" in models


# --- density ------------------------------------------------------------------------------------


def test_density_verdict_states_median_95th_percentile_top_and_the_top_examples(density):
    _, memorization, page = density
    verdict = _verdict(page)
    median, p95 = np.median(memorization), np.percentile(memorization, 95)
    assert f"median {median:.2f} nats, 95th percentile {p95:.2f}, top 6.00" in verdict
    assert (
        f"{int((memorization >= np.log(10)).sum()):,} are at least 10 times more likely" in verdict
    )
    assert (memorization >= np.log(10)).sum() == 3
    assert "#5 (label 5): 6.00; #50 (label 0): 4.00; #150 (label 0): 3.00" in verdict
    assert "20 models on a 10-fold design" in verdict
    assert "generative audit (density)" in page and 'class="card verdict leaks"' in verdict


def test_likelihood_ratios_are_worded_readably():
    assert times(np.log(2.4)) == "2.4×" and times(np.log(403)) == "403×"
    assert times(np.log(4.6e14)) == "4.6 × 10^14×"


def test_density_ranking_shows_the_top_examples_with_their_images_and_a_histogram(density):
    run, memorization, page = density
    ranking = _section(page, "gen-ranking", "gen-table")
    ids = [int(x) for x in re.findall(r'<div class="example" data-id="(\d+)">', ranking)]
    assert ids == list(np.argsort(-memorization, kind="stable")[:24])
    uris = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', ranking)
    assert len(uris) == 24
    assert np.array_equal(_png_pixels(uris[0]), 255 - _pixels(3000 + 5).reshape(SIDE, SIDE))
    plots_html = _section(page, "gen-plots", "gen-ranking")
    assert "Density-memorization scores" in plots_html and plots_html.count("data:image/png") == 1
    data = _table_data(page, "memlens-data")
    assert data["n"] == N_TRAIN and "pixels" not in [c["name"] for c in data["columns"]]
    assert _column(data, "id")[:3] == [5, 50, 150]


# --- refusals and self-containment --------------------------------------------------------------


def test_a_damaged_generative_json_is_refused_naming_the_file(tmp_path):
    run = _diffusion_run(tmp_path / "run", CROSSING)
    target = run / "generative.json"
    text = target.read_bytes()
    target.write_bytes(text.replace(b'"mlp-edm"', b'"mlp-edX"'))  # same size, another checksum
    with pytest.raises(RunStoreError, match=r"generative\.json does not match its checksum"):
        write_report(run)
    assert not (run / "report.html").exists()


def test_an_unfinished_run_or_a_foreign_kind_is_refused(tmp_path):
    path = tmp_path / "unfinished"
    store = RunStore.create_or_resume(
        path, {"design": {"spec": "x", "n_models": 2}}, np.ones((2, 4), bool)
    )
    (path / "generative.json").write_text("{}")
    with pytest.raises(RunStoreError, match="has not finished training"):
        write_generative_report(path)
    store.release()
    store = _store(tmp_path / "foreign", n_models=2)
    store.save_json("generative.json", {"kind": "gan"})
    store.release()
    with pytest.raises(RunStoreError, match=r"generative\.json .* 'gan'"):
        write_generative_report(tmp_path / "foreign")


def test_pages_are_self_contained_and_escape_the_run_strings(crossing, density):
    for page in (crossing[1], density[2]):
        for needle in ("http://", "https://", 'src="//', 'href="//', "@import", "url("):
            assert needle not in page, needle
        assert all(
            src.startswith("data:image/png;base64,")
            for src in re.findall(r'<img src="([^"]*)"', page)
        )
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
        assert html.escape("default-src 'none'") in csp and "unsafe-inline" not in csp
        assert HOSTILE not in page and html.escape(HOSTILE) in page
    assert crossing[1].count("sha256-") == 3  # the stylesheet and both table scripts, by hash
    assert density[2].count("<script") == 2  # the table's data and its script


@pytest.mark.browser
def test_both_tables_render_in_chromium_without_errors(crossing, density, tmp_path):
    from memlens.report.browser import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed")
    run, _ = crossing
    with Browser() as b:
        page = b.page(width=1280, height=900)
        try:
            page.open(
                run / "report.html",
                ready="document.body && document.body.hasAttribute('data-ready')",
            )
            assert page.eval("document.querySelectorAll('#scores-table tbody tr').length") == 100
            assert (
                page.eval("document.querySelectorAll('#scores-table-training tbody tr').length")
                == 100
            )
            assert "of 2,000" in page.eval("document.getElementById('page-info').textContent")
            assert "of 300" in page.eval(
                "document.getElementById('page-info-training').textContent"
            )
            first = page.eval(
                "document.querySelector('#scores-table-training tbody tr td').textContent"
            )
            assert first == "7"
            assert (
                page.eval("document.getElementById('only-planted-training').parentNode.hidden")
                is True
            )
            assert page.eval("typeof window.__pwned") == "undefined"
            assert page.errors() == []
            page.open(
                density[0] / "report.html",
                ready="document.body && document.body.hasAttribute('data-ready')",
            )
            assert page.eval("document.querySelectorAll('#scores-table tbody tr').length") == 100
            assert page.eval("typeof window.__pwned") == "undefined"
            assert page.errors() == []
        finally:
            page.close()
