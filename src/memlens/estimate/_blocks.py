"""Walking (models × examples) arrays a block of examples at a time.

A full-size run is 1,000 models × 60,000 examples: one float64 copy of an observation matrix is
480 MB, and the estimators' masked intermediates are several such copies. Every estimator that
reads an (M, N) matrix therefore converts and reduces it one block of columns (examples) at a
time, so its working memory is a few blocks whatever N is, and the memory-mapped input is never
copied whole.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

BLOCK_BYTES = 32 * 2**20
"""Bytes of one float64 (rows × block) intermediate. Read at call time, so tests can shrink it."""


def example_blocks(n_examples: int, rows: int) -> Iterator[slice]:
    """Consecutive column slices covering ``range(n_examples)``, each ≤ BLOCK_BYTES as float64.

    Example:
        >>> [(s.start, s.stop) for s in example_blocks(10, BLOCK_BYTES // 8 // 4)]
        [(0, 4), (4, 8), (8, 10)]
    """
    width = max(1, BLOCK_BYTES // (8 * max(int(rows), 1)))
    for start in range(0, int(n_examples), width):
        yield slice(start, min(start + width, int(n_examples)))


def _shared_mapping(array) -> mmap.mmap | None:
    """The mmap behind a shared (not copy-on-write) ``np.memmap`` ``array`` views, or None."""
    seen = 0
    while array is not None and seen < 32:  # a chain of views ends at the memmap (or at data)
        if isinstance(array, np.memmap):
            mapping = getattr(array, "_mmap", None)
            if isinstance(mapping, mmap.mmap) and getattr(array, "mode", "c") in ("r", "r+", "w+"):
                return mapping
        array = getattr(array, "base", None)
        seen += 1
    return None


def release_pages(*arrays) -> None:
    """Let the kernel drop memory-mapped file pages this process has read so far.

    Pages of a shared file mapping that were read stay in the process's resident set until the
    mapping is closed, so one pass over a memory-mapped run would otherwise end with the whole
    file resident. After each block the estimators call this: the pages return to the page cache
    (a later read faults them back from it), and resident memory stays at about one block.
    Copy-on-write mappings and ordinary arrays are left alone.
    """
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:  # not Linux/BSD: nothing to do
        return
    for array in arrays:
        mapping = _shared_mapping(array)
        if mapping is not None:
            try:
                mapping.madvise(advice)
            except (OSError, ValueError):  # closed, or refused: only memory is at stake
                pass
