"""`memlens import`: a run from arrays computed anywhere; every estimate, `show` and the report work."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from cli_assertions import one_paragraph
from memlens import estimate
from memlens.errors import MemlensError
from memlens.importing import import_predictions


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich never folds a message in these tests



def unrelated_script(folder: Path, *, models: int = 16, n: int = 400, classes: int = 5, seed: int = 0) -> dict:
    """What someone's own evaluation code might save: a mask, logits and labels, numpy only.
    Members get a boost on their label's logit, larger for 'hard' examples (memorized)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    membership = rng.random((models, n)) < 0.5
    hardness = rng.exponential(1.0, n)
    logits = rng.normal(size=(models, n, classes))
    logits[:, np.arange(n), labels] += 2.0 - hardness + 1.5 * hardness * membership
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "membership.npy", membership)
    np.save(folder / "logits.npy", logits.astype(np.float32))
    np.save(folder / "labels.npy", labels)
    return {"membership": membership, "logits": logits.astype(np.float32), "labels": labels}


def _phi(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's φ = log p_y − log Σ_{y'≠y} p_{y'} straight from its definition, stored as float32."""
    z = logits.astype(np.float64)
    true = np.take_along_axis(z, np.broadcast_to(labels[None, :, None], (*z.shape[:2], 1)), axis=2)[..., 0]
    others = np.where(np.arange(z.shape[2])[None, None, :] == labels[None, :, None], -np.inf, z)
    top = others.max(axis=2)
    return (true - top - np.log(np.exp(others - top[..., None]).sum(axis=2))).astype(np.float32)


def _recomputed(membership, observations, attack, targets) -> dict:
    labels, scores = estimate.attack_in_turn_per_target(membership, observations, attack, targets=targets)
    scored = ~np.isnan(scores)
    fpr, tpr, _ = estimate.roc_curve(labels[scored], scores[scored])
    return {"auc": estimate.auc(fpr, tpr), "tpr_at_fpr": {k: estimate.tpr_at_fpr(fpr, tpr, float(k)) for k in ("0.001", "0.01")}}


def test_an_import_gives_the_lira_numbers_recomputed_from_the_arrays_and_renders(tmp_path, run_cli):
    arrays = unrelated_script(tmp_path / "arrays")
    out = tmp_path / "run"
    code, stdout, err = run_cli("import", "--membership", tmp_path / "arrays/membership.npy", "--logits",
                                tmp_path / "arrays/logits.npy", "--labels", tmp_path / "arrays/labels.npy", "--out", out)  # fmt: skip
    assert code == 0, err
    assert "16 models × 400 examples" in stdout and "lira-online" in stdout
    run = ml.Run.open(out)
    phi = _phi(arrays["logits"], arrays["labels"])
    np.testing.assert_allclose(run.observations["confidence"], phi, rtol=1e-6, atol=1e-6)
    mia = json.loads((out / "mia.json").read_text())
    assert mia["targets"] == list(range(8)) and mia["fix_variance"] is True  # 15 shadows < 64
    for name, attack in (("lira-online", estimate.lira_online), ("lira-offline", estimate.lira_offline)):
        expected = _recomputed(arrays["membership"], phi, functools.partial(attack, fix_variance=True), range(8))
        assert abs(mia["attacks"][name]["auc"] - expected["auc"]) <= 1e-9
        for fpr, tpr in expected["tpr_at_fpr"].items():
            assert abs(mia["attacks"][name]["tpr_at_fpr"][fpr] - tpr) <= 1e-9
    assert mia["attacks"]["lira-online"]["auc"] > 0.6  # the planted membership signal is found

    page = (out / "report.html").read_text()
    assert "The examples cannot be shown" in page and "lira-online" in page
    assert f"{mia['attacks']['lira-online']['auc']:.3f}" in page
    assert run_cli("report", out)[0] == 0
    code, shown, err = run_cli("show", out, "--top", "5")
    assert code == 0 and "imported logits" in shown and "top 5 by memorization" in shown, err
    scores = run.scores
    mem = estimate.memorization_scores(arrays["membership"], (arrays["logits"].argmax(axis=2) == arrays["labels"]).astype(np.float32))
    np.testing.assert_allclose(scores["memorization"], mem.memorization, equal_nan=True)


def test_npz_parquet_and_probabilities_give_the_same_run(tmp_path):
    import pandas as pd

    arrays = unrelated_script(tmp_path / "arrays", models=4, n=60, classes=3)
    reference = import_predictions(tmp_path / "npy", membership=arrays["membership"], labels=arrays["labels"],
                                   logits=arrays["logits"])  # fmt: skip

    np.savez(tmp_path / "all.npz", **arrays)  # one archive, arrays found by name
    npz = {k: ml.importing.read_array(tmp_path / "all.npz", flag=f"--{k}") for k in ("membership", "logits", "labels")}
    models, ids = np.meshgrid(np.arange(4), np.arange(60), indexing="ij")
    long = pd.DataFrame({"model": models.ravel(), "id": ids.ravel()}).sample(frac=1, random_state=0)  # any row order
    long["member"] = arrays["membership"][long["model"], long["id"]]
    long["logits"] = list(arrays["logits"][long["model"], long["id"]])
    long[["model", "id", "member"]].to_parquet(tmp_path / "membership.parquet")
    long[["model", "id", "logits"]].to_parquet(tmp_path / "logits.parquet")
    pd.DataFrame({"id": np.arange(60)[::-1], "label": arrays["labels"][::-1]}).to_parquet(tmp_path / "labels.parquet")
    parquet = {k: ml.importing.read_array(tmp_path / f"{k}.parquet", flag=f"--{k}") for k in ("membership", "logits", "labels")}
    for loaded in (npz, parquet):
        for k in loaded:
            np.testing.assert_array_equal(loaded[k], arrays[k], err_msg=k)

    z = arrays["logits"].astype(np.float64)
    probs = np.exp(z - z.max(axis=2, keepdims=True))
    probs /= probs.sum(axis=2, keepdims=True)
    from_probs = import_predictions(tmp_path / "probs", membership=arrays["membership"], labels=arrays["labels"],
                                    probabilities=probs)  # fmt: skip
    for name in ("correct", "loss", "confidence"):
        np.testing.assert_allclose(from_probs.observations[name], reference.observations[name], rtol=1e-5, atol=1e-5)


def test_losses_only_run_the_loss_attack_and_lira_on_minus_loss(tmp_path, run_cli):
    arrays = unrelated_script(tmp_path / "arrays")
    z = arrays["logits"].astype(np.float64)
    log_p = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
    loss = -np.take_along_axis(log_p, np.broadcast_to(arrays["labels"][None, :, None], (*z.shape[:2], 1)), 2)[..., 0]
    np.save(tmp_path / "losses.npy", loss)
    out = tmp_path / "run"
    code, stdout, err = run_cli("import", "--membership", tmp_path / "arrays/membership.npy", "--losses",
                                tmp_path / "losses.npy", "--labels", tmp_path / "arrays/labels.npy", "--out", out)  # fmt: skip
    assert code == 0, err
    assert "LiRA (online and offline) ran on -loss" in " ".join(stdout.split())
    run = ml.Run.open(out)
    assert run.store.observation_names() == ["loss"]
    mia = run.mia
    assert set(mia["attacks"]) == {"lira-online", "lira-offline", "loss"} and "RMIA" in mia["observations"]
    neg_loss = -loss.astype(np.float32)
    expected = _recomputed(arrays["membership"], neg_loss, functools.partial(estimate.lira_online, fix_variance=True), range(8))
    assert abs(mia["attacks"]["lira-online"]["auc"] - expected["auc"]) <= 1e-9
    assert mia["attacks"]["lira-online"]["observation"] == "-loss"
    expected = _recomputed(arrays["membership"], loss.astype(np.float32),
                           functools.partial(estimate.loss_threshold_attack, observation="loss"), range(8))  # fmt: skip
    assert abs(mia["attacks"]["loss"]["auc"] - expected["auc"]) <= 1e-9
    mem = estimate.memorization_scores(arrays["membership"], np.exp(-loss.astype(np.float32).astype(np.float64)))
    np.testing.assert_allclose(run.scores["memorization"], mem.memorization, equal_nan=True)
    assert run_cli("show", out)[0] == 0 and run_cli("report", out)[0] == 0


def test_the_same_import_again_is_accepted_and_other_arrays_are_refused(tmp_path, run_cli):
    unrelated_script(tmp_path / "a", models=4, n=50)
    unrelated_script(tmp_path / "b", models=4, n=50, seed=1)

    def run(folder):
        return run_cli("import", "--membership", tmp_path / "a/membership.npy", "--logits", tmp_path / folder / "logits.npy",
                       "--labels", tmp_path / "a/labels.npy", "--out", tmp_path / "run")  # fmt: skip

    assert run("a")[0] == 0
    mia = ml.Run.open(tmp_path / "run").mia
    assert run("a")[0] == 0 and ml.Run.open(tmp_path / "run").mia == mia
    code, _, err = run("b")
    assert code == 2
    one_paragraph(err, r"another configuration", r"trainer\.sha256")


GOOD = dict(membership=np.tile([True, False], (4, 15)), labels=np.arange(30) % 3)
GOOD["membership"][1] = ~GOOD["membership"][1]
LOGITS = np.random.default_rng(0).normal(size=(4, 30, 3))


def _probs(**change):
    p = np.full((4, 30, 3), 1 / 3)
    for where, value in change.items():
        p[tuple(map(int, where.split("_")))] = value
    return p


BAD_IMPORTS = {
    "membership 1-D": (dict(membership=np.ones(30, bool)), r"must be a \(models, examples\) array .*shape \(30,\)"),
    "membership values": (dict(membership=np.full((4, 30), 3)), r"must hold only True/False \(or 0/1\); it also holds \[3\]"),
    "membership strings": (dict(membership=np.full((4, 30), "x")), r"must hold True/False \(or 0/1\); got dtype <U1"),
    "a model trained on all": (dict(membership=np.vstack([np.ones((1, 30), bool), GOOD["membership"][1:]])),
                              r"model\(s\) \[0\] \(rows\) trained on every example.*transposed"),
    "a model trained on none": (dict(membership=np.vstack([GOOD["membership"][:3], np.zeros((1, 30), bool)])),
                               r"model\(s\) \[3\] \(rows\) trained on no example"),
    "logits of other models": (dict(logits=LOGITS[:3]), r"has shape \(3, 30, 3\); logits must be \(models, examples, classes\), with the 4 models and 30 examples"),
    "logits without classes": (dict(logits=LOGITS[..., 0]), r"has shape \(4, 30\); logits must be \(models, examples, classes\)"),
    "one class": (dict(logits=LOGITS[..., :1]), r"has 1 class\(es\)"),
    "NaN logits": (dict(logits=np.where(np.arange(30)[None, :, None] == 5, np.nan, LOGITS)), r"NaN or infinite value\(s\) \(the first at model 0, example 5\)"),
    "infinite probabilities": (dict(logits=None, probs=_probs(**{"2_7_0": np.inf})), r"NaN or infinite value\(s\) \(the first at model 2, example 7\)"),
    "probabilities not summing to 1": (dict(logits=None, probs=_probs(**{"1_3_0": 0.5})), r"1 row\(s\) of class probabilities that do not sum to 1 \(one sums to 1\.16667"),
    "negative probabilities": (dict(logits=None, probs=_probs(**{"0_0_0": -0.2, "0_0_1": 0.8})), r"outside \[0, 1\].*Were they logits"),
    "complex logits": (dict(logits=LOGITS.astype(np.complex128)), r"must hold real numbers; got dtype complex128"),
    "object logits": (dict(logits=LOGITS.astype(object)), r"holds Python objects, not numbers"),
    "labels out of range": (dict(labels=np.arange(30) % 4), r"must lie in \[0, 3\) .* 7 do not \(e\.g\. \[3\]\)"),
    "fractional labels": (dict(labels=np.arange(30) / 2), r"whole numbers 0\.\.C-1; 15 are NaN, infinite or fractional"),
    "labels of other examples": (dict(labels=np.arange(29) % 3), r"one label per example, shape \(30,\); got shape \(29,\)"),
    "negative losses": (dict(logits=None, losses=-np.ones((4, 30))), r"negative losses .*negate them"),
    "no predictions": (dict(logits=None), r"exactly one of --logits, --probs or --losses .*got none"),
    "two predictions": (dict(losses=np.ones((4, 30))), r"exactly one of .*got --logits, --losses"),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_bad_arrays_are_refused_with_nothing_written(tmp_path, run_cli, case):
    change, message = BAD_IMPORTS[case]
    arrays = {**GOOD, "logits": LOGITS, **change}
    args = ["import", "--out", tmp_path / "run"]
    for key, flag in (("membership", "--membership"), ("labels", "--labels"), ("logits", "--logits"),
                      ("probs", "--probs"), ("losses", "--losses")):  # fmt: skip
        if arrays.get(key) is not None:
            np.save(tmp_path / f"{key}.npy", arrays[key], allow_pickle=True)
            args += [flag, tmp_path / f"{key}.npy"]
    code, stdout, err = run_cli(*args)
    assert code == 2 and stdout == ""
    one_paragraph(err, message)
    assert not (tmp_path / "run").exists()


def _write(path: Path, content) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content(path)
    return path


BAD_FILES = {
    "missing file": (None, r"No file at .*logits\.npy \(--logits\)"),
    "damaged .npy": (b"\x93NUMPY garbage", r"logits\.npy \(--logits\) is not a readable \.npy file"),
    "npz without logits": (lambda p: np.savez(p, a=LOGITS, b=LOGITS), r"holds the arrays a, b; memlens looks for logits"),
    "a CSV": (b"1,2,3\n", r"memlens reads \.npy, \.npz and \.parquet files; got a '\.csv' extension"),
    "parquet without ids": (lambda p: __import__("pandas").DataFrame({"logit": [1.0]}).to_parquet(p),
                            r"has the columns logit; a Parquet input needs integer columns model and id"),
    "parquet with repeats": (lambda p: __import__("pandas").DataFrame({"model": [0, 0], "id": [0, 0], "v": [[1.0, 2.0]] * 2}).to_parquet(p),
                             r"has 2 rows, but every \(model, id\) pair of its 1 × 1 must appear exactly once"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_files_are_refused_with_nothing_written(tmp_path, run_cli, case):
    content, message = BAD_FILES[case]
    np.save(tmp_path / "membership.npy", GOOD["membership"])
    np.save(tmp_path / "labels.npy", GOOD["labels"])
    suffix = {"npz without logits": ".npz", "a CSV": ".csv", "parquet without ids": ".parquet",
              "parquet with repeats": ".parquet"}.get(case, ".npy")  # fmt: skip
    logits = tmp_path / f"logits{suffix}"
    if content is not None:
        _write(logits, content)
    code, _, err = run_cli("import", "--membership", tmp_path / "membership.npy", "--labels", tmp_path / "labels.npy",
                           "--logits", logits, "--out", tmp_path / "run")  # fmt: skip
    assert code == 2
    one_paragraph(err, message)
    assert not (tmp_path / "run").exists()


def test_the_python_api_checks_the_same_things(tmp_path):
    with pytest.raises(MemlensError, match=r"exactly one of logits"):
        import_predictions(tmp_path / "r", membership=GOOD["membership"], labels=GOOD["labels"])
    with pytest.raises(MemlensError, match=r"shard_size must be a whole number"):
        import_predictions(tmp_path / "r", membership=GOOD["membership"], labels=GOOD["labels"], logits=LOGITS, shard_size=0)
    assert not (tmp_path / "r").exists()


@pytest.mark.browser
def test_imported_reports_render_in_a_browser_without_errors(tmp_path):
    """Both kinds of import (logits; losses only) draw their page: verdict, plots, the note that
    stands in for the gallery, and the table, with no script error."""
    from memlens.report import write_report
    from memlens.report.browser import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    arrays = unrelated_script(tmp_path / "arrays", models=8, n=200)
    z = arrays["logits"].astype(np.float64)
    loss = np.log(np.exp(z).sum(axis=2)) - np.take_along_axis(z, arrays["labels"][None, :, None].repeat(8, 0), 2)[..., 0]
    runs = [
        import_predictions(tmp_path / "logits", membership=arrays["membership"], labels=arrays["labels"], logits=z),
        import_predictions(tmp_path / "losses", membership=arrays["membership"], labels=arrays["labels"], losses=loss),
    ]
    with Browser() as browser:
        for run in runs:
            page = browser.page(width=1280, height=900)
            page.open(write_report(ml.Run.open(run.path)), ready="document.body && document.body.hasAttribute('data-ready')")
            assert "The examples cannot be shown" in page.eval("document.getElementById('gallery').textContent")
            assert "Members found at 1% FPR" in page.eval("document.getElementById('verdict').textContent")
            assert page.eval("document.querySelectorAll('#scores-table tbody tr').length") == 100
            assert page.errors() == []
            page.close()
