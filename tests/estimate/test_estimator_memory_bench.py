"""bench/estimator_memory.py --smoke: every estimator, and `memlens report` on a run of the same
arrays, runs in its own process under GNU time."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.skipif(
    not Path("/usr/bin/time").exists(), reason="needs GNU time (apt-get install time)"
)
def test_estimator_memory_smoke(capsys, tmp_path):
    from bench import estimator_memory

    rows = estimator_memory.main(["--smoke", "--dir", str(tmp_path / "arrays")])
    assert [r["estimator"] for r in rows] == list(estimator_memory.ESTIMATORS)
    baseline = rows[0]["peak_rss"]
    for r in rows:
        assert 10e6 < r["peak_rss"] < estimator_memory.LIMIT_BYTES and r["seconds"] >= 0
        assert r["peak_rss"] >= 0.8 * baseline  # a real measurement of the same kind of process
    assert not (tmp_path / "arrays").exists()  # removed without --keep
    out = capsys.readouterr().out
    assert "audit.membership_inference" in out and "largest peak" in out
    assert "memlens report (whole command)" in out  # a real run directory, rendered by the CLI
