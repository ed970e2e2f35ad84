"""Assemble the report page from a finished run: verdict, plots, examples, table, details.

The parts live in :mod:`~memlens.report.facts` (escaping, sections, numbers in words, the run's
facts), :mod:`~memlens.report.verdict` and :mod:`~memlens.report.sections`; this module wraps
them in the page and re-exports their names.

Every string that reaches the HTML from the run (dataset name or path, class names, plant specs,
trainer parameters, error messages) goes through :func:`esc`; the only unescaped markup is the
report modules' own. The page carries a Content-Security-Policy that allows no network at all and
only this page's own script and stylesheet (by hash), as a second wall behind the escaping.
"""

from __future__ import annotations

import base64
import hashlib

from memlens.report.assets import CSS, JS
from memlens.report.facts import GALLERY_SIZE, STRONG, Facts, Section, duration, esc, fpr_words, pct
from memlens.report.sections import (
    details_section,
    gallery_section,
    plots_section,
    table_section,
    top_examples,
)
from memlens.report.verdict import attack_table, config_summary, verdict

__all__ = [
    "GALLERY_SIZE",
    "STRONG",
    "Facts",
    "Section",
    "attack_table",
    "build",
    "config_summary",
    "details_section",
    "duration",
    "esc",
    "fpr_words",
    "gallery_section",
    "plots_section",
    "pct",
    "render",
    "shell",
    "table_section",
    "top_examples",
    "verdict",
]


def save_page(directory, text: str):
    """Write ``text`` as ``directory/report.html`` atomically (a reader never sees half a page); its path."""
    from pathlib import Path

    from memlens.files import atomic_path

    target = Path(directory) / "report.html"
    with atomic_path(target, ".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def _sha256(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def shell(*, title: str, label: str, name: str, meta: str, verdict_html: str, sections, footer: str,
          table_data: str, extra_css: str = "", extra_scripts: tuple[str, ...] = ()) -> str:
    """The page around its sections: content-security policy, inline styles and script, header,
    table of contents and footer. ``meta`` and ``footer`` are HTML (escape what goes into them).
    ``extra_css`` is appended to the stylesheet and ``extra_scripts`` run after the table's script
    (a page with a second table); the policy allows exactly these, by hash."""
    toc = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    style = CSS + extra_css
    scripts = (JS, *extra_scripts)
    csp = (
        f"default-src 'none'; img-src data:; style-src {_sha256(style)}; "
        f"script-src {' '.join(_sha256(s) for s in scripts)}; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · {esc(name)}</title><style>{style}</style></head>\n<body><main>"
        f'<header class="top"><div><span class="brand">memlens</span> {label} · '
        f'<span class="mono">{esc(name)}</span></div><div class="meta">{meta}</div></header>'
        + verdict_html
        + f'<nav class="toc">{toc}</nav>'
        + "".join(s.html() for s in sections)
        + f"<footer>{footer}This page is self-contained and makes no network requests.</footer>"
        f"</main>{table_data}{''.join(f'<script>{s}</script>' for s in scripts)}</body></html>\n"
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
    if "privacy.json" in manifest.get("files", {}):
        facts.privacy = run.store.read_json("privacy.json")
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
