"""Deduplication before training: exact copies and near-duplicates by embedding.

* ``exact`` — examples whose feature rows are identical byte for byte form a group, whatever
  their labels: a copy with a conflicting label is exactly the kind of example a model must
  memorize, so dedup keeps one of it (the lowest id) and reports the groups whose labels disagree.
* ``near:THRESHOLD`` — cosine similarity ≥ THRESHOLD between embeddings (by default each
  feature standardized over the pool, as the trainers see it), all pairs above the threshold
  found by exact inner-product range search (FAISS; scikit-learn when FAISS is absent); pairs
  link examples into connected components, and each component keeps its lowest id.

The removed ids are excluded through the design (:meth:`memlens.design.Design.excluding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.errors import MemlensError


@dataclass(frozen=True)
class Deduplication:
    """What a deduplication found: ``removed`` ids, the ``groups`` (id arrays of ≥ 2 examples,
    each keeping its lowest id), and the groups whose labels disagree (``conflicting``)."""

    method: str
    removed: np.ndarray
    groups: list
    conflicting: list

    def summary(self) -> dict:
        return {"method": self.method, "removed": int(len(self.removed)), "groups": len(self.groups),
                "conflicting_label_groups": len(self.conflicting),
                "conflicting_examples": [g.tolist() for g in self.conflicting[:10]]}  # fmt: skip


def parse(spec: str) -> tuple[str, float | None]:
    """``"exact"`` → ("exact", None); ``"near:0.95"`` → ("near", 0.95)."""
    kind, _, arg = spec.partition(":")
    if kind == "exact" and not arg:
        return "exact", None
    if kind == "near":
        try:
            threshold = float(arg)
        except ValueError:
            threshold = float("nan")
        if -1 < threshold <= 1:
            return "near", threshold
    raise MemlensError(
        f"--dedup takes exact (identical feature rows) or near:THRESHOLD (cosine similarity >= "
        f"THRESHOLD in (-1, 1], e.g. near:0.95); got '{spec}'."
    )


def components(n: int, pairs: np.ndarray) -> list[np.ndarray]:
    """Connected components of size ≥ 2 of the graph on ``0..n-1`` with edges ``pairs`` (E, 2),
    each a sorted id array, ordered by their lowest id."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    order = np.argsort(label, kind="stable")  # ids ascending within each component
    cuts = np.flatnonzero(np.diff(label[order])) + 1
    groups = [g for g in np.split(order, cuts) if len(g) > 1]
    return sorted(groups, key=lambda g: g[0])


def exact_pairs(X: np.ndarray) -> np.ndarray:
    """(E, 2) pairs (first id of a group, another member) of identical rows of ``X``."""
    X = np.ascontiguousarray(X)
    rows = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    leader = first[inverse.ravel()]
    others = np.flatnonzero(leader != np.arange(len(X)))
    return np.stack([leader[others], others], axis=1)


def embed(X: np.ndarray) -> np.ndarray:
    """The default embedding: each feature standardized over the pool, rows scaled to unit length."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std < 1e-6, 1.0, std)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return np.ascontiguousarray(Z / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def near_pairs(embedding: np.ndarray, threshold: float) -> np.ndarray:
    """(E, 2) pairs i < j of unit-length rows with inner product (cosine) ≥ ``threshold``."""
    E = np.ascontiguousarray(embedding, dtype=np.float32)
    # float32 inner products: search a hair below the threshold, then keep the exact ≥ ones
    slack = 1e-5
    try:
        import faiss

        index = faiss.IndexFlatIP(E.shape[1])
        index.add(E)
        lims, _, found = index.range_search(E, threshold - slack)
        query = np.repeat(np.arange(len(E)), np.diff(lims.astype(np.int64)))
    except ImportError:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(radius=1 - threshold + slack, metric="cosine").fit(E)
        neighbours = nn.radius_neighbors(E, return_distance=False)
        query = np.repeat(np.arange(len(E)), [len(r) for r in neighbours])
        found = np.concatenate(neighbours) if len(neighbours) else np.zeros(0, np.int64)
    keep = query < found
    i, j = query[keep], found[keep].astype(np.int64)
    exact = np.einsum("ed,ed->e", E[i].astype(np.float64), E[j].astype(np.float64)) >= threshold
    return np.stack([i[exact], j[exact]], axis=1)


def deduplicate(X, y, spec: str, *, embedding=None) -> Deduplication:
    """Find the examples ``spec`` (``exact`` or ``near:T``) removes: all but the lowest id of each group.

    ``embedding`` (N, D) replaces the default standardized-feature embedding for ``near``.

    >>> X = np.array([[0., 1.], [2., 3.], [0., 1.], [0., 1.]])
    >>> d = deduplicate(X, np.array([0, 1, 0, 1]), "exact")
    >>> d.removed.tolist(), [g.tolist() for g in d.conflicting]
    ([2, 3], [[0, 2, 3]])
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise MemlensError(f"Deduplication needs (N, D) features and N labels; got {X.shape} and {y.shape}.")
    kind, threshold = parse(spec)
    if kind == "exact":
        pairs = exact_pairs(X)
    else:
        E = embed(X) if embedding is None else _unit_rows(embedding, len(X))
        pairs = near_pairs(E, threshold)
    groups = components(len(X), pairs)
    removed = np.sort(np.concatenate([g[1:] for g in groups])) if groups else np.zeros(0, np.int64)
    conflicting = [g for g in groups if len(np.unique(y[g])) > 1]
    return Deduplication(spec, removed, groups, conflicting)


def _unit_rows(embedding, n: int) -> np.ndarray:
    E = np.asarray(embedding, dtype=np.float64)
    if E.ndim != 2 or len(E) != n:
        raise MemlensError(f"A dedup embedding must be (N={n}, D); got shape {E.shape}.")
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return np.ascontiguousarray(E / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def dedup_design(design, data, spec: str):
    """``design`` with ``data``'s duplicates (``spec``) excluded, and what was found."""
    found = deduplicate(data.X, data.y, spec)
    return design.excluding(found.removed, f"dedup:{spec}"), found
