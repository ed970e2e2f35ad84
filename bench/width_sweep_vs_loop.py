"""Width-sweep ensemble vs a plain PyTorch loop: the same 64 two-layer networks of 16 widths × 4 draws.

(a) what one writes without memlens: one ``nn.Module`` after another, each at its own width with
its own ``torch.optim.Adam``, full-batch logistic loss on its draw of m random ±1 labels in R^d,
then its margins on every example; (b) memlens's :class:`WidthSweepTrainer` on the engine
(:func:`memlens.engine.run_design`), all 64 models in one batched ensemble padded to the largest
width. Same initial weights (same seeds), epochs, learning rate and data. Every model runs all
``--epochs`` (no early stopping, so the work is fixed; the padding is counted against the
ensemble). Prints both times, how many models agree on fitting their training set, and last
``speedup N.Nx``.

    python bench/width_sweep_vs_loop.py [--m 512 --d 16] [--widths 16 --draws 4] [--epochs 300] [--threads 1] [--repeats 1]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import numpy as np
import torch
from torch import nn

from memlens.capacity.width_sweep import (
    RandomLabels,
    WidthSweepTrainer,
    initial_weights,
    sweep_design,
)
from memlens.engine import run_design
from memlens.seeds import model_seeds


class TwoLayer(nn.Module):
    """f(x) = (1/√q) Σ a_j relu(⟨w_j, x⟩), a fixed ±1 in symmetric pairs, W trained."""

    def __init__(self, W0: torch.Tensor):
        super().__init__()
        q = W0.shape[1]
        self.hidden = nn.Linear(W0.shape[0], q, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(W0.T)
        self.register_buffer("a", torch.cat([torch.ones(q // 2), -torch.ones(q // 2)]) / math.sqrt(q))

    def forward(self, x):
        return torch.relu(self.hidden(x)) @ self.a


def plain_loop(data, model_draws, widths, seeds, *, epochs, lr):
    """Each model alone, idiomatic PyTorch; returns its margins y·f on every example, (models, N)."""
    X = torch.from_numpy(data.X).float()
    y = torch.from_numpy(data.y.astype(np.float32))
    out = []
    for draw, q, seed in zip(model_draws, widths, seeds, strict=True):
        model = TwoLayer(initial_weights(seed, data.d, q))
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        rows = torch.from_numpy(np.flatnonzero(data.members(draw)))
        for _ in range(epochs):
            loss = nn.functional.softplus(-y[rows] * model(X[rows])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            out.append((y * model(X)).numpy())
    return np.array(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--m", type=int, default=512)
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--widths", type=int, default=16, help="distinct widths, geometric from m/(4d) to 4m/d")
    p.add_argument("--draws", type=int, default=4)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="time both sides this many times, interleaved; keep the best")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = RandomLabels(args.m, args.d, draws=args.draws)
    grid = sorted({max(2, 2 * math.ceil(w / 2)) for w in np.geomspace(args.m / args.d / 4, 4 * args.m / args.d,
                                                                       args.widths)})
    widths = [w for w in grid for _ in range(args.draws)]
    draws = [s for _ in grid for s in range(args.draws)]
    seeds = model_seeds(0, len(widths))
    print(f"{len(widths)} models: widths {grid} x {args.draws} draws, m={args.m}, d={args.d}, "
          f"{args.epochs} epochs, {args.threads} thread(s)")

    trainer = WidthSweepTrainer(tuple(widths), epochs=args.epochs, lr=args.lr, stop_when_fit=False)
    design = sweep_design(data, draws)
    t_loop = t_ens = math.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        loop = plain_loop(data, draws, widths, seeds, epochs=args.epochs, lr=args.lr)
        t_loop = min(t_loop, time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            store = run_design(data, design, trainer, tmp, shard_size=len(widths), progress=False)
            t_ens = min(t_ens, time.perf_counter() - start)
            ens = np.asarray(store.observation("margin"))
    member = design.membership
    fit_loop = np.array([(loop[k][member[k]] > 0).all() for k in range(len(widths))])
    fit_ens = np.array([(ens[k][member[k]] > 0).all() for k in range(len(widths))])
    acc_gap = max(abs((loop[k][member[k]] > 0).mean() - (ens[k][member[k]] > 0).mean()) for k in range(len(widths)))
    print(f"plain loop: {t_loop:.1f}s   ensemble on the engine: {t_ens:.1f}s")
    print(f"models fitting their draw: loop {fit_loop.sum()}, ensemble {fit_ens.sum()}; same verdict for "
          f"{(fit_loop == fit_ens).sum()}/{len(widths)}; max train-accuracy gap {acc_gap:.4f}")
    print(f"speedup {t_loop / t_ens:.1f}x")


if __name__ == "__main__":
    main()
