"""Fixtures for the report tests: small finished runs (one per session) and a headless Chromium.

Chromium is driven over the DevTools pipe by :mod:`memlens.report.browser` (standard library
only). Its flags are ``memlens.report.browser.FLAGS``: ``--headless --no-sandbox --disable-gpu
--disable-background-networking`` and a few that keep it quiet. Set ``MEMLENS_CHROMIUM`` to use
another binary; without one the ``browser`` tests are skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from memlens.report.browser import Browser, chromium_path

HOSTILE = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "\"quotes' & ampersands",
)


def _audit(data, models: int, out: Path, **trainer_options):
    import memlens as ml

    design = ml.design.halves(models, data.n_examples, seed=0)
    trainer = ml.train.Ensemble(**{"model": "mlp", "width": 64, "epochs": 20, **trainer_options})
    return ml.audit(data, design, trainer, out, progress=False)


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """8 MLPs on 400 digits with label noise and conflicting duplicates planted (a few seconds)."""
    import memlens as ml

    data = ml.data.load("digits:400")
    data = data.plant(ml.data.label_noise(0.05, seed=0)).plant(ml.data.duplicates(10, seed=0))
    run = _audit(data, 8, tmp_path_factory.mktemp("digits") / "run")
    from memlens.report import write_report

    write_report(run)
    return run


@pytest.fixture(scope="session")
def hostile_run(tmp_path_factory):
    """A run whose dataset path and class names are script and markup."""
    import memlens as ml

    # the path itself: directories named after the hostile strings ("</script>" spans two of them)
    folder = (
        tmp_path_factory.mktemp("hostile") / HOSTILE[1] / HOSTILE[2] / "<script>window.__pwned=1<"
    )
    folder.mkdir(parents=True)
    path = folder / "script>.npz"
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    X = rng.random((150, 64)) * 0.3 + np.eye(3)[y].repeat(22, axis=1)[:, :64] * 0.7  # 8×8 "images"
    np.savez(path, X=X, y=y, class_names=np.array(HOSTILE))
    data = ml.data.load(str(path))
    assert data.classes == HOSTILE and "<script>window.__pwned=1</script>" in data.name
    run = _audit(data, 4, tmp_path_factory.mktemp("hostile-run") / "run", model="linear", epochs=10)
    from memlens.report import write_report

    write_report(run)
    return run


def _copy_run(run, dest: Path) -> Path:
    """A copy of a run directory, to alter its tables without touching the session's run."""
    shutil.copytree(run.path, dest)
    (dest / "report.html").unlink(missing_ok=True)
    return dest


def _enlarge_scores(run, dest: Path, n: int = 60_000, seed: int = 0) -> Path:
    """A copy of ``run`` whose scores.parquet has ``n`` synthetic rows (the report path is real)."""
    import pandas as pd

    dest = _copy_run(run, dest)
    rng = np.random.default_rng(seed)
    small = run.scores
    frame = small.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    frame["id"] = np.arange(n)
    frame["memorization"] = np.clip(frame["memorization"] + rng.normal(0, 0.05, n), -1, 1)
    frame["confidence_in"] = frame["confidence_in"] + rng.normal(0, 0.5, n)
    from memlens.store import RunStore

    store = RunStore.open(dest)  # written through the store, so the checksums stay right
    store.save_table("scores.parquet", frame)
    store.manifest["config"]["dataset"]["n_examples"] = n
    store.save_manifest()
    assert len(pd.read_parquet(dest / "scores.parquet")) == n
    return dest


@pytest.fixture(scope="session")
def hostile():
    """The strings planted in the hostile run's path and class names."""
    return HOSTILE


@pytest.fixture(scope="session")
def copy_run():
    """``copy_run(run, dest)``: copy a run directory (without its report) to alter it."""
    return _copy_run


@pytest.fixture(scope="session")
def enlarge_scores():
    """``enlarge_scores(run, dest, n=60_000)``: a copy of the run with ``n`` synthetic score rows."""
    return _enlarge_scores


@pytest.fixture(scope="session")
def browser():
    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    with Browser() as b:
        yield b


@pytest.fixture
def page(browser):
    """A fresh tab, 1280×900, closed after the test."""
    p = browser.page(width=1280, height=900)
    yield p
    p.close()
