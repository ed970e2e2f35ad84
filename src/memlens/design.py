"""Membership designs: which examples each model trains on, as an (M, N) boolean mask.

Like scikit-learn's splitters, a design is a mask plus the seed that made it. Kinds:

* ``subsample:RATE`` — each model a uniform random subset of exactly ``round(RATE*N)`` examples
  (Feldman & Zhang 2020 use 0.7).
* ``halves`` — every example IN for exactly ``M // 2`` models (LiRA's "keep" scheme).
* ``kfold:K`` — M/K repetitions of K-fold: model j of a repetition leaves fold j out.
* ``loo:ID,ID,…`` — M/(k+1) repetitions of one model on everything plus one model without each ID.
* ``one-run:M`` — Steinke, Nasr & Jagielski (2023): M canaries, each IN with probability ½
  independently per model; every other example is always IN. One model already gives an ε lower
  bound (:mod:`memlens.mitigations.one_run`); the canaries are recorded in :meth:`Design.to_dict`.

Any design may exclude examples from training (:meth:`Design.excluding`, used by the removal and
deduplication mitigations): their columns are all False, and the exclusion enters the run's
identity. A design with nothing excluded keeps the ``to_dict`` it always had.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memlens.errors import MemlensError


@dataclass(frozen=True, eq=False)
class Design:
    """An (M, N) bool membership mask and how it was made."""

    spec: str
    seed: int
    membership: np.ndarray
    #: ids never trained on (columns all False) and why, e.g. ``"dedup:exact"``
    excluded: tuple[int, ...] = ()
    exclusion: str = ""
    #: one-run designs: the ids included with probability ½ (all others always IN)
    canaries: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_seed(self.seed)
        object.__setattr__(self, "excluded", tuple(sorted({int(i) for i in self.excluded})))
        object.__setattr__(self, "canaries", tuple(sorted({int(i) for i in self.canaries})))
        membership = np.asarray(self.membership)
        if membership.ndim != 2 or 0 in membership.shape:
            raise MemlensError(
                f"Design '{self.spec}': the membership mask must be (models, examples) with at least "
                f"one of each; got shape {membership.shape}."
            )
        if membership.dtype != bool:
            if not np.isin(membership, (0, 1)).all():
                raise MemlensError(f"Design '{self.spec}': the membership mask must hold only True/False (or 0/1).")
            membership = membership.astype(bool)
        object.__setattr__(self, "membership", membership)
        if self.excluded and membership[:, list(self.excluded)].any():
            raise MemlensError(f"Design '{self.spec}': excluded examples must be OUT for every model.")

    @property
    def n_models(self) -> int:
        return self.membership.shape[0]

    @property
    def n_examples(self) -> int:
        return self.membership.shape[1]

    def check_every_model_trains(self) -> None:
        """Refuse a design in which some model has no IN example (nothing to train it on).

        A valid mask on its own (``halves(8, 5)`` may leave a model empty), but no trainer can fit it.
        """
        idle = np.flatnonzero(~self.membership.any(axis=1))
        if len(idle):
            raise MemlensError(
                f"Design '{self.spec}' gives model(s) {idle[:5].tolist()} no training example "
                f"({self.n_examples} examples over {self.n_models} models). Use more examples or "
                "fewer --models."
            )

    def to_dict(self) -> dict:
        """The design's part of the run's identity; ``excluded`` and ``canaries`` only when present."""
        record = {"spec": self.spec, "seed": self.seed, "n_models": self.n_models}
        if self.canaries:
            record["canaries"] = list(self.canaries)
        if self.excluded:
            record["excluded"] = list(self.excluded)
            record["exclusion"] = self.exclusion
        return record

    def excluding(self, ids, reason: str) -> Design:
        """This design with ``ids`` never trained on (their columns set False), recording ``reason``.

        Every other entry of the mask is unchanged, so a run with and without the exclusion trains
        each model on the same subset less the excluded ids: a paired comparison. Excluding
        nothing returns this design itself.

        >>> d = halves(4, 6, seed=0).excluding([2, 5], "example")
        >>> d.membership[:, [2, 5]].any(), d.to_dict()["excluded"]
        (np.False_, [2, 5])
        """
        ids = sorted({int(i) for i in np.asarray(ids, dtype=np.int64).ravel()})
        if not ids:
            return self
        bad = [i for i in ids if not 0 <= i < self.n_examples]
        if bad:
            raise MemlensError(f"Cannot exclude ids {bad[:5]}: the design covers ids 0..{self.n_examples - 1}.")
        if not reason:
            raise MemlensError("An exclusion needs a reason (it is recorded in the run's identity).")
        membership = self.membership.copy()
        membership[:, ids] = False
        merged = sorted(set(self.excluded) | set(ids))
        why = f"{self.exclusion}; {reason}" if self.exclusion else reason
        return Design(self.spec, self.seed, membership, excluded=tuple(merged), exclusion=why,
                      canaries=self.canaries)  # fmt: skip


def _rng(seed: int) -> np.random.Generator:
    _check_seed(seed)
    from memlens import seeds

    # the run seed's "design" stream, so model seeds (spawned from the same integer) never overlap it
    return seeds.rng(seed, "design").spawn(1)[0]


def subsample(models: int, n: int, rate: float, *, seed: int = 0) -> Design:
    """Each model trains on a uniformly random subset of ``round(rate * n)`` examples.

    >>> d = subsample(4, 10, 0.7, seed=0)
    >>> d.membership.sum(axis=1).tolist()
    [7, 7, 7, 7]
    """
    _check(models, n)
    if not 0 < rate < 1:
        raise MemlensError(f"subsample:RATE needs 0 < RATE < 1; got {rate}.")
    m = round(rate * n)
    if m in (0, n):
        raise MemlensError(f"subsample:{rate} on {n} examples leaves no example IN or no example OUT.")
    rng = _rng(seed)
    # argsort of uniform noise per row = a uniform random permutation per model
    order = np.argsort(rng.random((models, n)), axis=1)
    membership = np.zeros((models, n), dtype=bool)
    np.put_along_axis(membership, order[:, :m], True, axis=1)
    return Design(f"subsample:{rate:g}", seed, membership)


def halves(models: int, n: int, *, seed: int = 0) -> Design:
    """Every example is IN for exactly ``models // 2`` models (LiRA's keep matrix).

    >>> d = halves(8, 5, seed=0)
    >>> d.membership.sum(axis=0).tolist()
    [4, 4, 4, 4, 4]
    """
    _check(models, n)
    if models < 2:
        raise MemlensError("The halves design needs at least 2 models (one IN and one OUT per example).")
    rng = _rng(seed)
    # rank of each model within a column: a uniform random permutation per example
    order = np.argsort(rng.random((models, n)), axis=0)
    membership = order < models // 2
    return Design("halves", seed, membership)


def kfold(models: int, n: int, k: int, *, seed: int = 0) -> Design:
    """``models // k`` repetitions of K-fold, each with a fresh shuffle; model j omits fold j.

    >>> d = kfold(4, 6, 2, seed=0)
    >>> d.membership.sum(axis=0).tolist()  # each example left out once per repetition
    [2, 2, 2, 2, 2, 2]
    """
    _check(models, n)
    if k < 2 or k > n:
        raise MemlensError(f"kfold:K needs 2 <= K <= N={n}; got {k}.")
    if models % k:
        raise MemlensError(f"kfold:{k} needs a number of models divisible by {k}; got {models}.")
    rng = _rng(seed)
    rows = []
    for _ in range(models // k):
        fold = np.empty(n, dtype=np.int64)
        fold[rng.permutation(n)] = np.arange(n) % k
        rows.extend(fold != j for j in range(k))
    return Design(f"kfold:{k}", seed, np.stack(rows))


def loo(models: int, n: int, ids: list[int], *, seed: int = 0) -> Design:
    """Leave-one-out on chosen ids: blocks of one all-data model plus one model without each id.

    >>> d = loo(3, 5, [1, 3])
    >>> d.membership.astype(int).tolist()
    [[1, 1, 1, 1, 1], [1, 0, 1, 1, 1], [1, 1, 1, 0, 1]]
    """
    _check(models, n)
    ids = sorted(set(ids))
    if not ids:
        raise MemlensError("loo:ID,ID,… needs at least one example id.")
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise MemlensError(f"loo ids {bad[:5]} are outside the dataset's ids 0..{n - 1}.")
    block = len(ids) + 1
    if models % block:
        raise MemlensError(
            f"loo with {len(ids)} id(s) trains blocks of {block} models (one on all data, one per "
            f"id); --models must be a multiple of {block}, got {models}."
        )
    rows = np.ones((block, n), dtype=bool)
    rows[np.arange(1, block), ids] = False
    return Design("loo:" + ",".join(map(str, ids)), seed, np.tile(rows, (models // block, 1)))


def one_run(models: int, n: int, canaries: int, *, seed: int = 0, candidates=None) -> Design:
    """``canaries`` ids, each IN with probability ½ independently per model; all others always IN.

    The canary ids are drawn uniformly without replacement from ``candidates`` (default: every
    id), then the inclusion coins, both from the run seed's design stream. Steinke, Nasr &
    Jagielski's bound needs only the coins to be independent fair flips; which ids are canaries is
    free (planted examples make a stronger audit).

    >>> d = one_run(2, 10, 4, seed=0)
    >>> len(d.canaries), bool(np.delete(d.membership, d.canaries, axis=1).all())
    (4, True)
    """
    _check(models, n)
    pool = np.arange(n) if candidates is None else np.unique(np.asarray(candidates, dtype=np.int64))
    if len(pool) and not (0 <= pool.min() and pool.max() < n):
        raise MemlensError(f"one-run canary candidates must be ids in 0..{n - 1}.")
    if not 1 <= canaries <= len(pool) or canaries >= n:
        raise MemlensError(
            f"one-run:{canaries} needs between 1 and {min(len(pool), n - 1)} canaries (of {len(pool)} "
            f"candidate examples, {n} in all; at least one example must always be IN)."
        )
    rng = _rng(seed)
    chosen = np.sort(rng.choice(pool, size=canaries, replace=False))
    membership = np.ones((models, n), dtype=bool)
    membership[:, chosen] = rng.random((models, canaries)) < 0.5
    return Design(f"one-run:{canaries}", seed, membership, canaries=tuple(chosen.tolist()))


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MemlensError(f"A seed must be a whole number >= 0; got {seed!r}.")


def _check(models: int, n: int) -> None:
    if models < 1:
        raise MemlensError(f"The number of models must be at least 1; got {models}.")
    if n < 2:
        raise MemlensError(f"A design needs at least 2 examples; got {n}.")


def parse(spec: str, models: int, n: int, *, seed: int = 0, candidates=None) -> Design:
    """Build a design from its CLI spelling (``halves``, ``subsample:0.7``, ``kfold:5``, ``loo:3,17``,
    ``one-run:M``; ``candidates``: the ids one-run draws its canaries from, default all)."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "subsample":
            rate = float(arg or 0.7)
        elif kind == "kfold":
            k = int(arg or 5)
        elif kind == "loo":
            ids = [int(i) for i in arg.split(",") if i.strip()]
        elif kind == "one-run":
            canaries = int(arg)
    except ValueError:
        raise MemlensError(f"Design '{spec}' has a malformed argument '{arg}'.") from None
    if kind == "halves":
        if arg:
            raise MemlensError(f"Design '{spec}': halves takes no argument; write just halves.")
        return halves(models, n, seed=seed)
    if kind == "subsample":
        return subsample(models, n, rate, seed=seed)
    if kind == "kfold":
        return kfold(models, n, k, seed=seed)
    if kind == "loo":
        return loo(models, n, ids, seed=seed)
    if kind == "one-run":
        return one_run(models, n, canaries, seed=seed, candidates=candidates)
    raise MemlensError(
        f"Unknown design '{spec}'. Use halves, subsample:RATE (e.g. subsample:0.7), kfold:K, "
        "loo:ID,ID,… or one-run:M (e.g. one-run:200)"
    )
