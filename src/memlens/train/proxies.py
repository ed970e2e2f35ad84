"""One-model memorization proxies, recorded at checkpoints while an ensemble trains.

Each proxy costs one training run instead of hundreds, and comes free for every member of an
ensemble. Every value is per model and example, (M, N), higher = more memorized unless noted.

* ``curvature`` — Garg, Ravikumar & Roy (ICML 2024): input-loss curvature, the trace of the
  squared input Hessian estimated by Rademacher finite differences,
  (1/n) Σ_k ‖∇ₓL(x + h·v_k) − ∇ₓL(x)‖², averaged over checkpoints. As in the authors' code the
  difference of gradients is one backward pass through L(x + h·v) − L(x).
* ``self-influence`` — TracIn (Pruthi et al., NeurIPS 2020) self-influence: Σ_checkpoints
  lr·‖∇_θ L(x)‖², with per-example parameter-gradient norms in closed form (mlp, linear).
* ``learning-events`` — Toneva et al. (ICLR 2019): ``first_learned_epoch`` (the first checkpoint
  epoch at which the example is classified correctly; epochs + 1 if never), ``forgetting_events``
  (correct → incorrect transitions between checkpoints), and ``train_loss_mean`` /
  ``train_margin_mean`` (loss and true-class margin averaged over checkpoints; a low margin
  means hard).
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError

PROXIES = ("curvature", "self-influence", "learning-events")
OUTPUTS = {
    "curvature": ("curvature",),
    "self-influence": ("self_influence",),
    "learning-events": ("first_learned_epoch", "forgetting_events", "train_loss_mean", "train_margin_mean"),
}


def check(proxies, *, model: str, epochs: int, every: int) -> None:
    """Refuse, before any training, a proxy that cannot apply; say why and what would work."""
    unknown = sorted(set(proxies) - set(PROXIES))
    if unknown:
        raise MemlensError(f"Unknown proxy {unknown}; choose from {', '.join(PROXIES)}.")
    if "self-influence" in proxies and model == "cnn":
        raise MemlensError(
            "self-influence needs per-example parameter-gradient norms, which memlens computes in "
            "closed form for the mlp and logreg models only. Use --model mlp, or the curvature "
            "and learning-events proxies with the cnn."
        )
    if proxies and epochs // every < 2:
        raise MemlensError(
            f"Proxies average over checkpoints; {epochs} epoch(s) with a checkpoint every {every} "
            "give fewer than 2. Train for more epochs (or checkpoint more often)."
        )


class ProxyTracker:
    """Accumulates proxies for M models over N examples across checkpoints."""

    def __init__(self, trainer, proxies, n_models: int, n_examples: int, *, epochs: int,
                 curvature_vectors: int = 10, curvature_step: float = 1e-3, chunk: int = 256):
        self.trainer, self.proxies = trainer, tuple(proxies)
        self.epochs, self.n, self.h, self.chunk = epochs, curvature_vectors, curvature_step, chunk
        shape = (n_models, n_examples)
        self.checkpoints = 0
        self.curvature = np.zeros(shape)
        self.self_influence = np.zeros(shape)
        self.first_learned = np.full(shape, float(epochs + 1))
        self.forgetting = np.zeros(shape)
        self.loss_sum = np.zeros(shape)
        self.margin_sum = np.zeros(shape)
        self.previous_correct = np.zeros(shape, dtype=bool)

    def update(self, params, X, y, image_shape, *, epoch: int, lr: float) -> None:
        """Record every proxy for all models at the end of ``epoch`` (1-based)."""
        import torch

        self.checkpoints += 1
        wants_events = "learning-events" in self.proxies
        for start in range(0, len(X), self.chunk):
            sl = slice(start, start + self.chunk)
            xb, yb = X[sl], y[sl]
            if "curvature" in self.proxies:
                # the same Rademacher vectors for every model, fixed by (epoch, chunk), so a model's
                # score never depends on which shard trained it
                g = torch.Generator().manual_seed(epoch * 1_000_003 + start)
                self.curvature[:, sl] += _curvature(self.trainer, params, xb, yb, image_shape, g, self.n, self.h)
            if "self-influence" in self.proxies or wants_events:
                with torch.no_grad():
                    logits, sq_norm = _logits_and_grad_sq_norm(
                        self.trainer, params, xb, yb, image_shape, "self-influence" in self.proxies)
                if sq_norm is not None:
                    self.self_influence[:, sl] += lr * sq_norm
                if wants_events:
                    self._events(logits.cpu().numpy().astype(np.float64), yb.cpu().numpy(), sl, epoch)

    def _events(self, logits: np.ndarray, y: np.ndarray, sl: slice, epoch: int) -> None:
        true = np.take_along_axis(logits, y[None, :, None].repeat(len(logits), 0), axis=2)[..., 0]
        others = logits.copy()
        np.put_along_axis(others, y[None, :, None].repeat(len(logits), 0), -np.inf, axis=2)
        margin = true - others.max(axis=2)
        lse = np.logaddexp.reduce(logits, axis=2)
        correct = margin > 0
        first = self.first_learned[:, sl]
        first[(first > self.epochs) & correct] = epoch
        self.forgetting[:, sl] += self.previous_correct[:, sl] & ~correct
        self.previous_correct[:, sl] = correct
        self.loss_sum[:, sl] += lse - true
        self.margin_sum[:, sl] += margin

    def results(self) -> dict[str, np.ndarray]:
        k = max(self.checkpoints, 1)
        out = {}
        if "curvature" in self.proxies:
            out["curvature"] = self.curvature / k
        if "self-influence" in self.proxies:
            out["self_influence"] = self.self_influence
        if "learning-events" in self.proxies:
            out.update(first_learned_epoch=self.first_learned, forgetting_events=self.forgetting,
                       train_loss_mean=self.loss_sum / k, train_margin_mean=self.margin_sum / k)
        return {name: a.astype(np.float32) for name, a in out.items()}


def _curvature(trainer, params, x, y, image_shape, generator, n_vectors: int, h: float) -> np.ndarray:
    """(M, B) mean over Rademacher vectors of ‖∇ₓL(x + h·v) − ∇ₓL(x)‖² for every model."""
    import torch
    import torch.nn.functional as F

    m = params[-1].shape[0]
    total = torch.zeros(m, len(x), device=x.device)
    labels = y.expand(m, -1).reshape(-1)
    for _ in range(n_vectors):
        # drawn on the CPU (where the generator lives), so the vectors are the same on any device
        v = ((torch.randint(0, 2, x.shape, generator=generator, dtype=torch.float32) * 2 - 1) * h).to(x.device)
        xs = x.expand(m, *x.shape).clone().requires_grad_()  # (M, B, D): one input copy per model

        def loss(inp):
            logits = trainer._forward(params, inp, image_shape, shared=False)
            return F.cross_entropy(logits.float().flatten(0, 1), labels, reduction="sum")

        (grad,) = torch.autograd.grad(loss(xs + v) - loss(xs), xs)  # ∇L(x+hv) − ∇L(x), per model
        total += grad.pow(2).sum(-1).detach()
    return (total / n_vectors).cpu().numpy()


def _logits_and_grad_sq_norm(trainer, params, x, y, image_shape, want_norm: bool):
    """Logits (M, B, C) and, for mlp/linear, each example's ‖∇_θ L‖² (M, B) in closed form.

    For a dense layer z = a·W + b, the per-example gradient is aᵀδ, so its squared norm is
    ‖a‖²·‖δ‖² (plus ‖δ‖² for the bias), with δ = ∂L/∂z back-propagated layer by layer.
    """
    import torch

    if not want_norm or trainer.model == "cnn":
        return trainer._forward(params, x, image_shape, shared=True), None
    activations, pre = [x.expand(params[-1].shape[0], *x.shape)], []
    h = x
    for i in range(0, len(params), 2):
        W, b = params[i], params[i + 1]
        z = torch.matmul(h, W) + b
        pre.append(z)
        h = torch.relu(z) if i + 2 < len(params) else z
        if i + 2 < len(params):
            activations.append(h)
    logits = h
    delta = torch.softmax(logits, dim=-1)
    delta[..., :] -= torch.nn.functional.one_hot(y, logits.shape[-1]).to(delta.dtype)
    sq = torch.zeros(logits.shape[:2], device=logits.device)
    for layer in reversed(range(len(pre))):
        d2 = delta.pow(2).sum(-1)
        sq += activations[layer].pow(2).sum(-1) * d2 + d2
        if layer:
            delta = torch.matmul(delta, params[2 * layer].transpose(-1, -2)) * (pre[layer - 1] > 0)
    return logits.detach(), sq.detach().cpu().numpy()
