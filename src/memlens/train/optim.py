"""Adam and SGD-with-momentum over stacked per-model parameters, stepping chosen models only.

A model whose minibatch is empty this step (its subset is smaller than the largest) must not
move: a stock optimizer would still apply momentum to its zero gradient. Each model keeps its own
step count. Usually every model steps and all counts agree, and one call of PyTorch's fused
kernel over the stacked tensors is exactly the per-model update; otherwise each model's slices
are handed to the kernel as tensors of their own, with their own counts, and models that sit
the step out are left off the list. The arithmetic is ``torch.optim.Adam`` / ``SGD`` itself.
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam
from torch.optim.sgd import sgd


class StackedOptimizer:
    """Adam or SGD (momentum 0.9), L2 ``weight_decay``, applied to each model independently.

    ``params[i]`` has the model axis first, or ``n_models`` consecutive blocks along axis 0
    (grouped-convolution layout); either way ``p.view(n_models, -1)[j]`` is model j's slice.
    """

    def __init__(self, params, n_models: int, *, kind: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"kind must be 'adam' or 'sgd', got {kind!r}")
        self.params, self.n_models, self.kind = list(params), n_models, kind
        self.hyper = dict(lr=lr, weight_decay=weight_decay)
        self.betas, self.eps, self.momentum = betas, eps, momentum
        # gradients live in fixed buffers (zeroed, never set to None: autograd accumulates into
        # them), so their per-model views stay valid for the optimizer's life
        for p in self.params:
            p.grad = torch.zeros_like(p)
        # whole tensors: params, grads, then SGD's momentum or Adam's two moments
        # (a zero momentum buffer gives torch's first step, buf = g, exactly)
        n_buffers = 2 if kind == "adam" else 1
        self.whole = [self.params, [p.grad for p in self.params]] + [
            [torch.zeros_like(p) for p in self.params] for _ in range(n_buffers)
        ]
        # the same, as [model] -> list of that model's slices
        self.sliced = [self._by_model(tensors) for tensors in self.whole]
        # on the parameters' device: the fused kernels want every tensor, step counts too, there
        self.model_steps = torch.zeros(n_models, dtype=torch.long, device=self.params[0].device)

    def _by_model(self, tensors) -> list[list[torch.Tensor]]:
        per = [t.view(self.n_models, -1).unbind(0) for t in tensors]
        return [[p[j] for p in per] for j in range(self.n_models)]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.zero_()

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """Update the models where ``active`` (M,) is True; leave the others untouched."""
        counts = self.model_steps
        if self.kind == "sgd":  # SGD has no step count: only who steps matters
            counts = torch.zeros_like(counts)
        if not bool(active.any()):
            return
        if bool(active.all()) and bool((counts == counts[0]).all()):
            self._update(self.whole, float(counts[0]))
        else:
            # Usually a few models are odd ones out (they sat out a step, or still lag for having
            # sat one out): update all at the most common count with one call over the whole
            # tensors, put the odd models' slices back, then update those alone. One model per
            # slice list would cost ~25 tiny kernels per tensor per model on every later step.
            values, freq = torch.unique(counts[active], return_counts=True)
            common = int(values[freq.argmax()])
            odd = torch.nonzero(~active | (counts != common)).flatten()
            if len(odd) * 2 < self.n_models:
                saved = [[t.view(self.n_models, -1)[odd] for t in tensors] for tensors in self.whole]
                self._update(self.whole, float(common))
                for tensors, kept in zip(self.whole, saved, strict=True):
                    for t, k in zip(tensors, kept, strict=True):
                        t.view(self.n_models, -1)[odd] = k
                models = odd[active[odd]].tolist()
            else:
                models = torch.nonzero(active).flatten().tolist()
            if models:
                lists = [[t for j in models for t in nested[j]] for nested in self.sliced]
                # one counter per slice (the kernel increments each), made as views of one tensor
                steps = list(counts[models].float().repeat_interleave(len(self.params)).unbind(0))
                self._kernel(lists, steps)
        self.model_steps += active.long()

    def _update(self, whole, count: float) -> None:
        """Every model's step at one shared step count: one fused call over whole tensors."""
        steps = list(torch.full((len(self.params),), count, device=self.model_steps.device).unbind(0))
        self._kernel([list(tensors) for tensors in whole], steps)

    def _kernel(self, lists, steps) -> None:
        if self.kind == "adam":
            params, grads, exp_avgs, exp_avg_sqs = lists
            adam(
                params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=True, amsgrad=False,
                beta1=self.betas[0], beta2=self.betas[1], eps=self.eps, maximize=False, **self.hyper,
            )  # fmt: skip
        else:
            params, grads, momentum_buffers = lists
            sgd(
                params, grads, momentum_buffers, fused=True, momentum=self.momentum,
                dampening=0.0, nesterov=False, maximize=False, **self.hyper,
            )  # fmt: skip
