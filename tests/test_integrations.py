"""Runs trained by the user's own script: prepare, subset_for, concurrent shards, finalize, curve."""

from __future__ import annotations

import json
import multiprocessing
import os

import numpy as np
import pytest
from scipy.stats import norm

import memlens as ml
from memlens.errors import MemlensError
from memlens.integrations import (
    Recorder,
    contribute,
    finalize,
    learning_events,
    prepare,
    seed_for,
    subset_for,
)
from memlens.integrations.recorder import step_summary
from memlens.store import RunStore


@pytest.fixture
def planned(tmp_path):
    """A prepared run: 6 models over 120 digits with label noise, nothing trained."""
    data = ml.data.load("digits:120").plant(ml.data.label_noise(0.1, seed=0))
    design = ml.design.halves(6, data.n_examples, seed=0)
    return data, design, prepare(data, design, tmp_path / "run")


def _fake_model(data, member_row, rng, *, steps=3, gap=2.0):
    """Per-evaluation logits of a 'model' that fits its members better as training goes on."""
    evaluations = []
    for s in range(1, steps + 1):
        logits = rng.normal(size=(data.n_examples, data.n_classes))
        logits[np.arange(data.n_examples), data.y] += s * (0.3 + gap * member_row)
        evaluations.append(logits)
    return evaluations


def test_subset_and_seed_follow_the_design(planned):
    import torch

    data, design, run = planned
    for i in range(design.n_models):
        assert subset_for(run, i).tolist() == np.flatnonzero(design.membership[i]).tolist()
    ids = subset_for(run, 2)
    assert subset_for(run, 2, data.X).shape == (len(ids), data.X.shape[1])
    assert subset_for(run, 2, list(range(data.n_examples))) == ids.tolist()
    subset = subset_for(run, 2, torch.utils.data.TensorDataset(torch.arange(data.n_examples)))
    assert [int(subset[k][0]) for k in range(len(subset))] == ids.tolist()
    seeds = [seed_for(run, i) for i in range(design.n_models)]
    assert len(set(seeds)) == design.n_models and all(0 <= s < 2**32 for s in seeds)
    assert seed_for(run, 3) == seeds[3]  # the same seed every time it is asked
    with pytest.raises(MemlensError, match="model index must be a whole number in 0..5"):
        subset_for(run, 6)
    with pytest.raises(MemlensError, match="has 10 examples but .* prepared for 120"):
        subset_for(run, 0, list(range(10)))


def test_prepare_is_idempotent_and_refuses_other_designs(planned, tmp_path):
    data, design, run = planned
    before = json.loads((run / "run.json").read_text())["config"]
    from memlens.runlock import RunLock

    writer = RunLock.acquire(run)  # another job writing its shard: the same call needs no lock
    assert prepare(data, design, run, wait=0) == run  # every job of an array may call it
    writer.release()
    assert json.loads((run / "run.json").read_text())["config"] == before
    other = ml.design.halves(6, data.n_examples, seed=1)
    rng = np.random.default_rng(0)
    recorder = Recorder(run, 0)
    recorder.finish(_fake_model(data, design.membership[0], rng)[-1], data.y, epoch=1, step=1)
    with pytest.raises(MemlensError, match="membership mask differs|another configuration"):
        prepare(data, other, run)
    assert not (tmp_path / "labels").exists()
    with pytest.raises(MemlensError, match="integers 0..C-1"):
        prepare(np.array([0.5, 1.0]), ml.design.halves(2, 2), tmp_path / "labels")
    with pytest.raises(MemlensError, match="design covers 120 examples, the data has 3"):
        prepare(np.array([0, 1, 1]), design, tmp_path / "labels")
    assert not (tmp_path / "labels").exists()  # bad input: nothing written


def test_learning_events_match_the_ensemble_tracker():
    """The callbacks' events equal those memlens's own trainers record (memlens.train.proxies)."""
    from memlens.train.proxies import ProxyTracker

    rng = np.random.default_rng(1)
    n, c, epochs = 50, 4, [2, 4, 6, 8]
    y = rng.integers(0, c, n)
    logits = [rng.normal(size=(n, c)) * 2 for _ in epochs]
    tracker = ProxyTracker(None, ("learning-events",), 1, n, epochs=epochs[-1])
    for epoch, z in zip(epochs, logits, strict=True):  # what tracker.update does at each checkpoint
        tracker.checkpoints += 1
        tracker._events(z[None], y, slice(None), epoch)
    expected = tracker.results()
    summaries = [step_summary(z, y) for z in logits]
    got = learning_events(np.stack([s["margin"] for s in summaries]), np.stack([s["loss"] for s in summaries]),
                          np.array(epochs, dtype=float))  # fmt: skip
    assert set(got) == set(expected)
    for name in got:
        np.testing.assert_allclose(got[name], expected[name][0], rtol=1e-5, err_msg=name)
    assert (got["first_learned_epoch"] == epochs[-1] + 1).any() and (got["forgetting_events"] > 0).any()


def _contribute_models(run, indices, barrier, n_examples):
    """A process writing the given models, all processes released at once (see the test below)."""
    barrier.wait()
    for i in indices:
        obs = {"correct": np.ones((1, n_examples), np.float32), "loss": np.full((1, n_examples), float(i), np.float32),
               "confidence": np.full((1, n_examples), -float(i), np.float32)}  # fmt: skip
        contribute(run, i, obs, seconds=0.1, finalize=True)


def test_concurrent_processes_keep_every_shard(tmp_path):
    """Models written by 4 processes at once: none loses another's record; one assembles the run.

    Without re-reading run.json under the lock, a process holding an older copy would write it
    back over the shards recorded meanwhile, and finalize would find models missing.
    """
    labels = np.arange(40) % 2
    run = prepare(labels, ml.design.halves(12, 40, seed=0), tmp_path / "run")
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    processes = [context.Process(target=_contribute_models, args=(run, range(p, 12, 4), barrier, 40)) for p in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    store = RunStore.open(run)
    assert store.complete
    loss = np.asarray(store.observation("loss"))
    np.testing.assert_array_equal(loss[:, 0], np.arange(12))  # model i's row is model i's
    assert {"scores.parquet", "mia.json"} <= set(store.manifest["files"])
    assert not [f for f in os.listdir(run) if f.startswith(".") and ".tmp" in f]


def test_a_manifest_read_before_another_write_is_refreshed(tmp_path, monkeypatch):
    """The lost update, made deterministic: this process read run.json, another then recorded model
    1; writing model 0 from the old copy would erase model 1's record."""
    from memlens.integrations import run as external

    run = prepare(np.arange(40) % 2, ml.design.halves(4, 40, seed=0), tmp_path / "run")
    obs = {k: np.zeros((1, 40), np.float32) for k in ("correct", "loss", "confidence")}
    stale = RunStore.open(run)
    contribute(run, 1, obs, seconds=0.0)  # "another process"
    monkeypatch.setattr(external, "_open", lambda path: stale)  # this process's earlier read
    contribute(run, 0, obs, seconds=0.0)
    assert sorted(RunStore.open(run).manifest["shards"]) == ["0", "1"]


def test_refusals_say_what_to_do(planned):
    data, design, run = planned
    rng = np.random.default_rng(0)
    first = Recorder(run, 0)
    for s, z in enumerate(_fake_model(data, design.membership[0], rng, steps=3), 1):
        first.record(z, data.y, epoch=s, step=s)
    first.finish(z, data.y, epoch=3, step=3)
    with pytest.raises(MemlensError, match="Model 0 of .* is already recorded"):
        Recorder(run, 0)  # before any training time is spent
    second = Recorder(run, 1)
    z = _fake_model(data, design.membership[1], rng, steps=1)[0]
    second.record(z, data.y, epoch=1, step=1)
    with pytest.raises(MemlensError, match="model 1 was observed at 1 evaluations and model 0 at 3"):
        second.finish(z, data.y, epoch=1, step=1)
    with pytest.raises(MemlensError, match="labels differ from those"):
        Recorder(run, 2).record(z, np.roll(data.y, 1), epoch=1, step=1)  # a shuffled audit set
    with pytest.raises(MemlensError, match="gave 60 examples"):
        Recorder(run, 2).record(z[:60], data.y[:60], epoch=1, step=1)
    with pytest.raises(MemlensError, match="NaN or infinite logits"):
        Recorder(run, 2).record(np.full_like(z, np.nan), data.y, epoch=1, step=1)
    with pytest.raises(MemlensError, match=r"has 1 of its 6 models; model\(s\) 1, 2, 3, 4, 5 are missing"):
        finalize(run)
    replaced = Recorder(run, 0, replace=True)
    replaced.finish(z, data.y, epoch=1, step=1)  # a one-evaluation model 0 now, like model 1 will be
    second.finish(z, data.y, epoch=1, step=1)
    assert sorted(RunStore.open(run).manifest["shards"]) == ["0", "1"]
    with pytest.raises(MemlensError, match="made by `memlens audit`"):
        Recorder(_audit_run(run.parent), 0)


def _audit_run(parent):
    data = ml.data.load("digits:60")
    return ml.audit(data, ml.design.halves(2, 60), ml.train.Ensemble("linear", epochs=1), parent / "audited",
                    progress=False).path  # fmt: skip


def test_finalized_run_has_scores_attacks_and_curve(planned):
    data, design, run = planned
    rng = np.random.default_rng(0)
    finished = []
    for i in range(design.n_models):
        recorder = Recorder(run, i)
        recorder.start()
        evaluations = _fake_model(data, design.membership[i], rng, steps=4)
        for s, z in enumerate(evaluations, 1):
            recorder.record(z, data.y, epoch=s, step=10 * s)
        finished.append(recorder.finish(evaluations[-1], data.y, epoch=4, step=40))
    assert finished == [False] * 5 + [True]  # the last model assembles the run
    result = ml.Run.open(run)
    assert result.observations["step_loss"].shape == (6, 4, data.n_examples)
    np.testing.assert_array_equal(result.observations["step_epoch"], np.tile([1, 2, 3, 4], (6, 1)))
    assert {"first_learned_epoch", "forgetting_events", "memorization"} <= set(result.scores.columns)
    np.testing.assert_array_equal(result.scores["label"], data.y)
    np.testing.assert_array_equal(result.scores["planted"], data.planted)
    curve = result.store.read_json("training_curve.json")
    assert curve["epoch"] == [1, 2, 3, 4] and curve["step"] == [10, 20, 30, 40]
    auc = curve["attacks"]["loss"]["auc"]
    assert auc == sorted(auc) and auc[-1] > 0.9  # the planted leak grows with training
    assert curve["attacks"]["lira-online"]["auc"][-1] == pytest.approx(
        result.mia["attacks"]["lira-online"]["auc"], abs=1e-9)  # the last point is the final attack
    from memlens.report import write_report

    page = write_report(result).read_text()
    assert "Membership leakage over training" in page


def test_privacy_over_training_matches_the_closed_form():
    """Loss attack with member losses N(0, 1) and non-member losses N(d, 1): AUC = Φ(d / √2)."""
    from memlens.estimate.over_training import privacy_over_training

    rng = np.random.default_rng(0)
    membership = rng.random((8, 3000)) < 0.5
    gaps = np.array([0.0, 0.5, 1.0, 2.0])
    loss = rng.normal(size=(8, 4, 3000)) + gaps[None, :, None] * ~membership[:, None, :]
    curve = privacy_over_training(membership, -loss, loss, n_targets=8)
    np.testing.assert_allclose(curve["attacks"]["loss"]["auc"], norm.cdf(gaps / np.sqrt(2)), atol=0.01)
    assert privacy_over_training(membership[:2], -loss[:2], n_targets=2)["attacks"] == {}


def test_cli_prepare_then_finalize(tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("prepare", "--dataset", "digits:60", "--models", "3", "--out", out)
    assert code == 0, err
    said = " ".join(stdout.split())  # rich wraps long paths at the console's width
    assert "3 models" in said and "subset_for" in said
    code, _, err = run_cli("finalize", out)
    assert code == 2 and "model(s) 0, 1, 2 are missing" in err
    data = ml.data.load("digits:60")
    rng = np.random.default_rng(0)
    for i in range(3):
        Recorder(out, i, finalize=False).finish(rng.normal(size=(60, 10)), data.y, epoch=1, step=1)
    code, stdout, err = run_cli("report", out)  # the next report assembles the run
    assert code == 0, err
    assert (out / "report.html").exists() and (out / "scores.parquet").exists()
    np.save(tmp_path / "y.npy", np.array([[0, 1]]))
    for args, message in [
        (("--labels", tmp_path / "y.npy"), "one-dimensional"),
        (("--labels", tmp_path / "y.npy", "--dataset", "digits"), "not both or neither"),
        (("--dataset", "digits:60", "--models", "0"), "--models"),
        (("--dataset", "digits:60", "--design", "nope"), "Unknown design"),
    ]:
        bad = tmp_path / "bad"
        code, _, err = run_cli("prepare", *args, "--out", bad)
        assert code == 2 and message in err, err
        assert not bad.exists()


def test_readers_of_an_unfinished_prepared_run_say_to_train_and_finalize(planned, run_cli):
    _, _, run = planned
    code, _, err = run_cli("show", run)
    assert code == 2 and "6 are still missing" in err and f"memlens finalize {run}" in err.replace("\n", "")
