"""The classification report's sections below the verdict: plots, the gallery of the most
memorized examples, the table of every example, and the run's details.
"""

from __future__ import annotations

import numpy as np

from memlens.report import examples, plots
from memlens.report.facts import (
    GALLERY_SIZE,
    STRONG,
    Facts,
    Section,
    esc,
)

# --- plots -------------------------------------------------------------------------------------


def _figure(uri: str, title: str, what: str, howto: str, alt: str) -> str:
    return (
        f'<figure class="card plot"><h3>{esc(title)}</h3><img src="{uri}" alt="{esc(alt)}">'
        f'<figcaption>{what} <span class="howto"><b>How to read it:</b> {howto}</span></figcaption></figure>'
    )


def plots_section(f: Facts) -> Section:
    s = f.scores
    mem = f.memorization
    planted = f.planted
    scored = bool(np.isfinite(mem).any())
    figs = (
        []
        if not scored
        else [
            _figure(
                plots.memorization_histogram(mem, planted, threshold=STRONG),
                "Memorization scores",
                "How many examples have each memorization score"
                + (
                    ", planted (orange outline) and clean (blue) counted separately."
                    if planted is not None
                    else "."
                ),
                "most examples sit near 0: models get them right whether or not they trained on them. "
                f"Examples right of the dashed line at {STRONG:g} are got right mostly when trained on: memorized."
                + (" Planted examples should sit to the right." if planted is not None else ""),
                "histogram of memorization scores",
            )  # fmt: skip
        ]
    )
    attacks = {k: v for k, v in f.attacks().items() if "roc" in v}
    if attacks:
        figs.append(_figure(
            plots.roc_curves(attacks), "Membership-inference ROC (log–log)",
            "Each attack's true-positive rate against its false-positive rate, on log scales.",
            "up is more training members found, left is fewer non-members wrongly flagged. The dashed "
            "diagonal is guessing; a curve well above it at the left (dotted lines: 0.1% and 1% FPR) "
            "means an attacker can confidently pick out some training examples.",
            "ROC curves of the membership-inference attacks on log-log axes",
        ))  # fmt: skip
    if not scored:
        figs.insert(
            0,
            '<p class="notice">No example has a memorization score: each lacked models that '
            "trained on it or models that held it out (see the design). Memorization plots are left out.</p>",
        )
    if "in_count" in s.columns and scored:
        constant = s["in_count"].nunique() == 1
        figs.append(_figure(
            plots.score_vs_in_count(mem, s["in_count"].to_numpy(), planted), "Memorization vs in-count",
            "Each dot is an example, placed by how many models trained on it (spread sideways a little).",
            "a score backed by few models is noisy; the line is the mean at each in-count."
            + (f" With this run's design every example was in exactly {int(s['in_count'].iloc[0])} models, "
               "so there is a single column." if constant else ""),
            "scatter of memorization against in-count",
        ))  # fmt: skip
    for col in examples.extra_score_columns(s) if scored else []:
        uri, rho = plots.proxy_vs_memorization(mem, s[col].to_numpy(dtype=np.float64), col, planted)
        figs.append(_figure(
            uri, f"{col} vs Feldman–Zhang memorization",
            f"Each dot is an example: the cheap score <code>{esc(col)}</code> against Feldman–Zhang "
            f"memorization from many retrained models (Spearman ρ = {rho:.2f}).",
            "a proxy that agrees with Feldman–Zhang puts the dots along a rising band and ρ near 1; "
            "planted examples in the top right are found by both.",
            f"scatter of {col} against memorization",
        ))  # fmt: skip
    if "label" in s.columns and len(f.classes) and scored:
        figs.append(_figure(
            plots.per_class(mem, s["label"].to_numpy(), f.classes, threshold=STRONG), "Memorization by class",
            "Mean memorization of the examples given each label, with how many are strongly memorized.",
            "classes with atypical, ambiguous or mislabeled examples rank high; error bars are ±1 standard error.",
            "bar chart of mean memorization per class",
        ))  # fmt: skip
    if f.curve and f.curve.get("attacks"):
        figs.append(_figure(
            plots.privacy_over_training(f.curve), "Membership leakage over training",
            "The attacks of the table above, repeated on the models as they were at each evaluation "
            "during training (recorded by the training-loop callback).",
            "a curve that climbs with the epochs means the models leak more the longer they fit their "
            "training data; the dashed lines are chance. Stopping earlier, where the curve is still "
            "low, trades some accuracy for privacy.",
            "line charts of attack AUC and TPR at low FPR against training epoch",
        ))  # fmt: skip
    return Section("plots", "Plots", f'<div class="plots">{"".join(figs)}</div>')


# --- the gallery -------------------------------------------------------------------------------


def _label(classes: list[str], v) -> str:
    """A class's display name (the gallery shows names; the table shows "index · name")."""
    try:
        v = int(v)
    except (TypeError, ValueError):
        return "–"
    if v < 0:
        return "–"
    return classes[v] if v < len(classes) else str(v)


def top_examples(scores, k: int) -> np.ndarray:
    """Row positions of the ``k`` most memorized examples (the order the audit stored them in)."""
    from memlens.classifier_estimates import most_memorized

    return most_memorized(scores, k)


def _view(stored: dict | None, ex_id: int) -> str:
    """An example as the gallery shows it: a thumbnail, an excerpt of its features or its text."""
    if stored is None:
        return '<div class="excerpt">(contents not stored)</div>'
    if stored["kind"] == "text":
        return f'<div class="excerpt">{esc(examples.text_excerpt(stored["text"]))}</div>'
    values = np.asarray(stored["values"], dtype=np.float32)
    uri = examples.thumbnail_uri(values, stored["shape"]) if stored["kind"] == "image" else None
    if uri:
        return f'<img src="{uri}" alt="example {ex_id}">'
    return f'<div class="excerpt mono">{esc(examples.feature_excerpt(values))}</div>'


def gallery_section(f: Facts, gallery: dict | None, problem: str | None) -> Section:
    s = f.scores
    sub = (
        f"The {GALLERY_SIZE} examples with the highest memorization. <b>given</b> is the label the models "
        "trained on; <b>held-out</b> is what models that never saw the example predict — when it "
        "disagrees with the given label (red), the label was learned by rote. Orange border: planted."
    )
    if gallery is None or problem:
        note = problem or "the run holds no gallery."
        return Section("gallery", "The most memorized examples",
                       f'<p class="notice">The examples cannot be shown: {esc(note)} The scores and the '
                       "table below are unaffected.</p>", sub)  # fmt: skip
    order = top_examples(s, GALLERY_SIZE)
    cards = []
    for i in order:
        row = s.iloc[int(i)]
        ex_id = int(row["id"]) if "id" in s.columns else int(i)
        view = _view(gallery.get(ex_id), ex_id)
        given = _label(f.classes, row.get("label"))
        lines = [("given", esc(given), "")]
        if "predicted_out" in s.columns:
            held = _label(f.classes, row["predicted_out"])
            bad = int(row["predicted_out"]) >= 0 and int(row["predicted_out"]) != int(row["label"])
            lines.append(("held-out", esc(held), "mismatch" if bad else ""))
        is_planted = bool(row.get("planted", False))
        if (
            is_planted
            and "original_label" in s.columns
            and int(row["original_label"]) != int(row["label"])
        ):
            lines.append(("originally", esc(_label(f.classes, row["original_label"])), ""))
        rows = "".join(
            f'<div class="row"><span>{k}</span><span class="{c}">{v}</span></div>'
            for k, v, c in lines
        )
        se = row.get("memorization_stderr", float("nan"))
        score = f"{row['memorization']:.2f}" + (f" ± {se:.2f}" if se == se else "")
        badge = (
            f' <span class="badge">{esc(row.get("plant", "") or "planted")}</span>'
            if is_planted
            else ""
        )
        cards.append(
            f'<div class="example{" is-planted" if is_planted else ""}" data-id="{ex_id}">{view}'
            f'<div class="row"><span>#{ex_id}</span><span class="score">{score}</span></div>{rows}'
            f"{badge}</div>"
        )
    return Section(
        "gallery",
        "The most memorized examples",
        f'<div class="gallery">{"".join(cards)}</div>',
        sub,
    )


# --- the table and details ---------------------------------------------------------------------


def table_section(f: Facts) -> tuple[Section, str]:
    body = (
        '<div class="controls"><input type="search" id="filter" placeholder="filter: text (e.g. a class name), '
        'or column&gt;value such as memorization&gt;=0.5 or plant=label-noise" aria-label="filter rows">'
        '<label><input type="checkbox" id="only-planted"> planted only</label>'
        '<div class="pager"><button id="first" type="button">«</button><button id="prev" type="button">‹</button>'
        '<span id="page-info"></span><button id="next" type="button">›</button>'
        '<button id="last" type="button">»</button></div></div>'
        '<div class="tablewrap"><table class="scores" id="scores-table"></table></div>'
        '<p class="hint">Click a column name to sort (again to reverse); hover it for its meaning. The filter '
        "keeps rows matching every word: plain words search ids, labels and plants; "
        "<code>column&gt;number</code>, <code>&lt;</code>, <code>&gt;=</code>, <code>&lt;=</code>, <code>=</code>, "
        "<code>!=</code> compare a column. Highlighted rows are planted.</p>"
    )
    sub = f"Every example of the run ({len(f.scores):,}) with every score column, 100 rows a page; also in <code>scores.parquet</code>."
    data = f'<script type="application/json" id="memlens-data">{examples.table_json(f.scores, f.classes)}</script>'
    return Section("table", "All examples", body, sub), data


def _value(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) if v else "none"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items())
    return str(v)


def _dl(items) -> str:
    return (
        '<dl class="config">'
        + "".join(f"<dt>{esc(k)}</dt><dd>{esc(_value(v))}</dd>" for k, v in items)
        + "</dl>"
    )


def details_section(f: Facts) -> Section:
    d, c = f.dataset, f.config
    dataset = [(k, v) for k, v in d.items() if k != "classes"]
    dataset.append(("classes", ", ".join(map(str, d.get("classes", f.classes)))))
    trainer = list(c.get("trainer", {}).items())
    design = list(c.get("design", {}).items())
    other = [("seed", c.get("seed")), ("shard size", c.get("shard_size")), ("status", f.manifest.get("status")),
             ("created", f.manifest.get("created")), ("training seconds", f.manifest.get("training_seconds"))]  # fmt: skip
    other += [(f"version: {k}", v) for k, v in f.manifest.get("versions", {}).items()]
    mia = [(k, v) for k, v in f.mia.items() if k != "attacks"]
    blocks = [
        ("Dataset", dataset),
        ("Design", design),
        ("Trainer", trainer),
        ("Run", other),
        ("Membership inference", mia),
    ]
    body = (
        '<div class="plots">'
        + "".join(
            f'<div class="card"><h3>{esc(t)}</h3>{_dl(items)}</div>' for t, items in blocks if items
        )
        + "</div>"
    )
    return Section(
        "details",
        "Run details",
        body,
        "Everything needed to reproduce the run, from <code>run.json</code> and <code>mia.json</code>.",
    )


