"""The report's hand-written SVG charts: data lands on the right pixels, text is escaped, NaN and
empty input draw what they can, and every chart is well-formed XML."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from memlens.report import plots, svg

NS = "{http://www.w3.org/2000/svg}"


def _panel(**kw) -> svg.Panel:
    return svg.Panel(svg.Scale(0, 10), svg.Scale(0, 1), left=50, top=10, width=500, height=300, **kw)


def _parse(uri_or_svg: str) -> ET.Element:
    if uri_or_svg.startswith("data:image/svg+xml;base64,"):
        uri_or_svg = base64.b64decode(uri_or_svg.split(",", 1)[1]).decode("utf-8")
    return ET.fromstring(uri_or_svg)  # raises on anything that is not well-formed XML


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def _path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", d)]


def test_linear_axes_put_known_points_on_known_pixels():
    p = _panel()
    assert p.px([0, 5, 10]).tolist() == [50, 300, 550]
    assert p.py([0, 0.5, 1]).tolist() == [310, 160, 10]  # SVG's y grows downwards
    p.line([0, 10], [0, 1], color="#000")
    d = re.search(r'<path d="([^"]*)" fill="none" stroke="#000"', p.render("c")).group(1)
    assert _path_points(d) == [(50, 310), (550, 10)]


def test_log_axes_put_each_decade_an_equal_distance_apart():
    p = svg.Panel(svg.Scale(1e-3, 1, log=True), svg.Scale(1e-4, 1, log=True), left=0, top=0, width=300, height=400)
    assert p.px([1e-3, 1e-2, 1e-1, 1]) == pytest.approx([0, 100, 200, 300])
    assert p.py([1e-4, 1e-2, 1]) == pytest.approx([400, 200, 0])
    assert np.isnan(p.px(0.0)) and np.isnan(p.px(-1.0))  # no place on a log axis: left out, not clamped
    ticks = [v for v, _ in svg.Scale(1e-3, 1, log=True).ticks()]
    assert ticks == pytest.approx([1e-3, 1e-2, 1e-1, 1])
    assert [s for _, s in svg.Scale(1e-3, 1, log=True).ticks()] == ["10⁻³", "10⁻²", "10⁻¹", "1"]


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (-0.37, 1.04), (0.45, 1.0), (0, 12345), (-1e-4, 3e-4), (31, 33)])
def test_linear_ticks_are_round_evenly_spaced_and_inside_the_range(lo, hi):
    ticks = svg.Scale(lo, hi).ticks()
    values = np.array([v for v, _ in ticks])
    assert 3 <= len(values) <= 13
    assert values.min() >= lo - 1e-12 and values.max() <= hi + 1e-12
    steps = np.diff(values)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    for v, label in ticks:  # each label is its value, with a typographic minus
        assert float(label.replace("−", "-")) == pytest.approx(v, abs=steps[0] / 100)


def test_text_is_escaped_and_characters_xml_cannot_hold_are_dropped():
    hostile = "<script>alert('x')</script> & \"q\" \x00\x07 $\\alpha$ \ud800"
    p = _panel(xlabel=hostile, title=hostile)
    p.line([0, 1], [0, 1], color="#000", label=hostile)
    p.legend()
    out = svg.document(600, 360, [p], title=hostile)
    assert "<script" not in out and "\x00" not in out and "\x07" not in out
    root = _parse(out)
    expected = "<script>alert('x')</script> & \"q\"  $\\alpha$ "  # markup kept as text, controls dropped
    assert _texts(root).count(expected) == 3  # x label, title, legend
    assert root.find(f"{NS}title").text == expected
    assert svg.data_uri(out).startswith("data:image/svg+xml;base64,")


def test_nan_breaks_a_line_and_empty_or_all_nan_input_draws_nothing():
    p = _panel()
    p.line([0, 1, 2, 3, 4], [0, 0.5, np.nan, 0.5, 0], color="#111")
    d = re.search(r'<path d="([^"]*)" fill="none" stroke="#111"', p.render("c")).group(1)
    assert d.count("M") == 2 and len(_path_points(d)) == 4
    q = _panel()
    q.line([np.nan, np.nan], [1, 2], color="#222")
    q.dots([], [], color="#333", label="none")
    q.bars([0, 1, 2], [np.nan, 0], color="#444")
    q.legend("best")
    out = q.render("c")
    assert "#222" not in out and 'stroke="#333"' not in out.split("<rect")[0] and 'fill="#444"' not in out
    _parse(svg.document(600, 360, [q]))
    nothing = svg.Scale(np.nan, np.inf)
    assert (nothing.lo, nothing.hi) == (0.0, 1.0)
    assert (svg.Scale(3, 3).lo, svg.Scale(3, 3).hi) == (2.5, 3.5)  # a single value still gets a width
    assert svg.Scale(0, 0, log=True).lo > 0


def test_coincident_dots_are_drawn_once_as_dark_as_their_stack():
    p = _panel()
    p.dots([1, 1, 1, 9], [0.5, 0.5, 0.5, 0.1], color="#123456", opacity=0.5)
    paths = re.findall(r'<path d="([^"]*)" stroke="#123456"[^>]*?(?: stroke-opacity="([\d.]+)")?/>', p.render("c"))
    by_opacity = {float(o or 1): d.count("M") for d, o in paths}
    assert by_opacity == {0.5: 1, 0.875: 1}  # one lone dot; three stacked: 1 − 0.5³


def test_histogram_bars_rise_to_their_counts():
    p = svg.Panel(svg.Scale(0, 3), svg.Scale(0, 10), left=0, top=0, width=300, height=100)
    p.bars([0, 1, 2, 3], [10, 0, 5], color="#abcdef")
    d = re.search(r'<path d="([^"]*)" fill="#abcdef"', p.render("c")).group(1)
    # bin 0 from x 0 to 100 up to y 0 (count 10 = top); bin 1 empty, not drawn; bin 2 to y 50
    assert d == "M0 100V0H100V100ZM200 100V50H300V100Z"


def test_output_is_deterministic():
    """The same data draws the same bytes (the jitter is seeded), so a report can be diffed."""
    rng = np.random.default_rng(0)
    mem, counts = rng.normal(0.1, 0.2, 500), rng.integers(3, 9, 500)
    assert plots.memorization_histogram(mem, mem > 0.4) == plots.memorization_histogram(mem.copy(), mem > 0.4)
    assert plots.score_vs_in_count(mem, counts) == plots.score_vs_in_count(mem.copy(), counts.copy())


def test_every_classifier_plot_is_well_formed_svg_with_its_labels():
    rng = np.random.default_rng(0)
    n = 400
    mem = np.round(rng.normal(0.05, 0.2, n) * 8) / 8
    mem[:5] = np.nan
    planted = rng.random(n) < 0.05
    names = ["zero", "<b>one</b>", "t$w$o & more"]
    charts = {
        "histogram": plots.memorization_histogram(mem, planted),
        "in-count": plots.score_vs_in_count(mem, rng.integers(2, 7, n), planted),
        "strip": plots.score_vs_in_count(mem, np.full(n, 4), planted),
        "proxy": plots.proxy_vs_memorization(mem, mem + rng.normal(0, 0.1, n), "self-influence", planted)[0],
        "per class": plots.per_class(mem, rng.integers(0, 3, n), names),
        "roc": plots.roc_curves({"lira": {"auc": 0.61, "roc": {"fpr": [0, 0.001, 0.5, 1], "tpr": [0, 0.01, 0.7, 1]},
                                          "n_nonmembers": 200}}),
        "curve": plots.privacy_over_training({"epoch": [1, 2, 3], "attacks": {
            "lira": {"auc": [0.5, 0.6, 0.7], "tpr_at_fpr": {"0.001": [0.0, 0.01, 0.05], "0.01": [0.01, 0.05, 0.1]}}}}),
    }  # fmt: skip
    texts = {k: _texts(_parse(v)) for k, v in charts.items()}
    assert "examples (log scale)" in texts["histogram"] and f"planted ({int((planted & np.isfinite(mem)).sum())})" in texts["histogram"]
    assert "4" in texts["strip"] and "mean" not in texts["strip"] and "mean" in texts["in-count"]
    assert any(t.startswith("Spearman ρ = ") for t in texts["proxy"]) and "self-influence" in texts["proxy"]
    assert all(name in texts["per class"] for name in names)  # escaped in the file, literal on screen
    assert "lira  (AUC 0.610)" in texts["roc"] and "chance" in texts["roc"]
    assert "TPR at 0.1% FPR (log)" in texts["curve"] and "AUC" in texts["curve"]


def test_per_class_bars_are_as_long_as_the_class_means():
    mem = np.array([0.1, 0.3, 0.5, 0.5])
    labels = np.array([0, 0, 1, 1])
    root = _parse(plots.per_class(mem, labels, ["a", "b"]))
    bars = [p.get("d") for p in root.iter(f"{NS}path") if p.get("fill") == plots.CLEAN]
    assert len(bars) == 1
    spans = [(float(z), float(t)) for z, t in re.findall(r"M(-?[\d.]+) [-\d.]+H(-?[\d.]+)", bars[0])]
    lengths = [t - z for z, t in spans]
    assert lengths[1] / lengths[0] == pytest.approx(0.5 / 0.2, rel=0.02)  # class a (mean 0.2) on top


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.integers(0, 6, 50).astype(float)  # many ties
        b = a + rng.integers(0, 4, 50)
        assert plots.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(plots.spearman(np.ones(5), np.arange(5.0)))
