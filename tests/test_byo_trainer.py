"""`memlens audit --trainer FILE.py:FUNCTION`: the user's own training code as the shadow-model trainer.

The user's code lives in files under ``tmp_path`` (outside the package), written as a user would.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from cli_assertions import one_paragraph
from memlens import observe
from memlens.errors import RunStoreError

PYTORCH_LOOP = '''
import torch
from torch import nn


def train(X, y, seed):
    torch.manual_seed(seed)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(100):
        for batch in torch.randperm(len(X)).split(128):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
    return model
'''

SKLEARN_FUNCTION = '''
from sklearn.linear_model import LogisticRegression


def train(X, y, seed):
    return LogisticRegression(max_iter=200, random_state=seed).fit(X, y)
'''


@pytest.fixture(autouse=True)
def wide_console_one_thread(monkeypatch, one_torch_thread):
    monkeypatch.setenv("COLUMNS", "400")  # rich never folds a message in these tests


def _user_file(folder: Path, text: str, name: str = "my_training.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"test_user_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module



def test_a_users_pytorch_loop_finds_planted_noise_and_its_logits_import_to_the_same_lira(tmp_path, run_cli):
    user = _user_file(tmp_path / "elsewhere", PYTORCH_LOOP)
    out = tmp_path / "run"
    code, stdout, err = run_cli("audit", "--dataset", "digits", "--plant", "label-noise:0.05", "--trainer",
                                f"{user}:train", "--models", "8", "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "report:" in stdout and (out / "report.html").exists()
    code, shown, err = run_cli("show", out)
    assert code == 0, err
    auroc = float(re.search(r"AUROC of memorization for finding them ([0-9.]+)", shown).group(1))
    assert auroc >= 0.9, shown
    run = ml.Run.open(out)
    assert run.config["trainer"]["function"] == "train" and run.config["trainer"]["source"] == "my_training.py"

    # the same models, trained again by the user's function with the seeds memlens gave them, and
    # observed as memlens observes (Function.batch_size rows at a time): the run's arrays exactly
    import torch

    data = ml.data.load("digits").plant(ml.data.label_noise(0.05, seed=0))
    train = _import(user).train
    seeds = [ml.train.Function.seed_value(s) for s in ml.train.model_seeds(0, 8)]
    step = ml.train.Function(train).batch_size
    logits = []
    for rows, seed in zip(run.membership, seeds, strict=True):
        model = train(data.X[rows], data.y[rows], seed).eval()
        with torch.no_grad():
            logits.append(torch.cat([model(torch.from_numpy(data.X[i : i + step])) for i in range(0, data.n_examples, step)]).numpy())
    logits = np.stack(logits)
    for name, values in observe.from_logits(logits, data.y).items():
        np.testing.assert_array_equal(run.observations[name], values, err_msg=name)

    arrays = tmp_path / "arrays"
    arrays.mkdir()
    np.save(arrays / "logits.npy", logits)
    np.save(arrays / "membership.npy", np.asarray(run.membership))
    np.save(arrays / "labels.npy", data.y)
    code, _, err = run_cli("import", "--membership", arrays / "membership.npy", "--logits", arrays / "logits.npy",
                           "--labels", arrays / "labels.npy", "--out", tmp_path / "imported")  # fmt: skip
    assert code == 0, err
    imported = ml.Run.open(tmp_path / "imported")
    for attack in ("lira-online", "lira-offline"):
        trained, given = run.mia["attacks"][attack], imported.mia["attacks"][attack]
        assert abs(trained["auc"] - given["auc"]) <= 1e-9
        for fpr in ("0.001", "0.01"):
            assert abs(trained["tpr_at_fpr"][fpr] - given["tpr_at_fpr"][fpr]) <= 1e-9
            assert np.allclose(trained["tpr_ci"][fpr], given["tpr_ci"][fpr], rtol=0, atol=1e-9)
    assert trained["auc"] > 0.55  # and the models do leak membership


def _cli(args, *, kill_at: str | None = None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("MEMLENS_KILL_AT", None)
    if kill_at:
        env["MEMLENS_KILL_AT"] = kill_at
    proc = subprocess.run([sys.executable, "-m", "memlens.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def test_a_killed_trainer_audit_resumes_and_an_edited_function_is_refused(tmp_path, run_cli):
    user = _user_file(tmp_path / "code", SKLEARN_FUNCTION)

    def args(out):
        return ["audit", "--dataset", "digits:300", "--trainer", f"{user}:train", "--models", "4",
                "--shard-size", "2", "--targets", "2", "--out", out, "--no-progress"]  # fmt: skip

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert run_cli(*args(clean))[0] == 0
    code, _, err = _cli(args(killed), kill_at="after-shard-0")
    assert code == -9, err
    assert ml.store.RunStore.open(killed, verify=False).manifest["shards"].keys() == {"0"}

    original = user.read_text()
    user.write_text(original + "\n# tuned the regularisation\n")
    code, _, err = run_cli(*args(killed))
    assert code == 2
    one_paragraph(err, r"another configuration", r"trainer\.source_sha256: run has [0-9a-f]{12}…, this command has [0-9a-f]{12}…")
    user.write_text(original)

    code, _, err = run_cli(*args(killed))
    assert code == 0, err
    a, b = ml.Run.open(clean), ml.Run.open(killed)
    assert a.store.observation_names() == b.store.observation_names()
    for name in a.store.observation_names():
        np.testing.assert_array_equal(a.observations[name], b.observations[name])
    assert a.scores.equals(b.scores) and a.mia == b.mia


def test_a_changed_mask_under_the_same_spec_is_refused(tmp_path):
    train = _import(_user_file(tmp_path / "code", SKLEARN_FUNCTION)).train
    data = ml.data.load("digits:120")
    mask = ml.design.halves(4, data.n_examples, seed=0).membership
    out = tmp_path / "run"
    ml.audit(data, ml.design.Design("given", 0, mask), ml.train.Function(train), out, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".lock"}
    other = mask.copy()
    other[:, :2] = ~other[:, :2]  # the same spec and seed, two examples swapped between models
    with pytest.raises(RunStoreError, match="membership mask differs"):
        ml.audit(data, ml.design.Design("given", 0, other), ml.train.Function(train), out, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".lock"} == before


BAD_FUNCTIONS = {
    "missing file": (None, "{missing}:train", r"No Python file at .*nope\.py \(--trainer\)"),
    "not FILE:FUNCTION": ("def train(X, y, seed):\n    pass\n", "{file}", r"is not FILE\.py:FUNCTION or module:function"),
    "missing function": ("def fit(X, y, seed):\n    pass\n", "{file}:train", r"has no 'train' .*Functions it defines: fit\."),
    "not callable": ("train = 3\n", "{file}:train", r"'train' in .* is of type int, not a function"),
    "missing module": (None, "no_such_module_xyz:train", r"No module named 'no_such_module_xyz'"),
    "syntax error": ("def train(X, y, seed)\n    pass\n", "{file}:train", r"syntax error at line 1"),
    "import-time error": ("raise RuntimeError('needs a GPU')\n", "{file}:train", r"Importing .* failed with RuntimeError: needs a GPU"),
    "wrong signature": ("def train(X, y):\n    pass\n", "{file}:train", r"cannot be called as train\(X, y, seed\)"),
    "raises": ("def train(X, y, seed):\n    raise ValueError('boom')\n", "{file}:train",
               r"The training function train raised ValueError: boom \(while training a model on \d+ examples"),
    "returns None": ("def train(X, y, seed):\n    pass\n", "{file}:train", r"is None, not a fitted model.*return model"),
    "returns a string": ("def train(X, y, seed):\n    return 'model.pt'\n", "{file}:train",
                         r"is a builtins\.str, which memlens cannot observe"),
    "wrong output shape": ("import torch\ndef train(X, y, seed):\n    return torch.nn.Linear(64, 3)\n", "{file}:train",
                           r"returned logits of shape \(100, 3\) for 100 examples of 10 classes"),
    "NaN outputs": ("import torch\nclass Broken(torch.nn.Module):\n    def forward(self, x):\n"
                    "        return torch.full((len(x), 10), float('nan'))\n"
                    "def train(X, y, seed):\n    return Broken()\n", "{file}:train",
                    r"returned NaN or infinite logits for 100 of 100 examples"),
    "unfitted estimator": ("from sklearn.linear_model import LogisticRegression\n"
                           "def train(X, y, seed):\n    return LogisticRegression()\n", "{file}:train",
                           r"predict_proba\(X\)\) .* failed with NotFittedError"),
}


@pytest.mark.parametrize("case", list(BAD_FUNCTIONS))
def test_a_bad_training_function_is_refused_with_nothing_written(tmp_path, run_cli, case):
    text, spec, message = BAD_FUNCTIONS[case]
    file = _user_file(tmp_path / "code", text) if text is not None else tmp_path / "code" / "my_training.py"
    out = tmp_path / "run"
    spec = spec.format(file=file, missing=tmp_path / "nope.py")
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "4", "--trainer", spec, "--out", out,
                           "--no-progress")  # fmt: skip
    assert code == 2
    one_paragraph(err, message)
    assert not out.exists()


def test_options_of_memlens_own_models_clash_with_trainer(tmp_path, run_cli):
    user = _user_file(tmp_path / "code", SKLEARN_FUNCTION)
    code, stdout, err = run_cli("audit", "--dataset", "digits:100", "--models", "4", "--trainer", f"{user}:train",
                                "--epochs", "5", "--lr", "0.1", "--out", tmp_path / "run")  # fmt: skip
    assert code == 2 and stdout == ""
    one_paragraph(err, r"--epochs, --lr \(settings of memlens's own models\) do not apply")
    assert not (tmp_path / "run").exists()
