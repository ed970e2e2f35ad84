"""The report's figures: matplotlib drawn off-screen and returned as inline ``data:`` PNG URIs.

Each function takes plain arrays or the scores table, draws one figure with the object-oriented
API (no pyplot, so no global state and no display backend), and returns a ``data:image/png`` URI
for an ``<img>`` tag. Text that comes from the user's data (class names) is drawn with
``parse_math=False``, so a ``$`` in a class name is a dollar sign, not mathtext.
"""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

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


def memorization_histogram(memorization, planted=None, *, threshold: float = 0.5) -> str:
    """Counts of examples per memorization bin (log count axis), planted and clean overlaid.

    Args:
        memorization: (N,) float, Feldman–Zhang scores in [-1, 1]; NaN is left out.
        planted: (N,) bool or None.
    """
    mem = np.asarray(memorization, dtype=np.float64)
    ok = np.isfinite(mem)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    bins = _bins(mem[ok])
    fig, ax = _figure()
    clean = mem[ok & ~planted]
    ax.hist(clean, bins=bins, color=CLEAN, alpha=0.75, label=f"clean ({len(clean):,})")
    if planted.any():
        ax.hist(mem[ok & planted], bins=bins, histtype="step", color=PLANTED, linewidth=2.0,
                label=f"planted ({int((ok & planted).sum()):,})")  # fmt: skip
    ax.axvline(threshold, color=THRESHOLD, linestyle="--", linewidth=1.2,
               label=f"strongly memorized (≥ {threshold:g})")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel("memorization  (accuracy when trained on it − accuracy when held out)")
    ax.set_ylabel("examples (log scale)")
    _legend(ax, loc="upper right")
    return _png_uri(fig)


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
    fig, ax = _figure(6.0, 4.0)
    smallest = 1.0
    for i, (name, m) in enumerate(attacks.items()):
        fpr = np.asarray(m["roc"]["fpr"], dtype=np.float64)
        tpr = np.asarray(m["roc"]["tpr"], dtype=np.float64)
        keep = fpr > 0
        if keep.any():
            smallest = min(smallest, float(fpr[keep].min()))
        label = f"{name}  (AUC {m['auc']:.3f})"
        ax.plot(fpr[keep], np.maximum(tpr[keep], 1e-7), color=ATTACK_COLORS[i % len(ATTACK_COLORS)],
                linewidth=1.8, label=label, drawstyle="steps-post")  # fmt: skip
    # below one over the number of non-members the curve carries no information
    negatives = min((m.get("n_nonmembers") or 0) for m in attacks.values()) if attacks else 0
    if negatives:
        smallest = max(smallest, 0.5 / negatives)
    smallest = max(min(smallest, 1e-3), 1e-6)
    ax.plot(
        [smallest, 1], [smallest, 1], color="#718096", linestyle="--", linewidth=1.0, label="chance"
    )
    for level in (1e-3, 1e-2):
        if level > smallest:
            ax.axvline(level, color="#a0aec0", linestyle=":", linewidth=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(smallest, 1)
    ax.set_ylim(smallest, 1.05)
    ax.set_xlabel("false-positive rate (non-members called members)")
    ax.set_ylabel("true-positive rate (members found)")
    _legend(ax, loc="lower right")
    return _png_uri(fig)


def _jitter(n: int, width: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(0).random(n) - 0.5) * 2 * width  # fixed seed: same page twice


def score_vs_in_count(memorization, in_count, planted=None) -> str:
    """Each example's memorization against how many models trained on it (the evidence behind it)."""
    mem = np.asarray(memorization, dtype=np.float64)
    count = np.asarray(in_count, dtype=np.float64)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    ok = np.isfinite(mem)
    fig, ax = _figure()
    size = 6 if len(mem) < 5000 else 2
    x = count + _jitter(len(count), 0.25)  # in-counts are integers: spread them a little
    ax.scatter(x[ok & ~planted], mem[ok & ~planted], s=size, color=CLEAN, alpha=0.35, linewidths=0,
               label="clean", rasterized=True)  # fmt: skip
    if planted.any():
        ax.scatter(x[ok & planted], mem[ok & planted], s=size + 6, color=PLANTED, alpha=0.8, linewidths=0,
                   label="planted", rasterized=True)  # fmt: skip
    levels = np.unique(count[ok])
    if 1 < len(levels) <= 200:
        means = [np.nanmean(mem[ok & (count == c)]) for c in levels]
        ax.plot(levels, means, color=INK, linewidth=1.5, label="mean")
    elif len(levels) == 1:  # one design-fixed in-count: a strip, labelled as such
        ax.set_xticks(levels)
        ax.set_xlim(levels[0] - 1, levels[0] + 1)
        ax.grid(False, axis="x")
    ax.set_xlabel("in-count  (models that trained on the example)")
    ax.set_ylabel("memorization")
    _legend(ax, loc="upper right", markerscale=3)
    return _png_uri(fig)


def proxy_vs_memorization(memorization, proxy, name: str, planted=None) -> tuple[str, float]:
    """A cheap score against Feldman–Zhang memorization; returns the URI and Spearman's rho."""
    from scipy.stats import spearmanr

    mem = np.asarray(memorization, dtype=np.float64)
    score = np.asarray(proxy, dtype=np.float64)
    planted = np.zeros(mem.shape, bool) if planted is None else np.asarray(planted, bool)
    ok = np.isfinite(mem) & np.isfinite(score)
    rho = float(spearmanr(mem[ok], score[ok]).statistic) if ok.sum() > 2 else float("nan")
    fig, ax = _figure()
    size = 6 if len(mem) < 5000 else 2
    ax.scatter(mem[ok & ~planted], score[ok & ~planted], s=size, color=CLEAN, alpha=0.35, linewidths=0,
               label="clean", rasterized=True)  # fmt: skip
    if planted.any():
        ax.scatter(mem[ok & planted], score[ok & planted], s=size + 6, color=PLANTED, alpha=0.8,
                   linewidths=0, label="planted", rasterized=True)  # fmt: skip
    ax.set_xlabel("Feldman–Zhang memorization")
    ax.set_ylabel(name).set_parse_math(False)
    ax.set_title(
        f"Spearman ρ = {rho:.2f}" if np.isfinite(rho) else "too few finite values",
        fontsize=9,
        color=INK,
    )
    _legend(ax, loc="best", markerscale=3)
    return _png_uri(fig), rho


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
    fig, ax = _figure(6.0, max(2.2, 0.26 * len(order) + 0.9))
    y = np.arange(len(order))
    ax.barh(y, np.nan_to_num(mean[order]), xerr=np.nan_to_num(se[order]), color=CLEAN, alpha=0.85,
            error_kw={"ecolor": INK, "elinewidth": 0.8, "capsize": 2})  # fmt: skip
    ax.set_yticks(y, labels=names)
    for t in ax.get_yticklabels():
        t.set_parse_math(False)
    ax.invert_yaxis()
    ax.grid(False, axis="y")
    right = float(np.nanmax(np.nan_to_num(mean[order] + se[order]))) if len(order) else 0.1
    for yi, c in zip(y, order, strict=True):
        ax.text(max(np.nan_to_num(mean[c] + se[c]), 0) + right * 0.02, yi,
                f"{int(strong[c])} ≥ {threshold:g}", va="center", fontsize=7.5, color="#718096")  # fmt: skip
    ax.set_xlim(min(0, float(np.nanmin(np.nan_to_num(mean[order]))) * 1.1), max(right * 1.25, 0.05))
    ax.set_xlabel("mean memorization of the class (± standard error)")
    return _png_uri(fig)


def _short(name: str, n: int = 28) -> str:
    name = " ".join(str(name).split())
    return name if len(name) <= n else name[: n - 1] + "…"


def privacy_over_training(curve: dict) -> str:
    """Each attack's AUC (left) and TPR at the lowest FPR level (right) at every evaluation.

    Args:
        curve: ``training_curve.json``: ``{"epoch": [S], "attacks": {name: {"auc": [S],
            "tpr_at_fpr": {key: [S]}}}}`` (see :mod:`memlens.estimate.over_training`).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 3.2), dpi=DPI)
    left, right = fig.subplots(1, 2)
    attacks = curve.get("attacks", {})
    epochs = np.asarray(curve.get("epoch") or [], dtype=np.float64)
    levels = sorted({k for m in attacks.values() for k in m.get("tpr_at_fpr", {})}, key=float)
    level = levels[0] if levels else None
    for i, (name, m) in enumerate(attacks.items()):
        auc = np.asarray(m["auc"], dtype=np.float64)
        x = epochs if len(epochs) == len(auc) else np.arange(1, len(auc) + 1)
        color = ATTACK_COLORS[i % len(ATTACK_COLORS)]
        left.plot(x, auc, color=color, marker="o", markersize=3, linewidth=1.6, label=name)
        if level is not None and level in m.get("tpr_at_fpr", {}):
            tpr = np.asarray(m["tpr_at_fpr"][level], dtype=np.float64)
            right.plot(x, np.maximum(tpr, 1e-4), color=color, marker="o", markersize=3, linewidth=1.6)
    left.axhline(0.5, color="#718096", linestyle="--", linewidth=1.0, label="chance")
    left.set_ylim(0.45, 1.0)
    left.set_ylabel("AUC")
    if level is not None:
        right.axhline(float(level), color="#718096", linestyle="--", linewidth=1.0)
        right.set_yscale("log")
        right.set_ylabel(f"TPR at {float(level) * 100:g}% FPR (log)")
    for ax in (left, right):
        ax.grid(True, color=GRID, linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(colors=INK, labelsize=8.5)
        ax.set_xlabel("epoch" if len(epochs) else "evaluation", color=INK)
        ax.yaxis.label.set_color(INK)
    _legend(left, loc="lower right")
    fig.tight_layout()
    return _png_uri(fig)


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
