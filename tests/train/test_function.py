"""Function: the user's training function as a trainer; outputs: any fitted model observed alike."""

from __future__ import annotations

import pickle
import textwrap

import numpy as np
import pytest

import memlens as ml
from memlens import observe
from memlens.errors import MemlensError
from memlens.train.function import Function, callable_identity, load_callable
from memlens.train.outputs import check_outputs, model_outputs


@pytest.fixture(scope="module")
def data():
    return ml.data.load("digits:200")


def test_a_scikit_learn_pipeline_function_equals_the_sklearn_trainer(data):
    """The twin: the same pipeline through Function and through Sklearn gives identical arrays."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def train(X, y, seed):  # as a user would write it
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)

    membership = ml.design.halves(4, data.n_examples, seed=1).membership
    seeds = ml.train.model_seeds(0, 4)
    mine = Function(train).fit_observe(data, membership, seeds)
    theirs = ml.train.Sklearn(make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))).fit_observe(
        data, membership, seeds
    )
    assert mine.keys() == theirs.keys()
    for name in mine:
        np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)


def test_the_function_gets_each_models_rows_and_seed_and_check_is_reused(data):
    calls = []

    def train(X, y, seed):
        from sklearn.dummy import DummyClassifier

        calls.append((X.copy(), y.copy(), seed))
        return DummyClassifier(strategy="prior").fit(X, y)

    membership = ml.design.halves(4, data.n_examples, seed=0).membership
    seeds = ml.train.model_seeds(7, 4)
    trainer = Function(train)
    trainer.check(data, membership[0], seeds[0])
    trainer.fit_observe(data, membership, seeds)
    assert len(calls) == 4  # model 0 was trained once, by check
    for (X, y, seed), rows, s in zip(calls, membership, seeds, strict=True):
        np.testing.assert_array_equal(X, data.X[rows])
        np.testing.assert_array_equal(y, data.y[rows])
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert seed == Function.seed_value(s) and 0 <= seed < 2**31


def test_every_kind_of_model_is_observed_the_same_way():
    """A torch module, an object with logits(X), a Hugging Face-style output, and predict_proba
    all give what observe.from_logits gives for the same logits."""
    import torch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    layer = torch.nn.Linear(4, 3)
    with torch.no_grad():
        expected = layer(torch.from_numpy(X)).numpy().astype(np.float64)

    class WithLogits:
        def logits(self, X):
            return expected

    class HuggingFaceLike(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            from types import SimpleNamespace

            return SimpleNamespace(logits=self.layer(x))

    class Probabilities:
        classes_ = np.arange(3)

        def predict_proba(self, X):
            e = np.exp(expected - expected.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

    reference = observe.from_logits(expected[None], y)
    for model in (layer, WithLogits(), HuggingFaceLike(), Probabilities()):
        kind, out = model_outputs(model, X, n_classes=3, batch_size=7)
        got = observe.from_logits(out[None], y) if kind == "logits" else observe.from_probabilities(out[None], y)
        for name in ("correct", "loss", "confidence"):
            np.testing.assert_allclose(got[name], reference[name], rtol=1e-5, atol=1e-5, err_msg=f"{model}: {name}")


def test_a_binary_models_single_logit_means_softmax_of_zero_and_it():
    z = np.array([-2.0, 0.5, 3.0])
    kind_two = check_outputs("logits", np.stack([np.zeros(3), z], axis=1), n_rows=3, n_classes=2)
    for single in (z, z[:, None]):
        np.testing.assert_array_equal(check_outputs("logits", single, n_rows=3, n_classes=2), kind_two)


def test_a_classifier_that_never_saw_a_class_gets_zero_probability_for_it():
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, np.array([0, 0, 2, 2]))  # class 1 absent from its rows
    kind, p = model_outputs(model, X, n_classes=3)
    assert kind == "probabilities" and p.shape == (4, 3) and (p[:, 1] == 0).all()
    np.testing.assert_allclose(p[:, [0, 2]], model.predict_proba(X))


def test_probabilities_that_do_not_sum_to_one_are_refused():
    with pytest.raises(MemlensError, match=r"do not sum to 1"):
        check_outputs("probabilities", np.full((2, 3), 0.5), n_rows=2, n_classes=3)
    with pytest.raises(MemlensError, match=r"outside \[0, 1\].*Were they logits"):
        check_outputs("probabilities", np.array([[2.0, -1.0]]), n_rows=1, n_classes=2)


def test_the_identity_changes_with_any_edit_of_the_functions_file(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("def train(X, y, seed):\n    return None\n")
    first = callable_identity(load_callable(f"{path}:train"))
    assert first["function"] == "train" and first["source"] == "train.py"
    assert callable_identity(load_callable(f"{path}:train")) == first  # loading again: the same
    path.write_text("def train(X, y, seed):\n    return None  # edited\n")
    assert callable_identity(load_callable(f"{path}:train"))["source_sha256"] != first["source_sha256"]

    namespace = {}
    exec("def made_here(X, y, seed):\n    return None\n", namespace)  # no file: its bytecode
    assert callable_identity(namespace["made_here"])["source"] == "<no file: bytecode>"


def test_load_callable_reads_modules_dotted_names_and_neighbouring_imports(tmp_path):
    import json

    assert load_callable("json:dumps") is json.dumps
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "helpers.py").write_text("WIDTH = 7\n")
    (folder / "train.py").write_text(textwrap.dedent("""
        from helpers import WIDTH

        class Recipe:
            @staticmethod
            def fit(X, y, seed):
                return WIDTH
        if __name__ == "__main__":
            raise SystemExit("script code does not run on import")
    """))
    assert load_callable(f"{folder / 'train.py'}:Recipe.fit")(None, None, 0) == 7


def test_a_function_loaded_from_a_file_pickles_by_where_it_came_from(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("def train(X, y, seed):\n    return seed\n")
    trainer = Function.from_spec(f"{path}:train", batch_size=5)
    copy = pickle.loads(pickle.dumps(trainer))
    assert copy.config() == trainer.config() and copy.batch_size == 5 and copy.train_fn(None, None, 3) == 3


def test_bad_arguments_are_refused_before_training():
    with pytest.raises(MemlensError, match=r"needs a callable"):
        Function("train.py:train")
    with pytest.raises(MemlensError, match=r"cannot be called as _two_arguments\(X, y, seed\)"):
        Function(_two_arguments)
    with pytest.raises(MemlensError, match=r"batch_size must be"):
        Function(_three_arguments, batch_size=0)


def _two_arguments(X, y):
    return None


def _three_arguments(X, y, seed):
    return None
