"""The language-model report's sections below the verdict: exposure and extractability plots,
the table of every document and canary, and the run's details.
"""

from __future__ import annotations

import math

import numpy as np

from memlens.report import examples, plots
from memlens.report.facts import Section, esc
from memlens.report.lm_data import (
    EXCERPT,
    EXPOSED_BITS,
    LM_HELP,
    _col,
    _items,
    exposure_column,
    sort_rows,
)
from memlens.report.sections import _dl, _figure, _value

# --- plots --------------------------------------------------------------------------------------


def exposure_vs_repeats(repeats, exposure, control=None) -> tuple[str, float]:
    """Each canary's exposure (its excess over the control, when given) against its insertion
    count, with the mean per count and the control's mean per count; and Spearman's rho."""
    from scipy.stats import spearmanr

    r = np.asarray(repeats, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(e)
    rho = float("nan")
    if ok.sum() > 2 and np.unique(r[ok]).size > 1 and np.unique(e[ok]).size > 1:
        rho = float(spearmanr(r[ok], e[ok]).statistic)
    fig, ax = plots._figure()
    ax.scatter(r[ok] * np.exp2(plots._jitter(int(ok.sum()), 0.08)), e[ok], s=18, color=plots.PLANTED,
               alpha=0.7, linewidths=0, label="canary")  # fmt: skip
    levels = np.unique(r[ok])
    if levels.size:
        ax.plot(levels, [e[ok][r[ok] == v].mean() for v in levels], color=plots.INK, linewidth=1.5,
                marker="o", markersize=4, label="mean")  # fmt: skip
    if control is not None and levels.size:
        c = np.asarray(control, dtype=np.float64)
        ax.plot(levels, [np.nanmean(c[ok][r[ok] == v]) for v in levels], color="#718096", linewidth=1.2,
                linestyle="-.", marker="s", markersize=3, label="tokenizer-only control (mean)")  # fmt: skip
    ax.axhline(EXPOSED_BITS, color=plots.THRESHOLD, linestyle="--", linewidth=1.2,
               label=f"exposed (≥ {EXPOSED_BITS:g} bits)")  # fmt: skip
    if levels.size and levels.min() > 0:
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, labels=[f"{int(v)}" for v in levels])
    ax.set_xlabel("insertions of the canary in the training corpus")
    ax.set_ylabel("exposure (bits)" if control is None else "bits (excess = exposure − control)")
    ax.set_title(
        f"Spearman ρ = {rho:.2f}" if math.isfinite(rho) else "", fontsize=9, color=plots.INK
    )
    plots._legend(ax, loc="upper left")
    return plots._png_uri(fig), rho


def extractable_vs_repeats(repeats, extractable, is_canary) -> str:
    """Fraction of texts extractable at each repeat count, documents and canaries separately."""
    r = np.asarray(repeats, dtype=np.float64)
    x = np.asarray(extractable, dtype=bool)
    can = np.asarray(is_canary, dtype=bool)
    fig, ax = plots._figure()
    levels = np.unique(r[np.isfinite(r)])
    for mask, name, color in ((~can, "documents", plots.CLEAN), (can, "canaries", plots.PLANTED)):
        pts = [(v, x[mask & (r == v)].mean(), int((mask & (r == v)).sum())) for v in levels
               if (mask & (r == v)).any()]  # fmt: skip
        if not pts:
            continue
        xs, ys, ns = zip(*pts, strict=True)
        ax.plot(xs, ys, color=color, marker="o", markersize=5, linewidth=1.6, label=name)
        for xv, yv, nv in pts:
            ax.annotate(f"n={nv}", (xv, yv), textcoords="offset points", xytext=(4, 5), fontsize=7,
                        color="#718096")  # fmt: skip
    if levels.size and levels.min() > 0 and levels.size > 1:
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, labels=[f"{int(v)}" for v in levels])
    ax.set_ylim(-0.04, 1.08)
    ax.set_xlabel("occurrences in the training corpus (repeats)")
    ax.set_ylabel("fraction extractable")
    plots._legend(ax, loc="upper left")
    return plots._png_uri(fig)


def plots_section(frame) -> Section:
    kind = (
        frame["kind"].astype(str).to_numpy()
        if "kind" in frame.columns
        else np.full(len(frame), "document")
    )
    can = kind == "canary"
    repeats = _col(frame, "repeats", np.float64, 1.0)
    has_control = exposure_column(frame) == "exposure_excess"
    exposure = _col(frame, exposure_column(frame))
    extractable = _col(frame, "extractable_at_k", np.float64, -1.0) >= 0
    figs = []
    if can.any() and np.isfinite(exposure[can]).any():
        control = _col(frame, "exposure_control")[can] if has_control else None
        uri, rho = exposure_vs_repeats(repeats[can], exposure[can], control)
        what = "exposure in excess of the tokenizer-only control" if has_control else "exposure"
        figs.append(_figure(
            uri, "Canary exposure vs insertion count",
            f"Each dot is a canary: its {what} against how many times it was inserted in the training "
            "corpus" + (f" (Spearman ρ = {rho:.2f})." if math.isfinite(rho) else "."),
            "exposure is how far up the model ranks the true secret among all candidates, in bits"
            + ("; the control is the same under untrained models with the same tokenizer (chance ≈ 1.44 bits), "
               "and the excess is what training added" if has_control else "")
            + f". A canary above the dashed line ({EXPOSED_BITS:g} bits) is exposed. A rise with insertions is "
            "memorization growing with duplication.",
            "scatter of canary exposure against insertion count",
        ))  # fmt: skip
    if len(frame):
        figs.append(_figure(
            extractable_vs_repeats(repeats, extractable, can), "Extractable rate vs repeats",
            "The fraction of texts that greedy decoding reproduces exactly from a prefix, by how often the "
            "text occurs in training; documents (blue) and canaries (orange) separately.",
            "a rising line means duplicated text is regurgitated more; n is the number of texts behind each point.",
            "line chart of the extractable fraction against repeats",
        ))  # fmt: skip
    if not figs:
        figs.append('<p class="notice">The run has no rows to plot.</p>')
    return Section("lm-plots", "Language model: plots", f'<div class="plots">{"".join(figs)}</div>')


# --- the table and details ----------------------------------------------------------------------


def table_section(frame) -> tuple[Section, str]:
    table = sort_rows(frame).copy()
    if "text" in table.columns:
        table["text"] = [
            examples.text_excerpt("" if v is None else v, EXCERPT) for v in table["text"].tolist()
        ]
    if "kind" in table.columns:
        table.insert(2, "canary", table["kind"].astype(str).eq("canary"))
    if "text" in table.columns:  # last, so the scores sit next to the ids (the text column wraps)
        table = table[[c for c in table.columns if c != "text"] + ["text"]]
    body = (
        '<div class="controls"><input type="search" id="filter" placeholder="filter: words in the text or id, '
        'or column&gt;value such as exposure&gt;=10 or extractable_at_k&gt;=0" aria-label="filter rows">'
        '<label><input type="checkbox" id="only-planted"> canaries only</label>'
        '<div class="pager"><button id="first" type="button">«</button><button id="prev" type="button">‹</button>'
        '<span id="page-info"></span><button id="next" type="button">›</button>'
        '<button id="last" type="button">»</button></div></div>'
        '<div class="tablewrap"><table class="scores lm" id="scores-table"></table></div>'
        '<p class="hint">Sorted by exposure (excess over the control when measured), then by extractability (shortest prefix first). Click a column '
        "name to sort (again to reverse); hover it for its meaning. The filter keeps rows matching every "
        "word: plain words search ids, kinds and text; <code>column&gt;number</code>, <code>&lt;</code>, "
        "<code>&gt;=</code>, <code>&lt;=</code>, <code>=</code>, <code>!=</code> compare a column. "
        "Highlighted rows are canaries.</p>"
    )
    sub = (
        f"Every document and canary of the run ({len(table):,}) with every score and the first "
        f"{EXCERPT} characters of its text, 100 rows a page; also in <code>lm_scores.parquet</code>."
    )
    extra = {"sort": exposure_column(frame), "planted": "canary"}
    data = (
        '<script type="application/json" id="memlens-data">'
        f"{examples.table_json(table, [], help=LM_HELP, extra=extra)}</script>"
    )
    return Section("lm-table", "Documents and canaries", body, sub), data


def _bits(v) -> str:
    """A mean exposure in bits, two decimals: 4.342311291792973 → '4.34'."""
    return f"{v:.2f}" if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else _value(v)


def details_section(result: dict) -> Section:
    config = result.get("config", {}) if isinstance(result.get("config"), dict) else {}
    summary = result.get("summary", {}) if isinstance(result.get("summary"), dict) else {}
    by_repeats = summary.get("exposure_by_repeats") or {}
    control, excess = summary.get("control_by_repeats") or {}, summary.get("excess_by_repeats") or {}
    exposure_items = [
        (f"{k}×", _bits(v) if k not in excess else
         f"{_bits(v)} · control {_bits(control.get(k))} · excess {_bits(excess[k])}")
        for k, v in by_repeats.items()
    ]  # fmt: skip
    engine = config.get("engine") if isinstance(config.get("engine"), dict) else {}
    blocks = [
        ("Configuration", _items({k: v for k, v in config.items() if k != "engine"}, config=True)),
        ("Counterfactual engine", _items(engine, config=True)),
        ("Mean exposure by insertions (bits)", exposure_items),
        ("Canary exposure protocol", list((summary.get("exposure_protocol") or {}).items())
         if isinstance(summary.get("exposure_protocol"), dict) else []),
    ]  # fmt: skip
    body = (
        '<div class="plots">'
        + "".join(
            f'<div class="card"><h3>{esc(t)}</h3>{_dl(items)}</div>' for t, items in blocks if items
        )
        + "</div>"
    )
    return Section("lm-details", "Run details", body, "From <code>lm.json</code>.")


