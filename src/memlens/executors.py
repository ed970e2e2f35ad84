"""Executors run the train step, one shard of models per task.

The driver owns the run directory: an executor only returns observations, and the driver writes
them, so a remote executor needs no shared filesystem. Any object with this ``map`` method plugs
in; :class:`Ray` runs the shards as Ray tasks on a local or remote cluster
(``pip install memlens[ray]``).

A shard out of memory inside its task is retried there when that is safe (a smaller observation
batch, :mod:`memlens.faults`); otherwise both executors stop the run with
:class:`~memlens.faults.ShardOutOfMemory`, which names the shard, its models and the allocation
that failed.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from memlens.errors import MemlensError
from memlens.faults import ShardOutOfMemory, first_line

Task = tuple[int, int, int]  # (shard index, first model, one past the last model)
#: what Ray's memory monitor says a killed task held: "… (task ID: …, pid=…, memory used=1.2GB) …"
_RAY_TASK_MEMORY = re.compile(r"memory used=([0-9.]+)\s*GB")


class Executor(Protocol):
    def map(self, fn: Callable[[int, int], dict], tasks: Iterable[Task]) -> Iterator[tuple[Task, dict, float]]:
        """Run ``fn(start, stop)`` for each task; yield (task, observations, seconds) as each ends."""


class InProcess:
    """Runs shards one after another in this process (the default; PyTorch uses all cores)."""

    remote = False

    def map(self, fn, tasks):
        for task in tasks:
            t = time.perf_counter()
            try:
                result = fn(task[1], task[2])
            except ShardOutOfMemory as e:
                raise e.for_shard(task[0]) from None
            yield task, result, time.perf_counter() - t

    def describe(self) -> dict:
        return {"kind": "in-process"}


class Ray:
    """Runs each shard as a Ray task; results come back to the driver, which alone writes the run.

    Args:
        address: ``None`` starts a Ray instance on this machine; ``"auto"`` joins the cluster
            this machine belongs to (``ray start --head`` ran here); ``HOST:PORT`` joins a
            cluster's head node.
        num_cpus: CPUs each shard task asks Ray for (default 1: a shard trains on one core, and
            Ray runs as many shards at once as the cluster has CPUs).
        max_retries: How often a shard whose worker died (killed, out of memory, node lost) is
            resubmitted before the run stops. A retried shard trains from its models' seeds
            again, so the run's arrays are the same as if it had never failed.
        init_options: Further ``ray.init`` keyword arguments (``num_cpus`` of a local instance, …).

    A shard's models are seeded by their index, not by where they train, so a run trained on
    a cluster equals the in-process one bit for bit when both train with the same number of
    threads per shard (``num_cpus``; PyTorch's CPU kernels may sum in another order with
    another thread count).
    """

    remote = True

    def __init__(self, address: str | None = None, *, num_cpus: int = 1, max_retries: int = 3, **init_options):
        if not isinstance(num_cpus, int) or isinstance(num_cpus, bool) or num_cpus < 1:
            raise MemlensError(f"The Ray executor's num_cpus (CPUs per shard) must be a whole number >= 1; got {num_cpus!r}.")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise MemlensError(f"The Ray executor's max_retries must be a whole number >= 0; got {max_retries!r}.")
        self.address, self.num_cpus, self.max_retries, self.init_options = address, num_cpus, max_retries, init_options
        self._started_here = False

    def describe(self) -> dict:
        return {"kind": "ray", "address": self.address or "local", "num_cpus_per_shard": self.num_cpus}

    def connect(self) -> None:
        """Join (or start) the Ray cluster; refuse an address that does not answer, before any file is written."""
        try:
            import ray
        except ImportError:
            raise MemlensError(
                "--executor ray needs Ray, which is not installed: pip install 'memlens[ray]' (or pip install ray)."
            ) from None
        if self.address not in (None, "auto"):
            _check_reachable(self.address)
        if ray.is_initialized():
            return
        try:
            # None is a fresh instance on this machine ("local"), even when a cluster started
            # with `ray start` runs here: joining that one is what "auto" asks for
            ray.init(address=self.address or "local", include_dashboard=False, log_to_driver=False,
                     configure_logging=False, **self.init_options)  # fmt: skip
        except (ConnectionError, TimeoutError, RuntimeError) as e:
            where = "this machine's Ray cluster (address=auto)" if self.address == "auto" else f"the Ray head at {self.address}"
            raise MemlensError(
                f"Could not join {where}: {e}. Start a head node with `ray start --head` (and workers with "
                "`ray start --address HEAD:6379`), or use --executor ray to start Ray on this machine only. "
                "Nothing was written."
            ) from None
        self._started_here = True

    def shutdown(self) -> None:
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False

    def map(self, fn, tasks):
        import ray

        self.connect()
        run_shard = ray.remote(num_cpus=self.num_cpus, max_retries=self.max_retries)(_run_shard)
        fn_ref = ray.put(fn)  # the trainer and the data travel once, not once per shard
        pending = {run_shard.remote(fn_ref, task[1], task[2], self.num_cpus): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(done[0])
            try:
                result, seconds = ray.get(done[0])
            except ray.exceptions.OutOfMemoryError as e:  # Ray's memory monitor killed the worker
                used = _RAY_TASK_MEMORY.search(str(e))
                raise MemlensError(
                    f"Shard {task[0]} (models {task[1]}–{task[2] - 1}, {task[2] - task[1]} trained at once) "
                    f"ran out of memory on its Ray worker {self.max_retries + 1} times"
                    + (f" (the task held {used.group(1)} GB when it was killed)" if used else "")
                    + f": {first_line(e)}. Give each shard more memory: nodes with more memory, fewer "
                    "shards per node (start workers with `ray start --num-cpus` lower), or fewer models per "
                    "shard (a smaller --shard-size, which is part of the run's configuration: a new --out). "
                    "Shards finished before it are kept: the same command, re-run where more memory is "
                    "free, resumes from them."
                ) from None
            except ray.exceptions.WorkerCrashedError as e:
                raise MemlensError(
                    f"Shard {task[0]} (models {task[1]}–{task[2] - 1}) lost its Ray worker {self.max_retries + 1} "
                    f"times ({first_line(e)}). Re-run the same command to resume; finished shards are kept."
                ) from None
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, ShardOutOfMemory):  # out of memory inside the task, retries spent
                    raise e.cause.for_shard(task[0]) from None
                raise e.as_instanceof_cause() from None  # the trainer's own error, as in-process
            yield task, result, seconds


def _run_shard(fn, start: int, stop: int, threads: int):
    """A Ray task: train models [start, stop) with ``threads`` PyTorch threads; (observations, seconds)."""
    import torch

    torch.set_num_threads(threads)
    t = time.perf_counter()
    return fn(start, stop), time.perf_counter() - t


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise MemlensError(f"A Ray address is HOST:PORT (e.g. 10.0.0.5:6379) or auto; got {address!r}.")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise MemlensError(
            f"The Ray head at {address} does not answer ({e.strerror or e}). Check that `ray start --head` runs "
            "there and that port is open from this machine. Nothing was written."
        ) from None


def parse(spec: str) -> InProcess | Ray:
    """An executor from its CLI spelling: ``local``, ``ray`` (a Ray instance on this machine),
    ``ray:auto`` (this machine's cluster) or ``ray:HOST:PORT`` (a cluster's head)."""
    kind, _, address = spec.partition(":")
    if kind == "local" and not address:
        return InProcess()
    if kind == "ray":
        return Ray(address or None)
    raise MemlensError(f"Unknown executor {spec!r}: use local, ray, ray:auto or ray:HOST:PORT.")
