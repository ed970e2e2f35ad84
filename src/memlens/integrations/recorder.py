"""What both training-loop callbacks share: model *i*'s outputs on the audit set, over training.

The audit set is the run's whole dataset in id order, members of model *i* and non-members alike
(membership inference needs both). At each evaluation the callback runs the model over it and
hands the logits to a :class:`Recorder`, which keeps, per example, the loss, LiRA's confidence and
the classification margin; at the end of training it adds the final model's observations, the
learning-event proxies of Toneva et al. (ICLR 2019) over the evaluations, and writes the lot as
the model's shard (:func:`memlens.integrations.run.contribute`)::

    correct, loss, confidence           (1, N)     the final model, as memlens's own trainers give
    probabilities                       (1, N, C)  float16
    step_loss, step_confidence          (1, S, N)  at each of the S evaluations
    step_epoch, step_global             (1, S)     when each evaluation was (epoch, optimizer step)
    first_learned_epoch, forgetting_events, train_loss_mean, train_margin_mean   (1, N), S >= 2
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from memlens import observe
from memlens.errors import MemlensError
from memlens.integrations import run as external

#: when a callback observes the audit set
MOMENTS = ("epoch", "evaluation")


def step_summary(logits, labels) -> dict[str, np.ndarray]:
    """Per-example loss, confidence (phi) and margin of one model's (N, C) logits.

    The margin is the true-class logit minus the largest other one (> 0: classified correctly).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    out = observe.from_logits(logits[None], labels, probabilities=False)
    true = np.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    others = logits.copy()
    np.put_along_axis(others, labels[:, None], -np.inf, axis=1)
    return {"loss": out["loss"][0], "confidence": out["confidence"][0],
            "margin": (true - others.max(axis=1)).astype(np.float32)}  # fmt: skip


def learning_events(margins, losses, epochs) -> dict[str, np.ndarray]:
    """Toneva et al.'s learning events of one model from its S evaluations, as memlens's trainers
    record them (:mod:`memlens.train.proxies`).

    Args:
        margins: (S, N) true-class margin at each evaluation (> 0: correct).
        losses: (S, N) per-example loss at each evaluation.
        epochs: (S,) increasing epoch of each evaluation.

    Returns:
        (N,) arrays: ``first_learned_epoch`` (the epoch of the first correct evaluation; the last
        epoch + 1 if never), ``forgetting_events`` (correct → incorrect between consecutive
        evaluations), ``train_loss_mean`` and ``train_margin_mean`` (means over evaluations).

    Example:
        >>> m = np.array([[-1.0, 2.0], [1.0, -1.0], [1.0, 1.0]])  # 3 evaluations, 2 examples
        >>> out = learning_events(m, np.zeros_like(m), np.array([1.0, 2.0, 3.0]))
        >>> out["first_learned_epoch"].tolist(), out["forgetting_events"].tolist()
        ([2.0, 1.0], [0.0, 1.0])
    """
    margins = np.asarray(margins, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    epochs = np.asarray(epochs, dtype=np.float64)
    correct = margins > 0
    learned = correct.any(axis=0)
    first = np.where(learned, epochs[np.argmax(correct, axis=0)], epochs[-1] + 1)
    forgotten = (correct[:-1] & ~correct[1:]).sum(axis=0)
    return {
        "first_learned_epoch": first.astype(np.float32),
        "forgetting_events": forgotten.astype(np.float32),
        "train_loss_mean": losses.mean(axis=0).astype(np.float32),
        "train_margin_mean": margins.mean(axis=0).astype(np.float32),
    }


class Recorder:
    """Model ``model_index``'s observations of ``run``'s audit set, written as its shard at the end.

    Created before training starts, so a wrong run, index or an already-recorded model is
    refused before any time is spent.

    Args:
        run: A run directory made by :func:`memlens.integrations.prepare`.
        model_index: Which of the run's models this training is, 0..M-1.
        replace: Overwrite the model's shard if it is already in the run.
        finalize: Assemble the run when this is its last missing model.
    """

    def __init__(self, run, model_index: int, *, replace: bool = False, finalize: bool = True):
        store = external._open(run)
        self.path = Path(store.path)
        self.model_index = external._index(store, model_index)
        external.check_slot(store, self.model_index, replace=replace)
        dataset = store.manifest["config"]["dataset"]
        self.n_examples, self.n_classes = int(dataset["n_examples"]), int(dataset["n_classes"])
        self.labels_sha256 = dataset["labels_sha256"]
        self.replace, self.finalize = replace, finalize
        self.labels: np.ndarray | None = None  # the audit set's, once checked against the run's
        self.steps: list[dict] = []
        self.started: float | None = None

    def start(self) -> None:
        self.started = time.perf_counter()

    def _check(self, logits, labels) -> tuple[np.ndarray, np.ndarray]:
        logits, labels = np.asarray(logits, dtype=np.float32), np.asarray(labels).reshape(-1)
        if len(labels) != self.n_examples or logits.shape != (self.n_examples, self.n_classes):
            raise MemlensError(
                f"The audit set gave {len(labels)} examples and logits of shape {logits.shape}, but "
                f"{self.path} has {self.n_examples} examples of {self.n_classes} classes: pass the "
                "run's whole dataset (members and non-members), in id order, as the audit set."
            )
        if self.labels is None:
            if external.labels_digest(labels) != self.labels_sha256:
                raise MemlensError(
                    f"The audit set's labels differ from those {self.path} was prepared with: it must "
                    "be the run's whole dataset in the order given to prepare (not shuffled, not a "
                    "split)."
                )
            self.labels = labels.astype(np.int64)
        elif not np.array_equal(labels, self.labels):
            raise MemlensError("The audit set's labels changed between evaluations; it must not be shuffled.")
        if not np.isfinite(logits).all():
            raise MemlensError(
                f"Model {self.model_index} gave NaN or infinite logits on the audit set: training "
                "diverged. Lower the learning rate and train it again."
            )
        return logits, self.labels

    def record(self, logits, labels, *, epoch: float, step: int) -> None:
        """Keep one evaluation: (N, C) logits and (N,) labels of the audit set, in id order."""
        logits, labels = self._check(logits, labels)
        if self.steps and step <= self.steps[-1]["step"]:
            return  # the same model seen twice at one step (an evaluation at the end of an epoch)
        self.steps.append({"epoch": float(epoch), "step": int(step), **step_summary(logits, labels)})

    def observations(self, logits, labels, *, epoch: float, step: int) -> dict[str, np.ndarray]:
        """The shard of the final model (logits at the end of training) and the evaluations."""
        logits, labels = self._check(logits, labels)
        self.record(logits, labels, epoch=epoch, step=step)  # the curve ends at the final model
        out = observe.from_logits(logits[None].astype(np.float64), labels)
        steps = self.steps
        out["step_loss"] = np.stack([s["loss"] for s in steps])[None]
        out["step_confidence"] = np.stack([s["confidence"] for s in steps])[None]
        out["step_epoch"] = np.array([[s["epoch"] for s in steps]], dtype=np.float32)
        out["step_global"] = np.array([[s["step"] for s in steps]], dtype=np.float32)
        if len(steps) >= 2:  # events need at least two evaluations to mean anything
            events = learning_events(
                np.stack([s["margin"] for s in steps]), np.stack([s["loss"] for s in steps]),
                np.array([s["epoch"] for s in steps]),
            )  # fmt: skip
            out.update({k: v[None] for k, v in events.items()})
        return out

    def finish(self, logits, labels, *, epoch: float, step: int, device: dict | None = None) -> bool:
        """Write the model's shard; True when it was the run's last model and the run is assembled."""
        observations = self.observations(logits, labels, epoch=epoch, step=step)
        seconds = time.perf_counter() - self.started if self.started is not None else 0.0
        return external.contribute(
            self.path, self.model_index, observations, seconds=seconds, device=device,
            replace=self.replace, finalize=self.finalize,
        )  # fmt: skip


# --- running a PyTorch model over the audit set (both callbacks) -----------------------------


def audit_loader(data, *, batch_size: int, collate_fn=None):
    """A DataLoader over the audit set in id order; a given DataLoader must not shuffle."""
    from torch.utils.data import DataLoader, SequentialSampler

    if isinstance(data, DataLoader):
        if not isinstance(data.sampler, SequentialSampler):
            raise MemlensError(
                "The audit DataLoader shuffles (or samples) its examples; the audit set must come in "
                "id order. Build it with shuffle=False, or pass the dataset itself."
            )
        return data
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MemlensError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
    return DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)


def to_device(batch, device):
    """``batch`` (tensors in dicts, lists, tuples) moved to ``device``."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def run_audit_set(model, loader, forward) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) float32 logits and (N,) labels of ``model`` over ``loader``, in evaluation mode.

    ``forward(model, batch) -> (logits, labels)``. The model's training mode is restored after.
    """
    import torch

    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        with torch.no_grad():
            for batch in loader:
                z, y = forward(model, batch)
                logits.append(z.detach().float().cpu())
                labels.append(torch.as_tensor(y).detach().cpu().reshape(-1))
    finally:
        model.train(was_training)
    if not logits:
        raise MemlensError("The audit set is empty; pass the run's whole dataset.")
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def device_of(model) -> dict:
    """The device a model's parameters are on, in the form the run records."""
    import torch

    from memlens.train import device as devices

    try:
        where = next(model.parameters()).device
    except StopIteration:
        where = torch.device("cpu")
    if where.type == "cuda":
        return {"requested": "model", "device": "cuda", "name": torch.cuda.get_device_name(where),
                "reason": "where the user's script put the model"}  # fmt: skip
    if where.type == "cpu":
        return {**devices.resolve("cpu"), "requested": "model", "reason": "where the user's script put the model"}
    return {"requested": "model", "device": where.type, "name": str(where), "reason": "where the user's script put the model"}


def check_moment(at: str) -> None:
    if at not in MOMENTS:
        raise MemlensError(
            f"at={at!r}: observe the audit set at each 'epoch' end, or at each 'evaluation' the "
            "training loop runs."
        )
