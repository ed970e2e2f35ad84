"""Estimators of memorization and membership leakage.

Every public function here is a pure function of ``(membership, observations)`` arrays, with
axis 0 = models and axis 1 = examples; options are keyword-only. This package imports numpy and
scipy only: no torch, no scikit-learn, no pandas, no I/O.

- :mod:`.memorization`: Feldman–Zhang memorization and influence (NeurIPS 2020).
- :mod:`.mia`: LiRA online/offline (Carlini et al. 2022), RMIA offline (Zarifzadeh et al. 2024),
  the loss-threshold attack (Yeom et al. 2018).
- :mod:`.in_turn`: leave-one-model-out evaluation (each target in turn, the rest its shadows).
- :mod:`.metrics`: ROC, AUC, TPR at low FPR with Clopper–Pearson intervals.
- :mod:`.heldout`: TPR at low FPR with thresholds set on one half and measured on the other.
- :mod:`.intervals`: TPR intervals for scores pooled over target models (a bootstrap over examples
  and targets), per-target TPRs and their spread.
- :mod:`.guided`: memorization-guided membership inference (Choi et al., "Why Train More?",
  2023): privacy scores, target selection, guided evaluation, shadow-budget planning.
- :mod:`.planted`: how well a score recovers planted ground truth.
- :mod:`.epsilon`: differential-privacy ε lower bounds from audits — many runs (Jagielski et al.
  2020, Nasr et al. 2021) and one run with random canaries (Steinke, Nasr & Jagielski 2023).
"""

from .epsilon import (
    epsilon_lower_bound,
    epsilon_lower_bound_curve,
    one_run_epsilon_lower_bound,
    one_run_epsilon_sweep,
    one_run_p_value,
)
from .guided import (
    guided_attack,
    plan_budget,
    privacy_scores,
    select_targets,
    separability,
    shadows_needed,
)
from .heldout import heldout_tpr_at_fpr, split_halves
from .in_turn import attack_in_turn, attack_in_turn_per_target
from .intervals import attack_summary, bootstrap_tpr_at_fpr, per_target_tpr_at_fpr
from .memorization import MemorizationScores, influence_scores, memorization_scores
from .metrics import attack_metrics, auc, clopper_pearson, roc_curve, tpr_at_fpr
from .mia import (
    lira_offline,
    lira_online,
    loss_attack,
    loss_threshold_attack,
    rmia_offline,
    rmia_offline_attack,
    tune_rmia_offline_a,
)
from .planted import planted_recovery

__all__ = [
    "MemorizationScores",
    "epsilon_lower_bound",
    "epsilon_lower_bound_curve",
    "one_run_epsilon_lower_bound",
    "one_run_epsilon_sweep",
    "one_run_p_value",
    "guided_attack",
    "heldout_tpr_at_fpr",
    "split_halves",
    "plan_budget",
    "privacy_scores",
    "select_targets",
    "separability",
    "shadows_needed",
    "attack_in_turn",
    "attack_in_turn_per_target",
    "attack_summary",
    "bootstrap_tpr_at_fpr",
    "per_target_tpr_at_fpr",
    "attack_metrics",
    "auc",
    "clopper_pearson",
    "influence_scores",
    "lira_offline",
    "lira_online",
    "loss_attack",
    "loss_threshold_attack",
    "memorization_scores",
    "planted_recovery",
    "rmia_offline",
    "rmia_offline_attack",
    "roc_curve",
    "tpr_at_fpr",
    "tune_rmia_offline_a",
]
