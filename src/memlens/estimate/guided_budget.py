"""Planning a shadow-model budget for a memorization-guided attack from a pilot run: per-example
separability, the shadow models each example needs, and :func:`plan_budget`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from ._validate import as_membership, as_observations
from .guided_mia import (
    FIX_VARIANCE_BELOW,
    _as_count,
    _auto_fix_variance,
    guided_attack,
)
from .memorization import memorization_scores
from .mia import (
    SIGMA_FLOOR,
    Attack,
    _masked_mean_std,
    lira_offline,
    lira_online,
)

SHADOWS_Z = 2.0
"""Default number of standard errors by which a shadow-model estimate of an example's IN/OUT gap
must exceed zero for the example to count as resolved (see :func:`shadows_needed`)."""


# --------------------------------------------------------------------------------------------
# planning a budget


def separability(
    membership, observations, *, fix_variance=None, debias: bool = False
) -> np.ndarray:
    """Per-example separability d = |mu_in - mu_out| / sigma of the IN and OUT phi distributions.

    The effect size behind the sample-complexity argument of Choi et al. (2023): means over the
    models trained / not trained on each example, sigma = (sigma_in + sigma_out) / 2 (ddof=0),
    so d = 2 x the online :func:`privacy_scores` when variances are per example. With
    ``fix_variance`` (default: fewer than 64 models) sigma_in and sigma_out are *within-example*
    pooled stds, sqrt(sum of squared deviations from each example's own mean / count), not one
    std over all values as in :func:`privacy_scores`: the spread of means between examples is
    signal, and counting it as noise would shrink every d. Sigmas are floored at ``SIGMA_FLOOR``.

    The estimate is biased upward for small gaps: E[d_hat^2] ~= d^2 + 1/n_in + 1/n_out. With
    ``debias`` the returned d is sqrt(max(d_hat^2 - 1/n_in - 1/n_out, 0)), so an example with no
    real gap does not look resolvable by chance in a small pilot.

    Args:
        membership: (M, N) bool, M >= 2.
        observations: (M, N) finite phi.
        fix_variance: pool the variances; ``None`` decides by the number of models.
        debias: subtract the expected squared noise from d^2, see above.

    Returns:
        (N,) d >= 0; NaN where an example has no IN or no OUT model.

    Example:
        >>> membership = np.array([[True], [True], [False], [False]])
        >>> separability(membership, np.array([[4.0], [6.0], [0.0], [2.0]])).tolist()
        [4.0]
    """
    membership = as_membership(membership, min_models=2)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    fix_variance = _auto_fix_variance(fix_variance, membership.shape[0])
    sides = []
    for mask in (membership, ~membership):
        mean, sd = _masked_mean_std(obs, mask)  # (N,) each, NaN where the side is empty
        if fix_variance:
            with np.errstate(invalid="ignore"):
                dev = np.where(mask, obs - mean, 0.0)  # (M, N)
            count = int(mask.sum())
            pooled = math.sqrt(float((dev**2).sum()) / count) if count else math.nan
            sd = np.where(np.isnan(mean), np.nan, pooled)
        sides.append((mean, np.maximum(sd, SIGMA_FLOOR)))
    (mu_in, sd_in), (mu_out, sd_out) = sides
    d = np.abs(mu_in - mu_out) / ((sd_in + sd_out) / 2.0)
    if debias:
        n_in = membership.sum(axis=0)  # (N,); d is NaN wherever a count is 0
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.sqrt(np.maximum(d**2 - 1.0 / n_in - 1.0 / (membership.shape[0] - n_in), 0.0))
    return d


def shadows_needed(d, *, z: float = SHADOWS_Z) -> np.ndarray:
    """Shadow models needed to resolve an example of separability d: ceil(4 z^2 / d^2), >= 2.

    The sample-complexity heuristic of Choi et al. (2023) (shadows ~ (sigma / gap)^2), with its
    constant made explicit: S shadow models give S/2 IN and S/2 OUT observations, so the
    estimated gap mu_in - mu_out has standard error sigma * sqrt(2/(S/2) + ...) ~ 2 sigma /
    sqrt(S). Asking the gap to stand z standard errors clear of zero gives S >= 4 z^2 / d^2;
    z = 2 (about 95%) makes the constant c = 16. Two is the floor: online LiRA needs one IN and
    one OUT model.

    Args:
        d: (N,) separabilities, e.g. from :func:`separability`.
        z: standard errors, > 0.

    Returns:
        (N,) float counts; inf where d == 0, NaN where d is NaN.

    Example:
        >>> shadows_needed(np.array([4.0, 1.0, 0.5, 0.0])).tolist()
        [2.0, 16.0, 64.0, inf]
    """
    d = np.asarray(d, dtype=np.float64)
    if not z > 0:
        raise ValueError(f"z must be > 0, got {z}")
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.ceil(4.0 * z**2 / d**2 - 1e-9)
    return np.where(np.isnan(d), np.nan, np.maximum(need, 2.0))


def _formula_tpr(d, n_shadows: int, fprs) -> dict:
    """Mean over examples of Phi(d / sqrt(1 + 2/S) - z_{1-fpr}); see :func:`plan_budget`."""
    d = d[~np.isnan(d)]
    d_eff = d / math.sqrt(1.0 + 2.0 / n_shadows)
    return {
        format(f, "g"): float(special.ndtr(d_eff - special.ndtri(1.0 - f)).mean()) for f in fprs
    }


def _recommend(need, mem, budget: int, min_count: int) -> np.ndarray:
    """The k most memorized examples, k = how many ``budget`` shadows resolve (>= min_count).

    ``need`` decides how many, ``mem`` which: NaN memorization ranks last and is never chosen.
    """
    k = max(int((need <= budget).sum()), min_count)
    ranked = np.argsort(-mem, kind="stable")[: min(k, int((~np.isnan(mem)).sum()))]
    chosen = np.zeros(mem.shape, dtype=bool)
    chosen[ranked] = True
    return chosen


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else (str(obj) if math.isinf(obj) else float(obj))
    return obj


def plan_budget(
    membership,
    observations,
    *,
    budget_models: int,
    target_fprs=(0.001, 0.01),
    memorization=None,
    attack: Attack | None = None,
    n_targets: int = 8,
    z: float = SHADOWS_Z,
    min_count: int = 10,
    fix_variance=None,
    seed: int = 0,
) -> dict:
    """Plan a memorization-guided audit: which examples ``budget_models`` shadows can attack.

    Choi et al. (2023)'s sample-complexity argument, turned into a plan from a pilot run
    (``membership``/``observations`` of its M models):

    1. **Formula.** Per example, d_i = :func:`separability` (debiased) over all pilot models
       and the shadows it needs, :func:`shadows_needed` = ceil(4 z^2 / d_i^2) (c = 16, z = 2).
       How many to attack: the number of examples with need <= ``budget_models`` (at least
       ``min_count``); which: that many of the most memorized. (Ranking by memorization rather
       than by the pilot's d attacked better in our runs: fashion-mnist:10000, 4 shadows, the
       same count of examples, TPR at 1% FPR 0.58 vs 0.41.) Expected TPR at FPR f: the mean
       over the set of Phi(d_i / sqrt(1 + 2/S) - z_{1-f}) — a Gaussian with the same sigma on
       both sides, a per-example threshold, and the extra variance of an OUT mean estimated
       from S/2 shadows. Optimistic: it ignores the noise of the fitted sigma and that real
       attacks pool one threshold over all examples.
    2. **Empirical** (the honest number, when ``M >= n_targets + budget_models``): ``n_targets``
       pilot models drawn at random play the targets; the rest are the pool. The selection is
       redone on the pool alone (so it never sees a target), ``budget_models`` shadows are drawn
       from the pool, and :func:`guided_attack` measures the attack on the selection, on all
       examples and on a random subset of the same size.

    Args:
        membership: (M, N) bool of the pilot models, M >= 2.
        observations: (M, N) finite phi of the pilot models.
        budget_models: shadow models the audit can afford, >= 1.
        target_fprs: FPR levels to report.
        memorization: (N,) scores to rank the selection by (e.g. Feldman–Zhang from the run's
            ``scores``); default Choi et al.'s online memorization, mean sigmoid(phi) IN minus
            OUT. A given one is used as is in the empirical check too.
        attack: the attack to simulate; default LiRA online (one pooled variance below 64
            shadows), or LiRA offline with a pooled variance when ``budget_models == 1``.
        n_targets: pilot models used as targets in the empirical check, >= 1.
        z: standard errors in :func:`shadows_needed`.
        min_count: the fewest examples to recommend.
        fix_variance: for :func:`separability`; ``None`` decides by M.
        seed: draws of the targets, the shadows and the random subset.

    Returns:
        A JSON-able dict: ``budget_models``, ``pilot_models``, ``recommended_targets`` (count),
        ``resolvable`` (examples with need <= budget) and ``resolvable_among_selected``,
        ``selected_ids`` (first 50, by decreasing memorization), ``shadows_needed``
        (rule, constant, how many examples each shadow count resolves), ``expected``
        (``{"selected", "all", "random"}``, each with ``n_examples``, ``formula`` TPRs and
        ``empirical`` :func:`attack_metrics` or None), and ``note``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> membership = rng.random((32, 300)) < 0.5
        >>> phi = rng.normal(size=(32, 300)) + membership * np.where(np.arange(300) < 30, 5.0, 0.0)
        >>> plan = plan_budget(membership, phi, budget_models=8, target_fprs=(0.01,))
        >>> plan["recommended_targets"], max(plan["selected_ids"]) < 30
        (30, True)
    """
    membership = as_membership(membership, min_models=2)
    obs = as_observations(observations, name="observations", shape=membership.shape)
    n_models, n_examples = membership.shape
    budget = _as_count(budget_models, "budget_models", minimum=1)
    n_targets = _as_count(n_targets, "n_targets", minimum=1)
    min_count = _as_count(min_count, "min_count", minimum=0)
    fprs = tuple(float(f) for f in target_fprs)
    if not fprs or not all(0.0 < f < 1.0 for f in fprs):
        raise ValueError(f"target_fprs must be FPR levels in (0, 1), got {target_fprs!r}")
    if memorization is not None:
        memorization = np.asarray(memorization)
        if memorization.dtype.kind not in "biuf" or memorization.shape != (n_examples,):
            raise ValueError(
                f"memorization must be numeric of shape ({n_examples},), one score per example; "
                f"got dtype {memorization.dtype}, shape {memorization.shape}"
            )
        memorization = memorization.astype(np.float64)
        if np.isinf(memorization).any():
            raise ValueError("memorization contains inf; NaN (ranked last) is allowed, inf is not")

    def choose(rows):
        d = separability(membership[rows], obs[rows], fix_variance=fix_variance, debias=True)
        need = shadows_needed(d, z=z)
        mem = memorization
        if mem is None:
            prob = special.expit(obs[rows])
            mem = memorization_scores(membership[rows], prob).memorization
        return d, need, mem, _recommend(need, mem, budget, min_count)

    d, need, mem, chosen = choose(np.arange(n_models))
    n_resolvable = int((need <= budget).sum())
    ids = [int(i) for i in np.argsort(-mem, kind="stable") if chosen[i]]  # NaN last
    counts = sorted({2**k for k in range(int(math.log2(max(budget, n_models))) + 2)} | {budget})
    plan: dict = {
        "budget_models": budget,
        "pilot_models": n_models,
        "recommended_targets": int(chosen.sum()),
        "resolvable": n_resolvable,
        "resolvable_among_selected": int((chosen & (need <= budget)).sum()),
        "selected_ids": ids[:50],
        "shadows_needed": {
            "rule": "ceil(c / d^2) with d = |mu_in - mu_out| / sigma, at least 2",
            "constant": 4.0 * z**2,
            "z": z,
            "median": float(np.nanmedian(need)) if np.isfinite(need).any() else math.inf,
            "resolvable_with": {str(s): int((need <= s).sum()) for s in counts},
        },
    }
    random = np.zeros(n_examples, dtype=bool)
    random[np.random.default_rng(seed).choice(n_examples, int(chosen.sum()), replace=False)] = True
    expected = {
        name: {"n_examples": int(mask.sum()), "formula": _formula_tpr(d[mask], budget, fprs)}
        for name, mask in (
            ("selected", chosen),
            ("all", np.ones(n_examples, bool)),
            ("random", random),
        )
    }

    notes = [
        f"{n_resolvable} of {n_examples} examples have d >= {2 * z / math.sqrt(budget):.2f}, "
        f"i.e. need <= {budget} shadow models by ceil({4 * z**2:g}/d^2); the recommended "
        f"examples are that many of the most memorized"
    ]
    if n_resolvable < min_count:
        notes.append(f"fewer than min_count={min_count}; recommending {min_count} anyway")
    if attack is None:
        attack = (
            functools.partial(lira_online, fix_variance=budget < FIX_VARIANCE_BELOW)
            if budget >= 2
            else functools.partial(lira_offline, fix_variance=True)
        )
        notes.append(
            "empirical attack: "
            + ("LiRA online" if budget >= 2 else "LiRA offline (one shadow)")
            + (", pooled variance" if budget < FIX_VARIANCE_BELOW else ", per-example variance")
        )
    if n_models >= n_targets + budget:
        rng = np.random.default_rng(seed)
        targets = np.sort(rng.choice(n_models, n_targets, replace=False))
        pool = np.setdiff1d(np.arange(n_models), targets)
        shadows = np.sort(rng.choice(pool, budget, replace=False))
        chosen_pool = choose(pool)[3] if len(pool) >= 2 else chosen  # 1 model: no IN/OUT
        run = guided_attack(
            membership, obs, attack, targets=targets, selected=chosen_pool,
            shadows=shadows, fprs=fprs, seed=seed,
        )  # fmt: skip
        for name in expected:
            expected[name]["empirical"] = run[name]
        notes.append(
            f"empirical: {n_targets} pilot models as targets, {budget} shadows drawn from the "
            f"other {len(pool)}, the selection redone on those {len(pool)} (never on a target); "
            f"{int(chosen_pool.sum())} examples selected there"
        )
    else:
        for name in expected:
            expected[name]["empirical"] = None
        notes.append(
            f"no empirical check: it needs n_targets + budget_models = {n_targets + budget} "
            f"pilot models, the pilot has {n_models}; the formula alone is optimistic"
        )
    plan["expected"] = expected
    plan["note"] = "; ".join(notes) + "."
    return _jsonable(plan)
