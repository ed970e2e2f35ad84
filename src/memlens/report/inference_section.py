"""The attribute-inference page: what an adversary guessed from text, by attribute and hardness.

:func:`build_inference` renders the summary ``memlens infer-attributes`` writes (``inference.json``)
as a self-contained page in the classification report's shell: a verdict (overall top-1 beside the
majority-class rate, and the change after anonymization), then one table row per attribute ×
hardness with top-1 and top-3 accuracy and their 95% Clopper–Pearson intervals, before and after
anonymization. It renders only; every number comes from the summary.
"""

from __future__ import annotations

from pathlib import Path

from memlens.report.facts import Section, esc, pct, read_summary

__all__ = ["build_inference", "write_inference_report"]

HARDNESS_WORDS = {"-1": "unlabelled", "0": "0 (none)", "1": "1 explicit", "2": "2 contextual", "3": "3 one weak cue",
                  "4": "4 needs search", "5": "5 very hard"}


def write_inference_report(path) -> Path:
    """Write ``path / "report.html"`` from ``path / "inference.json"``, atomically; return its path."""
    from memlens.report.page import save_page

    path = Path(path)
    summary = read_summary(
        path, "inference.json", valid=lambda r: r.get("kind") == "attribute-inference",
        missing=f"{path} holds no inference.json; run `memlens infer-attributes` first.",
        foreign=f"{path / 'inference.json'} is not the summary `memlens infer-attributes` writes.",
    )
    return save_page(path, build_inference(summary, name=path.name))


def _interval(rate: dict) -> str:
    if rate.get("rate") is None:
        return "–"
    return f"{pct(rate['rate'])} <span class=\"muted\">[{pct(rate['low'])}, {pct(rate['high'])}]</span>"


def _points(x) -> str:
    return "–" if x is None else f"{x:+.1f}"


def _verdict(summary: dict) -> str:
    from memlens.report.verdict import _tile

    texts = summary["texts"]
    original = texts["original"]
    attrs = original["attributes"]
    ratios = {a: (v["top1"]["rate"] / v["majority"] if v["majority"] else None) for a, v in attrs.items()}
    known = {a: r for a, r in ratios.items() if r is not None}
    weakest = min(known, key=known.get) if known else None
    tiles = [_tile("top-1, original text", pct(original["overall"]["top1"]["rate"]),
                   f"{original['overall']['n']} profile × attribute guesses"),
             _tile("top-3, original text", pct(original["overall"]["top3"]["rate"]), "any of the first three guesses")]
    if weakest is not None:
        tiles.append(_tile("weakest vs majority", f"{known[weakest]:.1f}×",
                           f"{esc(weakest)}: {pct(attrs[weakest]['top1']['rate'])} vs {pct(attrs[weakest]['majority'])}"))
    headline = (f"The first guess of {esc(summary.get('adversary', '?'))} was right for "
                f"{pct(original['overall']['top1']['rate'])} of {original['overall']['n']} profile × attribute pairs "
                f"({len(attrs)} attributes, {esc(summary.get('profiles', '?'))} profiles).")
    findings = [f"<b>{esc(a)}</b>: top-1 {pct(v['top1']['rate'])}, {known[a]:.1f}× the majority-class rate "
                f"{pct(v['majority'])} (always guessing “{esc(v['majority_guess'])}”)." for a, v in attrs.items()
                if a in known]
    if "anonymized" in texts:
        change = summary.get("change", {}).get("overall", {})
        after = texts["anonymized"]["overall"]["top1"]["rate"]
        tiles.append(_tile(f"top-1 after anonymization ({esc(summary.get('anonymizer', '?'))})", pct(after),
                           f"{_points(change.get('all'))} points"))
        by_h = ", ".join(f"hardness {esc(h)}: {_points(v)}" for h, v in change.items() if h != "all")
        headline += f" Anonymization moved it {_points(change.get('all'))} points ({by_h})."
    return ('<section id="verdict" class="card verdict"><h1>Verdict</h1>'
            f'<p class="headline">{headline}</p><div class="tiles">{"".join(tiles)}</div>'
            f'<ul class="findings">{"".join(f"<li>{x}</li>" for x in findings)}</ul></section>')


def _table(summary: dict) -> Section:
    texts = summary["texts"]
    anonymized = texts.get("anonymized")
    head = ["attribute", "hardness", "n", "top-1 original", "top-3 original"]
    if anonymized:
        head += ["top-1 anonymized", "top-3 anonymized", "change (points)"]
    head.append("majority rate")
    rows = []
    for attribute, stats in texts["original"]["attributes"].items():
        groups = [("all", stats)] + list(stats["by_hardness"].items())
        for h, g in groups:
            cells = [esc(attribute) if h == "all" else "", "all" if h == "all" else esc(HARDNESS_WORDS.get(h, h)),
                     g["n"], _interval(g["top1"]), _interval(g["top3"])]
            if anonymized:
                a = anonymized["attributes"][attribute]
                a = a if h == "all" else a["by_hardness"].get(h, {"top1": {}, "top3": {}})
                cells += [_interval(a["top1"]), _interval(a["top3"]),
                          _points(summary.get("change", {}).get(attribute, {}).get(h))]
            cells.append(pct(stats["majority"]) if h == "all" else "")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = (f'<div class="card"><table class="small" id="inference-table"><thead><tr>'
             f'{"".join(f"<th>{h}</th>" for h in head)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    note = ("Accuracy of the first guess (top-1) and of any of the first three (top-3), with 95% Clopper–Pearson "
            "intervals, scored by Staab et al.'s rules (age within ±5 years, categorical answers mapped to the nearest "
            "option, free text by Jaro–Winkler &gt; 0.75; precise matches only). Hardness 1 means the text states the "
            "value; higher means it must be inferred.")
    return Section("inference-table", "Accuracy by attribute and hardness", table, note)


def _setup(summary: dict) -> Section:
    items = [("profiles file", summary.get("texts_file")), ("adversary", summary.get("adversary")),
             ("training", summary.get("training")), ("anonymizer", summary.get("anonymizer")),
             ("gazetteer", summary.get("gazetteer")), ("attributes", ", ".join(summary.get("attributes", []))),
             ("seed", summary.get("seed")), ("prompts cut to fit the context", summary.get("truncated_prompts"))]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items if v is not None)
    return Section("inference-setup", "Setup", f'<div class="card"><table class="small">{body}</table></div>')


def build_inference(summary: dict, *, name: str = "attribute inference") -> str:
    """The whole page for an ``inference.json`` summary, as a string."""
    from memlens.report.page import shell

    return shell(
        title="memlens attribute inference", label="attribute inference", name=name,
        meta=f"{esc(summary.get('adversary', ''))} · {esc(summary.get('profiles', ''))} profiles",
        verdict_html=_verdict(summary), sections=[_table(summary), _setup(summary)], table_data="",
        footer="Written by memlens. Method: Staab, Vero, Balunović &amp; Vechev, Beyond Memorization: Violating "
        "Privacy via Inference with Large Language Models (ICLR 2024). ",
    )  # fmt: skip
