"""The Lightning callback: the README's example script, run once per model, writes one run."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lightning")
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec")  # inside Lightning, on recent torch

import torch  # noqa: E402

import memlens as ml  # noqa: E402
from memlens.errors import MemlensError  # noqa: E402
from memlens.estimate import planted_recovery  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "callback_lightning.py"


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Tiny models: one thread is many times faster than several fighting over a shared CPU."""


def test_the_readme_shows_this_example_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{EXAMPLE.read_text(encoding='utf-8')}```" in readme


def test_example_script_run_for_each_model_writes_the_run(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    scripts = []
    for i in range(8):  # as a job array would, one process per model (here one after another)
        monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(run), str(i)])
        scripts.append(runpy.run_path(str(EXAMPLE), run_name="__main__"))
    assert [s["trainer"].callbacks[0].finalized for s in scripts] == [False] * 7 + [True]
    result = ml.Run.open(run)
    membership = np.asarray(result.membership)
    data = scripts[0]["data"]
    X = torch.from_numpy(scripts[0]["X"])
    for i, script in enumerate(scripts):
        # (a) model i saw exactly its row of the design
        assert sorted(script["trainer"].train_dataloader.dataset.indices) == np.flatnonzero(membership[i]).tolist()
        # (b) the recorded loss is the trained model's own loss on every example
        with torch.no_grad():
            logits = script["trainer"].lightning_module(X)
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.y), reduction="none").numpy()
        np.testing.assert_allclose(result.observations["loss"][i], loss, rtol=1e-4, atol=1e-5)
    steps = result.observations["step_epoch"]
    assert steps.shape == (8, 40) and (steps == np.arange(1, 41)).all()
    assert result.observations["step_loss"].shape == (8, 40, data.n_examples)
    # the 5% flipped labels are what these models memorize, and what they learn last
    scores = result.scores
    assert planted_recovery(data.planted, scores["memorization"].to_numpy())["auroc"] >= 0.9
    assert planted_recovery(data.planted, scores["first_learned_epoch"].to_numpy())["auroc"] >= 0.9
    curve = result.store.read_json("training_curve.json")
    assert curve["epoch"] == list(range(1, 41))
    auc = curve["attacks"]["lira-online"]["auc"]
    assert auc[-1] > auc[0] + 0.05  # the models leak more as they fit their members
    assert result.store.manifest["devices"][0]["device"] == "cpu"
    assert "gallery.parquet" in result.store.manifest["files"]  # digits reloads: its images are shown
    code, _, err = run_cli("report", run)  # the README's next command
    assert code == 0, err
    assert "Membership leakage over training" in (run / "report.html").read_text()


def test_observes_at_each_validation_and_refuses_a_shuffled_audit_set(tmp_path):
    import lightning as L
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from memlens.integrations import prepare, subset_for
    from memlens.integrations.lightning import AuditCallback

    data = ml.data.load("digits:200")
    run = prepare(data, ml.design.halves(2, 200, seed=0), tmp_path / "run")
    pool = TensorDataset(torch.from_numpy(data.X), torch.from_numpy(data.y))

    class Linear(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(64, 10)

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return nn.functional.cross_entropy(self(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", nn.functional.cross_entropy(self(batch[0]), batch[1]))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    with pytest.raises(MemlensError, match="shuffles"):
        AuditCallback(run, 0, DataLoader(pool, shuffle=True))
    callback = AuditCallback(run, 0, pool, at="evaluation", finalize=False)
    trainer = L.Trainer(max_epochs=3, callbacks=[callback], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=2)  # fmt: skip
    trainer.fit(Linear(), DataLoader(subset_for(run, 0, pool), batch_size=25),
                DataLoader(TensorDataset(torch.from_numpy(data.X_test[:50]), torch.from_numpy(data.y_test[:50]))))
    with np.load(run / "shards" / "00000.npz") as shard:  # the sanity check is not an evaluation
        assert shard["step_epoch"].tolist() == [[1, 2, 3]] and shard["step_global"].tolist() == [[4, 8, 12]]
