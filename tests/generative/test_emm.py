"""EMM: class-balanced nested size designs, EMM read off a grid, and the doubling + bisection search."""

import numpy as np
import pytest

from memlens.generative.emm import (
    EMMInputError,
    balanced_order,
    best_ratios,
    effective_memorization,
    next_size,
    size_design,
)


def test_size_design_is_class_balanced_and_nested():
    labels = np.repeat(np.arange(10), 30)
    design = size_design(labels, [10, 20, 50, 300], repeats=2, seed=3)
    m = design.membership
    assert m.shape == (8, 300) and m.sum(1).tolist() == [10, 20, 50, 300] * 2
    for row in m[:3]:
        counts = np.bincount(labels[row], minlength=10)
        assert counts.max() - counts.min() <= 1  # every prefix balanced
    assert (m[0] <= m[1]).all() and (m[1] <= m[2]).all()  # nested within a repeat
    assert not (m[0] == m[4]).all()  # repeats draw other subsets
    again = size_design(labels, [10, 20, 50, 300], repeats=2, seed=3).membership
    assert (again == m).all()


def test_balanced_order_is_a_permutation_with_balanced_prefixes():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 5)
    order = balanced_order(labels, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(15))
    first9 = np.bincount(labels[order[:9]], minlength=3)
    assert first9.tolist() == [3, 3, 3]


@pytest.mark.parametrize("sizes", [[1], [0], [301]])
def test_size_design_refuses_sizes_outside_the_data(sizes):
    with pytest.raises(EMMInputError, match="outside 2 … 300"):
        size_design(np.zeros(300), sizes)


def test_effective_memorization_cases():
    crossed = effective_memorization([64, 16, 32, 128], [0.6, 1.0, 0.95, 0.1])
    assert (crossed.value, crossed.crossed, crossed.first_below) == (32, True, 64)
    assert "EMM ≈ 32" in crossed.message and "0.600" in crossed.message
    # a recovery after the first failure does not count
    assert effective_memorization([16, 32, 64], [0.95, 0.5, 0.97]).value == 16
    never = effective_memorization([16, 32], [0.4, 0.2])
    assert never.value is None and not never.crossed and "0.400" in never.message
    always = effective_memorization([16, 32], [0.99, 0.91])
    assert always.value == 32 and not always.crossed and "never crossed" in always.message
    with pytest.raises(EMMInputError):
        effective_memorization([16, 32], [0.5])
    with pytest.raises(EMMInputError):
        effective_memorization([16], [float("nan")])


def _search(true_emm: int, start: int, limit: int, tolerance: float):
    ratio = lambda s: 1.0 if s <= true_emm else 0.0  # noqa: E731 - a step-shaped memorization curve
    tried = {}
    while (s := next_size(tried, start=start, limit=limit, target=0.9, tolerance=tolerance)) is not None:
        assert s not in tried, "the search must never retrain a size"
        tried[s] = ratio(s)
    return tried


@pytest.mark.parametrize("true_emm", [3, 16, 17, 100, 333, 1000, 5000])
def test_search_brackets_the_true_emm_within_tolerance(true_emm):
    tried = _search(true_emm, start=16, limit=2000, tolerance=0.1)
    found = effective_memorization(list(tried), list(tried.values()))
    if true_emm < 16:
        assert found.value is None and list(tried) == [16]
    elif true_emm >= 2000:
        assert found.value == 2000 and not found.crossed
    else:
        assert found.value <= true_emm < found.first_below
        assert found.first_below - found.value <= max(1, 0.1 * found.value)
    assert len(tried) <= 2 * int(np.log2(2000)) + 2  # doubling, then bisection


def test_best_ratios_takes_the_best_snapshot():
    flags = np.zeros((2, 3, 4), bool)
    flags[0, 1, :3] = True
    flags[1, 2, :] = True
    assert best_ratios(flags).tolist() == [0.75, 1.0]
    with pytest.raises(EMMInputError):
        best_ratios(flags[0])
