"""The PromptMize page: few-shot table-to-text curves of the plain model, + planner, + knowledge
adapter and both.

:func:`build_promptmize` renders the ``promptmize.json`` that ``experiments/promptmize.py`` writes
as a self-contained page in the report's shell: a verdict (each criterion of the notes' §10,
passed or not), the pre-training checks (copy probe, fact probe), BLEU-4 and slot-coverage curves over the few-shot sizes (mean over seeds, the
seeds' range as a band), and a table of every mean ± standard deviation. It renders only; every
number comes from the results file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memlens.report.facts import Section, esc, read_summary

__all__ = ["build_promptmize", "write_promptmize_report"]

VARIANT_WORDS = {"plain": "plain", "planner": "+ prompt planner", "adapter": "+ knowledge adapter",
                 "full": "full (both)", "copy_prompt": "copy the retrieved sentence"}  # fmt: skip
METRIC_WORDS = {"bleu4": "BLEU-4", "slot_coverage": "slot coverage"}


def write_promptmize_report(path) -> Path:
    """Write ``path / "report.html"`` from ``path / "promptmize.json"``, atomically; return its path."""
    from memlens.report.page import save_page

    path = Path(path)
    results = read_summary(
        path, "promptmize.json", valid=lambda r: r.get("experiment") == "promptmize",
        missing=f"{path} holds no promptmize.json; run `python experiments/promptmize.py --out {path}` first.",
        foreign=f"{path / 'promptmize.json'} is not the file experiments/promptmize.py writes.",
    )
    return save_page(path, build_promptmize(results, name=path.name))


def curves(runs: dict, metric: str) -> str:
    """One line per variant over the few-shot sizes (mean over seeds, band = min–max); a PNG URI."""
    from memlens.report.plots import ATTACK_COLORS, _figure, _legend, _png_uri

    shots = sorted(runs, key=int)
    fig, ax = _figure(5.2, 3.2)
    for color, variant in zip(ATTACK_COLORS, VARIANT_WORDS, strict=False):
        if variant not in runs[shots[0]]:
            continue
        values = [np.asarray(runs[k][variant][metric], dtype=float) for k in shots]
        x = [int(k) for k in shots]
        style = "--" if variant == "copy_prompt" else "-"
        ax.plot(x, [v.mean() for v in values], style, marker="o", color=color, label=VARIANT_WORDS[variant])
        ax.fill_between(x, [v.min() for v in values], [v.max() for v in values], color=color, alpha=0.12)
    ax.set_xscale("log")
    ax.set_xticks([int(k) for k in shots], labels=shots)
    ax.set_xlabel("labelled pairs (few-shot size)")
    ax.set_ylabel(METRIC_WORDS[metric])
    _legend(ax)
    return _png_uri(fig)


def _verdict(results: dict) -> str:
    from memlens.report.verdict import _tile

    criteria = results.get("criteria", {})
    passed = sum(bool(v) for v in criteria.values())
    gap = results.get("full_minus_plain_bleu4", {})
    tiles = [_tile("criteria met", f"{passed} of {len(criteria)}", "notes §10, means over seeds")]
    tiles += [_tile(f"full − plain BLEU-4, {esc(k)} shots", f"{v:+.1f}", "points") for k, v in
              sorted(gap.items(), key=lambda kv: int(kv[0]))]  # fmt: skip
    findings = [f"{'✓' if ok else '✗'} {esc(name.replace('_', ' '))}" for name, ok in criteria.items()]
    headline = ("Knowledge memorized on purpose: every criterion held." if results.get("pass") else
                f"Knowledge memorized on purpose: {len(criteria) - passed} of {len(criteria)} criteria failed.")
    return ('<section id="verdict" class="card verdict"><h1>Verdict</h1>'
            f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
            f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>')  # fmt: skip


def _table(runs: dict) -> Section:
    head = ["few-shot size", "variant", "BLEU-4 mean ± sd", "slot coverage mean ± sd", "seeds"]
    rows = []
    for k in sorted(runs, key=int):
        for variant, by_metric in runs[k].items():
            b, c = np.asarray(by_metric["bleu4"]), np.asarray(by_metric["slot_coverage"])
            cells = [esc(k), esc(VARIANT_WORDS.get(variant, variant)), f"{b.mean():.2f} ± {b.std():.2f}",
                     f"{c.mean():.3f} ± {c.std():.3f}", len(b)]  # fmt: skip
            rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    table = (f'<div class="card"><table class="small" id="promptmize-table"><thead><tr>'
             f'{"".join(f"<th>{h}</th>" for h in head)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')  # fmt: skip
    return Section("promptmize-table", "Every variant at every size", table,
                   "Corpus BLEU-4 (sacrebleu, 13a) and the share of table values realized in the text, over "
                   "held-out tables; mean and standard deviation over seeds (few-shot draws).")  # fmt: skip


def _probes(probes: dict) -> Section:
    """The checks before the few-shot stage: the base copies unseen values; the adapters hold the facts."""
    copying, facts = probes["copy_unseen_records"], probes["facts"]
    rows = [
        ("copy probe: slot coverage of unseen generic records", f"{copying['base']:.3f}",
         f"{copying['untrained']:.3f} (untrained twin)"),
        ("copy probe: domain tables, zero-shot", f"{probes['copy_domain_tables_zero_shot']:.3f}", "—"),
    ]
    if "knowledge_adapters" in copying:  # does the knowledge keep the base's copying?
        rows.append(("copy probe: unseen generic records, with the knowledge adapters",
                     f"{copying['knowledge_adapters']:.3f}", f"{copying['base']:.3f} (bare base)"))
    rows += [
        ("facts: answer loss (nats/token), knowledge adapters", f"{facts['knowledge_adapters']['answer_loss']:.2f}",
         f"{facts['base']['answer_loss']:.2f} (bare base)"),
        ("facts: greedy completion correct, knowledge adapters", f"{facts['knowledge_adapters']['accuracy']:.2f}",
         f"{facts['base']['accuracy']:.2f} (bare base)"),
    ]  # fmt: skip
    body = "".join(f"<tr><td>{esc(a)}</td><td>{b}</td><td>{esc(c)}</td></tr>" for a, b, c in rows)
    table = (f'<div class="card"><table class="small" id="promptmize-probes"><thead><tr><th>check</th>'
             f"<th>value</th><th>control</th></tr></thead><tbody>{body}</tbody></table></div>")  # fmt: skip
    return Section("promptmize-probes", "Before the few-shot stage", table,
                   "Does the pre-trained base copy table values it never saw, and did the knowledge "
                   "adapters (trained with the base frozen) absorb the domain's facts?")  # fmt: skip


def build_promptmize(results: dict, *, name: str = "promptmize") -> str:
    """The whole page for a ``promptmize.json`` result, as a string."""
    from memlens.report.page import shell

    runs = results["runs"]
    figures = "".join(
        f'<figure class="card"><img alt="{METRIC_WORDS[m]} by few-shot size" src="{curves(runs, m)}">'
        f"<figcaption>{METRIC_WORDS[m]} by few-shot size; band: range over seeds.</figcaption></figure>"
        for m in METRIC_WORDS
    )
    sections = [Section("promptmize-curves", "Few-shot curves", figures), _table(runs)]
    if "probes" in results:
        sections.insert(0, _probes(results["probes"]))
    return shell(
        title="memlens PromptMize", label="knowledge memorization", name=name,
        meta=f"{len(runs)} few-shot sizes · {esc(results.get('seconds', '?'))} s",
        verdict_html=_verdict(results), sections=sections, table_data="",
        footer="Written by memlens. Method: Guo et al., Few-Shot Table-to-Text Generation with Prompt Planning "
        "and Knowledge Memorization (arXiv 2302.04415), as analogued in experiments/promptmize.py. ",
    )  # fmt: skip
