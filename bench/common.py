"""Shared bits of the benchmarks: best-of-n wall-clock timing."""

from __future__ import annotations

import time

import numpy as np


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Fastest wall time of ``repeats`` calls (after one warm-up), and the last result."""
    out = fn()
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out
