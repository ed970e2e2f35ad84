"""The generative report: what a diffusion or density model memorized, read from a finished
``memlens generative audit``.

:func:`write_generative_report` turns a generative run directory (``RUN/generative.json`` and the
Parquet tables beside it, all recorded with their checksums in ``run.json``) into
``RUN/report.html``. For a diffusion run: a verdict (memorization ratio at the smallest and largest
|D|, the effective model memorization or why the grid never reached its target, the conditioning),
the ratio against |D| with the EMM marked, collapse against regularization strength, galleries
"generated | nearest training image | second nearest", and tables of the samples and training
examples. For a density run: how heavy-tailed the memorization scores are, their histogram, the
most memorized examples with their images, and the table of every example.

Files are read through :class:`memlens.store.RunStore`, so a damaged one is refused and named.
The page is the classification report's machinery (:func:`memlens.report.page.shell`): strings go
through :func:`~memlens.report.facts.esc`, tables are script-safe JSON drawn with ``textContent``,
and the Content-Security-Policy allows no network. It renders only: counts, means and sorting.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from memlens.report.facts import duration, esc, pct
from memlens.report.generative_data import (
    FLAG_RATIO,
    TENFOLD_NATS,
    GenerativeRun,
    by_size,
    condition_words,
    fmt,
    is_generative_run,
    num,
    read_run,
    rows,
    size_words,
    target_of,
)
from memlens.report.generative_sections import (
    GENERATIVE_CSS,
    density_plots,
    density_ranking,
    density_table,
    details_section,
    diffusion_gallery,
    diffusion_plots,
    diffusion_tables,
)
from memlens.report.page import shell
from memlens.report.verdict import _tile

__all__ = [
    "build_generative",
    "emm_words",
    "is_generative_run",
    "verdict",
    "write_generative_report",
]


def write_generative_report(run_path) -> Path:
    """Write ``run_path / "report.html"`` for a generative run, atomically; return its path.

    Raises:
        RunStoreError: not a finished run, a damaged file (named, with what to do), or a
            ``generative.json`` that is not a diffusion or density audit's.

    Example:
        >>> from memlens.report.generative_section import write_generative_report
        >>> write_generative_report("runs/diffusion")                     # doctest: +SKIP
        PosixPath('runs/diffusion/report.html')
    """
    from memlens.report.page import save_page

    return save_page(run_path, build_generative(Path(run_path)))


def build_generative(path) -> str:
    """The whole generative page for the run directory ``path``, as a string."""
    run = read_run(path)
    scripts: tuple[str, ...] = ()
    if run.kind == "diffusion":
        tables, data, scripts = diffusion_tables(run)
        sections = [diffusion_plots(run), diffusion_gallery(run), *tables, details_section(run)]
    else:
        tables, data = density_table(run)
        sections = [density_plots(run), density_ranking(run), *tables, details_section(run)]
    result = run.result
    name = (
        " · ".join(str(result[k]) for k in ("dataset", "model") if result.get(k) is not None)
        or run.path.name
    )
    return shell(
        title="memlens generative report", label=f"generative audit ({esc(run.kind)})", name=name,
        meta=f"{esc(run.path)} · {esc(run.manifest.get('created', ''))}", verdict_html=verdict(run),
        sections=sections, table_data=data, extra_css=GENERATIVE_CSS, extra_scripts=scripts,
        footer="Written by memlens. Replication and EMM: Gu et al., On Memorization in Diffusion Models (TMLR "
        "2025). Regularized scores: Baptista et al., Memorization and Regularization in Generative Diffusion "
        "Models (2025). Density memorization: van den Burg &amp; Williams (NeurIPS 2021). ",
    )  # fmt: skip


def verdict(run: GenerativeRun) -> str:
    """The verdict card: a headline, tiles and findings in plain words with the run's numbers."""
    headline, tiles, findings, flagged = (
        _diffusion_verdict(run) if run.kind == "diffusion" else _density_verdict(run)
    )
    result = run.result
    seconds = num(result.get("seconds"))
    trainer = run.config.get("trainer") if isinstance(run.config.get("trainer"), dict) else {}
    sampler = result.get("sampler") or run.config.get("sampler") or trainer.get("sampler")
    findings.append(
        f"<b>Run</b>: model <span class=mono>{esc(result.get('model', '?'))}</span> on "
        f"<span class=mono>{esc(result.get('dataset', '?'))}</span>"
        + (f", sampler <span class=mono>{esc(sampler_words(sampler))}</span>" if sampler else "")
        + f"; the audit took {duration(seconds if math.isfinite(seconds) else None)}."
    )
    return (
        f'<section id="verdict" class="card verdict {"leaks" if flagged else "quiet"}"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>'
    )


def sampler_words(sampler) -> str:
    """A sampler as recorded (a name, or a dict with one): 'edm-heun (steps 18, rho 7)'."""
    if not isinstance(sampler, dict):
        return str(sampler)
    rest = ", ".join(f"{k} {v}" for k, v in sampler.items() if k != "name")
    return f"{sampler.get('name', 'sampler')}" + (f" ({rest})" if rest else "")


def times(nats: float) -> str:
    """e^nats as a likelihood ratio: '2.4×', '403×', or '4.6 × 10^14×' past a million."""
    if nats < math.log(1e6):
        return f"{math.exp(nats):,.1f}×" if nats < math.log(100) else f"{math.exp(nats):,.0f}×"
    exponent = math.floor(nats / math.log(10))
    return f"{math.exp(nats - exponent * math.log(10)):.1f} × 10^{exponent}×"


def _ratio_ci(r: dict) -> str:
    """'97.0% (95% CI 95.0% – 98.0%)', the interval left out when the run has none."""
    if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]):
        return f"{pct(r['ratio'])} ({pct(r['ci_low'])} – {pct(r['ci_high'])})"
    return pct(r["ratio"])


def emm_words(result: dict, sizes: list[dict]) -> tuple[str, str, str]:
    """(tile value, tile note, sentence) for the effective model memorization.

    Read as the writer records it (:class:`memlens.generative.emm.EMM`): ``crossed`` when a size
    reaches the target and a larger one does not, ``value`` the largest size up to which every size
    reaches it (None when the smallest already fails). Without an ``emm`` block, the same is read
    off the ratios.
    """
    emm = result.get("emm") if isinstance(result.get("emm"), dict) else {}
    target = target_of(result)
    value = num(emm.get("value"))
    if not emm and sizes:  # no EMM recorded: the leading run of sizes at the target
        leading = 0
        while leading < len(sizes) and sizes[leading]["ratio"] >= target:
            leading += 1
        value = float(sizes[leading - 1]["size"]) if leading else float("nan")
        emm = {"crossed": 0 < leading < len(sizes)}
    message = (
        f" <i>{esc(emm['message'])}</i>"
        if isinstance(emm.get("message"), str) and emm["message"]
        else ""
    )
    ratios = ", ".join(f"{pct(r['ratio'])} at {r['size']:,}" for r in sizes)
    if emm.get("crossed") and math.isfinite(value):
        below = num(emm.get("first_below"))
        return (
            f"{int(value):,}", f"largest |D| with ratio ≥ {pct(target)}",
            f"<b>Effective model memorization ≈ {int(value):,}</b>: the largest training-set size at which "
            f"at least {pct(target)} (1 − ε) of samples replicate training images"
            + (f"; from |D| = {int(below):,} the ratio is below it" if math.isfinite(below) else "")
            + f".{message}",
        )  # fmt: skip
    if math.isfinite(value):
        where, note = f"≥ {int(value):,}", "every |D| of the grid is at the target"
        why = f"every |D| of the grid reaches the target, so the EMM is at least the largest, {int(value):,}"
    elif sizes:
        where, note = f"< {sizes[0]['size']:,}", "the smallest |D| is already below the target"
        why = (
            f"no |D| of the grid reaches it, so the EMM is below the smallest, {sizes[0]['size']:,}"
        )
        if sizes[0]["ratio"] < target and any(r["ratio"] >= target for r in sizes):
            why = (
                f"the smallest |D|, {sizes[0]['size']:,}, is already below it, so the EMM is below "
                f"{sizes[0]['size']:,} (a larger size at the target does not count: memorization must hold "
                "at every smaller size)"
            )
    else:
        where, note, why = "–", "no ratios", "the run holds no ratios"
    return (
        where, note,
        f"<b>The grid never crossed the {pct(target)} target</b> (1 − ε): {why}. Ratios: {ratios or 'none'}.{message}",
    )  # fmt: skip


def _diffusion_verdict(run: GenerativeRun):
    result = run.result
    sizes = by_size(result)
    target = target_of(result)
    short, sentence = condition_words(result.get("condition"))
    tiles, findings = [], []
    if sizes:
        small, large = sizes[0], sizes[-1]
        for r, which in (
            ((small, "smallest"), (large, "largest")) if len(sizes) > 1 else ((small, "only"),)
        ):
            tiles.append(_tile(
                f"Memorized at |D| = {r['size']:,}", pct(r["ratio"]),
                f"{which} training set; "
                + (f"CI {pct(r['ci_low'])} – {pct(r['ci_high'])}" if math.isfinite(r["ci_low"]) else "no interval"),
                "warn" if r["ratio"] >= FLAG_RATIO else "ok",
            ))  # fmt: skip
        value, note, emm_sentence = emm_words(result, sizes)
        tiles.append(_tile(f"EMM (≥ {pct(target)})", esc(value), esc(note)))
        headline = (
            f"At |D| = {small['size']:,}, {pct(small['ratio'])} of generated samples replicate a training image"
            + (f"; at |D| = {large['size']:,}, {pct(large['ratio'])}" if len(sizes) > 1 else "")
            + (f". EMM ≈ {esc(value)}." if value[:1].isdigit() else f". The grid never crossed the {pct(target)} target.")
        )  # fmt: skip
        level = num(result.get("level"))
        findings.append(
            "<b>Memorization ratio by |D|</b>"
            + (f" ({level * 100:g}% interval)" if math.isfinite(level) else "")
            + ": " + "; ".join(f"{r['size']:,}: {_ratio_ci(r)}" for r in sizes) + "."
        )  # fmt: skip
        findings.append(emm_sentence)
        flagged = any(r["ratio"] >= FLAG_RATIO for r in sizes)
    else:
        flagged = False
        headline = "No memorization ratio by training-set size in this run" + (
            ": the regularized closed-form scores below."
            if rows(result.get("regularization"))
            else "."
        )
        findings.append("<b>No ratios</b>: generative.json has no <code>by_size</code> rows.")
    tiles.append(_tile("Conditioning", esc(short), esc(sentence)))
    findings.append(f"<b>Conditioning</b>: the model was {esc(sentence)}.")
    findings += _sample_counts(run)
    findings += _feature_space_words(result)
    findings += _regularization_words(result)
    return headline, tiles, findings, flagged


def _feature_space_words(result: dict) -> list[str]:
    """The replication ratio by |D| in the CNN feature space, when the audit measured it."""
    found = result.get("feature_space")
    sizes = rows(found.get("by_size")) if isinstance(found, dict) else []
    if not sizes:
        return []
    accuracy = num(found.get("encoder_training_accuracy"))
    return [
        "<b>In a learned feature space</b> (a small CNN trained on the images' labels"
        + (f", training accuracy {pct(accuracy)}" if math.isfinite(accuracy) else "")
        + "; the 1/3 cut-off was calibrated on pixels, so read these as a ranking aid): "
        + "; ".join(f"{int(r['size']):,}: {pct(num(r.get('ratio')))}" for r in sizes) + "."
    ]


def _sample_counts(run: GenerativeRun) -> list[str]:
    out = []
    if run.samples is not None and "replicated" in run.samples.columns:
        s, which = run.samples, "all snapshots"
        if (
            "regularization" in s.columns
        ):  # closed form: count the unregularized score's samples only
            strength = s["regularization"].to_numpy(dtype=np.float64)
            s, which = s[~(strength > 0)], "unregularized score"
        flags = s["replicated"].fillna(False).to_numpy(dtype=bool)
        out.append(
            f"<b>{int(flags.sum()):,} of {len(s):,} generated samples</b> ({which}) replicate a training image"
            + (f"; {s.loc[flags, 'nearest'].nunique():,} distinct training images are copied."
               if "nearest" in s.columns else ".")
        )  # fmt: skip
    t = run.training
    if t is not None and "replications" in t.columns and len(t):
        top = t.sort_values("replications", ascending=False, kind="stable").iloc[0]
        if int(top["replications"]) > 0:
            out.append(
                f"<b>Most replicated training image</b>: #{int(top['id'])} with {int(top['replications']):,} "
                f"replicas; {int((t['replications'] > 0).sum()):,} of {len(t):,} training images have at least one."
            )  # fmt: skip
    return out


def _regularization_words(result: dict) -> list[str]:
    reg = rows(result.get("regularization"))
    out = []
    for kind in dict.fromkeys(str(r.get("kind", "?")) for r in reg):
        pts = sorted(
            (num(r.get("strength")), num(r.get("collapse")))
            for r in reg
            if str(r.get("kind", "?")) == kind
        )
        pts = [p for p in pts if math.isfinite(p[0])]
        if pts:
            (s0, c0), (s1, c1) = pts[0], pts[-1]
            out.append(
                f"<b>Regularization ({esc(kind)})</b>: {pct(c0)} of samples collapse onto a training point at "
                f"strength {s0:g}, {pct(c1)} at {s1:g}."
            )
    return out


def _density_verdict(run: GenerativeRun):
    result = run.result
    density = result.get("density") if isinstance(result.get("density"), dict) else {}
    frame = run.density
    scores = (frame["memorization"].to_numpy(dtype=np.float64) if frame is not None and "memorization" in frame.columns
              else np.array([]))  # fmt: skip
    finite = scores[np.isfinite(scores)]
    median, p95 = num(density.get("median")), num(density.get("p95"))
    if (
        not math.isfinite(median) and finite.size
    ):  # older or partial runs: the stored column's order statistics
        median = float(np.median(finite))
    if not math.isfinite(p95) and finite.size:
        p95 = float(np.percentile(finite, 95))
    top = rows(density.get("top"))
    if not top and frame is not None and "memorization" in frame.columns:
        top = (
            frame.sort_values("memorization", ascending=False, kind="stable")
            .head(5)
            .to_dict("records")
        )
    top_score = (
        num(top[0].get("memorization"))
        if top
        else (float(finite.max()) if finite.size else float("nan"))
    )
    tenfold = int((finite >= TENFOLD_NATS).sum())
    n = density["n_examples"] if isinstance(density.get("n_examples"), int) else finite.size
    tiles = [
        _tile("Median score", f"{fmt(median)} nats", "held-in − held-out log-likelihood"),
        _tile("95th percentile", f"{fmt(p95)} nats", f"e^M = {times(p95)} more likely" if math.isfinite(p95) else ""),
        _tile("Top score", f"{fmt(top_score)} nats",
              (f"example #{esc(top[0].get('id', '?'))}; " if top else "")
              + (f"e^M = {times(top_score)}" if math.isfinite(top_score) else ""),
              "warn" if math.isfinite(top_score) and top_score >= TENFOLD_NATS else "ok"),
        _tile("≥ 10× more likely", f"{tenfold:,} / {finite.size:,}", f"examples with M ≥ ln 10 = {TENFOLD_NATS:.2f} nats",
              "warn" if tenfold else "ok"),
    ]  # fmt: skip
    tail = (
        f"{top_score - p95:.2f} nats above the 95th percentile"
        if math.isfinite(top_score - p95)
        else ""
    )
    headline = (
        f"Memorization scores: median {fmt(median)} nats, 95th percentile {fmt(p95)}, top {fmt(top_score)}"
        + (f" ({tail})" if tail else "")
        + "."
    )
    findings = [
        f"<b>How heavy the tail is</b>: half of the {n:,} examples score below {fmt(median)} nats and 95% below "
        f"{fmt(p95)}; {tenfold:,} are at least 10 times more likely under models trained on them "
        f"(M ≥ {TENFOLD_NATS:.2f} nats), and the top example scores {fmt(top_score)}.",
    ]
    if top:
        listed = "; ".join(
            f"#{esc(t.get('id', '?'))}" + (f" (label {esc(t['label'])})" if num(t.get("label")) >= 0 else "")
            + f": {fmt(t.get('memorization'))}" for t in top[:5]
        )  # fmt: skip
        findings.append(f"<b>Most memorized</b>: {listed} nats.")
    folds, models = density.get("folds"), density.get("models")
    findings.append(
        f"<b>Estimate</b>: {size_words(models)} models on a {size_words(folds)}-fold design, each example held out "
        "by some and trained on by the rest; the score is the log-mean-exp log-likelihood when held in minus "
        "when held out (van den Burg &amp; Williams)."
    )
    return headline, tiles, findings, tenfold > 0
