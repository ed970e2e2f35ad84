"""Executors run the train step, one shard of models per task.

The driver owns the run directory: an executor only returns observations, and the driver writes
them, so a remote executor (Ray, later) needs no shared filesystem. Any object with this
``map`` method plugs in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

Task = tuple[int, int, int]  # (shard index, first model, one past the last model)


class Executor(Protocol):
    def map(self, fn: Callable[[int, int], dict], tasks: Iterable[Task]) -> Iterator[tuple[Task, dict, float]]:
        """Run ``fn(start, stop)`` for each task; yield (task, observations, seconds) as each ends."""


class InProcess:
    """Runs shards one after another in this process (the default; PyTorch uses all cores)."""

    def map(self, fn, tasks):
        for task in tasks:
            t = time.perf_counter()
            result = fn(task[1], task[2])
            yield task, result, time.perf_counter() - t
