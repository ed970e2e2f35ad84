"""Leave-one-model-out evaluation: each target model in turn, every other model its shadow.

The built-in attacks of :mod:`.mia` (and ``functools.partial`` forms of them) run block by block
over examples with the target's row masked out, so no copy of the other M − 1 models is made per
target; any other callable gets one float64 copy of the shadows per target.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import numpy as np

from ._validate import as_membership, as_numeric
from .mia import (
    Attack,
    _check_blocks,
    _Kernel,
    _lira_offline_kernel,
    _lira_online_kernel,
    _loss_kernel,
    _rmia_kernel,
    _score_blocks,
    lira_offline,
    lira_online,
    loss_threshold_attack,
    rmia_offline,
    rmia_offline_attack,
)

_KERNELS: dict[Callable, Callable[..., _Kernel]] = {
    lira_online: _lira_online_kernel,
    lira_offline: _lira_offline_kernel,
    rmia_offline: _rmia_kernel,
    rmia_offline_attack: functools.partial(_rmia_kernel, on_confidence=True),
    loss_threshold_attack: _loss_kernel,
}


def _kernel_of(attack) -> _Kernel | None:
    """The block-wise form of a built-in attack (or a ``functools.partial`` of one with keyword
    options only); None for any other callable."""
    func, options = attack, {}
    if isinstance(attack, functools.partial):
        if attack.args:
            return None
        func, options = attack.func, dict(attack.keywords)
    factory = _KERNELS.get(func)
    return None if factory is None else factory(**options)


def _as_targets(targets, n_models: int) -> np.ndarray:
    targets = np.asarray(list(targets))
    if targets.size == 0:
        raise ValueError("targets must name at least one model")
    if targets.dtype.kind not in "iu" or targets.ndim != 1:
        raise ValueError(f"targets must be a sequence of integer model indices, got {targets!r}")
    if targets.min() < 0 or targets.max() >= n_models:
        raise ValueError(f"targets must lie in [0, {n_models}), got {targets.tolist()}")
    return targets


def attack_in_turn_per_target(
    membership, observations, attack: Attack, *, targets: Iterable[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of an attack on each target model in turn, all other models its shadows.

    The evaluation protocol of LiRA (Carlini et al. 2022), kept per target: row j holds
    ``attack(observations[t], membership[others], observations[others])`` for t = targets[j],
    labelled with ``membership[t]``. NaN scores (examples the attack cannot score) are kept, so
    (target, example) stays addressable, e.g. for :func:`~memlens.estimate.intervals.attack_summary`.

    The built-in attacks (:func:`lira_online`, :func:`lira_offline`, :func:`rmia_offline`,
    :func:`rmia_offline_attack`, :func:`loss_threshold_attack`, also wrapped in
    ``functools.partial`` with keyword options) run block by block over examples, with the
    target masked out of the shadows rather than the other rows copied: memory stays at a few
    blocks for any M × N. Any other callable gets the other rows as one float64 copy per target.

    Args:
        membership: (M, N) bool, M >= 2.
        observations: (M, N) finite observations (e.g. phi); memory-mapped is fine.
        attack: callable ``(target_obs (N,), shadow_membership (M-1, N), shadow_obs (M-1, N))
            -> (N,) scores``; bind options with ``functools.partial``.
        targets: T model indices in [0, M) to attack in turn.

    Returns:
        ``(labels, scores)``: (T, N) bool membership of each target and (T, N) float scores,
        NaN where the attack could not score.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, False]])
        >>> phi = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> labels, scores = attack_in_turn_per_target(membership, phi, lira_offline,
        ...                                            targets=[0, 1])
        >>> labels.tolist(), np.isnan(scores).tolist()  # target 1's example 0: no OUT shadow
        ([[True, False], [False, True]], [[False, False], [True, False]])
    """
    membership = as_membership(membership, min_models=2)
    obs = as_numeric(observations, name="observations", shape=membership.shape)
    n_models, n_examples = membership.shape
    targets = _as_targets(targets, n_models)
    kernel = _kernel_of(attack)
    probabilities = kernel is not None and kernel.probabilities
    _check_blocks(obs, name="observations", probabilities=probabilities)
    labels = np.asarray(membership[targets], dtype=bool)  # (T, N)
    if kernel is not None:
        if n_models - 1 < kernel.min_shadows:  # as the attack itself would say
            as_membership(membership[1:], name="shadow_membership", min_models=kernel.min_shadows)
        target_obs = np.asarray(obs[targets], dtype=np.float64)  # (T, N)
        return labels, _score_blocks(kernel, target_obs, membership, obs, targets.tolist())

    scores = np.empty((targets.size, n_examples))  # (T, N)
    for j, t in enumerate(targets.tolist()):  # loop over target models, not examples
        others = np.arange(n_models) != t
        row = np.asarray(
            attack(
                np.asarray(obs[t], dtype=np.float64),
                membership[others],
                np.asarray(obs[others], dtype=np.float64),
            ),
            dtype=np.float64,
        )
        if row.shape != (n_examples,):
            raise ValueError(
                f"attack returned shape {row.shape} for target {t}; expected ({n_examples},)"
            )
        scores[j] = row
    return labels, scores


def attack_in_turn(
    membership, observations, attack: Attack, *, targets: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, int]:
    """Evaluate an attack leave-one-model-out: each target model attacked with all the others.

    The evaluation protocol of LiRA (Carlini et al. 2022): for each t in ``targets``, call
    ``attack(observations[t], membership[others], observations[others])`` with others = every
    model but t, and label its scores with ``membership[t]``. Results are concatenated over
    targets, so low FPRs have enough non-members behind them. NaN scores (examples an attack
    cannot score, e.g. no OUT shadow) are dropped and counted. Built-in attacks run block by
    block (see :func:`attack_in_turn_per_target`, which keeps the per-target rows).

    Args:
        membership: (M, N) bool, M >= 2.
        observations: (M, N) finite observations (e.g. phi); memory-mapped is fine.
        attack: callable ``(target_obs (N,), shadow_membership (M-1, N), shadow_obs (M-1, N))
            -> (N,) scores``; bind options with ``functools.partial``.
        targets: model indices in [0, M) to attack in turn.

    Returns:
        ``(labels, scores, n_dropped)``: (n,) bool, (n,) float with n = len(targets) * N -
        n_dropped, and the number of NaN scores dropped.

    Example:
        >>> membership = np.array([[True, False], [False, True], [True, False]])
        >>> phi = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
        >>> labels, scores, dropped = attack_in_turn(membership, phi, lira_offline,
        ...                                          targets=[0, 1])
        >>> labels.tolist(), dropped  # target 1's example 0 has no OUT shadow
        ([True, False, True], 1)
    """
    labels, scores = attack_in_turn_per_target(membership, observations, attack, targets=targets)
    labels, scores = labels.ravel(), scores.ravel()  # target-major, as concatenating the rows
    keep = ~np.isnan(scores)
    return labels[keep], scores[keep], int(keep.size - keep.sum())
