"""The classifier estimates read only the run: its examples table, its gallery, --rescore without data."""

from __future__ import annotations

import numpy as np
import pytest

import memlens as ml
from memlens.classifier_estimates import EXAMPLES, GALLERY, GALLERY_STORED, gallery_ids
from memlens.importing import import_predictions


@pytest.fixture(scope="module")
def python_run(tmp_path_factory):
    """An audit of a Dataset built in Python (no name memlens can load), with label noise planted
    under a seed other than the run's."""
    digits = ml.data.load("digits:200")
    data = ml.data.Dataset("my arrays", digits.X, digits.y, digits.classes, image_shape=(8, 8))
    data = data.plant(ml.data.label_noise(0.1, seed=7))
    design = ml.design.halves(4, data.n_examples, seed=0)
    run = ml.audit(data, design, ml.train.Ensemble("linear", epochs=3), tmp_path_factory.mktemp("py") / "r",
                   progress=False)  # fmt: skip
    return data, run


def test_a_python_dataset_gets_its_examples_table_and_gallery(python_run):
    data, run = python_run
    files = run.store.manifest["files"]
    assert EXAMPLES in files and GALLERY in files  # both checksummed in run.json
    examples = run.store.read_table(EXAMPLES)
    np.testing.assert_array_equal(examples["label"], data.y)
    np.testing.assert_array_equal(examples["original_label"], data.original_y)
    np.testing.assert_array_equal(examples["planted"], data.planted)
    gallery = run.store.read_table(GALLERY)
    ids = gallery_ids(run.scores, GALLERY_STORED)
    np.testing.assert_array_equal(gallery["id"], ids)  # the most memorized, in the page's order
    np.testing.assert_array_equal(np.stack(gallery["values"].to_numpy()), data.X[ids])
    assert set(gallery["kind"]) == {"image"} and list(gallery["shape"].iloc[0]) == [8, 8]
    assert run.config["dataset"]["plant_seeds"] == [7]  # the plant recorded its own seed


def test_the_report_and_rescore_of_a_python_dataset_need_no_dataset(python_run, tmp_path, run_cli):
    import shutil

    _, run = python_run
    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    (copy / "scores.parquet").unlink()
    code, _, err = run_cli("report", copy, "--rescore")
    assert code == 0, err
    assert ml.Run.open(copy).scores.equals(run.scores)
    page = (copy / "report.html").read_text(encoding="utf-8")
    gallery = page[page.index('id="gallery"') : page.index('id="table"')]
    assert gallery.count("<img ") == 24


@pytest.mark.parametrize("kind", ["logits", "losses"])
def test_rescore_of_an_imported_run_rebuilds_the_same_estimates(tmp_path, run_cli, kind):
    rng = np.random.default_rng(0)
    membership = rng.random((6, 80)) < 0.5
    labels = rng.integers(0, 3, 80)
    logits = rng.normal(size=(6, 80, 3)) + 2 * membership[..., None] * (
        np.arange(3) == labels[:, None]
    )
    values = (
        {"logits": logits}
        if kind == "logits"
        else {"losses": rng.exponential(1.0, (6, 80)) * (1 - 0.8 * membership)}
    )
    run = import_predictions(tmp_path / "r", membership=membership, labels=labels, **values)
    before, mia = run.scores, run.mia
    for name in ("scores.parquet", "mia.json"):
        (tmp_path / "r" / name).unlink()
    code, _, err = run_cli(
        "report", tmp_path / "r", "--rescore"
    )  # was: "Unknown dataset 'imported predictions'"
    assert code == 0, err
    again = ml.Run.open(tmp_path / "r")
    assert again.scores.equals(before) and again.mia == mia
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "this run stores no example contents (its predictions were imported)" in page
