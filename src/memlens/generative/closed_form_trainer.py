"""The closed-form "model" on the engine: each membership row's optimal denoiser D*, sampled and tested.

Gu et al.'s control: the denoiser that minimizes the training loss exactly on the row's images
(:class:`~memlens.generative.closed_form.EmpiricalMixture`) needs no training, and its samples
are training images. Conditioned on a label, D* is the mixture over the training images with that
label. Optionally regularized (Baptista et al.), in the EDM (VE) parametrization x = y + σε:

* Tikhonov, strength c: score s_c = (D* − x)/(σ² + c), i.e. D_c = x + σ²/(σ² + c) · (D* − x);
* density floor τ: s_τ = Σφ_n (y_n − x) / (σ² max(Σφ_n, τ)), i.e. D_τ = x + Σφ/max(Σφ, τ) · (D* − x),
  with φ_n = exp(−‖x − y_n‖²/2σ²).

Observations are those of :class:`~memlens.generative.diffusion.DiffusionTrainer`, with the
"snapshot" axis holding the unregularized denoiser first and then each regularized variant
(``sample_regularization``: strength per variant, ``sample_steps``: 0).
"""

from __future__ import annotations

import numpy as np

from .diffusion import _observations
from .edm import Condition, DiffusionInputError, to_unit_range

REGULARIZATIONS = ("tikhonov", "density-floor")


class ClosedFormTrainer:
    """Engine trainer: per row, sample the (optionally regularized) optimal denoiser with EDM Heun."""

    units_per_model = 1

    def __init__(self, *, condition: str = "none", samples: int = 1000, sampler_steps: int = 18,
                 regularization: str = "tikhonov", strengths=(), value_range=(0.0, 1.0)):
        self.condition = condition if isinstance(condition, Condition) else Condition.parse(condition)
        if regularization not in REGULARIZATIONS:
            raise DiffusionInputError(
                f"Unknown regularization {regularization!r}; choose {' or '.join(REGULARIZATIONS)}."
            )
        strengths = [float(s) for s in strengths]
        if any(not np.isfinite(s) or s <= 0 for s in strengths):
            raise DiffusionInputError(f"Regularization strengths must be finite and above 0; got {strengths}.")
        if samples < 2 or sampler_steps < 2:
            raise DiffusionInputError("samples and sampler_steps must each be at least 2.")
        self.samples, self.sampler_steps = int(samples), int(sampler_steps)
        self.regularization, self.strengths = regularization, sorted(set(strengths))
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def config(self) -> dict:
        return {"trainer": "diffusion-closed-form", "condition": str(self.condition), "samples": self.samples,
                "sampler": {"name": "edm-heun", "steps": self.sampler_steps, "rho": 7.0,
                            "sigma_min": 0.002, "sigma_max": 80.0},
                "regularization": self.regularization, "strengths": self.strengths,
                "value_range": list(self.value_range)}

    def fit_observe(self, data, membership, seeds, progress=None) -> dict[str, np.ndarray]:
        X = np.asarray(getattr(data, "X", data))
        X = X.reshape(len(X), -1)
        image_shape = getattr(data, "image_shape", None)
        y_all = to_unit_range(X, self.value_range).astype(np.float64)
        members = [np.flatnonzero(r) for r in np.asarray(membership, dtype=bool)]
        per_model = []
        for idx, seed in zip(members, seeds, strict=True):
            per_model.append(self._one(y_all, idx, getattr(data, "y", None), np.random.default_rng(seed), image_shape))
            if progress:
                progress(1)
        # regroup: snapshot s of every model (the layout _observations expects)
        snaps = [[per_model[m][s] for m in range(len(members))] for s in range(len(per_model[0]))]
        labels = np.stack([m[0][2] for m in per_model]) if self.condition.kind != "none" else None
        out = _observations([[r[:2] for r in snap] for snap in snaps], [0.0] * len(snaps), [0] * len(snaps),
                            members, len(X), image_shape, labels)
        out["sample_regularization"] = np.tile(np.r_[0.0, self.strengths], (len(members), 1))
        return out

    def _one(self, y_all, idx, true_labels, rng, image_shape):
        from .closed_form import EmpiricalMixture
        from .replication import quantize_8bit, replication_scores
        from .samplers import edm_heun_sample

        if len(idx) < 2:
            raise DiffusionInputError("Each model needs at least 2 training images for the replication test.")
        train_labels, n_labels = self.condition.training_labels(idx, true_labels, rng)
        noise = rng.standard_normal((self.samples, y_all.shape[1]))
        gen_labels = rng.integers(0, n_labels, self.samples) if n_labels else np.zeros(self.samples, np.int64)
        if train_labels is None:
            train_labels = np.zeros(len(idx), np.int64)
        groups = {int(g): EmpiricalMixture(y_all[idx[train_labels == g]]) for g in np.unique(gen_labels)
                  if (train_labels == g).any()}
        results = []
        for strength in [0.0, *self.strengths]:
            x = np.empty_like(noise)
            for g in np.unique(gen_labels):
                rows = gen_labels == g
                if int(g) not in groups:  # a label no training image has: nothing to condition on
                    groups[int(g)] = EmpiricalMixture(y_all[idx])
                mixture = groups[int(g)]
                x[rows] = edm_heun_sample(self._denoiser(mixture, strength), noise[rows], steps=self.sampler_steps)
            result = replication_scores(np.clip(x, -1, 1) if image_shape else x, y_all[idx],
                                        quantize=image_shape is not None, training_ids=idx)
            values = quantize_8bit(np.clip(x, -1, 1)) if image_shape else x.astype(np.float32)
            results.append((values, result, gen_labels))
        return results

    def _denoiser(self, mixture, strength):
        if strength == 0:
            return mixture.denoise
        if self.regularization == "tikhonov":
            return lambda x, s: x + (s**2 / (s**2 + strength)) * (mixture.denoise(x, s) - x)

        def floored(x, s):
            mean, log_mass = mixture.posterior(x, s)
            shrink = np.exp(log_mass - np.maximum(log_mass, np.log(strength)))  # Σφ / max(Σφ, τ)
            return x + shrink[:, None] * (mean - x)

        return floored
