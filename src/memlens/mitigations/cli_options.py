"""The data-side mitigations of ``memlens audit``, from option strings to a design and trainer options.

One call (:func:`apply`) right after the CLI builds the design: deduplication and removal
exclude examples through the design; down-weighting and early stopping become options of the
ensemble trainer; a ``one-run:M`` design draws its canaries among the examples that stay (the
planted ones when the data has plants) and is refused if a canary collides with a trained copy.
"""

from __future__ import annotations

import numpy as np

from memlens import design as designs
from memlens.errors import MemlensError
from memlens.mitigations import dedup as dedup_module
from memlens.mitigations import removal
from memlens.mitigations.one_run import check_collisions

#: models whose trainer is memlens' own ensemble (early stopping and loss weights live there)
ENSEMBLE_MODELS = ("mlp", "cnn", "logreg")


def apply(design, data, trainer_options: dict, console=None, *, model: str, trainer_spec=None,
          remove_memorized=None, remove_random=None, downweight_memorized=None, previous=None,
          dedup=None, early_stopping=None):  # fmt: skip
    """``(design, trainer_options)`` with the requested mitigations applied (all checked first).

    Returns ``design`` and ``trainer_options`` unchanged when no mitigation is requested, so runs
    without them keep their identity.
    """
    wants_previous = remove_memorized is not None or downweight_memorized is not None
    if wants_previous and previous is None:
        flag = "--remove-memorized" if remove_memorized is not None else "--downweight-memorized"
        raise MemlensError(f"{flag} needs --previous RUN: the finished audit whose memorization scores name the examples.")
    if previous is not None and not wants_previous:
        raise MemlensError("--previous RUN is read only by --remove-memorized or --downweight-memorized; add one, or drop --previous.")
    if early_stopping is not None and early_stopping < 1:
        raise MemlensError(f"--early-stopping is a patience in epochs, a whole number >= 1; got {early_stopping}.")
    trainer_wanted = [flag for flag, value in (("--early-stopping", early_stopping),
                                               ("--downweight-memorized", downweight_memorized)) if value is not None]
    if trainer_wanted and (trainer_spec is not None or model not in ENSEMBLE_MODELS):
        raise MemlensError(
            f"{' and '.join(trainer_wanted)} change how memlens' own models train (mlp, cnn, logreg); "
            f"{trainer_spec or model} trains its own way. Use --model mlp, cnn or logreg, or drop {trainer_wanted[0]}."
        )
    if design.canaries and design.n_models < 2:
        raise MemlensError(
            f"{design.spec} gives one ε lower bound per model, but the run's per-example scores need at least "
            "2 models; use --models 2 or more (each model is an independent one-run audit, and the run reports "
            "the largest bound, corrected for the choice)."
        )
    n = data.n_examples
    previous_run = removal.previous_run(previous, data) if previous is not None else None
    exclusions: list[tuple[np.ndarray, str]] = []
    if dedup is not None:
        found = dedup_module.deduplicate(data.X, data.y, dedup)
        exclusions.append((found.removed, f"dedup:{dedup}"))
        if console is not None:
            console.print(
                f"dedup {dedup}: {len(found.removed)} examples excluded from {len(found.groups)} groups"
                + (f", {len(found.conflicting)} with conflicting labels (kept: the lowest id of each)" if found.conflicting else "")
            )
    if remove_memorized is not None:
        k = removal.parse_count(remove_memorized, n, flag="--remove-memorized")
        reason = f"remove-memorized:{remove_memorized} from run {removal.run_digest(previous_run)}"
        exclusions.append((removal.most_memorized_ids(previous_run.scores, k), reason))
    if remove_random is not None:
        k = removal.parse_count(remove_random, n, flag="--remove-random")
        exclusions.append((removal.random_ids(n, k, seed=design.seed), f"remove-random:{remove_random}"))
    if design.canaries:
        design = _one_run_canaries(design, data, np.concatenate([ids for ids, _ in exclusions] or [np.zeros(0, np.int64)]))
    for ids, reason in exclusions:
        design = design.excluding(ids, reason)
    if design.canaries:
        check_collisions(data.X, design.canaries, design.membership.any(axis=0))
    options = dict(trainer_options)
    if downweight_memorized is not None:
        options.update(removal.downweight_memorized(previous_run, downweight_memorized, n))
    if early_stopping is not None:
        options["early_stopping"] = int(early_stopping)
    if console is not None and design.excluded:
        console.print(f"excluded from training: {len(design.excluded)} examples ({design.exclusion})")
    return design, options


def _one_run_canaries(design, data, excluded: np.ndarray):
    """The one-run design again, its canaries drawn among the examples that stay in training —
    the planted ones when the data has plants (they are what an audit most wants to find)."""
    candidates = np.flatnonzero(data.planted) if data.planted.any() else np.arange(data.n_examples)
    candidates = np.setdiff1d(candidates, excluded)
    if len(candidates) == data.n_examples:
        return design
    where = "planted examples" if data.planted.any() else "examples"
    if len(candidates) < len(design.canaries):
        raise MemlensError(
            f"{design.spec} needs {len(design.canaries)} canaries but only {len(candidates)} {where} remain "
            "to draw them from (the canaries are the planted examples when the data has plants, less any "
            "excluded). Ask for fewer canaries or plant more examples."
        )
    return designs.one_run(design.n_models, data.n_examples, len(design.canaries), seed=design.seed,
                           candidates=candidates)  # fmt: skip
