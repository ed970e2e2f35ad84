"""Named stage boundaries where the fault-injection tests kill the process, and out-of-memory faults.

``MEMLENS_KILL_AT=after-shard-1`` makes the process SIGKILL itself when it reaches that point, as a
power cut or the out-of-memory killer would: no ``finally`` runs, nothing is flushed. The tests use
it to check that every boundary resumes. Unset (always, outside tests) it costs one dict lookup.

A shard that runs out of memory is recognised here (:func:`is_out_of_memory`, whatever raised it:
numpy, torch on the CPU or a GPU) and reported as :class:`ShardOutOfMemory`, which names the shard,
its models and the allocation that failed; the engine retries one that failed while *observing*
with a smaller observation batch first (:func:`halved_eval_batch`).
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import os
import re
import signal
import sys

from memlens.errors import MemlensError

ENV = "MEMLENS_KILL_AT"


def stage(name: str) -> None:
    """Die here, now, if the environment names this stage."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


# --- out of memory ----------------------------------------------------------------------------

#: how often a shard that ran out of memory while observing is retried, each time with half the
#: observation batch: the trained weights are not kept, so each retry trains the shard again
OBSERVATION_RETRIES = 4
#: the smallest observation batch a retry uses. From 2048 down to 128 examples per forward pass the
#: ensemble's observations were bit for bit the same (mlp, linear, cnn; float32 and bfloat16; 1 and
#: 2 threads, AMD EPYC; tests/test_faults_memory.py holds it); at 64 float32 mlp and linear
#: observations moved in the last bit (other matrix kernels)
MIN_EVAL_BATCH = 128

_UNITS = {"b": 1, "bytes": 1, "kib": 2**10, "kb": 10**3, "mib": 2**20, "mb": 10**6,
          "gib": 2**30, "gb": 10**9, "tib": 2**40, "tb": 10**12, "pib": 2**50}  # fmt: skip
# torch on a GPU: "Tried to allocate 20.00 MiB"; torch on the CPU: "you tried to allocate
# 4000000000 bytes"; numpy: "Unable to allocate 7.45 GiB for an array with shape …"
_REQUEST = re.compile(r"(?:tried to|unable to) allocate\s+([0-9.]+)\s*([kmgtp]?i?b|bytes)\b", re.IGNORECASE)


def is_out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is an allocation failure: MemoryError (numpy, Python), torch's
    OutOfMemoryError (GPU), or the RuntimeError torch's CPU allocator raises."""
    if isinstance(e, MemoryError):
        return True
    if any(c.__name__ == "OutOfMemoryError" and c.__module__.startswith("torch") for c in type(e).__mro__):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def requested_bytes(e: BaseException) -> int | None:
    """The size of the allocation that failed, as the error reports it (None when it does not)."""
    total = getattr(e, "_total_size", None)  # numpy's _ArrayMemoryError
    if isinstance(total, int):
        return total
    found = _REQUEST.search(str(e))
    if found is None:
        return None
    return int(float(found.group(1).rstrip(".")) * _UNITS[found.group(2).lower()])


def size(n_bytes: int | float | None) -> str:
    """``n_bytes`` for people: 1.5 GiB, 20.0 MiB, 512 bytes."""
    if n_bytes is None:
        return "an amount it did not report"
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory so far (Linux and macOS; None elsewhere)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def halved_eval_batch(trainer):
    """A copy of ``trainer`` observing in half as many examples per forward pass, or None when it
    has no such setting (or half would be below ``MIN_EVAL_BATCH``).

    Only the observation batch is lowered: it changes what is held in memory at once, not what is
    trained (the training batch would change the experiment). The copy keeps what the original
    resolved (precision, device); ``copy.copy`` rather than ``dataclasses.replace``, which would
    run ``__post_init__`` again and forget them.
    """
    if not dataclasses.is_dataclass(trainer) or "eval_batch" not in {f.name for f in dataclasses.fields(trainer)}:
        return None
    current = trainer.eval_batch
    if not isinstance(current, int) or current // 2 < MIN_EVAL_BATCH:
        return None
    smaller = copy.copy(trainer)
    smaller.eval_batch = current // 2
    return smaller


class ShardOutOfMemory(MemlensError):
    """A shard's models did not fit in memory (after any safe retries): names the shard, its
    models, the allocation that failed and what to lower."""

    def __init__(self, start: int, stop: int, *, observing: bool, needed: int | None, detail: str,
                 peak: int | None = None, eval_batches: tuple[int, ...] = (), shard: int | None = None):  # fmt: skip
        self.start, self.stop, self.observing, self.needed = start, stop, observing, needed
        self.detail, self.peak, self.eval_batches, self.shard = detail, peak, tuple(eval_batches), shard
        super().__init__(self._message())

    def __reduce__(self):  # pickled by Ray on its way back to the driver
        return (_rebuild_shard_out_of_memory, (self.__dict__.copy(),))

    def for_shard(self, index: int) -> ShardOutOfMemory:
        """The same error, naming the shard by its index (known to the executor, not the shard)."""
        return _rebuild_shard_out_of_memory({**self.__dict__, "shard": index})

    def _message(self) -> str:
        which = f"Shard {self.shard}" if self.shard is not None else "A shard"
        models = f"models {self.start}–{self.stop - 1}" if self.stop - self.start > 1 else f"model {self.start}"
        peak = f"; this process had reached {size(self.peak)} at its peak" if self.peak else ""
        needed = f"an allocation of {size(self.needed)} failed" if self.needed else "an allocation failed"
        head = f"{which} ({models}, {self.stop - self.start} trained at once) ran out of memory"
        rerun = "Shards finished before it are kept: the same command, re-run where more memory is free, resumes from them."
        fewer = (
            "train fewer models at once with a smaller --shard-size (the shard size is part of the run's "
            "configuration: use a new --out, or delete the run folder), or use a machine (a Ray worker) with "
            "more memory"
        )
        if self.observing:
            batches = " → ".join(str(b) for b in self.eval_batches)
            lowered = (
                f", even with the observation batch lowered ({batches} examples per forward pass, the "
                "shard retrained each time)" if len(self.eval_batches) > 1
                else f" ({batches} examples per forward pass, the smallest it lowers to)" if self.eval_batches
                else " (its trainer has no observation batch to lower)"
            )  # fmt: skip
            return (
                f"{head} while observing its trained models{lowered}: {needed} ({self.detail}){peak}. "
                f"The observations do not fit: {fewer}. {rerun}"
            )
        return (
            f"{head} while training: {needed} ({self.detail}){peak}. The training batch was not "
            f"lowered, because it changes the experiment. To fit, {fewer}; a smaller --batch-size "
            f"also fits but trains different models (a new --out). {rerun}"
        )


def _rebuild_shard_out_of_memory(state: dict) -> ShardOutOfMemory:
    state = {k: v for k, v in state.items() if k != "args"}
    start, stop = state.pop("start"), state.pop("stop")
    return ShardOutOfMemory(start, stop, **state)


def disk_full(folder, name: str, e: OSError, needed: int | None = None) -> str:
    """The paragraph for a write into the run ``folder`` that found its disk full: where, how much
    it needed, how much is free, and that the same command resumes once space is freed."""
    import shutil

    try:
        free = f" and the disk has {size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = ""
    need = f"; writing it needed {size(needed)}" if needed else ""
    quota = " (your disk quota is used up)" if e.errno == errno.EDQUOT else ""
    return (
        f"The disk holding {folder} is full{quota}: could not write {os.path.join(folder, name)} "
        f"({e.strerror or e}){need}{free}. The partly written file was discarded. Free some disk "
        "space (or move the run folder to a larger disk) and re-run the same command: finished "
        "models are kept and only what is missing is redone."
    )


def first_line(e: BaseException) -> str:
    """The first line of an error's message (its type when it has none), at most 300 characters."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


class ShardResult(dict):
    """A shard's observations (name → array), plus the retries that produced them (``retries``:
    one dict per out-of-memory retry, recorded in the run's manifest)."""

    def __init__(self, observations: dict, retries: list[dict]):
        super().__init__(observations)
        self.retries = retries
