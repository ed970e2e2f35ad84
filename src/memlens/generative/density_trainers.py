"""A trainer for the engine whose observation is each example's exact log-likelihood under a density model.

Any scikit-learn density estimator with ``fit`` and ``score_samples`` (``GaussianMixture``,
``KernelDensity``) is cloned per membership row, fitted on that row's examples, and scored on all N
examples: the ``loglik`` observation (models × examples, nats) that
:func:`memlens.generative.density.density_memorization` turns into memorization scores.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError


def _features(data) -> np.ndarray:
    """(N, D) float64 features of a memlens Dataset (``X``) or an array of examples."""
    X = getattr(data, "X", data)
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(len(X), -1)


class SklearnDensity:
    """One clone of a scikit-learn density estimator per model; observes ``loglik`` = ``score_samples``."""

    units_per_model = 1

    def __init__(self, estimator):
        for method in ("fit", "score_samples", "get_params"):
            if not callable(getattr(estimator, method, None)):
                raise MemlensError(
                    f"{type(estimator).__name__} has no {method}(): a density trainer needs a scikit-learn "
                    "density estimator with fit and score_samples, such as "
                    "sklearn.mixture.GaussianMixture or sklearn.neighbors.KernelDensity."
                )
        self.estimator = estimator

    def config(self) -> dict:
        params = {k: v if isinstance(v, bool | int | float | str | type(None)) else repr(v)
                  for k, v in sorted(self.estimator.get_params(deep=False).items())}
        cls = type(self.estimator)
        return {"trainer": "sklearn-density", "estimator": f"{cls.__module__}.{cls.__qualname__}",
                "params": params}

    def fit_observe(self, data, membership, seeds, progress=None) -> dict[str, np.ndarray]:
        from sklearn.base import clone

        X = _features(data)
        membership = np.asarray(membership, dtype=bool)
        loglik = np.empty(membership.shape, dtype=np.float64)
        for m, (row, seed) in enumerate(zip(membership, seeds, strict=True)):
            estimator = clone(self.estimator)
            if "random_state" in estimator.get_params():
                estimator.set_params(random_state=int(seed.generate_state(1)[0] >> 1))
            estimator.fit(X[row])
            loglik[m] = estimator.score_samples(X)
            bad = np.isnan(loglik[m]) | (loglik[m] == np.inf)
            if bad.any():
                raise MemlensError(
                    f"Model {m} ({type(estimator).__name__}) gave {int(bad.sum())} NaN or +inf "
                    "log-likelihood(s): its fit is degenerate. For a Gaussian mixture raise reg_covar "
                    "or use fewer components; for a kernel density, use a larger bandwidth."
                )
            if progress:
                progress(1)
        return {"loglik": loglik}
