"""A small Bernoulli VAE trainer whose observation is each example's importance-sampled log-likelihood.

As van den Burg & Williams (``trainer.py::marginal_batch``): the encoder is the proposal, ``log p̂(x)
= logmeanexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)]`` with z_k ~ q(z|x), K ≥ 256 samples.
Images are binarized once (pixel > 0.5) so the Bernoulli likelihood is a proper probability; the
paper's dynamic binarization is not reproduced. Besides ``loglik`` the trainer observes the ``elbo``
and the importance weights' effective sample size ``ess`` (1 = one weight dominates: the estimate is
degenerate), so degenerate examples can be flagged (:func:`degenerate_share`).

``observe_at`` also observes earlier epochs of the same training run (the paper logs p̂ every 5
epochs to show memorization growing with training): epoch e adds ``loglik_epoch{e}``,
``elbo_epoch{e}`` and ``ess_epoch{e}``; the final epoch keeps the plain names. A snapshot draws its
importance samples without disturbing the training stream, so every snapshot equals the final
observation of a run trained for that many epochs.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError


def importance_loglik(log_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-mean-exp of importance log-weights over the last axis, and their effective sample size.

    ESS = (Σ w)² / Σ w², between 1 (one weight dominates) and K (all equal).

    Raises:
        MemlensError: a log-weight is NaN or +inf (the model produced a degenerate density).
    """
    log_weights = np.asarray(log_weights, dtype=np.float64)
    if np.isnan(log_weights).any() or (log_weights == np.inf).any():
        raise MemlensError(
            "Importance log-weights are NaN or +inf: the VAE's decoder or encoder is degenerate (often "
            "a diverged training run). Lower the learning rate or train fewer epochs and rerun."
        )
    from scipy.special import logsumexp

    k = log_weights.shape[-1]
    lse = logsumexp(log_weights, axis=-1)
    ess = np.exp(2 * lse - logsumexp(2 * log_weights, axis=-1))
    return lse - np.log(k), ess


def degenerate_share(ess: np.ndarray, samples: int, *, min_fraction: float = 0.01) -> float:
    """Share of estimates whose ESS is below ``min_fraction`` of the K importance samples."""
    return float((np.asarray(ess) < max(1.0 + 1e-9, min_fraction * samples)).mean())


class VAE:
    """A Bernoulli MLP VAE per membership row (D → hidden → latent → hidden → D), Adam, ELBO."""

    def __init__(self, *, latent: int = 8, hidden: int = 128, epochs: int = 150, batch_size: int = 64,
                 lr: float = 1e-3, samples: int = 256, observe_at: tuple[int, ...] | None = None):
        if samples < 256:
            raise MemlensError(f"The importance-sampled likelihood needs at least 256 samples; got {samples}.")
        for name, value in (("latent", latent), ("hidden", hidden), ("epochs", epochs),
                            ("batch_size", batch_size)):
            if value < 1:
                raise MemlensError(f"VAE {name} must be at least 1; got {value}.")
        if not np.isfinite(lr) or lr <= 0:
            raise MemlensError(f"VAE lr must be a finite number greater than 0, such as 1e-3; got {lr}.")
        self.latent, self.hidden, self.epochs = latent, hidden, epochs
        self.batch_size, self.lr, self.samples = batch_size, lr, samples
        self.units_per_model = epochs
        self.snapshots = _snapshot_epochs(observe_at, epochs)

    def config(self) -> dict:
        config = {"trainer": "vae", "latent": self.latent, "hidden": self.hidden, "epochs": self.epochs,
                  "batch_size": self.batch_size, "lr": self.lr, "samples": self.samples,
                  "binarize": "x > 0.5"}
        if self.snapshots:  # absent by default, so runs made before the option still resume
            config["observe_at"] = [*self.snapshots, self.epochs]
        return config

    def _network(self, dim: int):
        import torch.nn as nn

        encoder = nn.Sequential(nn.Linear(dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 2 * self.latent))
        decoder = nn.Sequential(nn.Linear(self.latent, self.hidden), nn.ReLU(), nn.Linear(self.hidden, dim))
        return encoder, decoder

    def _log_weights(self, encoder, decoder, x, k: int, generator):
        """(B, k) log p(x|z) + log p(z) − log q(z|x) for z ~ q(z|x), and (B, k) ELBO terms."""
        import math

        import torch
        import torch.nn.functional as F

        mu, logvar = encoder(x).chunk(2, dim=-1)
        std = (0.5 * logvar).exp()
        eps = torch.randn((x.shape[0], k, self.latent), generator=generator, dtype=x.dtype)
        z = mu[:, None] + std[:, None] * eps
        logits = decoder(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, x[:, None].expand_as(logits),
                                                     reduction="none").sum(-1)
        log_pz = -0.5 * (z**2).sum(-1) - 0.5 * self.latent * math.log(2 * math.pi)
        log_qz = (-0.5 * eps**2 - 0.5 * logvar[:, None] - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_px + log_pz - log_qz

    def fit_observe(self, data, membership, seeds, progress=None) -> dict[str, np.ndarray]:
        import torch

        X = np.asarray(getattr(data, "X", data), dtype=np.float64)
        X = (X.reshape(len(X), -1) > 0.5).astype(np.float32)
        x_all = torch.from_numpy(X)
        membership = np.asarray(membership, dtype=bool)
        suffixes = {epoch: f"_epoch{epoch}" for epoch in self.snapshots} | {self.epochs: ""}
        out = {name + suffix: np.empty(membership.shape)
               for suffix in suffixes.values() for name in ("loglik", "elbo", "ess")}
        for m, (row, seed) in enumerate(zip(membership, seeds, strict=True)):
            state = seed.generate_state(2)
            generator = torch.Generator().manual_seed(int(state[0]))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(state[1]))  # the layers' initialisation
                encoder, decoder = self._network(X.shape[1])
            params = [*encoder.parameters(), *decoder.parameters()]
            opt = torch.optim.Adam(params, lr=self.lr)
            train = x_all[torch.from_numpy(np.flatnonzero(row))]
            for epoch in range(1, self.epochs + 1):
                order = torch.randperm(len(train), generator=generator)
                for start in range(0, len(train), self.batch_size):
                    batch = train[order[start:start + self.batch_size]]
                    loss = -self._log_weights(encoder, decoder, batch, 1, generator).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if not torch.isfinite(loss):
                    raise MemlensError(f"VAE model {m} diverged (loss {loss.item()}); lower the learning rate.")
                if epoch in self.snapshots:
                    training_stream = generator.get_state()  # the snapshot must not change training
                    self._observe(encoder, decoder, x_all, generator, out, m, suffixes[epoch])
                    generator.set_state(training_stream)
                if progress:
                    progress(1)
            self._observe(encoder, decoder, x_all, generator, out, m, "")
        return out

    def _observe(self, encoder, decoder, x_all, generator, out, m: int, suffix: str) -> None:
        """Fill row m of ``loglik``/``elbo``/``ess`` + suffix for every example (K-sample IS)."""
        import torch

        with torch.no_grad():
            for start in range(0, len(x_all), 256):
                rows = slice(start, start + 256)
                logw = self._log_weights(encoder, decoder, x_all[rows], self.samples, generator).double()
                out["loglik" + suffix][m, rows], out["ess" + suffix][m, rows] = importance_loglik(logw.numpy())
                out["elbo" + suffix][m, rows] = logw.mean(-1).numpy()


def _snapshot_epochs(observe_at, epochs: int) -> tuple[int, ...]:
    """The epochs before the last at which to observe too; ``observe_at`` may name the last or not."""
    if observe_at is None:
        return ()
    values = list(observe_at) if isinstance(observe_at, list | tuple) else None
    whole = values is not None and all(isinstance(e, int | np.integer) and not isinstance(e, bool) for e in values)
    if not whole or not values or values != sorted(set(values)) or not 1 <= values[0] <= values[-1] <= epochs:
        raise MemlensError(
            f"VAE observe_at must be whole epochs between 1 and epochs={epochs}, increasing and without "
            f"repeats, such as (20, {epochs}); got {observe_at!r}. The last epoch is always observed."
        )
    return tuple(int(e) for e in values if e != epochs)
