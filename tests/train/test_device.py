"""--device cpu|cuda|auto: resolved before anything is written, recorded, never part of the identity."""

from __future__ import annotations

import json

import numpy as np
import pytest

import memlens as ml
from memlens.train import device
from memlens.train.device import DeviceError


def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused():
    import torch

    assert not torch.cuda.is_available()  # this machine and CI: no GPU
    choice = device.resolve("auto")
    assert choice["device"] == "cpu" and "no CUDA GPU is visible" in choice["reason"]
    assert device.resolve("cpu")["reason"] == "requested explicitly"
    with pytest.raises(DeviceError, match="--device cuda asks for a CUDA GPU, but torch sees none: .*--device cpu"):
        device.resolve("cuda")
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        ml.train.Ensemble("mlp", device="tpu")


def test_auto_picks_a_visible_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H100")
    assert device.resolve("auto") == {
        "requested": "auto", "device": "cuda", "name": "NVIDIA H100", "reason": "a CUDA GPU is visible to torch",
    }  # fmt: skip
    assert device.resolve("cpu")["device"] == "cpu"  # an explicit CPU stays on the CPU


def test_device_is_recorded_but_not_part_of_the_run(tmp_path):
    data = ml.data.load("digits:120")
    design = ml.design.halves(4, data.n_examples, seed=0)
    out = tmp_path / "run"
    first = ml.train.Ensemble("linear", epochs=2, device="cpu")
    ml.audit(data, design, first, out, shard_size=2, progress=False)
    manifest = json.loads((out / "run.json").read_text())
    assert "device" not in manifest["config"]["trainer"]
    assert [(d["requested"], d["device"]) for d in manifest["devices"]] == [("cpu", "cpu")]
    observed = np.load(out / "observations" / "loss.npy")
    # the same run under another --device request is the same run (resumed, not refused)
    again = ml.audit(data, design, ml.train.Ensemble("linear", epochs=2, device="auto"), out, shard_size=2, progress=False)
    np.testing.assert_array_equal(again.observations["loss"], observed)
    assert json.loads((out / "run.json").read_text())["devices"] == manifest["devices"]  # same CPU: one entry
    from memlens.report import write_report

    assert "<dt>device</dt><dd>cpu (" in write_report(again).read_text()


def test_cli_cuda_without_a_gpu_writes_nothing(tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "2", "--epochs", "1", "--device", "cuda",
                           "--out", out, "--no-progress")  # fmt: skip
    assert code == 2 and "--device cuda asks for a CUDA GPU" in err
    assert not out.exists()
    code, _, err = run_cli("audit", "--dataset", "digits:100", "--models", "2", "--model", "sklearn:sklearn.linear_model.LogisticRegression",
                           "--device", "gpu", "--out", out, "--no-progress")  # fmt: skip
    assert code == 2 and "Unknown device 'gpu'" in err and not out.exists()
