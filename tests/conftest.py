"""Shared fixtures: small datasets and one finished run per session."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path
