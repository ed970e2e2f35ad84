"""Trainers turn (data, rows of the membership mask, per-model seeds) into observations.

A trainer never knows about estimators. Two are built in: :class:`Ensemble`, many small PyTorch
models trained at once in one batched computation, and :class:`Sklearn`, any scikit-learn
classifier with ``fit`` and ``predict_proba``, cloned per model.
"""

from memlens.train.base import Trainer, model_seeds
from memlens.train.ensemble import Ensemble
from memlens.train.function import Function
from memlens.train.sklearn import Sklearn, parse_model

__all__ = ["Ensemble", "Function", "Sklearn", "Trainer", "model_seeds", "parse_model"]
