"""The capacity page: its numbers come from capacity.json, it escapes the run's strings and reaches no network."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from memlens.capacity.cli import loglog_slope
from memlens.errors import RunStoreError
from memlens.report import write_report
from memlens.report.capacity_section import build_capacity, is_capacity_run

HOSTILE = "<script>window.__pwned=1</script>"


def _constructions(path, *, hostile=HOSTILE):
    sizes = [128, 512, 2048]
    rows = []
    for n, held in zip(sizes, (0.31, 0.47, 0.62), strict=True):
        p = int(np.ceil(np.sqrt(n)))
        rows.append({"n": n, "widths": [2 * p - 1, 2 * p], "width_total": 4 * p - 1, "width_data_sized": 4 * p - 1,
                     "parameters": 1000 + n, "max_abs_error": 3.5e-7, "train_accuracy": 1.0, "interpolates": True,
                     "heldout_n": 4096 - n, "heldout_accuracy": held, "seconds": 0.25})
    slope = loglog_slope(sizes, [r["width_total"] for r in rows])
    path.mkdir()
    (path / "capacity.json").write_text(json.dumps({
        "kind": "constructions", "method": "sqrt-n", "dataset": hostile, "labels": "random", "seed": 0,
        "pool": 4096, "features": 20, "classes": 10, "sizes": sizes, "n_hidden": None, "slope": slope,
        "slope_data_sized": slope, "reference_slope": 0.5, "all_interpolate": True, "rows": rows, "seconds": 0.75,
        "created": "2026-12-01T21:00:00Z"}))
    return slope, rows


def _masc(path):
    path.mkdir()
    layers = ["input", "hidden_1", "hidden_2"]
    series = {"given": {"test": [0.71, 0.83, 0.52], "train_given": [0.6, 0.9, 1.0]},
              "true": {"test": [0.74, 0.85, 0.6], "noisy_true": [0.4, 0.35, 0.05]}}
    masc = {kind: {c: {"mean": v, "std": [0.0] * 3} for c, v in cols.items()} for kind, cols in series.items()}
    (path / "capacity.json").write_text(json.dumps({
        "kind": "masc", "audit_run": HOSTILE, "dataset": "digits", "plants": ["label-noise:0.4"], "planted": 539,
        "models": 4, "layers": layers, "explained_variance": 0.99, "masc": masc, "best_test_layer": "hidden_1",
        "best_test_accuracy": 0.83, "network_train_accuracy": 1.0, "network_test_accuracy": 0.55, "seconds": 3.0,
        "created": "2026-12-01T21:00:00Z"}))


def _self_contained(page: str) -> None:
    for needle in ("http://", "https://", 'src="//', 'href="//', "@import", "url("):
        assert needle not in page, needle
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', page))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert html.escape("default-src 'none'") in csp and "unsafe-inline" not in csp
    assert HOSTILE not in page and html.escape(HOSTILE) in page


def test_construction_page_shows_the_slope_widths_and_accuracies(tmp_path):
    slope, rows = _constructions(tmp_path / "c")
    assert is_capacity_run(tmp_path / "c")
    target = write_report(tmp_path / "c")  # dispatched by capacity.json
    page = target.read_text()
    assert page == build_capacity(tmp_path / "c")
    _self_contained(page)
    assert f"N<sup>{slope['slope']:.2f}</sup>" in page
    assert f"{slope['low']:.2f} to {slope['high']:.2f}" in page
    assert "grows like √N" in page and "exponent 0.5" in page
    assert "memorized every training example" in page and "uniformly random" in page
    for r in rows:
        assert f"<td>{r['n']:,}</td><td>{r['widths'][0]},{r['widths'][1]}</td><td>{r['width_total']}</td>" in page
        assert f"{r['heldout_accuracy'] * 100:.1f}%" in page
    assert page.count("<img ") == 1  # width vs N


def test_masc_page_names_the_best_layer_against_the_network(tmp_path):
    _masc(tmp_path / "m")
    page = write_report(tmp_path / "m").read_text()
    _self_contained(page)
    assert "best decoded from <b>hidden_1</b>" in page
    assert "83.0%" in page and "55.0%" in page and "28.0 points above" in page
    assert "Later layers decode them worse" in page
    assert "hidden_2 5.00%" in page  # corrupted examples' true labels at the last layer
    assert page.count("<img ") == 1


def _rate_run(audit_run, corruption, test, noisy, network):
    layers = ["input", "hidden_1", "hidden_2"]
    series = {"given": {"test": test, "noisy_given": noisy}, "true": {"test": test}}
    masc = {kind: {c: {"mean": v, "std": [0.0] * 3} for c, v in cols.items()} for kind, cols in series.items()}
    best = int(np.argmax(test))
    return {"audit_run": audit_run, "dataset": "digits", "plants": [] if corruption is None else [f"label-noise:{corruption}"],
            "corruption": corruption, "planted": 0, "models": 4, "layers": layers, "masc": masc,
            "best_test_layer": layers[best], "best_test_accuracy": test[best], "network_train_accuracy": 1.0,
            "network_test_accuracy": network}


def test_masc_page_of_several_runs_draws_one_curve_per_corruption_rate(tmp_path):
    path = tmp_path / "rates"
    path.mkdir()
    runs = [_rate_run(HOSTILE, 0.4, [0.6, 0.66, 0.41], [0.1, 0.5, 1.0], 0.43),  # given out of order
            _rate_run("runs/clean", None, [0.9, 0.93, 0.91], [None] * 3, 0.9),
            _rate_run("runs/rho0.2", 0.2, [0.8, 0.84, 0.7], [0.12, 0.6, 1.0], 0.71)]
    (path / "capacity.json").write_text(json.dumps({
        "kind": "masc", **runs[0], "explained_variance": 0.99, "runs": runs, "seconds": 3.0,
        "created": "2026-12-01T21:00:00Z"}))
    page = write_report(path).read_text()
    _self_contained(page)
    assert page.count("<img ") == 2  # test by layer, corrupted training by layer
    rows = re.findall(r"<tr><td>(ρ = [^<]*)</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td>", page)
    assert rows == [("ρ = 0 (no label noise)", "hidden_1", "93.0%", "90.0%", "+3.0 pts"),
                    ("ρ = 0.2", "hidden_1", "84.0%", "71.0%", "+13.0 pts"),
                    ("ρ = 0.4", "hidden_1", "66.0%", "43.0%", "+23.0 pts")]
    assert "from 93.0% at ρ = 0 (no label noise) to 66.0% at ρ = 0.4" in page
    assert "best decoded from" not in page  # the single-run verdict is not used
    one = tmp_path / "one"
    one.mkdir()
    (one / "capacity.json").write_text(json.dumps({
        "kind": "masc", **runs[1], "explained_variance": 0.99, "runs": runs[1:2], "seconds": 1.0}))
    single = write_report(one).read_text()
    assert "best decoded from <b>hidden_1</b>" in single and "ρ = " not in single and single.count("<img ") == 1


def test_sweep_page_shows_the_exponent_and_every_setting(tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    rows = [{"m": m, "d": d, "m_over_d": m / d, "q_min": 2 * m // d, "bracket_low": 2 * m // d - 2,
             "bracket_high": 2 * m // d, "q_min_d_over_m": 2.0, "rounds": 2, "models": 10,
             "fitted_draws_by_width": {}, "seconds": 1.5} for m, d in ((64, 4), (64, 8), (256, 4))]
    fit = loglog_slope([r["m_over_d"] for r in rows], [r["q_min"] for r in rows])
    (path / "capacity.json").write_text(json.dumps({
        "kind": "sweep", "m": [64, 256], "d": [4, 8], "draws": 5, "required": 4, "probes": 13, "rounds": 2,
        "epochs": 3000, "lr": 0.05, "seed": 0, "dataset": HOSTILE, "slope": fit, "reference_slope": 1.0,
        "rows": rows, "seconds": 4.5, "created": "2026-12-01T21:00:00Z"}))
    page = write_report(path).read_text()
    _self_contained(page)
    assert "3 of 3 settings found a width" in page and "(m/d)<sup>1.00</sup>" in page and "inside the interval" in page
    assert "<td>256</td><td>4</td><td>64.00</td><td>128</td><td>(126, 128]</td><td>2.00</td>" in page
    assert page.count("<img ") == 1


def test_a_foreign_capacity_json_is_refused_by_name(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "capacity.json").write_text(json.dumps({"kind": "sweep?"}))
    with pytest.raises(RunStoreError, match=r"capacity\.json is not the summary"):
        write_report(tmp_path / "x")


@pytest.mark.browser
def test_a_page_without_the_interactive_table_marks_itself_drawn(tmp_path):
    """The screenshot tool waits for data-ready; a static page sets it as soon as it loads."""
    from memlens.report.browser import chromium_path, screenshot

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed")
    _constructions(tmp_path / "c", hostile="digits")
    shot = screenshot(write_report(tmp_path / "c"), tmp_path / "page.png", height=1200)
    assert shot.stat().st_size > 10_000
