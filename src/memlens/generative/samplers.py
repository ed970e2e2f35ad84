"""Diffusion samplers for any denoiser or score: EDM Heun, reverse-SDE Euler–Maruyama, probability-flow ODE.

They take callables, so the closed-form scores of :mod:`memlens.generative.closed_form` and
trained networks plug in alike. Batched: every step updates all B samples with one call.
A step that produces NaN or inf stops the sampler with a :class:`SamplerError` naming the step
and the noise level, instead of returning garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MemlensError


class SamplerError(MemlensError):
    """A sampler produced non-finite values; the message names the step and noise level."""


def _check_finite(x, step: int, where: str) -> None:
    is_torch = hasattr(x, "isfinite")
    finite = bool(x.isfinite().all()) if is_torch else bool(np.isfinite(x).all())
    if not finite:
        raise SamplerError(
            f"The sampler produced NaN or infinite values at step {step} ({where}). The denoiser or "
            "score is not finite there: check its inputs' scale (images in [−1, 1]), its precision "
            "(float32 distances overflow sooner), or use a larger smallest noise level."
        )


def karras_sigmas(
    steps: int = 18, *, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0
):
    """The EDM noise levels σ_0 > … > σ_{steps−1} = σ_min, then σ_steps = 0; shape (steps + 1,).

    Karras et al. (2022) eq. 5: σ_i = (σ_max^{1/ρ} + i/(steps−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.

    Example:
        >>> karras_sigmas(3, sigma_min=1.0, sigma_max=16.0, rho=2.0).tolist()
        [16.0, 6.25, 1.0, 0.0]
    """
    if steps < 2:
        raise MemlensError(f"EDM sampling needs at least 2 steps, got {steps}.")
    i = np.arange(steps) / (steps - 1)
    sig = (sigma_max ** (1 / rho) + i * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return np.append(sig, 0.0)


def edm_heun_sample(
    denoiser,
    noise,
    *,
    steps: int = 18,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
):
    """Deterministic EDM sampler (Karras et al. 2022, Algorithm 1 without churn): Heun's 2nd order.

    Integrates dx/dσ = (x − D(x; σ)) / σ from σ_max to 0 on :func:`karras_sigmas`; the last step
    is a plain Euler step to σ = 0, so the sample is D(x; σ_min) exactly. 2·steps − 1 denoiser calls.

    Args:
        denoiser: ``D(x, sigma)``, x (B, d) and a scalar σ → (B, d).
        noise: (B, d) standard normal draws; the start is σ_max · noise.

    Returns:
        (B, d) samples, same array type as ``noise``.
    """
    sigmas = karras_sigmas(steps, sigma_min=sigma_min, sigma_max=sigma_max, rho=rho)
    x = noise * sigmas[0]
    for i, (s_cur, s_next) in enumerate(zip(sigmas[:-1], sigmas[1:], strict=True)):
        d_cur = (x - denoiser(x, s_cur)) / s_cur
        x_next = x + (s_next - s_cur) * d_cur
        if s_next > 0:  # Heun correction
            d_next = (x_next - denoiser(x_next, s_next)) / s_next
            x_next = x + (s_next - s_cur) * 0.5 * (d_cur + d_next)
        _check_finite(x_next, i, f"σ = {s_cur:.4g} → {s_next:.4g}")
        x = x_next
    return x


def euler_maruyama_sample(
    score,
    process,
    noise_init,
    *,
    steps: int = 1000,
    t_min: float = 1e-3,
    t_max: float = 1.0,
    rng=None,
):
    """Reverse-time SDE dx = [f(x,t) − g(t)² s(x,t)] dt + g(t) dW̄ by Euler–Maruyama, t_max → t_min.

    Song et al. (2021). Starts at x = m(t_max)·0 + σ(t_max) · noise_init (the process's prior,
    data assumed centred near 0 at t_max); ``steps`` uniform steps; no noise on the last step.

    Args:
        score: ``s(x, t)``, x (B, d), t scalar → (B, d).
        process: a :class:`~memlens.generative.closed_form.VPProcess` or ``VEProcess``.
        noise_init: (B, d) standard normal draws (numpy).
        rng: ``numpy.random.Generator`` or seed for the per-step noise.

    Returns:
        (B, d) numpy samples at t_min.
    """
    rng = np.random.default_rng(rng)
    ts = np.linspace(t_max, t_min, steps + 1)
    x = np.asarray(noise_init, dtype=np.float64) * process.std(t_max)
    for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:], strict=True)):
        dt = t_next - t  # negative
        g2 = process.diffusion_sq(t)
        x_next = x + (process.drift(x, t) - g2 * score(x, t)) * dt
        if i < steps - 1:
            x_next = x_next + np.sqrt(g2 * -dt) * rng.standard_normal(x.shape)
        _check_finite(x_next, i, f"t = {t:.4g}, σ(t) = {float(process.std(t)):.4g}")
        x = x_next
    return x


@dataclass(frozen=True)
class FlowSample:
    """Result of :func:`probability_flow_sample`.

    Attributes:
        x: (B, d) samples at t_min.
        t: (T,) times at which ``path`` is recorded (``t_eval``, decreasing), or empty.
        path: (T, B, d) states at those times.
        nfev: score evaluations the adaptive solver made.
    """

    x: np.ndarray
    t: np.ndarray
    path: np.ndarray
    nfev: int


def probability_flow_sample(
    score,
    process,
    noise_init,
    *,
    t_min: float = 1e-3,
    t_max: float = 1.0,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    method: str = "RK45",
    t_eval=None,
) -> FlowSample:
    """Probability-flow ODE dx/dt = f(x,t) − ½ g(t)² s(x,t), t_max → t_min, with SciPy's adaptive solver.

    The whole batch is one system for ``scipy.integrate.solve_ivp`` (one score call per solver
    stage for all samples; the step size is set by the hardest sample). Start as in
    :func:`euler_maruyama_sample`.

    Args:
        t_eval: optional times in (t_min, t_max] (any order) at which to record the states too.
    """
    from scipy.integrate import solve_ivp

    x0 = np.asarray(noise_init, dtype=np.float64) * process.std(t_max)
    shape = x0.shape
    calls = {"step": 0}

    def rhs(t, flat):
        x = flat.reshape(shape)
        dx = process.drift(x, t) - 0.5 * process.diffusion_sq(t) * score(x, t)
        _check_finite(
            dx,
            calls["step"],
            f"ODE right-hand side at t = {t:.4g}, σ(t) = {float(process.std(t)):.4g}",
        )
        calls["step"] += 1
        return dx.ravel()

    times = None
    if t_eval is not None:
        times = np.sort(np.asarray(t_eval, dtype=np.float64))[::-1]
        times = np.append(times[(times > t_min) & (times <= t_max)], t_min)
    sol = solve_ivp(
        rhs, (t_max, t_min), x0.ravel(), method=method, rtol=rtol, atol=atol, t_eval=times
    )
    if not sol.success:
        raise SamplerError(
            f"The probability-flow ODE solver stopped early: {sol.message} "
            "Loosen rtol/atol or raise t_min."
        )
    final = sol.y[:, -1].reshape(shape)
    if times is None:
        return FlowSample(final, np.empty(0), np.empty((0, *shape)), sol.nfev)
    path = sol.y.T.reshape(len(sol.t), *shape)[:-1]
    return FlowSample(final, sol.t[:-1], path, sol.nfev)
