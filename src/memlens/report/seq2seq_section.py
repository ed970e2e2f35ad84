"""The sequence-level distillation page: teacher vs student vs baseline, per memorization measure.

:func:`build_seqkd` renders the summary ``experiments/seqkd.py`` writes (``seqkd.json``): a
verdict (student over baseline extractive memorization, the Adaptive-SeqKD change, counterfactual
memorization of misaligned vs clean pairs), one table row per measure with each model's rate and
its 95% bootstrap interval over the training pairs, rates by planted pair kind, and the test chrF.
It renders only; every number comes from the summary.
"""

from __future__ import annotations

from pathlib import Path

from memlens.report.facts import Section, esc, pct, read_summary

__all__ = ["build_seqkd", "write_seqkd_report"]

MODELS = {"teacher": "teacher T", "student": "student S (SeqKD)", "baseline": "baseline B",
          "teacher_hq": "teacher, adaptive", "student_hq": "student, Adaptive-SeqKD"}  # fmt: skip
MEASURES = {"replicated": "replication (output = target)", "extractive": "extractive memorization",
            "oscillatory": "oscillatory hallucination", "natural": "natural hallucination"}  # fmt: skip


def write_seqkd_report(path) -> Path:
    """Write ``path / "report.html"`` from ``path / "seqkd.json"``, atomically; return its path."""
    from memlens.report.page import save_page

    path = Path(path)
    summary = read_summary(
        path, "seqkd.json", valid=lambda r: r.get("experiment") == "seqkd",
        missing=f"{path} holds no seqkd.json; run experiments/seqkd.py first.",
        foreign=f"{path / 'seqkd.json'} is not the summary experiments/seqkd.py writes.",
    )
    return save_page(path, build_seqkd(summary, name=path.name))


def _interval(triple) -> str:
    mean, low, high = triple
    return f"{pct(mean)} <span class=\"muted\">[{pct(low)}, {pct(high)}]</span>"


def _verdict(s: dict) -> str:
    from memlens.report.verdict import _tile

    ratio = s.get("extractive_ratio_student_over_baseline")
    cm = s.get("counterfactual_by_kind", {})
    tiles = [
        _tile("extractive memorization, S / B", "–" if ratio is None else f"{ratio:.2f}×",
              f"{pct(s['student']['extractive'][0])} vs {pct(s['baseline']['extractive'][0])} of training pairs"),
        _tile("Adaptive-SeqKD student", pct(s["student_hq"]["extractive"][0]),
              f"extractive memorization (plain student {pct(s['student']['extractive'][0])})"),
        _tile("counterfactual memorization", f"{cm.get('misaligned', float('nan')):.2f}",
              f"misaligned pairs (clean: {cm.get('clean', float('nan')):.2f})"),
    ]  # fmt: skip
    checks = "".join(f"<li>{esc(k)}: {'pass' if v else 'fail'}</li>" for k, v in s.get("checks", {}).items())
    if "kd_equals_corpus" in s:  # a corpus equal to the references would make the student the baseline
        checks += (f"<li>distillation corpus (beam {esc(s.get('beams', 1))}) equal to the corpus targets on "
                   f"{pct(s['kd_equals_corpus'])} of the pairs; the student reproduces "
                   f"{pct(s.get('student_replicates_teacher', float('nan')))} of the teacher's outputs</li>")
    headline = (f"A student trained only on the teacher's translations of {esc(s['pairs'])} sources "
                f"replicates {pct(s['student']['replicated'][0])} of the original targets "
                f"(baseline trained on them: {pct(s['baseline']['replicated'][0])}).")  # fmt: skip
    return ('<section id="verdict" class="card verdict"><h1>Verdict</h1>'
            f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
            f'<ul class="findings">{checks}</ul></section>')  # fmt: skip


def _table(s: dict) -> Section:
    models = [m for m in MODELS if m in s]
    head = ["measure", *(MODELS[m] for m in models)]
    rows = [[label, *(_interval(s[m][key]) for m in models)] for key, label in MEASURES.items()]
    rows.append(["chrF vs target (training pairs)", *(_interval([x / 100 for x in s[m]["chrf"]]) for m in models)])
    rows.append(["corpus chrF, clean test set", *(f"{s[m]['test_chrf']:.1f}" for m in models)])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = (f'<div class="card"><table class="small" id="seqkd-table"><thead><tr>'
             f'{"".join(f"<th>{esc(h)}</th>" for h in head)}</tr></thead><tbody>{body}</tbody></table></div>')
    note = ("Rates over the training pairs, measured against the corpus targets, with 95% bootstrap intervals "
            "over pairs (training-pair chrF shown as a fraction of 100). Dankers &amp; Raunak (ACL 2025) definitions.")
    return Section("seqkd-table", "Teacher, student and baseline", table, note)


def _kinds(s: dict) -> Section:
    models = [m for m in MODELS if m in s]
    kinds = list(s[models[0]]["by_kind"])
    rows = []
    for kind in kinds:
        for key, label in MEASURES.items():
            cells = [esc(kind), esc(label), *(pct(s[m]["by_kind"][kind][key]) for m in models)]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cm = "".join(f"<tr><td>{esc(k)}</td><td>{v:.3f}</td></tr>" for k, v in s.get("counterfactual_by_kind", {}).items())
    body = (f'<div class="card"><table class="small"><thead><tr><th>pair kind</th><th>measure</th>'
            f'{"".join(f"<th>{esc(MODELS[m])}</th>" for m in models)}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<table class="small"><thead><tr><th>pair kind</th><th>counterfactual memorization</th></tr></thead>'
            f"<tbody>{cm}</tbody></table></div>")  # fmt: skip
    return Section("seqkd-kinds", "By planted pair kind", body,
                   "Counterfactual memorization: geometric-mean token probability of the target, models trained "
                   "on the pair minus models not (random halves).")  # fmt: skip


def _task_meta(s: dict) -> str:
    """The task options of the run (absent from runs before they existed: the one-to-one task)."""
    task = s.get("task")
    if not task:
        return ""
    fertility = "/".join(f"{x:g}" for x in task["fertility"])
    return (f" · fertility P(0/1/2 words) {esc(fertility)} · {pct(task['ambiguous'])} of source words with "
            f"{len(task['sense_weights'])} senses · {esc(task.get('repeats', 1))} clean pairs per source · "
            f"misaligned length {esc(task['misaligned_length'])}")


def build_seqkd(summary: dict, *, name: str = "seqkd") -> str:
    """The whole page for a ``seqkd.json`` summary, as a string."""
    from memlens.report.page import shell

    return shell(
        title="memlens sequence-level distillation", label="sequence-level distillation", name=name,
        meta=f"{esc(summary.get('pairs', ''))} pairs" + _task_meta(summary), verdict_html=_verdict(summary),
        sections=[_table(summary), _kinds(summary)], table_data="",
        footer="Written by memlens. Method: Dankers &amp; Raunak, Memorization Inheritance in Sequence-Level "
        "Knowledge Distillation for Neural Machine Translation (ACL 2025). ",
    )  # fmt: skip
