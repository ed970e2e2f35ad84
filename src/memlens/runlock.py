"""One writer per run directory: an OS-level lock on ``RUN/.lock`` held for the writer's life.

``flock`` locks belong to the open file, so the kernel drops the lock when the process exits or is
killed: a lock can never outlive its holder, and there is no stale lock to clean by hand. The lock
file also records who holds it (pid, host, start time, command) so a refused writer can say so.
Readers (``memlens show``, ``memlens report``) never take it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from memlens.errors import RunStoreError

LOCK_NAME = ".lock"


class RunLockedError(RunStoreError):
    """Another process is writing the run directory."""


class RunLock:
    """An exclusive, non-blocking lock on one run directory. Release with :meth:`release`."""

    def __init__(self, directory: Path, fd: int):
        self.directory, self._fd = Path(directory), fd

    @classmethod
    def acquire(cls, directory) -> RunLock:
        """Lock ``directory`` (which must exist) or raise :class:`RunLockedError` naming the holder."""
        directory = Path(directory)
        try:
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunStoreError(
                f"Cannot write to the run directory {directory}: {e.strerror or e}. Choose an --out "
                "you can write to (check its permissions and that its disk is not read-only or full)."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"{directory} is being written by another memlens process ({holder}), so this one "
                "stopped without touching it. Wait for that process to finish (or stop it), or choose "
                "another --out. Reading the run (`memlens show`, `memlens report`) needs no lock."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join(sys.argv[:8])[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        return cls(directory, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.release()


def _read_holder(fd: int) -> str:
    """``pid 123 on host, started …, running `memlens audit …``` from the lock file, or a shrug."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        words = f"pid {info['pid']} on {info['host']}, started {info['started']}"
        return words + (f", running `{info['command']}`" if info.get("command") else "")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"
