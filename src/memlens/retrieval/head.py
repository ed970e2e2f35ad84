"""A RetroPrompt-style retrieval head on frozen features (Chen et al., NeurIPS 2022).

RetroPrompt decouples knowledge from memorization: the training set is kept as an open-book
datastore, and the model reads it rather than storing rare cases in its weights. Here, on
frozen features (the stand-in for the pretrained LM, :class:`FrozenPCA`):

1. **datastore** — the training features and labels (:class:`~memlens.retrieval.datastore.Datastore`);
2. **neural demonstrations** — per class c, the similarity-weighted average d_c of the query's m
   nearest class-c entries, fed to the head as ``√d · (x ⊙ d_c)`` in class c's row of the design
   (:func:`design_matrix`), read by one weight vector shared by all classes (a linear head cannot
   multiply x by d_c itself, nor attend to it as RetroPrompt's transformer does; the √d keeps the
   block on the scale of x, so one L2 penalty suits both), leave-self-out during training;
3. **kNN-guided loss** — example i weighted ``1 + β·(−log p_kNN(y_i))`` (leave-self-out), so examples
   the datastore already classifies carry less weight than those it gets wrong;
4. **kNN interpolation** — at inference ``p = λ·p_kNN + (1 − λ)·p_head``.

The head is convex — multinomial logistic regression, L2-regularized, fitted to its optimum — so
its memorization of each training point is exact self-influence
(:func:`memlens.retrieval.influence.self_influence`).

Frozen features never change during training, so the datastore built from them at the start is
the one RetroPrompt would rebuild each epoch; :meth:`RetrievalHead.fit` builds it once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax

from memlens.errors import MemlensError
from memlens.retrieval.datastore import Datastore, RetrievalError, _normalize

#: cap on −log p_kNN(y) in the kNN-guided weight (RetroPrompt clamps log p_kNN at −100)
MAX_KNN_NLL = 100.0


class FrozenPCA:
    """The frozen "pretrained" feature extractor of E10: PCA fitted on unlabelled inputs.

    Deterministic (full SVD, scikit-learn's sign convention), so it needs no seed. Features are
    scaled to unit length, so inner products are cosine similarities.
    """

    def __init__(self, n_components: int = 32) -> None:
        self.n_components = int(n_components)
        self.pca = None

    def fit(self, X) -> FrozenPCA:
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=np.float64)
        if self.n_components < 1 or self.n_components > min(X.shape):
            raise MemlensError(
                f"PCA({self.n_components}) needs between 1 and min(examples, features) = {min(X.shape)} "
                "components; choose fewer components or give more examples."
            )
        self.pca = PCA(self.n_components, svd_solver="full").fit(X)
        return self

    def transform(self, X) -> np.ndarray:
        if self.pca is None:
            raise MemlensError("FrozenPCA.transform before fit: fit it on the unlabelled inputs first.")
        return _normalize(self.pca.transform(np.asarray(X, dtype=np.float64))).astype(np.float64)


def design_matrix(features, n_classes: int, shared=None) -> np.ndarray:
    """(n, C, P) per-class inputs of the logistic head: ``logits_i = Φ_i θ``.

    Row c of ``Φ_i`` holds ``[x_i, 1]`` in class c's own block of weights and bias (plain
    multinomial regression), then ``shared[i, c]`` — per-class features read by one weight
    vector common to all classes (the demonstration block: the same "is x like class c's
    demonstration" weights score every class, as one network reads every demonstration in
    RetroPrompt).
    """
    X = np.hstack([np.asarray(features, dtype=np.float64), np.ones((len(features), 1))])
    n, d = X.shape
    c = int(n_classes)
    own = np.zeros((n, c, c, d))
    own[:, np.arange(c), np.arange(c)] = X[:, None, :]
    own = own.reshape(n, c, c * d)
    if shared is None:
        return own
    return np.concatenate([own, np.asarray(shared, dtype=np.float64)], axis=2)


def fit_logistic(design, labels, l2: float, weights=None) -> np.ndarray:
    """(P,) minimizer of ``Σ_i w_i CE_i + (l2/2)‖θ‖²`` for logits ``Φ_i θ``, by L-BFGS.

    Convex with a unique optimum for ``l2 > 0``; run to a gradient near machine precision, since
    self-influence and leave-one-out comparisons are only as exact as the optimum.
    """
    Phi = np.asarray(design, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    w = np.ones(len(Phi)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not l2 > 0:
        raise MemlensError(f"The logistic head needs l2 > 0; got {l2}.")
    onehot = np.eye(Phi.shape[1])[y]
    rows = np.arange(len(Phi))

    def objective(theta):
        logp = log_softmax(Phi @ theta, axis=1)
        value = -(w * logp[rows, y]).sum() + 0.5 * l2 * theta @ theta
        grad = np.einsum("ic,icp->p", (np.exp(logp) - onehot) * w[:, None], Phi) + l2 * theta
        return value, grad

    result = minimize(objective, np.zeros(Phi.shape[2]), jac=True, method="L-BFGS-B",
                      options={"maxiter": 20000, "maxcor": 30, "gtol": 1e-10, "ftol": 1e-15})  # fmt: skip
    return result.x


def predict_logistic(design, coef) -> np.ndarray:
    """(n, C) class probabilities of the logistic head."""
    return softmax(np.asarray(design, dtype=np.float64) @ coef, axis=1)


def interpolate(p_head, p_knn, weight: float) -> np.ndarray:
    """``λ·p_kNN + (1 − λ)·p_head``, the paper's linear mixture (λ = ``weight`` in [0, 1])."""
    if not 0.0 <= weight <= 1.0:
        raise RetrievalError(f"The kNN interpolation weight λ must lie in [0, 1]; got {weight}.")
    return weight * np.asarray(p_knn, dtype=np.float64) + (1.0 - weight) * np.asarray(p_head, dtype=np.float64)


@dataclass
class RetrievalHead:
    """The retrieval-augmented head; each component can be switched off for ablations.

    Args:
        demonstrations: Feed the per-class neural demonstrations to the head.
        knn_loss: Weight each training example by ``1 + beta·(−log p_kNN(y))``.
        interpolation: λ of ``λ·p_kNN + (1 − λ)·p_head`` at inference (0 = the head alone).
        k: Neighbours of the kNN distribution (at most the datastore size, less one in training).
        per_class: Neighbours per class averaged into a demonstration (None: half the smallest
            class, at most 8 — E10's 2 for 4-shot, 8 for 16-shot).
        temperature: τ of the kNN weights softmax(sim / τ) over cosine similarities.
        beta: β of the kNN-guided loss (E10: 1).
        l2: L2 penalty of the head (on the summed, not averaged, loss).

    With every component off it is the plain logistic head on the frozen features (the baseline).
    """

    demonstrations: bool = True
    knn_loss: bool = True
    interpolation: float = 0.2
    k: int = 16
    per_class: int | None = None
    temperature: float = 0.05
    beta: float = 1.0
    l2: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.interpolation <= 1.0:
            raise RetrievalError(f"The kNN interpolation weight λ must lie in [0, 1]; got {self.interpolation}.")
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise RetrievalError(f"k (kNN neighbours) must be a whole number >= 1; got {self.k!r}.")
        if self.per_class is not None and (not isinstance(self.per_class, int | np.integer) or self.per_class < 1):
            raise RetrievalError(f"per_class must be a whole number >= 1 or None; got {self.per_class!r}.")
        if not self.temperature > 0 or not self.l2 > 0 or not self.beta >= 0:
            raise RetrievalError(
                f"Need temperature > 0, l2 > 0 and beta >= 0; got {self.temperature}, {self.l2}, {self.beta}."
            )

    @property
    def uses_datastore(self) -> bool:
        return self.demonstrations or self.knn_loss or self.interpolation > 0

    def fit(self, features, labels, n_classes: int) -> RetrievalHead:
        """Build the datastore of ``features`` and fit the head on them (leave-self-out retrieval).

        ``features`` are rows of unit length, as :class:`FrozenPCA` gives them.
        """
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        self.n_classes_ = int(n_classes)
        self.store_ = Datastore(features, labels, n_classes) if self.uses_datastore else None
        if self.store_ is not None and self.k > len(features) - 1:
            raise RetrievalError(
                f"k = {self.k} neighbours, but a training example can retrieve only the other "
                f"{len(features) - 1} training examples. Use k <= {len(features) - 1} or more examples."
            )
        counts = np.bincount(labels, minlength=self.n_classes_)
        present = counts[counts > 0]
        self.per_class_ = self.per_class or int(max(1, min(8, present.min() // 2)))
        own = np.arange(len(features))
        self.design_ = self._design(features, exclude=own)
        if self.knn_loss:
            p_knn = self.store_.knn_distribution(features, self.k, self.temperature, exclude=own)
            nll = np.minimum(-np.log(np.maximum(p_knn[own, labels], 1e-300)), MAX_KNN_NLL)
            self.weights_ = 1.0 + self.beta * nll
        else:
            self.weights_ = np.ones(len(features))
        self.labels_ = labels
        self.coef_ = fit_logistic(self.design_, labels, self.l2, self.weights_)
        return self

    def _design(self, features, exclude=None) -> np.ndarray:
        if not self.demonstrations:
            return design_matrix(features, self.n_classes_)
        demos = self.store_.demonstrations(features, self.per_class_, exclude=exclude)
        return design_matrix(features, self.n_classes_, np.sqrt(features.shape[1]) * features[:, None, :] * demos)

    def predict_proba(self, features) -> np.ndarray:
        """(n, C) interpolated class probabilities of queries, retrieving from the whole datastore."""
        features = np.asarray(features, dtype=np.float64)
        p = predict_logistic(self._design(features), self.coef_)
        if self.interpolation > 0:
            p_knn = self.store_.knn_distribution(features, min(self.k, len(self.store_)), self.temperature)
            p = interpolate(p, p_knn, self.interpolation)
        return p

    def self_influence(self) -> np.ndarray:
        """(n,) exact self-influence of each training example on the fitted head."""
        from memlens.retrieval.influence import self_influence

        return self_influence(self.design_, self.labels_, self.coef_, self.l2, self.weights_)

    def config(self) -> dict:
        return asdict(self)
