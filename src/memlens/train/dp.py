"""DP-SGD through Opacus as a memlens trainer, with the accountant's ε for the run.

:class:`DPTrainer` trains one PyTorch model per membership row with Opacus's ``PrivacyEngine``:
Poisson-sampled batches, per-example gradients clipped to ``max_grad_norm``, Gaussian noise of
``noise_multiplier · max_grad_norm`` added each step. The noise multiplier is given, or found
per model from a target ε with Opacus's ``get_noise_multiplier`` for that model's sample rate
and steps, so every model of the run meets the same (ε, δ). :meth:`DPTrainer.privacy_accounting`
is a pure function of the configuration and the membership (no training): what ``memlens.audit``
writes as ``privacy.json``, the upper bound an audit's ε lower bound must never exceed.

Models are trained one at a time (Opacus computes per-example gradients of one module); each is a
function of its own seed only, so a run resumes shard by shard to the same arrays. The
observations are :class:`~memlens.train.ensemble.Ensemble`'s (same standardization, same
:func:`memlens.observe.from_logits`), so every estimate and report reads a DP run unchanged.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from memlens import observe
from memlens.data import Dataset
from memlens.errors import MemlensError
from memlens.train.base import Progress

MODELS = ("mlp", "linear", "cnn")
ACCOUNTANTS = ("prv", "rdp")
DEFAULT_DELTA = 1e-5
#: the Opacus release whose API this module needs (PrivacyEngine.make_private with
#: noise_generator and poisson_sampling, accountants.utils.get_noise_multiplier(steps=…))
OPACUS_MIN = "1.4"
#: what ``max_grad_norm=inf`` becomes for Opacus: no gradient reaches it, and noise 0 × it is 0
#: (0 × inf would be NaN)
UNCLIPPED = 1e30


def _opacus():
    try:
        import opacus
    except ImportError:
        raise MemlensError(
            "DP-SGD training needs Opacus, which is not installed. Install it with "
            "`pip install 'memlens[dp]'` (or `pip install opacus`), then run the command again."
        ) from None
    return opacus


@dataclass
class DPTrainer:
    """DP-SGD (Opacus) trainer: one model per membership row, with a per-model privacy account.

    Args:
        model: ``"mlp"`` (``depth`` hidden ReLU layers of ``width``), ``"linear"`` (multinomial
            logistic regression), ``"cnn"`` (Ensemble's CNN: two 3×3 convs of ``width`` and
            2·``width`` channels with 2×2 max-pooling, then a linear head; needs images), or a
            callable ``(n_features, n_classes) -> torch.nn.Module`` taking (B, n_features) float
            inputs (called under the model's seed, so its initialisation is reproducible).
        width, depth: Hidden units (channels) and hidden layers of the built-in models.
        epochs: Passes over each model's own training subset; each pass is ``ceil(n / batch_size)``
            Poisson-sampled steps of sample rate ``1 / ceil(n / batch_size)`` (Opacus's rule).
        batch_size: Expected examples per step.
        optimizer: ``"sgd"`` (momentum 0.9, as Ensemble's) or ``"adam"``; lr, weight_decay as usual.
        target_epsilon: The ε every model must meet at ``delta``; the noise multiplier is then
            found per model. Give this or ``noise_multiplier``, not both.
        noise_multiplier: Noise standard deviation over the clipping norm. ``0`` with
            ``max_grad_norm=inf`` is plain (non-private) training on the same batches, with no
            privacy account: the ε = ∞ arm of a comparison.
        max_grad_norm: Per-example gradient clipping norm (> 0; ``inf`` only without noise).
        delta: The δ of the guarantee, in (0, 1); refused when ≥ 1 / (a model's training-set
            size): such a δ allows a mechanism that publishes one example outright.
        accountant: ``"prv"`` (Opacus's default, tight) or ``"rdp"``.

    Example:
        >>> from memlens.design import halves
        >>> trainer = DPTrainer("linear", epochs=2, target_epsilon=4.0)
        >>> privacy = trainer.privacy_accounting(halves(4, 200).membership)  # what privacy.json holds
        >>> privacy["epsilon"] <= 4.0, privacy["sample_rate_per_model"]
        (True, [1.0, 1.0, 1.0, 1.0])
    """

    model: str | Callable = "mlp"
    width: int = 256
    depth: int = 1
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.5
    weight_decay: float = 0.0
    target_epsilon: float | None = None
    noise_multiplier: float | None = None
    max_grad_norm: float = 1.0
    delta: float = DEFAULT_DELTA
    accountant: str = "prv"
    eval_batch: int = 2048

    def __post_init__(self) -> None:
        _check_settings(self)

    @property
    def units_per_model(self) -> int:
        return self.epochs

    @property
    def private(self) -> bool:
        """False only for the noise-free, unclipped twin (noise_multiplier 0): nothing to account."""
        return self.target_epsilon is not None or self.noise_multiplier > 0

    def config(self) -> dict:
        """The trainer's part of the run's identity (a callable model by its qualified name)."""
        model = self.model if isinstance(self.model, str) else f"callable:{_qualname(self.model)}"
        config = {
            "trainer": "dp-sgd", "model": model, "width": self.width, "epochs": self.epochs,
            "batch_size": self.batch_size, "optimizer": self.optimizer, "lr": self.lr,
            "weight_decay": self.weight_decay, "target_epsilon": self.target_epsilon,
            "noise_multiplier": self.noise_multiplier, "max_grad_norm": _json_float(self.max_grad_norm),
            "delta": self.delta, "accountant": self.accountant, "poisson_sampling": True,
            "eval_batch": self.eval_batch,
        }  # fmt: skip
        if self.depth != 1:
            config["depth"] = self.depth
        return config

    # --- accounting (pure) ---------------------------------------------------------------------

    def schedule(self, membership) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per model: training-set size n, sample rate 1 / ceil(n / B) and steps epochs · ceil(n / B)."""
        counts = np.asarray(membership, dtype=bool).sum(axis=1)
        if (counts == 0).any():
            raise MemlensError("A model in this design has no training examples.")
        batches = np.ceil(counts / np.minimum(self.batch_size, counts)).astype(np.int64)
        return counts, 1.0 / batches, self.epochs * batches

    def noise_multipliers(self, membership) -> np.ndarray:
        """Each model's noise multiplier: the one given, or the one that meets the target ε."""
        counts, rates, steps = self.schedule(membership)
        self._check_delta(counts)
        if not self.private:
            return np.zeros(len(counts))
        if self.target_epsilon is None:
            return np.full(len(counts), float(self.noise_multiplier))
        return np.array([
            _noise_for(self.target_epsilon, self.delta, float(q), int(t), self.accountant, self.epochs, self.batch_size)
            for q, t in zip(rates, steps, strict=True)
        ])  # fmt: skip

    def privacy_accounting(self, membership) -> dict | None:
        """The run's ``privacy.json``: every model's (ε, δ) from Opacus's accountant, and the largest.

        Pure: computed from the configuration and each model's sample rate and steps, exactly the
        history Opacus's accountant records while training. ``None`` for the non-private twin.
        """
        membership = np.asarray(membership, dtype=bool)
        sigmas = self.noise_multipliers(membership)
        if not self.private:
            return None
        _, rates, steps = self.schedule(membership)
        eps = [_epsilon_for(float(s), float(q), int(t), self.delta, self.accountant)
               for s, q, t in zip(sigmas, rates, steps, strict=True)]  # fmt: skip
        return {
            "mechanism": "DP-SGD",
            "library": f"opacus {_opacus().__version__}",
            "accountant": self.accountant,
            "delta": float(self.delta),
            "target_epsilon": None if self.target_epsilon is None else float(self.target_epsilon),
            "noise_multiplier": float(sigmas.min()),
            "noise_multiplier_per_model": [float(s) for s in sigmas],
            "max_grad_norm": float(self.max_grad_norm),
            "epochs": int(self.epochs),
            "steps_per_model": [int(t) for t in steps],
            "sample_rate_per_model": [float(q) for q in rates],
            "epsilon_per_model": [float(e) for e in eps],
            "epsilon": float(max(eps)),
            "poisson_sampling": True,
        }

    def check_privacy(self, data: Dataset, membership) -> None:
        """Everything that can be refused before a run directory is touched: the module, δ, the ε."""
        self._check_module(self._build(data, seed=0))
        self.privacy_accounting(membership)

    def _check_delta(self, counts: np.ndarray) -> None:
        smallest = int(counts.min())
        if self.private and self.delta >= 1.0 / smallest:
            raise MemlensError(
                f"--dp-delta {self.delta:g} is at least 1/n for a model trained on {smallest} examples: "
                "an (ε, δ) guarantee with δ ≥ 1/n is met by a mechanism that publishes a random "
                f"training example outright, so it protects nothing. Use a δ well below 1/{smallest} "
                f"(e.g. --dp-delta {10 ** math.floor(math.log10(0.1 / smallest)):g}, or the default {DEFAULT_DELTA:g})."
            )

    # --- the network ---------------------------------------------------------------------------

    def _build(self, data: Dataset, seed: int):
        """The model's module, initialised under ``seed`` without touching torch's global RNG."""
        import torch

        d, c = data.X.shape[1], data.n_classes
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if callable(self.model):
                module = self.model(d, c)
                if not isinstance(module, torch.nn.Module):
                    raise MemlensError(
                        f"DPTrainer's model {_qualname(self.model)}(n_features, n_classes) returned a "
                        f"{type(module).__name__}, not a torch.nn.Module."
                    )
                return module
            return _builtin(self.model, d, c, self.width, self.depth, data.image_shape)

    @staticmethod
    def _check_module(module) -> None:
        """Refuse layers Opacus cannot train privately, naming each and what to use instead."""
        from opacus.validators import ModuleValidator

        _opacus()
        if not ModuleValidator.validate(module, strict=False):
            return
        bad = []
        for name, sub in module.named_modules():
            if next(sub.children(), None) is None and ModuleValidator.validate(sub, strict=False):
                bad.append(f"{name or '(the model)'} ({type(sub).__name__})")
        errors = ModuleValidator.validate(module, strict=False)
        why = "; ".join(sorted({str(e).split(". ")[0] for e in errors}))
        raise MemlensError(
            f"The model has layers Opacus cannot train with differential privacy: "
            f"{', '.join(bad) or type(module).__name__} ({why}). BatchNorm mixes the examples of a "
            "batch, so one example's gradient depends on the others: use GroupNorm, LayerNorm or "
            "InstanceNorm instead, or pass the module through "
            "opacus.validators.ModuleValidator.fix(module), which swaps BatchNorm for GroupNorm "
            "(other layers: see Opacus's list of supported layers)."
        )

    # --- training and observation --------------------------------------------------------------

    def fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None = None):
        import torch

        from memlens.train.ensemble import _check_converged, _standardizer

        _opacus()
        membership = np.asarray(membership, dtype=bool)
        m, n = membership.shape
        if n != data.n_examples:
            raise MemlensError(f"Membership covers {n} examples but the dataset has {data.n_examples}.")
        sigmas = self.noise_multipliers(membership)  # refuses δ, an unreachable ε, empty models
        mean, std = _standardizer(data.X)
        X = torch.from_numpy((data.X - mean) / std)
        y = torch.from_numpy(data.y).long()
        X_test = torch.from_numpy((data.X_test - mean) / std) if data.has_test else None
        logits, test_logits = [], []
        torch.set_flush_denormal(True)  # tiny models' gradients underflow; denormals are ~20x slower
        try:
            for row, seed, sigma in zip(membership, seeds, sigmas, strict=True):
                net = self._train_one(data, X, y, np.flatnonzero(row), seed, float(sigma), progress)
                logits.append(self._logits(net, X))
                if X_test is not None:
                    test_logits.append(self._logits(net, X_test))
        finally:
            torch.set_flush_denormal(False)
        out = observe.from_logits(np.stack(logits), data.y)
        if X_test is not None:
            test = observe.from_logits(np.stack(test_logits), data.y_test, probabilities=False)
            out.update({f"test_{k}": v for k, v in test.items()})
        _check_converged(out["loss"], self)
        return out

    def _train_one(self, data, X, y, members, seed, sigma: float, progress):
        import torch
        import torch.nn.functional as F
        from opacus import PrivacyEngine

        init_seed, batch_seed, noise_seed = (_child_int(seed, k) for k in (1, 2, 3))
        net = self._build(data, init_seed)
        self._check_module(net)
        if self.optimizer == "sgd":
            opt = torch.optim.SGD(net.parameters(), lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        B = min(self.batch_size, len(members))
        # the Poisson sampler draws from the loader's generator (secure_mode=False): seeded per model
        X_own, y_own = X[members], y[members]
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(X_own, y_own), batch_size=B,
            generator=torch.Generator().manual_seed(batch_seed),
        )  # fmt: skip
        with warnings.catch_warnings():
            # "secure RNG turned off": deliberate, for reproducible audits (seeded noise)
            warnings.simplefilter("ignore", UserWarning)
            engine = PrivacyEngine(accountant=self.accountant, secure_mode=False)
            private_net, opt, loader = engine.make_private(
                module=net, optimizer=opt, data_loader=loader, noise_multiplier=sigma,
                max_grad_norm=min(self.max_grad_norm, UNCLIPPED), poisson_sampling=True,
                noise_generator=torch.Generator().manual_seed(noise_seed),
            )  # fmt: skip
        private_net.train()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Opacus's full-backward-hook notice
            # Opacus's Poisson sampler, read directly: the same index sets its DataLoader yields,
            # without collating examples one by one (most of a small model's step time)
            for _ in range(self.epochs):
                for batch in loader.batch_sampler:
                    batch = torch.as_tensor(batch, dtype=torch.long)
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(private_net(X_own[batch]), y_own[batch]).backward()
                    opt.step()
                if progress:
                    progress(1)
        private_net.remove_hooks()
        return net

    def _logits(self, net, X) -> np.ndarray:
        import torch

        net.eval()
        with torch.no_grad():
            chunks = [net(X[s : s + self.eval_batch]).float() for s in range(0, len(X), self.eval_batch)]
        return torch.cat(chunks).numpy()


def from_cli(trainer, *, model: str, trainer_spec: str | None, epsilon: float | None,
             noise_multiplier: float | None, max_grad_norm: float | None, delta: float | None):  # fmt: skip
    """``memlens audit``'s trainer with ``--dp-*`` options: a :class:`DPTrainer` with the same model
    and optimizer settings, or ``trainer`` unchanged when no ``--dp-*`` option is given."""
    given = {"--dp-epsilon": epsilon, "--dp-noise-multiplier": noise_multiplier,
             "--dp-max-grad-norm": max_grad_norm, "--dp-delta": delta}  # fmt: skip
    if all(v is None for v in given.values()):
        return trainer
    named = ", ".join(k for k, v in given.items() if v is not None)
    if trainer_spec is not None or model.startswith("sklearn:"):
        raise MemlensError(
            f"{named} train memlens' own mlp, cnn or logreg models with DP-SGD (Opacus); "
            f"{trainer_spec or model} trains its own model, whose per-example gradients memlens cannot "
            "clip. Use --model mlp, cnn or logreg with the --dp-* options, or train privately in your "
            "own function and drop them."
        )
    if epsilon is None and noise_multiplier is None:
        raise MemlensError(
            f"{named} needs the privacy level too: give --dp-epsilon (the target ε; the noise is "
            "found for it) or --dp-noise-multiplier (the noise; the run reports the ε it gives)."
        )
    if epsilon is not None and noise_multiplier is not None:
        raise MemlensError(
            "Give --dp-epsilon or --dp-noise-multiplier, not both: with a target ε memlens finds the "
            "noise multiplier that meets it, so a given noise multiplier would be overridden."
        )
    if trainer.proxies or trainer.activations or getattr(trainer, "early_stopping", None) is not None \
            or getattr(trainer, "downweighted", ()):
        raise MemlensError(
            "--proxies, --activations, --early-stopping and --downweight-memorized live in the batched "
            "ensemble trainer; DP-SGD (Opacus) trains one model at a time without them. Drop them, or "
            "run without the --dp-* options (--remove-memorized, --remove-random and --dedup do work "
            "with DP-SGD)."
        )
    if trainer.device == "cuda":
        raise MemlensError("DP-SGD trains on the CPU in memlens; drop --device cuda (or use --device auto).")
    return DPTrainer(
        model=trainer.model, width=trainer.width, depth=trainer.depth, epochs=trainer.epochs,
        batch_size=trainer.batch_size, optimizer=trainer.optimizer, lr=trainer.lr,
        weight_decay=trainer.weight_decay, target_epsilon=epsilon, noise_multiplier=noise_multiplier,
        max_grad_norm=1.0 if max_grad_norm is None else max_grad_norm,
        delta=DEFAULT_DELTA if delta is None else delta,
    )  # fmt: skip


def privacy_words(privacy: dict) -> str:
    """One line for a run's ``privacy.json``: the accountant's ε upper bound and how it was made."""
    eps = privacy["epsilon"]
    target = privacy.get("target_epsilon")
    return (
        f"DP-SGD ({privacy.get('library', 'opacus')}, {privacy.get('accountant')} accountant): every model "
        f"is (ε ≤ {eps:.2f}, δ = {privacy['delta']:g})-DP"
        + (f" (target ε {target:g})" if target is not None else "")
        + f"; noise multiplier {privacy['noise_multiplier']:.3g}, clipping norm {privacy['max_grad_norm']:g}, "
        f"{privacy['epochs']} epochs"
    )


# --- accountant calls, cached (the same sample rate and steps recur for every model) -------------


@functools.lru_cache(maxsize=256)
def _noise_for(target: float, delta: float, rate: float, steps: int, accountant: str, epochs: int, batch: int) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return float(get_noise_multiplier(target_epsilon=target, target_delta=delta, sample_rate=rate,
                                              steps=steps, accountant=accountant))  # fmt: skip
    except Exception as e:  # Opacus: "The privacy budget is too low." (σ > 1e6) or a numerical failure
        raise MemlensError(
            f"Opacus's {accountant} accountant cannot reach ε = {target:g} at δ = {delta:g} with {epochs} "
            f"epochs of sample rate {rate:.3g} ({steps} steps, batch size {batch}): no noise multiplier "
            f"up to 10^6 gets there ({e}). Raise --dp-epsilon, train fewer --epochs, lower "
            "--batch-size (a smaller sample rate), or raise --dp-delta."
        ) from None


@functools.lru_cache(maxsize=256)
def _epsilon_for(sigma: float, rate: float, steps: int, delta: float, accountant: str) -> float:
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = [(sigma, rate, steps)]  # what Opacus's step hook records over `steps` steps
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            eps = float(acc.get_epsilon(delta=delta))
    except Exception as e:
        raise MemlensError(
            f"Opacus's {accountant} accountant failed for noise multiplier {sigma:g}, sample rate "
            f"{rate:.3g} and {steps} steps at δ = {delta:g} ({e}). Use a larger --dp-noise-multiplier, "
            "fewer --epochs, or --dp-epsilon to let memlens choose the noise."
        ) from None
    if not math.isfinite(eps):
        raise MemlensError(
            f"With noise multiplier {sigma:g}, sample rate {rate:.3g} and {steps} steps the accountant gives "
            f"no finite ε at δ = {delta:g}: the noise is too small to protect anything. Use a larger "
            "--dp-noise-multiplier or --dp-epsilon."
        )
    return eps


# --- helpers ------------------------------------------------------------------------------------


def _builtin(model: str, d: int, c: int, width: int, depth: int, image_shape):
    """Ensemble's architectures as ordinary modules (Opacus needs one nn.Module per model)."""
    from torch import nn

    if model == "linear":
        return nn.Linear(d, c)
    if model == "mlp":
        layers, fan_in = [], d
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        return nn.Sequential(*layers, nn.Linear(fan_in, c))
    from memlens.train.ensemble import _image_dims

    ch, h, w = _image_dims(image_shape, d)
    return nn.Sequential(
        nn.Unflatten(1, (ch, h, w)),
        nn.Conv2d(ch, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), c),
    )  # fmt: skip


def _check_settings(t: DPTrainer) -> None:
    """Refuse settings that cannot train or cannot be accounted, naming the option and the value."""

    def whole(name):
        v = getattr(t, name)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise MemlensError(f"DPTrainer {name} must be a whole number >= 1; got {v!r}.")

    def real(v) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and not math.isnan(v)

    for name in ("width", "depth", "epochs", "batch_size", "eval_batch"):
        whole(name)
    if not callable(t.model) and t.model not in MODELS:
        raise MemlensError(f"Unknown DP-SGD model {t.model!r}; use one of {', '.join(MODELS)} or a callable "
                           "(n_features, n_classes) -> torch.nn.Module.")  # fmt: skip
    if t.depth != 1 and t.model != "mlp":
        raise MemlensError(f"DPTrainer depth {t.depth} needs model 'mlp'.")
    if t.optimizer not in ("sgd", "adam"):
        raise MemlensError(f"Unknown optimizer {t.optimizer!r}; use sgd or adam.")
    if not (real(t.lr) and math.isfinite(t.lr) and t.lr > 0):
        raise MemlensError(f"DPTrainer lr (--lr) must be a finite number > 0; got {t.lr!r}.")
    if not (real(t.weight_decay) and math.isfinite(t.weight_decay) and t.weight_decay >= 0):
        raise MemlensError(f"DPTrainer weight_decay (--weight-decay) must be a finite number >= 0; got {t.weight_decay!r}.")
    if t.accountant not in ACCOUNTANTS:
        raise MemlensError(f"Unknown accountant {t.accountant!r}; use prv or rdp.")
    if (t.target_epsilon is None) == (t.noise_multiplier is None):
        raise MemlensError(
            "DP-SGD needs exactly one of --dp-epsilon (target ε; memlens finds the noise) and "
            f"--dp-noise-multiplier (the noise; memlens reports its ε); got "
            f"{'both' if t.target_epsilon is not None else 'neither'}."
        )
    if t.target_epsilon is not None and not (real(t.target_epsilon) and math.isfinite(t.target_epsilon) and t.target_epsilon > 0):
        raise MemlensError(f"--dp-epsilon must be a finite number > 0, such as 1, 4 or 8; got {t.target_epsilon!r}.")
    if t.noise_multiplier is not None and not (real(t.noise_multiplier) and math.isfinite(t.noise_multiplier) and t.noise_multiplier >= 0):
        raise MemlensError(f"--dp-noise-multiplier must be a finite number >= 0; got {t.noise_multiplier!r}.")
    if not (real(t.max_grad_norm) and t.max_grad_norm > 0):
        raise MemlensError(
            f"--dp-max-grad-norm (the per-example clipping norm) must be > 0, such as 1.0; got {t.max_grad_norm!r}."
        )
    if math.isinf(t.max_grad_norm) and t.private:
        raise MemlensError(
            "--dp-max-grad-norm inf leaves gradients unclipped, so no finite noise hides one example: "
            "give a finite clipping norm such as 1.0 (inf is only for the noise-free twin, noise multiplier 0)."
        )
    if not (real(t.delta) and 0 < t.delta < 1):
        raise MemlensError(f"--dp-delta must be in (0, 1), such as {DEFAULT_DELTA:g}; got {t.delta!r}.")


def _child_int(seed: np.random.SeedSequence, k: int) -> int:
    """A 63-bit integer from child ``k`` of ``seed``, derived without spawn() (which mutates it)."""
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> 1)


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _json_float(x: float):
    return "inf" if math.isinf(x) else float(x)
