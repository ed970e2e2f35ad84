"""Fault injection on the run directory: each test checks one promise of the README's table.

Kills are real (``MEMLENS_KILL_AT`` makes the process SIGKILL itself at a named stage boundary), so
they run the CLI in a subprocess; what follows a kill runs in-process to keep the suite fast.
Runs use scikit-learn's logistic regression on a synthetic dataset: no torch import, no training
time to speak of, and the same run-directory machinery as every other trainer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from memlens.errors import RunStoreError
from memlens.store import RunStore

STAGES = [
    "after-manifest", "after-membership", "after-shard-0", "after-shard-1",
    "during-finalize", "after-finalize", "after-scores",
]  # fmt: skip


def _dataset(folder: Path, n: int = 400, labels=None) -> Path:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
    path = folder / "synthetic.npz"
    extra = {"class_names": np.array(labels)} if labels is not None else {}
    np.savez(path, X=X, y=y, X_test=X[:50], y_test=y[:50], **extra)
    return path


def _args(data: Path, out: Path, seed: int = 0) -> list[str]:
    return [
        "audit", "--dataset", str(data), "--out", str(out), "--model",
        "sklearn:sklearn.linear_model.LogisticRegression", "--models", "4", "--shard-size", "2",
        "--targets", "2", "--seed", str(seed), "--no-progress",
    ]  # fmt: skip


def _cli(args, *, kill_at: str | None = None, wait: bool = True):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MEMLENS_KILL_AT", None)
    if kill_at:
        env["MEMLENS_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "memlens.cli", *map(str, args)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _same_run(a: Path, b: Path) -> None:
    """Two run directories hold the same membership, observations and estimates."""
    ra, rb = ml.Run.open(a), ml.Run.open(b)
    np.testing.assert_array_equal(ra.membership, rb.membership)
    assert ra.store.observation_names() == rb.store.observation_names()
    for name in ra.store.observation_names():
        np.testing.assert_array_equal(ra.observations[name], rb.observations[name])
    assert ra.scores.equals(rb.scores)
    assert ra.mia == rb.mia
    assert ra.config == rb.config


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The dataset and a clean, uninterrupted run of it per seed."""
    folder = tmp_path_factory.mktemp("faults")
    data = _dataset(folder)
    runs = {}
    for seed in (0, 1):
        code, _, err = _cli(_args(data, folder / f"clean-{seed}", seed))
        assert code == 0, err
        runs[seed] = folder / f"clean-{seed}"
    return data, runs


# --- one writer -----------------------------------------------------------------------------


def test_a_second_writer_is_refused_at_once_naming_the_holder(reference, tmp_path):
    data, _ = reference
    out = tmp_path / "held"
    holder = RunStore.create_or_resume(out, {"design": {"n_models": 4}, "x": 1}, np.ones((4, 400), bool))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    t = time.perf_counter()
    code, _, err = _cli(_args(data, out))
    assert code == 2 and "Traceback" not in err
    assert "being written by another memlens process" in err and f"pid {os.getpid()}" in err
    assert time.perf_counter() - t < 30  # refused at once, not after waiting
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    holder.release()


def test_two_audits_started_together_never_mix(reference, tmp_path):
    """The race of the issue: two seeds into one fresh --out. One wins; the run is its clean run."""
    data, clean = reference
    out = tmp_path / "race"
    first = _cli(_args(data, out, seed=0), wait=False)
    time.sleep(0.3)
    second = _cli(_args(data, out, seed=1), wait=False)
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "being written by another memlens process" in loser or "another configuration" in loser
    winner_seed = json.loads((out / "run.json").read_text())["config"]["seed"]
    _same_run(out, clean[winner_seed])


# --- kills at every stage boundary ----------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_at_any_stage_resumes_to_the_uninterrupted_result(reference, tmp_path, stage, run_cli):
    data, clean = reference
    out = tmp_path / "killed"
    code, _, _ = _cli(_args(data, out), kill_at=stage)
    assert code == -9, f"the process did not reach stage {stage}"
    code, _, err = run_cli(*_args(data, out))
    assert code == 0, err
    _same_run(out, clean[0])
    leftovers = [p for p in out.rglob(".*") if p.name != ".lock"]
    assert not leftovers and not (out / "shards").exists()


def test_temporaries_of_a_killed_writer_are_removed_on_the_next_open(reference, tmp_path, run_cli):
    data, clean = reference
    out = tmp_path / "temps"
    assert _cli(_args(data, out), kill_at="after-shard-0")[0] == -9
    stale = [out / ".scores.parquet.x1.tmp.parquet", out / "shards" / ".00001.npz.x2.tmp.npz",
             out / "observations" / ".loss.npy.x3.tmp.npy"]  # fmt: skip
    for f in stale:
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b"\0" * 1000)
    assert run_cli(*_args(data, out))[0] == 0
    assert not any(f.exists() for f in stale)
    _same_run(out, clean[0])


def test_a_folder_of_memlens_files_without_its_manifest_is_started_afresh(reference, tmp_path, run_cli):
    data, clean = reference
    out = tmp_path / "no-manifest"
    out.mkdir()
    np.save(out / "membership.npy", np.zeros((2, 2), bool))  # what an older memlens left on a kill
    (out / ".lock").write_text("")
    assert run_cli(*_args(data, out))[0] == 0
    _same_run(out, clean[0])


def test_a_failed_first_shard_lets_the_corrected_command_start_over(reference, tmp_path, run_cli):
    """An error before any model finished leaves nothing to lose: the fixed command is not refused."""
    data, clean = reference
    out = tmp_path / "failed"
    assert _cli(_args(data, out), kill_at="after-membership")[0] == -9
    other = [*_args(data, out), "--targets", "3"]  # a different estimate option: same identity
    wrong = [a if a != "4" else "6" for a in _args(data, out)]  # --models 6: another configuration
    assert run_cli(*wrong)[0] == 0  # nothing was trained under the old configuration
    code, _, err = run_cli(*_args(data, out))  # now 6 models are trained: refused, with what to do
    assert code == 2 and "another configuration" in err and "delete" in err
    shutil.rmtree(out)
    assert run_cli(*other)[0] == 0


# --- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 64 KiB mounted at tmp_path/disk (root only), grown by calling the returned function."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)

    yield disk, grow
    subprocess.run(["umount", "-l", str(disk)])


def test_a_full_disk_is_one_paragraph_and_the_run_resumes(tmp_path, small_disk, run_cli):
    disk, grow = small_disk
    data = _dataset(tmp_path, n=20_000)
    clean = tmp_path / "clean"
    assert run_cli(*_args(data, clean))[0] == 0
    out = disk / "run"
    for size in ("64k", "1m", "3m"):  # too small for a shard; for the finalize; for the estimates
        grow(size)
        code, _, err = _cli(_args(data, out))
        assert code == 2 and "Traceback" not in err, err
        assert "disk" in err and "re-run the same command" in err.replace("\n", " ")
    grow("64m")
    code, _, err = _cli(_args(data, out))
    assert code == 0, err
    _same_run(out, clean)


# --- bit flips in every output --------------------------------------------------------------


def _flip(path: Path, bit: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(raw))


def _recorded_files(run: Path) -> list[str]:
    manifest = json.loads((run / "run.json").read_text())
    return ["run.json", *manifest["files"]]


def test_every_recorded_file_is_checksummed(reference):
    _, clean = reference
    names = set(_recorded_files(clean[0]))
    on_disk = {str(p.relative_to(clean[0])) for p in clean[0].rglob("*") if p.is_file() and p.name != ".lock"}
    assert on_disk - {"report.html"} <= names  # everything but the human-facing page is recorded


def test_single_bit_flips_in_any_output_are_detected_and_named(reference, tmp_path, run_cli):
    """Random bit flips in each file: `memlens report` (which reads everything) names that file."""
    _, clean = reference
    rng = np.random.default_rng(0)
    for name in _recorded_files(clean[0]):
        size = (clean[0] / name).stat().st_size
        for bit in rng.choice(size * 8, size=12, replace=False):
            copy = tmp_path / "copy"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(clean[0], copy)
            _flip(copy / name, int(bit))
            code, _, err = run_cli("report", copy)
            assert code == 2, f"a flip of bit {bit} in {name} went unnoticed"
            assert name in err and "Traceback" not in err


def test_show_never_prints_a_damaged_score(reference, tmp_path, run_cli):
    _, clean = reference
    copy = tmp_path / "copy"
    shutil.copytree(clean[0], copy)
    rng = np.random.default_rng(1)
    size = (copy / "scores.parquet").stat().st_size
    original = (copy / "scores.parquet").read_bytes()
    for bit in rng.choice(size * 8, size=200, replace=False):
        (copy / "scores.parquet").write_bytes(original)
        _flip(copy / "scores.parquet", int(bit))
        code, _, err = run_cli("show", copy)
        assert code == 2 and "scores.parquet" in err and "--rescore" in err


def test_damaged_estimates_are_rebuilt_by_rescore(reference, tmp_path, run_cli):
    _, clean = reference
    copy = tmp_path / "copy"
    shutil.copytree(clean[0], copy)
    _flip(copy / "scores.parquet", 1000)
    (copy / "mia.json").unlink()
    code, _, err = run_cli("report", copy, "--rescore")
    assert code == 0, err
    _same_run(copy, clean[0])


def test_a_hand_edited_manifest_is_refused(reference, tmp_path, run_cli):
    _, clean = reference
    copy = tmp_path / "copy"
    shutil.copytree(clean[0], copy)
    manifest = json.loads((copy / "run.json").read_text())
    manifest["config"]["seed"] = 7
    (copy / "run.json").write_text(json.dumps(manifest))
    for command in ("show", "report"):
        code, _, err = run_cli(command, copy)
        assert code == 2 and "edited by hand" in err
    with pytest.raises(RunStoreError, match="edited by hand"):
        ml.Run.open(copy)


def test_readers_of_an_unfinished_run_say_how_to_finish_it(reference, tmp_path, run_cli):
    data, _ = reference
    out = tmp_path / "unfinished"
    assert _cli(_args(data, out), kill_at="after-shard-0")[0] == -9
    for command in ("show", "report"):
        code, _, err = run_cli(command, out)
        assert code == 2 and "has not finished training" in err and "resumes" in err


# --- hostile strings ------------------------------------------------------------------------


HOSTILE = ["[bold red]boom[/]", "<script>alert(1)</script>", "a\"b'&c", "[link=file:///etc]x[/link]"]


def test_hostile_names_print_literally(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no folding: every line is compared whole
    data = _dataset(tmp_path, labels=HOSTILE)
    out = tmp_path / "[red]runs" / "<b>x</b>"
    code, stdout, err = run_cli(*_args(data, out))
    assert code == 0, err
    assert f"→ {out}" in stdout and f"inspect with `memlens show {out}`" in stdout
    code, stdout, err = run_cli("show", out, "--top", "400")
    assert code == 0, err
    shown = stdout.replace("\n", "")
    for label in HOSTILE:
        assert label in shown or label[:12] in shown  # rich may fold a long cell; never interpret it
