"""Shared bits of the reproductions: argument parsing and writing results next to the run."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="run directory (resumable); default runs/<experiment>")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="a seconds-long version for the test suite")
    p.add_argument("--no-progress", action="store_true")
    return p


def record(out: Path, name: str, results: dict) -> dict:
    """Print the results as JSON and save them as ``out/<name>.json``."""
    import torch

    results = {**results, "machine": {"cpus": __import__("os").cpu_count(), "torch": torch.__version__,
                                      "python": platform.python_version()},
               "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    text = json.dumps(results, indent=2, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    (out / f"{name}.json").write_text(text + "\n")
    print(text)
    return results


def paired_halves(models: int, n: int, *, seed: int = 0):
    """A halves design of complementary pairs: model 2k+1 trains on exactly what model 2k leaves out.

    Every example is IN for exactly half of any set of whole pairs, so shadow subsets of 2, 4, …
    models are balanced per example — what a LiRA shadow-count sweep needs.
    """
    from memlens import seeds
    from memlens.design import Design

    if models % 2:
        raise ValueError("paired halves needs an even number of models")
    rng = seeds.rng(seed, "design")  # the run seed's design stream, == default_rng([seed, 0xDE5])
    first = rng.random((models // 2, n)) < 0.5
    membership = np.empty((models, n), dtype=bool)
    membership[0::2], membership[1::2] = first, ~first
    return Design("paired-halves", seed, membership)
