"""The run directory: resume after a kill, refusal of foreign or mismatched runs, damage detection."""

import json

import numpy as np
import pytest

import memlens as ml
from dying_trainer import DiesAfter, Killed
from memlens.errors import RunStoreError
from memlens.store import RunStore


def _setup(n_models=6):
    data = ml.data.load("digits:150").plant(ml.data.label_noise(0.1, seed=0))
    design = ml.design.halves(n_models, data.n_examples, seed=0)
    return data, design, ml.train.Ensemble("mlp", width=16, epochs=3, batch_size=32)


def test_killed_run_resumes_to_identical_arrays(tmp_path):
    data, design, trainer = _setup()
    whole = ml.audit(data, design, trainer, tmp_path / "whole", shard_size=2, progress=False)
    with pytest.raises(Killed):
        ml.audit(data, design, DiesAfter(trainer, 2), tmp_path / "resumed", shard_size=2, progress=False)
    manifest = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert manifest["status"] == "training" and sorted(manifest["shards"]) == ["0", "1"]
    trained = []
    counting = DiesAfter(trainer, 99)
    counting.fit_observe = lambda d, m, s, progress=None: trained.append(len(m)) or trainer.fit_observe(d, m, s, progress)
    resumed = ml.audit(data, design, counting, tmp_path / "resumed", shard_size=2, progress=False)
    assert trained == [2]  # only the missing shard was trained
    for name in whole.store.observation_names():
        np.testing.assert_array_equal(whole.observations[name], resumed.observations[name])
    assert whole.scores.equals(resumed.scores)
    assert not (tmp_path / "resumed" / "shards").exists()


def test_rerunning_a_complete_run_trains_nothing(small_run):
    trainer = DiesAfter(ml.train.Ensemble("mlp", width=64, epochs=40), 0)  # training would raise
    data = ml.data.load("digits:300").plant(ml.data.label_noise(0.05, seed=0))
    again = ml.audit(data, ml.design.halves(8, 300, seed=0), trainer, small_run.path, progress=False)
    assert again.scores.equals(small_run.scores)


@pytest.mark.parametrize(
    "change, field",
    [
        ("seed", "seed"),
        ("design", "design.spec"),
        ("trainer", "trainer.epochs"),
        ("data", "dataset.fingerprint"),
    ],
)
def test_run_with_another_configuration_is_refused(tmp_path, change, field):
    data, design, trainer = _setup()
    ml.audit(data, design, trainer, tmp_path / "r", shard_size=3, progress=False)
    before = (tmp_path / "r" / "run.json").read_text()
    kwargs = {"seed": 0}
    if change == "seed":
        kwargs["seed"] = 1
    elif change == "design":
        design = ml.design.subsample(design.n_models, data.n_examples, 0.5, seed=0)
    elif change == "trainer":
        trainer = ml.train.Ensemble("mlp", width=16, epochs=4, batch_size=32)
    else:
        data = ml.data.load("digits:150")
    with pytest.raises(RunStoreError, match=f"another configuration(.|\n)*{field.replace('.', '[.]')}"):
        ml.audit(data, design, trainer, tmp_path / "r", shard_size=3, progress=False, **kwargs)
    assert (tmp_path / "r" / "run.json").read_text() == before  # nothing touched


def test_foreign_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    data, design, trainer = _setup()
    with pytest.raises(RunStoreError, match="not a memlens run"):
        ml.audit(data, design, trainer, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # not even a lock file
    (tmp_path / "run.json").write_text('{"hello": 1}')
    with pytest.raises(RunStoreError, match="not written by memlens"):
        RunStore.open(tmp_path)
    (tmp_path / "run.json").write_text("{broken")
    with pytest.raises(RunStoreError, match="damaged"):
        RunStore.open(tmp_path)


def test_damaged_observation_is_named(tmp_path):
    data, design, trainer = _setup()
    ml.audit(data, design, trainer, tmp_path / "r", progress=False)
    f = tmp_path / "r" / "observations" / "loss.npy"
    raw = bytearray(f.read_bytes())
    raw[-3] ^= 0xFF
    f.write_bytes(bytes(raw))
    run = ml.Run.open(tmp_path / "r")  # opening hashes only small files; big ones on first read
    with pytest.raises(RunStoreError, match="observations/loss.npy does not match its checksum"):
        run.observations["loss"]
    with pytest.raises(RunStoreError, match="observations/loss.npy"):
        ml.audit(data, design, trainer, tmp_path / "r", progress=False)


def test_truncated_npy_is_named(tmp_path):
    data, design, trainer = _setup()
    ml.audit(data, design, trainer, tmp_path / "r", progress=False)
    f = tmp_path / "r" / "observations" / "correct.npy"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(RunStoreError, match="correct.npy"):
        ml.Run.open(tmp_path / "r").observations["correct"]
    store = RunStore.open(tmp_path / "r", verify=False)
    with pytest.raises(RunStoreError, match="damaged or truncated"):
        store.load_array("observations/correct.npy")


def test_damaged_shard_is_retrained(tmp_path):
    data, design, trainer = _setup()
    with pytest.raises(Killed):
        ml.audit(data, design, DiesAfter(trainer, 2), tmp_path / "r", shard_size=2, progress=False)
    (tmp_path / "r" / "shards" / "00001.npz").write_bytes(b"garbage")
    run = ml.audit(data, design, trainer, tmp_path / "r", shard_size=2, progress=False)
    whole = ml.audit(data, design, trainer, tmp_path / "w", shard_size=2, progress=False)
    np.testing.assert_array_equal(run.observations["loss"], whole.observations["loss"])


def test_run_files_and_tables(small_run):
    files = {p.name for p in small_run.path.iterdir()}
    assert {"run.json", "membership.npy", "observations", "scores.parquet", "mia.json"} <= files
    assert small_run.membership.dtype == bool and small_run.membership.shape == (8, 300)
    for name in ("correct", "confidence", "loss"):
        arr = small_run.observations[name]
        assert arr.dtype == np.float32 and arr.shape == (8, 300)
    cols = set(small_run.scores.columns)
    assert {"id", "label", "memorization", "planted", "memorization_stderr", "in_count", "out_count"} <= cols
    mia = json.loads((small_run.path / "mia.json").read_text())
    for attack in ("lira-online", "lira-offline", "rmia", "loss"):
        assert set(mia["attacks"][attack]["tpr_at_fpr"]) == {"0.001", "0.01"}
    manifest = small_run.store.manifest
    assert manifest["versions"]["torch"] and manifest["config"]["seed"] == 0
    assert ml.Run.open(small_run.path).load_data().fingerprint() == manifest["config"]["dataset"]["fingerprint"]
