"""The capacity report: how wide a memorizing construction had to be, or what each layer still decodes.

:func:`write_capacity_report` turns the directory written by ``memlens capacity construct`` or
``memlens capacity decode`` (``capacity.json`` and ``constructions.parquet`` / ``masc.parquet``)
into ``RUN/report.html``. Constructions: a verdict on how the width grew with N (the fitted
log–log slope and its interval, beside the slope the construction is built to have), width
against N on log–log axes with the fit and a √N reference line, and one table row per N. MASC:
the best layer for the test labels against the network's own test accuracy, accuracy curves
layer by layer, and a table per layer; with several audit runs (one per label-corruption rate ρ),
the test and corrupted-training curves with one line per ρ and a table of the best layer per ρ. The page uses the classification report's shell
(:func:`memlens.report.page.shell`): inline figures, no scripts beyond the shell's, no network.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from memlens.report.facts import Section, duration, esc, number, pct, read_summary
from memlens.report.plots import ATTACK_COLORS, CLEAN, INK, THRESHOLD, _figure, _legend, _png_uri
from memlens.report.sections import _figure as _card
from memlens.report.verdict import _tile

__all__ = ["build_capacity", "is_capacity_run", "layer_plot", "rate_label", "rate_plot", "slope_words", "width_plot",
           "write_capacity_report"]

METHOD_NAMES = {
    "sqrt-n": "Yun et al.'s √N memorizer (two hidden ReLU layers)",
    "interpolating": "Dirksen et al.'s randomized threshold network",
    "mimm": "MIMM (LS-SVM with a maximum-impact memory term)",
    "wimm": "WIMM (LS-SVM with a weighted memory term)",
}


def is_capacity_run(path) -> bool:
    """A directory written by ``memlens capacity`` (it holds capacity.json and no audit's scores.parquet)."""
    path = Path(path)
    return (path / "capacity.json").is_file() and not (path / "scores.parquet").exists()


def write_capacity_report(run_path) -> Path:
    """Write ``run_path / "report.html"`` for a capacity directory, atomically; return its path.

    Example:
        >>> from memlens.report.capacity_section import write_capacity_report
        >>> write_capacity_report("runs/sqrt-n")                        # doctest: +SKIP
        PosixPath('runs/sqrt-n/report.html')
    """
    from memlens.report.page import save_page

    return save_page(run_path, build_capacity(Path(run_path)))


def _read(path: Path) -> dict:
    return read_summary(
        path, "capacity.json", valid=lambda r: r.get("kind") in ("constructions", "masc", "sweep"),
        missing=f"{path} holds no capacity.json; run `memlens capacity construct`, `decode` or `sweep` first.",
        foreign=f"{path / 'capacity.json'} is not the summary of `memlens capacity construct`, `decode` or `sweep` "
                "(its 'kind' is missing or unknown); re-run the command that wrote it.",
    )  # fmt: skip


def build_capacity(path) -> str:
    """The whole capacity page for the directory ``path``, as a string."""
    path = Path(path)
    result = _read(path)
    if result["kind"] == "constructions":
        verdict_html, sections = construction_verdict(result), [construction_plots(result), construction_table(result)]
        label = f"capacity · {esc(result.get('method', '?'))}"
    elif result["kind"] == "sweep":
        verdict_html, sections = sweep_verdict(result), [sweep_plots(result), sweep_table(result)]
        label = "capacity · width sweep"
    elif len(result.get("runs") or []) > 1:
        verdict_html, sections = rates_verdict(result), [rates_plots(result), rates_table(result)]
        label = "capacity · MASC decoding per corruption rate"
    else:
        verdict_html, sections = masc_verdict(result), [masc_plots(result), masc_table(result)]
        label = "capacity · MASC decoding"
    return shell_page(path, result, label, verdict_html, sections)


def shell_page(path: Path, result: dict, label: str, verdict_html: str, sections) -> str:
    from memlens.report.page import shell

    return shell(
        title="memlens capacity report", label=label, name=str(result.get("dataset", path.name)),
        meta=f"{esc(path)} · {esc(result.get('created', ''))}", verdict_html=verdict_html, sections=sections,
        table_data="",
        footer="Written by memlens. √N memorizer: Yun, Sra &amp; Jadbabaie (NeurIPS 2019). Randomized "
        "interpolation: Dirksen, Finke &amp; Genzel (JMLR 2024). MIMM/WIMM: Wang, Wang &amp; Shao (2023). MASC: "
        "Ketha &amp; Ramaswamy (2025). ",
    )  # fmt: skip


def _fmt(x, digits: int = 2) -> str:
    x = number(x)
    return "–" if not math.isfinite(x) else f"{x:.{digits}f}"


# --------------------------------------------------------------------------------------- constructions


def slope_words(slope: dict, reference: float | None) -> str:
    """How the width grew, in words: 'like √N', 'linearly', 'barely', with the fitted exponent."""
    b = number(slope.get("slope"))
    low, high = number(slope.get("low")), number(slope.get("high"))
    interval = f" (95% interval {low:.2f} to {high:.2f})" if math.isfinite(low) and math.isfinite(high) else ""
    if b < 0.2:
        shape = "barely grows with N"
    elif b < 0.7:
        shape = "grows like √N, far slower than N"
    elif b < 1.2:
        shape = "grows linearly in N: about a unit per example, a lookup table"
    else:
        shape = "grows faster than N"
    ref = ""
    if reference is not None:
        inside = math.isfinite(low) and low <= reference <= high
        ref = (f"; the construction is built for exponent {reference:g}"
               + (", inside the interval" if inside else (", outside the interval" if interval else "")))
    return f"the total hidden width {shape}: width ∝ N<sup>{b:.2f}</sup>{interval}{ref}"


def construction_verdict(result: dict) -> str:
    rows = result.get("rows") or []
    method = str(result.get("method", "?"))
    slope = result.get("slope") or {}
    train = [number(r.get("train_accuracy")) for r in rows]
    held = [number(r.get("heldout_accuracy")) for r in rows]
    worst = min(train) if train else math.nan
    fits_all = bool(train) and worst == 1.0
    sizes = [int(r["n"]) for r in rows]
    headline = (
        f"{esc(METHOD_NAMES.get(method, method))} {'memorized every training example' if fits_all else 'did not memorize every training example'}"
        f" at N = {', '.join(f'{n:,}' for n in sizes)}; {slope_words(slope, result.get('reference_slope'))}."
    )
    last = rows[-1] if rows else {}
    tiles = [
        _tile("width exponent", _fmt(slope.get("slope")), "fitted slope of log width vs log N"),
        _tile("training accuracy", pct(worst), "lowest over the sizes (100% = interpolates)", "" if fits_all else "warn"),
        _tile(f"held-out accuracy at N = {last.get('n', '?')}", pct(held[-1]) if held else "–",
              f"on the {last.get('heldout_n', 0):,} examples not fitted"),
        _tile("time", duration(number(result.get("seconds"))), "all fits"),
    ]
    labels = str(result.get("labels", "given"))
    findings = [
        f"<b>Data</b>: {esc(result.get('dataset', '?'))}, {result.get('pool', '?')} examples with "
        f"{result.get('features', '?')} features and {result.get('classes', '?')} classes; "
        + ("the labels were replaced by uniformly random ones, so nothing but memorization can fit them and "
           "held-out accuracy should sit at chance." if labels == "random" else "the dataset's own labels."),
        "<b>Subsets</b>: each N is the first N examples of one class-balanced random order (nested subsets); "
        "the rest of the pool is held out.",
    ]
    errors = [number(r.get("max_abs_error")) for r in rows if r.get("max_abs_error") is not None]
    if errors:
        findings.append(f"<b>Exactness</b>: the largest |f(x<sub>i</sub>) − y<sub>i</sub>| of the real-valued "
                        f"network over the training points was {max(errors):.2g} (float64).")
    data_sized = result.get("slope_data_sized") or {}
    if method == "interpolating" and data_sized:
        findings.append(f"<b>Layer 2</b>: the fixed {result.get('n_hidden')} random hyperplanes dominate the total; "
                        f"the greedy-cover layer alone grows as N<sup>{_fmt(data_sized.get('slope'))}</sup>.")
    return (
        '<section id="verdict" class="card verdict"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def width_plot(sizes, widths, slope: float, intercept: float, *, reference: float = 0.5,
               xlabel: str = "training examples N (log scale)", ylabel: str = "total hidden width (log scale)",
               points: str = "total hidden width") -> str:
    """Width against size on log–log axes, with the fitted power law and a reference power (√N by default)
    through the point of the smallest size."""
    from matplotlib.ticker import FuncFormatter

    n = np.asarray(sizes, dtype=np.float64)
    order = np.argsort(n, kind="stable")
    n, w = n[order], np.asarray(widths, dtype=np.float64)[order]
    fig, ax = _figure()
    ax.plot(n, w, color=CLEAN, marker="o", markersize=5, linewidth=0, label=points)
    grid = np.geomspace(n.min(), n.max(), 50)
    ax.plot(grid, np.exp(intercept) * grid**slope, color=THRESHOLD, linewidth=1.4, label=f"fit: exponent {slope:.2f}")
    ref = "√N reference" if reference == 0.5 else f"exponent {reference:g} reference"
    ax.plot(grid, w[0] * (grid / n[0]) ** reference, color=INK, linestyle=":", linewidth=1.3, label=ref)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = np.unique(n)
    ax.set_xticks(ticks, labels=[f"{v:,.4g}" for v in ticks])  # the sizes themselves, not 3×10² labels that collide
    ax.minorticks_off()
    ax.set_yticks(np.unique(np.sort(w)[[0, len(w) // 2, -1]]))  # the smallest, a middle and the largest width
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _legend(ax, loc="best")
    return _png_uri(fig)


def construction_plots(result: dict) -> Section:
    rows = result.get("rows") or []
    slope = result.get("slope") or {}
    if len(rows) < 2:
        body = '<p class="notice">One size only: no width curve to draw.</p>'
    else:
        uri = width_plot([r["n"] for r in rows], [r["width_total"] for r in rows], number(slope.get("slope")),
                         number(slope.get("intercept")))
        body = _card(
            uri, "Width vs N", "The total hidden width the construction needed at each training-set size N, on "
            "log–log axes, with the fitted power law (solid) and a √N line through the smallest N (dotted).",
            "a slope of ½ is Yun et al.'s √N; a slope of 1 is one unit per example; parallel to the dotted "
            "line means √N growth.", "log–log scatter of width against N with a fitted line")
    return Section("cap-plots", "Plots", f'<div class="plots">{body}</div>')


def construction_table(result: dict) -> Section:
    head = ("N", "widths", "total width", "parameters", "training accuracy", "max error", "held-out accuracy",
            "seconds")
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            f"{int(r['n']):,}", esc(",".join(map(str, r.get("widths", [])))), f"{int(r['width_total']):,}",
            f"{int(r['parameters']):,}", pct(number(r.get("train_accuracy"))),
            "–" if r.get("max_abs_error") is None else f"{number(r['max_abs_error']):.2g}",
            pct(number(r.get("heldout_accuracy"))), _fmt(r.get("seconds"), 3))) + "</tr>"
        for r in result.get("rows") or [])
    table = (f'<div class="card"><table class="small" id="cap-sizes"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
             f"</tr></thead><tbody>{body}</tbody></table></div>")
    return Section("cap-table", "Sizes", table, "One row per training-set size; the same numbers as constructions.parquet.")


# --------------------------------------------------------------------------------------- MASC


def _layer_series(result: dict, kind: str, column: str) -> list[float]:
    return [number(v) for v in (((result.get("masc") or {}).get(kind) or {}).get(column) or {}).get("mean", [])]


def masc_verdict(result: dict) -> str:
    layers = [str(x) for x in result.get("layers") or []]
    test = _layer_series(result, "given", "test")
    network = number(result.get("network_test_accuracy"))
    best = int(np.nanargmax(test)) if test and np.isfinite(test).any() else None
    best_acc = test[best] if best is not None else math.nan
    if best is None:
        headline = "No layer could be decoded."
    else:
        gap = best_acc - network if math.isfinite(network) else math.nan
        compare = ("" if not math.isfinite(gap) else
                   f", {abs(gap) * 100:.1f} points {'above' if gap >= 0 else 'below'} the network's own {pct(network)}")
        headline = (f"The test labels are best decoded from <b>{esc(layers[best])}</b>: MASC test accuracy "
                    f"{pct(best_acc)}{compare}.")
        if best < len(layers) - 1:
            headline += " Later layers decode them worse: they have memorized the training labels at the cost of the pattern."
    planted = int(number(result.get("planted")) or 0)
    tiles = [
        _tile("best layer", esc(layers[best]) if best is not None else "–", "highest MASC test accuracy"),
        _tile("MASC test accuracy", pct(best_acc), "given-label subspaces, mean over models"),
        _tile("network test accuracy", pct(network), "the audited models themselves"),
        _tile("models", str(result.get("models", "?")), f"{planted:,} planted examples"),
    ]
    noisy = _layer_series(result, "true", "noisy_true")
    findings = [
        f"<b>Run</b>: {esc(result.get('audit_run', '?'))} ({esc(result.get('dataset', '?'))}"
        + (f", plants {esc(', '.join(result.get('plants') or []))}" if result.get("plants") else "")
        + f"); subspaces keep {_fmt(result.get('explained_variance'), 2)} of each class's second moment.",
    ]
    if noisy and np.isfinite(noisy).any():
        findings.append("<b>Corrupted examples</b>: their true labels are decodable (true-label subspaces) at "
                        + ", ".join(f"{esc(n)} {pct(v)}" for n, v in zip(layers, noisy, strict=False)) + ".")
    return (
        '<section id="verdict" class="card verdict"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def layer_plot(layers, curves: dict, network: float | None = None) -> str:
    """Accuracy per layer, one line per curve name; the network's test accuracy as a dashed line."""
    fig, ax = _figure()
    x = np.arange(len(layers))
    for i, (name, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=np.float64)
        if np.isfinite(v).any():
            ax.plot(x, v, marker="o", markersize=5, linewidth=1.8, color=ATTACK_COLORS[i % len(ATTACK_COLORS)],
                    label=name)
    if network is not None and math.isfinite(network):
        ax.axhline(network, color=THRESHOLD, linestyle="--", linewidth=1.2, label="network test accuracy")
    ax.set_xticks(x, labels=list(layers))
    ax.set_ylim(-0.04, 1.06)
    ax.set_xlabel("layer")
    ax.set_ylabel("MASC accuracy (mean over models)")
    _legend(ax, loc="best")
    return _png_uri(fig)


def masc_plots(result: dict) -> Section:
    layers = [str(x) for x in result.get("layers") or []]
    curves = {
        "test (given-label subspaces)": _layer_series(result, "given", "test"),
        "training, given labels": _layer_series(result, "given", "train_given"),
        "test (true-label subspaces)": _layer_series(result, "true", "test"),
        "corrupted examples' true labels": _layer_series(result, "true", "noisy_true"),
    }
    uri = layer_plot(layers, curves, number(result.get("network_test_accuracy")))
    body = _card(
        uri, "Decodability layer by layer", "MASC accuracy at each layer, mean over the audited models: on the "
        "test set, on each model's training examples against the labels it was given, and, with subspaces "
        "fitted on the true labels, on the corrupted examples' true labels.",
        "a test curve that peaks before the last layer and stays above the dashed line means earlier layers "
        "keep the pattern that later layers overwrite to memorize.", "line chart of accuracy against layer")
    return Section("cap-plots", "Plots", f'<div class="plots">{body}</div>')


def masc_table(result: dict) -> Section:
    layers = [str(x) for x in result.get("layers") or []]
    columns = [("given", "test", "test"), ("given", "train_given", "training (given)"),
               ("given", "clean", "clean training"), ("true", "test", "test, true subspaces"),
               ("true", "noisy_true", "corrupted → true label"), ("given", "mean_components", "components")]
    series = {c: _layer_series(result, kind, c_) for kind, c_, c in columns}
    rows = []
    for i, name in enumerate(layers):
        cells = [esc(name)]
        for _, column, title in columns:
            v = series[title][i] if i < len(series[title]) else math.nan
            cells.append(_fmt(v, 1) if column == "mean_components" else pct(v))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["layer", *[t for _, _, t in columns]])
    table = (f'<div class="card"><table class="small" id="cap-layers"><thead><tr>{head}</tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    return Section("cap-table", "Layers", table, "Means over models; per-model rows are in masc.parquet.")


def rate_label(corruption) -> str:
    """The legend name of a label-corruption rate: "ρ = 0.2"; a run with no label noise planted is ρ = 0."""
    rate = number(corruption)
    return "ρ = 0 (no label noise)" if not math.isfinite(rate) else f"ρ = {rate:g}"


def _by_rate(result: dict) -> list[dict]:
    """The runs of a multi-run decode, by increasing corruption rate (no label noise first)."""
    runs = list(result.get("runs") or [])
    return sorted(runs, key=lambda r: (number(r.get("corruption")) if r.get("corruption") is not None else 0.0))


def rate_plot(layers, curves: list[tuple[str, list[float]]], *, networks: list[float] | None = None,
              ylabel: str = "MASC accuracy (mean over models)") -> str:
    """Accuracy per layer, one line per corruption rate, coloured from light (low ρ) to dark (high ρ).

    ``networks`` (one per curve) draws each rate's network test accuracy as a dashed line of its colour.
    """
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    fig, ax = _figure()
    shades = colormaps["viridis_r"](np.linspace(0.15, 0.95, max(len(curves), 2)))
    for i, (name, values) in enumerate(curves):
        v = np.asarray(values, dtype=np.float64)
        if np.isfinite(v).any():
            ax.plot(np.arange(len(v)), v, marker="o", markersize=5, linewidth=1.8, color=shades[i], label=name)
        net = number(networks[i]) if networks is not None else math.nan
        if math.isfinite(net):
            ax.axhline(net, color=shades[i], linestyle="--", linewidth=1.0, alpha=0.8)
    handles, names = ax.get_legend_handles_labels()
    if networks is not None and any(math.isfinite(number(n)) for n in networks):
        handles.append(Line2D([], [], color=INK, linestyle="--", linewidth=1.0))
        names.append("network test accuracy (dashed)")
    ax.set_xticks(np.arange(len(layers)), labels=list(layers))
    ax.set_ylim(-0.04, 1.06)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    if handles:
        leg = ax.legend(handles, names, fontsize=8, frameon=False, loc="best")
        for text in leg.get_texts():
            text.set_parse_math(False)
            text.set_color(INK)
    return _png_uri(fig)


def _best(run: dict) -> tuple[int | None, float]:
    test = _layer_series(run, "given", "test")
    if not test or not np.isfinite(test).any():
        return None, math.nan
    best = int(np.nanargmax(test))
    return best, test[best]


def rates_verdict(result: dict) -> str:
    runs = _by_rate(result)
    low, high = runs[0], runs[-1]
    (_, low_acc), (_, high_acc) = _best(low), _best(high)
    parts = []
    for run in runs:
        best, acc = _best(run)
        layers = [str(x) for x in run.get("layers") or []]
        parts.append(f"{esc(rate_label(run.get('corruption')))}: <b>{esc(layers[best]) if best is not None else '–'}"
                     f"</b> ({pct(acc)}, network {pct(number(run.get('network_test_accuracy')))})")
    headline = (f"Across {len(runs)} label-corruption rates, the best layer's MASC test accuracy goes from "
                f"{pct(low_acc)} at {esc(rate_label(low.get('corruption')))} to {pct(high_acc)} at "
                f"{esc(rate_label(high.get('corruption')))}; the network's own test accuracy from "
                f"{pct(number(low.get('network_test_accuracy')))} to {pct(number(high.get('network_test_accuracy')))}.")
    gaps = [_best(r)[1] - number(r.get("network_test_accuracy")) for r in runs]
    finite = [g for g in gaps if math.isfinite(g)]
    tiles = [
        _tile("runs", str(len(runs)), "one audit per corruption rate"),
        _tile(f"best MASC test at {esc(rate_label(high.get('corruption')))}", pct(high_acc),
              "given-label subspaces, mean over models"),
        _tile(f"network test at {esc(rate_label(high.get('corruption')))}",
              pct(number(high.get("network_test_accuracy"))), "the audited models themselves"),
        _tile("largest gain over the network", "–" if not finite else f"{max(finite) * 100:+.1f} pts",
              "best layer minus network test accuracy"),
        _tile("time", duration(number(result.get("seconds"))), "all runs"),
    ]
    findings = [f"<b>Best layer per rate</b>: {'; '.join(parts)}.",
                "<b>Runs</b>: " + "; ".join(
                    f"{esc(r.get('audit_run', '?'))} ({esc(r.get('dataset', '?'))}, {r.get('models', '?')} models"
                    + (f", plants {esc(', '.join(r.get('plants') or []))}" if r.get("plants") else "") + ")"
                    for r in runs)
                + f"; subspaces keep {_fmt(result.get('explained_variance'), 2)} of each class's second moment."]
    return (
        '<section id="verdict" class="card verdict"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def rates_plots(result: dict) -> Section:
    runs = _by_rate(result)
    layers = max(([str(x) for x in r.get("layers") or []] for r in runs), key=len)
    names = [rate_label(r.get("corruption")) for r in runs]
    test = rate_plot(layers, [(n, _layer_series(r, "given", "test")) for n, r in zip(names, runs, strict=True)],
                     networks=[number(r.get("network_test_accuracy")) for r in runs],
                     ylabel="MASC test accuracy (mean over models)")
    noisy = rate_plot(layers, [(n, _layer_series(r, "given", "noisy_given")) for n, r in zip(names, runs, strict=True)],
                      ylabel="MASC accuracy on corrupted examples")
    body = _card(
        test, "Test accuracy by layer, per corruption rate", "MASC test accuracy at each layer with subspaces "
        "fitted on each model's training examples and the labels it was given, mean over models; one line per "
        "label-corruption rate ρ, the network's own test accuracy dashed in the same colour.",
        "curves that peak before the last layer and sit above their dashed line mean earlier layers keep the "
        "pattern that later layers overwrite; more corruption usually lowers and moves the peak earlier.",
        "line chart of MASC test accuracy against layer, one line per corruption rate") + _card(
        noisy, "Corrupted training examples by layer, per corruption rate", "MASC accuracy on the training "
        "examples whose labels were corrupted, against those (wrong) given labels, with given-label subspaces; "
        "one line per ρ (a run without label noise has no such examples and no line).",
        "a curve that climbs to the last layer means the corrupted labels are memorized late in the network.",
        "line chart of MASC accuracy on corrupted examples against layer, one line per corruption rate")
    return Section("cap-plots", "Plots", f'<div class="plots">{body}</div>')


def rates_table(result: dict) -> Section:
    head = ("corruption", "run", "best layer", "MASC test at best layer", "network test accuracy", "gap",
            "network train accuracy", "corrupted (given) at last layer")
    rows = []
    for run in _by_rate(result):
        layers = [str(x) for x in run.get("layers") or []]
        best, acc = _best(run)
        network = number(run.get("network_test_accuracy"))
        gap = acc - network
        noisy = _layer_series(run, "given", "noisy_given")
        cells = (esc(rate_label(run.get("corruption"))), esc(run.get("audit_run", "?")),
                 esc(layers[best]) if best is not None else "–", pct(acc), pct(network),
                 "–" if not math.isfinite(gap) else f"{gap * 100:+.1f} pts",
                 pct(number(run.get("network_train_accuracy"))), pct(noisy[-1]) if noisy else "–")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = (f'<div class="card"><table class="small" id="cap-rates"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return Section("cap-table", "Corruption rates", table,
                   "One row per audit run, by increasing ρ; per-model, per-layer rows are in masc.parquet.")


# --------------------------------------------------------------------------------------- width sweep


def sweep_verdict(result: dict) -> str:
    rows = result.get("rows") or []
    fit = result.get("slope") or {}
    found = [r for r in rows if r.get("q_min") is not None]
    if fit.get("slope") is None:
        law = esc(fit.get("reason", "no exponent could be fitted"))
    else:
        b, low, high = number(fit.get("slope")), number(fit.get("low")), number(fit.get("high"))
        interval = f" (95% interval {low:.2f} to {high:.2f})" if math.isfinite(low) and math.isfinite(high) else ""
        inside = math.isfinite(low) and low <= 1.0 <= high
        law = (f"the smallest width that fits grows as (m/d)<sup>{b:.2f}</sup>{interval}; Daniely predicts "
               f"exponent 1 up to log factors" + (", inside the interval" if inside else ""))
    headline = f"{len(found)} of {len(rows)} settings found a width that fits every random label; {law}."
    ratios = [number(r.get("q_min_d_over_m")) for r in found]
    tiles = [
        _tile("exponent", _fmt(fit.get("slope")), "slope of log q<sub>min</sub> vs log m/d"),
        _tile("q<sub>min</sub>·d/m", f"{min(ratios):.2f} – {max(ratios):.2f}" if ratios else "–",
              "width per point per dimension"),
        _tile("models trained", f"{sum(int(r.get('models', 0)) for r in rows):,}", "over all rounds"),
        _tile("time", duration(number(result.get("seconds"))), "all settings"),
    ]
    findings = [
        f"<b>Problem</b>: m points uniform on the sphere in R<sup>d</sup> with uniform ±1 labels, "
        f"{result.get('draws', '?')} draws per setting; a width passes when it fits 100% of the points in at least "
        f"{result.get('required', '?')} draws.",
        f"<b>Training</b>: two-layer ReLU networks, first layer only, full-batch Adam (lr {_fmt(result.get('lr'), 3)}) "
        f"for at most {result.get('epochs', '?')} epochs; up to {result.get('rounds', '?')} bisection rounds of "
        f"{result.get('probes', '?')} widths.",
    ]
    missing = [r for r in rows if r.get("q_min") is None]
    if missing:
        findings.append("<b>No width fitted</b> at " + ", ".join(f"m={r['m']}, d={r['d']}" for r in missing)
                        + ": raise --epochs or --rounds.")
    return (
        '<section id="verdict" class="card verdict"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def sweep_plots(result: dict) -> Section:
    found = [r for r in result.get("rows") or [] if r.get("q_min") is not None]
    fit = result.get("slope") or {}
    if fit.get("slope") is None:
        body = '<p class="notice">Fewer than two distinct m/d with a fitted width: no curve to draw.</p>'
    else:
        uri = width_plot([r["m_over_d"] for r in found], [r["q_min"] for r in found], number(fit["slope"]),
                         number(fit["intercept"]), reference=1.0, xlabel="m/d (log scale)",
                         ylabel="smallest width that fits, q_min (log scale)", points="q_min of one (m, d)")
        body = _card(uri, "Smallest width vs m/d", "The smallest width fitting every random label, per (m, d), on "
                     "log–log axes, with the fitted power law (solid) and a line of slope 1 through the first point.",
                     "parallel to the dotted line is Daniely's q ∝ m/d: about one parameter per point.",
                     "log–log scatter of q_min against m/d with a fitted line")
    return Section("cap-plots", "Plots", f'<div class="plots">{body}</div>')


def sweep_table(result: dict) -> Section:
    head = ("m", "d", "m/d", "q<sub>min</sub>", "bracket", "q<sub>min</sub>·d/m", "rounds", "models", "seconds")
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            r["m"], r["d"], _fmt(r.get("m_over_d"), 2), "–" if r.get("q_min") is None else r["q_min"],
            f"({r.get('bracket_low')}, {'–' if r.get('bracket_high') is None else r['bracket_high']}]",
            _fmt(r.get("q_min_d_over_m"), 2), r.get("rounds", "?"), r.get("models", "?"), _fmt(r.get("seconds"), 1),
        )) + "</tr>"
        for r in result.get("rows") or [])
    table = (f'<div class="card"><table class="small" id="cap-sweep"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
             f"</tr></thead><tbody>{body}</tbody></table></div>")
    return Section("cap-table", "Settings", table, "One row per (m, d); the same numbers as sweep.parquet.")
