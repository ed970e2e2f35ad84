"""Named stage boundaries where the fault-injection tests kill the process.

``MEMLENS_KILL_AT=after-shard-1`` makes the process SIGKILL itself when it reaches that point, as a
power cut or the out-of-memory killer would: no ``finally`` runs, nothing is flushed. The tests use
it to check that every boundary resumes. Unset (always, outside tests) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "MEMLENS_KILL_AT"


def stage(name: str) -> None:
    """Die here, now, if the environment names this stage."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
