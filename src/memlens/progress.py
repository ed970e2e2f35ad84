"""Training progress that shows wherever the output goes: a live bar on a terminal, plain lines in a log.

rich's live bar draws nothing until the end when the output is not a terminal (CI, ``nohup``, a
file), so a log of a long audit would be silent for the whole training. There, this module prints
instead one line every ``MEMLENS_PROGRESS_INTERVAL`` seconds (default 5) and one at the end::

    training 12/64 models (18.8%), 0.42 models/s, ETA 2m04s
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

Advance = Callable[[int], None]

DEFAULT_INTERVAL_S = 5.0


@contextlib.contextmanager
def track(
    total: int | None,
    *,
    completed: int = 0,
    unit: str = "models",
    ticks_per_unit: int = 1,
    label: str = "training",
    description: str = "",
    enabled: bool = True,
    console=None,
    interval: float | None = None,
) -> Iterator[Advance]:
    """Yield ``advance(ticks)``; show the progress as a live bar or as plain lines.

    Args:
        total: ticks in all (``None``: unknown, no percentage or ETA).
        completed: ticks already done before this process (a resumed run); they count towards
            the fraction, not the rate.
        unit, ticks_per_unit: what the plain lines count, and ticks per one of it (an ensemble
            reports one tick per model per epoch, and plain lines count models).
        label, description: the line's first word, and what the live bar says after it.
        enabled: False shows nothing.
        console: the rich console whose terminal-ness decides (default: stdout's).
        interval: seconds between plain lines (default ``MEMLENS_PROGRESS_INTERVAL`` or 5).
    """
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console

    console = console or Console()
    if console.is_terminal or console.is_jupyter:
        with _live_bar(
            console, total, completed, unit, ticks_per_unit, label, description
        ) as advance:
            yield advance
        return
    if interval is None:
        interval = _interval_from_env()
    lines = PlainLines(total, completed=completed, unit=unit, ticks_per_unit=ticks_per_unit, label=label,
                       write=lambda line: _write(console, line))  # fmt: skip
    with lines.every(interval):
        yield lines.advance


@contextlib.contextmanager
def _live_bar(
    console, total, completed, unit, ticks_per_unit, label, description
) -> Iterator[Advance]:
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    counted = unit if ticks_per_unit == 1 else f"{unit.removesuffix('s')}-epochs"
    columns = [TextColumn(f"[bold]{escape(label)}[/] {{task.description}}"), BarColumn(),
               TextColumn("{task.completed}/{task.total} " + counted if total is not None else "{task.completed} " + counted),
               TimeElapsedColumn()]  # fmt: skip
    if total is not None:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(escape(description), total=total, completed=completed)
        yield lambda n: bar.advance(task, n)


class PlainLines:
    """Counts ticks and formats the plain progress line; :meth:`every` prints it periodically.

    ``clock`` is injectable so that a test can fix the times the line reports.
    """

    def __init__(self, total: int | None, *, completed: int = 0, unit: str = "models", ticks_per_unit: int = 1,
                 label: str = "training", write: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self.total, self.unit, self.ticks_per_unit, self.label = (
            total,
            unit,
            max(1, ticks_per_unit),
            label,
        )
        self.start_ticks = self.ticks = completed
        self.write, self.clock = write, clock
        self.started = clock()
        self._lock = threading.Lock()

    def advance(self, n: int) -> None:
        with self._lock:
            self.ticks += n

    def line(self, *, final: bool = False) -> str:
        """``training 12/64 models (18.8%), 0.42 models/s, ETA 2m04s`` (``took …`` when final)."""
        with self._lock:
            ticks = self.ticks
        elapsed = max(self.clock() - self.started, 0.0)
        done = ticks / self.ticks_per_unit
        words = f"{self.label} {_number(done)}"
        if self.total is not None:
            total = self.total / self.ticks_per_unit
            words += (
                f"/{_number(total)} {self.unit} ({(ticks / self.total if self.total else 1.0):.1%})"
            )
        else:
            words += f" {self.unit.removesuffix('s') if done == 1 else self.unit}"
        rate = (ticks - self.start_ticks) / self.ticks_per_unit / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            words += f", {_rate(rate, self.unit)}"
        if final:
            return words + f", took {_duration(elapsed)}"
        if self.total is not None and rate > 0:
            words += f", ETA {_duration(max(self.total - ticks, 0) / self.ticks_per_unit / rate)}"
        return words

    @contextlib.contextmanager
    def every(self, interval: float) -> Iterator[None]:
        """Print a line now, every ``interval`` seconds from a background thread, and at the end."""
        self.write(self.line())
        stop = threading.Event()

        def beat():
            while not stop.wait(interval):
                self.write(self.line())

        thread = threading.Thread(target=beat, name="memlens-progress", daemon=True)
        thread.start()
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            stop.set()
            thread.join()
            if not failed:  # a failure has its own message; a "took" line would read as success
                self.write(self.line(final=True))


def _interval_from_env() -> float:
    """``MEMLENS_PROGRESS_INTERVAL`` in seconds (at least 0.01), else 5; a bad value means 5."""
    try:
        value = float(os.environ.get("MEMLENS_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S))
    except ValueError:
        return DEFAULT_INTERVAL_S
    return max(value, 0.01) if math.isfinite(value) else DEFAULT_INTERVAL_S


def _write(console, line: str) -> None:
    """Write a line as is (no markup, no wrapping) to the console's file, flushed for the log."""
    file = console.file if console is not None else sys.stdout
    try:
        file.write(line + "\n")
        file.flush()
    except (OSError, ValueError):  # a closed pipe or file must not stop the training
        pass


def _number(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.1f}"


def _rate(per_second: float, unit: str) -> str:
    if per_second >= 0.1:
        return f"{per_second:.2f} {unit}/s"
    if per_second * 60 >= 0.1:
        return f"{per_second * 60:.2f} {unit}/min"
    return f"{per_second * 3600:.2f} {unit}/h"


def _duration(seconds: float) -> str:
    """``45s``, ``2m04s``, ``1h02m``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
