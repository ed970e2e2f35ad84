"""Retrieval-augmented learning (RetroPrompt, Chen et al. 2022) and its memorization.

A frozen feature extractor, a datastore of the training features, neural demonstrations, a
kNN-guided loss and kNN interpolation around a convex head whose memorization of each training
point is exact self-influence; :class:`RetrievalTrainer` runs it on the engine
(``memlens audit --model retrieval``) for Feldman–Zhang memorization and membership inference.
"""

from memlens.retrieval.datastore import Datastore, RetrievalError, knn_label_distribution
from memlens.retrieval.head import (
    FrozenPCA,
    RetrievalHead,
    design_matrix,
    fit_logistic,
    interpolate,
    predict_logistic,
)
from memlens.retrieval.influence import logistic_gradients, logistic_hessian, self_influence
from memlens.retrieval.trainer import RetrievalTrainer

__all__ = [
    "Datastore", "FrozenPCA", "RetrievalError", "RetrievalHead", "RetrievalTrainer", "design_matrix",
    "fit_logistic", "interpolate", "knn_label_distribution", "logistic_gradients", "logistic_hessian",
    "predict_logistic", "self_influence",
]  # fmt: skip
