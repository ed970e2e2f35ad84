"""The audit report: one self-contained HTML page a reviewer reads to decide.

:func:`write_report` turns a finished run directory into ``RUN/report.html``: a verdict in plain
words with numbers (how much is memorized, how exposed membership is, what planted ground truth
was recovered, what the run cost), plots, the most memorized examples as images, and a sortable,
filterable table of every example with every score column. Styles, script, plots and images are
inline and the page makes no network requests, so it opens offline and can be attached to a
review. The report renders only: it reads ``run.json``, ``scores.parquet``, ``mia.json`` and
``gallery.parquet`` (the most memorized examples' contents, stored by the audit), never reloads
the dataset, and computes nothing beyond counts, means and histograms.

A language-model run (``RUN/lm_scores.parquet`` and ``RUN/lm.json`` from ``memlens lm audit``)
gets its own page, :func:`write_lm_report` (:mod:`memlens.report.lm_section`); :func:`write_report`
writes that page when the directory holds a language-model audit and no ``scores.parquet``. So does
a generative run (``RUN/generative.json`` from ``memlens generative audit``):
:func:`write_generative_report` (:mod:`memlens.report.generative_section`). A directory written by
``memlens capacity`` (``RUN/capacity.json``) gets :mod:`memlens.report.capacity_section`'s page, one
written by ``memlens ssl dejavu`` (``RUN/dejavu.json``) :mod:`memlens.report.ssl_section`'s.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_generative_report", "write_lm_report", "write_report"]


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
    from memlens.report.capacity_section import is_capacity_run
    from memlens.report.generative_data import is_generative_run
    from memlens.report.lm_section import is_lm_run
    from memlens.report.page import build, save_page

    where = Path(run.path if isinstance(run, Run) else run)
    if not (where / "scores.parquet").exists() and is_lm_run(where):
        return write_lm_report(where)
    if is_generative_run(where):  # a diffusion or density audit: read through its store, checksums verified
        return write_generative_report(where)
    if not isinstance(run, Run) and (where / "dejavu.json").is_file() and not (where / "scores.parquet").exists():
        from memlens.report.ssl_section import write_ssl_report  # `memlens ssl dejavu`

        return write_ssl_report(where)
    if not isinstance(run, Run) and is_capacity_run(where):  # `memlens capacity construct` / `decode` / `sweep`
        from memlens.report.capacity_section import write_capacity_report

        return write_capacity_report(where)
    if not isinstance(run, Run):
        run = Run.open(run)
    run.store.verify()  # a report vouches for the whole run: every file is hashed first
    return save_page(run.path, build(run))


def write_lm_report(run_path) -> Path:
    """Write ``RUN/report.html`` for a language-model run; see :mod:`memlens.report.lm_section`."""
    from memlens.report.lm_section import write_lm_report as write

    return write(run_path)


def write_generative_report(run_path) -> Path:
    """Write ``RUN/report.html`` for a generative run; see :mod:`memlens.report.generative_section`."""
    from memlens.report.generative_section import write_generative_report as write

    return write(run_path)
