"""A trainer wrapper that dies after some shards, like a killed process (shared by the resume tests)."""

from __future__ import annotations


class Killed(Exception):
    pass


class DiesAfter:
    """Wraps a trainer and raises :class:`Killed` once ``shards`` shards have been trained.

    Everything else (``config``, ``units_per_model``, ``resolve_precision`` …) is the wrapped
    trainer's, so the engine treats it exactly as it would the trainer itself.
    """

    def __init__(self, trainer, shards):
        self.trainer, self.shards = trainer, shards

    def __getattr__(self, name):
        return getattr(self.trainer, name)

    def fit_observe(self, *args, **kwargs):
        if self.shards == 0:
            raise Killed
        self.shards -= 1
        return self.trainer.fit_observe(*args, **kwargs)
