"""Smoke versions of the reproductions in experiments/ (the full runs are recorded in REPRODUCTIONS.md)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memlens.data.loaders import fashion_mnist_dir  # noqa: E402


def test_fz_digits_smoke(tmp_path):
    from experiments import fz_digits

    r = fz_digits.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["models"] == 20 and 0 <= r["auroc_flipped"] <= 1 and (tmp_path / "fz_digits.json").exists()
    assert r["auroc_flipped"] > 0.8  # even 20 models find most flipped labels


def test_lira_shadows_smoke(tmp_path):
    from experiments import lira_shadows

    r = lira_shadows.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert [row["shadows"] for row in r["sweep"]] == [2, 4, 8]
    assert all(row["lira-online (global variance)"]["dropped"] == 0 for row in r["sweep"])  # pairs balance


@pytest.mark.skipif(not (fashion_mnist_dir() / "train-images-idx3-ubyte.gz").exists(), reason="no Fashion-MNIST")
def test_fashion_full_smoke(tmp_path):
    from experiments import fashion_full

    r = fashion_full.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["n_examples"] == 2000 and r["test_accuracy"] > 0.5


def test_paired_halves_balances_every_pair_subset():
    import numpy as np
    from experiments.common import paired_halves

    m = paired_halves(8, 50, seed=1).membership
    for k in (2, 4, 8):
        assert (m[:k].sum(axis=0) == k // 2).all()
    assert not np.array_equal(m[0], m[2])


def test_bench_smoke(capsys):
    from bench import ensemble_vs_loop

    ensemble_vs_loop.main(["--models", "4", "--epochs", "2", "--repeats", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("speedup ")


def test_curvature_smoke(tmp_path):
    from experiments import curvature_digits

    r = curvature_digits.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["averaged"]["n_duplicates"] == 40 and 0.5 < r["averaged"]["auroc_flipped"] <= 1


def test_proxies_bench_smoke(capsys, tmp_path):
    from bench import proxies_vs_fz

    proxies_vs_fz.main(["--fz-models", "6", "--epochs", "4", "--curvature-vectors", "1", "--dataset", "digits:200",
                        "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "curvature" in out and "Spearman" in out and out.strip().splitlines()[-1].startswith("curvature ")


def test_diffusion_memorization_smoke(tmp_path, one_torch_thread):
    from experiments import diffusion_memorization

    r = diffusion_memorization.main(["--smoke", "--no-progress", "--out", str(tmp_path)])
    assert r["a_closed_form"]["pass"]  # D* memorizes at every |D|, even on 300 digits
    ratios = r["b_unconditional"]["ratios"]
    assert list(ratios) == [8, 32, 128] and all(0 <= v <= 1 for v in ratios.values())
    c = r["c_conditioning"]
    assert set(c["random_seen_labels_only"]) == {"random:10", "random:100"}
    assert (tmp_path / "diffusion_memorization.json").exists()
