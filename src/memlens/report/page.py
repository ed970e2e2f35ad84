"""Assemble the report page from a finished run: verdict, plots, examples, table, details.

Every string that reaches the HTML from the run (dataset name or path, class names, plant specs,
trainer parameters, error messages) goes through :func:`esc`; the only unescaped markup is this
module's own. The page carries a Content-Security-Policy that allows no network at all and only
this page's own script and stylesheet (by hash), as a second wall behind the escaping.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from dataclasses import dataclass

import numpy as np

from memlens.report import examples, plots
from memlens.report.assets import CSS, JS

STRONG = 0.5  # memorization at or above this is "strongly memorized"
GALLERY_SIZE = 24


def esc(value) -> str:
    """HTML-escape any value (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


@dataclass
class Section:
    """One titled part of the page; later modalities append their own."""

    id: str
    title: str
    body: str  # trusted HTML built by this package
    subtitle: str = ""  # trusted HTML

    def html(self) -> str:
        sub = f'<p class="sub">{self.subtitle}</p>' if self.subtitle else ""
        return f'<section id="{esc(self.id)}"><h2>{esc(self.title)}</h2>{sub}{self.body}</section>'


# --- numbers in words ------------------------------------------------------------------------


def pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    x *= 100
    if x == 0 or x >= 10:
        return f"{x:.1f}%" if x < 99.95 or x == 100 else f"{x:.2f}%"
    return f"{x:.2f}%" if x >= 0.1 else f"{x:.3f}%"


def fpr_words(key: str) -> str:
    """An FPR level as a short percentage: ``"0.001"`` → ``"0.1%"``."""
    return f"{float(key) * 100:g}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _count(n: int, what: str, plural: str | None = None) -> str:
    return f"{n:,} {what if n == 1 else (plural or what + 's')}"


# --- the run's facts, read once ----------------------------------------------------------------


@dataclass
class Facts:
    manifest: dict
    scores: object  # pandas DataFrame
    mia: dict
    classes: list[str]
    curve: dict | None = None  # training_curve.json: the attacks at each evaluation, when recorded

    @property
    def config(self) -> dict:
        return self.manifest.get("config", {})

    @property
    def dataset(self) -> dict:
        return self.config.get("dataset", {})

    @property
    def planted(self) -> np.ndarray | None:
        if "planted" not in self.scores.columns:
            return None
        planted = self.scores["planted"].to_numpy(dtype=bool)
        return planted if planted.any() else None

    @property
    def memorization(self) -> np.ndarray:
        return self.scores["memorization"].to_numpy(dtype=np.float64)

    def attacks(self) -> dict:
        """Attacks with results (an ``auc``), in mia.json's order."""
        return {
            k: v
            for k, v in self.mia.get("attacks", {}).items()
            if isinstance(v, dict) and "auc" in v
        }

    def best_attack(self) -> str | None:
        """The attack with the highest TPR at the lowest FPR level (then the next level, then AUC)."""
        attacks = self.attacks()
        if not attacks:
            return None

        def key(name):
            m = attacks[name]
            levels = sorted(m.get("tpr_at_fpr", {}), key=float)
            return (*[m["tpr_at_fpr"][k] for k in levels], m["auc"])

        return max(attacks, key=key)

    def trainer_words(self) -> str:
        t = self.config.get("trainer", {})
        if t.get("trainer") == "ensemble" or "model" in t:
            bits = [str(t.get("model", "model"))]
            if "width" in t and t.get("model") != "linear":  # a linear model has no width
                bits.append(f"width {t['width']}")
            if "epochs" in t:
                bits.append(f"{t['epochs']} epochs")
            if "optimizer" in t:
                bits.append(f"{t['optimizer']} lr {t.get('lr', '?')}")
            if "batch_size" in t:
                bits.append(f"batch {t['batch_size']}")
            return bits[0] + (f" ({', '.join(bits[1:])})" if len(bits) > 1 else "")
        if "estimator" in t:
            return str(t["estimator"]).rsplit(".", 1)[-1]
        return str(t.get("trainer", "unknown trainer"))

    def data_words(self) -> str:
        d = self.dataset
        parts = [_count(int(d.get("n_examples", len(self.scores))), "example"),
                 _count(int(d.get("n_classes", len(self.classes))), "class", "classes")]  # fmt: skip
        shape = d.get("image_shape")
        if shape:
            parts.append("×".join(map(str, shape)) + " images")
        elif "n_features" in d:
            parts.append(_count(int(d["n_features"]), "feature"))
        return ", ".join(parts)


# --- the verdict -------------------------------------------------------------------------------


def _tile(label: str, value: str, note: str, cls: str = "") -> str:
    return (
        f'<div class="tile {cls}"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="note">{note}</div></div>'
    )


def _ci(m: dict, key: str) -> tuple[float, float] | None:
    ci = m.get("tpr_ci", {}).get(key)
    return (float(ci[0]), float(ci[1])) if ci and len(ci) == 2 else None


def verdict(f: Facts) -> str:
    mem = f.memorization
    n = len(mem)
    finite = np.isfinite(mem)
    strong = int((mem[finite] >= STRONG).sum())
    n_nan = int((~finite).sum())
    attacks = f.attacks()
    best = f.best_attack()
    planted = f.planted

    tiles, findings = [], []
    tiles.append(_tile(
        "Strongly memorized", f"{strong:,}",
        f"of {n:,} examples ({pct(strong / n if n else float('nan'))}) have memorization ≥ {STRONG:g}",
    ))  # fmt: skip
    mem_line = (
        f"<b>{strong:,} of {n:,} examples ({pct(strong / n if n else float('nan'))}) are strongly memorized</b>: "
        f"models that trained on them get them right at least {STRONG * 100:.0f} percentage points more "
        f"often than models that did not (memorization ≥ {STRONG:g})."
    )
    if n_nan:
        mem_line += f" {_count(n_nan, 'example')} had too few models on one side and no score."
    findings.append(mem_line)

    leaks = None
    if best is not None:
        m = attacks[best]
        levels = sorted(m.get("tpr_at_fpr", {}), key=float)
        above = []
        for key in levels:
            tpr = float(m["tpr_at_fpr"][key])
            ci = _ci(m, key)
            clear = ci is not None and ci[0] > float(key)
            above.append(clear)
            note = (
                f"95% CI {pct(ci[0])} – {pct(ci[1])}" if ci else "no interval"
            ) + f"<br>best attack: {esc(best)} · chance: {fpr_words(key)}"
            tiles.append(
                _tile(
                    f"Members found at {fpr_words(key)} FPR",
                    pct(tpr),
                    note,
                    "warn" if clear else "ok",
                )
            )
        leaks = any(above)
        words = []
        for j, key in enumerate(levels):
            tpr = float(m["tpr_at_fpr"][key])
            ci = _ci(m, key)
            extra = [f"95% CI {pct(ci[0])}–{pct(ci[1])}"] if ci else []
            if float(key) > 0 and tpr / float(key) >= 1.5:
                extra.append(f"{tpr / float(key):,.0f}× a random guess")
            where = (f"while wrongly flagging {fpr_words(key)} of non-members" if j == 0
                     else f"at {fpr_words(key)} false positives")  # fmt: skip
            words.append(
                f"{pct(tpr)} of training members {where}"
                + (f" ({'; '.join(extra)})" if extra else "")
            )
        findings.append(
            f"<b>Membership inference {'succeeds' if leaks else 'does not clearly beat chance'}</b>: "
            f"the strongest attack, <b>{esc(best)}</b>, identifies " + ", and ".join(words)
            + f". AUC {m['auc']:.3f}. "
            + ("The confidence interval excludes chance, so the audited models leak membership."
               if leaks else "Every interval includes chance: no evidence of leakage at low FPR.")
        )  # fmt: skip
        warned: dict[str, list[str]] = {}
        for name, a in attacks.items():
            for w in a.get("warnings", []) or []:
                warned.setdefault(str(w), []).append(name)
        for w, names in warned.items():
            findings.append(
                f'<span class="warnings">Caution ({esc(", ".join(names))}): {esc(w)}</span>'
            )
    else:
        note = f.mia.get("note") or "no attack produced results"
        findings.append(f"<b>Membership inference was not evaluated</b>: {esc(note)}")
        tiles.append(_tile("Membership inference", "–", esc(note)))

    if planted is not None:
        from memlens.estimate import planted_recovery

        found = planted_recovery(planted, mem)
        k = found["n_planted"]
        kinds = f.scores.loc[planted, "plant"].astype(str) if "plant" in f.scores.columns else None
        plants = ", ".join(esc(p) for p in f.dataset.get("plants", [])) or "examples"
        by_kind = ""
        if kinds is not None:
            parts = []
            for kind, idx in kinds.groupby(kinds).groups.items():
                m_k = f.scores.loc[idx, "memorization"].to_numpy(dtype=np.float64)
                parts.append(f"{esc(kind)}: {int((m_k >= STRONG).sum()):,} of {len(idx):,}")
            by_kind = " Strongly memorized among them — " + "; ".join(parts) + "."
        auroc = found["auroc"]
        strong_planted = int((mem[planted] >= STRONG).sum())
        tiles.append(_tile(
            "Planted found · AUROC", f"{auroc:.2f}" if math.isfinite(auroc) else "–",
            f"1 = all ranked first, 0.5 = chance<br>{strong_planted:,} of {k:,} planted have "
            f"memorization ≥ {STRONG:g}; {found['found_in_top']:,} are in the top {k:,}",
            "ok" if math.isfinite(auroc) and auroc >= 0.8 else "",
        ))  # fmt: skip
        finite_mem = np.sort(mem[np.isfinite(mem)])[::-1]
        ties = ""
        if 0 < k <= len(finite_mem):
            kth = finite_mem[k - 1]
            tied_above = int((finite_mem >= kth).sum())
            if tied_above > k:
                ties = (f"; but {tied_above:,} examples score {kth:.2f} or more, so which of them make the top "
                        f"{k:,} is arbitrary and the AUROC is the fairer measure")  # fmt: skip
        findings.append(
            f"<b>Planted {plants}: {_count(k, 'example')}</b>. Ranking by memorization finds them with "
            f"AUROC {auroc:.3f} (1 = perfect, 0.5 = chance); {found['found_in_top']:,} of the {k:,} are "
            f"among the {k:,} most memorized ({pct(found['precision_at_k'])}){ties}." + by_kind
        )

    n_models = f.config.get("design", {}).get("n_models")
    seconds = f.manifest.get("training_seconds")
    per_model = f" ({duration(seconds / n_models)} per model)" if seconds and n_models else ""
    tiles.append(_tile(
        "Cost", f"{n_models if n_models is not None else '?'} models",
        f"{esc(f.trainer_words())}<br>training {duration(seconds)}",
    ))  # fmt: skip
    findings.append(
        f"<b>Run</b>: {n_models} × {esc(f.trainer_words())} on <span class=mono>{esc(f.dataset.get('name', '?'))}</span> "
        f"({esc(f.data_words())}), design <code>{esc(f.config.get('design', {}).get('spec', '?'))}</code>, "
        f"seed {esc(f.config.get('seed', '?'))}; training took {duration(seconds)}{per_model}."
    )

    levels = sorted(attacks[best].get("tpr_at_fpr", {}), key=float) if best is not None else []
    if not levels:
        headline = f"{strong:,} of {n:,} examples are strongly memorized; membership inference was not run."
    else:
        m = attacks[best]
        first = levels[0]
        headline = (
            f"{strong:,} of {n:,} examples are strongly memorized, and a membership-inference attack "
            + (f"finds {pct(m['tpr_at_fpr'][first])} of training members at {fpr_words(first)} false positives "
               f"(a random guess finds {fpr_words(first)})."
               if leaks else "does no better than chance at low false-positive rates.")
        )  # fmt: skip
    cls = "" if leaks is None else (" leaks" if leaks else " quiet")
    return (
        f'<section id="verdict" class="card verdict{cls}"><h1>Verdict</h1>'
        f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
        f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul>'
        f'<div class="twocol"><div>{attack_table(f)}</div><div>{config_summary(f)}</div></div></section>'
    )


def attack_table(f: Facts) -> str:
    attacks = f.mia.get("attacks", {})
    if not attacks:
        return (
            f'<h3>Attacks</h3><p class="hint">{esc(f.mia.get("note", "No attacks were run."))}</p>'
        )
    levels = sorted(
        {k for m in attacks.values() if isinstance(m, dict) for k in m.get("tpr_at_fpr", {})},
        key=float,
    )
    head = "".join(f"<th>TPR @ {fpr_words(k)} FPR</th>" for k in levels)
    best = f.best_attack()
    rows = []
    for name, m in attacks.items():
        if not isinstance(m, dict) or "auc" not in m:
            note = m.get("note", "no result") if isinstance(m, dict) else str(m)
            rows.append(
                f'<tr><td>{esc(name)}</td><td colspan="{len(levels) + 2}" class="hint">{esc(note)}</td></tr>'
            )
            continue
        cells = []
        for k in levels:
            ci = _ci(m, k)
            tpr = m.get("tpr_at_fpr", {}).get(k)
            cells.append(
                f"<td>{pct(tpr)}"
                + (f'<br><span class="ci">{pct(ci[0])} – {pct(ci[1])}</span>' if ci else "")
                + _target_spread(m, k)
                + "</td>"
            )
        members = f"{m.get('n_members', 0):,} / {m.get('n_nonmembers', 0):,}"
        mark = " ★" if name == best else ""
        rows.append(
            f'<tr class="{"best" if name == best else ""}"><td>{esc(name)}{mark}</td><td>{m["auc"]:.3f}</td>'
            f"{''.join(cells)}<td>{members}</td></tr>"
        )
    protocol = f.mia.get("protocol")
    targets = f.mia.get("targets")
    how = ""
    if targets is not None:
        methods = {m.get("tpr_ci_method") for m in attacks.values() if isinstance(m, dict) and "auc" in m}
        if methods == {"bootstrap"}:
            interval = ("its 95% interval from a bootstrap over examples and target models together (every "
                        "example is scored under every target and the targets share shadows, so the pooled "
                        "pairs are not independent); below it, the range of the targets' own TPRs (– where "
                        "one target alone has too few non-members for that FPR)")
        elif methods == {"clopper-pearson"}:
            interval = "its exact 95% (Clopper–Pearson) interval"
        else:  # a mia.json written before the intervals respected the pooling
            interval = ("its 95% Clopper–Pearson interval over the pooled pairs, which treats them as "
                        "independent and so is too narrow")
        how = (f"{_count(len(targets), 'target model')} attacked in turn, {f.mia.get('n_shadows', '?')} shadow "
               f"models each; under each TPR, {interval}. ")  # fmt: skip
    return (
        f'<h3>Attacks</h3><table class="small"><thead><tr><th>attack</th><th>AUC</th>{head}'
        f"<th>members / non-members</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="hint">{esc(how)}{esc(_sentence(protocol))} ★ = strongest at the lowest FPR.</p>'
    )


def _target_spread(m: dict, key: str) -> str:
    """'targets a – b': the range of the per-target TPRs at one FPR, when there are several."""
    per_target = m.get("per_target") if isinstance(m.get("per_target"), dict) else {}
    values = per_target.get("tpr_at_fpr", {}).get(key) or []
    spread = per_target.get("spread", {}).get(key) or {}
    if len(values) < 2 or not spread:
        return ""
    if not per_target.get("resolved", {}).get(key, True):
        return '<br><span class="ci" title="a target alone has too few non-members">targets –</span>'
    return f'<br><span class="ci">targets {pct(spread.get("min"))} – {pct(spread.get("max"))}</span>'


def _sentence(text) -> str:
    text = str(text or "").strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def _precision_words(f: Facts) -> str:
    """What the models trained in and why (``run.json``'s ``precision``), '' for scikit-learn."""
    from memlens.train.precision import describe

    choice = f.manifest.get("precision")
    if isinstance(choice, dict):
        return describe(choice)
    return str(f.config.get("trainer", {}).get("precision", ""))  # a run from before the record


def _device_words(f: Facts) -> str:
    """Where the models trained (``run.json``'s ``devices``), '' when not recorded."""
    from memlens.train.device import describe

    return describe(f.manifest.get("devices"))


def config_summary(f: Facts) -> str:
    d, c = f.dataset, f.config
    precision = _precision_words(f)
    items = [
        ("dataset", f'<span class="mono">{esc(d.get("name", "?"))}</span>'),
        ("examples", esc(f.data_words())),
        ("plants", esc(", ".join(d.get("plants", [])) or "none")),
        (
            "design",
            f"<code>{esc(c.get('design', {}).get('spec', '?'))}</code>, {esc(c.get('design', {}).get('n_models', '?'))} models",
        ),
        ("trainer", esc(f.trainer_words())),
        *([("precision", esc(precision))] if precision else []),
        *([("device", esc(devices))] if (devices := _device_words(f)) else []),
        ("training time", esc(duration(f.manifest.get("training_seconds")))),
        ("seed", esc(c.get("seed", "?"))),
        ("created", esc(f.manifest.get("created", "?"))),
    ]
    return (
        '<h3>Configuration and cost</h3><dl class="config">'
        + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
        + "</dl>"
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


# --- the page ----------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def shell(*, title: str, label: str, name: str, meta: str, verdict_html: str, sections, footer: str,
          table_data: str) -> str:
    """The page around its sections: content-security policy, inline styles and script, header,
    table of contents and footer. ``meta`` and ``footer`` are HTML (escape what goes into them)."""
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    csp = (
        f"default-src 'none'; img-src data:; style-src {_sha256(CSS)}; script-src {_sha256(JS)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · {esc(name)}</title><style>{CSS}</style></head>\n<body><main>"
        f'<header class="top"><div><span class="brand">memlens</span> {label} · '
        f'<span class="mono">{esc(name)}</span></div><div class="meta">{meta}</div></header>'
        + verdict_html
        + f'<nav class="toc">{toc}</nav>'
        + "".join(s.html() for s in sections)
        + f"<footer>{footer}This page is self-contained and makes no network requests.</footer>"
        f"</main>{table_data}<script>{JS}</script></body></html>\n"
    )


def render(f: Facts, gallery: dict | None, problem: str | None, run_path: str) -> str:
    table, table_data = table_section(f)
    sections = [plots_section(f), gallery_section(f, gallery, problem), table, details_section(f)]
    return shell(
        title="memlens report", label="audit report", name=f.dataset.get("name", "run"),
        meta=f"{esc(run_path)} · {esc(f.manifest.get('created', ''))}", verdict_html=verdict(f),
        sections=sections, table_data=table_data,
        footer=f"Written by memlens {esc(f.manifest.get('versions', {}).get('memlens', ''))}. "
        "Memorization: Feldman &amp; Zhang (NeurIPS 2020). Attacks: LiRA (Carlini et al., S&amp;P 2022), "
        "RMIA (Zarifzadeh et al., ICML 2024), loss threshold (Yeom et al., CSF 2018). ",
    )  # fmt: skip


def build(run) -> str:
    """The whole page for a finished :class:`memlens.Run`, as a string, from its directory alone."""
    path = run.path
    mia = run.mia  # both verified against their checksums; a damaged one says how to rebuild it
    manifest = run.store.manifest
    classes = [str(c) for c in manifest.get("config", {}).get("dataset", {}).get("classes", [])]
    facts = Facts(manifest, run.scores, mia if isinstance(mia, dict) else {"attacks": {}}, classes)
    if "training_curve.json" in manifest.get("files", {}):
        facts.curve = run.store.read_json("training_curve.json")
    gallery, problem = _load_gallery(run)
    return render(facts, gallery, problem, str(path))


def _load_gallery(run):
    """The stored contents of the most memorized examples, ``({id: row}, None)``, or ``(None, why not)``.

    Read from ``RUN/gallery.parquet`` (written by the audit): the page never reloads the dataset.
    """
    from memlens.classifier_estimates import GALLERY

    if GALLERY not in run.store.manifest.get("files", {}):
        source = run.store.manifest.get("config", {}).get("dataset", {}).get("source")
        why = "its predictions were imported" if source else "it was written without them"
        return None, f"this run stores no example contents ({why})."
    frame = run.store.read_table(GALLERY)
    return {int(r["id"]): r for r in frame.to_dict("records")}, None
