"""The language-model report: what one causal LM regurgitates, read from a finished ``lm_audit``.

:func:`write_lm_report` turns a language-model run directory (``RUN/lm_scores.parquet`` and
``RUN/lm.json``, written by :func:`memlens.lm.audit.lm_audit`) into ``RUN/report.html``: a
verdict (canaries exposed, documents extractable, the best membership score's AUROC), plots of
exposure and extractability against insertion count, the membership AUROCs, and a sortable,
filterable table of every document and canary with its text excerpt.

It is the same page machinery as the classification report (:mod:`memlens.report.page`): every
string from the run goes through :func:`~memlens.report.page.esc`; the table's data, text
excerpts included, is embedded as script-safe JSON and written into the page with
``textContent`` only; the Content-Security-Policy allows no network and only the page's own
script and stylesheet. It renders only: counts, means and rates of the stored columns.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from memlens.report import examples, plots
from memlens.report.page import (
    Section,
    _dl,
    _figure,
    _tile,
    _value,
    duration,
    esc,
    fpr_words,
    pct,
    shell,
)

#: a canary with at least this many bits of exposure is "exposed" (2^-10: ranked in the top 0.1%
#: of its secret space by the model's likelihood)
EXPOSED_BITS = 10.0
EXCERPT = 200

LM_HELP = {
    "id": "document id in the corpus, or canary-K",
    "kind": "document (a corpus text) or canary (a planted secret, inserted `repeats` times)",
    "text": "the text's first characters",
    "repeats": "how many times the text occurs in the training corpus (canaries: insertion count)",
    "member": "whether the model trained on the text (held-out documents: no)",
    "canary": "whether the row is a planted canary",
    "exposure": "canary exposure in bits: log2(secret-space size) − log2(rank of the true secret), "
    "ranked against the space minus the other canaries' secrets",
    "exposure_control": "exposure of the canary under untrained models with the same configuration and "
    "tokenizer (mean of a few initialisations): what the tokenizer alone gives; chance ≈ 1.44 bits",
    "exposure_excess": f"exposure − control: what training added; ≥ {EXPOSED_BITS:g} bits means exposed",
    "secret_single_token": "the secret is one token of the tokenizer's vocabulary (fitted on text containing "
    "it): its exposure reflects the tokenizer",
    "extracted_from_prefix": "greedy decoding from the canary's own prefix (its name, record fields, label) "
    "writes the secret",
    "extracted_from_template": "greedy decoding from the bare template label shared by the canaries of its "
    "template (no name) writes this canary's secret",
    "extractable_at_k": "shortest prefix (tokens) from which greedy decoding reproduces the suffix exactly; -1 if none",
    "min_k": "Min-K% membership score (higher = more likely a member)",
    "min_k_pp": "Min-K%++ membership score (higher = more likely a member)",
    "zlib": "log-likelihood over zlib-compressed size (higher = more likely a member)",
    "loss": "mean token log-probability, i.e. minus the loss (higher = more likely a member)",
    "reference": "log-likelihood under the target minus under a reference model (higher = more likely a member)",
    "counterfactual": "counterfactual memorization: token accuracy of models trained on it minus held out",
    "longest_verbatim_span": "longest run of greedily generated tokens found verbatim in a training document",
}

SCORE_NAMES = {
    "loss": "loss",
    "zlib": "zlib ratio",
    "min_k": "Min-K%",
    "min_k_pp": "Min-K%++",
    "reference": "reference-model ratio",
}


def is_lm_run(path) -> bool:
    """Whether ``path`` holds a language-model audit (``lm_scores.parquet``)."""
    return (Path(path) / "lm_scores.parquet").is_file()


def write_lm_report(run_path) -> Path:
    """Write ``run_path / "report.html"`` for a language-model run, atomically; return its path.

    Raises:
        RunStoreError: the directory holds no ``lm_scores.parquet`` (the audit did not finish).

    Example:
        >>> from memlens.report.lm_section import write_lm_report
        >>> write_lm_report("runs/lm1")                                  # doctest: +SKIP
        PosixPath('runs/lm1/report.html')
    """
    from memlens.store import atomic_path

    path = Path(run_path)
    text = build_lm(path)
    target = path / "report.html"
    with atomic_path(target, ".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


# --- reading ------------------------------------------------------------------------------------


def _read(path: Path):
    import pandas as pd

    from memlens.errors import RunStoreError

    if not is_lm_run(path):
        raise RunStoreError(
            f"{path} has no lm_scores.parquet: the language-model audit did not finish. Re-run its "
            "`memlens lm audit` command, then write the report."
        )
    frame = pd.read_parquet(path / "lm_scores.parquet")
    try:
        result = json.loads((path / "lm.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        result = {"note": "lm.json is missing from the run."}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        result = {"note": f"lm.json is damaged ({e})."}
    if not isinstance(result, dict):
        result = {"note": "lm.json does not hold an object."}
    return frame, result


def _col(frame, name: str, dtype=np.float64, fill=np.nan) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), fill, dtype=dtype)
    return frame[name].to_numpy(dtype=dtype, na_value=fill)


def exposure_column(frame) -> str:
    """The column verdicts read: ``exposure_excess`` (over the tokenizer-only control) when the run
    has it, else ``exposure`` (runs audited before the control existed)."""
    return "exposure_excess" if "exposure_excess" in frame.columns else "exposure"


def sort_rows(frame):
    """Most exposed canaries first (by excess over the control when present), then extractable
    texts (shortest prefix first), then the longest verbatim span; the table keeps this order
    among rows with no exposure."""
    exposure = np.nan_to_num(_col(frame, exposure_column(frame)), nan=-np.inf)
    k = _col(frame, "extractable_at_k", np.float64, -1.0)
    extractable = k >= 0
    span = np.nan_to_num(_col(frame, "longest_verbatim_span"), nan=-np.inf)
    order = np.lexsort((-span, np.where(extractable, k, np.inf), ~extractable, -exposure))
    return frame.iloc[order].reset_index(drop=True)


# --- numbers and labels -------------------------------------------------------------------------

#: how the summary and configuration name their counts, so both say the same thing the same way
COUNT_LABELS = {
    "n_documents": "documents (canary copies not counted)",
    "n_canary_copies": "canary copies inserted",
    "n_members": "documents trained on (members)",
    "n_heldout": "documents held out (non-members)",
    "heldout": "documents held out (non-members)",
    "n_canaries": "canaries",
}


def _number(v):
    """Floats as 4 significant digits (lm.json keeps full precision), recursively; others as they are."""
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, list | tuple):
        return [_number(x) for x in v]
    if isinstance(v, dict):
        return {k: _number(x) for k, x in v.items()}
    return v


def _items(block: dict, *, config: bool = False) -> list[tuple[str, object]]:
    """(label, formatted value) pairs of an lm.json block, with the counts labelled as above."""
    labels = dict(COUNT_LABELS)
    if config and "n_canary_copies" not in block:  # runs audited before the copies were counted apart
        labels["n_documents"] = "texts (canary copies included)"
    return [(labels.get(k, k if config else k.replace("_", " ")), _number(v)) for k, v in block.items()]


# --- the verdict --------------------------------------------------------------------------------


def _aurocs(result: dict) -> dict[str, float]:
    mia = result.get("mia", {}) if isinstance(result.get("mia"), dict) else {}
    out = {}
    for k, v in (mia.get("auroc") or {}).items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            out[str(k)] = v
    return out


def verdict(frame, result: dict) -> str:
    kind = (
        frame["kind"].astype(str).to_numpy()
        if "kind" in frame.columns
        else np.full(len(frame), "document")
    )
    can = kind == "canary"
    docs = ~can
    member = (
        _col(frame, "member", bool, False)
        if "member" in frame.columns
        else np.ones(len(frame), bool)
    )
    excess_name = exposure_column(frame)
    exposure = _col(frame, excess_name)
    control = _col(frame, "exposure_control")
    k = _col(frame, "extractable_at_k", np.float64, -1.0)
    extractable = k >= 0
    n_can, n_docs = int(can.sum()), int(docs.sum())
    exposed = int((can & (exposure >= EXPOSED_BITS)).sum())
    ext_docs = int((docs & extractable).sum())
    ext_members = int((docs & extractable & member).sum())
    ext_heldout = int((docs & extractable & ~member).sum())
    n_members, n_heldout = int((docs & member).sum()), int((docs & ~member).sum())
    ext_can = int((can & extractable).sum())
    aurocs = _aurocs(result)
    best = max(aurocs, key=aurocs.get) if aurocs else None

    tiles, findings = [], []
    if n_can:
        top = float(np.nanmax(exposure[can])) if np.isfinite(exposure[can]).any() else float("nan")
        what = "excess over the tokenizer-only control" if excess_name == "exposure_excess" else "exposure"
        tiles.append(_tile(
            "Canaries exposed", f"{exposed:,} / {n_can:,}",
            f"{what} ≥ {EXPOSED_BITS:g} bits" + (f"; highest {top:.1f} bits" if math.isfinite(top) else ""),
            "warn" if exposed else "ok",
        ))  # fmt: skip
        if excess_name == "exposure_excess":
            mean_control = float(np.nanmean(control[can])) if np.isfinite(control[can]).any() else float("nan")
            own = int((can & _col(frame, "extracted_from_prefix", np.float64, 0.0).astype(bool)).sum())
            bare = int((can & _col(frame, "extracted_from_template", np.float64, 0.0).astype(bool)).sum())
            findings.append(
                f"<b>{exposed:,} of {n_can:,} canaries are exposed</b>: the model ranks the true secret at "
                f"least {EXPOSED_BITS:g} bits ({2**EXPOSED_BITS:,.0f} times) higher than untrained models with the "
                f"same tokenizer do (their mean, the tokenizer-only control, is {mean_control:.2f} "
                f"bits; chance ≈ 1.44). Greedy decoding writes the secret of {own:,} from the canary's own "
                f"prefix and of {bare:,} from the bare template label."
            )
            summary = result.get("summary") if isinstance(result.get("summary"), dict) else {}
            if summary.get("too_long_note"):
                findings.append(f"<b>Not measured</b>: {esc(summary['too_long_note'])}")
            single = int((can & _col(frame, "secret_single_token", np.float64, 0.0).astype(bool)).sum())
            if single:
                findings.append(
                    f"<b>{single:,} canary secret(s) are single tokens of the vocabulary</b>: the tokenizer was "
                    "fitted on text containing them, so an untrained model already ranks them near the top: "
                    "their raw exposure reflects the tokenizer and their excess stays near 0 even if the model "
                    "memorised them (extraction from their own prefix still shows it). Fit the tokenizer on "
                    "text without the canaries."
                )
        else:
            findings.append(
                f"<b>{exposed:,} of {n_can:,} canaries are exposed</b> (≥ {EXPOSED_BITS:g} bits: the model ranks "
                f"the true secret in the top 1/{2**EXPOSED_BITS:,.0f} of all candidates; this run has no "
                f"tokenizer-only control); {ext_can:,} can be extracted verbatim by greedy decoding from a prefix."
            )
    else:
        findings.append("<b>No canaries were planted</b>: exposure was not measured.")
    tiles.append(_tile(
        "Documents extractable", f"{ext_docs:,} / {n_docs:,}",
        f"{pct(ext_docs / n_docs if n_docs else float('nan'))} reproduced exactly from a prefix"
        f"<br>{ext_members:,} of {n_members:,} members · {ext_heldout:,} of {n_heldout:,} held out",
        "warn" if ext_members else "ok",
    ))  # fmt: skip
    findings.append(
        f"<b>{ext_docs:,} of {n_docs:,} documents are extractable</b>: greedy decoding from their first "
        f"tokens reproduces the next ones exactly ({ext_members:,} of {n_members:,} training members, "
        f"{ext_heldout:,} of {n_heldout:,} held-out documents)."
    )
    if best is not None:
        v = aurocs[best]
        tiles.append(_tile(
            "Best membership AUROC", f"{v:.3f}",
            f"{esc(SCORE_NAMES.get(best, best))}; 0.5 = chance, 1 = every member ranked first",
            "warn" if v >= 0.6 else "ok",
        ))  # fmt: skip
        findings.append(
            f"<b>Membership inference</b>: the best score, <b>{esc(SCORE_NAMES.get(best, best))}</b>, separates "
            f"training documents from held-out ones with AUROC {v:.3f} (0.5 = chance)." + _low_fpr_words(result, best)
        )
    else:
        mia = result.get("mia") if isinstance(result.get("mia"), dict) else {}
        note = mia.get("note") or result.get("note") or "no membership AUROC was computed"
        tiles.append(_tile("Membership AUROC", "–", esc(note)))
        findings.append(f"<b>Membership inference was not evaluated</b>: {esc(note)}")
    config = result.get("config", {}) if isinstance(result.get("config"), dict) else {}
    seconds = result.get("seconds")
    findings.append(
        f"<b>Run</b>: model <span class=mono>{esc(config.get('model', '?'))}</span> on corpus "
        f"<span class=mono>{esc(config.get('corpus', '?'))}</span> ({_corpus_size(config)}), audit took "
        f"{duration(seconds if isinstance(seconds, int | float) else None)}."
    )
    headline = (
        (f"{exposed:,} of {n_can:,} canaries are exposed and " if n_can else "")
        + f"{ext_docs:,} of {n_docs:,} documents can be extracted verbatim"
        + (f"; the best membership score reaches AUROC {aurocs[best]:.2f}." if best else ".")
    )
    leaks = exposed > 0 or ext_members > 0 or (best is not None and aurocs[best] >= 0.6)
    return (
        f'<section id="verdict" class="card verdict {"leaks" if leaks else "quiet"}"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul>'
        f'<div class="twocol"><div>{auroc_table(result)}</div><div>{_summary_block(result)}</div></div></section>'
    )


def _corpus_size(config: dict) -> str:
    """'300 documents and 124 canary copies' (or, for older runs, '424 texts with canary copies')."""
    n, copies = config.get("n_documents"), config.get("n_canary_copies")
    if copies is None:
        return f"{esc(n if n is not None else '?')} texts, canary copies included"
    return f"{esc(n)} documents and {esc(copies)} canary copies"


def _low_fpr(result: dict) -> dict:
    """lm.json's held-out TPR at low FPR per score (``mia.low_fpr.scores``), {} for older runs."""
    mia = result.get("mia") if isinstance(result.get("mia"), dict) else {}
    low = mia.get("low_fpr") if isinstance(mia.get("low_fpr"), dict) else {}
    scores = low.get("scores") if isinstance(low.get("scores"), dict) else {}
    return {k: v for k, v in scores.items() if isinstance(v, dict) and isinstance(v.get("tpr_at_fpr"), dict)}


def _low_fpr_words(result: dict, name: str) -> str:
    """' With its threshold set for 1% FPR on half of the documents, it flags …' (the highest level)."""
    low = _low_fpr(result).get(name)
    if not low or not low["tpr_at_fpr"]:
        return ""
    level = max(low["tpr_at_fpr"], key=float)
    try:
        tpr, (lo, hi) = float(low["tpr_at_fpr"][level]), map(float, low["tpr_ci"][level])
        fpr, (flo, fhi) = float(low["fpr_achieved"][level]), map(float, low["fpr_ci"][level])
    except (KeyError, TypeError, ValueError):
        return ""
    resolvable = (low.get("resolvable") or {}).get(level, True)
    return (
        f" With its threshold set for {fpr_words(level)} FPR on half of the documents, it flags {pct(tpr)} "
        f"({pct(lo)} – {pct(hi)}) of the other half's members and lets through {pct(fpr)} ({pct(flo)} – "
        f"{pct(fhi)}) of its held-out documents"
        + ("." if resolvable else f"; too few held-out documents to resolve {fpr_words(level)} FPR.")
    )


def _rate_cell(low: dict, level: str) -> str:
    """TPR with its interval, then the FPR the threshold let through with its interval."""
    try:
        tpr, (lo, hi) = float(low["tpr_at_fpr"][level]), map(float, low["tpr_ci"][level])
        fpr, (flo, fhi) = float(low["fpr_achieved"][level]), map(float, low["fpr_ci"][level])
    except (KeyError, TypeError, ValueError):
        return "<td>–</td>"
    mark = "" if (low.get("resolvable") or {}).get(level, True) else " †"
    return (
        f'<td>{pct(tpr)}<br><span class="ci">{pct(lo)} – {pct(hi)}</span>'
        f'<br><span class="ci">at FPR {pct(fpr)}{mark} ({pct(flo)} – {pct(fhi)})</span></td>'
    )


def auroc_table(result: dict) -> str:
    aurocs = _aurocs(result)
    mia = result.get("mia") if isinstance(result.get("mia"), dict) else {}
    if not aurocs:
        note = mia.get("note") or "No membership AUROC was computed."
        return f'<h3>Membership scores</h3><p class="hint">{esc(note)}</p>'
    best = max(aurocs, key=aurocs.get)
    low = _low_fpr(result)
    levels = sorted({k for v in low.values() for k in v["tpr_at_fpr"]}, key=float)
    head = "".join(f"<th>TPR @ {fpr_words(k)} FPR</th>" for k in levels)
    rows = "".join(
        f'<tr class="{"best" if name == best else ""}"><td>{esc(SCORE_NAMES.get(name, name))}'
        f"{' ★' if name == best else ''}</td><td>{v:.3f}</td>"
        + "".join(_rate_cell(low[name], k) if name in low else "<td>–</td>" for k in levels)
        + "</tr>"
        for name, v in sorted(aurocs.items(), key=lambda kv: -kv[1])
    )
    members = (
        f"{esc(mia.get('n_members', '?'))} members / {esc(mia.get('n_nonmembers', '?'))} held out"
    )
    how = ""
    if levels:
        some = next(iter(low.values()))
        halves = some.get("n_nonmembers") if isinstance(some.get("n_nonmembers"), dict) else {}
        unresolved = [fpr_words(k) for k in levels if any(not (v.get("resolvable") or {}).get(k, True) for v in low.values())]
        how = (
            " TPR at low FPR: each threshold is chosen on a random half of the members and of the held-out "
            "documents to keep that half's FPR below the target, then applied to the other half, which gives "
            "the TPR and the FPR the threshold actually let through, each with its exact 95% (Clopper–Pearson) "
            "interval."
            + (f" † With {esc(halves.get('evaluation', '?'))} held-out documents per half, FPR "
               f"{' and '.join(unresolved)} cannot be resolved: read the FPR that was let through, not the "
               "target." if unresolved else "")
        )  # fmt: skip
    return (
        f'<h3>Membership scores</h3><table class="small" id="lm-auroc"><thead><tr><th>score</th><th>AUROC</th>'
        f'{head}</tr></thead><tbody>{rows}</tbody></table><p class="hint">Each score ranks the documents; its AUROC '
        f"is how well it puts training documents above held-out ones ({members}). ★ = best AUROC.{how}</p>"
    )


def _summary_block(result: dict) -> str:
    summary = result.get("summary", {}) if isinstance(result.get("summary"), dict) else {}
    # in the run details (and the notes in the findings)
    shown_apart = ("exposure_by_repeats", "control_by_repeats", "excess_by_repeats", "exposure_protocol",
                   "single_token_note", "too_long_note")  # fmt: skip
    items = _items({k: v for k, v in summary.items() if k not in shown_apart})
    return "<h3>Summary</h3>" + (
        _dl(items) if items else '<p class="hint">No summary in lm.json.</p>'
    )


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


def build_lm(path) -> str:
    """The whole language-model page for the run directory ``path``, as a string."""
    path = Path(path)
    frame, result = _read(path)
    table, table_data = table_section(frame)
    sections = [plots_section(frame), table, details_section(result)]
    config = result.get("config", {}) if isinstance(result.get("config"), dict) else {}
    return shell(
        title="memlens language-model report", label="language-model audit",
        name=str(config.get("corpus", path.name)), meta=esc(path), verdict_html=verdict(frame, result),
        sections=sections, table_data=table_data,
        footer="Written by memlens. Exposure: Carlini et al. (USENIX Security 2019). Extraction: "
        "Carlini et al. (USENIX Security 2021). Min-K%: Shi et al. (ICLR 2024); Min-K%++: Zhang et al. "
        "(2024). Counterfactual memorization: Zhang et al. (NeurIPS 2023). ",
    )  # fmt: skip
