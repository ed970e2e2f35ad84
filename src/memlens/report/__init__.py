"""The audit report: one self-contained HTML page a reviewer reads to decide.

:func:`write_report` turns a finished run directory into ``RUN/report.html``: a verdict in plain
words with numbers (how much is memorized, how exposed membership is, what planted ground truth
was recovered, what the run cost), plots, the most memorized examples as images, and a sortable,
filterable table of every example with every score column. Styles, script, plots and images are
inline and the page makes no network requests, so it opens offline and can be attached to a
review. The report renders only: it reads ``run.json``, ``scores.parquet`` and ``mia.json`` and
computes nothing beyond counts, means and histograms.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_report"]


def write_report(run) -> Path:
    """Write ``run.path / "report.html"`` atomically and return its path.

    Args:
        run: A :class:`memlens.Run` (as returned by :func:`memlens.audit`) or a run directory.

    Returns:
        The path of the written report.

    Raises:
        RunStoreError: the directory is not a finished run (no ``scores.parquet``).

    Example:
        >>> from memlens.report import write_report
        >>> write_report("runs/m1")                                     # doctest: +SKIP
        PosixPath('runs/m1/report.html')
    """
    from memlens.audit import Run
    from memlens.report.page import build
    from memlens.store import atomic_path

    if not isinstance(run, Run):
        run = Run.open(run)
    text = build(run)
    target = Path(run.path) / "report.html"
    with atomic_path(target, ".html") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target
