"""float32 vs bfloat16 on this CPU: one matmul, the ensemble's real training step, and what auto picks.

(a) one (512 × 784) @ (784 × 256) product on one thread, the shape the issue measured (1.1 vs
69 GFLOP/s on an EPYC without native bf16); (b) the ensemble trainer itself: ``--models`` MLPs
784-``--width``-10 on Fashion-MNIST (digits upscaled to 784 features when its package is absent),
batch 128, Adam, timed per epoch from the trainer's progress callback (fastest epoch after the first) (so batch gathering, the
loss, backward and the optimizer are all in it; observation is not), at 1 thread and at all
threads; (c) ``memlens.train.precision``'s calibration and the choice ``--precision auto`` makes
here (not cached). Prints the CPU, the bf16-relevant flags, a table and, last, the choice.

    python bench/precision.py [--models 16] [--width 256] [--examples 4000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import memlens as ml
from memlens.train import precision


def cpu_flags() -> str:
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "?"
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        [],
    )
    return " ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted)


def matmul_gflops(dtype, repeats: int = 20) -> float:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(512, 784, generator=g).to(dtype)
    b = torch.randn(784, 256, generator=g).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * 512 * 784 * 256 / best / 1e9


def data(examples: int):
    try:
        return ml.data.load(f"fashion-mnist:{examples}")
    except Exception:  # no Debian package: digits, nearest-upscaled from 8×8 to 28×28
        d = ml.data.load("digits")
        X = np.repeat(np.repeat(d.X.reshape(-1, 8, 8), 4, 1), 4, 2)[:, 2:30, 2:30].reshape(
            len(d.X), -1
        )
        return ml.data.Dataset(
            "digits-784", np.ascontiguousarray(X[:examples]), d.y[:examples], d.classes
        )


def step_ms(dataset, models: int, width: int, epochs: int, dtype: str) -> float:
    """Milliseconds per training step of one shard of ``models`` MLPs: the fastest epoch's mean
    (the fastest is the one least disturbed by other processes; the first is warm-up)."""
    design = ml.design.halves(models, dataset.n_examples, seed=0)
    trainer = ml.train.Ensemble("mlp", width=width, epochs=epochs, precision=dtype)
    stamps = []
    trainer.fit_observe(
        dataset,
        design.membership,
        ml.train.model_seeds(0, models),
        progress=lambda n: stamps.append(time.perf_counter()),
    )
    steps = int(np.ceil(design.membership.sum(axis=1).max() / 128))
    return float(np.min(np.diff(stamps))) / steps * 1e3


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=16)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--examples", type=int, default=4000)
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args(argv)
    info = precision.cpu_info()
    threads = torch.get_num_threads()
    print(
        f"CPU: {info['name']} (family/model/stepping {info['family']}), torch {torch.__version__}, {threads} threads"
    )
    print(
        f"flags: {cpu_flags()}; torch: capability {info['capability']}, AMX {info['amx']}, AVX512-BF16 {info['avx512_bf16']}"
    )
    torch.set_num_threads(1)
    f32, bf16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    print(
        f"matmul 512×784 @ 784×256, 1 thread: float32 {f32:.1f} GFLOP/s, bfloat16 {bf16:.1f} GFLOP/s ({bf16 / f32:.2f}×)"
    )
    dataset = data(a.examples)
    print(
        f"ensemble step, {a.models} MLPs {dataset.X.shape[1]}-{a.width}-10, batch 128, {dataset.name}:"
    )
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        times = {
            d: step_ms(dataset, a.models, a.width, a.epochs, d) for d in ("float32", "bfloat16")
        }
        print(
            f"  {n_threads} thread(s): float32 {times['float32']:.2f} ms, bfloat16 {times['bfloat16']:.2f} ms "
            f"({times['float32'] / times['bfloat16']:.2f}×)"
        )
    torch.set_num_threads(threads)
    start = time.perf_counter()
    choice = precision.choose("auto", use_cache=False)
    print(f"calibration {time.perf_counter() - start:.2f} s; auto → {precision.describe(choice)}")


if __name__ == "__main__":
    main()
