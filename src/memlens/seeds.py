"""Every random stream of a run, as a named child of the run's one seed.

A run has one integer seed. Each thing that draws random numbers — a plant, the design, each
model's initialisation and batch order, held-out splits, reference models, the bootstrap — draws
from its own stream, ``SeedSequence([seed, STREAMS[name], *key])``, so no two streams overlap and
adding a stream never changes another's numbers. Model *m*'s seed is child *m* of the ``models``
stream: it depends only on (seed, m), so a run split into shards, resumed, or spread over machines
trains the same models, and ``seed.spawn_key[-1]`` is the model's index.

The keys below are the constants these streams have always used, so runs, tests and recorded
figures made before this module existed keep their numbers.

Integers for libraries that take one (``torch.manual_seed``, scikit-learn's ``random_state``,
a user's ``train_fn(X, y, seed)``) come from :func:`to_int`, here only.

Example:
    >>> from memlens import seeds
    >>> a, b = seeds.model_seeds(0, 2)
    >>> a.spawn_key, b.spawn_key
    ((0,), (1,))
    >>> bool(seeds.rng(0, "design").integers(10) == seeds.rng(0, "design").integers(10))
    True
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError

#: stream name → the entropy word that separates it from every other stream of the same seed
STREAMS = {
    "models": 0x7EA1,  # one child per model: initialisation, batch order (memlens.train)
    "design": 0xDE5,  # membership masks (memlens.design)
    "plant:label-noise": 1,  # which labels flip, and to what (memlens.data.plants)
    "plant:duplicates": 2,  # which examples are copied, and their new labels
    "lm:heldout": 0x4E1D,  # documents a language-model audit leaves out of training
    "lm:reference": 0x2EF,  # the held-out half a reference language model trains on
    "lm:canary-candidates": 0xE4B0,  # candidate secrets sampled to rank a canary's exposure
    "lm:canary-control": 0xC047,  # initialisations of the untrained control models
    "generative:encoder": 0xFEA7,  # the image encoder whose feature space a generative audit searches
    "capacity:subsets": 0xCA5,  # the class-balanced order whose prefixes `memlens capacity construct` fits
    "capacity:labels": 0xCA1,  # uniformly random labels of `memlens capacity construct --labels random`
    "capacity:constructions": 0xCA7,  # random directions and hyperplanes of the memorizing constructions
    "ssl:canvas": 0x55C,  # which digit, where, on which background each déjà vu canvas is drawn (memlens.ssl)
}

#: how :func:`to_int` turns a SeedSequence into an integer, by the range the consumer accepts
INT_FORMS = {
    "int31": "generate_state(1, uint32) >> 1: in [0, 2**31), for random_state and user functions",
    "uint32": "generate_state(1, uint32): in [0, 2**32), e.g. numpy, transformers.set_seed",
    "int63": "generate_state(1, uint64) >> 1: in [0, 2**63), for torch.Generator.manual_seed",
    "mod31": "generate_state(1, uint32) mod (2**31 - 1): the language-model trainer's torch seed",
}


def _check(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MemlensError(f"A seed must be a whole number >= 0; got {seed!r}.")
    return int(seed)


def sequence(seed: int, stream: str, *key: int) -> np.random.SeedSequence:
    """The named stream ``stream`` of run seed ``seed`` (``key`` selects a sub-stream)."""
    if stream not in STREAMS:
        raise MemlensError(f"Unknown seed stream '{stream}'; known: {', '.join(STREAMS)}.")
    return np.random.SeedSequence([_check(seed), STREAMS[stream], *key])


def rng(seed: int, stream: str, *key: int) -> np.random.Generator:
    """A generator drawing from the named stream (see :func:`sequence`)."""
    return np.random.default_rng(sequence(seed, stream, *key))


def model_seeds(seed: int, n_models: int) -> list[np.random.SeedSequence]:
    """One independent seed per model: child *m* of the ``models`` stream (``spawn_key == (m,)``).

    Model m's seed depends only on (seed, m), so a run split into shards, resumed, or spread
    across machines trains exactly the same models.
    """
    return sequence(seed, "models").spawn(n_models)


def model_index(seed: np.random.SeedSequence) -> int:
    """The index of the model a :func:`model_seeds` seed belongs to."""
    if not seed.spawn_key:
        raise MemlensError(
            "This seed was not spawned by memlens.seeds.model_seeds: it names no model."
        )
    return int(seed.spawn_key[-1])


def to_int(seed: np.random.SeedSequence | int, form: str = "int31") -> int:
    """An integer seed from a SeedSequence, in one of :data:`INT_FORMS` (an int passes through)."""
    if not hasattr(seed, "generate_state"):
        return _check(seed)
    if form == "int63":
        return int(seed.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    word = int(seed.generate_state(1, dtype=np.uint32)[0])
    if form == "int31":
        return word >> 1
    if form == "uint32":
        return word
    if form == "mod31":
        return word % (2**31 - 1)
    raise MemlensError(f"Unknown integer form '{form}'; known: {', '.join(INT_FORMS)}.")
