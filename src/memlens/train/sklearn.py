"""Any scikit-learn classifier as a memlens trainer, cloned and fitted once per model."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

import numpy as np

from memlens import observe
from memlens.data import Dataset
from memlens.errors import MemlensError
from memlens.train.base import Progress


@dataclass
class Sklearn:
    """Fit ``clone(estimator)`` on each model's members; observe ``predict_proba`` everywhere.

    ``random_state`` (when the estimator has one) is set from the model's own seed.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from memlens.data import load
        >>> from memlens.design import halves
        >>> from memlens.train import model_seeds
        >>> obs = Sklearn(LogisticRegression(max_iter=200)).fit_observe(
        ...     load("digits:300"), halves(2, 300).membership, model_seeds(0, 2))
        >>> obs["loss"].shape
        (2, 300)
    """

    estimator: object
    units_per_model: int = 1

    def __post_init__(self) -> None:
        for method in ("fit", "predict_proba"):
            if not hasattr(self.estimator, method):
                raise MemlensError(
                    f"{type(self.estimator).__name__} has no {method}(); memlens needs a classifier "
                    "with fit and predict_proba (for SVC, pass probability=True)."
                )

    def config(self) -> dict:
        est = self.estimator
        params = {k: repr(v) for k, v in sorted(est.get_params(deep=False).items())}
        return {"trainer": "sklearn", "estimator": f"{type(est).__module__}.{type(est).__qualname__}", "params": params}

    def fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None = None):
        from sklearn.base import clone

        membership = np.asarray(membership, dtype=bool)
        probs, test_probs = [], []
        for row, seed in zip(membership, seeds, strict=True):
            est = clone(self.estimator)
            if "random_state" in est.get_params():
                est.set_params(random_state=int(seed.generate_state(1)[0] >> 1))
            est.fit(data.X[row], data.y[row])
            probs.append(_full_proba(est, data.X, data.n_classes))
            if data.has_test:
                test_probs.append(_full_proba(est, data.X_test, data.n_classes))
            if progress:
                progress(1)
        out = observe.from_probabilities(np.stack(probs), data.y)
        if data.has_test:
            test = observe.from_probabilities(np.stack(test_probs), data.y_test, probabilities=False)
            out.update({f"test_{k}": v for k, v in test.items()})
        return out


def _full_proba(est, X, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class, also those absent from this model's subset."""
    p = est.predict_proba(X)
    full = np.zeros((len(X), n_classes))
    full[:, np.asarray(est.classes_, dtype=np.int64)] = p
    return full


def parse_model(spec: str, **ensemble_options):
    """A trainer from its CLI spelling: ``mlp``, ``cnn``, ``logreg`` or ``sklearn:MODULE.CLASS``."""
    from memlens.train.ensemble import Ensemble

    if spec in ("mlp", "cnn"):
        return Ensemble(spec, **ensemble_options)
    if spec == "logreg":  # multinomial logistic regression, trained by the fast ensemble path
        return Ensemble("linear", **ensemble_options)
    if spec.startswith("sklearn:"):
        if ensemble_options.get("proxies"):
            raise MemlensError(
                f"Proxies ({', '.join(ensemble_options['proxies'])}) need input and parameter "
                "gradients during training, which a scikit-learn estimator does not expose. Use "
                "--model mlp, cnn or logreg for proxies, or drop --proxies."
            )
        path = spec.removeprefix("sklearn:")
        module, _, name = path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise MemlensError(
                f"Could not import '{path}'. Give a full path such as "
                "sklearn:sklearn.linear_model.LogisticRegression."
            ) from None
        if not inspect.isclass(cls):
            raise MemlensError(f"'{path}' is not a class.")
        return Sklearn(cls())
    raise MemlensError(
        f"Unknown model '{spec}'. Use mlp, cnn, logreg, or sklearn:MODULE.CLASS "
        "(e.g. sklearn:sklearn.ensemble.RandomForestClassifier)."
    )
