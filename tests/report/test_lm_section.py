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
