"""A run directory on a full disk, at every write the run makes: the half-written file is
discarded, the error says the disk is full, where and how much the write needed, and the same
command, re-run once space is freed, ends bit for bit equal to an uninterrupted run.

The disk fills by monkeypatching: the store's atomic writes raise ENOSPC on their Nth call after
writing half the file, as a real full disk does mid-write. (`tests/test_faults_store.py` does it
with a real 64 KiB tmpfs where the suite runs as root.)
"""

from __future__ import annotations

import contextlib
import errno
import json

import numpy as np
import pytest

import memlens as ml
from memlens import files, store
from memlens.errors import RunStoreError
from memlens.files import is_temporary


def _audit(out, **kwargs):
    from sklearn.linear_model import LogisticRegression

    data = ml.data.load("digits:150")
    design = ml.design.halves(4, 150, seed=2)
    trainer = ml.train.Sklearn(LogisticRegression(max_iter=200))
    return ml.audit(data, design, trainer, out, shard_size=2, n_targets=2, progress=False, **kwargs)


def _outputs(run_dir) -> dict:
    """Every array and estimate of a finished run, read back from disk."""
    run = ml.Run.open(run_dir)
    arrays = {f"observations/{n}": np.asarray(run.store.observation(n)) for n in run.store.observation_names()}
    arrays["membership"] = np.asarray(run.membership)
    mia = json.loads((run_dir / "mia.json").read_text())
    return {"arrays": arrays, "scores": run.scores, "mia": mia}


class _FillsUp:
    """Replaces ``atomic_path`` in the store and in ``memlens.files`` (the manifest's writer): the
    Nth write gets half its bytes onto the disk, then ENOSPC."""

    def __init__(self, fail_at: int | None):
        self.fail_at, self.calls, self.failed = fail_at, [], None
        self.real = files.atomic_path

    @contextlib.contextmanager
    def __call__(self, path, suffix=""):
        self.calls.append(str(path))
        with self.real(path, suffix) as tmp:
            yield tmp
            if len(self.calls) == self.fail_at:
                self.failed = path
                data = tmp.read_bytes() if tmp.exists() else b""
                tmp.write_bytes(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """An uninterrupted run and the list of writes it made."""
    out = tmp_path_factory.mktemp("clean") / "run"
    recorder = _FillsUp(None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "atomic_path", recorder)
        mp.setattr(files, "atomic_path", recorder)
        _audit(out)
    return _outputs(out), recorder.calls


def test_the_fault_plan_covers_every_kind_of_write(clean):
    _, writes = clean
    kinds = {w.split("/run/", 1)[1].split("/")[0] for w in writes}
    assert {"run.json", "membership.npy", "shards", "observations", "scores.parquet", "mia.json"} <= kinds


#: the writes the disk fills up at: the mask, the second shard, mid-assembly, the manifest that
#: marks the run complete, and each estimate (the kill-stage tests in test_faults_store.py cover
#: the boundaries between them)
WRITES = ["membership.npy", "shards/00001.npz", "observations/probabilities.npy", "run.json@complete",
          "scores.parquet", "mia.json", "gallery.parquet"]  # fmt: skip


def _nth_write(writes: list[str], which: str) -> int:
    """1-based index of the write ``which`` (``run.json@complete``: the manifest after the last array)."""
    names = [w.split("/run/", 1)[1] for w in writes]
    if which == "run.json@complete":
        last_array = max(i for i, name in enumerate(names) if name.startswith("observations/"))
        return names.index("run.json", last_array) + 1
    return names.index(which) + 1


@pytest.mark.parametrize("which", WRITES)
def test_a_full_disk_is_one_paragraph_and_the_rerun_equals_an_uninterrupted_run(clean, tmp_path, which):
    expected, writes = clean
    out = tmp_path / "run"
    fills = _FillsUp(_nth_write(writes, which))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "atomic_path", fills)
        mp.setattr(files, "atomic_path", fills)
        with pytest.raises(RunStoreError) as info:
            _audit(out)
    message = " ".join(str(info.value).split())
    assert fills.failed == out / which.split("@")[0]
    assert f"The disk holding {out} is full" in message and str(fills.failed) in message, message
    assert "re-run the same command" in message and "discarded" in message, message
    if which.endswith(".npz"):  # a shard: the error says how much it needed
        assert "writing it needed" in message and " free" in message, message
    leftovers = [p for p in out.rglob("*") if is_temporary(p.name)]
    assert not leftovers, f"the half-written file was kept: {leftovers}"

    _audit(out)  # space freed: the same command
    got = _outputs(out)
    assert got["arrays"].keys() == expected["arrays"].keys()
    for name, array in got["arrays"].items():
        np.testing.assert_array_equal(array, expected["arrays"][name], err_msg=name)
    assert got["scores"].equals(expected["scores"])
    assert got["mia"] == expected["mia"]


def test_a_full_disk_on_a_shard_through_the_cli_exits_2_with_the_size(tmp_path, monkeypatch, run_cli):
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    np.savez(data, X=X, y=(X[:, 0] > 0).astype(int), X_test=X[:40], y_test=(X[:40, 0] > 0).astype(int))
    real = np.savez

    def full_on_the_second_shard(f, **arrays):
        full_on_the_second_shard.calls += 1
        if full_on_the_second_shard.calls == 2:
            f.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)

    full_on_the_second_shard.calls = 0
    monkeypatch.setattr(np, "savez", full_on_the_second_shard)
    args = ["audit", "--dataset", data, "--out", tmp_path / "run", "--model",
            "sklearn:sklearn.linear_model.LogisticRegression", "--models", "4", "--shard-size", "2",
            "--targets", "2", "--no-progress"]  # fmt: skip
    code, _, err = run_cli(*args)
    err = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "is full" in err and "shards/00001.npz" in err and "writing it needed" in err and "KiB" in err
    assert sorted(p.name for p in (tmp_path / "run" / "shards").iterdir()) == ["00000.npz"]
    monkeypatch.undo()
    assert run_cli(*args)[0] == 0
