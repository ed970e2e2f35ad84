"""`memlens observe`: already-trained checkpoints plus who saw what become a normal run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from cli_assertions import one_paragraph
from memlens import observe
from memlens.train.checkpoints import natural_key, read_membership

FACTORY = '''
from torch import nn


def make_model():
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def wrong_model():
    return nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))


def not_a_module():
    return "a model"
'''


@pytest.fixture(autouse=True)
def wide_console_one_thread(monkeypatch, one_torch_thread):
    monkeypatch.setenv("COLUMNS", "400")  # rich never folds a message in these tests



def _digits_npz(folder: Path, n: int) -> Path:
    data = ml.data.load(f"digits:{n}")
    path = folder / "digits.npz"
    np.savez(path, X=data.X, y=data.y)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """11 MLPs, each trained by a plain loop on its own half of 300 digits, saved as state_dicts
    named model-0.pt … model-10.pt (so name order and natural order differ), with the mask."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # restored below: tiny models train far faster on one thread
    folder = tmp_path_factory.mktemp("checkpoints")
    (folder / "factory.py").write_text(FACTORY)
    dataset = _digits_npz(folder, 300)
    data = ml.data.load(str(dataset))
    membership = ml.design.halves(11, data.n_examples, seed=3).membership
    factory = _load(folder / "factory.py").make_model
    logits = []
    for i, rows in enumerate(membership):
        torch.manual_seed(i)
        model = factory()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        X, y = torch.from_numpy(data.X[rows]), torch.from_numpy(data.y[rows])
        for _ in range(150):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            optimizer.step()
        torch.save(model.state_dict(), folder / f"model-{i}.pt")
        with torch.no_grad():
            logits.append(model(torch.from_numpy(data.X)).numpy())
    np.save(folder / "membership.npy", membership)
    torch.set_num_threads(threads)
    return folder, dataset, data, membership, np.stack(logits)


def _load(path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"factory_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _observe(run_cli, folder: Path, dataset: Path, membership: Path, out: Path, *extra):
    return run_cli("observe", "--checkpoints", str(folder / "model-*.pt"), "--membership", membership,
                   "--model-factory", f"{folder / 'factory.py'}:make_model", "--dataset", dataset, "--out", out,
                   "--no-progress", *extra)  # fmt: skip


def test_state_dicts_are_observed_in_natural_name_order(saved, tmp_path, run_cli):
    folder, dataset, data, membership, logits = saved
    out = tmp_path / "run"
    code, stdout, err = _observe(run_cli, folder, dataset, folder / "membership.npy", out)
    assert code == 0, err
    assert "sorted by name in natural order" in stdout and "10 ← model-10.pt" in stdout
    run = ml.Run.open(out)
    np.testing.assert_array_equal(run.membership, membership)
    for name, values in observe.from_logits(logits, data.y).items():  # row i is model-i.pt, 10 last
        np.testing.assert_allclose(run.observations[name], values, rtol=1e-6, atol=1e-6, err_msg=name)
    assert list(run.config["trainer"]["checkpoints"])[-2:] == ["model-9.pt", "model-10.pt"]
    assert run.mia["attacks"]["lira-online"]["auc"] > 0.6  # members recognised: rows and files match
    assert (out / "report.html").exists()
    code, shown, err = run_cli("show", out, "--top", "3")
    assert code == 0 and "11 models (11 state_dict checkpoints)" in shown, err
    assert run.store.manifest["devices"] and "device" not in run.config["trainer"]  # recorded, not identity
    code, _, err = _observe(run_cli, folder, dataset, folder / "membership.npy", out, "--device", "cpu")
    assert code == 0, err  # another --device resumes the same run


def test_observing_on_a_missing_gpu_is_refused_before_anything_is_written(saved, tmp_path, run_cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    folder, dataset, *_ = saved
    out = tmp_path / "run"
    code, _, err = _observe(run_cli, folder, dataset, folder / "membership.npy", out, "--device", "cuda")
    assert code == 2 and "--device cuda" in err and not out.exists()


def test_json_and_csv_manifests_give_the_same_mask_as_the_npy(saved, tmp_path):
    folder, _, data, membership, _ = saved
    names = [f"model-{i}.pt" for i in range(11)]
    as_json = tmp_path / "manifest.json"
    # keyed by stem, in scrambled order: matching is by name, not by position
    as_json.write_text(json.dumps({f"model-{i}": np.flatnonzero(membership[i]).tolist() for i in (3, 10, 0, 1, 2, 4, 5, 6, 7, 8, 9)}))
    as_csv = tmp_path / "manifest.csv"
    as_csv.write_text("checkpoint,id\n" + "".join(f"{names[i]},{j}\n" for i in range(11) for j in np.flatnonzero(membership[i])))
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([np.flatnonzero(row).tolist() for row in membership]))
    for manifest in (as_json, as_csv, as_list, folder / "membership.npy"):
        np.testing.assert_array_equal(read_membership(manifest, names, data.n_examples), membership)


def test_a_changed_membership_file_cannot_resume_the_run(saved, tmp_path, run_cli):
    folder, dataset, _, membership, _ = saved
    out = tmp_path / "run"
    assert _observe(run_cli, folder, dataset, folder / "membership.npy", out)[0] == 0
    other = membership.copy()
    other[:, :3] = ~other[:, :3]
    np.save(tmp_path / "other.npy", other)
    code, _, err = _observe(run_cli, folder, dataset, tmp_path / "other.npy", out)
    assert code == 2
    one_paragraph(err, r"membership mask differs")


def test_natural_order_puts_numbers_in_value_order():
    names = ["model-10.pt", "model-9.pt", "model-1.pt", "model-100.pt", "model-2.pt"]
    assert sorted(names, key=natural_key) == ["model-1.pt", "model-2.pt", "model-9.pt", "model-10.pt", "model-100.pt"]


def test_hugging_face_folders_load_without_a_factory(tmp_path, run_cli):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    rng = np.random.default_rng(0)
    X = rng.integers(1, 50, size=(40, 8))
    X[:, -2:] = 0  # padding
    y = rng.integers(0, 3, 40)
    np.savez(tmp_path / "tokens.npz", X=X, y=y)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=3, pad_token_id=0)  # fmt: skip
    logits = []
    for i in range(3):
        torch.manual_seed(i)
        model = BertForSequenceClassification(config).eval()
        model.save_pretrained(tmp_path / "models" / f"bert-{i}")
        with torch.no_grad():
            ids = torch.from_numpy(X)
            logits.append(model(input_ids=ids, attention_mask=(ids != 0).long()).logits.numpy())
    membership = ml.design.halves(3, 40, seed=0).membership
    np.save(tmp_path / "membership.npy", membership)
    code, stdout, err = run_cli("observe", "--checkpoints", str(tmp_path / "models" / "bert-*"), "--membership",
                                tmp_path / "membership.npy", "--dataset", tmp_path / "tokens.npz",
                                "--out", tmp_path / "run", "--no-progress")  # fmt: skip
    assert code == 0, err
    run = ml.Run.open(tmp_path / "run")
    assert run.config["trainer"]["kind"] == "huggingface"
    expected = observe.from_logits(np.stack(logits), y)
    np.testing.assert_allclose(run.observations["confidence"], expected["confidence"], rtol=1e-5, atol=1e-5)


def test_scikit_learn_models_load_from_skops_and_from_pickles_only_when_allowed(tmp_path, run_cli):
    import joblib
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    dataset = _digits_npz(tmp_path, 120)
    data = ml.data.load(str(dataset))
    membership = ml.design.halves(4, data.n_examples, seed=0).membership
    np.save(tmp_path / "membership.npy", membership)
    probabilities = []
    for i, rows in enumerate(membership):
        model = LogisticRegression(max_iter=300).fit(data.X[rows], data.y[rows])
        sio.dump(model, tmp_path / f"lr-{i}.skops")
        joblib.dump(model, tmp_path / f"lr-{i}.joblib")
        full = np.zeros((data.n_examples, data.n_classes))  # a class absent from its rows: probability 0
        full[:, model.classes_] = model.predict_proba(data.X)
        probabilities.append(full)

    def run(pattern, out, *extra):
        return run_cli("observe", "--checkpoints", str(tmp_path / pattern), "--membership", tmp_path / "membership.npy",
                       "--dataset", dataset, "--out", tmp_path / out, "--no-progress", *extra)  # fmt: skip

    code, _, err = run("lr-*.skops", "skops")
    assert code == 0, err
    expected = observe.from_probabilities(np.stack(probabilities), data.y)
    np.testing.assert_allclose(ml.Run.open(tmp_path / "skops").observations["loss"], expected["loss"], rtol=1e-6)

    code, _, err = run("lr-*.joblib", "pickled")
    assert code == 2
    one_paragraph(err, r"is a pickle \(joblib\); loading one runs whatever code it names", r"--allow-pickle")
    assert not (tmp_path / "pickled").exists()
    code, _, err = run("lr-*.joblib", "pickled", "--allow-pickle")
    assert code == 0, err
    np.testing.assert_array_equal(ml.Run.open(tmp_path / "pickled").observations["loss"],
                                  ml.Run.open(tmp_path / "skops").observations["loss"])  # fmt: skip


def test_help_states_the_risk_of_pickles(run_cli):
    code, stdout, _ = run_cli("observe", "--help")
    assert code == 0 and "RISK: unpickling runs whatever code the file names" in " ".join(stdout.split())


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """4 untrained state_dicts of 100 digits, their mask and factory: the base of every bad input."""
    import torch

    folder = tmp_path_factory.mktemp("small")
    (folder / "factory.py").write_text(FACTORY)
    dataset = _digits_npz(folder, 100)
    factory = _load(folder / "factory.py").make_model
    for i in range(4):
        torch.manual_seed(i)
        torch.save(factory().state_dict(), folder / f"model-{i}.pt")
    np.save(folder / "membership.npy", ml.design.halves(4, 100, seed=0).membership)
    return folder, dataset


def _whole_model(folder: Path) -> None:
    import torch

    torch.save(_load(folder / "factory.py").make_model(), folder / "model-1.pt")  # the module, not its weights


BAD_CHECKPOINTS = {
    "no match": (dict(pattern="nothing-*.pt"), r"No checkpoint matches '.*nothing-\*\.pt'.*in quotes"),
    "no factory": (dict(factory=None), r"model-0\.pt is a PyTorch state_dict: memlens needs the module"),
    "missing factory file": (dict(factory="{folder}/absent.py:make_model"), r"No Python file at .*absent\.py \(--model-factory\)"),
    "wrong architecture": (dict(factory="{folder}/factory.py:wrong_model"), r"model-0\.pt does not fit the module wrong_model\(\) builds"),
    "factory returns no module": (dict(factory="{folder}/factory.py:not_a_module"), r"returned a str, not a torch\.nn\.Module"),
    "whole model pickled": (dict(change=_whole_model), r"model-1\.pt holds more than tensors"),
    "mixed kinds": (dict(pattern="model-*", change=lambda f: (f / "model-9.skops").write_bytes(b"")), r"different kinds \(state_dict: model-0\.pt, skops: model-9\.skops\)"),
    "unknown kind": (dict(pattern="model-*", change=lambda f: (f / "model-notes.txt").write_text("hi")), r"model-notes\.txt is not a checkpoint memlens can load"),
    "mask rows": (dict(membership=np.ones((3, 100), bool)), r"model\(s\) \[0, 1, 2\] \(rows\) trained on every example"),
    "mask shape": (dict(membership=ml.design.halves(3, 100).membership), r"has shape \(3, 100\), but there are 4 checkpoints"),
    "mask values": (dict(membership=np.full((4, 100), 2)), r"must hold only True/False \(or 0/1\); it also holds \[2\]"),
    "unknown name": (dict(manifest={"model-0.pt": [1], "model-1.pt": [2], "model-2.pt": [3], "model-3.pt": [4], "model-7.pt": [5]}),
                     r"names 1 checkpoint\(s\) that --checkpoints did not match .*: model-7\.pt"),
    "checkpoint left out": (dict(manifest={"model-0.pt": [1], "model-1.pt": [2], "model-2.pt": [3]}), r"says nothing about 1 checkpoint\(s\), e\.g\. model-3\.pt"),
    "ids out of range": (dict(manifest={f"model-{i}.pt": [i, 100 + i] for i in range(4)}), r"not example ids 0…99 .*\(e\.g\. \[100\]\)"),
    "bad --targets": (dict(extra=["--targets", "0"]), r"--targets \(models attacked in turn\) must be at least 1; got 0"),
}


@pytest.mark.parametrize("case", list(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_refused_with_nothing_written(small, tmp_path, run_cli, case):
    base, dataset = small
    setup, message = BAD_CHECKPOINTS[case]
    folder = tmp_path / "checkpoints"
    shutil.copytree(base, folder)
    if "change" in setup:
        setup["change"](folder)
    membership = folder / "membership.npy"
    if "membership" in setup:
        np.save(membership, setup["membership"])
    if "manifest" in setup:
        membership = folder / "manifest.json"
        membership.write_text(json.dumps(setup["manifest"]))
    factory = setup.get("factory", "{folder}/factory.py:make_model")
    out = tmp_path / "run"
    args = ["observe", "--checkpoints", str(folder / setup.get("pattern", "model-*.pt")), "--membership", membership,
            "--dataset", dataset, "--out", out, "--no-progress", *setup.get("extra", [])]  # fmt: skip
    if factory:
        args += ["--model-factory", factory.format(folder=folder)]
    code, _, err = run_cli(*args)
    assert code == 2
    one_paragraph(err, message)
    assert not out.exists()


def test_a_factory_file_is_reported_in_the_config(small, tmp_path, run_cli):
    folder, dataset = small
    code, _, err = run_cli("observe", "--checkpoints", str(folder / "model-*.pt"), "--membership", folder / "membership.npy",
                           "--model-factory", f"{folder}/factory.py:make_model", "--dataset", dataset,
                           "--out", tmp_path / "run", "--no-progress", "--targets", "2")  # fmt: skip
    assert code == 0, err
    trainer = ml.Run.open(tmp_path / "run").config["trainer"]
    assert trainer["factory"]["function"] == "make_model" and trainer["factory"]["source"] == "factory.py"
    assert len(trainer["checkpoints"]) == 4


def test_a_checkpoints_trainer_with_a_factory_file_pickles_by_where_it_came_from(small):
    import pickle

    from memlens.train.checkpoints import Checkpoints, find_checkpoints
    from memlens.train.function import load_callable

    folder, _ = small
    spec = f"{folder}/factory.py:make_model"
    trainer = Checkpoints(find_checkpoints(str(folder / "model-*.pt")), np.load(folder / "membership.npy"),
                          factory=load_callable(spec), factory_spec=spec)  # fmt: skip
    copy = pickle.loads(pickle.dumps(trainer))
    assert copy.config() == trainer.config() and copy.kind == "state_dict"
