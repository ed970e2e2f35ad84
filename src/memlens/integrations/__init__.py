"""Audit models trained by your own code: each run of your training script writes one model.

1. :func:`prepare` makes the run directory from a dataset and a design, training nothing.
2. Your script, run once per model (by hand, as a job array, by any executor), trains model *i*
   on :func:`subset_for` ``(run, i, data)`` seeded with :func:`seed_for` ``(run, i)``; a callback —
   :class:`memlens.integrations.hf.AuditCallback` (Hugging Face ``Trainer``) or
   :class:`memlens.integrations.lightning.AuditCallback` — observes it on the whole dataset at each
   epoch (or evaluation) and at the end writes its shard, holding the run's lock only for that
   moment (:func:`contribute` for any other loop).
3. When the last model is in, the run is assembled (:func:`finalize`, also ``memlens finalize
   RUN``): observations, per-example scores, membership-inference attacks, and the attacks at
   each evaluation (``training_curve.json``), which ``memlens report`` draws.
"""

from memlens.integrations.recorder import Recorder, learning_events
from memlens.integrations.run import contribute, finalize, prepare, seed_for, subset_for

__all__ = ["Recorder", "contribute", "finalize", "learning_events", "prepare", "seed_for", "subset_for"]
