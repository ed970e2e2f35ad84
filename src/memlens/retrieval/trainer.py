"""The retrieval head as a memlens trainer: ``memlens audit --model retrieval``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memlens import observe
from memlens.errors import MemlensError
from memlens.retrieval.head import FrozenPCA, RetrievalHead


@dataclass
class RetrievalTrainer:
    """One :class:`~memlens.retrieval.head.RetrievalHead` per model, on one frozen extractor.

    The extractor (:class:`~memlens.retrieval.head.FrozenPCA`, ``components`` dimensions) is fitted
    once on every input of the dataset, training pool and test set, without labels — E10's
    stand-in for a model pretrained on unlabelled data. It is the same for all models, so it
    makes no member/non-member difference. Each model's datastore holds its own members; every
    example is then observed as the model is deployed, retrieving from that datastore (a member
    finds itself there: the datastore's memorization counts). The fit is convex and starts from
    zero, so it is deterministic and the model seeds are not needed.

    Returns the observations of :class:`memlens.train.ensemble.Ensemble` (``correct``,
    ``loss``, ``confidence``, ``probabilities`` and their ``test_`` twins), so Feldman–Zhang
    memorization, LiRA and the rest follow unchanged.

    Example:
        >>> from memlens.data import load
        >>> from memlens.design import halves
        >>> from memlens.train import model_seeds
        >>> obs = RetrievalTrainer().fit_observe(load("digits:200"), halves(2, 200).membership,
        ...                                      model_seeds(0, 2))
        >>> obs["correct"].shape, obs["test_correct"].shape
        ((2, 200), (2, 450))
    """

    head: RetrievalHead = field(default_factory=RetrievalHead)
    components: int = 32
    units_per_model: int = 1

    def config(self) -> dict:
        return {
            "trainer": "retrieval",
            "extractor": {"kind": "pca", "components": int(self.components), "fit_on": "all inputs, unlabelled"},
            "head": self.head.config(),
        }

    def fit_observe(self, data, membership, seeds, progress=None) -> dict:
        membership = np.asarray(membership, dtype=bool)
        if membership.ndim != 2 or membership.shape[1] != data.n_examples:
            raise MemlensError(
                f"Membership of shape {membership.shape} does not cover the {data.n_examples} examples."
            )
        pool = data.X if not data.has_test else np.vstack([data.X, data.X_test])
        extractor = FrozenPCA(self.components).fit(pool)
        features = extractor.transform(data.X)
        test_features = extractor.transform(data.X_test) if data.has_test else None
        probs, test_probs = [], []
        for row in membership:
            if not row.any():
                raise MemlensError("A model in this design has no training examples.")
            head = RetrievalHead(**self.head.config()).fit(features[row], data.y[row], data.n_classes)
            probs.append(head.predict_proba(features))
            if test_features is not None:
                test_probs.append(head.predict_proba(test_features))
            if progress:
                progress(1)
        out = observe.from_probabilities(np.stack(probs), data.y)
        if test_features is not None:
            test = observe.from_probabilities(np.stack(test_probs), data.y_test, probabilities=False)
            out.update({f"test_{k}": v for k, v in test.items()})
        return out
