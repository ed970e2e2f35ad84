"""bench/audit_vs_loop.py at toy size: the plain loop, the whole audit as a subprocess, its stages."""

from __future__ import annotations

import re

import pytest


def test_audit_vs_loop_smoke(capsys, tmp_path):
    from bench import audit_vs_loop

    audit_vs_loop.main(["--models", "4", "--epochs", "1", "--repeats", "1", "--dataset", "digits:120",
                        "--keep", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"ratio audit/loop \d+\.\d\d", out[-1])
    stages = {m.group(1).strip(): float(m.group(2)) for line in out
              if (m := re.match(r"\s+(.+?)\s+(\d+\.\d\d) s wall", line))}  # fmt: skip
    for stage in ("CLI import (memlens.cli)", "training (engine: train, observe, store)",
                  "estimates (scores.parquet, mia.json, gallery)", "report (report.html)"):  # fmt: skip
        assert stages[stage] > 0, stage
    whole = stages["the whole audit"]
    assert sum(v for k, v in stages.items() if not k.startswith(("the whole", "of which", "interpreter start ("))) \
        == pytest.approx(whole, abs=0.05)  # the stages account for the whole wall time
    assert (tmp_path / "run0" / "report.html").is_file() and (tmp_path / "breakdown" / "report.html").is_file()
