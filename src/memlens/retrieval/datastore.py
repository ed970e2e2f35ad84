"""The open-book datastore of RetroPrompt: training features and labels, searched by inner product.

One entry per training example (key = its feature, value = its label), held in a FAISS
``IndexFlatIP`` (exact inner-product search), as in Chen et al.'s code. Two retrievals read it:

* :meth:`Datastore.knn_distribution`: the label distribution of the k nearest entries,
  ``p_kNN(c) = Σ_j w_j 1[label_j = c]`` with ``w = softmax(sim / temperature)``;
* :meth:`Datastore.demonstrations`: per class, the similarity-weighted average of that class's
  ``m`` nearest entries (RetroPrompt's "neural demonstrations", ``α = softmax(z-scored sim)``).

During training a query that is itself in the datastore must not find itself (RetroPrompt drops
the nearest hit in train mode): pass its row as ``exclude``, and that entry is skipped by id,
not by rank, so duplicates of it are still found.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError


class RetrievalError(MemlensError):
    """A retrieval request the datastore cannot answer (too few entries, bad settings)."""


def _normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 and contiguous for FAISS."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return np.ascontiguousarray(features / np.where(norms > 0, norms, 1.0), dtype=np.float32)


class Datastore:
    """Unit-length keys with their labels, searched exactly by inner product (cosine similarity).

    Args:
        keys: (n, d) features of the training examples (normalized here to unit length).
        labels: (n,) integer labels in ``[0, n_classes)``.
        n_classes: How many classes the labels range over (classes may be absent).

    Example:
        >>> store = Datastore(np.eye(3), np.array([0, 1, 1]), 2)
        >>> store.knn_distribution(np.eye(3)[:1], k=1, exclude=np.array([0])).round(3).tolist()
        [[0.0, 1.0]]
    """

    def __init__(self, keys, labels, n_classes: int) -> None:
        try:
            import faiss
        except ImportError:
            raise RetrievalError(
                "The retrieval head's datastore searches with FAISS, which is not installed: "
                "pip install 'memlens[knn]' (or pip install faiss-cpu)."
            ) from None

        self.keys = _normalize(keys)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_classes = int(n_classes)
        if self.keys.ndim != 2 or len(self.keys) != len(self.labels) or len(self.keys) == 0:
            raise RetrievalError(
                f"A datastore needs (n, d) keys and n labels with n >= 1; got keys of shape "
                f"{self.keys.shape} and {len(self.labels)} labels."
            )
        if self.labels.min() < 0 or self.labels.max() >= self.n_classes:
            raise RetrievalError(f"Datastore labels must lie in [0, {self.n_classes}); got {self.labels.min()}…{self.labels.max()}.")
        self.index = faiss.IndexFlatIP(self.keys.shape[1])
        self.index.add(self.keys)
        # one sub-index per class, for the per-class demonstrations
        self._class_rows = [np.flatnonzero(self.labels == c) for c in range(self.n_classes)]
        self._class_index = []
        for rows in self._class_rows:
            sub = faiss.IndexFlatIP(self.keys.shape[1])
            if len(rows):
                sub.add(self.keys[rows])
            self._class_index.append(sub)

    def __len__(self) -> int:
        return len(self.keys)

    def search(self, queries, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar entries per query: (similarities, rows), both (q, k), best first.

        ``exclude`` (q,) gives, per query, a datastore row it must not retrieve (its own entry
        during training; -1 for none).
        """
        queries = _normalize(queries)
        exclude = self._check_exclude(exclude, len(queries))
        available = len(self) - (1 if (exclude >= 0).any() else 0)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 or k > available:
            raise RetrievalError(
                f"Asked for k = {k} neighbours, but the datastore holds {len(self)} entries"
                + (" (one of them the query itself, which is left out)" if available < len(self) else "")
                + f". Use 1 <= k <= {available}."
            )
        return _search_excluding(self.index, queries, int(k), exclude, np.arange(len(self)))

    def knn_distribution(self, queries, k: int, temperature: float = 0.05, exclude=None) -> np.ndarray:
        """(q, n_classes) ``p_kNN``: softmax(sim / temperature)-weighted votes of the k nearest."""
        if not temperature > 0:
            raise RetrievalError(f"The kNN temperature must be > 0; got {temperature}.")
        sims, rows = self.search(queries, k, exclude)
        return knn_label_distribution(sims, self.labels[rows], self.n_classes, temperature)

    def demonstrations(self, queries, per_class: int, exclude=None) -> np.ndarray:
        """(q, n_classes, d) per-class demonstrations: Σ α_j key_j over the class's m nearest.

        α = softmax of the z-scored similarities (RetroPrompt's ``get_demos``). A class with
        fewer than ``per_class`` entries (besides the query's own) uses those it has; a class
        with none gives a zero vector.
        """
        if isinstance(per_class, bool) or not isinstance(per_class, int | np.integer) or per_class < 1:
            raise RetrievalError(f"Demonstrations need per_class >= 1 neighbours; got {per_class!r}.")
        queries = _normalize(queries)
        exclude = self._check_exclude(exclude, len(queries))
        demos = np.zeros((len(queries), self.n_classes, self.keys.shape[1]), dtype=np.float64)
        for c, rows in enumerate(self._class_rows):
            own = np.isin(exclude, rows)  # queries whose own entry is in this class
            m = min(int(per_class), len(rows) - (1 if own.any() else 0))
            if m < 1:
                # too few entries: those queries whose own entry is the class's only one get zero
                if len(rows) == 1:
                    demos[~own, c] = self.keys[rows[0]]
                continue
            sims, found = _search_excluding(self._class_index[c], queries, m, exclude, rows)
            z = (sims - sims.mean(1, keepdims=True)) / np.where(sims.std(1, keepdims=True) > 0, sims.std(1, keepdims=True), 1.0)
            alpha = np.exp(z - z.max(1, keepdims=True))
            alpha /= alpha.sum(1, keepdims=True)
            demos[:, c] = np.einsum("qk,qkd->qd", alpha, self.keys[found].astype(np.float64))
        return demos

    def _check_exclude(self, exclude, n_queries: int) -> np.ndarray:
        if exclude is None:
            return np.full(n_queries, -1, dtype=np.int64)
        exclude = np.asarray(exclude, dtype=np.int64)
        if exclude.shape != (n_queries,) or exclude.max(initial=-1) >= len(self):
            raise RetrievalError(
                f"exclude must give one datastore row (or -1) per query: {n_queries} values below {len(self)}."
            )
        return exclude


def _search_excluding(index, queries, k: int, exclude, rows) -> tuple[np.ndarray, np.ndarray]:
    """Search ``index`` (whose entry j is datastore row ``rows[j]``) for k hits per query, skipping
    the query's excluded row. Asks FAISS for k + 1 and drops the excluded id where it appears,
    otherwise the last hit."""
    extra = 1 if (np.isin(exclude, rows)).any() else 0
    sims, found = index.search(queries, k + extra)
    found = rows[found]
    if not extra:
        return sims.astype(np.float64), found
    keep = found != exclude[:, None]
    # a query whose own row was not among the k + 1 hits keeps its best k
    no_self = keep.all(1)
    keep[no_self, -1] = False
    return sims[keep].reshape(len(queries), k).astype(np.float64), found[keep].reshape(len(queries), k)


def knn_label_distribution(similarities, neighbour_labels, n_classes: int, temperature: float) -> np.ndarray:
    """``p_kNN(c) = Σ_j softmax(sim / temperature)_j 1[label_j = c]`` for each query (row).

    >>> knn_label_distribution(np.array([[1.0, 1.0]]), np.array([[0, 1]]), 3, 0.1).tolist()
    [[0.5, 0.5, 0.0]]
    """
    s = np.asarray(similarities, dtype=np.float64) / float(temperature)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    p = np.zeros((len(s), int(n_classes)))
    np.add.at(p, (np.repeat(np.arange(len(s)), s.shape[1]), np.asarray(neighbour_labels).ravel()), w.ravel())
    return p
