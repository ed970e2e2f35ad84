"""Membership leakage over training time: the attacks of a finished run, at every evaluation.

Models leak more the longer they fit their training sets (Carlini et al., "Membership Inference
Attacks From First Principles", S&P 2022, fig. 11: attack success grows with epochs; Tirumala et
al. 2022 for language models). Given each model's observations at each of S evaluations, this
runs the run's attacks once per evaluation, so a reader sees when leakage set in, not only how
much there is at the end.
"""

from __future__ import annotations

import functools

import numpy as np

from .in_turn import attack_in_turn
from .metrics import attack_metrics
from .mia import lira_online, loss_threshold_attack

FPRS = (0.001, 0.01)


def privacy_over_training(
    membership,
    step_confidence,
    step_loss=None,
    *,
    n_targets: int = 8,
    fprs=FPRS,
) -> dict:
    """AUC and TPR at low FPR of LiRA (online) and the loss attack at each evaluation.

    The protocol of :func:`memlens.audit.membership_inference` applied to each evaluation's
    observations in turn: the first ``n_targets`` models attacked one at a time, every other model
    a shadow, scores pooled over targets. LiRA pools one variance when there are fewer than 64
    shadows, as at the end of a run.

    Args:
        membership: (M, N) bool, M >= 3.
        step_confidence: (M, S, N) LiRA's logit-scaled confidence phi of each model at each of S
            evaluations; finite. Memory-mapped is fine (one evaluation is read at a time).
        step_loss: (M, S, N) per-example loss at each evaluation, or None to leave the loss
            attack out.
        n_targets: models attacked in turn.
        fprs: FPR levels for the TPRs; keys are ``format(f, "g")``.

    Returns:
        ``{"n_steps": S, "targets": [...], "n_shadows": M - 1, "attacks": {name: {"auc": [S],
        "tpr_at_fpr": {key: [S]}}}}``, or ``{"n_steps": S, "attacks": {}, "note": why}`` with
        fewer than 3 models or an evaluation where every example is a member or none is.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> membership = rng.random((6, 200)) < 0.5
        >>> leak = np.stack([membership * s for s in (0.0, 3.0)], axis=1)  # (6, 2, 200)
        >>> phi = leak + rng.normal(size=leak.shape)
        >>> curve = privacy_over_training(membership, phi, n_targets=3)
        >>> [round(a, 1) for a in curve["attacks"]["lira-online"]["auc"]]  # no leak, then a leak
        [0.5, 1.0]
    """
    membership = np.asarray(membership, dtype=bool)
    if membership.ndim != 2:
        raise ValueError(f"membership must be (M, N); got shape {membership.shape}")
    n_models, n_examples = membership.shape
    observed = {"lira-online": step_confidence}
    if step_loss is not None:
        observed["loss"] = step_loss
    n_steps = None
    for name, values in observed.items():
        shape = np.shape(values)
        if len(shape) != 3 or shape[0] != n_models or shape[2] != n_examples:
            raise ValueError(f"{name}'s observations must be (M, S, N) = ({n_models}, S, {n_examples}); got {shape}")
        if n_steps not in (None, shape[1]):
            raise ValueError("step_confidence and step_loss must have the same number of evaluations")
        n_steps = shape[1]
    if n_models < 3:
        return {"n_steps": n_steps, "attacks": {},
                "note": f"Membership inference needs at least 3 models; this run has {n_models}."}  # fmt: skip
    targets = list(range(min(n_targets, n_models)))
    attacks = {
        "lira-online": functools.partial(lira_online, fix_variance=n_models - 1 < 64),
        "loss": functools.partial(loss_threshold_attack, observation="loss"),
    }
    keys = [format(f, "g") for f in fprs]
    out: dict = {"n_steps": n_steps, "targets": targets, "n_shadows": n_models - 1, "attacks": {}}
    for name, values in observed.items():
        curve = {"auc": [], "tpr_at_fpr": {k: [] for k in keys}}
        for s in range(n_steps):
            labels, scores, _ = attack_in_turn(membership, values[:, s, :], attacks[name], targets=targets)
            if labels.all() or not labels.any():
                return {"n_steps": n_steps, "attacks": {},
                        "note": "not applicable: the design gives the targets no members or no non-members"}  # fmt: skip
            metrics = attack_metrics(labels, scores, fprs=fprs)
            curve["auc"].append(float(metrics["auc"]))
            for k in keys:
                curve["tpr_at_fpr"][k].append(float(metrics["tpr_at_fpr"][k]))
        out["attacks"][name] = curve
    return out
