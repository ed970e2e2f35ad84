"""A shard out of memory: retried with a smaller observation batch when that is safe, otherwise
one paragraph naming the shard, its models and the allocation that failed.

Out-of-memory errors are planted by monkeypatching the trainer (numpy's MemoryError, torch's
OutOfMemoryError as a GPU raises it, the RuntimeError of torch's CPU allocator), so no test
allocates anything large.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

import memlens as ml
from memlens import faults
from memlens.engine import _Shard, run_design
from memlens.errors import MemlensError
from memlens.train import Ensemble

torch = pytest.importorskip("torch")

CPU_OOM = "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000 bytes. Error code 12 (Cannot allocate memory)"  # noqa: E501


def _trainer(**kwargs) -> Ensemble:
    return Ensemble("mlp", width=16, epochs=3, precision="float32", device="cpu", **kwargs)


def _arrays(store) -> dict:
    return {name: np.asarray(store.observation(name)) for name in store.observation_names()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 6-model run (3 shards of 2) on 400 digits: the arrays every retry must equal."""
    data = ml.data.load("digits:400")
    design = ml.design.halves(6, 400, seed=1)
    store = run_design(data, design, _trainer(), tmp_path_factory.mktemp("ref") / "run", shard_size=2, progress=False)
    return data, design, _arrays(store)


def _observing_fails_above(monkeypatch, limit: int, error=MemoryError) -> list[int]:
    """Make Ensemble's observation raise ``error`` whenever its batch exceeds ``limit``; return the
    list of observation batches tried (one entry per call)."""
    tried = []
    observe = Ensemble._observe

    def observe_or_fail(self, *args, **kwargs):
        tried.append(self.eval_batch)
        if self.eval_batch > limit:
            raise error(f"Unable to allocate 3.00 GiB for an array (observation batch {self.eval_batch})")
        return observe(self, *args, **kwargs)

    monkeypatch.setattr(Ensemble, "_observe", observe_or_fail)
    return tried


@pytest.mark.parametrize("error", [MemoryError, torch.OutOfMemoryError], ids=["numpy", "torch-gpu"])
def test_out_of_memory_while_observing_is_retried_with_half_the_batch_and_changes_nothing(
    reference, tmp_path, monkeypatch, error, one_torch_thread
):
    data, design, expected = reference
    tried = _observing_fails_above(monkeypatch, 512, error)
    store = run_design(data, design, _trainer(), tmp_path / "run", shard_size=2, progress=False)
    ours = _arrays(store)
    assert ours.keys() == expected.keys()
    for name in ours:  # the observation batch changes what is held at once, not one bit of the result
        np.testing.assert_array_equal(ours[name], expected[name], err_msg=name)
    # per shard: 2048 and 1024 fail on the training pool, 512 succeeds on the pool and the test set
    assert tried == [2048, 1024, 512, 512] * 3
    retries = store.manifest["memory_retries"]  # recorded, and kept after the shards are merged
    assert [(r["shard"], r["eval_batch"], r["retried_with"]) for r in retries] == [
        (s, b, b // 2) for s in range(3) for b in (2048, 1024)
    ]
    assert all(r["needed_bytes"] == 3 * 2**30 and r["models"] == [2 * r["shard"], 2 * r["shard"] + 2] for r in retries)
    assert store.manifest["config"]["trainer"]["eval_batch"] == 2048  # the run's identity is unchanged


def test_a_retried_shard_advances_progress_once(monkeypatch):
    """Each retry trains the shard again; the progress bar still counts each model's epochs once."""
    data = ml.data.load("digits:120")
    design = ml.design.halves(2, 120)
    trainer = _trainer()
    tried = _observing_fails_above(monkeypatch, 1024)
    ticks: list[int] = []
    result = _Shard(trainer, data, design.membership, ml.train.model_seeds(0, 2), 120)(0, 2, progress=ticks.append)
    assert tried[0] == 2048 and len(result.retries) == 1  # one retry, so two trainings
    assert sum(ticks) == 2 * trainer.epochs


def test_out_of_memory_while_observing_at_the_smallest_batch_names_shard_models_and_batches(
    reference, tmp_path, monkeypatch, one_torch_thread
):
    data, design, _ = reference
    tried = _observing_fails_above(monkeypatch, 0)
    with pytest.raises(faults.ShardOutOfMemory) as info:
        run_design(data, design, _trainer(), tmp_path / "run", shard_size=2, progress=False)
    message = str(info.value)
    assert tried == [2048, 1024, 512, 256, 128]  # halved down to MIN_EVAL_BATCH, then given up
    assert "Shard 0 (models 0–1, 2 trained at once)" in message and "while observing" in message
    assert "2048 → 1024 → 512 → 256 → 128" in message and "3.0 GiB" in message
    assert "--shard-size" in message


@pytest.mark.parametrize(
    "error, needed",
    [(MemoryError("Unable to allocate 7.45 GiB for an array with shape (1000, 1000000)"), "7.4 GiB"),
     (RuntimeError(CPU_OOM), "3.7 GiB"),
     (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.1 GiB total)"), "20.0 MiB")],
    ids=["numpy", "torch-cpu", "torch-gpu"],
)  # fmt: skip
def test_out_of_memory_while_training_is_not_retried_and_names_the_shard(
    reference, tmp_path, monkeypatch, error, needed, one_torch_thread
):
    """The training batch is part of the experiment: no retry; the error says what to lower, and the
    shards trained before it stay, so the same command resumes to the uninterrupted arrays."""
    data, design, expected = reference
    calls = []
    fit = Ensemble._fit_observe

    def fails_on_models_2_3(self, data, membership, seeds, progress):
        calls.append(seeds[0].spawn_key[-1])
        if seeds[0].spawn_key[-1] == 2:
            raise error
        return fit(self, data, membership, seeds, progress)

    monkeypatch.setattr(Ensemble, "_fit_observe", fails_on_models_2_3)
    out = tmp_path / "run"
    with pytest.raises(faults.ShardOutOfMemory) as info:
        run_design(data, design, _trainer(), out, shard_size=2, progress=False)
    message = str(info.value)
    assert calls == [0, 2]  # shard 1 tried once
    assert "Shard 1 (models 2–3, 2 trained at once) ran out of memory while training" in message
    assert needed in message and type(error).__name__ in message
    assert "--shard-size" in message and "--batch-size" in message and "not lowered" in message
    monkeypatch.undo()
    store = run_design(data, design, _trainer(), out, shard_size=2, progress=False)
    for name, array in _arrays(store).items():
        np.testing.assert_array_equal(array, expected[name], err_msg=name)


class _NoEvalBatch:
    """A trainer without an observation batch to lower (like a scikit-learn one) that runs out of memory."""

    units_per_model = 1

    def config(self):
        return {"trainer": "no-eval-batch"}

    def fit_observe(self, data, membership, seeds, progress=None):
        for _ in seeds:
            progress(1)  # trained: the failure is in what follows, but nothing can be lowered
        raise MemoryError("Unable to allocate 512. MiB for an array with shape (2, 400, 80000)")


def test_a_trainer_without_an_observation_batch_fails_at_once_with_the_size(tmp_path):
    data = ml.data.load("digits:60")
    with pytest.raises(faults.ShardOutOfMemory) as info:
        run_design(data, ml.design.halves(2, 60), _NoEvalBatch(), tmp_path / "run", progress=False)
    assert "Shard 0 (models 0–1" in str(info.value) and "512.0 MiB" in str(info.value)


def test_the_error_survives_pickling_as_ray_sends_it():
    error = faults.ShardOutOfMemory(4, 8, observing=True, needed=2**30, detail="MemoryError: x",
                                    peak=3 * 2**30, eval_batches=(2048, 1024))  # fmt: skip
    back = pickle.loads(pickle.dumps(error)).for_shard(2)
    assert str(back) == str(error.for_shard(2)) and str(back).startswith("Shard 2 (models 4–7")
    assert isinstance(back, MemlensError)


def test_requested_bytes_reads_each_libraries_message():
    assert faults.requested_bytes(RuntimeError(CPU_OOM)) == 4_000_000_000
    assert faults.requested_bytes(torch.OutOfMemoryError("Tried to allocate 1.50 GiB")) == 3 * 2**29
    assert faults.requested_bytes(MemoryError("Unable to allocate 512. MiB for an array")) == 2**29
    assert faults.requested_bytes(MemoryError()) is None
    assert not faults.is_out_of_memory(RuntimeError("shapes cannot be multiplied"))
    assert faults.is_out_of_memory(RuntimeError("CUDA error: out of memory"))


def test_halving_keeps_what_the_trainer_resolved_and_stops_at_the_floor():
    trainer = _trainer(eval_batch=256)
    trainer.resolve_precision()
    smaller = faults.halved_eval_batch(trainer)
    assert smaller.eval_batch == 128 and trainer.eval_batch == 256
    assert smaller._precision_choice is trainer._precision_choice  # not resolved (timed) again
    assert dataclasses.asdict(smaller) == {**dataclasses.asdict(trainer), "eval_batch": 128}
    assert faults.halved_eval_batch(smaller) is None  # 64 would change the CPU's matrix kernels
    assert faults.halved_eval_batch(_NoEvalBatch()) is None


def test_on_ray_an_observation_retry_happens_in_the_worker_and_a_training_oom_names_the_shard(tmp_path):
    """One local Ray instance for both: the retry runs inside the task (the arrays equal a one-thread
    in-process run bit for bit), and a training OOM comes back naming the shard."""
    ray = pytest.importorskip("ray")
    from memlens.executors import Ray

    data = ml.data.load("digits:240")
    design = ml.design.halves(4, 240, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray shard trains (num_cpus=1)
    try:
        expected = _arrays(run_design(data, design, _trainer(), tmp_path / "local", shard_size=2, progress=False))
    finally:
        torch.set_num_threads(threads)

    @dataclasses.dataclass
    class ObservesSmallOnly(Ensemble):  # local, so Ray ships it by value to the workers
        fail_training_of: int = -1

        def _fit_observe(self, data, membership, seeds, progress):
            if seeds[0].spawn_key[-1] == self.fail_training_of:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super()._fit_observe(data, membership, seeds, progress)

        def _observe(self, *args, **kwargs):
            if self.eval_batch > 1024:
                raise MemoryError("Unable to allocate 1.00 GiB for an array")
            return super()._observe(*args, **kwargs)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        trainer = ObservesSmallOnly("mlp", width=16, epochs=3, precision="float32", device="cpu")
        store = run_design(data, design, trainer, tmp_path / "ray", shard_size=2, executor=Ray(), progress=False)
        for name, array in _arrays(store).items():
            np.testing.assert_array_equal(array, expected[name], err_msg=name)
        assert sorted((r["shard"], r["retried_with"]) for r in store.manifest["memory_retries"]) == [(0, 1024), (1, 1024)]

        failing = dataclasses.replace(trainer, fail_training_of=2)
        with pytest.raises(faults.ShardOutOfMemory) as info:
            run_design(data, design, failing, tmp_path / "ray-oom", shard_size=2, executor=Ray(), progress=False)
        assert str(info.value).startswith("Shard 1 (models 2–3, 2 trained at once) ran out of memory while training")
        assert "2.0 GiB" in str(info.value)
    finally:
        ray.shutdown()


def test_the_cli_explains_an_out_of_memory_outside_a_shard_with_its_size():
    from memlens.cli import _explain

    message, code = _explain(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0)"))
    assert code == 2 and "ran out of memory (an allocation of 2.0 GiB failed)" in message
    message, code = _explain(RuntimeError(CPU_OOM))
    assert code == 2 and "3.7 GiB" in message
    shard = faults.ShardOutOfMemory(0, 2, observing=False, needed=None, detail="MemoryError").for_shard(0)
    assert _explain(shard) == (str(shard), 2)


@pytest.mark.parametrize("model", ["mlp", "linear", "cnn"])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_smallest_retry_batch_observes_the_same_bits(model, precision, one_torch_thread):
    """What makes the retry safe: observing with faults.MIN_EVAL_BATCH examples per pass gives the
    arrays of the default batch, bit for bit (a trainer change that breaks it must lower the floor)."""
    data = ml.data.load("digits:300")
    membership = ml.design.halves(2, 300).membership
    trainer = Ensemble(model, width=8, epochs=1, precision=precision, device="cpu")
    small = dataclasses.replace(trainer, eval_batch=faults.MIN_EVAL_BATCH)
    a = trainer.fit_observe(data, membership, ml.train.model_seeds(0, 2))
    b = small.fit_observe(data, membership, ml.train.model_seeds(0, 2))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
