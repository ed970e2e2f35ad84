"""Memorization-guided membership inference: aim the attack at the examples that leak.

Choi, Tople, Chandrasekaran & Jha, "Why Train More? Effective and Efficient Membership Inference
via Memorization" (arXiv 2310.08015, 2023). Highly memorized examples have IN and OUT
distributions far apart, so a handful of shadow models resolves them; restricting a membership
attack (LiRA, RMIA, ...) to them raises its power at low FPR and cuts the shadow models it needs
by up to two orders of magnitude. The selection rules follow ``aidotse/LeakPro``
``leakpro/attacks/utils/boosting.py`` (class ``Memorization``), whose docstring cites the paper.

- :func:`privacy_scores`: the paper's per-example privacy score on LiRA's phi.
- :func:`select_targets`: top-fraction and/or threshold selection of the examples to attack.
- :func:`guided_attack`: an attack's power on the selected examples vs all vs a random subset.
- :func:`plan_budget`: from a pilot run, which examples a budget of shadow models can attack and
  with what expected TPR.

Axis 0 is models, axis 1 is examples; observations are LiRA's logit-scaled confidence phi.

The attack lives in :mod:`~memlens.estimate.guided_mia` and the budget planning in
:mod:`~memlens.estimate.guided_budget`; this module gathers them under one name.
"""

from __future__ import annotations

from .guided_budget import (
    SHADOWS_Z,  # noqa: F401 (re-exported constant)
    plan_budget,
    separability,
    shadows_needed,
)
from .guided_mia import (
    FIX_VARIANCE_BELOW,  # noqa: F401 (re-exported constant)
    guided_attack,
    privacy_scores,
    select_targets,
)

__all__ = [
    "guided_attack",
    "plan_budget",
    "privacy_scores",
    "select_targets",
    "separability",
    "shadows_needed",
]
