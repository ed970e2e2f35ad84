"""Reproduction: K-fold memorization of density models finds injected atypical images (van den Burg & Williams).

scikit-learn digits (1,797 8×8 images, values /16) plus 12 injected atypical images: 6 random
binary patterns and 6 inverted digits (1 − x). A K-fold design on the engine (10 folds × 2
repetitions = 20 models); each model is a Gaussian kernel density (bandwidth 0.2, small enough to
memorize) observed by its exact log-likelihood on every image; the memorization score is
``logmeanexp(log p IN) − logmeanexp(log p OUT)`` per image. Reported:

* the share of injected images in the top 5% by the score (pass: all of them), and by the
  nearest-neighbour copy test (distance from each training image to the nearest of N samples drawn
  from the full-data model; small = "copied") — the test the paper says misses memorization;
* the share by held-out log-likelihood alone (−V), and its rank correlation with the score;
* controls: a single spherical Gaussian (one image moves it by O(1/N): it cannot memorize) on the
  same design, and its log-likelihoods with each image's IN/OUT labels shuffled across models.

With ``--vae-epochs E`` the same design also trains the paper's model, a Bernoulli MLP VAE
(importance-sampled log-likelihood, K = 256, effective sample size recorded), observed at epoch
``--vae-early`` too in the same training run, and reports the paper's pass criteria: (a) median
score of the injected images ≥ 95th percentile over normal digits; (b) the mean of the top-1% scores
grows from the early to the final epoch; (c) IS log-likelihood ≥ ELBO for ≥ 99% of (model, image)
pairs, and |mean score| < 0.1 nats with IN/OUT labels shuffled across models. Beside that control,
the score of each image over its IN models alone (:func:`in_only_split_score`) measures the part of
it that unequal IN/OUT counts give log-mean-exp without any membership.

With ``--dataset mnist-5k`` the images are memlens' MNIST-5k (5,000 28×28 images in [0, 1]) with
the same kind of injected images. A kernel density in 784-D needs its own bandwidth: unless
``--bandwidth`` is given it is the one of a grid with the best mean held-out log-likelihood when
fitted on a random 80% of the normal images and scored on the other 20%
(:func:`select_bandwidth`); the density is computed exactly with dense distances
(``memlens.generative.density_trainers.GaussianKDE``, exact where ``KernelDensity`` underflows).

    python experiments/density_memorization.py [--smoke] [--vae-epochs 150 --vae-early 20]
    python experiments/density_memorization.py --dataset mnist-5k --folds 5 --vae-epochs 30 --vae-early 5
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import memlens as ml

if __package__ in (None, ""):  # run as `python experiments/NAME.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import parser, record

BANDWIDTH_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0)


def digits_with_atypical(n_digits: int | None, n_atypical: int, seed: int):
    """Digits scaled to [0, 1], then ``n_atypical`` images: half random binary patterns, half inverted digits."""
    from sklearn.datasets import load_digits

    return with_atypical(load_digits().data[:n_digits] / 16.0, n_atypical, seed)


def mnist_with_atypical(n_images: int | None, n_atypical: int, seed: int):
    """MNIST-5k (flattened to 784, in [0, 1]) then ``n_atypical`` injected images as :func:`with_atypical`."""
    name = "mnist-5k" if n_images is None else f"mnist-5k:{n_images}"
    X = ml.data.load(name).X
    return with_atypical(np.asarray(X, dtype=np.float64).reshape(len(X), -1), n_atypical, seed)


def with_atypical(X: np.ndarray, n_atypical: int, seed: int):
    """Images in [0, 1] then ``n_atypical`` more: half random binary patterns, half inverted images (1 − x).

    Returns the images and a boolean mask of the injected ones (the last ``n_atypical``).
    """
    rng = np.random.default_rng([seed, 0xA7])  # an experiment-local stream (memlens.seeds names only its own)
    noise = (rng.random((n_atypical // 2, X.shape[1])) < 0.5).astype(np.float64)
    inverted = 1.0 - X[rng.choice(len(X), n_atypical - n_atypical // 2, replace=False)]
    images = np.vstack([X, noise, inverted])
    planted = np.r_[np.zeros(len(X), bool), np.ones(n_atypical, bool)]
    return images, planted


def top_share(score: np.ndarray, planted: np.ndarray, q: float = 0.95) -> float:
    """Share of planted examples whose score is at or above the q-quantile of all scores."""
    return float((score[planted] >= np.quantile(score, q)).mean())


def main(argv=None) -> dict:
    from scipy.stats import spearmanr
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity

    from memlens.engine import fingerprint, run_design
    from memlens.generative.density import density_memorization, nearest_sample_distance
    from memlens.generative.density_trainers import GaussianKDE, SklearnDensity, select_bandwidth

    p = parser(__doc__)
    p.add_argument("--dataset", choices=("digits", "mnist-5k"), default="digits")
    p.add_argument("--bandwidth", type=float, default=None,
                   help="KDE bandwidth (default: 0.2 for digits; for mnist-5k the best held-out one of a grid)")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--vae-epochs", type=int, default=None,
                   help="also train a Bernoulli VAE per fold for this many epochs (0, the default: skip; "
                        "--smoke: 2 unless given)")
    p.add_argument("--vae-early", type=int, default=20,
                   help="also observe the VAE after this many epochs, for criterion (b) (0: skip; --smoke: 1)")
    a = p.parse_args(argv)
    mnist = a.dataset == "mnist-5k"
    n_images, n_atypical, folds, repeats = (((500 if mnist else 400), 6, 5, 1) if a.smoke
                                            else (None, 12, a.folds, a.repeats))
    vae_epochs, vae_early = ((2, 1) if a.smoke and a.vae_epochs is None
                             else (a.vae_epochs or 0, 1 if a.smoke else a.vae_early))
    if vae_epochs and not 0 <= vae_early < vae_epochs:
        p.error(f"--vae-early must be 0 (skip) or an epoch before --vae-epochs {vae_epochs}; got {vae_early}")
    out = a.out or Path("runs/exp-density-memorization" + ("-mnist-5k" if mnist else "")
                        + ("-smoke" if a.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    X, planted = (mnist_with_atypical if mnist else digits_with_atypical)(n_images, n_atypical, a.seed)
    about = {"name": f"{a.dataset}+{n_atypical}-atypical", "fingerprint": fingerprint(X)}
    design = ml.design.kfold(folds * repeats, len(X), folds, seed=a.seed)
    t = time.perf_counter()
    bandwidth, selection = a.bandwidth, None
    if bandwidth is None and mnist:  # chosen on the normal images alone, before any model sees the injected ones
        bandwidth, held_out_loglik = select_bandwidth(X[~planted], BANDWIDTH_GRID, seed=a.seed)
        selection = {"rule": "best mean held-out log-likelihood, fit on a random 80% of the normal images, "
                             "scored on the other 20%", "held_out_mean_loglik": held_out_loglik}
    elif bandwidth is None:
        bandwidth = 0.2
    # exact: scikit-learn's KernelDensity underflows far from every training image at small
    # bandwidths (scikit-learn issue #25799) and is slow in 784-D
    models = {"kde": GaussianKDE(bandwidth),
              "single-gaussian": GaussianMixture(1, covariance_type="spherical")}
    scores, loglik = {}, {}
    for name, estimator in models.items():
        store = run_design(X, design, SklearnDensity(estimator), out / name, seed=a.seed, describe=about,
                           progress=not a.no_progress)
        loglik[name] = store.observation("loglik")
        scores[name] = density_memorization(store.membership, loglik[name])
    kde = scores["kde"]
    # the copy test: how close is each training image to the nearest of N samples of the full-data model
    samples = KernelDensity(bandwidth=bandwidth).fit(X).sample(len(X), random_state=a.seed)
    copy_distance = nearest_sample_distance(X, samples)
    # shuffle each image's IN/OUT labels across models: the score must vanish
    rng = np.random.default_rng([a.seed, 0xC0])
    shuffled = np.stack([rng.permutation(col) for col in design.membership.T], axis=1)
    swapped = {name: float(density_memorization(shuffled, ll).memorization.mean()) for name, ll in loglik.items()}
    normal = ~planted
    gauss = scores["single-gaussian"].memorization
    results = {
        "experiment": "density-memorization", "dataset": a.dataset, "n_examples": int(len(X)),
        "n_atypical": int(planted.sum()), "models": int(design.n_models), "folds": folds, "repeats": repeats,
        "bandwidth": bandwidth, **({"bandwidth_selection": selection} if selection else {}),
        "seconds": round(time.perf_counter() - t, 1),
        "kde": {"atypical_in_top5pct": top_share(kde.memorization, planted),
                "median_score_normal": float(np.median(kde.memorization[normal])),
                "p95_score": float(np.quantile(kde.memorization, 0.95)),
                "median_score_atypical": float(np.median(kde.memorization[planted]))},
        "nn_copy_test_atypical_in_top5pct": top_share(-copy_distance, planted),
        "heldout_loglik_only_atypical_in_top5pct": top_share(-kde.held_out, planted),
        "spearman_score_vs_neg_heldout_normal": float(spearmanr(kde.memorization[normal],
                                                                -kde.held_out[normal])[0]),
        "control_single_gaussian": {"median_score": float(np.median(gauss)),
                                    "mean_score_normal": float(gauss[normal].mean()),
                                    "max_score_normal": float(gauss[normal].max())},
        # near 0 only where IN and OUT likelihoods are close: with a memorizing KDE the one OUT slot
        # per repetition lands on the true OUT model 1/K of the time and the mean stays ≈ M/K
        "control_shuffled_membership_mean_score": swapped,
    }
    if vae_epochs:
        results["vae"] = _vae(X, planted, design, vae_epochs, vae_early, out, a, about, shuffled)
    record(out, "density_memorization", results)
    return results


def top_percent_mean(score: np.ndarray, percent: float = 1.0) -> float:
    """Mean of the highest ``percent``% of the scores (at least one), NaNs ignored."""
    ranked = np.sort(score[np.isfinite(score)])[::-1]
    return float(ranked[: max(1, int(np.ceil(len(ranked) * percent / 100)))].mean())


def in_only_split_score(membership: np.ndarray, loglik: np.ndarray, seed: int) -> np.ndarray:
    """The score with no membership in it: per image, as many of its IN models as it has OUT ones play OUT.

    Only models that trained on the image take part, so the mean is the bias that unequal IN/OUT
    counts give log-mean-exp alone (the shuffled-membership control carries it too).
    """
    from memlens.generative.density import masked_logmeanexp

    membership = np.asarray(membership, dtype=bool)
    rng = np.random.default_rng([seed, 0x51])
    pseudo_out = np.zeros_like(membership)
    for i, column in enumerate(membership.T):
        ins = np.flatnonzero(column)
        pseudo_out[rng.choice(ins, int((~column).sum()), replace=False), i] = True
    return masked_logmeanexp(loglik, membership & ~pseudo_out) - masked_logmeanexp(loglik, pseudo_out)


def _vae(X, planted, design, epochs, early, out, a, about, shuffled) -> dict:
    """The paper's own model: a Bernoulli MLP VAE per fold, importance-sampled log-likelihood (K = 256).

    Observed at the final epoch and, when ``early`` is set, at that epoch of the same training run.
    """
    from scipy.stats import spearmanr

    from memlens.engine import run_design
    from memlens.generative.density import density_memorization
    from memlens.generative.density_vae import VAE, degenerate_share

    t = time.perf_counter()
    vae = VAE(epochs=epochs, observe_at=(early, epochs) if early else None)
    name = f"vae-{epochs}ep" + (f"-early{early}" if early else "")  # runs with other settings live apart
    store = run_design(X, design, vae, out / name, seed=a.seed, describe=about, progress=not a.no_progress)
    normal = ~planted

    def at(suffix: str) -> dict:
        loglik, elbo, ess = (store.observation(k + suffix) for k in ("loglik", "elbo", "ess"))
        scores = density_memorization(store.membership, loglik)
        score = scores.memorization
        p95_normal = float(np.quantile(score[normal], 0.95))
        return {
            "atypical_in_top5pct": top_share(score, planted),
            "median_score_normal": float(np.median(score[normal])),
            "median_score_atypical": float(np.median(score[planted])),
            "p95_score": float(np.quantile(score, 0.95)), "p95_score_normal": p95_normal,
            "top1pct_mean_score": top_percent_mean(score),
            "top1pct_mean_score_normal": top_percent_mean(score[normal]),
            "heldout_loglik_only_atypical_in_top5pct": top_share(-scores.held_out, planted),
            "spearman_score_vs_neg_heldout_normal": float(spearmanr(score[normal], -scores.held_out[normal])[0]),
            "mean_loglik": float(loglik.mean()), "mean_elbo": float(elbo.mean()),
            "share_is_at_least_elbo": float((loglik >= elbo).mean()),
            "median_ess": float(np.median(ess)), "degenerate_share_ess_below_1pct": degenerate_share(ess, 256),
            "control_shuffled_membership_mean_score": float(density_memorization(shuffled, loglik)
                                                            .memorization.mean()),
            "in_only_split_mean_score": float(in_only_split_score(store.membership, loglik, a.seed).mean()),
        }

    final = at("")
    result = {"trainer": vae.config(), "run": name, "seconds": round(time.perf_counter() - t, 1), **final,
              "pass_a_median_atypical_at_least_p95_normal": final["median_score_atypical"]
              >= final["p95_score_normal"],
              "pass_c_is_at_least_elbo_99pct": final["share_is_at_least_elbo"] >= 0.99,
              "pass_c_shuffled_control_below_0p1": abs(final["control_shuffled_membership_mean_score"]) < 0.1}
    if early:
        result[f"epoch{early}"] = first = at(f"_epoch{early}")
        result["pass_b_top1pct_grows"] = final["top1pct_mean_score"] > first["top1pct_mean_score"]
    return result


if __name__ == "__main__":
    main()
