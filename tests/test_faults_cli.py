"""Fault injection at the command line: every bad option, bad file or hostile string is refused
before anything is written, as one paragraph with exit code 2 and no traceback.

Each test asserts the promise itself: the exit code, the paragraph naming the problem, and that
``--out`` was not created (or, for an existing run, not changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from cli_assertions import one_paragraph
from memlens.errors import MemlensError

FAST = ["--models", "4", "--epochs", "3", "--width", "16", "--no-progress"]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """A wide console, so rich never folds a path or a message across lines in these tests."""
    monkeypatch.setenv("COLUMNS", "400")



def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder`` with its size and SHA-256 (to show that nothing changed)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*")) if p.is_file()
    }  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 4-model run in a folder whose name holds markup and an emoji code (a few seconds)."""
    data = ml.data.load("digits:150").plant(ml.data.label_noise(0.1, seed=0))
    design = ml.design.halves(4, data.n_examples, seed=0)
    out = tmp_path_factory.mktemp("runs") / "[red]run:smile:"
    ml.audit(data, design, ml.train.Ensemble("mlp", width=16, epochs=3), out, progress=False)
    return out


# --- point 4: every option checked before the first file is created -------------------------


BAD_OPTIONS = [
    (["--lr", "nan"], r"--lr .*finite number greater than 0.*got nan"),
    (["--lr", "0"], r"--lr .*greater than 0"),
    (["--lr", "inf"], r"--lr .*got inf"),
    (["--weight-decay", "-0.1"], r"--weight-decay must be a finite number >= 0"),
    (["--weight-decay", "nan"], r"--weight-decay .*got nan"),
    (["--targets", "0"], r"--targets \(models attacked in turn\) must be at least 1; got 0"),
    (["--budget", "0"], r"--budget \(shadow models to plan for\) must be at least 1; got 0"),
    (["--models", "0"], r"--models .* at least 1"),
    (["--epochs", "0"], r"--epochs .* at least 1"),
    (["--width", "0"], r"--width .* at least 1"),
    (["--batch-size", "-3"], r"--batch-size .* at least 1; got -3"),
    (["--shard-size", "0"], r"--shard-size .* at least 1"),
    (["--seed", "-1"], r"--seed must be a whole number >= 0"),
    (["--proxies", "curvature,nope"], r"Unknown proxy 'nope'"),
    (["--design", "halves:3"], r"halves takes no argument"),
    (["--design", "subsample:nan"], r"0 < RATE < 1; got nan"),
    (["--design", "kfold:1"], r"kfold:K needs 2 <= K"),
    (["--design", "loo:"], r"loo:ID,ID,… needs at least one example id"),
    (["--design", "loo:9999"], r"outside the dataset's ids"),
    (["--dataset", "digits:3", "--models", "64"], r"gives model\(s\) \[.*\] no training example"),
    (["--dataset", "digits:1"], r"digits:N needs N >= 2"),
    (["--optimizer", "rmsprop"], r"Unknown optimizer 'rmsprop'"),
    (["--model", "resnet"], r"Unknown model 'resnet'"),
    (["--proxies", "self-influence", "--model", "sklearn:sklearn.linear_model.LogisticRegression"],
     r"scikit-learn estimator does not expose"),
]


@pytest.mark.parametrize("options, message", BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_a_bad_option_is_refused_before_anything_is_written(tmp_path, run_cli, options, message):
    out = tmp_path / "run"
    code, stdout, err = run_cli("audit", "--dataset", "digits:100", "--out", out, *FAST, *options)
    assert code == 2
    one_paragraph(err, message)
    assert stdout == ""  # refused before the audit even announced itself
    assert not out.exists()


def test_a_bad_option_leaves_an_existing_run_untouched(finished_run, tmp_path, run_cli):
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    before = snapshot(run)
    for options in (["--budget", "0"], ["--targets", "0"], ["--lr", "nan"]):
        code, _, err = run_cli("audit", "--dataset", "digits:150", "--plant", "label-noise:0.1", "--out", run,
                               *FAST, *options)  # fmt: skip
        assert code == 2
        one_paragraph(err, re.escape(options[0]))
    assert snapshot(run) == before


def _npz(folder: Path, **arrays) -> Path:
    path = folder / "data.npz"
    np.savez(path, **arrays)
    return path


BAD_NPZ = {
    "no examples": (dict(X=np.zeros((0, 3)), y=np.zeros(0, dtype=int)), r"is empty \(X has shape \(0, 3\)\)"),
    "no features": (dict(X=np.zeros((10, 0)), y=np.arange(10) % 2), r"has no features \(X has shape \(10, 0\)\)"),
    "no labels": (dict(X=np.zeros((10, 3)), y=np.zeros(0)), r"10 feature rows but 0 labels"),
    "NaN labels": (dict(X=np.zeros((10, 3)), y=np.r_[0.0, 1, np.nan, 1, 0, 1, 0, 1, np.nan, 1]),
                   r"2 label\(s\) are NaN or infinite \(first rows: \[2, 8\]\)"),
    "ids as labels": (dict(X=np.zeros((10, 3)), y=np.r_[0, 100, 0, 100, 0, 100, 0, 100, 0, 100]),
                      r"reach 100 with only 10 examples"),
    "scalar class_names": (dict(X=np.zeros((10, 3)), y=np.arange(10) % 2, class_names=np.array("a")),
                           r"class_names must be a one-dimensional array"),
    "empty test set": (dict(X=np.zeros((10, 3)), y=np.arange(10) % 2, X_test=np.zeros((0, 3)), y_test=np.zeros(0)),
                       r"\(test\) is empty"),
    "object features": (dict(X=np.array([[1, "a"]] * 10, dtype=object), y=np.arange(10) % 2), r"not a readable \.npz"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_bad_arrays_in_an_npz_get_one_paragraph(tmp_path, run_cli, case):
    arrays, message = BAD_NPZ[case]
    out = tmp_path / "run"
    code, _, err = run_cli("audit", "--dataset", _npz(tmp_path, **arrays), "--out", out, *FAST)
    assert code == 2
    one_paragraph(err, message)
    assert not out.exists()


def test_a_cnn_on_feature_vectors_is_refused_before_anything_is_written(tmp_path, run_cli):
    data = _npz(tmp_path, X=np.random.default_rng(0).normal(size=(40, 5)), y=np.arange(40) % 2)
    code, _, err = run_cli("audit", "--dataset", data, "--out", tmp_path / "run", *FAST, "--model", "cnn")
    assert code == 2
    one_paragraph(err, r"The cnn model needs image data")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "csv, message",
    [("label\n0\n1\n0\n1\n", r"has no features"), ("a,label\n1,0\n2,\n3,1\n", r"1 rows have no label"),
     ("", r"could not be read as CSV")],
    ids=["label column only", "missing label", "empty file"],
)
def test_bad_csv_gets_one_paragraph(tmp_path, run_cli, csv, message):
    path, out = tmp_path / "data.csv", tmp_path / "run"
    path.write_text(csv)
    code, _, err = run_cli("audit", "--dataset", path, "--label-column", "label", "--out", out, *FAST)
    assert code == 2
    one_paragraph(err, message)
    assert not out.exists()


def test_library_users_get_the_same_checks():
    """The checks live in the library (trainer, design, data), not only in the CLI."""
    for bad in (dict(lr=float("nan")), dict(lr=-1.0), dict(weight_decay=float("inf")), dict(epochs=0),
                dict(batch_size=2.5), dict(curvature_step=0.0)):  # fmt: skip
        with pytest.raises(MemlensError, match="must be"):
            ml.train.Ensemble("mlp", **bad)
    with pytest.raises(MemlensError, match=r"must hold only True/False"):
        ml.design.Design("custom", 0, np.array([[1, 2], [0, 1]]))
    with pytest.raises(MemlensError, match=r"gives model\(s\) \[1\] no training example"):
        ml.design.Design("custom", 0, np.array([[True, False], [False, False]])).check_every_model_trains()
    with pytest.raises(MemlensError, match="seed must be a whole number >= 0"):
        ml.design.halves(4, 10, seed=-1)
    with pytest.raises(MemlensError, match="no features"):
        ml.data.validate(np.zeros((5, 0)), np.arange(5) % 2)


def test_diverged_training_is_refused_and_the_corrected_command_runs(tmp_path, run_cli):
    """An SGD step of 1e20 blows the weights up: the trainer raises instead of saving NaN rows."""
    out = tmp_path / "run"
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", out, *FAST,
                           "--optimizer", "sgd", "--lr", "1e20")  # fmt: skip
    assert code == 2
    one_paragraph(err, r"Training diverged: 4 of the 4 models", r"Lower the learning rate \(--lr")
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["shards"] == {} and not (out / "observations").exists()  # no NaN saved
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", out, *FAST, "--optimizer", "sgd", "--lr", "0.01")
    assert code == 0, err  # nothing was trained under the diverging rate, so the fix is not refused
    assert np.isfinite(ml.Run.open(out).observations["loss"]).all()


# --- point 6: --model sklearn:MODULE.CLASS never calls what is not a classifier -------------

UNTRUSTED = '''
import pathlib

MARKS = pathlib.Path({marks!r})
MARKS.joinpath("imported").write_text("the import itself runs: unavoidable")


def mark(what):
    MARKS.joinpath(what).write_text(what)


class NotAClassifier:
    def __init__(self):
        mark("created")


def make_classifier():
    mark("called")


class Meta(type):
    def __getattr__(cls, name):  # would make hasattr(Sneaky, "fit") true, and run code
        mark("metaclass-hook")
        return lambda *a, **k: None


class Sneaky(metaclass=Meta):
    def __init__(self):
        mark("created")


class NoGetParams:
    def __init__(self):
        mark("created")

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return X


from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin


class Regressor(RegressorMixin, BaseEstimator):
    def __init__(self):
        mark("created")


class WithoutProba(ClassifierMixin, BaseEstimator):
    def __init__(self):
        mark("created")

    def fit(self, X, y):
        return self


class Tiny(ClassifierMixin, BaseEstimator):
    def __init__(self):
        mark("created")

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return X


def __getattr__(name):  # a module-level hook (PEP 562) must not be consulted either
    mark("module-hook")
    return NotAClassifier
'''


@pytest.fixture
def untrusted(tmp_path, monkeypatch):
    """A module ``untrusted_mod`` on sys.path whose every callable leaves a mark when run."""
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "untrusted_mod.py").write_text(UNTRUSTED.format(marks=str(marks)))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("untrusted_mod", None)
    yield marks
    sys.modules.pop("untrusted_mod", None)


REFUSED_CLASSES = {
    "NotAClassifier": r"does not subclass sklearn\.base\.ClassifierMixin and lacks fit, predict_proba, get_params",
    "make_classifier": r"is a function, not a class",
    "Sneaky": r"lacks fit, predict_proba, get_params",
    "NoGetParams": r"lacks get_params",
    "Regressor": r"is a scikit-learn estimator but not a classifier",
    "WithoutProba": r"is a classifier but has no predict_proba\(\)",
    "Missing": r"Module 'untrusted_mod' defines no 'Missing'",
}


@pytest.mark.parametrize("name", list(REFUSED_CLASSES))
def test_a_model_that_is_not_a_classifier_is_refused_without_being_called(untrusted, tmp_path, run_cli, name):
    out = tmp_path / "run"
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", out, *FAST,
                           "--model", f"sklearn:untrusted_mod.{name}")  # fmt: skip
    assert code == 2
    one_paragraph(err, REFUSED_CLASSES[name])
    assert sorted(p.name for p in untrusted.iterdir()) == ["imported"]  # imported, nothing else ran
    assert not out.exists()


def test_a_classifier_from_any_module_is_resolved_then_created(untrusted):
    trainer = ml.train.parse_model("sklearn:untrusted_mod.Tiny")
    assert type(trainer.estimator).__name__ == "Tiny"
    assert sorted(p.name for p in untrusted.iterdir()) == ["created", "imported"]
    assert type(ml.train.parse_model("sklearn:sklearn.ensemble.RandomForestClassifier").estimator).__name__ == (
        "RandomForestClassifier"
    )


@pytest.mark.parametrize(
    "spec, message",
    [("sklearn:LogisticRegression", r"not a MODULE\.CLASS path"),
     ("sklearn:.linear_model.X", r"not a MODULE\.CLASS path"),
     ("sklearn:no_such_package_xyz.Thing", r"Could not import .*no module named 'no_such_package_xyz'"),
     ("sklearn:os.system", r"is a builtin_function_or_method, not a class")],
)  # fmt: skip
def test_a_bad_model_path_gets_one_paragraph(tmp_path, run_cli, spec, message):
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", tmp_path / "run", *FAST, "--model", spec)
    assert code == 2
    one_paragraph(err, message)
    assert not (tmp_path / "run").exists()


def test_a_module_that_fails_on_import_gets_one_paragraph(tmp_path, monkeypatch, run_cli):
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", tmp_path / "run", *FAST,
                           "--model", "sklearn:broken_mod.X")  # fmt: skip
    assert code == 2
    one_paragraph(err, r"Importing 'broken_mod' failed \(RuntimeError: boom at import\)")


def test_help_says_the_module_is_imported(run_cli):
    code, stdout, _ = run_cli("audit", "--help")
    assert code == 0
    flat = " ".join(stdout.replace("│", " ").split())
    assert "MODULE is imported" in flat and "refused otherwise" in flat


# --- point 5: one error path, and user strings printed literally ----------------------------


@pytest.fixture
def make_read_only():
    """Make a folder read-only for this process: a read-only bind mount as root (who ignores
    permission bits), else chmod. Skips where neither takes effect."""
    mounted: list[Path] = []

    def apply(folder: Path) -> None:
        if os.geteuid() == 0:
            ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
            if ok:
                mounted.append(folder)
                ok = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True).returncode == 0
        else:
            folder.chmod(0o555)
            ok = True
        probe = folder / ".probe"
        try:
            probe.write_text("")
            probe.unlink()
            ok = False
        except OSError:
            pass
        if not ok:
            pytest.skip("cannot make a folder read-only here")

    yield apply
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_read_only_out_gets_one_paragraph(tmp_path, make_read_only, run_cli):
    parent = tmp_path / "ro"
    parent.mkdir()
    make_read_only(parent)
    for out in (parent / "run", parent):  # a run folder to create, and an existing empty folder
        code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", out, *FAST)
        assert code == 2
        one_paragraph(err, re.escape(str(out)), r"(Read-only file system|Permission denied)")
    assert list(parent.iterdir()) == []


def test_report_into_a_read_only_run_names_the_file(finished_run, tmp_path, make_read_only, run_cli):
    run = tmp_path / "a[b]" / "run"
    shutil.copytree(finished_run, run)
    before = snapshot(run)
    make_read_only(run)
    code, _, err = run_cli("report", run)
    assert code == 2
    one_paragraph(err, re.escape(f"{run}/report.html"), r"(read-only|permission)")
    code, stdout, err = run_cli("show", run, "--top", "3")  # a reader needs no write access
    assert code == 0, err
    assert snapshot(run) == before


def test_a_path_under_a_file_gets_one_paragraph(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--out", tmp_path / "file" / "run", *FAST)
    assert code == 2
    one_paragraph(err, re.escape(str(tmp_path / "file" / "run")))


def test_markup_and_emoji_codes_in_paths_and_names_print_literally(tmp_path, run_cli):
    names = np.array(["[red]zero", "a[b]", ":smile:", "[/]"])
    data = tmp_path / "[bold]data:smile:.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.normal(size=(120, 6)), y=np.arange(120) % 4, class_names=names)
    out = tmp_path / "runs" / "[red]x:smile:"
    code, stdout, err = run_cli("audit", "--dataset", data, "--out", out, *FAST)
    assert code == 0, err
    assert f"memlens audit {data}:" in stdout and f"→ {out}" in stdout
    assert f"report: {out}/report.html" in stdout
    code, stdout, err = run_cli("show", out, "--top", "120")
    assert code == 0, err
    assert stdout.startswith(f"{out}: {data},")
    for name in names:
        assert name in stdout
    assert "😄" not in stdout
    code, _, err = run_cli("show", out, "--sort", "[red]nope")
    assert code == 2
    one_paragraph(err, re.escape("No score column '[red]nope'"))


def test_control_characters_in_messages_are_shown_not_sent_to_the_terminal(tmp_path, run_cli):
    code, _, err = run_cli("audit", "--dataset", "evil\x1b[31m\x07name", "--out", tmp_path / "run")
    assert code == 2
    one_paragraph(err, re.escape(r"evil\x1b[31m\x07name"))
    assert "\x1b" not in err and "\x07" not in err


@pytest.mark.parametrize("column", ["plant", "planted"])
def test_sort_by_a_column_that_is_not_numeric_lists_the_numeric_ones(finished_run, run_cli, column):
    code, stdout, err = run_cli("show", finished_run, "--sort", column)
    assert code == 2 and stdout == ""
    one_paragraph(err, rf"Column '{column}' holds \w+ values, not numbers", r"numeric column: id, label, .*memorization")


def test_show_top_must_be_positive(finished_run, run_cli):
    code, _, err = run_cli("show", finished_run, "--top", "0")
    assert code == 2
    one_paragraph(err, r"--top .* at least 1; got 0")


class _StopAfterFirstShard:
    """Wraps a trainer; raises once one shard is trained (the run is left as a kill leaves it)."""

    def __init__(self, trainer):
        self.trainer, self.units_per_model, self.shards = trainer, trainer.units_per_model, 0

    def config(self):
        return self.trainer.config()

    def fit_observe(self, *args, **kwargs):
        if self.shards:
            raise KeyboardInterrupt
        self.shards += 1
        return self.trainer.fit_observe(*args, **kwargs)


def test_show_and_report_on_an_unfinished_run_say_how_to_finish_it(tmp_path, run_cli):
    data = ml.data.load("digits:100")
    out = tmp_path / "[x]unfinished"
    with pytest.raises(KeyboardInterrupt):
        ml.audit(data, ml.design.halves(4, 100), _StopAfterFirstShard(ml.train.Ensemble("mlp", width=8, epochs=2)),
                 out, shard_size=2, progress=False)  # fmt: skip
    before = snapshot(out)
    for command in ("show", "report"):
        code, stdout, err = run_cli(command, out)
        assert code == 2 and stdout == ""
        one_paragraph(err, re.escape(str(out)), r"has not finished training", r"memlens audit")
    assert snapshot(out) == before  # a reader changes nothing


def test_a_truncated_scores_file_names_the_command_that_rebuilds_it(finished_run, tmp_path, run_cli):
    run = tmp_path / "copy"
    shutil.copytree(finished_run, run)
    scores = run / "scores.parquet"
    scores.write_bytes(scores.read_bytes()[: scores.stat().st_size // 2])
    for command in ("show", "report"):
        code, _, err = run_cli(command, run)
        assert code == 2
        one_paragraph(err, r"scores\.parquet", re.escape(f"memlens report {run} --rescore"))
    assert run_cli("report", run, "--rescore")[0] == 0  # the named command does rebuild it
    assert run_cli("show", run)[0] == 0


# --- the last-resort error path: whatever escapes a command ----------------------------------


def _raising(exc):
    def open_(*args, **kwargs):
        raise exc

    return open_


ESCAPES = {
    "disk full": (OSError(28, "No space left on device", "/data/run/scores.parquet"), 2,
                  r"/data/run/scores\.parquet: No space left on device \(ENOSPC\)\. The disk is full"),
    "permission": (PermissionError(13, "Permission denied", "/data/run/.report.html.x1y2.tmp.html"), 2,
                   r"/data/run/report\.html: Permission denied \(EACCES\)"),
    "out of memory": (MemoryError(), 2, r"ran out of memory"),
    "damaged zip": (__import__("zipfile").BadZipFile("File is not a zip file"), 2, r"damaged or truncated"),
    "damaged json": (json.JSONDecodeError("Expecting value", "x", 0), 2, r"damaged or not UTF-8"),
    "a bug": (KeyError("boom"), 1, r"unexpected KeyError.*bug in memlens.*MEMLENS_DEBUG=1"),
}


@pytest.mark.parametrize("case", list(ESCAPES))
def test_any_error_that_escapes_a_command_is_one_paragraph(monkeypatch, run_cli, case):
    exc, expected_code, message = ESCAPES[case]
    monkeypatch.setattr(ml.Run, "open", classmethod(lambda cls, path: _raising(exc)()))
    code, _, err = run_cli("show", "somewhere")
    assert code == expected_code
    one_paragraph(err, message)


def test_arrow_errors_are_one_paragraph(monkeypatch, run_cli):
    import pyarrow as pa

    monkeypatch.setattr(ml.Run, "open", classmethod(lambda cls, path: _raising(pa.ArrowInvalid("bad magic"))()))
    code, _, err = run_cli("report", "somewhere")
    assert code == 2
    one_paragraph(err, r"Parquet file could not be read or written \(ArrowInvalid: bad magic\)", r"--rescore")


def test_memlens_debug_shows_the_traceback(monkeypatch, run_cli):
    monkeypatch.setattr(ml.Run, "open", classmethod(lambda cls, path: _raising(KeyError("boom"))()))
    monkeypatch.setenv("MEMLENS_DEBUG", "1")
    from memlens import cli

    monkeypatch.setattr(sys, "argv", ["memlens", "show", "somewhere"])
    with pytest.raises(KeyError, match="boom"):
        cli.main()


def test_one_paragraph_helper_rejects_tracebacks():
    """The helper these tests lean on fails on what it must fail on."""
    with pytest.raises(AssertionError):
        one_paragraph("Traceback (most recent call last):\n  ...\nValueError: x")
    with pytest.raises(AssertionError):
        one_paragraph("error: first\n\nsecond paragraph")
    one_paragraph(textwrap.dedent("error: one paragraph\n  - with a list\n"), "with a list")
