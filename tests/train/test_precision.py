"""--precision auto: bf16 only where the CPU runs it natively and faster; chosen once per run."""

import json

import numpy as np
import pytest

import memlens as ml
from dying_trainer import DiesAfter, Killed
from memlens.errors import MemlensError
from memlens.train import precision

NO_BF16 = {"name": "Old EPYC", "family": "23/49/0", "machine": "x86_64", "capability": "AVX2",
           "amx": False, "avx512_bf16": False}  # fmt: skip
AVX512_BF16 = {
    **NO_BF16,
    "name": "New EPYC",
    "family": "25/17/1",
    "capability": "AVX512",
    "avx512_bf16": True,
}
UNKNOWN = {**NO_BF16, "name": "Graviton", "family": None, "machine": "aarch64", "capability": "SVE256",
           "amx": None, "avx512_bf16": None}  # fmt: skip


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("MEMLENS_CACHE_DIR", str(folder))
    return folder


def _fake_cpu(monkeypatch, info, step_ms=None):
    """Pretend to run on ``info``; calibration returns ``step_ms`` and counts its calls."""
    calls = []
    monkeypatch.setattr(precision, "cpu_info", lambda: dict(info))

    def calibrate(*, native=None, budget_s=precision.BUDGET_S):
        if step_ms is None:
            raise AssertionError("calibration must not run here")
        calls.append(native)
        return dict(step_ms)

    monkeypatch.setattr(precision, "calibrate", calibrate)
    return calls


def test_decide_takes_bf16_only_when_clearly_faster():
    isa = "AMX"
    assert precision.decide(True, {"float32": 3.0, "bfloat16": 1.0}, isa=isa)[0] == "bfloat16"
    assert (
        precision.decide(True, {"float32": 1.2, "bfloat16": 1.0}, isa=isa)[0] == "bfloat16"
    )  # exactly 1.2×
    assert precision.decide(True, {"float32": 1.1, "bfloat16": 1.0}, isa=isa)[0] == "float32"
    assert (
        precision.decide(None, {"float32": 1.0, "bfloat16": 60.0, "probe": "one matmul"}, isa=isa)[
            0
        ]
        == "float32"
    )
    precision_, reason = precision.decide(False, None, isa="AVX2, no AMX or AVX512-BF16")
    assert precision_ == "float32" and "emulate" in reason and "AVX2" in reason
    with pytest.raises(ValueError):
        precision.decide(True, None, isa=isa)


def test_cpu_without_native_bf16_gets_float32_without_timing(monkeypatch, cache_dir):
    _fake_cpu(monkeypatch, NO_BF16)  # calibration would raise
    choice = precision.choose("auto")
    assert choice["precision"] == "float32" and choice["source"] == "instruction set"
    assert "no AMX or AVX512-BF16" in choice["reason"] and choice["cpu"] == "Old EPYC"
    assert not (cache_dir / "precision.json").exists()  # nothing measured, nothing to cache


def test_native_bf16_is_measured_once_then_cached(monkeypatch, cache_dir):
    calls = _fake_cpu(monkeypatch, AVX512_BF16, {"float32": 4.5, "bfloat16": 1.5})
    first = precision.choose("auto")
    assert first["precision"] == "bfloat16" and first["source"] == "measured" and calls == [True]
    assert "3.0× faster" in first["reason"] and first["step_ms"] == {
        "float32": 4.5,
        "bfloat16": 1.5,
    }
    second = precision.choose("auto")
    assert calls == [True] and second["source"] == "cached"
    assert {k: second[k] for k in ("precision", "reason", "step_ms")} == {
        k: first[k] for k in ("precision", "reason", "step_ms")
    }
    cached = json.loads((cache_dir / "precision.json").read_text())
    assert len(cached["entries"]) == 1 and "New EPYC" in next(iter(cached["entries"]))
    # another CPU model is another entry, measured on its own
    _fake_cpu(monkeypatch, {**AVX512_BF16, "name": "Other"}, {"float32": 1.0, "bfloat16": 1.0})
    assert precision.choose("auto")["precision"] == "float32"
    assert len(json.loads((cache_dir / "precision.json").read_text())["entries"]) == 2


def test_unknown_cpu_is_measured(monkeypatch, cache_dir):
    calls = _fake_cpu(monkeypatch, UNKNOWN, {"float32": 2.0, "bfloat16": 1.0})
    choice = precision.choose("auto")
    assert calls == [None] and choice["precision"] == "bfloat16" and "aarch64" in choice["reason"]


def test_unusable_cache_never_fails(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MEMLENS_CACHE_DIR", str(blocker / "sub"))  # cannot be created
    calls = _fake_cpu(monkeypatch, AVX512_BF16, {"float32": 3.0, "bfloat16": 1.0})
    assert precision.choose("auto")["precision"] == "bfloat16"
    assert precision.choose("auto")["source"] == "measured" and len(calls) == 2  # measured again
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "precision.json").write_text('{"version": 1, "entries": [')
    monkeypatch.setenv("MEMLENS_CACHE_DIR", str(damaged))
    assert precision.choose("auto")["source"] == "measured"
    assert precision.choose("auto")["source"] == "cached"  # the damaged file was replaced
    import torch

    stale = {precision.cache_key(AVX512_BF16, torch.__version__): {"precision": "float32", "reason": "old"}}
    (damaged / "precision.json").write_text(json.dumps({"version": precision.CACHE_VERSION - 1, "entries": stale}))
    assert precision.choose("auto")["source"] == "measured"  # another calibration's numbers are not reused


def test_cache_location_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("MEMLENS_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert precision.cache_path() == tmp_path / "xdg" / "memlens" / "precision.json"
    monkeypatch.setenv("MEMLENS_CACHE_DIR", str(tmp_path / "mine"))
    assert precision.cache_path() == tmp_path / "mine" / "precision.json"


def test_explicit_precision_is_kept_and_unknown_is_refused(monkeypatch):
    _fake_cpu(monkeypatch, NO_BF16)
    assert precision.choose("bfloat16")["precision"] == "bfloat16"  # the user's word, even here
    assert precision.choose("float32")["source"] == "requested"
    with pytest.raises(MemlensError, match="auto, float32 or bfloat16"):
        ml.train.Ensemble("mlp", precision="fast")


def test_emulated_bf16_ends_calibration_after_one_matmul(monkeypatch):
    monkeypatch.setattr(precision, "_probe_matmul", lambda: {"float32": 0.7, "bfloat16": 45.0})
    monkeypatch.setattr(precision, "_step_function", lambda: pytest.fail("a whole step was timed"))
    measured = precision.calibrate(native=None)
    assert measured["probe"] and precision.decide(None, measured, isa="x")[0] == "float32"


def test_real_calibration_is_short_and_sane():
    import time

    start = time.perf_counter()
    measured = precision.calibrate(native=True)
    assert time.perf_counter() - start < 5  # ~0.3 s idle; generous for a loaded 2-core machine
    assert measured["float32"] > 0 and measured["bfloat16"] > 0
    info = precision.cpu_info()
    assert set(info) >= {"name", "capability", "amx", "avx512_bf16"}


def test_a_resumed_run_keeps_the_precision_it_was_created_with(monkeypatch, cache_dir):
    """Created where auto meant float32, killed, resumed where auto means bf16: still float32,
    and the arrays equal an uninterrupted float32 run's (bf16 would change them)."""
    data = ml.data.load("digits:150").plant(ml.data.label_noise(0.1, seed=0))
    design = ml.design.halves(6, data.n_examples, seed=0)

    def trainer(p="auto"):
        return ml.train.Ensemble("mlp", width=16, epochs=3, batch_size=32, precision=p)

    whole = ml.audit(
        data, design, trainer("float32"), cache_dir.parent / "whole", shard_size=2, progress=False
    )
    _fake_cpu(monkeypatch, NO_BF16)  # the first machine: auto → float32
    with pytest.raises(Killed):
        ml.audit(
            data,
            design,
            DiesAfter(trainer(), 1),
            cache_dir.parent / "r",
            shard_size=2,
            progress=False,
        )
    recorded = json.loads((cache_dir.parent / "r" / "run.json").read_text())
    assert (
        recorded["precision"]["precision"] == "float32"
        and recorded["config"]["trainer"]["precision"] == "auto"
    )
    _fake_cpu(
        monkeypatch, AVX512_BF16, {"float32": 3.0, "bfloat16": 1.0}
    )  # another machine: auto → bf16
    assert precision.choose("auto")["precision"] == "bfloat16"
    resumed_trainer = trainer()
    resumed = ml.audit(
        data, design, resumed_trainer, cache_dir.parent / "r", shard_size=2, progress=False
    )
    assert resumed_trainer.resolve_precision()["precision"] == "float32"
    assert (
        resumed.store.manifest["precision"]["source"] == "instruction set"
    )  # the record is untouched
    for name in whole.store.observation_names():
        np.testing.assert_array_equal(whole.observations[name], resumed.observations[name])
    # the comparison has teeth: the same shard in bf16 gives other numbers
    seeds = ml.train.model_seeds(0, 6)[:2]
    bf16 = trainer("bfloat16").fit_observe(data, design.membership[:2], seeds)
    assert not np.array_equal(bf16["loss"], np.asarray(whole.observations["loss"][:2]))


def test_cli_and_report_say_which_precision_and_why(monkeypatch, cache_dir, run_cli):
    _fake_cpu(monkeypatch, AVX512_BF16, {"float32": 3.0, "bfloat16": 1.0})
    out = cache_dir.parent / "run"
    code, stdout, err = run_cli("audit", "--dataset", "digits:200", "--models", "4", "--epochs", "2",
                                "--width", "16", "--no-progress", "--out", out)  # fmt: skip
    assert code == 0, err
    first = " ".join(
        stdout.split("\n\n")[0].split()
    )  # the console wraps the first line at 80 columns
    assert (
        "precision bfloat16 (auto on New EPYC: AVX512-BF16 (no AMX)" in first
        and "3.0× faster" in first
    )
    html = (out / "report.html").read_text()
    assert "<dt>precision</dt><dd>bfloat16 (auto on New EPYC: AVX512-BF16 (no AMX);" in html
    assert json.loads((out / "run.json").read_text())["precision"]["step_ms"] == {
        "float32": 3.0,
        "bfloat16": 1.0,
    }
    code, stdout, err = run_cli("audit", "--dataset", "digits:200", "--models", "4", "--epochs", "2",
                                "--width", "16", "--no-progress", "--precision", "float32", "--out", out.with_name("f32"))  # fmt: skip
    assert code == 0, err
    assert (
        "precision float32" in " ".join(stdout.split())
        and "<dt>precision</dt><dd>float32</dd>"
        in (out.with_name("f32") / "report.html").read_text()
    )
