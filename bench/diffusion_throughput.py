"""Trained-diffusion throughput: the diffusers U-Net and the MLP ensemble, against a plain per-model loop.

Per device (the CPU; a CUDA GPU too when torch sees one and ``--device auto|cuda``), it times
what :class:`memlens.generative.diffusion.DiffusionTrainer` does per training step — EDM loss
(``edm_loss``), backward, Adam, EMA update — and per generated image — EDM Heun, 18 steps, 35
denoiser calls on the EMA weights:

* ``unet``: one :class:`~memlens.generative.edm_unet.UNetDenoiser` (diffusers ``UNet2DModel``);
* ``mlp-ensemble``: :class:`~memlens.generative.edm.MLPEnsemble` of M models, one batched pass;
* ``mlp-loop``: the same M MLPs (same sizes, Fourier features, EDM preconditioning) written as
  plain ``nn.Module`` s, each with its own Adam and EMA, trained and sampled one after another —
  what a one-off script does. ``ensemble ÷ loop`` is the speed-up of batching the models.

Images are random pixels in [−1, 1] (content does not change the cost). Rates: training
``model-steps/s`` (one model's optimizer step on one batch; for the ensemble M per pass) and
sampled ``images/s``. Prints a JSON record; ``--smoke`` is a seconds-long version.

    python bench/diffusion_throughput.py [--image 28] [--models 8] [--batch 128] [--steps 20]
                                         [--samples 64] [--threads 1] [--device cpu|auto|cuda] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from memlens.generative.edm import (
    FOURIER_FEATURES,
    P_MEAN,
    P_STD,
    SIGMA_DATA,
    MLPEnsemble,
    denoise,
    edm_loss,
)
from memlens.generative.samplers import edm_heun_sample

SAMPLER_STEPS = 18


def cpu_name() -> str:
    from memlens.train.precision import cpu_info

    return str(cpu_info()["name"])


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_trainer_steps(net, pool, batch: int, steps: int, device) -> float:
    """Seconds per optimizer step of the trainer's inner loop on ``net`` (all its models at once)."""
    M = len(pool)
    params = net.params
    ema = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    gens = [torch.Generator(device=device).manual_seed(m) for m in range(M)]

    def step():
        pick = torch.randint(0, pool.shape[1], (M, batch), device=device)
        y = torch.gather(pool, 1, pick[..., None].expand(-1, -1, pool.shape[-1]))
        loss = edm_loss(net, params, y, None, gens).sum()  # per-model losses, summed as the trainer does
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema, params, strict=True):
                e.lerp_(p, 1e-3)
        loss.item()  # the trainer reads every step's loss

    step()  # warm-up: allocations, first-call dispatch
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def time_sampling(net, models: int, samples: int, dim: int, device) -> float:
    """Seconds to draw ``samples`` images from each of ``models`` models (EDM Heun, 18 steps)."""
    noise = torch.randn(models, samples, dim, device=device)
    with torch.no_grad():
        edm_heun_sample(lambda x, s: denoise(net, net.params, x, s, None), noise[:, :2], steps=2)  # warm-up
        _sync(device)
        start = time.perf_counter()
        edm_heun_sample(lambda x, s: denoise(net, net.params, x, s, None), noise, steps=SAMPLER_STEPS)
        _sync(device)
    return time.perf_counter() - start


class PlainDenoiser(torch.nn.Module):
    """One EDM denoiser MLP written the obvious way: the baseline the ensemble is compared with."""

    def __init__(self, dim: int, hidden: int = 256):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim + 2 * FOURIER_FEATURES, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, dim))
        self.register_buffer("frequencies", torch.logspace(0, 2, FOURIER_FEATURES))

    def forward(self, x, sigma):  # EDM-preconditioned D(x; σ), x (B, d), σ (B, 1)
        var = sigma**2 + SIGMA_DATA**2
        angles = (torch.log(sigma) / 4) * self.frequencies
        F = self.net(torch.cat([x / var.sqrt(), torch.sin(angles), torch.cos(angles)], dim=1))
        return SIGMA_DATA**2 / var * x + sigma * SIGMA_DATA / var.sqrt() * F


def time_plain_model(model, images, batch: int, steps: int, samples: int, device) -> tuple[float, float]:
    """(training seconds for ``steps`` steps, seconds to sample ``samples`` images) of one plain MLP."""
    ema = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        y = images[torch.randint(0, len(images), (batch,), device=device)]
        sigma = torch.exp(P_MEAN + P_STD * torch.randn(batch, 1, device=device))
        weight = (sigma**2 + SIGMA_DATA**2) / (sigma * SIGMA_DATA) ** 2
        loss = (weight * (model(y + sigma * torch.randn_like(y), sigma) - y) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters(), strict=True):
                e.lerp_(p, 1e-3)
        loss.item()

    step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    train = time.perf_counter() - start
    noise = torch.randn(samples, images.shape[1], device=device)
    with torch.no_grad():
        start = time.perf_counter()
        edm_heun_sample(lambda x, s: model(x, torch.full((len(x), 1), s, device=device)), noise,
                        steps=SAMPLER_STEPS)
        _sync(device)
    return train, time.perf_counter() - start


def time_plain_loop(pool, batch: int, steps: int, samples: int, device) -> tuple[float, float]:
    """(seconds per model-step, seconds per sampled image) training and sampling M plain MLPs in turn."""
    M, _, dim = pool.shape
    train_seconds = sample_seconds = 0.0
    for m in range(M):
        torch.manual_seed(m)
        train, sample = time_plain_model(PlainDenoiser(dim).to(device), pool[m], batch, steps, samples, device)
        train_seconds += train
        sample_seconds += sample
    return train_seconds / (M * steps), sample_seconds / (M * samples)


def measure(device: str, a) -> dict:
    from memlens.generative.edm_unet import UNetDenoiser

    side = a.image
    dim = side * side
    torch.manual_seed(a.seed)
    pool = torch.rand(a.models, a.pool, dim, device=device) * 2 - 1  # each model's own training images
    unet = UNetDenoiser(a.seed, (side, side), device=device)
    unet_step = time_trainer_steps(unet, pool[:1], a.batch, a.unet_steps, device)
    unet_sample = time_sampling(unet, 1, a.samples, dim, device)
    ensemble = MLPEnsemble(range(a.models), dim, device=device)
    ens_step = time_trainer_steps(ensemble, pool, a.batch, a.steps, device)
    ens_sample = time_sampling(ensemble, a.models, a.samples, dim, device)
    loop_step, loop_image = time_plain_loop(pool, a.batch, a.steps, a.samples, device)
    return {
        "unet": {"parameters": unet.config()["parameters"], "padded_to": unet.config()["padded_to"],
                 "train_steps_per_s": 1 / unet_step, "images_per_s": a.samples / unet_sample},
        "mlp_ensemble": {"models": a.models, "train_model_steps_per_s": a.models / ens_step,
                         "train_passes_per_s": 1 / ens_step,
                         "images_per_s": a.models * a.samples / ens_sample},
        "mlp_loop": {"train_model_steps_per_s": 1 / loop_step, "images_per_s": 1 / loop_image},
        "ensemble_over_loop": {"training": loop_step * a.models / ens_step,
                               "sampling": loop_image * a.models * a.samples / ens_sample},
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=int, default=28, help="side of the square one-channel images")
    p.add_argument("--models", type=int, default=8, help="MLPs in the ensemble (and in the plain loop)")
    p.add_argument("--batch", type=int, default=128, help="training images per model and step")
    p.add_argument("--pool", type=int, default=256, help="training images per model")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (MLPs)")
    p.add_argument("--unet-steps", type=int, default=5, help="timed training steps (U-Net)")
    p.add_argument("--samples", type=int, default=64, help="images each model samples")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the machine is shared)")
    p.add_argument("--device", default="cpu", choices=["cpu", "auto", "cuda"],
                   help="cpu; auto: the CPU and, when torch sees one, a CUDA GPU; cuda: the GPU only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="8×8 images, a few steps: seconds")
    a = p.parse_args(argv)
    if a.smoke:
        a.image, a.models, a.batch, a.pool, a.steps, a.unet_steps, a.samples = 8, 2, 8, 16, 2, 2, 4
    torch.set_num_threads(a.threads)
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA GPU here (torch " + torch.__version__ + ")")
    devices = {"cpu": ["cpu"], "cuda": ["cuda"],
               "auto": ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])}[a.device]
    result = {"bench": "diffusion-throughput", "image": [a.image, a.image], "batch": a.batch,
              "sampler_steps": SAMPLER_STEPS, "samples_per_model": a.samples, "threads": a.threads,
              "cpu_name": cpu_name(), "torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
              "load_average_before": list(__import__("os").getloadavg())}
    for device in devices:
        result[device] = measure(device, a)
        if device == "cuda":
            result[device]["gpu"] = torch.cuda.get_device_name(0)
    result["load_average_after"] = list(__import__("os").getloadavg())
    print(json.dumps(result, indent=2, default=str))
    for device in devices:
        r = result[device]
        print(f"{device}: unet {r['unet']['train_steps_per_s']:.2f} steps/s, {r['unet']['images_per_s']:.1f} images/s; "
              f"mlp ensemble/loop training {r['ensemble_over_loop']['training']:.1f}x, "
              f"sampling {r['ensemble_over_loop']['sampling']:.1f}x")
    return result


if __name__ == "__main__":
    main()
