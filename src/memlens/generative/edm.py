"""EDM-preconditioned diffusion denoisers (Karras et al. 2022) as an ensemble of small networks.

Gu et al. train the EDM recipe on subsets of growing size |D| and ask which memorize. Here one
:class:`MLPEnsemble` holds M independent denoiser MLPs whose layers run as one batched matrix
product each (``torch.baddbmm``), so the models of a design — e.g. one per |D| — train in a single
pass; each model draws its own mini-batches from its own training examples. The preconditioning,
loss and noise distribution are EDM's:

* ``D(x; σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x, c_noise(σ), label)``,
  c_skip = σ_d²/(σ²+σ_d²), c_out = σσ_d/√(σ²+σ_d²), c_in = 1/√(σ²+σ_d²), c_noise = ln σ / 4;
* training noise ln σ ~ N(−1.2, 1.2²), loss weight (σ²+σ_d²)/(σσ_d)², σ_d = 0.5.

Conditioning (:class:`Condition`): ``none``; ``labels`` (the true classes); ``random:C`` (each
training image a uniform random label in [0, C), drawn from the model's seed); ``unique`` (C = |D|,
image i of the model's subset gets label i). Generation draws labels uniformly from the label set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import MemlensError

SIGMA_DATA = 0.5
P_MEAN, P_STD = -1.2, 1.2
FOURIER_FEATURES = 16  # sin and cos of c_noise at this many frequencies, 1 … 100


class DiffusionInputError(MemlensError, ValueError):
    """Bad input to a diffusion trainer: shapes, value ranges, conditioning or sizes."""


@dataclass(frozen=True)
class Condition:
    """What a denoiser is conditioned on: ``none``, ``labels``, ``random:C`` or ``unique``."""

    kind: str
    classes: int | None = None

    @classmethod
    def parse(cls, spec: str) -> Condition:
        """``"none" | "labels" | "random:C" | "unique"`` → a Condition (C ≥ 1 for random)."""
        text = str(spec).strip().lower()
        if text in ("none", "labels", "unique"):
            return cls(text)
        if text.startswith("random:"):
            try:
                classes = int(text.split(":", 1)[1])
            except ValueError:
                classes = 0
            if classes >= 1:
                return cls("random", classes)
        raise DiffusionInputError(
            f"Unknown conditioning {spec!r}: use none, labels (the true classes), random:C (each training "
            "image a random label among C, e.g. random:10) or unique (one label per training image)."
        )

    def __str__(self) -> str:
        return f"random:{self.classes}" if self.kind == "random" else self.kind

    def training_labels(self, members: np.ndarray, true_labels, rng: np.random.Generator):
        """(labels of the model's training images, number of labels); (None, 0) when unconditional."""
        if self.kind == "none":
            return None, 0
        if self.kind == "labels":
            if true_labels is None:
                raise DiffusionInputError(
                    "Conditioning on labels needs a dataset with labels; this one has none. Use "
                    "--condition none, random:C or unique."
                )
            y = np.asarray(true_labels)[members].astype(np.int64)
            return y, int(np.max(true_labels)) + 1
        if self.kind == "random":
            return rng.integers(0, self.classes, len(members)), int(self.classes)
        return np.arange(len(members), dtype=np.int64), len(members)  # unique


def preconditioning(sigma, sigma_data: float = SIGMA_DATA):
    """EDM's (c_skip, c_out, c_in, c_noise) at noise level(s) ``sigma`` (a tensor)."""
    import torch

    var = sigma**2 + sigma_data**2
    return sigma_data**2 / var, sigma * sigma_data / var.sqrt(), 1 / var.sqrt(), torch.log(sigma) / 4


class MLPEnsemble:
    """M independent denoiser MLPs, ``[c_in x, Fourier(c_noise), label embedding] → hidden × layers → d``.

    Weights are (M, fan_in, fan_out) tensors; model m is initialised from its own seed only, so a
    model is the same whether it trains alone or with others. SiLU activations, as in §6's MLP.
    """

    batched = True  # trains many models in one pass

    def __init__(self, seeds, dim: int, *, hidden: int = 256, layers: int = 2, n_labels: int = 0,
                 embed: int = 32, device="cpu"):
        import torch

        self.dim, self.n_labels = dim, n_labels
        sizes = [dim + 2 * FOURIER_FEATURES + (embed if n_labels else 0)] + [hidden] * layers + [dim]
        per_model = []
        for seed in seeds:  # nn.Linear's default init (uniform ±1/√fan_in), per model
            g = torch.Generator().manual_seed(int(seed))
            tensors = []
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
                bound = 1 / math.sqrt(fan_in)
                tensors.append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
                tensors.append((torch.rand(1, fan_out, generator=g) * 2 - 1) * bound)
            if n_labels:
                tensors.append(torch.randn(n_labels, embed, generator=g))
            per_model.append(tensors)
        self.params = [torch.stack(ts).to(device).requires_grad_() for ts in zip(*per_model, strict=True)]
        self.frequencies = torch.logspace(0, 2, FOURIER_FEATURES, device=device)

    def __call__(self, params, x_in, c_noise, labels):
        """F(c_in x, c_noise, label): x_in (M, B, d), c_noise (M, B), labels (M, B) or None → (M, B, d)."""
        import torch

        angles = c_noise[..., None] * self.frequencies
        parts = [x_in, torch.sin(angles), torch.cos(angles)]
        layers = params
        if self.n_labels:
            table, layers = params[-1], params[:-1]  # (M, n_labels, embed)
            parts.append(torch.gather(table, 1, labels[..., None].expand(-1, -1, table.shape[-1])))
        h = torch.cat(parts, dim=-1)
        for i in range(0, len(layers), 2):
            h = torch.baddbmm(layers[i + 1], h, layers[i])
            if i + 2 < len(layers):
                h = torch.nn.functional.silu(h)
        return h


def denoise(network, params, x, sigma, labels, sigma_data: float = SIGMA_DATA):
    """EDM-preconditioned D(x; σ): x (M, B, d), σ (M, B) or a number → (M, B, d)."""
    import torch

    if not torch.is_tensor(sigma):
        sigma = torch.full(x.shape[:2], float(sigma), dtype=x.dtype, device=x.device)
    c_skip, c_out, c_in, c_noise = preconditioning(sigma, sigma_data)
    F = network(params, c_in[..., None] * x, c_noise, labels)
    return c_skip[..., None] * x + c_out[..., None] * F


def standard_normal(shape, generators, device="cpu"):
    """(M, …) standard normal draws, row m from ``generators[m]`` (one generator: all rows from it)."""
    import torch

    if isinstance(generators, list | tuple):
        return torch.stack([torch.randn(tuple(shape[1:]), generator=g, device=device) for g in generators])
    return torch.randn(tuple(shape), generator=generators, device=device)


def edm_loss(network, params, y, labels, generators, sigma_data: float = SIGMA_DATA):
    """EDM's weighted denoising loss on clean batches y (M, B, d): one value per model, (M,).

    Sum them for the backward pass: each model's gradient is then its own loss's gradient.
    ``generators``: one torch.Generator per model (its noise levels and noise), or one for all.
    """
    import torch

    sigma = torch.exp(P_MEAN + P_STD * standard_normal(y.shape[:2], generators, y.device))
    noisy = y + sigma[..., None] * standard_normal(y.shape, generators, y.device)
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    per_example = ((denoise(network, params, noisy, sigma, labels, sigma_data) - y) ** 2).mean(-1)
    return (weight * per_example).mean(-1)


def to_unit_range(X: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Map data in ``value_range`` onto [−1, 1] (EDM's convention); refuse values outside it."""
    lo, hi = value_range
    if not hi > lo:
        raise DiffusionInputError(f"value_range must be (low, high) with high > low; got {value_range}.")
    X = np.asarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise DiffusionInputError(
            "The images hold NaN or infinite values; clean them before training a diffusion model."
        )
    tol = 1e-6 * (hi - lo)
    if X.min() < lo - tol or X.max() > hi + tol:
        raise DiffusionInputError(
            f"Image values span [{X.min():.4g}, {X.max():.4g}], outside the declared range [{lo:g}, {hi:g}]. "
            "memlens' loaders give images in [0, 1]; rescale yours, or pass value_range=(low, high) "
            "that covers them (e.g. (0, 255) for raw 8-bit pixels)."
        )
    return (2 * (X - lo) / (hi - lo) - 1).astype(np.float32)
