"""The comparison page of ``memlens compare``: did each mitigation remove memorization, at what cost?

:func:`build_compare` turns the dict :func:`memlens.compare.compare_runs` writes as ``compare.json``
(and the runs it read, for class names and stored thumbnails) into ``DIR/report.html``: a verdict
sentence per mitigation, the privacy–utility frontier (test accuracy against TPR at 0.1% FPR and
against the audited ε lower bound, one labelled point per run with its intervals, the Pareto front
drawn), the before/after memorization scatter per mitigation, a table of every run, and the
examples whose memorization fell most and least. The page uses the audit report's shell
(:func:`memlens.report.page.shell`): inline figures, no network.
"""

from __future__ import annotations

import math

import numpy as np

from memlens.report.facts import Section, esc, number, pct
from memlens.report.plots import (
    ATTACK_COLORS,
    CLEAN,
    INK,
    PLANTED,
    THRESHOLD,
    _figure,
    _legend,
    _png_uri,
)
from memlens.report.sections import _figure as _card
from memlens.report.sections import _view
from memlens.report.verdict import _tile

__all__ = ["before_after_scatter", "build_compare", "frontier_plot"]

EXTRA_CSS = ("table.small td img.thumb { width: 44px; height: 44px; image-rendering: pixelated; display: block; }"
             " #compare-runs td:nth-child(2) { text-align: left; min-width: 10em; }")
SCATTERS = 8  # before/after scatters drawn at most (one per AFTER run)


def _signed(x, digits: int = 2) -> str:
    x = number(x)
    return "–" if not math.isfinite(x) else f"{x:+.{digits}f}".replace("-", "−")


# --- figures -----------------------------------------------------------------------------------


def frontier_plot(names, accuracy, accuracy_low, accuracy_high, leakage, leakage_low, leakage_high, front,
                  *, ylabel: str) -> str:
    """Test accuracy (x) against a leakage figure (y), one labelled point per run with its interval
    bars (NaN: none), and the Pareto front (``front``: indices sorted by accuracy) as a step line.

    The first run is BEFORE (drawn hollow); lower and further right is better.
    """
    x, x0, x1, y, y0, y1 = (np.asarray(v, dtype=np.float64) for v in
                            (accuracy, accuracy_low, accuracy_high, leakage, leakage_low, leakage_high))
    fig, ax = _figure(6.0, 4.0)
    ok = np.isfinite(x) & np.isfinite(y)
    for i in np.flatnonzero(ok):
        color = ATTACK_COLORS[i % len(ATTACK_COLORS)]
        xerr = [[max(x[i] - x0[i], 0)], [max(x1[i] - x[i], 0)]] if np.isfinite(x0[i]) and np.isfinite(x1[i]) else None
        yerr = [[max(y[i] - y0[i], 0)], [max(y1[i] - y[i], 0)]] if np.isfinite(y0[i]) and np.isfinite(y1[i]) else None
        ax.errorbar(x[i], y[i], xerr=xerr, yerr=yerr, fmt="o", markersize=7, color=color, ecolor=color,
                    elinewidth=1.0, capsize=3, markerfacecolor="white" if i == 0 else color)
        ax.annotate(str(names[i]) + (" (before)" if i == 0 else ""), (x[i], y[i]), textcoords="offset points",
                    xytext=(6, 6), fontsize=8, color=INK).set_parse_math(False)
    if len(front) > 1:
        fx, fy = x[list(front)], y[list(front)]
        # the edge of what the front dominates: up from each point, then across to the next
        ax.step(fx, fy, where="pre", color=THRESHOLD, linestyle="--", linewidth=1.2, label="Pareto front")
    elif len(front) == 1:
        ax.plot(x[front], y[front], "s", markersize=13, markerfacecolor="none", color=THRESHOLD, label="Pareto front")
    ax.set_xlabel("test accuracy (mean over models, 95% interval)")
    ax.set_ylabel(ylabel)
    if ok.any():
        _legend(ax, loc="best")
    return _png_uri(fig)


def before_after_scatter(before, after, planted=None, *, name: str = "after") -> str:
    """Each example's memorization before (x) and after (y), planted ones highlighted, with y = x."""
    b, a = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    planted = np.zeros(b.shape, bool) if planted is None else np.asarray(planted, bool)
    ok = np.isfinite(b) & np.isfinite(a)
    fig, ax = _figure(4.8, 4.4)
    size = 8 if ok.sum() < 5000 else 2
    # scores sit on a grid of k/M values: spread each point within a third of the grid step, the same each time
    grid = np.unique(np.r_[b[ok], a[ok]])
    step = min(float(np.diff(grid).min()), 0.1) if grid.size > 1 else 0.1
    jx, jy = (np.random.default_rng(0).random((2, len(b))) - 0.5) * 0.6 * step
    ax.scatter(b[ok & ~planted] + jx[ok & ~planted], a[ok & ~planted] + jy[ok & ~planted], s=size, color=CLEAN,
               alpha=0.35, linewidths=0, label="clean", rasterized=True)
    if (ok & planted).any():
        ax.scatter(b[ok & planted] + jx[ok & planted], a[ok & planted] + jy[ok & planted], s=size + 8,
                   color=PLANTED, alpha=0.85, linewidths=0, label="planted", rasterized=True)
    lo = min(-0.1, float(np.nanmin(np.r_[b[ok], a[ok]])) if ok.any() else 0)
    ax.plot([lo, 1.05], [lo, 1.05], color="#718096", linestyle="--", linewidth=1.0, label="no change")
    ax.set_xlim(lo, 1.05)
    ax.set_ylim(lo, 1.05)
    ax.set_xlabel("memorization before")
    ax.set_ylabel(f"memorization after: {name}").set_parse_math(False)
    _legend(ax, loc="upper left", markerscale=2)
    return _png_uri(fig)


# --- page --------------------------------------------------------------------------------------


def _best(summary: dict, level: str) -> tuple[float, float, float]:
    best = summary.get("best_attack")
    if not best:
        return math.nan, math.nan, math.nan
    attack = summary["attacks"][best]
    ci = attack.get("tpr_ci", {}).get(level) or [math.nan, math.nan]
    return number(attack["tpr_at_fpr"].get(level)), number(ci[0]), number(ci[1])


def _accuracy(summary: dict) -> tuple[float, float, float]:
    acc = summary.get("test_accuracy") or {}
    return number(acc.get("mean")), number(acc.get("low")), number(acc.get("high"))


def verdict_section(result: dict) -> str:
    pairs = result["comparisons"]
    before = result["runs"][0]
    fell = [p for p in pairs if number(p["memorization_change"]["high"]) < 0]
    headline = (f"{len(fell)} of {len(pairs)} mitigation(s) lowered memorization on the same "
                f"{result['n_examples']:,} examples (95% interval of the mean change below 0)"
                if pairs else "Nothing to compare.")
    tpr, _, _ = _best(before, "0.001")
    acc, _, _ = _accuracy(before)
    m = before["memorization"]
    tiles = [
        _tile("before: mean memorization", "–" if not m["n"] else f"{m['mean']:.3f}",
              f"95% interval {m['low']:.3f}…{m['high']:.3f}" if m["n"] else "no example scored"),
        _tile("before: TPR at 0.1% FPR", pct(tpr), f"best attack ({esc(before.get('best_attack') or 'none')})"),
        _tile("before: test accuracy", pct(acc), "mean over models"),
        _tile("before: audited ε", "–" if before["epsilon_lower_bound"] is None else f"≥ {before['epsilon_lower_bound']:.2f}",
              "largest lower bound over the attacks"),
    ]
    findings = [f"<b>{esc(p['label'])}</b>: {esc(p['verdict'].split(': ', 1)[-1])}" for p in pairs]
    findings.append(
        "Changes are after − before, on the examples scored in both runs; examples a run excluded from training "
        "have no memorization and are left out. The audited ε is a heuristic lower bound (examples under a few "
        "target models, not independent training runs); the accountant's ε, where DP-SGD was used, is an upper bound.")
    return ('<section id="verdict" class="card verdict"><h1>Verdict</h1>'
            f'<p class="headline">{esc(headline)}</p><div class="tiles">{"".join(tiles)}</div>'
            f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>')


def frontier_section(result: dict) -> Section:
    runs = result["runs"]
    names = [r["name"] for r in runs]
    acc = np.array([_accuracy(r) for r in runs], dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(acc[:, 0]).any():
        return Section("frontier", "Privacy–utility frontier",
                       '<p class="notice">No run has a test split, so there is no test accuracy to draw the '
                       "frontier against; the table of runs below still compares their leakage.</p>")
    from memlens.compare import pareto_front

    tpr = np.array([_best(r, "0.001") for r in runs], dtype=np.float64).reshape(-1, 3)
    eps = np.array([number(r["epsilon_lower_bound"]) for r in runs])
    nan = np.full(len(runs), np.nan)
    cards = [
        _card(frontier_plot(names, acc[:, 0], acc[:, 1], acc[:, 2], tpr[:, 0], tpr[:, 1], tpr[:, 2],
                            pareto_front(acc[:, 0], tpr[:, 0]), ylabel="TPR at 0.1% FPR (best attack)"),
              "Accuracy vs membership leakage",
              "One point per run: its test accuracy against the true-positive rate of its strongest attack at "
              "0.1% false positives, with 95% intervals; the dashed line joins the runs no other run beats on both.",
              "down and to the right is better; a mitigation left of BEFORE paid in accuracy, one below it leaks "
              "less; points off the dashed front are beaten by another run.", "scatter of TPR against test accuracy"),
        _card(frontier_plot(names, acc[:, 0], acc[:, 1], acc[:, 2], eps, nan, nan, pareto_front(acc[:, 0], eps),
                            ylabel="audited ε lower bound (largest over attacks)"),
              "Accuracy vs audited ε",
              "The same runs against the largest ε lower bound their attacks prove (95% confidence, a heuristic "
              "bound; the accountant's upper bound of DP-SGD runs is in the table below).",
              "down and to the right is better; a bound of 0 means the attacks proved nothing, not that the run "
              "is private.", "scatter of the epsilon lower bound against test accuracy"),
    ]
    return Section("frontier", "Privacy–utility frontier", f'<div class="plots">{"".join(cards)}</div>')


def scatter_section(result: dict, runs) -> Section:
    before = runs[0]
    cards = []
    for run, pair in list(zip(runs[1:], result["comparisons"], strict=True))[:SCATTERS]:
        c = pair["memorization_change"]
        cards.append(_card(
            before_after_scatter(before.memorization, run.memorization, before.planted, name=run.name),
            f"Before vs {run.name}",
            f"Each example's memorization in {esc(before.name)} (x) and {esc(run.name)} (y); mean change "
            f"{_signed(c['mean'])} ({_signed(c['low'])}…{_signed(c['high'])}), {c['decreased']:,} examples fell, "
            f"{c['increased']:,} rose, {c['unchanged']:,} unchanged.",
            "points below the dashed diagonal lost memorization; orange points are planted (e.g. flipped "
            "labels), which a working mitigation pulls down most.", "scatter of memorization after against before"))
    more = len(runs) - 1 - SCATTERS
    note = f'<p class="notice">{more} more run(s) are not drawn; their figures are in compare.json.</p>' if more > 0 else ""
    return Section("scatter", "Before and after", f'<div class="plots">{"".join(cards)}</div>{note}')


def _ci(low, high, digits: int = 3, percent: bool = False) -> str:
    low, high = number(low), number(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    text = f"{pct(low)}…{pct(high)}" if percent else f"{low:.{digits}f}…{high:.{digits}f}"
    return f'<span class="ci">{text}</span>'


def runs_section(result: dict) -> Section:
    head = ("run", "mitigation", "memorization", "planted", "change vs before", "TPR@0.1%", "TPR@1%", "AUC",
            "audited ε ≥", "one-run ε ≥", "accountant ε ≤", "test accuracy", "removed")
    changes = {p["after"]: p["memorization_change"] for p in result["comparisons"]}
    present = {  # a column no run has a value for is left out
        "planted": any(r.get("planted_memorization") for r in result["runs"]),
        "one-run ε ≥": any(r["one_run_epsilon_lower_bound"] is not None for r in result["runs"]),
        "removed": any(r["removed"]["excluded"] or r["removed"]["unscored"] for r in result["runs"]),
    }
    shown = [present.get(h, True) for h in head]
    head = tuple(h for h, keep in zip(head, shown, strict=True) if keep)
    rows = []
    for r in result["runs"]:
        m, p = r["memorization"], r.get("planted_memorization")
        c = changes.get(r["name"]) if r.get("role") == "after" else None
        t1, t1l, t1h = _best(r, "0.001")
        t2, t2l, t2h = _best(r, "0.01")
        best = r.get("best_attack")
        a, al, ah = _accuracy(r)
        cells = [
            esc(r["name"]), esc("; ".join(r["mitigation"]["words"])),
            ("–" if not m["n"] else f"{m['mean']:.3f} {_ci(m['low'], m['high'])}"),
            ("–" if not p or not p["n"] else f"{p['mean']:.3f} {_ci(p['low'], p['high'])}"),
            ("" if c is None else f"{_signed(c['mean'], 3)} {_ci(c['low'], c['high'])}"),
            f"{pct(t1)} {_ci(t1l, t1h, percent=True)}", f"{pct(t2)} {_ci(t2l, t2h, percent=True)}",
            "–" if not best else f"{r['attacks'][best]['auc']:.3f}",
            "–" if r["epsilon_lower_bound"] is None else f"{r['epsilon_lower_bound']:.2f}",
            "–" if r["one_run_epsilon_lower_bound"] is None else f"{r['one_run_epsilon_lower_bound']:.2f}",
            "–" if r["epsilon_upper_bound"] is None else f"{r['epsilon_upper_bound']:.3g}",
            f"{pct(a)} {_ci(al, ah, percent=True)}",
            f"{len(r['removed']['excluded']):,} excluded" + (f", {r['removed']['unscored']:,} unscored" if r["removed"]["unscored"] else ""),
        ]
        cells = [c for c, keep in zip(cells, shown, strict=True) if keep]
        rows.append(f'<tr{" class=best" if r.get("role") == "before" else ""}>' + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    table = (f'<div class="card tablewrap"><table class="small" id="compare-runs"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    return Section("runs", "Runs", table,
                   "One row per run (the first, in bold, is BEFORE). Memorization: mean Feldman–Zhang score with a "
                   "bootstrap interval over examples; TPR and AUC: the strongest attack of each run, with the "
                   "intervals of its mia.json; test accuracy: mean over models with a t interval over models.")


def _label(classes: list[str], v: int) -> str:
    return classes[v] if 0 <= v < len(classes) else str(v)


def examples_section(result: dict, runs) -> Section:
    before = runs[0]
    classes = [str(c) for c in before.config.get("dataset", {}).get("classes", [])]
    blocks = []
    for run, pair in zip(runs[1:], result["comparisons"], strict=True):
        for key, title in (("fell_most", "fell most"), ("fell_least", "fell least (or rose)")):
            rows = []
            for ex in pair[key]:
                stored = before.gallery.get(ex["id"]) or run.gallery.get(ex["id"])
                view = _view(stored, ex["id"]).replace("<img ", '<img class="thumb" ') if stored is not None else ""
                rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in (
                    f"#{ex['id']}", view, esc(_label(classes, ex["label"])), "yes" if ex["planted"] else "",
                    f"{ex['before']:.2f}", f"{ex['after']:.2f}", _signed(ex["change"]))) + "</tr>")
            head = "".join(f"<th>{h}</th>" for h in ("id", "example", "label", "planted", "before", "after", "change"))
            blocks.append(f'<div class="card"><h3>{esc(run.name)}: memorization {title}</h3>'
                          f'<table class="small"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    return Section("examples", "Examples whose memorization fell most and least", f'<div class="plots">{"".join(blocks)}</div>',
                   "Per mitigation, the common examples with the largest fall and the smallest fall (or a rise). Pictures "
                   "appear when a run's gallery stored the example (its 48 most memorized).")


def details_section(result: dict) -> Section:
    items = []
    for p in result["comparisons"]:
        c = p["memorization_change"]
        pl = p.get("planted_memorization_change")
        lines = [
            ("examples compared", f"{c['n_common']:,} ({p['removed']['not_compared']:,} left out: excluded or unscored)"),
            ("mean change", f"{_signed(c['mean'], 4)} (paired bootstrap 95% {_signed(c['low'], 4)}…{_signed(c['high'], 4)})"),
            ("median change", _signed(c["median"], 4)),
            ("fell / rose / unchanged", f"{c['decreased']:,} / {c['increased']:,} / {c['unchanged']:,}"),
            ("sign test p", f"{number(c['sign_test_p']):.3g}"),
            ("Wilcoxon signed-rank p", f"{number(c['wilcoxon_p']):.3g}"),
        ]
        if pl:
            lines.append(("planted: mean change", f"{_signed(pl['mean'], 3)} ({_signed(pl['low'], 3)}…{_signed(pl['high'], 3)}) "
                                                  f"on {pl['n_common']:,}"))
        if p["removed"]["excluded_by_after"]:
            ids = p["removed"]["excluded_by_after"]
            lines.append(("removed ids", ", ".join(map(str, ids[:30])) + (" …" if len(ids) > 30 else "")))
        dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in lines)
        items.append(f'<div class="card"><h3>{esc(p["before"])} → {esc(p["after"])}</h3><dl class="config">{dl}</dl></div>')
    paths = "".join(f"<dt>{esc(r['name'])}</dt><dd class=mono>{esc(r['path'])}</dd>" for r in result["runs"])
    items.append(f'<div class="card"><h3>Runs read</h3><dl class="config">{paths}</dl></div>')
    return Section("details", "Paired tests and details", f'<div class="plots">{"".join(items)}</div>',
                   "Sign test: two-sided binomial test of falls against rises (ties dropped); Wilcoxon: signed-rank test "
                   "of the nonzero changes. Everything here is also in compare.json.")


def build_compare(result: dict, runs, out) -> str:
    """The whole comparison page as a string (``runs``: the :class:`memlens.compare.RunFacts` compared)."""
    from memlens.report.page import shell

    sections = [frontier_section(result), scatter_section(result, runs), runs_section(result),
                examples_section(result, runs), details_section(result)]
    dataset = result.get("dataset", {}).get("name") or "runs"
    return shell(
        title="memlens comparison", label="comparison", name=str(dataset),
        meta=f"{esc(out)} · {esc(result.get('created', ''))}", verdict_html=verdict_section(result),
        sections=sections, table_data="", extra_css=EXTRA_CSS,
        footer="Written by memlens compare. Memorization: Feldman &amp; Zhang (NeurIPS 2020). ε lower bounds: "
        "Jagielski et al. (NeurIPS 2020), Steinke, Nasr &amp; Jagielski (NeurIPS 2023). ",
    )
