"""A Lightning callback that writes model *i* of a memlens run.

::

    trainer = L.Trainer(max_epochs=10, callbacks=[AuditCallback(run, i, pool)])
    trainer.fit(module, DataLoader(subset_for(run, i, pool), shuffle=True))
    # at each epoch end the module is run over `pool`; when fit ends, shard i is written

See :mod:`memlens.integrations.recorder` for what is recorded, and the README ("Callbacks") for a
whole script.
"""

from __future__ import annotations

try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - the message names the extra that brings it
    raise ImportError("memlens.integrations.lightning needs Lightning: pip install 'memlens[lightning]'") from None

from memlens.integrations.recorder import (
    Recorder,
    audit_loader,
    check_moment,
    device_of,
    run_audit_set,
    to_device,
)


def default_forward(module, batch):
    """(logits, labels) for a batch ``(x, y, …)`` (``module(x)``) or a dict with ``labels``."""
    if isinstance(batch, dict):
        batch = dict(batch)
        labels = batch.pop("labels", None)
        if labels is None:
            labels = batch.pop("label")
        out = module(**batch)
        return (out.logits if hasattr(out, "logits") else out), labels
    x, y = batch[0], batch[1]
    return module(x), y


class AuditCallback(Callback):
    """Observe model ``model_index`` of ``run`` on the audit set during ``fit``; write its shard.

    Args:
        run: A run directory made by :func:`memlens.integrations.prepare`.
        model_index: Which of the run's models this training is; train it on
            ``subset_for(run, model_index, …)``.
        audit_set: The run's whole dataset in id order (a dataset of ``(x, y)`` pairs, or a
            DataLoader that does not shuffle).
        batch_size, collate_fn: How the audit set is batched (when it is not a DataLoader).
        at: ``"epoch"`` (observe at every training epoch end) or ``"evaluation"`` (at the end
            of every validation run, the sanity check excepted).
        forward: ``forward(module, batch) -> (logits, labels)`` when the module does not map
            ``x`` to logits.
        replace: Overwrite the model's shard if it is already in the run.
        finalize: Assemble the run when this is its last missing model.
    """

    def __init__(self, run, model_index: int, audit_set, *, batch_size: int = 256, collate_fn=None,
                 at: str = "epoch", forward=None, replace: bool = False, finalize: bool = True):  # fmt: skip
        check_moment(at)
        self.recorder = Recorder(run, model_index, replace=replace, finalize=finalize)
        self.loader = audit_loader(audit_set, batch_size=batch_size, collate_fn=collate_fn)
        self.at, self.forward = at, forward or default_forward
        #: True once the run was assembled by this callback (it held the last model)
        self.finalized = False

    def _logits(self, module):
        return run_audit_set(module, self.loader, lambda m, batch: self.forward(m, to_device(batch, m.device)))

    def on_fit_start(self, trainer, pl_module):
        self.recorder.start()

    def on_train_epoch_end(self, trainer, pl_module):
        if self.at == "epoch" and trainer.is_global_zero:
            self.recorder.record(*self._logits(pl_module), epoch=trainer.current_epoch + 1, step=trainer.global_step)

    def on_validation_epoch_end(self, trainer, pl_module):
        if self.at == "evaluation" and trainer.is_global_zero and not trainer.sanity_checking:
            self.recorder.record(*self._logits(pl_module), epoch=trainer.current_epoch + 1, step=trainer.global_step)

    def on_fit_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.finalized = self.recorder.finish(
                *self._logits(pl_module), epoch=trainer.current_epoch, step=trainer.global_step,
                device=device_of(pl_module),
            )  # fmt: skip
