"""Auditing privacy with one training run (Steinke, Nasr & Jagielski 2023) on a ``one-run:M`` design.

Each of the M canaries is IN with probability ½, independently per model; every other example is
always IN (:func:`memlens.design.one_run`). Per model, the auditor scores the canaries by the
model's −loss on them, guesses IN for the top k₊ and OUT for the bottom k₋ and abstains on the
rest; the number of correct guesses gives an ε lower bound (:mod:`memlens.estimate.epsilon`).
The number of guesses is not fixed in advance but swept (10, 20, 50, … up to M, half IN, half
OUT), so each try gets β divided by the tries (Bonferroni); reporting the largest bound over the
models is a second choice, so each model gets β / models. The run's bound then holds at 1 − β.

A canary whose feature row equals another trained example's leaks its membership through that
copy whatever its coin says, which breaks the audit's assumption: :func:`check_collisions`
refuses such designs before training.
"""

from __future__ import annotations

import numpy as np

from memlens.errors import MemlensError

#: the audit's failure probability for the run's reported bound
BETA = 0.05
#: what the canaries are scored by: the per-example observation, and its sign (higher = IN)
SCORE = ("loss", -1.0)


def one_run_audit(membership, loss, canaries, *, beta: float = BETA, delta: float = 0.0) -> dict:
    """The ``"one_run"`` section of ``mia.json``: per-model and run-level ε lower bounds.

    Args:
        membership: (M, N) bool design mask.
        loss: (M, N) per-example loss of each model (lower = more likely trained on).
        canaries: the canary ids (their columns are the coin flips).
        beta: failure probability of the run's bound (the maximum over models).
        delta: the δ of the (ε, δ)-DP claim audited.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> membership = np.ones((2, 300), dtype=bool); membership[:, :200] = rng.random((2, 200)) < 0.5
        >>> loss = np.where(membership, 0.1, 2.0)  # a model that leaks every canary
        >>> r = one_run_audit(membership, loss, np.arange(200))
        >>> r["canaries"], r["epsilon_lower_bound"] > 1
        (200, True)
    """
    from memlens.estimate import one_run_epsilon_sweep

    membership = np.asarray(membership, dtype=bool)
    canaries = np.asarray(canaries, dtype=np.int64)
    if canaries.size == 0:
        raise MemlensError("A one-run audit needs at least one canary.")
    n_models = membership.shape[0]
    included = membership[:, canaries]  # (M, m)
    scores = SCORE[1] * np.asarray(loss[:, canaries], dtype=np.float64)  # (M, m), higher = IN
    beta_model = beta / n_models  # the run reports the best model: Bonferroni over models too
    models = []
    for j in range(n_models):
        sweep = one_run_epsilon_sweep(included[j], scores[j], delta=delta, beta=beta_model)
        best = sweep["best"]
        models.append({
            "model": j, "epsilon_lower_bound": float(sweep["epsilon"]), "guesses": int(best["guesses"]),
            "correct": int(best["correct"]), "n_guess_in": int(best["n_guess_in"]),
            "n_guess_out": int(best["n_guess_out"]), "included": int(included[j].sum()),
            "beta": beta_model, "beta_each_guess_count": float(sweep["beta_each"]), "delta": delta,
        })  # fmt: skip
    return {
        "canaries": int(canaries.size),
        "models": models,
        "epsilon_lower_bound": max(m["epsilon_lower_bound"] for m in models),
        "score": "-loss",
        "beta": beta,
        "delta": delta,
        "note": "Steinke, Nasr & Jagielski (2023): per model, IN guesses for the lowest-loss canaries and OUT "
        "for the highest, the number of guesses swept with Bonferroni over the tries and over the models, so "
        "the run's bound (the largest) holds with probability 1 - beta. A lower bound: far below a claimed "
        "epsilon it says the attack is weak, not that training is private.",
    }


def check_collisions(X, canaries, trained) -> None:
    """Refuse canaries whose feature row equals another trained example's (or another canary's).

    ``trained``: (N,) bool, the examples some model trains on (excluded ones are not).

    >>> check_collisions(np.array([[0, 1], [0, 1], [2, 2]]), [1], np.ones(3, bool))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    memlens.errors.MemlensError: One-run canaries collide with training examples ... (canary = copies: 1 = 0; 1 in all)...
    """
    X = np.ascontiguousarray(X)
    rows = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    canaries = np.asarray(canaries, dtype=np.int64)
    others = np.union1d(np.flatnonzero(np.asarray(trained, dtype=bool)), canaries)
    _, group = np.unique(rows, return_inverse=True)
    group = group.ravel()
    counts = np.bincount(group[others], minlength=group.max() + 1)
    colliding = canaries[counts[group[canaries]] > 1]  # the canary itself counts once
    if len(colliding):
        pairs = []
        for c in colliding[:5].tolist():
            twins = others[(group[others] == group[c]) & (others != c)]
            pairs.append(f"{c} = {', '.join(map(str, twins[:3].tolist()))}")
        raise MemlensError(
            f"One-run canaries collide with training examples of the same features (canary = copies: "
            f"{'; '.join(pairs)}{'; …' if len(colliding) > 5 else ''}; {len(colliding)} in all): the copy is trained on whatever the canary's "
            "coin says, so its membership leaks and the audit's ε bound would be invalid. Remove the "
            "duplicates first (--dedup exact, which also keeps them out of the canaries), or choose other "
            "canaries (another --seed)."
        )
