"""``memlens generative audit``: one generative model configuration on the engine, then its estimates.

Diffusion models (``closed-form``, ``mlp-edm``, ``unet``) get one model per training-set size
(class-balanced, nested subsets; :func:`~memlens.generative.emm.size_design`), each sampled and
tested for replication; the run reports the memorization ratio per |D| and the EMM read off the
grid. Density models (``vae``, ``gmm``, ``kde``) get a K-fold design and are observed by their
log-likelihood of every example; the run reports van den Burg & Williams's memorization score.
A killed audit resumes with the same command (the engine's shards; the estimates are rewritten
from the stored arrays).
"""

from __future__ import annotations

import numpy as np

from ..errors import MemlensError
from .edm import DiffusionInputError

DIFFUSION_MODELS = ("closed-form", "mlp-edm", "unet")
DENSITY_MODELS = ("vae", "gmm", "kde")
MODELS = DIFFUSION_MODELS + DENSITY_MODELS
DEFAULT_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def check_images(dataset) -> None:
    """Refuse data a generative audit cannot use: NaN, values outside [0, 1], rows that are not images."""
    X = np.asarray(dataset.X)
    if not np.isfinite(X).all():
        raise DiffusionInputError(f"{dataset.name} holds NaN or infinite values; clean them first.")
    lo, hi = float(X.min()), float(X.max())
    if lo < 0 or hi > 1:
        raise DiffusionInputError(
            f"{dataset.name}'s values span [{lo:.4g}, {hi:.4g}]; a generative audit expects pixels scaled to "
            "[0, 1] (memlens' loaders do this for digits and Fashion-MNIST). Divide 8-bit pixels by 255."
        )


def make_trainer(model: str, *, condition: str = "none", steps: int = 20_000, snapshots=None,
                 samples: int = 1000, hidden: int = 256, lr: float = 1e-3, batch_size: int = 128,
                 ema: float = 0.999, ema_warmup: bool = True,
                 strengths=(), regularization: str = "tikhonov", epochs: int = 150, bandwidth: float = 0.2,
                 components: int = 10, device: str = "cpu"):
    """The engine trainer for ``model`` (one of :data:`MODELS`)."""
    if model == "closed-form":
        from .closed_form_trainer import ClosedFormTrainer

        return ClosedFormTrainer(condition=condition, samples=samples, strengths=strengths,
                                 regularization=regularization)
    if model in ("mlp-edm", "unet"):
        from .diffusion import DiffusionTrainer

        return DiffusionTrainer("mlp" if model == "mlp-edm" else "unet", condition=condition, steps=steps,
                                snapshots=snapshots, samples=samples, hidden=hidden, lr=lr,
                                batch_size=batch_size, ema=ema, ema_warmup=ema_warmup, device=device)
    if condition != "none":
        raise MemlensError(f"--condition applies to diffusion models only; {model} is a density model.")
    if model == "vae":
        from .density_vae import VAE

        return VAE(epochs=epochs)
    from .density_trainers import SklearnDensity

    if model == "kde":  # exact: scikit-learn's KernelDensity underflows far from the data
        from .density_trainers import GaussianKDE

        return SklearnDensity(GaussianKDE(bandwidth))
    if model == "gmm":
        from sklearn.mixture import GaussianMixture

        return SklearnDensity(GaussianMixture(components, covariance_type="diag", reg_covar=1e-3))
    raise MemlensError(f"Unknown generative model {model!r}; choose one of {', '.join(MODELS)}.")


def generative_audit(dataset, model: str, out, *, sizes=DEFAULT_SIZES, repeats: int = 1, folds: int = 10,
                     seed: int = 0, progress: bool = True, feature_space: bool = True, **trainer_options) -> dict:
    """Audit ``model`` on ``dataset`` into the run directory ``out``; return ``generative.json``.

    ``feature_space``: also test diffusion samples in a small CNN's feature space
    (:mod:`.features`; images with labels only).
    """
    import time

    from memlens.engine import run_design

    if model not in MODELS:
        raise MemlensError(f"Unknown generative model {model!r}; choose one of {', '.join(MODELS)}.")
    check_images(dataset)
    trainer = make_trainer(model, **trainer_options)
    labels = getattr(dataset, "y", None)
    if model in DIFFUSION_MODELS:
        from .emm import size_design

        n = len(dataset.X)
        too_big = [s for s in sizes if s > n]
        if too_big:
            raise DiffusionInputError(
                f"--sizes {','.join(map(str, too_big))} exceed the {n} examples of {dataset.name}; the largest "
                f"training set is the whole dataset. Drop those sizes or load more data."
            )
        design = size_design(np.zeros(n, np.int64) if labels is None else labels, sizes, repeats=repeats,
                             seed=seed)
    else:
        from memlens.design import kfold

        design = kfold(folds * repeats, len(dataset.X), folds, seed=seed)
    started = time.perf_counter()
    result = {}

    def finish(store) -> None:
        result.update(write_estimates(store, dataset, model, trainer, folds=folds, seed=seed,
                                      feature_space=feature_space, seconds=time.perf_counter() - started))

    run_design(dataset, design, trainer, out, seed=seed, progress=progress, finish=finish,
               description=f"{design.n_models} {model} model(s)")
    return result


def write_estimates(store, dataset, model: str, trainer, *, folds: int, seconds: float, seed: int = 0,
                    feature_space: bool = True) -> dict:
    """generative.json and the Parquet tables of a finished generative run (see :mod:`.outputs`)."""
    from . import outputs
    from .edm import to_unit_range
    from .replication import quantize_8bit

    config = trainer.config()
    image_shape = list(dataset.image_shape) if getattr(dataset, "image_shape", None) else None
    summary = {"kind": "diffusion" if model in DIFFUSION_MODELS else "density", "dataset": dataset.name,
               "model": model, "condition": config.get("condition"), "image_shape": image_shape,
               "value_range": [0.0, 1.0], "seconds": round(seconds, 1),
               "training_seconds": store.manifest.get("training_seconds")}
    labels = getattr(dataset, "y", None)
    pixels = quantize_8bit(to_unit_range(dataset.X, (0.0, 1.0))) if image_shape else None
    if model in DIFFUSION_MODELS:
        summary.update(outputs.diffusion_summary(
            store.membership, store.observation("sample_replicated"), store.observation("sample_steps"),
            regularization=outputs.variant_strengths(store), regularization_kind=config.get("regularization")))
        samples = outputs.samples_table(store)
        if feature_space and pixels is not None and labels is not None and len(image_shape) == 2:
            from memlens import seeds

            from .features import ImageEncoder

            encoder = ImageEncoder(image_shape, seed=seeds.to_int(seeds.sequence(seed, "generative:encoder"), "int63"))
            encoder.fit(pixels, labels)
            columns, found = outputs.feature_space(store, summary, encoder, pixels)
            samples = samples.assign(**columns)
            summary["feature_space"] = {**found, "encoder": "2-conv CNN classifier, 64 L2-normalized features",
                                        "encoder_training_accuracy": encoder.accuracy,
                                        "note": "the 1/3 cut-off was calibrated on pixels: a ranking aid here"}
        store.save_table("samples.parquet", samples)
        store.save_table("training_examples.parquet", outputs.training_examples_table(store, labels))
        if pixels is not None:
            store.save_table("generative_gallery.parquet", outputs.gallery_table(store, summary, pixels))
    else:
        frame = outputs.density_table(store.membership, store.observation("loglik"), labels, pixels)
        store.save_table("density.parquet", frame)
        summary["density"] = outputs.density_summary(frame, folds, store.membership.shape[0])
    store.save_json("generative.json", summary)
    return summary


def pooled(dataset, k: int):
    """``dataset`` with its images average-pooled k×k (e.g. Fashion-MNIST 28×28 → 14×14 for k = 2)."""
    shape = getattr(dataset, "image_shape", None)
    if shape is None or len(shape) != 2:
        raise MemlensError(f"--pool needs 2-D grey-scale images; {dataset.name} has image shape {shape}.")
    h, w = shape
    if h % k or w % k:
        raise MemlensError(f"--pool {k} does not divide {dataset.name}'s {h}×{w} images; choose a divisor.")

    def pool(X):
        if X is None:
            return None
        return np.asarray(X).reshape(len(X), h // k, k, w // k, k).mean(axis=(2, 4)).reshape(len(X), -1)

    return dataset.replace(name=f"{dataset.name}/pool{k}", X=pool(dataset.X).astype(np.float32),
                           X_test=pool(dataset.X_test), image_shape=(h // k, w // k))
