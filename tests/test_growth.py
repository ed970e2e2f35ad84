"""Growing a run: more models on a finished run train only the new ones and end as one big run would."""

from __future__ import annotations

import numpy as np
import pytest

import memlens as ml
from dying_trainer import DiesAfter, Killed
from memlens.errors import RunStoreError
from memlens.growth import uncovered

DATA = ml.data.load("digits:150").plant(ml.data.label_noise(0.1, seed=0))


def _trainer():
    return ml.train.Ensemble("mlp", width=16, epochs=3, batch_size=32, precision="float32")


class Counting:
    """Wraps a trainer and records how many models each shard trains."""

    def __init__(self, trainer):
        self.trainer, self.trained = trainer, []

    def __getattr__(self, name):
        if name in ("trainer", "trained"):
            raise AttributeError(name)
        return getattr(self.trainer, name)

    def fit_observe(self, data, membership, seeds, progress=None):
        self.trained.append([s.spawn_key[-1] for s in seeds])
        return self.trainer.fit_observe(data, membership, seeds, progress)


def _arrays(run) -> dict:
    return {name: np.asarray(run.observations[name]) for name in run.store.observation_names()}


@pytest.mark.parametrize("small, shard_size", [(4, 2), (5, 2)])  # 5: the old last shard is half a block
def test_growing_trains_only_new_models_and_equals_the_big_run(tmp_path, small, shard_size):
    big = ml.audit(DATA, ml.design.subsample(8, 150, 0.5, seed=1), _trainer(), tmp_path / "big",
                   shard_size=shard_size, progress=False)  # fmt: skip
    ml.audit(DATA, ml.design.subsample(small, 150, 0.5, seed=1), _trainer(), tmp_path / "grown",
             shard_size=shard_size, progress=False)  # fmt: skip
    counting = Counting(_trainer())
    grown = ml.audit(DATA, ml.design.subsample(8, 150, 0.5, seed=1), counting, tmp_path / "grown",
                     shard_size=shard_size, progress=False)  # fmt: skip
    assert sorted(i for shard in counting.trained for i in shard) == list(range(small, 8))
    ours, theirs = _arrays(grown), _arrays(big)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert grown.scores.equals(big.scores)
    assert "grown_from" not in grown.store.manifest and grown.store.manifest["config"]["design"]["n_models"] == 8
    grown.store.verify()


def test_a_growth_killed_midway_resumes(tmp_path):
    ml.audit(DATA, ml.design.subsample(4, 150, 0.5, seed=1), _trainer(), tmp_path / "r", shard_size=2, progress=False)
    design = ml.design.subsample(8, 150, 0.5, seed=1)
    with pytest.raises(Killed):
        ml.audit(DATA, design, DiesAfter(_trainer(), 1), tmp_path / "r", shard_size=2, progress=False)
    counting = Counting(_trainer())
    grown = ml.audit(DATA, design, counting, tmp_path / "r", shard_size=2, progress=False)
    assert counting.trained == [[6, 7]]
    big = ml.audit(DATA, design, _trainer(), tmp_path / "big", shard_size=2, progress=False)
    for name, array in _arrays(big).items():
        np.testing.assert_array_equal(grown.observations[name], array, err_msg=name)


def test_halves_cannot_grow_and_says_why(tmp_path):
    ml.audit(DATA, ml.design.halves(4, 150), _trainer(), tmp_path / "r", shard_size=2, progress=False)
    before = (tmp_path / "r" / "run.json").read_text()
    with pytest.raises(RunStoreError, match="halves deals each example(.|\n)*subsample"):
        ml.audit(DATA, ml.design.halves(8, 150), _trainer(), tmp_path / "r", shard_size=2, progress=False)
    with pytest.raises(RunStoreError, match="grows but never shrinks"):
        ml.audit(DATA, ml.design.halves(2, 150), _trainer(), tmp_path / "r", shard_size=2, progress=False)
    # another trainer as well as more models: not a growth, every difference listed
    with pytest.raises(RunStoreError, match="another configuration(.|\n)*n_models(.|\n)*trainer.epochs"):
        ml.audit(DATA, ml.design.subsample(8, 150, 0.5), ml.train.Ensemble("mlp", width=16, epochs=4, batch_size=32),
                 tmp_path / "r", shard_size=2, progress=False)  # fmt: skip
    assert (tmp_path / "r" / "run.json").read_text() == before


@pytest.mark.parametrize("spec", ["subsample:0.7", "kfold:4", "loo:3,17"])
def test_growable_designs_keep_their_first_rows(spec):
    small = ml.design.parse(spec, 12, 40, seed=5).membership
    large = ml.design.parse(spec, 24, 40, seed=5).membership
    np.testing.assert_array_equal(large[:12], small)


def test_uncovered_against_a_brute_force_cover():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, size = int(rng.integers(1, 30)), int(rng.integers(1, 8))
        cuts = np.sort(rng.choice(np.arange(1, n + 1), size=min(n, int(rng.integers(0, 4))), replace=False))
        edges = [0, *cuts.tolist()]  # consecutive ranges [edges[i], edges[i+1]), some of them trained
        covered = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if rng.random() < 0.6]
        used = {int(i) for i in rng.choice(20, size=len(covered), replace=False)}
        tasks = uncovered(n, covered, size, used)
        cover = np.zeros(n, int)
        for a, b in covered:
            cover[a:b] += 1
        for _, a, b in tasks:
            assert 0 < b - a <= size and a // size == (b - 1) // size  # within one block
            cover[a:b] += 1
        assert (cover == 1).all()  # every model exactly once
        indices = [k for k, _, _ in tasks]
        assert len(set(indices)) == len(indices) and not set(indices) & used
