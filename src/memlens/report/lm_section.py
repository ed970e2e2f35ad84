"""The language-model report: what one causal LM regurgitates, read from a finished ``lm_audit``.

:func:`write_lm_report` turns a language-model run directory (``RUN/lm_scores.parquet`` and
``RUN/lm.json``, written by :func:`memlens.lm.audit.lm_audit`) into ``RUN/report.html``: a
verdict (canaries exposed, documents extractable, the best membership score's AUROC), plots of
exposure and extractability against insertion count, the membership AUROCs, and a sortable,
filterable table of every document and canary with its text excerpt.

It is the same page machinery as the classification report (:mod:`memlens.report.page`): every
string from the run goes through :func:`~memlens.report.facts.esc`; the table's data, text
excerpts included, is embedded as script-safe JSON and written into the page with
``textContent`` only; the Content-Security-Policy allows no network and only the page's own
script and stylesheet. It renders only: counts, means and rates of the stored columns.

The parts live in :mod:`~memlens.report.lm_data` (reading the run, wording numbers),
:mod:`~memlens.report.lm_verdict` and :mod:`~memlens.report.lm_sections`; this module writes the
page and re-exports their names.
"""

from __future__ import annotations

from pathlib import Path

from memlens.report.facts import esc
from memlens.report.lm_data import (
    EXCERPT,
    EXPOSED_BITS,
    LM_HELP,
    SCORE_NAMES,
    _read,
    exposure_column,
    is_lm_run,
    sort_rows,
)
from memlens.report.lm_sections import (
    details_section,
    exposure_vs_repeats,
    extractable_vs_repeats,
    plots_section,
    table_section,
)
from memlens.report.lm_verdict import auroc_table, verdict
from memlens.report.page import shell

__all__ = [
    "EXCERPT",
    "EXPOSED_BITS",
    "LM_HELP",
    "SCORE_NAMES",
    "auroc_table",
    "build_lm",
    "details_section",
    "exposure_column",
    "exposure_vs_repeats",
    "extractable_vs_repeats",
    "is_lm_run",
    "plots_section",
    "sort_rows",
    "table_section",
    "verdict",
    "write_lm_report",
]


def write_lm_report(run_path) -> Path:
    """Write ``run_path / "report.html"`` for a language-model run, atomically; return its path.

    Raises:
        RunStoreError: the directory holds no ``lm_scores.parquet`` (the audit did not finish).

    Example:
        >>> from memlens.report.lm_section import write_lm_report
        >>> write_lm_report("runs/lm1")                                  # doctest: +SKIP
        PosixPath('runs/lm1/report.html')
    """
    from memlens.report.page import save_page

    return save_page(run_path, build_lm(Path(run_path)))



def build_lm(path) -> str:
    """The whole language-model page for the run directory ``path``, as a string."""
    path = Path(path)
    frame, result = _read(path)
    table, table_data = table_section(frame)
    sections = [plots_section(frame), table, details_section(result)]
    config = result.get("config", {}) if isinstance(result.get("config"), dict) else {}
    return shell(
        title="memlens language-model report", label="language-model audit",
        name=str(config.get("corpus", path.name)), meta=esc(path), verdict_html=verdict(frame, result),
        sections=sections, table_data=table_data,
        footer="Written by memlens. Exposure: Carlini et al. (USENIX Security 2019). Extraction: "
        "Carlini et al. (USENIX Security 2021). Min-K%: Shi et al. (ICLR 2024); Min-K%++: Zhang et al. "
        "(2024). Counterfactual memorization: Zhang et al. (NeurIPS 2023). ",
    )  # fmt: skip
