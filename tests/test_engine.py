"""memlens.engine.run_design: one orchestration for every modality (create, resume, seeds, shards)."""

from __future__ import annotations

import hashlib
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import memlens as ml
from memlens import seeds
from memlens.design import Design
from memlens.engine import fingerprint, run_design
from memlens.errors import MemlensError, RunStoreError

ROOT = Path(__file__).resolve().parents[1]


class Means:
    """A toy modality: model m's observation of example i is a seeded draw plus whether it was IN.

    Records the seed each model received, and can fail once at a chosen model (a killed run).
    """

    def __init__(self, fail_at: int | None = None):
        self.fail_at, self.seen = fail_at, {}

    def config(self) -> dict:
        return {"trainer": "means"}

    def fit_observe(self, data, membership, model_seeds, progress=None) -> dict:
        out = np.empty(membership.shape, dtype=np.float32)
        for row, (mask, seed) in enumerate(zip(membership, model_seeds, strict=True)):
            index = seeds.model_index(seed)
            if index == self.fail_at:
                self.fail_at = None
                raise KeyboardInterrupt  # killed in the middle of a shard
            self.seen[index] = seeds.to_int(seed)
            noise = np.random.default_rng(seed).normal(size=len(data))
            out[row] = mask + 0.1 * noise
        return {"signal": out}


def _examples(n: int = 30) -> list[np.ndarray]:
    return [np.full(3, i) for i in range(n)]


def _run(out, trainer, *, data=None, design=None, shard_size=2, seed=0):
    data = data if data is not None else _examples()
    design = design if design is not None else ml.design.halves(6, len(data), seed=seed)
    return run_design(data, design, trainer, out, seed=seed, shard_size=shard_size, progress=False,
                      describe={"name": "toy", "fingerprint": fingerprint(data)})  # fmt: skip


def test_a_killed_run_resumes_to_the_arrays_of_an_uninterrupted_one(tmp_path):
    whole = _run(tmp_path / "whole", Means()).observation("signal")
    crashing = Means(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "killed", crashing)
    assert sorted(crashing.seen) == [0, 1, 2]  # killed in the second shard (models 2 and 3)
    crashing.seen.clear()
    resumed = _run(tmp_path / "killed", crashing)
    assert sorted(crashing.seen) == [2, 3, 4, 5]  # the stored first shard is not trained again
    np.testing.assert_array_equal(resumed.observation("signal"), whole)


def test_each_model_gets_the_same_seed_whatever_the_sharding(tmp_path):
    by_two, by_five = Means(), Means()
    _run(tmp_path / "a", by_two, shard_size=2)
    _run(tmp_path / "b", by_five, shard_size=5)
    assert by_two.seen == by_five.seen and len(set(by_two.seen.values())) == 6
    # the engine's model seeds are the "models" stream's children, as they always were
    legacy = np.random.SeedSequence([0, 0x7EA1]).spawn(6)
    assert by_two.seen == {m: int(s.generate_state(1)[0] >> 1) for m, s in enumerate(legacy)}


def test_a_changed_mask_under_the_same_spec_is_refused_and_the_mask_is_hashed(tmp_path):
    data = _examples()
    design = ml.design.halves(6, len(data), seed=0)
    store = _run(tmp_path / "r", Means(), design=design)
    recorded = json.loads((tmp_path / "r" / "run.json").read_text())["files"]["membership.npy"][
        "sha256"
    ]
    assert recorded == hashlib.sha256((tmp_path / "r" / "membership.npy").read_bytes()).hexdigest()
    other = design.membership.copy()
    other[:, [0, 1]] = other[:, [1, 0]]  # two examples trade places: same spec, seed and counts
    with pytest.raises(RunStoreError, match="membership mask differs"):
        _run(tmp_path / "r", Means(), design=Design(design.spec, design.seed, other))
    assert np.array_equal(store.membership, design.membership)  # the run is untouched


def test_observations_that_are_not_models_by_examples_are_refused(tmp_path):
    class Flat(Means):
        def fit_observe(self, data, membership, model_seeds, progress=None):
            return {"signal": np.zeros(len(data))}

    with pytest.raises(
        MemlensError, match=r"observation 'signal' of shape \(30,\); it must be \(2, 30"
    ):
        _run(tmp_path / "r", Flat())


def test_refusals_come_before_the_run_directory_is_touched(tmp_path):
    with pytest.raises(MemlensError, match="design covers 10 examples, the data has 30"):
        _run(tmp_path / "r", Means(), design=ml.design.halves(4, 10))
    with pytest.raises(MemlensError, match="shard_size"):
        _run(tmp_path / "r", Means(), shard_size=0)
    with pytest.raises(MemlensError, match="summary\\(\\) and fingerprint\\(\\)"):
        run_design(_examples(), ml.design.halves(4, 30), Means(), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_the_new_modality_example_finds_its_planted_sequences(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "docs/examples/new_modality.py"), run_name="__main__")
    assert (
        capsys.readouterr().out.strip()
        == "most memorized: [200, 201, 202, 203, 204, 205, 206, 207, 208, 209]"
    )
    store = ml.store.RunStore.open(tmp_path / "runs/bigrams")
    assert store.observation_names() == ["loglik"] and store.observation("loglik").shape == (
        16,
        210,
    )
    runpy.run_path(
        str(ROOT / "docs/examples/new_modality.py"), run_name="__main__"
    )  # resumes: nothing to do
    assert "most memorized: [200," in capsys.readouterr().out


def test_lm_audit_has_no_orchestration_of_its_own():
    """The language-model audit runs its counterfactual models through run_design."""
    source = (ROOT / "src/memlens/lm/audit.py").read_text(encoding="utf-8")
    assert "run_design(" in source
    for own in ("create_or_resume", "pending_shards", "write_shard", ".finalize(", "model_seeds"):
        assert own not in source, own
