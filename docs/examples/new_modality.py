# docs/examples/new_modality.py
"""A new modality on the one engine: bigram models of integer sequences (a trainer, one observation)."""

import numpy as np

import memlens as ml
from memlens.engine import fingerprint, run_design


class Bigrams:
    """One add-one-smoothed bigram model per membership row, observed on every sequence."""

    def __init__(self, vocab: int):
        self.vocab = vocab

    def config(self) -> dict:  # everything that changes the models: recorded in run.json
        return {"trainer": "bigrams", "vocab": self.vocab}

    def fit_observe(self, sequences, membership, seeds, progress=None) -> dict:
        loglik = np.empty(membership.shape, dtype=np.float32)  # (models, examples)
        for m, row in enumerate(membership):
            counts = np.ones((self.vocab, self.vocab))
            for seq in (s for s, keep in zip(sequences, row, strict=True) if keep):
                np.add.at(counts, (seq[:-1], seq[1:]), 1)
            logp = np.log(counts / counts.sum(axis=1, keepdims=True))
            loglik[m] = [logp[s[:-1], s[1:]].mean() for s in sequences]
            if progress:
                progress(1)
        return {"loglik": loglik}  # observation name → (models, examples) array


rng = np.random.default_rng(0)
sequences = [(np.arange(12) + i % 5) % 8 for i in range(200)]  # 5 patterns, 40 copies each ...
sequences += [rng.integers(0, 8, 12) for _ in range(10)]  # ... and 10 random sequences, once each
design = ml.design.halves(16, len(sequences), seed=0)
about = {"name": "patterns", "fingerprint": fingerprint(sequences)}  # run.json refuses other data
store = run_design(
    sequences, design, Bigrams(vocab=8), "runs/bigrams", describe=about, progress=False
)
scores = ml.estimate.memorization_scores(store.membership, store.observation("loglik"))
print("most memorized:", sorted(np.argsort(-scores.memorization)[:10].tolist()))  # the random ones
