"""The report's figures, each returned as an inline ``data:`` URI for an ``<img>`` tag.

The classification page's figures (memorization histogram, ROC, in-count and proxy scatters,
per-class bars, leakage over training) are hand-written SVG (:mod:`memlens.report.svg`): matplotlib's
import and four PNG renders were most of ``memlens report``'s time. The other pages' figures
(generative, language-model, capacity, comparison) are matplotlib, drawn off-screen with the
object-oriented API (no pyplot, no global state, no display backend) as ``data:image/png`` URIs;
matplotlib is imported only when one of them is drawn. Text from the user's data (class names)
is escaped in SVG and drawn with ``parse_math=False`` in matplotlib, so a ``$`` is a dollar sign.
"""

from __future__ import annotations

import base64
import io
import math
import warnings

import numpy as np

from memlens.report import svg

CLEAN = "#4c72b0"
PLANTED = "#dd6b20"
THRESHOLD = "#c53030"
ATTACK_COLORS = ("#2b6cb0", "#805ad5", "#2f855a", "#b7791f", "#c53030", "#319795", "#d53f8c")
GRID = "#e2e8f0"
INK = "#2d3748"
DPI = 144


def _figure(width: float = 6.0, height: float = 3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_subplot()
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#a0aec0")
    ax.tick_params(colors=INK, labelsize=8.5)
    ax.xaxis.label.set_color(INK)
    ax.yaxis.label.set_color(INK)
    return fig, ax


def _png_uri(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing glyphs in exotic class names are not our error
        fig.savefig(
            buf,
            format="png",
            dpi=DPI,
            bbox_inches="tight",
            pad_inches=0.08,
            metadata={"Software": None},
        )
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _legend(ax, **kw) -> None:
    leg = ax.legend(fontsize=8, frameon=False, **kw)
    for text in leg.get_texts():
        text.set_parse_math(False)
        text.set_color(INK)


# --- the classification page: hand-written SVG (memlens.report.svg), no matplotlib -------------

WIDTH = 600  # px: a 6-inch matplotlib figure at 100 px an inch, so both kinds of figure match
FONT = 13.0


def _panel(x: svg.Scale, y: svg.Scale, *, width: float = WIDTH, height: float = 360, left: float = 70,
           title: str = "", **kw) -> svg.Panel:  # fmt: skip
    """A single plot area in a ``width`` × ``height`` chart, margins left for ticks and labels."""
    top = 30 if title else 14
    return svg.Panel(x, y, left=left, top=top, width=width - left - 18, height=height - top - 50, title=title,
                     font=FONT, **kw)  # fmt: skip


def _span(values, *, margin: float = 0.05, log: bool = False, lo=None, hi=None) -> svg.Scale:
    """A scale over the finite ``values`` (positive ones when ``log``) with matplotlib's 5% margins;
    ``lo``/``hi`` pin an end."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    if v.size == 0:
        return svg.Scale(lo if lo is not None else (0.1 if log else 0.0), hi if hi is not None else 1.0, log=log)
    a, b = float(v.min()), float(v.max())
    if log:
        pad = (b / a) ** margin if b > a else 2.0
        a, b = a / pad, b * pad
    else:
        pad = (b - a) * margin if b > a else 0.5
        a, b = a - pad, b + pad
    return svg.Scale(lo if lo is not None else a, hi if hi is not None else b, log=log)


def _chart(panels, width: float, height: float, title: str) -> str:
    return svg.data_uri(svg.document(width, height, panels, title=title))


def memorization_histogram(memorization, planted=None, *, threshold: float = 0.5) -> str:
    """Counts of examples per memorization bin (log count axis), planted and clean overlaid.

    Args:
        memorization: (N,) float, Feldman–Zhang scores in [-1, 1]; NaN is left out.
        planted: (N,) bool or None.

    Returns:
        A ``data:image/svg+xml`` URI.
    """
    mem = np.asarray(memorization, dtype=np.float64)
    ok = np.isfinite(mem)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    bins = _bins(mem[ok])
    clean = np.histogram(mem[ok & ~planted], bins=bins)[0]
    found = np.histogram(mem[ok & planted], bins=bins)[0]
    x = _span(np.r_[bins, threshold])
    top = max(int(clean.max(initial=0)), int(found.max(initial=0)), 1)
    ax = _panel(x, svg.Scale(0.7, top * 1.8, log=True),
                xlabel="memorization  (accuracy when trained on it − accuracy when held out)",
                ylabel="examples (log scale)")  # fmt: skip
    ax.bars(bins, clean, color=CLEAN, opacity=0.75, label=f"clean ({int(clean.sum()):,})")
    if planted.any():
        ax.outline(bins, found, color=PLANTED, width=2.0, label=f"planted ({int((ok & planted).sum()):,})")
    ax.vline(threshold, color=THRESHOLD, dash="--", width=1.2, label=f"strongly memorized (≥ {threshold:g})")
    ax.legend("upper right")
    return _chart([ax], WIDTH, 360, "histogram of memorization scores")


def _bins(values: np.ndarray) -> np.ndarray:
    """Histogram bin edges: one bin per value when scores are few distinct values (k/8 − j/8 with
    8 models a side), else 0.05 wide; always reaching from below 0 to 1."""
    if values.size == 0:
        return np.linspace(-0.1, 1.0, 23)
    distinct = np.unique(values)
    lo, hi = min(float(distinct[0]), 0.0), max(float(distinct[-1]), 1.0)
    if 1 < len(distinct) <= 64:
        step = float(np.min(np.diff(distinct)))
        if step >= 0.02 and np.allclose(
            (distinct - distinct[0]) / step, np.round((distinct - distinct[0]) / step), atol=1e-6
        ):
            first, last = np.floor((lo - distinct[0]) / step), np.ceil((hi - distinct[0]) / step)
            return distinct[0] + (np.arange(first, last + 2) - 0.5) * step  # centred on the values
    return np.arange(np.floor(lo * 20) / 20, hi + 0.05 + 1e-9, 0.05)


def roc_curves(attacks: dict) -> str:
    """ROC curves of every attack on log–log axes, with the chance diagonal.

    Args:
        attacks: name -> ``{"auc": float, "roc": {"fpr": [...], "tpr": [...]}}``.
    """
    smallest = 1.0
    curves = []
    for name, m in attacks.items():
        fpr = np.asarray(m["roc"]["fpr"], dtype=np.float64)
        tpr = np.asarray(m["roc"]["tpr"], dtype=np.float64)
        keep = fpr > 0
        if keep.any():
            smallest = min(smallest, float(fpr[keep].min()))
        curves.append((name, m, fpr[keep], tpr[keep]))
    # below one over the number of non-members the curve carries no information
    negatives = min((m.get("n_nonmembers") or 0) for m in attacks.values()) if attacks else 0
    if negatives:
        smallest = max(smallest, 0.5 / negatives)
    smallest = max(min(smallest, 1e-3), 1e-6)
    ax = _panel(svg.Scale(smallest, 1, log=True), svg.Scale(smallest, 1.05, log=True), height=400,
                xlabel="false-positive rate (non-members called members)", ylabel="true-positive rate (members found)")  # fmt: skip
    for level in (1e-3, 1e-2):
        if level > smallest:
            ax.vline(level, color="#a0aec0", dash=":", width=1.0)
    for i, (name, m, fpr, tpr) in enumerate(curves):
        ax.line(fpr, np.maximum(tpr, smallest / 10), color=ATTACK_COLORS[i % len(ATTACK_COLORS)], width=1.8,
                steps=True, label=f"{name}  (AUC {m['auc']:.3f})")  # fmt: skip
    ax.line([smallest, 1], [smallest, 1], color="#718096", dash="--", width=1.0, label="chance")
    ax.legend("lower right")
    return _chart([ax], WIDTH, 400, "ROC curves of the membership-inference attacks on log-log axes")


def _jitter(n: int, width: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(0).random(n) - 0.5) * 2 * width  # fixed seed: same page twice


def _dot_radius(n: int) -> float:
    return 1.7 if n < 5000 else 1.0  # matplotlib's s=6 / s=2 points², at 100 px an inch


def score_vs_in_count(memorization, in_count, planted=None) -> str:
    """Each example's memorization against how many models trained on it (the evidence behind it)."""
    mem = np.asarray(memorization, dtype=np.float64)
    count = np.asarray(in_count, dtype=np.float64)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    ok = np.isfinite(mem)
    x = count + _jitter(len(count), 0.25)  # in-counts are integers: spread them a little
    levels = np.unique(count[ok])
    strip = len(levels) == 1  # one design-fixed in-count: a strip, labelled as such
    xs = svg.Scale(levels[0] - 1, levels[0] + 1) if strip else _span(x[ok])
    ax = _panel(xs, _span(mem[ok]), xlabel="in-count  (models that trained on the example)", ylabel="memorization",
                xticks=[(float(levels[0]), f"{levels[0]:g}")] if strip else None, grid_x=not strip)  # fmt: skip
    r = _dot_radius(len(mem))
    ax.dots(x[ok & ~planted], mem[ok & ~planted], color=CLEAN, radius=r, opacity=0.35, label="clean")
    if planted.any():
        ax.dots(x[ok & planted], mem[ok & planted], color=PLANTED, radius=r + 0.8, opacity=0.8, label="planted")
    if 1 < len(levels) <= 200:
        sums = np.bincount(np.searchsorted(levels, count[ok]), weights=mem[ok], minlength=len(levels))
        means = sums / np.bincount(np.searchsorted(levels, count[ok]), minlength=len(levels))
        ax.line(levels, means, color=INK, width=1.5, label="mean")
    ax.legend("upper right")
    return _chart([ax], WIDTH, 360, "scatter of memorization against in-count")


def spearman(a, b) -> float:
    """Spearman's rank correlation of two (N,) arrays (ties get their average rank), NaN when either
    is constant; scipy.stats.spearmanr's statistic without scipy.stats' import."""
    ra, rb = _ranks(np.asarray(a, dtype=np.float64)), _ranks(np.asarray(b, dtype=np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / norm if norm > 0 else float("nan")


def _ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks of ``v`` with ties averaged (scipy.stats.rankdata's default)."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.r_[True, sorted_v[1:] != sorted_v[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(v)] - 1
    ranks = np.empty(len(v))
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def proxy_vs_memorization(memorization, proxy, name: str, planted=None) -> tuple[str, float]:
    """A cheap score against Feldman–Zhang memorization; returns the URI and Spearman's rho."""
    mem = np.asarray(memorization, dtype=np.float64)
    score = np.asarray(proxy, dtype=np.float64)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    ok = np.isfinite(mem) & np.isfinite(score)
    rho = spearman(mem[ok], score[ok]) if ok.sum() > 2 else float("nan")
    ax = _panel(_span(mem[ok]), _span(score[ok]), xlabel="Feldman–Zhang memorization", ylabel=name,
                title=f"Spearman ρ = {rho:.2f}" if np.isfinite(rho) else "too few finite values")  # fmt: skip
    r = _dot_radius(len(mem))
    ax.dots(mem[ok & ~planted], score[ok & ~planted], color=CLEAN, radius=r, opacity=0.35, label="clean")
    if planted.any():
        ax.dots(mem[ok & planted], score[ok & planted], color=PLANTED, radius=r + 0.8, opacity=0.8, label="planted")
    ax.legend("best")
    return _chart([ax], WIDTH, 360, f"scatter of {name} against memorization"), rho


def per_class(memorization, labels, class_names, *, threshold: float = 0.5, limit: int = 40) -> str:
    """Mean memorization per given label, with its standard error, as horizontal bars.

    Args:
        memorization: (N,) float.
        labels: (N,) int, the labels the models were trained on.
        class_names: one display name per class.
        limit: more classes than this shows the ``limit`` highest means only.
    """
    mem = np.asarray(memorization, dtype=np.float64)
    labels = np.asarray(labels)
    ok = np.isfinite(mem)
    n_classes = max(len(class_names), int(labels.max()) + 1 if len(labels) else 0)
    counts = np.bincount(labels[ok], minlength=n_classes).astype(np.float64)
    sums = np.bincount(labels[ok], weights=mem[ok], minlength=n_classes)
    squares = np.bincount(labels[ok], weights=mem[ok] ** 2, minlength=n_classes)
    strong = np.bincount(
        labels[ok], weights=(mem[ok] >= threshold).astype(float), minlength=n_classes
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        var = np.maximum(squares / counts - mean**2, 0) * counts / np.maximum(counts - 1, 1)
        se = np.sqrt(var / counts)
    order = np.arange(n_classes)
    if n_classes > limit:
        order = np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")[:limit]
    names = [_short(class_names[c] if c < len(class_names) else str(c)) for c in order]
    m, e = np.nan_to_num(mean[order]), np.nan_to_num(se[order])
    right = float(np.max(m + e)) if len(order) else 0.1
    xs = svg.Scale(min(0.0, float(m.min(initial=0.0)) * 1.1), max(right * 1.25, 0.05))
    height = round(max(2.2, 0.26 * len(order) + 0.9) * 100)
    left = 24 + max((svg.text_width(n, FONT * 0.85) for n in names), default=0.0)
    rows = len(order) - 1 - np.arange(len(order))  # the first class on top
    ax = _panel(xs, svg.Scale(-0.6, max(len(order), 1) - 0.4), height=height, left=left, grid_y=False,
                xlabel="mean memorization of the class (± standard error)",
                yticks=[(float(r), n) for r, n in zip(rows, names, strict=True)])  # fmt: skip
    ax.hbars(rows, m, e, color=CLEAN, opacity=0.85)
    for r, c, mi, ei in zip(rows, order, m, e, strict=True):
        ax.text(max(mi + ei, 0) + right * 0.02, r, f"{int(strong[c])} ≥ {threshold:g}", size=FONT * 0.72)
    return _chart([ax], WIDTH, height, "bar chart of mean memorization per class")


def _short(name: str, n: int = 28) -> str:
    name = " ".join(str(name).split())
    return name if len(name) <= n else name[: n - 1] + "…"


def privacy_over_training(curve: dict) -> str:
    """Each attack's AUC (left) and TPR at the lowest FPR level (right) at every evaluation.

    Args:
        curve: ``training_curve.json``: ``{"epoch": [S], "attacks": {name: {"auc": [S],
            "tpr_at_fpr": {key: [S]}}}}`` (see :mod:`memlens.estimate.over_training`).
    """
    attacks = curve.get("attacks", {})
    epochs = np.asarray(curve.get("epoch") or [], dtype=np.float64)
    levels = sorted({k for m in attacks.values() for k in m.get("tpr_at_fpr", {})}, key=float)
    level = levels[0] if levels else None
    series = []
    for i, (name, m) in enumerate(attacks.items()):
        auc = np.asarray(m["auc"], dtype=np.float64)
        x = epochs if len(epochs) == len(auc) else np.arange(1, len(auc) + 1, dtype=np.float64)
        tpr = None
        if level is not None and level in m.get("tpr_at_fpr", {}):
            tpr = np.maximum(np.asarray(m["tpr_at_fpr"][level], dtype=np.float64), 1e-4)
        series.append((name, ATTACK_COLORS[i % len(ATTACK_COLORS)], x, auc, tpr))
    all_x = np.concatenate([s[2] for s in series]) if series else np.zeros(0)
    xlabel = "epoch" if len(epochs) else "evaluation"
    width, height, half = 720, 320, 360
    left = svg.Panel(_span(all_x), svg.Scale(0.45, 1.0), left=60, top=14, width=half - 60 - 14, height=height - 64,
                     xlabel=xlabel, ylabel="AUC", font=FONT)  # fmt: skip
    tprs = [s[4] for s in series if s[4] is not None]
    y_right = _span(np.concatenate([*tprs, [float(level)]]) if level is not None else [], log=True)
    right = svg.Panel(_span(all_x), y_right, left=half + 64, top=14, width=half - 64 - 14, height=height - 64,
                      xlabel=xlabel, font=FONT,
                      ylabel=f"TPR at {float(level) * 100:g}% FPR (log)" if level is not None else "")  # fmt: skip
    for name, color, x, auc, tpr in series:
        left.line(x, auc, color=color, width=1.6, markers=2.2, label=name)
        if tpr is not None:
            right.line(x, tpr, color=color, width=1.6, markers=2.2)
    left.hline(0.5, color="#718096", dash="--", width=1.0, label="chance")
    if level is not None:
        right.hline(float(level), color="#718096", dash="--", width=1.0)
    left.legend("lower right")
    return _chart([left, right], width, height, "line charts of attack AUC and TPR at low FPR against training epoch")


# --- generative runs ----------------------------------------------------------------------------


def ratio_vs_size(sizes, ratios, low, high, *, target: float | None = None, emm: float | None = None,
                  emm_label: str = "EMM", model_sizes=None, model_ratios=None) -> str:  # fmt: skip
    """Memorization ratio against training-set size |D| (log x), with its confidence band.

    Args:
        sizes, ratios, low, high: (S,) the ratio per size and its interval bounds (NaN: none).
        target: the 1 − ε line the effective model memorization (EMM) is read against.
        emm: |D| marked by a vertical line (the EMM), or None.
        model_sizes, model_ratios: (M,) each model's own ratio, drawn as faint dots when given.
    """
    size = np.asarray(sizes, dtype=np.float64)
    ratio, lo, hi = (np.asarray(v, dtype=np.float64) for v in (ratios, low, high))
    order = np.argsort(size, kind="stable")
    size, ratio, lo, hi = size[order], ratio[order], lo[order], hi[order]
    fig, ax = _figure()
    if model_sizes is not None and model_ratios is not None and len(model_sizes) > len(size):
        ax.scatter(np.asarray(model_sizes, dtype=np.float64), np.asarray(model_ratios, dtype=np.float64), s=12,
                   color=CLEAN, alpha=0.35, linewidths=0, label="one model")  # fmt: skip
    band = np.isfinite(lo) & np.isfinite(hi)
    if band.any():
        ax.fill_between(size[band], lo[band], hi[band], color=CLEAN, alpha=0.18, linewidth=0,
                        label="confidence interval")  # fmt: skip
        ax.errorbar(size[band], ratio[band], yerr=[np.maximum(ratio[band] - lo[band], 0),
                    np.maximum(hi[band] - ratio[band], 0)], fmt="none", ecolor=CLEAN, elinewidth=1.0,
                    capsize=3)  # fmt: skip
    ax.plot(size, ratio, color=CLEAN, marker="o", markersize=5, linewidth=1.8, label="memorization ratio")
    if target is not None and np.isfinite(target):
        ax.axhline(target, color=THRESHOLD, linestyle="--", linewidth=1.2, label=f"target 1 − ε = {target:g}")
    if emm is not None and np.isfinite(emm) and emm > 0:
        ax.axvline(emm, color=INK, linestyle=":", linewidth=1.6, label=emm_label)
    if size.size and size.min() > 0:
        ax.set_xscale("log", base=2)
        ax.set_xticks(size, labels=[f"{int(v):,}" for v in size])
        ax.minorticks_off()
    ax.set_ylim(-0.04, 1.06)
    ax.set_xlabel("training-set size |D| (log scale)")
    ax.set_ylabel("memorization ratio (fraction of samples replicating a training image)")
    ax.yaxis.label.set_size(8.5)
    _legend(ax, loc="best")
    return _png_uri(fig)


def collapse_vs_strength(kinds, strengths, collapse) -> str:
    """Fraction of samples that collapse onto a training point against regularization strength,
    one line per kind of regularization (symmetric-log x, so a strength of 0 has a place)."""
    kind = np.asarray([str(k) for k in kinds])
    strength = np.asarray(strengths, dtype=np.float64)
    fraction = np.asarray(collapse, dtype=np.float64)
    fig, ax = _figure()
    for i, name in enumerate(dict.fromkeys(kind.tolist())):
        mask = kind == name
        order = np.argsort(strength[mask], kind="stable")
        ax.plot(strength[mask][order], fraction[mask][order], color=ATTACK_COLORS[i % len(ATTACK_COLORS)],
                marker="o", markersize=5, linewidth=1.8, label=name)  # fmt: skip
    positive = strength[np.isfinite(strength) & (strength > 0)]
    if positive.size:
        if (strength == 0).any():
            ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
        else:
            ax.set_xscale("log")
    ax.set_ylim(-0.04, 1.06)
    ax.set_xlabel("regularization strength")
    ax.set_ylabel("collapse fraction")
    _legend(ax, loc="best")
    return _png_uri(fig)


def score_histogram(values, *, xlabel: str, marks: dict | None = None) -> str:
    """Counts of examples per score bin (log count axis), with labelled vertical marks.

    Args:
        values: (N,) float; NaN is left out.
        marks: label -> value, each drawn as a dashed vertical line (e.g. median, 95th percentile).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    fig, ax = _figure()
    bins = int(min(80, max(10, np.sqrt(v.size) * 2))) if v.size else 10
    ax.hist(v, bins=bins, color=CLEAN, alpha=0.8, label=f"examples ({v.size:,})")
    styles = ("--", ":", "-.")
    for i, (label, x) in enumerate((marks or {}).items()):
        if x is not None and np.isfinite(x):
            ax.axvline(x, color=THRESHOLD if i == 0 else INK, linestyle=styles[i % len(styles)], linewidth=1.3,
                       label=f"{label} = {x:.2f}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples (log scale)")
    _legend(ax, loc="upper right")
    return _png_uri(fig)
