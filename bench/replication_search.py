"""Replication search (chunked exact matmul) vs scikit-learn NearestNeighbors, 60,000 × 10,000.

Gu et al.'s replication test needs, for every generated sample, its nearest and second-nearest
training image in ℓ2 on 8-bit pixels. Three ways to get them:

(a) ``memlens.generative.replication.replication_scores`` (blocks of samples × training images,
    centred 8-bit values multiplied exactly in float32, ties to the lower training row);
(b) ``sklearn.neighbors.NearestNeighbors(n_neighbors=2, algorithm="brute")``;
(c) ``NearestNeighbors(n_neighbors=2)`` with its default ``algorithm="auto"`` (which it resolves
    itself; the resolved method is printed).

Training images are Fashion-MNIST's 60,000 (``--data fashion``, from ``memlens.data.load``; the
Debian package) or uniform random 8-bit 784-value vectors (``--data random``). Samples are the
10,000 test images (or random vectors), of which ``--copies`` are replaced by exact copies of
training images and as many by copies with light 8-bit noise — the planted replicas. scikit-learn
gets the pixels as float32 0–255 (its fastest input). Every answer is checked: the distances
must agree (relative 1e-5) and an index may differ only where the two training images are at
exactly the same distance (a tie). The script exits non-zero otherwise. Prints a table and, last,
``speedup N.Nx vs sklearn brute``. Peak memory of (a) is numpy's traced allocations.

    python bench/replication_search.py [--data fashion|random] [--train 60000] [--samples 10000]
                                       [--copies 500] [--repeats 1] [--threads T] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np

from memlens.generative.replication import memorization_ratio, replication_scores


def make_data(kind: str, n_train: int, n_samples: int, copies: int, seed: int):
    """(training uint8 (N, 784), samples uint8 (B, 784), planted-replica mask (B,))."""
    rng = np.random.default_rng(seed)
    if kind == "fashion":
        import memlens as ml

        data = ml.data.load("fashion-mnist")
        train = np.rint(data.X[:n_train] * 255).astype(np.uint8)
        samples = np.rint(data.X_test[:n_samples] * 255).astype(np.uint8)
    else:
        train = rng.integers(0, 256, (n_train, 784), dtype=np.uint8)
        samples = rng.integers(0, 256, (n_samples, 784), dtype=np.uint8)
    samples = samples.copy()
    copies = min(copies, n_samples // 2)
    rows = rng.choice(n_samples, 2 * copies, replace=False)
    src = rng.choice(n_train, 2 * copies, replace=False)
    samples[rows[:copies]] = train[src[:copies]]  # exact copies
    noisy = train[src[copies:]].astype(np.int16) + rng.integers(-3, 4, (copies, train.shape[1]))
    samples[rows[copies:]] = np.clip(noisy, 0, 255).astype(np.uint8)  # near copies
    planted = np.zeros(n_samples, dtype=bool)
    planted[rows] = True
    return train, samples, planted


def timed(fn, repeats: int):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def check(name, train, samples, ours_idx, ours_sq, their_idx, their_dist) -> int:
    """Count disagreements with (a) that are not exact ties; prints a line per method."""
    their_sq = their_dist.astype(np.float64) ** 2
    dist_ok = np.isclose(their_sq, ours_sq, rtol=1e-5, atol=1e-3)
    # exact squared distance from each sample to the index the other method chose
    s = samples.astype(np.int64)
    exact = np.stack(
        [((s - train[their_idx[:, j]].astype(np.int64)) ** 2).sum(axis=1) for j in range(2)], axis=1
    )
    idx_diff = their_idx != ours_idx
    ties = idx_diff & (exact == ours_sq)
    bad = int((~dist_ok).any(axis=1).sum() + (idx_diff & ~ties).any(axis=1).sum())
    print(
        f"  {name}: {int(idx_diff.any(axis=1).sum())} samples with another index, "
        f"{int(ties.any(axis=1).sum())} of them exact ties; {bad} real disagreements"
    )
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("fashion", "random"), default="fashion")
    p.add_argument("--train", type=int, default=60000)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--copies", type=int, default=500)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit torch, BLAS and OpenMP (scikit-learn) threads",
    )
    p.add_argument(
        "--no-auto", action="store_true", help="skip (c), scikit-learn's default algorithm"
    )
    p.add_argument(
        "--smoke", action="store_true", help="2,000 random training × 300 samples, for the tests"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.data, args.train, args.samples, args.copies, args.repeats = "random", 2000, 300, 20, 1

    from sklearn.neighbors import NearestNeighbors
    from threadpoolctl import threadpool_info, threadpool_limits

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)

    train, samples, planted = make_data(args.data, args.train, args.samples, args.copies, args.seed)
    blas = sorted({f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info()})
    import torch

    print(f"torch threads {torch.get_num_threads()}")
    print(
        f"data {args.data}: {len(train)} training × {len(samples)} samples × {train.shape[1]} values; "
        f"{planted.sum()} planted replicas; threads {blas}"
    )

    tracemalloc.start()
    t_ours, ours = timed(lambda: replication_scores(samples, train), args.repeats)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ours_idx = np.stack([ours.nearest, ours.second], axis=1)
    ours_sq = (np.stack([ours.nearest_distance, ours.second_distance], axis=1) ** 2) * train.shape[
        1
    ]
    ours_sq = np.rint(ours_sq)  # exact integers, up to the sqrt/square round trip
    est = memorization_ratio(ours.replicated)
    recall = ours.replicated[planted].mean()
    print(
        f"memlens: memorization ratio {est.ratio:.4f} [{est.low:.4f}, {est.high:.4f}], "
        f"planted replicas flagged {recall:.3f}, unplanted flagged {ours.replicated[~planted].mean():.4f}"
    )

    train_f, samples_f = train.astype(np.float32), samples.astype(np.float32)
    rows = [("memlens replication_scores", t_ours, f"{peak / 2**20:.0f} MiB traced peak")]
    failures = 0
    for name, kwargs in (("sklearn brute", {"algorithm": "brute"}), ("sklearn default", {})):
        if name == "sklearn default" and args.no_auto:
            continue
        nn = NearestNeighbors(n_neighbors=2, **kwargs).fit(train_f)
        t, (dist, idx) = timed(lambda nn=nn: nn.kneighbors(samples_f), args.repeats)
        rows.append((f"{name} ({nn._fit_method})", t, ""))
        failures += check(name, train, samples, ours_idx, ours_sq, idx, dist)

    print("\n| method | seconds | samples/s | note |\n| --- | --- | --- | --- |")
    for name, t, note in rows:
        print(f"| {name} | {t:.2f} | {len(samples) / t:,.0f} | {note} |")
    speedup = rows[1][1] / rows[0][1]
    if failures:
        print(f"FAILED: {failures} disagreements with scikit-learn", file=sys.stderr)
        return 1
    print(f"speedup {speedup:.1f}x vs sklearn brute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
