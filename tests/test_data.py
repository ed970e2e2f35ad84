
import numpy as np
import pandas as pd
import pytest

from memlens.data import duplicates, label_noise, load, parse_plant
from memlens.data.loaders import fashion_mnist_dir
from memlens.errors import DataError


def test_digits_split_and_scaling(digits):
    assert digits.X.shape == (1347, 64) and digits.X_test.shape == (450, 64)
    assert digits.X.dtype == np.float32 and 0 <= digits.X.min() and digits.X.max() <= 1
    assert digits.image_shape == (8, 8) and not digits.planted.any()


def test_truncation_keeps_first_rows(digits):
    small = load("digits:100")
    np.testing.assert_array_equal(small.X, digits.X[:100])


@pytest.mark.skipif(not (fashion_mnist_dir() / "train-images-idx3-ubyte.gz").exists(), reason="apt package dataset-fashion-mnist absent")
def test_fashion_mnist_loads_full_size():
    d = load("fashion-mnist")
    assert d.X.shape == (60000, 784) and d.X_test.shape == (10000, 784)
    assert np.bincount(d.y).tolist() == [6000] * 10 and d.classes[9] == "Ankle boot"


def test_fashion_mnist_absent_names_the_apt_package(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMLENS_FASHION_MNIST", str(tmp_path))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load("fashion-mnist")


def test_mnist_5k():
    d = load("mnist-5k")
    assert d.X.shape == (5000, 784) and np.bincount(d.y).tolist() == [500] * 10


def test_unknown_dataset():
    with pytest.raises(DataError, match="Unknown dataset 'nope'"):
        load("nope")


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "d.npz"
    np.savez(p, X=rng.normal(size=(20, 3)), y=np.arange(20) % 3, X_test=rng.normal(size=(5, 3)),
             y_test=np.arange(5) % 3, class_names=np.array(["a", "b", "c"]))
    d = load(str(p))
    assert d.n_examples == 20 and d.classes == ("a", "b", "c") and d.X_test.shape == (5, 3)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"X": np.zeros((5, 2)), "y": np.zeros(4, int)}, "5 feature rows but 4 labels"),
        ({"X": np.array([[0.0, np.nan]] * 4), "y": np.arange(4) % 2}, "NaN or infinite"),
        ({"X": np.array([[0.0, np.inf]] * 4), "y": np.arange(4) % 2}, "NaN or infinite"),
        ({"X": np.zeros((4, 2)), "y": np.array([0, 1, -1, 1])}, r"must lie in \[0"),
        ({"X": np.zeros((4, 2)), "y": np.array([0.5, 1, 0, 1])}, "whole numbers"),
        ({"X": np.zeros((4, 2)), "y": np.array(["a", "b", "a", "b"])}, "must be integers"),
        ({"X": np.zeros((4, 2)), "y": np.array([0, 1, 2, 1]), "class_names": np.array(["a", "b"])}, r"lie in \[0, 2\)"),
        ({"X": np.zeros((4, 2))}, "lacks array"),
    ],
)
def test_npz_bad_input_is_explained(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=message):
        load(str(p))


def test_corrupt_npz(tmp_path):
    p = tmp_path / "broken.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load(str(p))


def test_csv_with_string_labels(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [0.0, 1, 0, 1], "kind": ["cat", "dog", "cat", "dog"]}).to_csv(p, index=False)
    d = load(str(p), label_column="kind")
    assert d.classes == ("cat", "dog") and d.y.tolist() == [0, 1, 0, 1] and d.X.shape == (4, 2)
    with pytest.raises(DataError, match="--label-column"):
        load(str(p))
    with pytest.raises(DataError, match="no column 'nope'"):
        load(str(p), label_column="nope")


def test_label_noise_flips_exactly_rate(digits):
    d = digits.plant(label_noise(0.1, seed=3))
    flipped = d.y != d.original_y
    assert flipped.sum() == round(0.1 * digits.n_examples)
    np.testing.assert_array_equal(flipped, d.planted)
    assert d.plants == ("label-noise:0.1",)
    again = digits.plant(label_noise(0.1, seed=3))
    np.testing.assert_array_equal(again.y, d.y)  # deterministic from the seed
    assert d.fingerprint() != digits.fingerprint()


def test_duplicates_get_a_conflicting_label(digits):
    d = digits.plant(label_noise(0.05, seed=0)).plant(duplicates(20, seed=0))
    copies = np.flatnonzero(d.plant_kind == "duplicate")
    sources = np.flatnonzero(d.plant_kind == "duplicate-source")
    assert len(copies) == len(sources) == 20 and copies.min() == digits.n_examples
    for c in copies:  # each copy equals exactly one clean source and disagrees with its label
        match = np.flatnonzero((d.X[: digits.n_examples] == d.X[c]).all(axis=1))
        assert any(d.plant_kind[m] == "duplicate-source" and d.y[m] != d.y[c] for m in match)


def test_parse_plant_errors():
    with pytest.raises(DataError, match="Unknown plant"):
        parse_plant("noise:1")
    with pytest.raises(DataError, match="malformed"):
        parse_plant("label-noise:lots")
    with pytest.raises(DataError, match="between 0 and 1"):
        parse_plant("label-noise:1.5")


