"""The generative report's sections below the verdict: plots, galleries "generated | nearest |
second nearest", the density ranking, the tables of samples and training examples, and the run's
details.
"""

from __future__ import annotations

import math

import numpy as np

from memlens.report import examples, plots
from memlens.report.assets import JS
from memlens.report.facts import Section, esc, pct
from memlens.report.generative_data import (
    DENSITY_HELP,
    SAMPLE_HELP,
    SAMPLE_ROWS,
    TOP_DENSITY,
    TRAINING_HELP,
    GenerativeRun,
    by_size,
    fmt,
    num,
    rows,
    target_of,
)
from memlens.report.sections import _dl, _figure, _value

#: styles of the galleries (appended to the page's stylesheet, so the page's policy allows them)
GENERATIVE_CSS = """
.pairs { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; margin-bottom: 18px; }
.pair { border: 1px solid var(--line); border-radius: 8px; padding: 10px; background: var(--card); font-size: 12.5px; }
.pair.replicated { border-color: var(--warn); box-shadow: inset 0 0 0 1px var(--warn); }
.pair .imgs { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; text-align: center; }
.pair img { width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto 3px; border-radius: 4px; border: 1px solid var(--line); }
.pair .cap { color: var(--faint); font-size: 11.5px; }
.pair .row { display: flex; justify-content: space-between; align-items: center; margin-top: 6px; }
.pair .score { font-weight: 700; font-variant-numeric: tabular-nums; }
.badge.replicated { background: #fed7d7; color: #9b2c2c; }
.badge.novel { background: #e6fffa; color: #234e52; }
h3.group { margin: 14px 0 8px; }
.plots > figure:only-child { max-width: 640px; }
"""

#: the element ids the table script looks up; a second table on the page gets its own copy of the
#: script with each id suffixed
TABLE_IDS = (
    "memlens-data",
    "scores-table",
    "filter",
    "only-planted",
    "page-info",
    "first",
    "prev",
    "next",
    "last",
)


def table_script(suffix: str) -> str:
    """The page's table script, driving the table whose element ids end in ``-{suffix}``."""
    script = JS
    for name in TABLE_IDS:
        script = script.replace(f'getElementById("{name}")', f'getElementById("{name}-{suffix}")')
    return script


def _ids(suffix: str | None) -> dict[str, str]:
    return {name: name if suffix is None else f"{name}-{suffix}" for name in TABLE_IDS}


def _table(frame, *, suffix: str | None, help: dict, sort: str, toggle: str | None, classes, placeholder: str,
           hint: str) -> tuple[str, str]:  # fmt: skip
    """(controls and table HTML, its data script) for one interactive table."""
    i = _ids(suffix)
    check = (
        f'<label><input type="checkbox" id="{i["only-planted"]}"> {esc(toggle)} only</label>'
        if toggle
        else f'<label hidden><input type="checkbox" id="{i["only-planted"]}"></label>'
    )
    body = (
        f'<div class="controls"><input type="search" id="{i["filter"]}" placeholder="{esc(placeholder)}" '
        f'aria-label="filter rows">{check}<div class="pager"><button id="{i["first"]}" type="button">«</button>'
        f'<button id="{i["prev"]}" type="button">‹</button><span id="{i["page-info"]}"></span>'
        f'<button id="{i["next"]}" type="button">›</button><button id="{i["last"]}" type="button">»</button></div></div>'
        f'<div class="tablewrap"><table class="scores" id="{i["scores-table"]}"></table></div>'
        f'<p class="hint">{hint} Click a column name to sort (again to reverse); hover it for its meaning. The '
        "filter keeps rows matching every word: plain words search ids and labels; <code>column&gt;number</code>, "
        "<code>&lt;</code>, <code>&gt;=</code>, <code>&lt;=</code>, <code>=</code>, <code>!=</code> compare a column.</p>"
    )
    extra = {"sort": sort, **({"planted": toggle} if toggle else {})}
    data = (
        f'<script type="application/json" id="{i["memlens-data"]}">'
        f"{examples.table_json(frame, classes, help=help, extra=extra)}</script>"
    )
    return body, data


# --- plots --------------------------------------------------------------------------------------


def emm_mark(result: dict) -> tuple[float | None, str]:
    """(|D| marked on the ratio plot, its legend): the EMM when the grid crossed the target, else
    the largest size still at the target, if the writer gave one."""
    emm = result.get("emm") if isinstance(result.get("emm"), dict) else {}
    value = num(emm.get("value"))
    if not math.isfinite(value) or value <= 0:
        return None, ""
    label = (
        f"EMM ≈ {int(value):,}"
        if emm.get("crossed")
        else f"largest |D| at the target: {int(value):,}"
    )
    return value, label


def diffusion_plots(run: GenerativeRun) -> Section:
    result, figs = run.result, []
    sizes = by_size(result)
    target = target_of(result)
    if sizes:
        emm, label = emm_mark(result)
        models = rows(result.get("models"))
        uri = plots.ratio_vs_size(
            [r["size"] for r in sizes], [r["ratio"] for r in sizes], [r["ci_low"] for r in sizes],
            [r["ci_high"] for r in sizes], target=target, emm=emm, emm_label=label,
            model_sizes=[num(m.get("size")) for m in models], model_ratios=[num(m.get("ratio")) for m in models],
        )  # fmt: skip
        level = num(result.get("level"))
        figs.append(_figure(
            uri, "Memorization ratio vs training-set size",
            "The fraction of generated samples that replicate a training image (distance ratio to the nearest "
            f"over the second-nearest below {fmt(result.get('threshold'), 3)}), for models trained on |D| images, "
            "at each model's best snapshot"
            + (f", with its {level * 100:g}% confidence interval." if math.isfinite(level) else "."),
            f"the dashed line is the target 1 − ε = {fmt(target)}; the effective model memorization (EMM) is "
            "the largest |D| still at or above it (dotted vertical line). A ratio falling with |D| is the "
            "model generalizing once it has enough data.",
            "line chart of memorization ratio against training-set size, "
            + (f"{label} marked by a vertical line" if emm else "no EMM marked (the grid never crossed the target)"),
        ))  # fmt: skip
    regularization = rows(result.get("regularization"))
    if regularization:
        figs.append(_figure(
            plots.collapse_vs_strength([r.get("kind", "?") for r in regularization],
                                       [num(r.get("strength")) for r in regularization],
                                       [num(r.get("collapse")) for r in regularization]),
            "Collapse vs regularization strength",
            "The fraction of samples that collapse onto a training point when the closed-form score is "
            "regularized, one line per regularization (Tikhonov: s/(σ² + c); density floor: max(p̂, τ)).",
            "the unregularized empirical score collapses (memorizes); a line that falls with strength shows "
            "the regularization preventing it.",
            "line chart of collapse fraction against regularization strength",
        ))  # fmt: skip
    if not figs:
        figs.append('<p class="notice">generative.json holds no memorization ratios to plot.</p>')
    return Section("gen-plots", "Plots", f'<div class="plots">{"".join(figs)}</div>')


def density_plots(run: GenerativeRun) -> Section:
    frame = run.density
    if frame is None or "memorization" not in frame.columns or not len(frame):
        return Section(
            "gen-plots", "Plots", '<p class="notice">The run holds no density.parquet to plot.</p>'
        )
    density = run.result.get("density") if isinstance(run.result.get("density"), dict) else {}
    values = frame["memorization"].to_numpy(dtype=np.float64)
    marks = {"median": num(density.get("median")), "95th percentile": num(density.get("p95"))}
    uri = plots.score_histogram(values, xlabel="memorization (nats): held-in − held-out log-likelihood",
                                marks=marks)  # fmt: skip
    fig = _figure(
        uri, "Density-memorization scores",
        "How many examples have each memorization score: the log-mean-exp log-likelihood under the models "
        "trained on the example minus under the models that held it out (van den Burg &amp; Williams).",
        "most examples sit near 0 nats: the models find them as likely whether or not they trained on them. "
        "A long right tail is a few examples the models learned individually; e^M is how many times more "
        "likely an example is when trained on.",
        "histogram of density-memorization scores",
    )  # fmt: skip
    return Section("gen-plots", "Plots", f'<div class="plots">{fig}</div>')


# --- galleries ----------------------------------------------------------------------------------


def _image(pixels, shape, alt: str) -> str:
    """An 8-bit image of the run (list of H·W values) as an inline PNG, or a note when it cannot be."""
    if pixels is None or shape is None:
        return '<div class="cap">(no pixels)</div>'
    values = np.asarray(pixels, dtype=np.float64).ravel() / 255.0
    uri = examples.thumbnail_uri(values, shape)
    return (
        f'<img src="{uri}" alt="{esc(alt)}">'
        if uri
        else '<div class="cap">(pixels do not fit the image shape)</div>'
    )


def _int(v) -> int | None:
    v = num(v) if not isinstance(v, np.integer) else float(v)
    return int(v) if math.isfinite(v) else None


def diffusion_gallery(run: GenerativeRun) -> Section:
    sub = (
        "Generated samples beside their nearest and second-nearest training images, most replicated first. "
        "The number under each row is the distance ratio d(nearest) / d(second nearest); below the threshold "
        f"({fmt(run.result.get('threshold'), 3)}) the sample is a replica (red border)."
    )
    frame, shape = run.gallery, run.image_shape
    if frame is None or not len(frame):
        why = (
            "the data are not images"
            if shape is None
            else "the run holds no generative_gallery.parquet"
        )
        return Section("gen-gallery", "Generated samples and their nearest training images",
                       f'<p class="notice">No gallery: {why}. The ratios and tables are unaffected.</p>', sub)  # fmt: skip
    frame = frame.copy()
    keys = [c for c in ("size", "model", "step") if c in frame.columns]
    frame = frame.sort_values([*keys, "ratio"] if "ratio" in frame.columns else keys, kind="stable")
    parts = []
    ratio_of = {_int(m.get("model")): num(m.get("ratio")) for m in rows(run.result.get("models"))}
    groups = frame.groupby(keys, sort=False) if keys else [((), frame)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        named = dict(zip(keys, key, strict=True))
        title = " · ".join(
            f"{'|D|' if k == 'size' else k} = {int(v):,}"
            for k, v in named.items()
            if _int(v) is not None
        )
        model_ratio = ratio_of.get(_int(named.get("model")), float("nan"))
        if math.isfinite(model_ratio):
            title += f" · memorization ratio {pct(model_ratio)}"
        cards = []
        for r in group.to_dict("records"):
            replicated = bool(r.get("replicated", False))
            nearest, second = _int(r.get("nearest_id")), _int(r.get("second_id"))
            badge = ('<span class="badge replicated">replicated</span>' if replicated
                     else '<span class="badge novel">not replicated</span>')  # fmt: skip
            cards.append(
                f'<div class="pair{" replicated" if replicated else ""}" data-sample="{esc(r.get("sample", ""))}">'
                '<div class="imgs">'
                f'<div>{_image(r.get("generated"), shape, "generated sample")}<span class="cap">generated '
                f"#{esc(r.get('sample', '?'))}</span></div>"
                f'<div>{_image(r.get("nearest"), shape, f"training image {nearest}")}<span class="cap">nearest '
                f"#{esc(nearest)}</span></div>"
                f'<div>{_image(r.get("second"), shape, f"training image {second}")}<span class="cap">second '
                f"#{esc(second)}</span></div></div>"
                f'<div class="row"><span>ratio <span class="score">{fmt(r.get("ratio"), 3)}</span></span>{badge}</div></div>'
            )
        parts.append(
            f'<h3 class="group">{esc(title)}</h3><div class="pairs">{"".join(cards)}</div>'
        )
    return Section(
        "gen-gallery", "Generated samples and their nearest training images", "".join(parts), sub
    )


def density_ranking(run: GenerativeRun) -> Section:
    """The most memorized examples, with their images when the run stored pixels."""
    frame = run.density
    sub = (
        f"The {TOP_DENSITY} examples with the highest density-memorization score: e^M is how many times more "
        "likely the models find the example when trained on it. Images are stored for these rows only."
    )
    if frame is None or not len(frame):
        density = run.result.get("density") if isinstance(run.result.get("density"), dict) else {}
        top = rows(density.get("top"))
        if not top:
            return Section("gen-ranking", "The most memorized examples",
                           '<p class="notice">The run holds no density.parquet.</p>', sub)  # fmt: skip
        import pandas as pd

        frame = pd.DataFrame(top)
    key = "rank" if "rank" in frame.columns else "memorization"
    frame = frame.sort_values(key, ascending=key == "rank", kind="stable").head(TOP_DENSITY)
    shape, classes = run.image_shape, run.classes
    cards = []
    for position, r in enumerate(frame.to_dict("records"), start=1):
        pixels = r.get("pixels")
        view = (
            _image(pixels, shape, f"example {r.get('id')}") if pixels is not None and shape else ""
        )
        label = _int(r.get("label"))
        name = (
            "–"
            if label is None or label < 0
            else (classes[label] if label < len(classes) else str(label))
        )
        lines = [
            ("label", name),
            ("held-in", fmt(r.get("held_in"))),
            ("held-out", fmt(r.get("held_out"))),
        ]
        rows_html = "".join(
            f'<div class="row"><span>{k}</span><span>{esc(v)}</span></div>' for k, v in lines
        )
        rank = _int(r.get("rank")) or position
        cards.append(
            f'<div class="example" data-id="{esc(r.get("id", ""))}">{view}<div class="row"><span>#{esc(r.get("id", "?"))}'
            f' · rank {rank}</span><span class="score">{fmt(r.get("memorization"))}</span></div>{rows_html}</div>'
        )
    return Section(
        "gen-ranking",
        "The most memorized examples",
        f'<div class="gallery">{"".join(cards)}</div>',
        sub,
    )


# --- tables -------------------------------------------------------------------------------------


def sample_rows(frame):
    """The samples the table embeds: the ``SAMPLE_ROWS`` lowest distance ratios (most replicated
    first), ties in size, model, step and sample order."""
    keys = [c for c in ("ratio", "size", "model", "step", "sample") if c in frame.columns]
    ordered = frame.sort_values(keys, kind="stable") if keys else frame
    return ordered.head(SAMPLE_ROWS).reset_index(drop=True)


def diffusion_tables(run: GenerativeRun) -> tuple[list[Section], str, tuple[str, ...]]:
    """The samples and training-examples sections, their data scripts, and the extra table script."""
    sections, data, scripts = [], "", ()
    if run.samples is not None:
        shown = sample_rows(run.samples)
        n = len(run.samples)
        capped = (f"the {len(shown):,} with the lowest distance ratio (most replicated first) of {n:,} rows"
                  if n > len(shown) else f"all {n:,} rows")  # fmt: skip
        body, script = _table(
            shown, suffix=None, help=SAMPLE_HELP, sort="replicated" if "replicated" in shown.columns else "ratio",
            toggle="replicated" if "replicated" in shown.columns else None, classes=run.classes,
            placeholder="filter: an id, or column>value such as size>=64 or ratio<0.2",
            hint="Replicated samples first, then by distance ratio. Highlighted rows are replicas.",
        )  # fmt: skip
        sections.append(Section(
            "gen-samples", "Generated samples",
            body, f"One row per generated sample and snapshot: {capped}, 100 a page; every row is in "
            "<code>samples.parquet</code>.",
        ))  # fmt: skip
        data += script
    if run.training is not None:
        ordered = run.training
        if "replications" in ordered.columns:
            ordered = ordered.sort_values(
                "replications", ascending=False, kind="stable"
            ).reset_index(drop=True)
        suffix = "training" if data else None
        body, script = _table(
            ordered, suffix=suffix, help=TRAINING_HELP,
            sort="replications" if "replications" in ordered.columns else "id", toggle=None, classes=run.classes,
            placeholder="filter: an id, or column>value such as replications>=1",
            hint="Most replicated training images first.",
        )  # fmt: skip
        sections.append(Section(
            "gen-training", "Training examples", body,
            f"Every training example ({len(ordered):,}): how many models trained on it and how many samples "
            "replicate it; also in <code>training_examples.parquet</code>.",
        ))  # fmt: skip
        data += script
        scripts = (table_script(suffix),) if suffix else ()
    return sections, data, scripts


def density_table(run: GenerativeRun) -> tuple[list[Section], str]:
    frame = run.density
    if frame is None:
        return [], ""
    table = frame.drop(columns=[c for c in ("pixels",) if c in frame.columns])
    if "rank" in table.columns:
        table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    body, script = _table(
        table, suffix=None, help=DENSITY_HELP, sort="memorization" if "memorization" in table.columns else "id",
        toggle=None, classes=run.classes, placeholder="filter: an id, or column>value such as memorization>=1",
        hint="Most memorized first.",
    )  # fmt: skip
    section = Section("gen-table", "All examples", body,
                      f"Every example of the run ({len(table):,}) with its scores, 100 rows a page; also in "
                      "<code>density.parquet</code>.")  # fmt: skip
    return [section], script


# --- details ------------------------------------------------------------------------------------


def _models_table(result: dict) -> str:
    models = rows(result.get("models"))
    if not models:
        return ""
    body = []
    for m in sorted(models, key=lambda m: (num(m.get("size")), num(m.get("model")))):
        steps = m.get("ratios_by_step") if isinstance(m.get("ratios_by_step"), dict) else {}
        by_step = " · ".join(
            f"{esc(k)}: {pct(num(v))}" for k, v in sorted(steps.items(), key=lambda kv: int(kv[0]) if str(kv[0]).isdigit() else -1)
        )  # fmt: skip
        body.append(
            f"<tr><td>{esc(m.get('model', '?'))}</td><td>{esc(_value(m.get('size')))}</td><td>{pct(num(m.get('ratio')))}"
            f'<br><span class="ci">{pct(num(m.get("ci_low")))} – {pct(num(m.get("ci_high")))}</span></td>'
            f"<td>{esc(_value(m.get('best_step')))}</td><td>{by_step or '–'}</td></tr>"
        )
    return (
        '<div class="card"><h3>Models</h3><table class="small" id="gen-models"><thead><tr><th>model</th><th>|D|</th>'
        "<th>memorization ratio</th><th>best step</th><th>ratio at each snapshot</th></tr></thead><tbody>"
        + "".join(body)
        + '</tbody></table><p class="hint">Each model\'s ratio is its highest over the snapshots (Gu et al.).</p></div>'
    )


def details_section(run: GenerativeRun) -> Section:
    result, manifest, config = run.result, run.manifest, run.config
    shown = ("kind", "dataset", "model", "condition", "sampler", "image_shape", "value_range", "threshold",
             "epsilon", "level", "seconds", "training_seconds")  # fmt: skip
    audit = [
        (k, f"{result[k]:.4g}" if isinstance(result[k], float) else result[k])
        for k in shown
        if k in result
    ]
    density = result.get("density") if isinstance(result.get("density"), dict) else {}
    audit += [(f"density: {k}", v) for k, v in density.items() if k != "top"]
    blocks = [("Audit (generative.json)", audit)]
    blocks += [(str(k), list(v.items())) for k, v in config.items() if isinstance(v, dict) and v]
    scalars = [(k, v) for k, v in config.items() if not isinstance(v, dict)]
    other = [("status", manifest.get("status")), ("created", manifest.get("created")),
             ("training seconds", manifest.get("training_seconds"))]  # fmt: skip
    other += [(f"version: {k}", v) for k, v in (manifest.get("versions") or {}).items()]
    blocks += [("Configuration", scalars), ("Run", other)]
    body = (
        '<div class="plots">'
        + "".join(
            f'<div class="card"><h3>{esc(t)}</h3>{_dl(items)}</div>' for t, items in blocks if items
        )
        + _models_table(result)
        + "</div>"
    )
    return Section("gen-details", "Run details", body,
                   "From <code>generative.json</code> and the configuration in <code>run.json</code>.")  # fmt: skip
