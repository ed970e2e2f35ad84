"""Closed-form scores of the empirical data distribution: the optimal denoiser and its regularizations.

The minimizer of denoising score matching on N training points {y_n} is the score of a Gaussian
mixture centred on the (scaled) training points — Gu et al., "On Memorization in Diffusion
Models" (2025; ``OptimEDM`` in sail-sg/DiffMemorize) for the EDM/VE denoiser
``D*(x; σ) = Σ_n softmax_n(−‖x − y_n‖² / 2σ²) y_n``, and Baptista et al., "Memorization and
Regularization in Generative Diffusion Models" (2025) for the VP/VE mixture score
``s*(x, t) = (m(t) Σ_n w_n y_n − x) / σ(t)²`` and its Tikhonov (``s_c``) and density-floor
(``s_τ``) regularizations. Sampling with any of these needs no training.

Memory: the (B × N) matrix of squared distances is never held whole. It is computed one block of
``chunk_rows`` samples at a time in the ``‖x‖² − 2 x·y + ‖y‖²`` matmul form followed by a
max-shifted (log-sum-exp) softmax done in place, with
``chunk_rows = max(1, ⌊max_bytes / (3 · N · itemsize)⌋)`` (one B_chunk × N block of logits that
becomes the weights in place, with headroom for the matmul and reductions); at the default 256 MiB and
float64 that is 186 rows for N = 60,000, so 60,000 training images × 10,000 samples need the
training matrix plus ~256 MiB, whatever the number of samples.

Precision: float64 by default. In float32 the expanded distance carries an absolute error of about
1e-7 · (‖x − μ‖² + ‖y − μ‖²) (μ: the training mean, subtracted first to keep the norms small); the
softmax is only affected where that error is comparable to 2σ², i.e. between training points
whose distances to x differ by less than that — harmless for images (nearest-neighbour gaps are
orders larger) but a reason to keep float64 for small-σ analysis of near-duplicate data.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_MAX_BYTES = 256 * 2**20


def chunk_rows(n_train: int, itemsize: int, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """Samples per block so that three (rows × n_train) temporaries fit in ``max_bytes``.

    Example:
        >>> chunk_rows(60_000, 8)
        186
    """
    return max(1, int(max_bytes // (3 * max(n_train, 1) * itemsize)))


SMALL_WORK = 2**22  # multiply-adds below which one thread beats two


@contextmanager
def _single_thread_if_small(work: int, device):
    """Run tiny CPU problems on one thread: samplers make thousands of such calls, and on a busy
    2-core machine each multi-threaded hand-off cost ~18× the arithmetic (5 ms vs 0.28 ms for
    300 samples × 8 points, measured while other jobs ran)."""
    threads = torch.get_num_threads()
    if work >= SMALL_WORK or threads == 1 or torch.device(device).type != "cpu":
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class EmpiricalMixture:
    """The N training points prepared once for repeated mixture queries (denoiser, scores).

    Holds the centred training matrix and its squared norms on ``device`` in ``dtype`` so that a
    sampler calling the denoiser 35 times converts and normalizes the data once.

    Args:
        train: (N, d) training points, numpy or torch; images flattened, in the scale the sampler
            uses (Gu et al.: [−1, 1]).
        dtype: ``torch.float64`` (default) or ``torch.float32`` (about twice as fast; see the
            module docstring for its error).
        max_bytes: bound on the per-block temporaries (see :func:`chunk_rows`).
        device: where to compute (``"cpu"`` or a CUDA device); numpy inputs come back as numpy.

    Example:
        >>> mix = EmpiricalMixture(np.array([[0.0, 0.0], [4.0, 0.0]]))
        >>> mix.denoise(np.array([[3.9, 0.0]]), 0.01).round(6).tolist()
        [[4.0, 0.0]]
    """

    def __init__(
        self, train, *, dtype=torch.float64, max_bytes: int = DEFAULT_MAX_BYTES, device="cpu"
    ):
        y = torch.as_tensor(train).to(device=device, dtype=dtype)
        if y.ndim != 2 or y.shape[0] == 0:
            from ..errors import DataError

            raise DataError(
                f"The training points must be a non-empty (N, d) array, got shape {tuple(y.shape)}. "
                "Flatten images to one row each (e.g. X.reshape(len(X), -1)) before building the mixture."
            )
        if not torch.isfinite(y).all():
            from ..errors import DataError

            raise DataError(
                "The training points contain NaN or infinite values; the empirical mixture is undefined. "
                "Remove or repair those rows first."
            )
        self.dtype, self.device, self.max_bytes = dtype, torch.device(device), max_bytes
        self.mean = y.mean(0)  # (d,)
        self.centred = y - self.mean  # (N, d)
        self.sq_norms = (self.centred * self.centred).sum(1)  # (N,)
        self.n_train, self.dim = y.shape
        self.rows = chunk_rows(self.n_train, y.element_size(), max_bytes)

    def posterior(self, x, sigma, *, scale=1.0):
        """Posterior mean of y and log Σ_n φ_n under x = scale·y + σ·ε, for each row of x.

        φ_n = exp(−‖x − scale·y_n‖² / 2σ²) (unnormalized kernels). Returns ``(mean, log_mass)``:
        mean (B, d) = Σ_n softmax_n(log φ) y_n, log_mass (B,) = logsumexp_n log φ_n. ``sigma`` and
        ``scale`` are scalars or (B,) arrays. Numpy in → numpy out; torch in → torch out.
        """
        is_numpy = not isinstance(x, torch.Tensor)
        xt = torch.as_tensor(x).to(device=self.device, dtype=self.dtype)
        if xt.ndim != 2 or xt.shape[1] != self.dim:
            from ..errors import DataError

            raise DataError(
                f"The query points must have shape (B, {self.dim}) like the training points, got "
                f"{tuple(xt.shape)}. Flatten them the same way as the training data."
            )
        b = xt.shape[0]
        sig = self._per_row(sigma, b)
        m = self._per_row(scale, b)
        mean = torch.empty_like(xt)
        log_mass = torch.empty(b, dtype=self.dtype, device=self.device)
        with _single_thread_if_small(b * self.n_train * self.dim, self.device):
            self._fill_posterior(xt, sig, m, mean, log_mass)
        if is_numpy:
            return mean.cpu().numpy(), log_mass.cpu().numpy()
        return mean, log_mass

    def _fill_posterior(self, xt, sig, m, mean, log_mass):
        """Write the posterior mean and log mass of each block of ``self.rows`` samples."""
        for s in range(0, len(xt), self.rows):
            rows = slice(s, s + self.rows)
            # distances to scale·y_n with everything centred on the training mean μ:
            # x − m·y = (x − m·μ) − m·(y − μ)
            xc = xt[rows] - m[rows, None] * self.mean  # (b, d)
            logits = xc @ self.centred.T  # (b, N)
            logits.mul_((2 * m[rows])[:, None]).sub_((xc * xc).sum(1, keepdim=True))
            logits.sub_((m[rows] ** 2)[:, None] * self.sq_norms)  # now −‖x − m y‖²
            logits.clamp_(max=0.0).div_((2 * sig[rows] ** 2)[:, None])  # log φ, (b, N)
            # softmax by hand, in place: one exp pass and no (b, N) temporaries (logsumexp makes two)
            top = logits.amax(1, keepdim=True)  # (b, 1), ≤ 0
            weights = logits.sub_(top).exp_()  # unnormalized, largest = 1
            total = weights.sum(1)  # (b,) ≥ 1
            mean[rows] = (weights @ self.centred) / total[:, None] + self.mean
            log_mass[rows] = top[:, 0] + total.log()

    def denoise(self, x, sigma):
        """The optimal denoiser D*(x; σ) = Σ_n softmax_n(−‖x − y_n‖²/2σ²) y_n (EDM/VE), (B, d)."""
        return self.posterior(x, sigma)[0]

    def score(self, x, sigma):
        """Score of the σ-smoothed empirical distribution, (D*(x; σ) − x) / σ², (B, d)."""
        mean = self.denoise(x, sigma)
        sig = self._per_row(sigma, len(x), like=x)
        return (mean - x) / sig[:, None] ** 2

    def _per_row(self, value, b, like=None):
        """A scalar or (B,) array as a (B,) vector of the mixture's dtype (or ``like``'s type)."""
        if like is not None and not isinstance(like, torch.Tensor):
            v = np.asarray(value, dtype=np.float64)
            return np.broadcast_to(v, (b,)) if v.ndim == 0 else v.reshape(b)
        if not isinstance(value, torch.Tensor):
            value = np.array(value, dtype=np.float64)  # a writable copy (broadcast views are not)
        v = torch.as_tensor(value).to(device=self.device, dtype=self.dtype)
        if like is not None:
            v = v.to(device=like.device, dtype=like.dtype)
        return v.expand(b) if v.ndim == 0 else v.reshape(b)


def empirical_denoiser(x, train, sigma, **options):
    """D*(x; σ): the posterior mean of the empirical distribution under Gaussian noise of std σ.

    Gu et al.'s closed-form optimal denoiser (EDM/VE convention, x = y + σε). Shapes: x (B, d),
    train (N, d), sigma scalar or (B,); returns (B, d). ``options`` go to :class:`EmpiricalMixture`.

    Example:
        >>> empirical_denoiser(np.array([[1.0]]), np.array([[0.0], [2.0]]), 1e6).tolist()
        [[1.0]]
    """
    return EmpiricalMixture(train, **options).denoise(x, sigma)


def empirical_score(x, train, sigma, **options):
    """∇ log of the σ-smoothed empirical distribution: (D*(x; σ) − x) / σ², (B, d)."""
    return EmpiricalMixture(train, **options).score(x, sigma)


# ---------------------------------------------------------------------------------------------
# forward processes: X_t | X_0 = y ~ N(m(t) y, σ(t)² I)


@dataclass(frozen=True)
class VPProcess:
    """Variance-preserving (Ornstein–Uhlenbeck) process dX = −½β(t)X dt + √β(t) dW, β linear.

    β(t) = β_min + t (β_max − β_min) on t ∈ [0, 1]; m(t) = exp(−½∫_0^t β), σ(t)² = 1 − m(t)²
    (Song et al. 2021; Baptista et al. §7 use β ∈ [0.1, 20]).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def mean_scale(self, t):
        """m(t) = exp(−½ ∫_0^t β(s) ds)."""
        integral = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2
        return np.exp(-0.5 * integral)

    def std(self, t):
        """σ(t) = √(1 − m(t)²), computed as √(−expm1(−∫β)) to stay accurate at small t."""
        integral = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2
        return np.sqrt(-np.expm1(-integral))

    def drift(self, x, t):
        """f(x, t) = −½ β(t) x."""
        return -0.5 * self.beta(t) * x

    def diffusion_sq(self, t):
        """g(t)² = β(t)."""
        return self.beta(t)


@dataclass(frozen=True)
class VEProcess:
    """Variance-exploding process dX = g(t) dW with σ(t) = σ_min (σ_max/σ_min)^t, m(t) = 1.

    Song et al.'s geometric schedule on t ∈ [0, 1]; g(t)² = dσ²/dt = 2σ(t)² ln(σ_max/σ_min).
    """

    sigma_min: float = 0.01
    sigma_max: float = 50.0

    def mean_scale(self, t):
        return np.ones_like(np.asarray(t, dtype=np.float64))[()]

    def std(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def drift(self, x, t):
        return 0.0 * x

    def diffusion_sq(self, t):
        return 2 * self.std(t) ** 2 * math.log(self.sigma_max / self.sigma_min)


def mixture_score(mixture: EmpiricalMixture, x, t, process, *, c: float = 0.0, tau: float = 0.0):
    """The empirical score of a VP/VE process at time t, optionally regularized (Baptista et al.).

    With w_n = softmax_n(−‖x − m y_n‖²/2σ²) and φ_n the same kernels unnormalized:

    - ``c = tau = 0``: s*(x, t) = (m Σ_n w_n y_n − x) / σ², the exact minimizer of DSM on the data;
    - ``c > 0`` (Tikhonov, Γ = (c/σ²) I, their eq. 5.7): s_c = (m Σ w y − x) / (σ² + c);
    - ``tau > 0`` (density floor, §5.2): s_τ = (m Σ φ y − x Σ φ) / (σ² max(Σ φ, τ))
      = s* · min(1, Σ φ / τ), evaluated in the log domain so it never divides 0 by 0.

    Both at once apply both factors. Shapes: x (B, d), t scalar or (B,); returns (B, d), numpy
    or torch like x. ``c → 0`` and ``tau → 0`` give back s* exactly.
    """
    if c < 0 or tau < 0:
        from ..errors import MemlensError

        raise MemlensError(
            f"The regularization strengths must be ≥ 0 (got c={c}, tau={tau}); 0 gives the "
            "unregularized empirical score."
        )
    is_numpy = not isinstance(x, torch.Tensor)
    t_np = np.asarray(t.cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64)
    m = np.broadcast_to(process.mean_scale(t_np), (len(x),))
    sig = np.broadcast_to(process.std(t_np), (len(x),))
    mean, log_mass = mixture.posterior(x, sig, scale=m)
    if is_numpy:
        out = (m[:, None] * mean - x) / (sig[:, None] ** 2 + c)
        if tau > 0:
            out = out * np.exp(np.minimum(0.0, log_mass - math.log(tau)))[:, None]
        return out
    mt = torch.as_tensor(m.copy(), dtype=x.dtype, device=x.device)
    st = torch.as_tensor(sig.copy(), dtype=x.dtype, device=x.device)
    out = (mt[:, None] * mean.to(x.dtype) - x) / (st[:, None] ** 2 + c)
    if tau > 0:
        out = out * torch.exp(torch.clamp(log_mass.to(x.dtype) - math.log(tau), max=0.0))[:, None]
    return out
