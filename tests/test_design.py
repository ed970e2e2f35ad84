import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memlens import design
from memlens.errors import MemlensError

sizes = st.integers(min_value=2, max_value=60)
models = st.integers(min_value=2, max_value=40)
seeds = st.integers(min_value=0, max_value=2**31)


@given(models, sizes, st.floats(0.05, 0.95), seeds)
@settings(max_examples=60, deadline=None)
def test_subsample_rows_have_fixed_size(m, n, rate, seed):
    k = round(rate * n)
    if k in (0, n):
        with pytest.raises(MemlensError):
            design.subsample(m, n, rate, seed=seed)
        return
    d = design.subsample(m, n, rate, seed=seed)
    assert d.membership.shape == (m, n) and d.membership.dtype == bool
    assert (d.membership.sum(axis=1) == k).all()


@given(models, sizes, seeds)
@settings(max_examples=60, deadline=None)
def test_halves_columns_have_exactly_half(m, n, seed):
    d = design.halves(m, n, seed=seed)
    assert (d.membership.sum(axis=0) == m // 2).all()


@given(st.integers(2, 6), st.integers(1, 3), st.integers(6, 50), seeds)
@settings(max_examples=60, deadline=None)
def test_kfold_leaves_each_example_out_once_per_repetition(k, reps, n, seed):
    d = design.kfold(k * reps, n, k, seed=seed)
    for r in range(reps):
        block = d.membership[r * k : (r + 1) * k]
        assert ((~block).sum(axis=0) == 1).all()
        sizes = (~block).sum(axis=1)
        assert sizes.max() - sizes.min() <= 1  # folds are balanced


def test_loo_blocks():
    d = design.loo(6, 10, [7, 2])
    assert d.spec == "loo:2,7" and d.n_models == 6
    assert d.membership[0].all() and not d.membership[1, 2] and not d.membership[2, 7]
    assert d.membership[1].sum() == 9 and (d.membership[3:] == d.membership[:3]).all()


@pytest.mark.parametrize("spec", ["halves", "subsample:0.7", "kfold:4"])
def test_designs_are_deterministic_from_seed(spec):
    a, b, c = (design.parse(spec, 8, 50, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.membership, b.membership)
    assert not np.array_equal(a.membership, c.membership)


@pytest.mark.parametrize(
    "spec, models, message",
    [
        ("thirds", 8, "Unknown design"),
        ("kfold:3", 8, "divisible by 3"),
        ("loo:1,2", 4, "multiple of 3"),
        ("loo:99", 2, "outside the dataset"),
        ("subsample:x", 4, "malformed"),
        ("halves", 1, "at least 2 models"),
    ],
)
def test_bad_designs_are_explained(spec, models, message):
    with pytest.raises(MemlensError, match=message):
        design.parse(spec, models, 20)
