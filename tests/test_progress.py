"""Progress shows in a log too: plain lines with models done, rate and ETA when not on a terminal."""

import io
import re
import time

import pytest
from rich.console import Console

from memlens.progress import PlainLines, track


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_line_counts_models_rate_and_eta():
    clock = Clock()
    lines = PlainLines(64 * 10, ticks_per_unit=10, clock=clock)  # an ensemble: 10 epochs per model
    assert lines.line() == "training 0/64 models (0.0%)"
    lines.advance(120)  # 12 models' worth of epochs in 30 s: 0.4 models/s, 52 to go → 130 s
    clock.now += 30
    assert lines.line() == "training 12/64 models (18.8%), 0.40 models/s, ETA 2m10s"
    lines.advance(5)
    assert lines.line().startswith("training 12.5/64 models (19.5%)")
    clock.now += 3600
    assert lines.line(final=True).endswith(", took 1h00m")


def test_a_resumed_run_counts_done_models_in_the_fraction_not_the_rate():
    clock = Clock()
    lines = PlainLines(640, completed=320, ticks_per_unit=10, clock=clock)
    lines.advance(64)
    clock.now += 16  # 6.4 models in 16 s: 0.4 models/s; 25.6 models to go → 64 s
    assert lines.line() == "training 38.4/64 models (60.0%), 0.40 models/s, ETA 1m04s"


def test_unknown_total_and_slow_rates():
    clock = Clock()
    steps = PlainLines(None, unit="steps", clock=clock)
    steps.advance(120)
    clock.now += 30
    assert steps.line() == "training 120 steps, 4.00 steps/s"
    slow = PlainLines(8, unit="small LMs", clock=clock)
    slow.advance(1)
    clock.now += 300  # one model in 5 minutes
    assert slow.line() == "training 1/8 small LMs (12.5%), 0.20 small LMs/min, ETA 35m00s"


def test_lines_come_every_interval_and_at_the_end():
    written = []
    lines = PlainLines(10, write=written.append)
    with lines.every(0.02):
        for _ in range(10):
            lines.advance(1)
            time.sleep(0.01)
    assert written[0] == "training 0/10 models (0.0%)"
    assert (
        len(written) >= 3
        and written[-1].startswith("training 10/10 models (100.0%)")
        and "took" in written[-1]
    )
    middle = written[1:-1]
    assert middle and all(
        re.fullmatch(r"training \d+/10 models \(\d+\.\d%\)(, [\d.]+ models/s, ETA \d+s)?", m)
        for m in middle
    )


def test_no_final_line_after_a_failure():
    written = []
    lines = PlainLines(10, write=written.append)
    with pytest.raises(KeyboardInterrupt), lines.every(60):
        raise KeyboardInterrupt
    assert written == ["training 0/10 models (0.0%)"]


def test_track_prints_plain_lines_to_a_log_and_a_bar_to_a_terminal(monkeypatch):
    monkeypatch.setenv("MEMLENS_PROGRESS_INTERVAL", "0.01")
    log = io.StringIO()
    with track(4, console=Console(file=log), description="4 models") as advance:
        for _ in range(4):
            advance(1)
            time.sleep(0.02)
    lines = log.getvalue().splitlines()
    assert lines[0] == "training 0/4 models (0.0%)" and len(lines) >= 3 and "took" in lines[-1]
    terminal = io.StringIO()
    with track(
        4, console=Console(file=terminal, force_terminal=True, width=100), description="4 models"
    ) as advance:
        advance(4)
    drawn = terminal.getvalue()
    assert "4/4 models" in drawn and "training 0/4" not in drawn  # the live bar, not plain lines
    quiet = io.StringIO()
    with track(4, console=Console(file=quiet), enabled=False) as advance:
        advance(4)
    assert quiet.getvalue() == ""


def test_audit_log_shows_progress_while_training(tmp_path, run_cli, monkeypatch):
    """`memlens audit … > log`: the captured output is not a terminal, and still shows progress."""
    import time

    from memlens.train.ensemble import Ensemble

    monkeypatch.setenv("MEMLENS_PROGRESS_INTERVAL", "0.01")
    fit_observe = Ensemble.fit_observe

    def slow(self, *args, **kwargs):  # each shard outlasts several intervals, however fast the CPU
        result = fit_observe(self, *args, **kwargs)
        time.sleep(0.1)
        return result

    monkeypatch.setattr(Ensemble, "fit_observe", slow)
    code, stdout, err = run_cli("audit", "--dataset", "digits:200", "--models", "4", "--epochs", "5",
                                "--width", "16", "--precision", "float32", "--shard-size", "1",
                                "--out", tmp_path / "r")  # fmt: skip
    assert code == 0, err
    progress = [line for line in stdout.splitlines() if line.startswith("training ")]
    assert progress[0] == "training 0/4 models (0.0%)"
    assert re.fullmatch(
        r"training 4/4 models \(100\.0%\), [\d.]+ models/s, took \d+s", progress[-1]
    )
    assert len(progress) >= 3, stdout  # at least one line while training, with rate and ETA
    assert any(re.search(r", [\d.]+ models/s, ETA \d+", line) for line in progress[1:-1])
