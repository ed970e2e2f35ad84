"""Ensemble trainer vs a plain PyTorch loop: the same 64 MLPs on random halves of digits.

(a) what users of today's tools run: one ``nn.Sequential`` after another, each with its own
Adam, shuffled minibatches of its own half, then its outputs on the training pool and the test
set (what an audit needs); (b) memlens's ``Ensemble`` trainer, all models at once.
Same architecture, epochs, batch size, optimizer and data scaling. Prints held-out accuracy of
both (must agree within 1 point), each side's useful GFLOP/s against this machine's measured
matmul peak in float32 and bfloat16, and, last, ``speedup N.Nx``.

    python bench/ensemble_vs_loop.py [--models 64] [--epochs 30] [--precision float32] [--repeats 3]
                                     [--device cpu|cuda]   (both sides on that device)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from memlens.data import load
from memlens.design import halves
from memlens.train import Ensemble, model_seeds
from memlens.train.ensemble import _standardizer


def plain_loop(data, membership, *, width, epochs, batch_size, lr, seed, device="cpu", optimizer="adam"):
    """The baseline: train and evaluate each model separately with idiomatic PyTorch.

    ``optimizer``: ``"adam"`` or ``"sgd"`` (momentum 0.9, as memlens's ``--optimizer sgd``).
    """
    mean, std = _standardizer(data.X)
    X = torch.from_numpy((data.X - mean) / std).to(device)
    y = torch.from_numpy(data.y).to(device)
    X_test = torch.from_numpy((data.X_test - mean) / std).to(device)
    y_test = torch.from_numpy(data.y_test).to(device)
    accs, pool_logits = [], []
    for m, row in enumerate(membership):
        torch.manual_seed(seed + m)
        model = nn.Sequential(nn.Linear(X.shape[1], width), nn.ReLU(), nn.Linear(width, data.n_classes)).to(device)
        if optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=lr)
        members = torch.from_numpy(np.flatnonzero(row)).to(device)
        for _ in range(epochs):
            perm = members[torch.randperm(len(members), device=device)]
            for s in range(0, len(perm), batch_size):
                b = perm[s : s + batch_size]
                loss = nn.functional.cross_entropy(model(X[b]), y[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():  # what an audit needs: every model's outputs on the pool and test set
            pool_logits.append(model(X))
            accs.append((model(X_test).argmax(1) == y_test).float().mean().item())
    return np.array(accs)


def useful_flops(membership, n_test: int, d: int, width: int, classes: int, epochs: int) -> float:
    """Multiply-adds ×2 the audit needs: training (forward, weight gradients, the hidden layer's
    input gradient) on each model's own examples, then every model on the pool and the test set."""
    per_example_forward = 2 * (d * width + width * classes)
    training = membership.sum() * epochs * (2 * per_example_forward + 2 * width * classes)
    observing = membership.shape[0] * (membership.shape[1] + n_test) * per_example_forward
    return float(training + observing)


def matmul_peak(dtype, size: int = 2048) -> float:
    """GFLOP/s of the best of 5 square products on this machine, with torch's threads."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where both sides train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="digits", help="any memlens dataset with a test split")
    p.add_argument("--repeats", type=int, default=3, help="time each side this often; report the best (as timeit does)")
    a = p.parse_args(argv)
    from memlens.train import device

    device.resolve(a.device)  # --device cuda without a GPU: memlens's one-paragraph refusal
    data = load(a.dataset)
    membership = halves(a.models, data.n_examples, seed=a.seed).membership
    print(f"{a.models} MLPs ({data.X.shape[1]}-{a.width}-{data.n_classes}) on random halves of {a.dataset}, {a.epochs} epochs, "
          f"batch {a.batch_size}, Adam, torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}")

    def best_of(fn):
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return out, min(times), times

    loop_acc, t_loop, times = best_of(lambda: plain_loop(
        data, membership, width=a.width, epochs=a.epochs, batch_size=a.batch_size, lr=1e-3, seed=a.seed,
        device=a.device))
    print(f"plain loop : {t_loop:7.2f} s   mean held-out accuracy {loop_acc.mean():.4f}   "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")

    trainer = Ensemble("mlp", width=a.width, epochs=a.epochs, batch_size=a.batch_size, lr=1e-3, precision=a.precision,
                       device=a.device)
    obs, t_ens, times = best_of(lambda: trainer.fit_observe(data, membership, model_seeds(a.seed, a.models)))
    ens_acc = obs["test_correct"].mean(axis=1)
    print(f"ensemble   : {t_ens:7.2f} s   mean held-out accuracy {ens_acc.mean():.4f} ({a.precision})   "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    gap = abs(ens_acc.mean() - loop_acc.mean()) * 100
    print(f"accuracy gap {gap:.2f} points ({'within' if gap <= 1 else 'OUTSIDE'} 1 point)")
    flops = useful_flops(membership, len(data.X_test), data.X.shape[1], a.width, data.n_classes, a.epochs)
    if a.device == "cpu":
        peaks = {name: matmul_peak(dtype) for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
        print(f"matmul peak (2048² products): float32 {peaks['float32']:.0f} GFLOP/s, bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
        for side, seconds, precision in (("plain loop", t_loop, "float32"), ("ensemble", t_ens, a.precision)):
            rate = flops / seconds / 1e9
            print(f"{side:11s}: {flops / 1e9:.0f} useful GFLOP in {seconds:.2f} s = {rate:.1f} GFLOP/s, "
                  f"{100 * rate / peaks[precision]:.0f}% of the {precision} peak")
    print(f"speedup {t_loop / t_ens:.1f}x")


if __name__ == "__main__":
    main()
