"""A trainer for the engine whose observation is each example's exact log-likelihood under a density model.

:class:`GaussianKDE` is an exact Gaussian kernel density (scikit-learn's ``KernelDensity`` returns
wrong held-out values far from every training point at small bandwidths — its tree bounds
underflow, scikit-learn issue #25799 — and is slow in hundreds of dimensions);
:func:`select_bandwidth` picks its bandwidth by held-out likelihood.

Any scikit-learn density estimator with ``fit`` and ``score_samples`` (``GaussianMixture``,
``KernelDensity``) is cloned per membership row, fitted on that row's examples, and scored on all N
examples: the ``loglik`` observation (models × examples, nats) that
:func:`memlens.generative.density.density_memorization` turns into memorization scores.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError


class GaussianKDE:
    """An exact Gaussian kernel density from dense distances (matrix products, chunked).

    ``log p(x) = logsumexp_j(−‖x − x_j‖² / 2h²) − log n − (D/2) log(2πh²)``, the density of
    ``KernelDensity(kernel="gaussian", bandwidth=h)``. A scikit-learn estimator (``get_params``,
    ``set_params``), so :class:`SklearnDensity` clones it per model.
    """

    def __init__(self, bandwidth: float = 1.0):
        self.bandwidth = bandwidth

    def get_params(self, deep: bool = True) -> dict:
        return {"bandwidth": self.bandwidth}

    def set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y=None):
        if not (np.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise MemlensError(f"The kernel bandwidth must be a finite number above 0; got {self.bandwidth!r}.")
        self.train_ = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        self.train_sq_ = np.einsum("ij,ij->i", self.train_, self.train_)
        return self

    def score_samples(self, X, chunk: int = 1024) -> np.ndarray:
        from scipy.special import logsumexp

        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        n, dim = self.train_.shape
        out = np.empty(len(X))
        for start in range(0, len(X), chunk):
            rows = X[start:start + chunk]
            # ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b; rounding can make a zero distance slightly negative
            sq = np.einsum("ij,ij->i", rows, rows)[:, None] + self.train_sq_[None] - 2 * rows @ self.train_.T
            out[start:start + chunk] = logsumexp(-np.maximum(sq, 0.0) / (2 * self.bandwidth**2), axis=1)
        return out - np.log(n) - 0.5 * dim * np.log(2 * np.pi * self.bandwidth**2)


def select_bandwidth(X, grid, *, seed: int = 0, held_out: float = 0.2) -> tuple[float, dict]:
    """The bandwidth of ``grid`` with the best mean log-likelihood of a random ``held_out`` share of X
    under the Gaussian kernel density of the rest; also every bandwidth's mean held-out log-likelihood."""
    X = _features(X)
    rng = np.random.default_rng([seed, 0xB4])  # a local stream: the split is not part of any run
    order = rng.permutation(len(X))
    cut = int(round(len(X) * held_out))
    if not 1 <= cut < len(X):
        raise MemlensError(f"Choosing a bandwidth needs at least 2 examples and 0 < held_out < 1; got {len(X)}, {held_out}.")
    fit, test = X[order[cut:]], X[order[:cut]]
    means = {float(h): float(GaussianKDE(h).fit(fit).score_samples(test).mean()) for h in grid}
    return max(means, key=means.get), means


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
