"""The one error every capacity estimator raises on unusable input."""

from __future__ import annotations

from memlens.errors import MemlensError


class CapacityInputError(MemlensError, ValueError):
    """Data a capacity estimator cannot use as given: conflicting duplicate inputs (named by id),
    non-finite values, a single class, too many points for a width budget, bad sizes or widths."""
