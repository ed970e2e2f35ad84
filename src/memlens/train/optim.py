"""Adam and SGD-with-momentum over stacked per-model parameters, stepping chosen models only.

A model whose minibatch is empty this step (its subset is smaller than the largest) must not
move: a stock optimizer would still apply momentum to its zero gradient. So each model's slice
of each parameter is handed to PyTorch's fused optimizer kernels as a tensor of its own, with its
own step count, and models that sit a step out are simply left off the list. The arithmetic is
``torch.optim.Adam`` / ``SGD`` itself, in one pass over memory.
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam
from torch.optim.sgd import sgd


def _per_model(t: torch.Tensor, n_models: int) -> tuple[torch.Tensor, ...]:
    """Model j's contiguous slice: axis 0 is models, or n_models blocks along axis 0."""
    return t.view(n_models, -1).unbind(0)


class StackedOptimizer:
    """Adam or SGD (momentum 0.9), L2 ``weight_decay``, applied to each model independently."""

    def __init__(self, params, n_models: int, *, kind: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        if kind not in ("adam", "sgd"):
            raise ValueError(f"kind must be 'adam' or 'sgd', got {kind!r}")
        self.params, self.n_models, self.kind = list(params), n_models, kind
        self.hyper = dict(lr=lr, weight_decay=weight_decay)
        self.betas, self.eps, self.momentum = betas, eps, momentum
        # [model][parameter] views, fixed for the optimizer's life
        self.slices = self._by_model(self.params)
        zeros = [torch.zeros_like(p) for p in self.params]
        self.buffers = [self._by_model(zeros)]  # SGD: momentum (0 + g on step 1 is torch's g)
        if kind == "adam":
            self.buffers.append(self._by_model([torch.zeros_like(p) for p in self.params]))
            self.steps = [[torch.zeros((), dtype=torch.float32) for _ in self.params] for _ in range(n_models)]
        self.fused = True
        # gradients live in fixed buffers (zeroed, never set to None; autograd accumulates into
        # them), so every per-model list is built once and reused each step
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.grads = self._by_model([p.grad for p in self.params])
        self._all = None

    def _by_model(self, tensors) -> list[list[torch.Tensor]]:
        per = [_per_model(t, self.n_models) for t in tensors]
        return [[p[j] for p in per] for j in range(self.n_models)]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.zero_()

    def _lists(self, models: list[int]) -> list[list[torch.Tensor]]:
        nested = [self.slices, self.grads, *self.buffers] + ([self.steps] if self.kind == "adam" else [])
        return [[t for j in models for t in n[j]] for n in nested]

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """Update the models where ``active`` (M,) is True; leave the others untouched."""
        if bool(active.all()):
            if self._all is None:
                self._all = self._lists(list(range(self.n_models)))
            lists = self._all
        else:
            lists = self._lists(torch.nonzero(active).flatten().tolist())
        if self.kind == "adam":
            params, grads, exp_avgs, exp_avg_sqs, steps = lists
            adam(
                params, grads, exp_avgs, exp_avg_sqs, [], steps, fused=self.fused, amsgrad=False,
                beta1=self.betas[0], beta2=self.betas[1], eps=self.eps, maximize=False, **self.hyper,
            )  # fmt: skip
        else:
            params, grads, momentum_buffers = lists
            sgd(
                params, grads, momentum_buffers, fused=self.fused, momentum=self.momentum,
                dampening=0.0, nesterov=False, maximize=False, **self.hyper,
            )  # fmt: skip
