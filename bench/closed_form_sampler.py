"""Batched closed-form EDM sampler vs a plain per-sample loop (Gu et al.'s optimal denoiser D*).

(a) what a one-off script does: for each sample, 18 Heun steps, each denoiser call taking the
distances to all N training images directly (``((Y − x)**2).sum(1)``), a softmax and a weighted
sum; (b) memlens: ``EmpiricalMixture`` + ``edm_heun_sample``, all samples per call, distances in
the chunked matmul form. Same data ([−1, 1] pixels), noise, schedule and dtype. Prints both
rates, the largest difference between the two on the samples both drew, the peak RSS, and last
``speedup N.Nx``.

    python bench/closed_form_sampler.py [--dataset fashion-mnist] [--samples 1000] [--loop-samples 8]
                                        [--dtype float32|float64] [--steps 18] [--threads T] [--smoke]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from memlens.data import load
from memlens.generative.closed_form import EmpiricalMixture
from memlens.generative.samplers import edm_heun_sample, karras_sigmas


def loop_sample(train, noise_row, sigmas):
    """The baseline: one sample, Heun steps, the denoiser written the obvious way."""

    def denoise(x, sigma):
        log_w = -((train - x) ** 2).sum(1) / (2 * sigma * sigma)
        w = np.exp(log_w - log_w.max())
        return (w / w.sum()) @ train

    x = noise_row * sigmas[0]
    for s_cur, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        d_cur = (x - denoise(x, s_cur)) / s_cur
        x_next = x + (s_next - s_cur) * d_cur
        if s_next > 0:
            x_next = x + (s_next - s_cur) * 0.5 * (
                d_cur + (x_next - denoise(x_next, s_next)) / s_next
            )
        x = x_next
    return x


def cpu_name() -> str:
    from memlens.train.precision import cpu_info

    return str(cpu_info()["name"])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--dataset",
        default="fashion-mnist",
        help="any memlens image dataset; NAME:N keeps the first N",
    )
    p.add_argument("--samples", type=int, default=1000, help="samples the batched sampler draws")
    p.add_argument(
        "--loop-samples", type=int, default=8, help="samples the per-sample loop draws (it is slow)"
    )
    p.add_argument("--steps", type=int, default=18)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the batched side (default: torch's)",
    )
    p.add_argument(
        "--smoke", action="store_true", help="digits:300, 64 samples, 6 steps: a few seconds"
    )
    a = p.parse_args(argv)
    if a.smoke:
        a.dataset, a.samples, a.loop_samples, a.steps = "digits:300", 64, 4, 6
    if a.threads:
        torch.set_num_threads(a.threads)
    np_dtype = np.dtype(a.dtype)
    pixels = load(a.dataset).X  # (N, d) in [0, 1]
    # [−1, 1] as Gu et al.
    train = (pixels.reshape(len(pixels), -1).astype(np_dtype) * 2 - 1).astype(np_dtype)
    noise = (
        np.random.default_rng(a.seed).standard_normal((a.samples, train.shape[1])).astype(np_dtype)
    )
    sigmas = karras_sigmas(a.steps).astype(np_dtype)
    print(
        f"closed-form EDM Heun ({a.steps} steps, {2 * a.steps - 1} denoiser calls), {a.dataset}: N = {len(train)} "
        f"× d = {train.shape[1]}, {a.dtype}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"CPU {cpu_name()}"
    )

    t = time.perf_counter()
    looped = np.stack([loop_sample(train, noise[i], sigmas) for i in range(a.loop_samples)])
    loop_s = time.perf_counter() - t
    t = time.perf_counter()
    mix = EmpiricalMixture(train, dtype=getattr(torch, a.dtype))
    batched = edm_heun_sample(mix.denoise, noise, steps=a.steps)
    batch_s = time.perf_counter() - t

    diff = float(np.abs(batched[: a.loop_samples] - looped).max())
    # one row at a time: bounded memory
    nearest = lambda x: int(np.argmin(((train - x) ** 2).sum(1)))  # noqa: E731
    same_nn = float(
        np.mean([nearest(b) == nearest(lo) for b, lo in zip(batched, looped, strict=False)])
    )
    result = {
        "loop_samples_per_s": a.loop_samples / loop_s,
        "batched_samples_per_s": a.samples / batch_s,
        "max_abs_diff": diff,
        "same_nearest": same_nn,
        "chunk_rows": mix.rows,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    result["speedup"] = result["batched_samples_per_s"] / result["loop_samples_per_s"]
    print(
        f"per-sample loop: {a.loop_samples} samples in {loop_s:.2f} s = {result['loop_samples_per_s']:.3g} samples/s"
    )
    print(
        f"batched:         {a.samples} samples in {batch_s:.2f} s = {result['batched_samples_per_s']:.3g} samples/s "
        f"(chunks of {mix.rows} rows)"
    )
    print(
        f"agreement on the {a.loop_samples} shared samples: max |Δ| = {diff:.2e}, same nearest training image "
        f"{same_nn:.0%}; peak RSS {result['peak_rss_gb']:.2f} GB"
    )
    print(f"speedup {result['speedup']:.1f}x")
    return result


if __name__ == "__main__":
    main()
