"""The language-model report's verdict (canaries exposed, documents extractable, the best
membership score) and its table of membership AUROCs.
"""

from __future__ import annotations

import math

import numpy as np

from memlens.report.facts import duration, esc, fpr_words, pct
from memlens.report.lm_data import (
    EXPOSED_BITS,
    SCORE_NAMES,
    _col,
    _items,
    exposure_column,
)
from memlens.report.sections import _dl
from memlens.report.verdict import _tile

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


