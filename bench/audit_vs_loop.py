"""The whole ``memlens audit`` against a plain PyTorch loop that only trains the same models.

The recipe users compare memlens with a hand-written LiRA on: 64 MLPs (64-256-10) on LiRA halves
of scikit-learn's digits, SGD (momentum 0.9), 20 epochs, memlens's default batch size and learning
rate. (a) the plain loop of :mod:`bench.ensemble_vs_loop` trains the 64 models one after another
and takes their outputs (no estimates, no report); (b) ``memlens audit`` runs as a subprocess,
everything included: interpreter and CLI start, data, training, estimates, ``report.html``.
Each side is timed best of ``--repeats``. Then one more audit runs in a timing harness that splits
its wall time into interpreter start, CLI import, setup (options, data, design, precision),
training, estimates and report. The last line is ``ratio audit/loop R`` (issue 15 asks ≤ 0.2).

    python bench/audit_vs_loop.py [--models 64] [--epochs 20] [--repeats 3] [--dataset digits]
                                  [--precision auto] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the timed child: wraps the audit's stages in timers and prints them as JSON.
_HARNESS = r"""
import json, os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as memlens.cli.main sets it, before torch loads
clock = lambda: (time.perf_counter(), time.process_time())
t_start = clock()
import memlens.cli as cli
t_import = clock()
import memlens.audit, memlens.report
audit_module, report_module = sys.modules["memlens.audit"], sys.modules["memlens.report"]
stages = {}

def timed(owner, name, key):
    inner = getattr(owner, name)
    def wrapper(*a, **k):
        t = clock()
        try:
            return inner(*a, **k)
        finally:
            u = clock()
            old = stages.get(key, (0.0, 0.0))
            stages[key] = (old[0] + u[0] - t[0], old[1] + u[1] - t[1])
    setattr(owner, name, wrapper)

timed(audit_module, "run_design", "train+estimates")
timed(audit_module, "write_estimates", "estimates")
timed(report_module, "write_report", "report")
sys.argv = ["memlens", *sys.argv[1:]]
try:
    cli.main()
except SystemExit as e:
    if e.code:
        raise
t_end = clock()
stages["import"] = (t_import[0] - t_start[0], t_import[1] - t_start[1])
stages["after import"] = (t_end[0] - t_import[0], t_end[1] - t_import[1])
print("MEMLENS_STAGES " + json.dumps(stages))
"""


def audit_command(out: Path, *, dataset: str, models: int, epochs: int, precision: str) -> list[str]:
    """The ``memlens audit`` command line of the recipe (CLI defaults for batch size and lr)."""
    exe = shutil.which("memlens", path=str(Path(sys.executable).parent)) or shutil.which("memlens")
    if exe is None:
        raise SystemExit("memlens is not installed in this environment (pip install -e .)")
    return [exe, "audit", "--dataset", dataset, "--out", str(out), "--models", str(models), "--design", "halves",
            "--model", "mlp", "--width", "256", "--optimizer", "sgd", "--epochs", str(epochs),
            "--precision", precision, "--no-progress"]  # fmt: skip


def time_audit(workdir: Path, tag: str, **recipe) -> float:
    """Wall seconds of one whole ``memlens audit`` subprocess into a fresh run directory."""
    out = workdir / tag
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(audit_command(out, **recipe), check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t
    if not (out / "report.html").is_file():
        raise SystemExit(f"the audit wrote no report in {out}")
    return elapsed


def audit_breakdown(workdir: Path, **recipe) -> dict:
    """One more audit, run through :data:`_HARNESS`: (wall, CPU) seconds per stage and in all."""
    out = workdir / "breakdown"
    shutil.rmtree(out, ignore_errors=True)
    args = audit_command(out, **recipe)[1:]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - t
    before = os.times()
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _HARNESS, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = os.times()
    if done.returncode:
        raise SystemExit(f"the timed audit failed:\n{done.stderr[-3000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    line = next(x for x in done.stdout.splitlines() if x.startswith("MEMLENS_STAGES "))
    stages = {k: tuple(v) for k, v in json.loads(line.split(" ", 1)[1]).items()}
    manifest = json.loads((out / "run.json").read_text())
    zero = (0.0, 0.0)

    def minus(a, *bs):
        return tuple(a[i] - sum(b[i] for b in bs) for i in range(2))

    measured = stages["import"][0] + stages["after import"][0]
    return {
        "the whole audit": (wall, cpu),
        "interpreter start (python -c pass)": (interpreter, float("nan")),
        "CLI import (memlens.cli)": stages["import"],
        "setup (options, data, design, precision, torch)": minus(
            stages["after import"], stages["train+estimates"], stages.get("report", zero)),
        "training (engine: train, observe, store)": minus(stages["train+estimates"], stages.get("estimates", zero)),
        "  of which shard training (run.json)": (float(manifest.get("training_seconds", float("nan"))), float("nan")),
        "estimates (scores.parquet, mia.json, gallery)": stages.get("estimates", zero),
        "report (report.html)": stages.get("report", zero),
        "interpreter start and exit": (wall - measured, float("nan")),
    }  # fmt: skip


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=64)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--precision", default="auto", help="the audit's --precision (the plain loop is float32)")
    p.add_argument("--repeats", type=int, default=3, help="time each side this often; report the best")
    p.add_argument("--keep", type=Path, default=None, help="write the audits' run directories here (kept)")
    a = p.parse_args(argv)

    import numpy as np
    import torch

    from bench.ensemble_vs_loop import plain_loop
    from memlens.data import load
    from memlens.design import halves

    batch_size, lr, width = 128, 3e-3, 256  # memlens audit's defaults (`memlens audit --help`)
    data = load(a.dataset)
    membership = halves(a.models, data.n_examples, seed=0).membership
    print(f"{a.models} MLPs ({data.X.shape[1]}-{width}-{data.n_classes}) on LiRA halves of {a.dataset}, SGD "
          f"(momentum 0.9), {a.epochs} epochs, batch {batch_size}, lr {lr:g}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}", flush=True)

    loop_times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        accs = plain_loop(data, membership, width=width, epochs=a.epochs, batch_size=batch_size, lr=lr, seed=0,
                          optimizer="sgd")  # fmt: skip
        loop_times.append(time.perf_counter() - t)
    t_loop = min(loop_times)
    print(f"plain loop (train + outputs only, float32) : {t_loop:6.2f} s   mean held-out accuracy "
          f"{float(np.mean(accs)):.4f}   (runs: {', '.join(f'{t:.2f}' for t in loop_times)})", flush=True)

    recipe = {"dataset": a.dataset, "models": a.models, "epochs": a.epochs, "precision": a.precision}
    with tempfile.TemporaryDirectory(prefix="memlens-audit-vs-loop-") as tmp:
        workdir = a.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        audit_times = [time_audit(workdir, f"run{i}", **recipe) for i in range(a.repeats)]
        t_audit = min(audit_times)
        mia = json.loads((workdir / "run0" / "mia.json").read_text())
        test_acc = float(np.load(workdir / "run0" / "observations" / "test_correct.npy").mean())
        print(f"memlens audit (everything, subprocess)     : {t_audit:6.2f} s   mean held-out accuracy {test_acc:.4f}"
              f"   lira-online AUC {mia['attacks'].get('lira-online', {}).get('auc', float('nan')):.3f}"
              f"   (runs: {', '.join(f'{t:.2f}' for t in audit_times)})", flush=True)
        parts = audit_breakdown(workdir, **recipe)
    print("one more audit, split by stage (timing harness; CPU: this process's user + system seconds):")
    for name, (seconds, cpu) in parts.items():
        print(f"  {name:<50} {seconds:6.2f} s wall   {cpu:6.2f} s CPU".replace("   nan s CPU", ""))
    print(f"ratio audit/loop {t_audit / t_loop:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # `python bench/audit_vs_loop.py` from anywhere: bench.* importable
    main()
