"""Peak memory of each estimator on a run-shaped set of memory-mapped arrays (issue 8, point 7).

Writes what a 1,000-model × 60,000-example run holds (``membership.npy`` bool, ``correct``,
``confidence`` and ``loss`` float32, ``probabilities`` float16 with 10 classes, ``test_correct``
float32 on 2,000 test examples), block by block so this process never holds them, then runs each
estimator in its own fresh process under ``/usr/bin/time -v`` — arrays opened memory-mapped, as
``memlens.Run`` opens them — and prints a table of peak resident memory (Maximum resident set
size: anonymous memory *and* file pages mapped in) and wall-clock seconds. A ``baseline`` row
is the same process importing everything and computing nothing. The target is ≤ 2 GB a row.

The ``memlens report`` row (issue 15, point 3) renders the report of a finished run over the same
arrays: they are written into a run directory by memlens's own store (shards, then the assembled
``observations/*.npy``, every file checksummed), with ``scores.parquet`` and ``mia.json`` from the
audit's own ``write_estimates`` and a gallery of random 28×28 images; then ``memlens report RUN``
runs as a subprocess (it hashes every file of the run, then renders) under ``/usr/bin/time -v``.
Building that run costs the estimates' time (minutes at 4,000 models) and twice the arrays' disk
space while the shards are assembled; ``--only`` without ``report`` skips it.

    python bench/estimator_memory.py [--models 1000] [--examples 60000] [--test 2000]
                                     [--dir DIR] [--keep] [--smoke] [--only NAME ...]

Needs GNU time (``apt-get install time``). ``--dir`` holds the arrays (~1.7 GB at full size, and
the report's run as much again; default: a fresh temporary folder, removed afterwards unless
``--keep``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TIME = "/usr/bin/time"
TARGETS = 8
CLASSES = 10
ESTIMATORS = (
    "baseline",
    "memorization_scores",
    "influence_scores",
    "lira_online",
    "lira_online_fixed_variance",
    "lira_offline",
    "rmia_offline_attack",
    "loss_threshold_attack",
    "audit.example_scores",
    "audit.membership_inference",
    "report",
)
LIMIT_BYTES = 2 * 10**9


def write_run(folder: Path, n_models: int, n_examples: int, n_test: int, seed: int = 0) -> None:
    """Run-shaped arrays on disk, written a block of examples at a time.

    Halves design (every example IN for exactly half the models); phi = a per-example baseline
    plus noise plus a member boost for a vulnerable 10%; loss and correctness follow from phi;
    class probabilities put the phi-implied mass on the label and spread the rest.
    """
    from numpy.lib.format import open_memmap

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shape = (n_models, n_examples)
    membership = open_memmap(folder / "membership.npy", "w+", np.bool_, shape)
    arrays = {
        name: open_memmap(folder / f"{name}.npy", "w+", np.float32, shape)
        for name in ("correct", "confidence", "loss")
    }
    probabilities = open_memmap(folder / "probabilities.npy", "w+", np.float16, (*shape, CLASSES))
    labels = rng.integers(0, CLASSES, n_examples)
    block = 2048
    for start in range(0, n_examples, block):
        cols = slice(start, min(start + block, n_examples))
        width = cols.stop - cols.start
        inside = np.argsort(rng.random((n_models, width)), axis=0) < n_models // 2  # (M, b)
        vulnerable = rng.random(width) < 0.1
        phi = (
            rng.normal(2.0, 2.0, width)
            + rng.normal(size=(n_models, width))
            + 3.0 * vulnerable * inside
        ).astype(np.float32)
        membership[:, cols] = inside
        arrays["confidence"][:, cols] = phi
        arrays["loss"][:, cols] = np.logaddexp(0.0, -phi)  # -log sigmoid(phi)
        arrays["correct"][:, cols] = phi > 0
        p_label = 1.0 / (1.0 + np.exp(-phi))  # (M, b): phi = log p_y - log(1 - p_y)
        prob = rng.random((n_models, width, CLASSES), dtype=np.float32)  # (M, b, C)
        prob[:, np.arange(width), labels[cols]] = 0.0
        prob *= ((1.0 - p_label) / prob.sum(axis=2))[..., None]  # the other classes share 1 - p_y
        prob[:, np.arange(width), labels[cols]] = p_label
        probabilities[:, cols] = prob
    test = open_memmap(folder / "test_correct.npy", "w+", np.float32, (n_models, n_test))
    test[:] = rng.random((n_models, n_test)) < 0.85
    np.save(folder / "labels.npy", labels)
    for a in (membership, probabilities, test, *arrays.values()):
        a.flush()
    del membership, probabilities, test, arrays


def run_one(name: str, folder: Path) -> None:
    """The child process: open the arrays memory-mapped, run one estimator, report its seconds."""
    import functools
    from types import SimpleNamespace

    import pandas  # noqa: F401  (example_scores needs it: every row, baseline too, pays the import)

    from memlens import estimate
    from memlens.audit import example_scores, membership_inference

    def load(stem):
        return np.load(folder / f"{stem}.npy", mmap_mode="r")

    membership = load("membership")
    observations = {n: load(n) for n in ("correct", "confidence", "loss", "probabilities")}
    targets = range(TARGETS)
    start = time.perf_counter()
    if name == "memorization_scores":
        estimate.memorization_scores(membership, observations["correct"])
    elif name == "influence_scores":
        estimate.influence_scores(membership, load("test_correct"))
    elif name in ("lira_online", "lira_offline", "rmia_offline_attack"):
        estimate.attack_in_turn(
            membership, observations["confidence"], getattr(estimate, name), targets=targets
        )
    elif name == "lira_online_fixed_variance":
        attack = functools.partial(estimate.lira_online, fix_variance=True)
        estimate.attack_in_turn(membership, observations["confidence"], attack, targets=targets)
    elif name == "loss_threshold_attack":
        attack = functools.partial(estimate.loss_threshold_attack, observation="loss")
        estimate.attack_in_turn(membership, observations["loss"], attack, targets=targets)
    elif name == "audit.example_scores":
        labels = np.load(folder / "labels.npy")
        n = labels.size
        data = SimpleNamespace(
            y=labels, original_y=labels, planted=np.zeros(n, bool), plant_kind=np.full(n, "")
        )
        run = SimpleNamespace(membership=membership, observations=observations, data=data)
        example_scores(run)
    elif name == "audit.membership_inference":
        membership_inference(membership, observations, n_targets=TARGETS)
    elif name != "baseline":
        raise SystemExit(f"unknown estimator {name!r}")
    print(f"seconds {time.perf_counter() - start:.2f}")


def write_report_run(folder: Path, run_dir: Path, *, shard_models: int = 250) -> None:
    """A finished run directory over the arrays in ``folder``, written by memlens's own store.

    Shards of ``shard_models`` models are cut from the memory-mapped arrays and saved as the
    audit saves them, assembled by ``RunStore.finalize``, then ``write_estimates`` (the audit's
    own) writes ``scores.parquet``, ``mia.json`` and the gallery. 2% of the labels are flipped
    (planted), and the examples are random 28×28 images, so every part of the page is drawn.
    """
    from memlens.audit import Run, write_estimates
    from memlens.data import Dataset, label_noise
    from memlens.store import RunStore

    membership = np.load(folder / "membership.npy")  # (M, N) bool in memory: the store saves and hashes it
    n_models, n_examples = membership.shape
    rng = np.random.default_rng(1)
    images = rng.random((n_examples, 28 * 28), dtype=np.float32)
    labels = np.load(folder / "labels.npy")
    classes = tuple(f"class {c}" for c in range(CLASSES))
    data = Dataset("synthetic", images, labels, classes, images[:100], labels[:100], (28, 28))
    data = data.plant(label_noise(0.02, seed=0))
    config = {
        "dataset": {**data.summary(), "fingerprint": data.fingerprint()},
        "design": {"spec": "halves", "seed": 0, "n_models": n_models},
        "trainer": {"trainer": "ensemble", "model": "mlp", "width": 256, "epochs": 20, "batch_size": 128,
                    "optimizer": "sgd", "lr": 0.003, "note": "synthetic observations (bench/estimator_memory.py)"},
        "seed": 0,
        "shard_size": shard_models,
    }  # fmt: skip
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in ("correct", "confidence", "loss", "probabilities")}
    arrays["test_correct"] = np.load(folder / "test_correct.npy", mmap_mode="r")
    store = RunStore.create_or_resume(run_dir, config, membership)
    try:
        for index, start, stop in store.pending_shards(shard_models):
            store.write_shard(index, start, stop, {n: np.asarray(a[start:stop]) for n, a in arrays.items()}, 0.0)
        store.finalize()
        write_estimates(Run(store.path, store, data), n_targets=TARGETS)
    finally:
        store.release()


def measure(name: str, folder: Path) -> dict:
    """Run one estimator (or ``memlens report``) under /usr/bin/time -v; its peak RSS (bytes) and seconds."""
    if name == "report":
        run_dir = folder / "run"
        if not (run_dir / "mia.json").exists():
            t0 = time.perf_counter()
            write_report_run(folder, run_dir)
            print(f"wrote the run directory {run_dir} (store, shards, estimates) in {time.perf_counter() - t0:.0f} s")
        exe = shutil.which("memlens", path=str(Path(sys.executable).parent)) or "memlens"
        cmd = [TIME, "-v", exe, "report", str(run_dir)]
    else:
        cmd = [TIME, "-v", sys.executable, __file__, "--child", name, "--dir", str(folder)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stdout}\n{done.stderr}")
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    found = re.search(r"seconds ([\d.]+)", done.stdout)
    seconds = float(found.group(1)) if found else wall  # the report: the whole command, hashing included
    if name == "report":
        size = (folder / "run" / "report.html").stat().st_size
        print(f"memlens report: {seconds:.1f} s, report.html {size / 1e6:.1f} MB")
    return {"estimator": name, "peak_rss": rss_kib * 1024, "seconds": seconds}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=60000)
    parser.add_argument("--test", type=int, default=2000, help="test examples for influence")
    parser.add_argument("--dir", type=Path, help="where the arrays go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the arrays (and reuse them)")
    parser.add_argument("--smoke", action="store_true", help="12 models × 2,000 examples")
    parser.add_argument("--only", nargs="*", choices=ESTIMATORS, help="run only these")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_one(args.child, args.dir)
        return []
    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} (GNU time) is needed: apt-get install time")
    if args.smoke:
        args.models, args.examples, args.test = 12, 2000, 50
    folder = args.dir or Path(tempfile.mkdtemp(prefix="memlens-estimator-memory-"))
    try:
        if not (folder / "test_correct.npy").exists():
            t0 = time.perf_counter()
            write_run(folder, args.models, args.examples, args.test)
            print(f"wrote {args.models} × {args.examples} arrays to {folder} "
                  f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        rows = [measure(name, folder) for name in (args.only or ESTIMATORS)]
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    cpu = _cpu_name()
    print(f"\n{args.models} models × {args.examples:,} examples ({args.test:,} test), "
          f"{TARGETS} targets; {cpu}, {os.cpu_count()} cores")  # fmt: skip
    print(f"{'estimator':<30} {'peak RSS':>10} {'seconds':>8}")
    for r in rows:
        flag = "" if r["peak_rss"] <= LIMIT_BYTES else "  > 2 GB"
        label = "memlens report (whole command)" if r["estimator"] == "report" else r["estimator"]
        print(f"{label:<30} {r['peak_rss'] / 1e9:>8.2f} GB {r['seconds']:>8.2f}{flag}")
    worst = max(rows, key=lambda r: r["peak_rss"])
    print(f"largest peak {worst['peak_rss'] / 1e9:.2f} GB ({worst['estimator']})")
    return rows


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
