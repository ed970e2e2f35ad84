"""The Ray executor: shards as Ray tasks on a local instance, the driver alone writing the run."""

from __future__ import annotations

import os

import numpy as np
import pytest

import memlens as ml
from memlens.errors import MemlensError
from memlens.executors import Ray, parse

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


class _Wrapped:
    """A trainer whose fit_observe is ``fit``; everything else is ``trainer``'s. Ray pickles the
    test's local ``fit`` by value, so the workers need not import this file."""

    def __init__(self, trainer, fit):
        self.trainer, self.fit_observe = trainer, fit

    def __getattr__(self, name):  # not for the attributes themselves, which unpickling asks for first
        if name in ("trainer", "fit_observe"):
            raise AttributeError(name)
        return getattr(self.trainer, name)


def _arrays(store) -> dict:
    return {name: np.asarray(store.observation(name)) for name in store.observation_names()}


def _one_thread_in_process(data, design, trainer, out):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray shard trains (num_cpus=1)
    try:
        return ml.audit(data, design, trainer, out, shard_size=2, progress=False)
    finally:
        torch.set_num_threads(threads)


def test_ray_run_equals_in_process_bitwise_even_when_a_worker_is_killed(local_ray, tmp_path):
    data = ml.data.load("digits:240")
    design = ml.design.halves(6, 240, seed=3)
    trainer = ml.train.Ensemble("mlp", width=16, epochs=3, precision="float32")
    reference = _one_thread_in_process(data, design, trainer, tmp_path / "local")

    marker = tmp_path / "killed-once"

    def dies_once_on_shard_1(data, membership, seeds, progress=None):
        if seeds[0].spawn_key[-1] == 2 and not marker.exists():  # shard 1: models 2 and 3
            marker.touch()
            os._exit(1)  # the worker process dies, as under the out-of-memory killer
        return trainer.fit_observe(data, membership, seeds, progress)

    run = ml.audit(data, design, _Wrapped(trainer, dies_once_on_shard_1), tmp_path / "ray", shard_size=2,
                   executor=Ray(), progress=False)  # fmt: skip
    assert marker.exists(), "the worker was never killed: the retry path went untested"
    ours, theirs = _arrays(run.store), _arrays(reference.store)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert run.scores["memorization"].equals(reference.scores["memorization"])


def test_the_trainers_own_error_surfaces_as_itself(local_ray, tmp_path):
    def broken(*args, **kwargs):
        raise MemlensError("the trainer says no")

    data = ml.data.load("digits:60")
    with pytest.raises(MemlensError, match="the trainer says no"):
        ml.audit(data, ml.design.halves(2, 60), _Wrapped(ml.train.Ensemble("linear", epochs=1), broken),
                 tmp_path / "r", executor=Ray(), progress=False)  # fmt: skip


def test_an_address_that_does_not_answer_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(MemlensError, match="does not answer"):
        ml.audit(ml.data.load("digits:60"), ml.design.halves(2, 60), ml.train.Ensemble("linear", epochs=1),
                 out, executor=Ray("127.0.0.1:9"), progress=False)  # fmt: skip
    assert not out.exists()


def test_parse():
    assert type(parse("local")).__name__ == "InProcess"
    assert parse("ray").address is None and parse("ray:auto").address == "auto"
    assert parse("ray:10.0.0.5:6379").address == "10.0.0.5:6379"
    with pytest.raises(MemlensError, match="Unknown executor"):
        parse("dask")
    with pytest.raises(MemlensError, match="HOST:PORT"):
        Ray("nohost").connect()


def test_cli_refuses_a_silent_ray_head_and_writes_nothing(tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "2", "--epochs", "1",
                           "--executor", "ray:127.0.0.1:9", "--out", out, "--no-progress")  # fmt: skip
    assert code != 0 and "does not answer" in err and "Nothing was written" in err
    assert not out.exists()
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "2", "--executor", "dask", "--out", out)
    assert code != 0 and "Unknown executor" in err
