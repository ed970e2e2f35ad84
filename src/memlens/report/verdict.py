"""The classification report's verdict in plain words and numbers, the attack table and the
configuration summary.
"""

from __future__ import annotations

import math

import numpy as np

from memlens.report.facts import (
    STRONG,
    Facts,
    _count,
    duration,
    esc,
    fpr_words,
    pct,
)
from memlens.train.dp import privacy_words

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
    # mia.json from before the ε bound has no such column
    has_eps = any(isinstance(m, dict) and isinstance(m.get("epsilon_lower_bound"), dict) for m in attacks.values())
    if has_eps:
        head += '<th title="the differential-privacy ε the scores demonstrate, 95%, δ = 0">ε ≥</th>'
    best = f.best_attack()
    rows = []
    for name, m in attacks.items():
        if not isinstance(m, dict) or "auc" not in m:
            note = m.get("note", "no result") if isinstance(m, dict) else str(m)
            rows.append(
                f'<tr><td>{esc(name)}</td><td colspan="{len(levels) + 2 + has_eps}" class="hint">{esc(note)}</td></tr>'
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
        if has_eps:
            eps = (m.get("epsilon_lower_bound") or {}).get("epsilon")
            cells.append(f"<td>{eps:.2f}</td>" if isinstance(eps, int | float) else "<td>–</td>")
        members = f"{m.get('n_members', 0):,} / {m.get('n_nonmembers', 0):,}"
        mark = " ★" if name == best else ""
        rows.append(
            f'<tr class="{"best" if name == best else ""}"><td>{esc(name)}{mark}</td><td>{m["auc"]:.3f}</td>'
            f"{''.join(cells)}<td>{members}</td></tr>"
        )
    if has_eps and f.privacy:  # DP-SGD: the accountant's upper bound beside the audits' lower bounds
        rows.append(f'<tr><td>DP-SGD accountant</td><td colspan="{len(levels) + 1}" class="hint">{esc(privacy_words(f.privacy))}</td>'
                    f'<td title="no audit may exceed it">≤ {f.privacy["epsilon"]:.2f}</td><td></td></tr>')
    one_run = f.mia.get("one_run")
    if isinstance(one_run, dict) and has_eps:  # a one-run:M design: each model audited on its own
        best_model = max(one_run.get("models", []), key=lambda m: m["epsilon_lower_bound"], default=None)
        detail = (f"Steinke et al. one-run audit on {one_run.get('canaries')} canaries, each model alone"
                  + (f"; best: model {best_model['model']}, {best_model['correct']} of {best_model['guesses']} "
                     "guesses right" if best_model else ""))  # fmt: skip
        rows.append(f'<tr><td>one run</td><td colspan="{len(levels) + 1}" class="hint">{esc(detail)}</td>'
                    f'<td>{one_run["epsilon_lower_bound"]:.2f}</td><td></td></tr>')
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
        f'<p class="hint">{esc(how)}{esc(_sentence(protocol))} ★ = strongest at the lowest FPR.'
        + (" ε ≥: the differential-privacy ε the attack's scores demonstrate (95%, δ = 0; threshold chosen on "
           "half the pairs, bound on the other half) — a heuristic floor, since the pairs are examples under a "
           "few models, not independent training runs." if has_eps else "")
        + "</p>"
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


