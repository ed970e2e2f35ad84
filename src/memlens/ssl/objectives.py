"""Self-supervised objectives on two batches of views' embeddings: VICReg and SimCLR.

Both take (B, D) embeddings ``z1``, ``z2`` of two augmented views of the same B images (row i of
each is the same image) and return a scalar loss; the trainer shares everything else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import MemlensError

OBJECTIVES = ("vicreg", "simclr")


def _off_diagonal_square_sum(matrix: torch.Tensor) -> torch.Tensor:
    return (matrix**2).sum() - (torch.diagonal(matrix) ** 2).sum()


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, *, sim: float = 25.0, std: float = 25.0, cov: float = 1.0,
                eps: float = 1e-4) -> torch.Tensor:
    """VICReg (Bardes, Ponce & LeCun 2022), as in facebookresearch/vicreg, coefficients 25/25/1.

    invariance: mean squared difference of the two views; variance: the mean over dimensions of
    relu(1 − √(var + eps)) per view (unbiased variance over the batch), averaged over the views;
    covariance: the squared off-diagonal entries of each view's (unbiased) covariance, summed and
    divided by D, added over the views.
    """
    batch, dim = z1.shape
    invariance = F.mse_loss(z1, z2)
    c1, c2 = z1 - z1.mean(dim=0), z2 - z2.mean(dim=0)
    std1, std2 = torch.sqrt(c1.var(dim=0) + eps), torch.sqrt(c2.var(dim=0) + eps)
    variance = F.relu(1 - std1).mean() / 2 + F.relu(1 - std2).mean() / 2
    covariance = (_off_diagonal_square_sum(c1.T @ c1 / (batch - 1)) + _off_diagonal_square_sum(c2.T @ c2 / (batch - 1))) / dim
    return sim * invariance + std * variance + cov * covariance


def simclr_loss(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent (Chen et al. 2020): each of the 2B views must pick its partner among the
    other 2B − 1 by cosine similarity / temperature; the cross-entropy averaged over all 2B views."""
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    return F.cross_entropy(logits, partner)


def objective(name: str):
    """The loss function called ``name`` (one of :data:`OBJECTIVES`)."""
    if name == "vicreg":
        return vicreg_loss
    if name == "simclr":
        return simclr_loss
    raise MemlensError(f"Unknown self-supervised objective {name!r}; choose one of {', '.join(OBJECTIVES)}.")
