"""Shared fixtures: small datasets and one finished run per session."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# `--precision auto` caches its timing per CPU; tests (and the subprocesses they start) keep theirs
# out of the user's ~/.cache
os.environ.setdefault("MEMLENS_CACHE_DIR", tempfile.mkdtemp(prefix="memlens-test-cache-"))


@pytest.fixture(scope="session")
def digits():
    from memlens.data import load

    return load("digits")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """An 8-model audit of 300 digits with planted label noise (a few seconds)."""
    import memlens as ml

    data = ml.data.load("digits:300").plant(ml.data.label_noise(0.05, seed=0))
    design = ml.design.halves(8, data.n_examples, seed=0)
    trainer = ml.train.Ensemble("mlp", width=64, epochs=40)
    return ml.audit(data, design, trainer, tmp_path_factory.mktemp("run") / "r", progress=False)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run ``memlens ARGS…`` through the real entry point; return (exit code, stdout, stderr)."""
    import sys

    from memlens import cli

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["memlens", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        out = capsys.readouterr()
        return exit_info.value.code or 0, out.out, out.err

    return run


@pytest.fixture
def one_torch_thread():
    """Tiny models train many times faster on one torch thread than on two contended cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
