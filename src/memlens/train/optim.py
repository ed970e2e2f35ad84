"""Adam and SGD-with-momentum over stacked per-model parameters, stepping chosen models only.

A model whose minibatch is empty this step (its subset is smaller than the largest) must not
move: stock optimizers would still apply momentum to its zero gradient. Each model keeps its own
step count, so Adam's bias correction is exactly that of a lone model.
"""

from __future__ import annotations

import torch


class StackedOptimizer:
    """``torch.optim.Adam`` / ``SGD(momentum=0.9)`` semantics (L2 ``weight_decay`` added to the
    gradient), applied per model; ``params[i]`` has the model axis first, or ``n_models``
    consecutive blocks along axis 0 (grouped-conv layout).
    """

    def __init__(self, params, n_models: int, *, kind: str = "adam", lr: float = 1e-3,
                 weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        self.params, self.n_models, self.kind = list(params), n_models, kind
        self.lr, self.weight_decay, self.betas, self.eps, self.momentum = lr, weight_decay, betas, eps, momentum
        self.steps = torch.zeros(n_models, dtype=torch.float64)
        self.state = [[torch.zeros_like(p) for _ in range(2 if kind == "adam" else 1)] for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """Update the models where ``active`` (M,) is True; leave the others untouched."""
        self.steps += active.double()
        everyone = bool(active.all())  # the usual case: in-place ops, no masking
        on = active.view(-1, 1)
        if self.kind == "adam":
            b1, b2 = self.betas
            t = self.steps.clamp_min(1).view(-1, 1)
            step_size = (self.lr / (1 - b1**t)).float()  # (M, 1) per-model bias corrections
            bias2_sqrt = (1 - b2**t).sqrt().float()
        for p, state in zip(self.params, self.state, strict=True):
            view = (self.n_models, -1)
            w, g = p.view(view), p.grad.view(view)
            if self.weight_decay:
                g = g.add(w, alpha=self.weight_decay)
            if self.kind == "sgd":
                buf = state[0].view(view)
                fresh = self.steps.view(-1, 1) == 1  # torch seeds the buffer with the first gradient
                new_buf = torch.where(fresh, g, buf * self.momentum + g)
                buf.copy_(new_buf if everyone else torch.where(on, new_buf, buf))
                w.sub_(self.lr * buf if everyone else torch.where(on, self.lr * buf, 0.0))
                continue
            m, v = (s.view(view) for s in state)
            if everyone:
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                w.sub_(m.div(v.sqrt().div_(bias2_sqrt).add_(self.eps)).mul_(step_size))
            else:
                m.copy_(torch.where(on, m * b1 + (1 - b1) * g, m))
                v.copy_(torch.where(on, v * b2 + (1 - b2) * g * g, v))
                update = step_size * m / (v.sqrt() / bias2_sqrt + self.eps)
                w.sub_(torch.where(on, update, 0.0))
