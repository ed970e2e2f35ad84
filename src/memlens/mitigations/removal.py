"""Remove or down-weight the examples a previous audit found most memorized (or random ones).

The Feldman–Zhang long-tail question: does dropping the examples a model had to memorize cost
more test accuracy than dropping as many random ones? A finished classifier audit over the same
examples names the top-k (:func:`memlens.classifier_estimates.most_memorized`); the new run
excludes them through its design (:meth:`memlens.design.Design.excluding`), so their memorization
there is NaN, or keeps them with a smaller loss weight (:class:`memlens.train.Ensemble`'s
``downweighted``). ``remove-random`` draws its ids from the run seed's design stream: the control.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from memlens import seeds
from memlens.design import Design
from memlens.errors import MemlensError

#: sub-stream of the run seed's design stream from which remove-random draws its ids
RANDOM_REMOVAL_KEY = 0x4E3


def parse_count(spec: str, n: int, *, flag: str) -> int:
    """``"40"`` → 40 examples, ``"2%"`` → ``round(0.02 · n)``; at least 1 and fewer than ``n``.

    >>> parse_count("2%", 1347, flag="--remove-memorized"), parse_count("10", 1347, flag="x")
    (27, 10)
    """
    text = spec.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not (math.isfinite(share) and 0 < share < 100):
                raise ValueError
            k = round(share / 100 * n)
        else:
            k = int(text)
    except ValueError:
        raise MemlensError(
            f"{flag} takes a number of examples (e.g. 27) or a percentage of them (e.g. 2%); got '{spec}'."
        ) from None
    if not 1 <= k < n:
        raise MemlensError(f"{flag} {spec} selects {k} of {n} examples; it must select at least 1 and fewer than all.")
    return k


def parse_downweight(spec: str, n: int) -> tuple[int, float]:
    """``"2%:0.1"`` → (k, 0.1): how many of the most memorized examples, and their loss weight."""
    count, sep, weight = spec.rpartition(":")
    try:
        w = float(weight)
    except ValueError:
        w = float("nan")
    if not sep or not math.isfinite(w) or w < 0:
        raise MemlensError(
            f"--downweight-memorized takes K|P%:WEIGHT, e.g. 2%:0.1 (the 2% most memorized examples, "
            f"each with loss weight 0.1; WEIGHT >= 0); got '{spec}'."
        )
    return parse_count(count, n, flag="--downweight-memorized"), w


def previous_run(path, data):
    """The finished classifier audit at ``path``, checked to be over exactly ``data``'s examples."""
    from memlens.audit import Run
    from memlens.errors import RunStoreError

    path = Path(path)
    try:
        run = Run.open(path)
    except (RunStoreError, FileNotFoundError, OSError) as e:
        raise MemlensError(
            f"--previous {path} is not a readable memlens run ({e}). Give the directory of a finished "
            "`memlens audit` over the same dataset."
        ) from None
    if not run.store.complete or "scores.parquet" not in run.store.manifest.get("files", {}):
        raise MemlensError(
            f"--previous {path} is not a finished classifier audit (no scores.parquet): finish it with "
            "its own `memlens audit` command first."
        )
    recorded = run.config.get("dataset", {})
    ours = {**data.summary(), "fingerprint": data.fingerprint()}
    keys = ("name", "n_examples", "n_features", "n_classes", "n_test", "plants", "plant_seeds", "fingerprint")
    def shown(key, value):  # a fingerprint's first 12 hex digits tell two apart
        return repr(value[:12] + "…") if key == "fingerprint" and isinstance(value, str) else repr(value)

    differences = [f"{k}: {shown(k, recorded.get(k))} there, {shown(k, ours.get(k))} here"
                   for k in keys if recorded.get(k) != ours.get(k)]  # fmt: skip
    if differences:
        raise MemlensError(
            f"--previous {path} was audited over other examples than this run's, so its memorization "
            f"scores do not name these examples ({'; '.join(differences)}). Use the same --dataset, "
            "--plant and --seed as that run, or audit this dataset first."
        )
    return run


def run_digest(run) -> str:
    """12 hex digits naming a run by its configuration (dataset, design, trainer, seed)."""
    return hashlib.sha256(json.dumps(run.config, sort_keys=True).encode()).hexdigest()[:12]


def most_memorized_ids(scores, k: int) -> np.ndarray:
    """Ids of the ``k`` most memorized examples of a run's scores table (ties: confidence gap)."""
    from memlens.classifier_estimates import gallery_ids

    return np.sort(gallery_ids(scores, k))


def random_ids(n: int, k: int, *, seed: int) -> np.ndarray:
    """``k`` distinct ids of ``0..n-1`` from the run seed's design stream (the removal control)."""
    return np.sort(seeds.rng(seed, "design", RANDOM_REMOVAL_KEY).choice(n, size=k, replace=False))


def remove_memorized(design: Design, previous, spec: str) -> Design:
    """``design`` without the ``spec`` (K or P%) most memorized examples of run ``previous``."""
    k = parse_count(spec, design.n_examples, flag="--remove-memorized")
    ids = most_memorized_ids(previous.scores, k)
    return design.excluding(ids, f"remove-memorized:{spec} from run {run_digest(previous)}")


def remove_random(design: Design, spec: str) -> Design:
    """``design`` without ``spec`` (K or P%) random examples (drawn from the run seed)."""
    k = parse_count(spec, design.n_examples, flag="--remove-random")
    return design.excluding(random_ids(design.n_examples, k, seed=design.seed), f"remove-random:{spec}")


def downweight_memorized(previous, spec: str, n: int) -> dict:
    """Trainer options that give the ``K|P%`` most memorized examples of ``previous`` loss weight W."""
    k, weight = parse_downweight(spec, n)
    return {"downweighted": tuple(most_memorized_ids(previous.scores, k).tolist()), "downweight": weight}
