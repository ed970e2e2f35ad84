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
        if isinstance(self.estimator, type):
            raise MemlensError(
                f"Sklearn needs an estimator instance, not the class {self.estimator.__name__}: write "
                f"Sklearn({self.estimator.__name__}(...))."
            )
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
    p = np.asarray(est.predict_proba(X), dtype=np.float64)
    classes = getattr(est, "classes_", None)
    if classes is None and p.ndim == 2 and p.shape[1] == n_classes:
        classes = np.arange(n_classes)  # a non-scikit-learn classifier without classes_: all classes
    if classes is None or p.shape != (len(X), len(classes)):
        raise MemlensError(
            f"{type(est).__name__}.predict_proba returned shape {p.shape}, not one column per class "
            f"of {len(X)} examples (classes_ = {classes}); memlens needs scikit-learn's predict_proba contract."
        )
    if not np.isfinite(p).all():
        raise MemlensError(f"{type(est).__name__}.predict_proba returned NaN or infinite probabilities.")
    full = np.zeros((len(X), n_classes))
    full[:, np.asarray(classes, dtype=np.int64)] = p
    return full


def parse_model(spec: str, **ensemble_options):
    """A trainer from its CLI spelling: ``mlp``, ``cnn``, ``logreg``, ``retrieval`` or ``sklearn:MODULE.CLASS``.

    For ``sklearn:MODULE.CLASS`` the module is imported (its import-time code runs, as with any
    import) and the class is created, with no arguments, only once :func:`resolve_classifier`
    has checked it is a classifier.
    """
    from memlens.train.ensemble import Ensemble

    if spec in ("mlp", "cnn"):
        return Ensemble(spec, **ensemble_options)
    if spec == "logreg":  # multinomial logistic regression, trained by the fast ensemble path
        return Ensemble("linear", **ensemble_options)
    if spec == "retrieval":  # RetroPrompt-style retrieval head on frozen PCA features
        if ensemble_options.get("proxies"):
            raise MemlensError(
                f"Proxies ({', '.join(ensemble_options['proxies'])}) are not recorded by the retrieval "
                "head, a convex head fitted to its optimum with no training trajectory; its exact "
                "self-influence is memlens.retrieval.self_influence. Drop --proxies."
            )
        from memlens.retrieval import RetrievalTrainer

        return RetrievalTrainer()
    if spec.startswith("sklearn:"):
        if ensemble_options.get("proxies"):
            raise MemlensError(
                f"Proxies ({', '.join(ensemble_options['proxies'])}) need input and parameter "
                "gradients during training, which a scikit-learn estimator does not expose. Use "
                "--model mlp, cnn or logreg for proxies, or drop --proxies."
            )
        path = spec.removeprefix("sklearn:")
        cls = resolve_classifier(path)
        try:
            estimator = cls()
        except Exception as e:
            raise MemlensError(
                f"'{path}' is a classifier but could not be created without arguments "
                f"({type(e).__name__}: {e}). The command line makes it with its defaults; to pass "
                "arguments, use memlens.train.Sklearn(estimator) from Python."
            ) from None
        return Sklearn(estimator)
    raise MemlensError(
        f"Unknown model '{spec}'. Use mlp, cnn, logreg, retrieval, or sklearn:MODULE.CLASS "
        "(e.g. sklearn:sklearn.ensemble.RandomForestClassifier)."
    )


#: what a class must offer when it is not a scikit-learn estimator (``clone`` needs get_params)
_DUCK_METHODS = ("fit", "predict_proba", "get_params")


def resolve_classifier(path: str) -> type:
    """The classifier class named ``MODULE.CLASS``, checked before anything of it is called.

    Importing MODULE is unavoidable and runs its import-time code. After that nothing from the
    module runs: the class is read from the module's namespace (no module ``__getattr__``) and
    inspected statically (``inspect.getattr_static``: no metaclass hooks, no properties). It is
    accepted if it subclasses scikit-learn's ``ClassifierMixin`` and has ``predict_proba``, or,
    for other libraries, if it is no scikit-learn estimator but has ``fit``, ``predict_proba`` and
    ``get_params``. Any module may be named (xgboost, lightgbm and catboost classifiers qualify).

    >>> resolve_classifier("sklearn.linear_model.LogisticRegression").__name__
    'LogisticRegression'
    >>> resolve_classifier("sklearn.linear_model.LinearRegression")
    Traceback (most recent call last):
    ...
    memlens.errors.MemlensError: 'sklearn.linear_model.LinearRegression' is a scikit-learn estimator but not a classifier ...
    """
    module_name, _, name = path.rpartition(".")
    if not module_name or not all(part.isidentifier() for part in path.split(".")):
        raise MemlensError(
            f"'{path}' is not a MODULE.CLASS path. Give the module and the class, e.g. "
            "sklearn:sklearn.linear_model.LogisticRegression."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise MemlensError(
                f"Could not import '{module_name}': no module named '{e.name}'. Is the package installed "
                "in this environment? Give a full path such as sklearn:sklearn.linear_model.LogisticRegression."
            ) from None
        raise MemlensError(f"Importing '{module_name}' failed: it needs '{e.name}', which is not installed.") from None
    except (Exception, SystemExit) as e:  # the module's own import-time code failed
        raise MemlensError(f"Importing '{module_name}' failed ({type(e).__name__}: {e}).") from None
    cls = inspect.getattr_static(module, name, None)
    if cls is None:
        raise MemlensError(
            f"Module '{module_name}' defines no '{name}' (memlens looks only at what the module itself "
            "defines or imports). Check the spelling, or name the module that defines the class."
        )
    if not issubclass(type(cls), type):  # not isinstance: that may read a __class__ property
        raise MemlensError(
            f"'{path}' is a {type(cls).__name__}, not a class; memlens needs a classifier class "
            "(it was not called)."
        )
    mro = type.__dict__["__mro__"].__get__(cls)  # as getattr_static does: no metaclass hooks
    has = {m: inspect.getattr_static(cls, m, None) is not None for m in _DUCK_METHODS}
    from sklearn.base import BaseEstimator, ClassifierMixin

    if any(c is ClassifierMixin for c in mro):  # `is`: `in` would call the classes' __eq__
        if not has["predict_proba"]:
            raise MemlensError(
                f"'{path}' is a classifier but has no predict_proba(); memlens observes class "
                "probabilities. Use one that has it (e.g. sklearn.linear_model.LogisticRegression), "
                "or wrap it in sklearn.calibration.CalibratedClassifierCV from Python."
            )
        return cls
    if any(c is BaseEstimator for c in mro):
        raise MemlensError(
            f"'{path}' is a scikit-learn estimator but not a classifier (it does not subclass "
            "ClassifierMixin), so it was not created. memlens audits classifiers, e.g. "
            "sklearn:sklearn.ensemble.RandomForestClassifier."
        )
    missing = [m for m, ok in has.items() if not ok]
    if missing:
        raise MemlensError(
            f"'{path}' is not a classifier memlens can use, so it was not created: it does not "
            f"subclass sklearn.base.ClassifierMixin and lacks {', '.join(missing)}() (a "
            "scikit-learn-compatible classifier has fit, predict_proba and get_params)."
        )
    return cls
