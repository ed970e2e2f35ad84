"""The language-model report page, built from a synthetic ``lm_scores.parquet`` + ``lm.json``.

The run is written directly (no model is trained): 12 documents, 8 canaries inserted 1, 2, 4 or 8
times, and texts that are script and markup. The page must show them as text and never as markup.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from memlens.errors import RunStoreError
from memlens.report import write_lm_report, write_report
from memlens.report.lm_section import EXPOSED_BITS, sort_rows

HOSTILE_TEXT = (
    "<script>window.__pwned=1</script>",
    "</script><script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "\"quotes' & ampersands\u2028line separator",
)


def _lm_run(path, *, canaries: bool = True, mia: bool = True):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        text = (
            HOSTILE_TEXT[i]
            if i < len(HOSTILE_TEXT)
            else f"document number {i} " + "lorem ipsum " * 30
        )
        rows.append({"id": f"doc-{i}", "kind": "document", "text": text[:160], "repeats": 1, "member": i % 3 != 0,
                     "exposure": np.nan, "extractable_at_k": 8 if i in (1, 5) else -1})  # fmt: skip
    if canaries:
        for k, r in enumerate([1, 1, 2, 2, 4, 4, 8, 8]):
            rows.append({"id": f"canary-{k}", "kind": "canary",
                         "text": f"my social security number is {k}{k}{k}{k} <b>secret</b>", "repeats": r,
                         "member": True, "exposure": 2.0 * r + k % 2, "extractable_at_k": 4 if r == 8 else -1})  # fmt: skip
    frame = pd.DataFrame(rows)
    n = len(frame)
    for col in ("min_k", "min_k_pp", "zlib", "loss", "counterfactual"):
        frame[col] = rng.normal(size=n)
    frame["longest_verbatim_span"] = rng.integers(0, 16, n)
    frame["repeats"] = frame["repeats"].astype(np.int64)
    frame["extractable_at_k"] = frame["extractable_at_k"].astype(np.int64)
    frame.to_parquet(path / "lm_scores.parquet", index=False)
    result = {
        "config": {
            "corpus": "<script>window.__pwned=1</script>",
            "n_documents": n,
            "model": "trained here",
            "prefix_lengths": [4, 8],
            "suffix_length": 16,
        },  # fmt: skip
        "summary": {
            "n_documents": 12,
            "n_canaries": 8 if canaries else 0,
            "exposure_by_repeats": {"1": 2.5, "2": 4.5, "4": 8.5, "8": 16.5},
        },  # fmt: skip
        "mia": {
            "n_members": 8,
            "n_nonmembers": 4,
            "auroc": {"loss": 0.61, "zlib": 0.55, "min_k": 0.72, "min_k_pp": 0.66},
        }
        if mia
        else {"note": "no held-out documents: <b>membership</b> AUROC needs non-members."},
        "seconds": 3.5,
    }
    (path / "lm.json").write_text(json.dumps(result))
    return path


@pytest.fixture(scope="module")
def lm_page(tmp_path_factory):
    run = _lm_run(tmp_path_factory.mktemp("lm") / "run")
    target = write_report(run)  # no scores.parquet: write_report writes the language-model page
    return target, target.read_text(encoding="utf-8")


def test_write_report_dispatches_to_the_language_model_page(lm_page):
    target, page = lm_page
    assert target.name == "report.html"
    assert "language-model audit" in page
    for section in (
        'id="verdict"',
        'id="lm-plots"',
        'id="lm-table"',
        'id="lm-details"',
        'id="lm-auroc"',
    ):
        assert section in page


def test_verdict_counts_exposed_canaries_extractable_documents_and_best_auroc(lm_page):
    _, page = lm_page
    exposed = sum(2.0 * r + k % 2 >= EXPOSED_BITS for k, r in enumerate([1, 1, 2, 2, 4, 4, 8, 8]))
    assert exposed == 2
    assert f"{exposed:,} of 8 canaries are exposed" in page
    assert "2 of 12 documents are extractable" in page
    assert "AUROC 0.720" in page and "Min-K%" in page  # the best score, named
    # the AUROC table lists every score, best first
    table = re.search(r'<table class="small" id="lm-auroc">(.*?)</table>', page, re.S).group(1)
    assert [float(x) for x in re.findall(r"<td>(0\.\d{3})</td>", table)] == [0.72, 0.66, 0.61, 0.55]


def test_plots_are_inline_pngs(lm_page):
    _, page = lm_page
    section = page[page.index('id="lm-plots"') : page.index('id="lm-table"')]
    assert section.count('src="data:image/png;base64,') == 2
    assert (
        "Canary exposure vs insertion count" in section and "Extractable rate vs repeats" in section
    )
    assert "Spearman ρ = " in section


def test_hostile_text_is_escaped_everywhere(lm_page):
    _, page = lm_page
    # nothing from the data is markup: the only <script> elements are the page's JSON and its code
    assert page.count("<script") == 2
    assert page.count("</script>") == 2
    assert (
        "<img src=x" not in page and "<b>secret</b>" not in page and "<b>membership</b>" not in page
    )
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page  # the corpus name, escaped
    data = re.search(
        r'<script type="application/json" id="memlens-data">(.*?)</script>', page, re.S
    ).group(1)
    assert "<" not in data and ">" not in data and "\u2028" not in data
    table = json.loads(data)
    texts = next(c for c in table["columns"] if c["name"] == "text")["values"]
    for hostile in HOSTILE_TEXT[:3]:
        # the data round-trips exactly; the script writes it with textContent
        assert hostile in texts
    assert table["sort"] == "exposure" and table["planted"] == "canary"
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "default-src &#x27;none&#x27;" in csp and "unsafe-inline" not in csp


def test_table_is_sorted_by_exposure_then_extractability(tmp_path):
    frame = pd.read_parquet(_lm_run(tmp_path / "run") / "lm_scores.parquet")
    ordered = sort_rows(frame)
    exposure = ordered["exposure"].to_numpy()
    n_can = int(np.isfinite(exposure).sum())
    assert list(exposure[:n_can]) == sorted(exposure[:n_can], reverse=True)
    docs = ordered.iloc[n_can:]
    assert (
        list(docs["extractable_at_k"][:2]) == [8, 8] and (docs["extractable_at_k"][2:] == -1).all()
    )


def test_excerpts_are_cut_to_two_hundred_characters(tmp_path):
    run = _lm_run(tmp_path / "run")
    frame = pd.read_parquet(run / "lm_scores.parquet")
    frame.loc[0, "text"] = "x" * 1000
    frame.to_parquet(run / "lm_scores.parquet", index=False)
    page = write_lm_report(run).read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="memlens-data">(.*?)</script>', page, re.S).group(1))
    texts = next(c for c in data["columns"] if c["name"] == "text")["values"]
    assert max(len(t) for t in texts) == 200


def test_run_without_canaries_or_heldout_documents_still_renders(tmp_path):
    page = write_lm_report(_lm_run(tmp_path / "run", canaries=False, mia=False)).read_text(
        encoding="utf-8"
    )
    assert "No canaries were planted" in page
    assert "Membership inference was not evaluated" in page
    assert "&lt;b&gt;membership&lt;/b&gt;" in page
    assert page.count('src="data:image/png;base64,') == 1  # no exposure plot without canaries


def test_a_folder_without_lm_scores_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(RunStoreError, match="lm_scores.parquet"):
        write_lm_report(tmp_path / "run")
    assert not (tmp_path / "run" / "report.html").exists()


@pytest.mark.browser
def test_hostile_text_is_shown_as_text_and_never_runs_in_chromium(lm_page, tmp_path):
    from memlens.report.browser import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed")
    target, _ = lm_page
    with Browser() as b:
        page = b.page(width=1280, height=900)
        try:
            page.open(target, ready="document.body && document.body.hasAttribute('data-ready')")
            assert page.eval("typeof window.__pwned") == "undefined"
            assert (
                page.eval(
                    "document.querySelectorAll('img[src=\"x\"], main script, #scores-table b').length"
                )
                == 0
            )
            assert page.eval("document.querySelectorAll('#scores-table tbody tr').length") == 20
            text = page.eval("document.body.innerText")
            for hostile in HOSTILE_TEXT[:3]:
                assert hostile in text, f"{hostile!r} is not shown as text"
            first = page.eval("document.querySelector('#scores-table tbody tr').textContent")
            assert "canary-" in first  # the most exposed canary leads
            assert page.errors() == []
        finally:
            page.close()


# --- a run shaped like a real audit: every column, 300 documents, numbers as lm_audit writes them ---

LONG_TEXT = "Permission is hereby granted, free of charge, to any person obtaining a copy of this software "


def _full_lm_run(path, *, copies_counted_apart: bool = True):
    """300 documents (60 held out) and 20 canaries with every column of lm_scores.parquet; lm.json's
    membership block computed by the audit's own ``_mia``, its summary with unrounded floats."""
    from memlens.lm.audit import COLUMNS, _mia

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    n_docs, n_can = 300, 20
    n = n_docs + n_can
    frame = pd.DataFrame({
        "id": [f"licence-{i}" for i in range(n_docs)] + [f"canary-{k}" for k in range(n_can)],
        "kind": ["document"] * n_docs + ["canary"] * n_can,
        "text": [(LONG_TEXT * 3)[:200]] * n,
        "repeats": [1] * n_docs + [[1, 2, 4, 8, 16][k % 5] for k in range(n_can)],
        "member": [i % 5 != 0 for i in range(n_docs)] + [True] * n_can,
    })  # fmt: skip
    for col in COLUMNS:
        if col in frame.columns:
            continue
        if col.startswith(("extracted_", "secret_")):
            frame[col] = rng.random(n) < 0.2
        elif col in ("extractable_at_k", "longest_verbatim_span"):
            frame[col] = rng.integers(-1, 33, n)
        else:
            frame[col] = rng.normal(size=n) + 0.3 * frame["member"]
    frame = frame[list(COLUMNS)]
    frame.to_parquet(path / "lm_scores.parquet", index=False)
    config = {"corpus": "/data/licences.txt", "model": "/models/licences", "n_documents": n_docs,
              "n_canary_copies": 124, "prefix_lengths": [4, 8, 16, 32], "suffix_length": 16}  # fmt: skip
    if not copies_counted_apart:  # lm.json as audits before this change wrote it
        config["n_documents"] = n_docs + 124
        del config["n_canary_copies"]
    result = {
        "config": config,
        "summary": {"n_documents": n_docs, "n_members": 240, "n_heldout": 60, "n_canaries": n_can,
                    "mean_longest_verbatim_span": 2.606060606060606,
                    "exposure_by_repeats": {"1": 1.5, "2": 2.25, "4": 4.342311291792973, "8": 9.0, "16": 12.5}},
        "mia": _mia(frame, 0),
        "seconds": 61.0,
    }  # fmt: skip
    (path / "lm.json").write_text(json.dumps(result))
    return path


@pytest.fixture(scope="module")
def full_page(tmp_path_factory):
    run = _full_lm_run(tmp_path_factory.mktemp("lm-full") / "run")
    return run, write_lm_report(run).read_text(encoding="utf-8")


def test_numbers_in_the_summary_and_details_are_formatted(full_page):
    _, page = full_page
    assert "4.342311291792973" not in page and "2.606060606060606" not in page
    details = page[page.index('id="lm-details"') :]
    assert "<dt>4×</dt><dd>4.34</dd>" in details and "<dt>16×</dt><dd>12.50</dd>" in details
    assert "<dd>2.606</dd>" in page  # the summary's mean span, 4 significant digits


def test_document_counts_agree_and_are_labelled(full_page, tmp_path):
    _, page = full_page
    # the summary and the configuration count documents the same way, under the same label
    assert page.count("<dt>documents (canary copies not counted)</dt><dd>300</dd>") == 2
    assert "<dt>canary copies inserted</dt><dd>124</dd>" in page
    assert "(300 documents and 124 canary copies)" in page  # the verdict's run line
    old = write_lm_report(_full_lm_run(tmp_path / "old", copies_counted_apart=False)).read_text()
    assert "<dt>texts (canary copies included)</dt><dd>424</dd>" in old
    assert "(424 texts, canary copies included)" in old


def test_membership_table_shows_heldout_tpr_and_the_fpr_let_through(full_page):
    from memlens.report.page import pct

    run, page = full_page
    low = json.loads((run / "lm.json").read_text())["mia"]["low_fpr"]["scores"]
    table = re.search(r'<table class="small" id="lm-auroc">(.*?)</table>', page, re.S).group(1)
    assert "TPR @ 0.1% FPR" in table and "TPR @ 1% FPR" in table
    for name, label in (("loss", "loss"), ("min_k", "Min-K%")):
        row = re.search(rf"<tr[^>]*><td>{re.escape(label)}( ★)?</td>(.*?)</tr>", table, re.S).group(2)
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)[1:]  # after the AUROC
        for cell, level in zip(cells, ("0.001", "0.01"), strict=True):
            lo, hi = low[name]["tpr_ci"][level]
            assert cell.startswith(pct(low[name]["tpr_at_fpr"][level]))
            assert f"{pct(lo)} – {pct(hi)}" in cell
            assert f"at FPR {pct(low[name]['fpr_achieved'][level])} †" in cell  # 30 per half: unresolvable
    assert "cannot be resolved" in page and "30 held-out documents per half" in page


@pytest.mark.browser
def test_every_column_of_the_table_fits_1280_pixels(full_page):
    from memlens.lm.audit import COLUMNS
    from memlens.report.browser import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed")
    run, _ = full_page
    with Browser() as b:
        page = b.page(width=1280, height=900)
        try:
            page.open(run / "report.html", ready="document.body && document.body.hasAttribute('data-ready')")
            box = page.eval(
                "(() => { const w = document.querySelector('.tablewrap').getBoundingClientRect();"
                " return [w.left, w.right]; })()"
            )
            heads = page.eval(
                "[...document.querySelectorAll('#scores-table thead th')].map(th => {"
                " const r = th.getBoundingClientRect(); return [th.textContent.replace(/[\\u25B2\\u25BC ]/g, ''),"
                " r.left, r.right]; })"
            )
            names = [h[0] for h in heads]
            assert sorted(names) == sorted([*COLUMNS, "canary"]) and names[-1] == "text"
            for name, left, right in heads:  # all visible without scrolling sideways
                assert box[0] - 1 <= left and right <= box[1] + 1, (name, left, right, box)
            widths = page.eval(
                "(() => { const w = document.querySelector('.tablewrap'); return [w.scrollWidth, w.clientWidth]; })()"
            )
            assert widths[0] <= widths[1] + 1
            # the text column wraps instead of widening the table: a 200-character excerpt spans lines
            cell = page.eval(
                "(() => { const td = document.querySelector('#scores-table tbody tr td:last-child');"
                " return [td.getBoundingClientRect().height, parseFloat(getComputedStyle(td).lineHeight)]; })()"
            )
            assert cell[0] > 2 * cell[1]
            assert page.errors() == []
        finally:
            page.close()
