"""memlens.seeds: named streams of the run seed, with the values every stream had before."""

from __future__ import annotations

import numpy as np
import pytest

import memlens as ml
from memlens import seeds
from memlens.errors import MemlensError


def test_every_stream_keeps_the_numbers_it_had_before_the_module():
    """Runs, tests and recorded figures made before memlens.seeds must reproduce exactly."""
    for seed in (0, 3):
        legacy = {
            "models": np.random.SeedSequence([seed, 0x7EA1]),
            "design": np.random.SeedSequence([seed, 0xDE5]),
            "plant:label-noise": np.random.SeedSequence([seed, 1]),
            "plant:duplicates": np.random.SeedSequence([seed, 2]),
            "lm:heldout": np.random.SeedSequence([seed, 0x4E1D]),
            "lm:reference": np.random.SeedSequence([seed, 0x2EF]),
        }
        for name, old in legacy.items():
            assert (seeds.sequence(seed, name).generate_state(4) == old.generate_state(4)).all(), (
                name
            )
    old_design = np.random.default_rng(np.random.SeedSequence([5, 0xDE5])).spawn(1)[0]
    from memlens.design import _rng

    np.testing.assert_array_equal(
        _rng(5).integers(1 << 30, size=8), old_design.integers(1 << 30, size=8)
    )


def test_streams_are_distinct_and_model_seeds_name_their_model():
    states = {name: tuple(seeds.sequence(0, name).generate_state(2)) for name in seeds.STREAMS}
    assert len(set(states.values())) == len(states)
    model_seeds = seeds.model_seeds(4, 5)
    assert [seeds.model_index(s) for s in model_seeds] == list(range(5))
    assert seeds.model_seeds(4, 9)[:5][3].generate_state(1) == model_seeds[3].generate_state(
        1
    )  # only (seed, m)
    assert ml.train.model_seeds(4, 5)[2].generate_state(1) == model_seeds[2].generate_state(1)


def test_integers_come_from_one_place_in_each_consumers_range():
    s = seeds.model_seeds(0, 3)[2]
    word = int(s.generate_state(1, dtype=np.uint32)[0])
    assert seeds.to_int(s) == word >> 1 == ml.train.Function.seed_value(s)
    assert seeds.to_int(s, "uint32") == word and seeds.to_int(s, "mod31") == word % (2**31 - 1)
    assert 0 <= seeds.to_int(s, "int63") < 2**63
    assert seeds.to_int(11) == 11
    with pytest.raises(MemlensError, match="Unknown integer form"):
        seeds.to_int(s, "int8")
    with pytest.raises(MemlensError, match="Unknown seed stream"):
        seeds.sequence(0, "nope")
    with pytest.raises(MemlensError, match="whole number"):
        seeds.sequence(-1, "models")


def test_plants_record_their_seed_and_replay_from_it():
    digits = ml.data.load("digits:300")
    planted = digits.plant(ml.data.label_noise(0.1, seed=3)).plant(ml.data.duplicates(5, seed=4))
    assert planted.plant_seeds == (3, 4) and planted.summary()["plant_seeds"] == [3, 4]
    replayed = digits
    for spec, seed in zip(planted.plants, planted.plant_seeds, strict=True):
        replayed = replayed.plant(ml.data.parse_plant(spec, seed=seed))
    assert replayed.fingerprint() == planted.fingerprint()
    other = digits.plant(ml.data.label_noise(0.1, seed=0))
    assert not np.array_equal(other.y, planted.y[:300])  # the seed matters
