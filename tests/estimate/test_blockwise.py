"""Block-wise estimators against their whole-array twins, on memory-mapped float32 runs.

``whole_array.py`` is the implementation before the estimators went block-wise. Blocks are
shrunk to a few examples so every path crosses many block boundaries (including a last block of
one example). Everything per example must be bit-identical; the two pooled quantities that are
now accumulated across blocks (LiRA's fixed variance, influence's OUT sum) agree to 1e-12.
"""

from __future__ import annotations

import functools
import importlib.util
import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from memlens.estimate import (
    _blocks,
    attack_in_turn,
    attack_in_turn_per_target,
    influence_scores,
    lira_offline,
    lira_online,
    loss_threshold_attack,
    memorization_scores,
    rmia_offline,
    rmia_offline_attack,
)


def _load_twin():
    spec = importlib.util.spec_from_file_location(
        "memlens_whole_array_twin", Path(__file__).with_name("whole_array.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


twin = _load_twin()


@pytest.fixture(params=[7, 1000])
def block_width(request, monkeypatch):
    """Blocks of `width` examples whatever the row count (7: many blocks, 1000: one)."""

    def blocks(n_examples, rows):
        for start in range(0, n_examples, request.param):
            yield slice(start, min(start + request.param, n_examples))

    for module in ("memlens.estimate.memorization", "memlens.estimate.mia"):
        monkeypatch.setattr(sys.modules[module], "example_blocks", blocks)
    return request.param


def _memmap(tmp_path, name, array):
    np.save(tmp_path / f"{name}.npy", array)
    return np.load(tmp_path / f"{name}.npy", mmap_mode="r")


def _run(rng, n_models=9, n=50, *, p_in=0.5):
    """A small run as the store writes it: bool membership, float32 phi, with awkward columns."""
    membership = rng.random((n_models, n)) < p_in
    membership[:, 0] = True  # never OUT
    membership[:, 1] = False  # never IN
    membership[:, 2] = False
    membership[0, 2] = True  # IN for model 0 only
    phi = (rng.normal(size=(n_models, n)) * 3 + 4 * membership).astype(np.float32)
    phi[:, 3] = 1.5  # all equal: zero variance
    return membership, phi


def _assert_same(new, old, *, exact=True):
    if exact:
        np.testing.assert_array_equal(new, old)
    else:
        np.testing.assert_allclose(new, old, rtol=1e-12, atol=1e-12)


def test_memorization_is_identical_on_a_memmapped_run(tmp_path, block_width):
    rng = np.random.default_rng(0)
    membership, phi = _run(rng, n=61)
    correct = (rng.random(phi.shape) < 0.7).astype(np.float32)
    for obs in (phi, correct):
        new = memorization_scores(
            _memmap(tmp_path, "m", membership), _memmap(tmp_path, "o", obs), min_models=2
        )
        old = twin.memorization_scores(membership, obs, min_models=2)
        for field, value in new.to_dict().items():
            _assert_same(value, getattr(old, field))
            assert value.dtype == getattr(old, field).dtype


def test_influence_matches_to_rounding_and_exactly_on_correctness(tmp_path, block_width):
    rng = np.random.default_rng(1)
    membership, _ = _run(rng, n=40)
    test_correct = (rng.random((9, 23)) < 0.6).astype(np.float32)
    test_conf = rng.normal(size=(9, 23)).astype(np.float32)
    mapped = _memmap(tmp_path, "m", membership)
    _assert_same(
        influence_scores(mapped, test_correct), twin.influence_scores(membership, test_correct)
    )
    _assert_same(
        influence_scores(mapped, test_conf, min_models=2),
        twin.influence_scores(membership, test_conf, min_models=2),
        exact=False,
    )


ATTACKS = {
    "lira-online": (lira_online, twin.lira_online, {}),
    "lira-online-fixed": (lira_online, twin.lira_online, {"fix_variance": True}),
    "lira-online-mean": (lira_online, twin.lira_online, {"center": "mean"}),
    "lira-offline": (lira_offline, twin.lira_offline, {}),
    "lira-offline-fixed-two-sided": (
        lira_offline, twin.lira_offline, {"fix_variance": True, "one_sided": False},
    ),
    "rmia": (rmia_offline_attack, twin.rmia_offline_attack, {"a": 0.3}),
    "loss": (loss_threshold_attack, twin.loss_threshold_attack, {}),
    "loss-as-loss": (loss_threshold_attack, twin.loss_threshold_attack, {"observation": "loss"}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_in_turn_is_identical_per_target(tmp_path, block_width, name):
    new_attack, old_attack, options = ATTACKS[name]
    rng = np.random.default_rng(2)
    membership, phi = _run(rng, n=45)
    targets = [0, 3, 8]
    labels, scores = attack_in_turn_per_target(
        _memmap(tmp_path, "m", membership), _memmap(tmp_path, "o", phi),
        functools.partial(new_attack, **options), targets=targets,
    )  # fmt: skip
    assert labels.shape == scores.shape == (3, 45) and labels.dtype == bool
    exact = not options.get("fix_variance", False)
    for j, t in enumerate(targets):
        others = np.arange(9) != t
        old = old_attack(phi[t], membership[others], phi[others], **options)
        _assert_same(scores[j], old, exact=exact)
        np.testing.assert_array_equal(labels[j], membership[t])
    # and the pooled form is the twin's, NaNs dropped in the same order
    new_pooled = attack_in_turn(
        membership, phi, functools.partial(new_attack, **options), targets=targets
    )
    old_pooled = twin.attack_in_turn(
        membership, phi, functools.partial(old_attack, **options), targets=targets
    )
    np.testing.assert_array_equal(new_pooled[0], old_pooled[0])
    _assert_same(new_pooled[1], old_pooled[1], exact=exact)
    assert new_pooled[2] == old_pooled[2]
    assert (new_pooled[2] > 0) == (new_attack is not loss_threshold_attack)  # unscorable columns


@pytest.mark.parametrize("name", ["lira-online-fixed", "lira-offline", "rmia", "loss"])
def test_direct_calls_are_identical(tmp_path, block_width, name):
    new_attack, old_attack, options = ATTACKS[name]
    rng = np.random.default_rng(3)
    membership, phi = _run(rng, n_models=7, n=33)
    target = rng.normal(size=33) * 3
    new = new_attack(
        target, _memmap(tmp_path, "m", membership), _memmap(tmp_path, "o", phi), **options
    )
    _assert_same(
        new, old_attack(target, membership, phi, **options), exact=name != "lira-online-fixed"
    )


def test_rmia_on_probabilities_is_identical(block_width):
    rng = np.random.default_rng(4)
    membership = rng.random((5, 40)) < 0.5
    membership[:, 0] = True
    prob = rng.random((5, 40)).astype(np.float32)
    target = rng.random(40)
    for a, gamma in ((0.0, 1.0), (0.3, 2.0), (1.0, 0.5)):
        _assert_same(
            rmia_offline(target, membership, prob, a=a, gamma=gamma),
            twin.rmia_offline(target, membership, prob, a=a, gamma=gamma),
        )
    labels, scores = attack_in_turn_per_target(membership, prob, rmia_offline, targets=[1, 2])
    _assert_same(
        scores[0], twin.rmia_offline(prob[1], membership[[0, 2, 3, 4]], prob[[0, 2, 3, 4]])
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack_in_turn_per_target(membership, prob * 2, rmia_offline, targets=[0])


def test_any_other_callable_gets_float64_shadows_without_the_target():
    rng = np.random.default_rng(5)
    membership, phi = _run(rng, n_models=4, n=6)
    seen = []

    def attack(target_obs, shadow_membership, shadow_obs):
        seen.append((target_obs.dtype, shadow_obs.dtype, shadow_obs.shape))
        return target_obs - shadow_obs.mean(axis=0)

    labels, scores = attack_in_turn_per_target(membership, phi, attack, targets=[1, 3])
    assert seen == [(np.float64, np.float64, (3, 6))] * 2
    np.testing.assert_allclose(scores[1], phi[3] - phi[:3].astype(np.float64).mean(axis=0))
    # a partial with positional arguments is a custom callable too
    positional = functools.partial(lambda scale, t, m, o: scale * t, 2.0)
    np.testing.assert_array_equal(
        attack_in_turn_per_target(membership, phi, positional, targets=[0])[1][0], 2.0 * phi[0]
    )


def test_block_wise_inputs_are_still_validated():
    membership = np.ones((3, 4), dtype=bool)
    bad = np.zeros((3, 4), dtype=np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="observations contains 1 non-finite"):
        attack_in_turn(membership, bad, lira_offline, targets=[0])
    with pytest.raises(ValueError, match="observations contains 1 non-finite"):
        memorization_scores(membership, bad)
    with pytest.raises(ValueError, match="shadow_membership has 1 model"):
        attack_in_turn(membership[:2, :3], bad[:2, :3], lira_online, targets=[0])
    with pytest.raises(ValueError, match="center"):
        attack_in_turn(
            membership[:, :3], bad[:, :3], functools.partial(lira_online, center="x"), targets=[0]
        )
    with pytest.raises(TypeError):  # an option the attack does not have, as a direct call says
        attack_in_turn(
            membership[:, :3], bad[:, :3], functools.partial(lira_online, gamma=2), targets=[0]
        )


# ---------------------------------------------------------------------------------------------
# memory: one pass over a memory-mapped run keeps about one block of it resident


def _resident_kib(path: Path) -> int:
    """Rss of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = len(fields) >= 6 and fields[-1] == str(path)
        elif inside and fields and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(
    not Path("/proc/self/smaps").exists() or not hasattr(mmap, "MADV_DONTNEED"),
    reason="needs Linux",
)
def test_a_pass_over_a_memmap_leaves_about_one_block_resident(tmp_path, monkeypatch):
    monkeypatch.setattr(_blocks, "BLOCK_BYTES", 2 * 2**20)
    n_models, n = 64, 2**16  # 16 MiB of float32
    rng = np.random.default_rng(6)
    np.save(tmp_path / "obs.npy", rng.random((n_models, n), dtype=np.float32))
    np.save(tmp_path / "membership.npy", rng.random((n_models, n)) < 0.5)
    obs = np.load(tmp_path / "obs.npy", mmap_mode="r")
    membership = np.load(tmp_path / "membership.npy", mmap_mode="r")
    memorization_scores(membership, obs)
    assert _resident_kib((tmp_path / "obs.npy").resolve()) < 4 * 1024  # ≤ 1/4 of the file
    float(np.asarray(obs).sum())  # reading it all without release: the file becomes resident
    assert _resident_kib((tmp_path / "obs.npy").resolve()) > 12 * 1024


def test_release_leaves_private_and_plain_arrays_alone(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10.0))
    copy_on_write = np.load(tmp_path / "a.npy", mmap_mode="c")
    copy_on_write[0] = 42.0
    _blocks.release_pages(copy_on_write, np.arange(3), copy_on_write[2:])
    assert copy_on_write[0] == 42.0  # a private page would have been discarded
    assert _blocks._shared_mapping(copy_on_write) is None
    assert (
        _blocks._shared_mapping(np.asarray(np.load(tmp_path / "a.npy", mmap_mode="r"))[1:])
        is not None
    )
