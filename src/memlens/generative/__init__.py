"""Memorization in generative models: diffusion (closed-form and trained) and density models."""

# Replication detection (Gu et al.): numpy only at import; torch is imported when first used.
from .replication import (
    feature_space_replication,
    gallery_rows,
    max_over_snapshots,
    memorization_ratio,
    nearest_two,
    quantize_8bit,
    replication_scores,
)

__all__ = [
    "feature_space_replication",
    "gallery_rows",
    "max_over_snapshots",
    "memorization_ratio",
    "nearest_two",
    "quantize_8bit",
    "replication_scores",
]

# Collapse onto training points and RBF MMD (Baptista et al.): numpy only.
from .metrics import collapse_fraction, collapse_radius, median_bandwidth, mmd_rbf, nearest_distance  # noqa: E402

__all__ += ["collapse_fraction", "collapse_radius", "median_bandwidth", "mmd_rbf", "nearest_distance"]

# Closed-form diffusion scores and samplers (Gu et al., Baptista et al.) need torch: imported on
# first attribute access so that `import memlens.generative` stays numpy-only.
_CLOSED_FORM_EXPORTS = {
    "EmpiricalMixture": "closed_form",
    "VEProcess": "closed_form",
    "VPProcess": "closed_form",
    "empirical_denoiser": "closed_form",
    "empirical_score": "closed_form",
    "mixture_score": "closed_form",
    "FlowSample": "samplers",
    "SamplerError": "samplers",
    "edm_heun_sample": "samplers",
    "euler_maruyama_sample": "samplers",
    "karras_sigmas": "samplers",
    "probability_flow_sample": "samplers",
    # trained and closed-form diffusion on the engine, EMM, the audit (torch at first use)
    "Condition": "edm",
    "DiffusionTrainer": "diffusion",
    "ClosedFormTrainer": "closed_form_trainer",
    "size_design": "emm",
    "effective_memorization": "emm",
    "emm_search": "emm",
    "generative_audit": "audit",
}
__all__ += list(_CLOSED_FORM_EXPORTS)


def __getattr__(name):
    if name in _CLOSED_FORM_EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_CLOSED_FORM_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
