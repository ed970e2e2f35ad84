"""A Hugging Face ``Trainer`` callback that writes model *i* of a memlens run.

::

    trainer = Trainer(model, args, train_dataset=subset_for(run, i, pool),
                      callbacks=[AuditCallback(run, i, pool)])
    trainer.train()   # at each epoch end the model is run over `pool`; at the end, shard i is written

See :mod:`memlens.integrations.recorder` for what is recorded, and the README ("Callbacks") for a
whole script.
"""

from __future__ import annotations

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - the message names the extra that brings it
    raise ImportError(
        "memlens.integrations.hf needs transformers and accelerate: pip install 'memlens[hf]'"
    ) from None

from memlens.integrations.recorder import (
    Recorder,
    audit_loader,
    check_moment,
    device_of,
    run_audit_set,
    to_device,
)


def default_forward(model, batch):
    """(logits, labels) of a sequence classifier on a batch dict with ``labels`` (or ``label``)."""
    batch = dict(batch)
    labels = batch.pop("labels", None)
    if labels is None:
        labels = batch.pop("label")
    out = model(**batch)  # without the labels: the model's own loss is a batch mean, not per example
    return (out.logits if hasattr(out, "logits") else out[0]), labels


class AuditCallback(TrainerCallback):
    """Observe model ``model_index`` of ``run`` on the audit set during training; write its shard.

    Args:
        run: A run directory made by :func:`memlens.integrations.prepare`.
        model_index: Which of the run's models this training is; train it on
            ``subset_for(run, model_index, …)``.
        audit_set: The run's whole dataset in id order (a dataset of dicts with ``labels``, as the
            ``Trainer`` takes, or a DataLoader that does not shuffle).
        collate_fn: Batches the audit set (default: ``transformers.default_data_collator``; use
            a ``DataCollatorWithPadding`` for texts of different lengths).
        batch_size: Examples per forward pass over the audit set.
        at: ``"epoch"`` (observe at every epoch end) or ``"evaluation"`` (whenever the Trainer
            evaluates, following ``eval_strategy``).
        forward: ``forward(model, batch) -> (logits, labels)`` for models that are not sequence
            classifiers taking the batch as keyword arguments.
        replace: Overwrite the model's shard if it is already in the run.
        finalize: Assemble the run when this is its last missing model.
    """

    def __init__(self, run, model_index: int, audit_set, *, collate_fn=None, batch_size: int = 256,
                 at: str = "epoch", forward=None, replace: bool = False, finalize: bool = True):  # fmt: skip
        check_moment(at)
        if collate_fn is None:
            from transformers import default_data_collator as collate_fn
        self.recorder = Recorder(run, model_index, replace=replace, finalize=finalize)
        self.loader = audit_loader(audit_set, batch_size=batch_size, collate_fn=collate_fn)
        self.at, self.forward = at, forward or default_forward
        #: True once the run was assembled by this callback (it held the last model)
        self.finalized = False

    def _logits(self, model):
        device = next(model.parameters()).device
        return run_audit_set(model, self.loader, lambda m, batch: self.forward(m, to_device(batch, device)))

    def on_train_begin(self, args, state, control, **kwargs):
        self.recorder.start()

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.at == "epoch" and state.is_world_process_zero:
            self.recorder.record(*self._logits(model), epoch=state.epoch, step=state.global_step)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if self.at == "evaluation" and state.is_world_process_zero:
            self.recorder.record(*self._logits(model), epoch=state.epoch, step=state.global_step)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero:
            self.finalized = self.recorder.finish(
                *self._logits(model), epoch=state.epoch, step=state.global_step, device=device_of(model)
            )
