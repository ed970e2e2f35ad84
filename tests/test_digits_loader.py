"""The digits dataset is read without importing scikit-learn, and equals scikit-learn's own split."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from memlens.data.loaders import _stratified_split


def test_digits_equal_scikit_learns_load_and_stratified_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from memlens.data import load
    from memlens.data.loaders import _make

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X / 16.0, y, test_size=450, stratify=y, random_state=0)
    data = load("digits")
    assert np.array_equal(data.X, X_tr) and np.array_equal(data.y, y_tr)
    assert np.array_equal(data.X_test, X_te) and np.array_equal(data.y_test, y_te)
    # the loader before this one, built from scikit-learn's arrays: same dataset, same fingerprint
    # (so every run made with it still resumes)
    before = _make("digits", X_tr, y_tr, X_te, y_te, tuple("0123456789"), (8, 8), None)
    assert data.fingerprint() == before.fingerprint()
    assert load("digits:300").fingerprint() == _make("digits", X_tr, y_tr, X_te, y_te, tuple("0123456789"), (8, 8), 300).fingerprint()


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("counts", [(5, 5, 5), (7, 3, 11, 2), (40, 41, 39, 13, 13)])
def test_stratified_split_equals_scikit_learns_with_uneven_classes_and_ties(counts, seed):
    from sklearn.model_selection import train_test_split

    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    rows = np.arange(len(y))
    n_test = max(len(counts), len(y) // 3)
    want_train, want_test = train_test_split(rows, test_size=n_test, stratify=y, random_state=seed)
    train, test = _stratified_split(y, n_test, seed=seed)
    assert np.array_equal(train, want_train) and np.array_equal(test, want_test)


def test_loading_digits_does_not_import_scikit_learn():
    code = "import sys; from memlens.data import load; load('digits'); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
