"""The minimum width at which SGD memorizes m random labels in dimension d (Daniely 2020), on the engine.

Daniely (arXiv 1911.09873) shows that gradient training of a depth-2 network
``f(x) = (1/√q) Σ_j a_j relu(⟨w_j, x⟩)`` fits m random ±1 labels of points on the sphere S^{d−1}
once q ≳ (m/d)·polylog(m): about m parameters, which is near-optimal. This module measures it:

* :class:`RandomLabels`: ``draws`` independent sets of m points uniform on S^{d−1} with uniform ±1
  labels, stacked as one dataset; draw s is a pure function of ``(seed, s)``.
* :class:`WidthSweepTrainer`: an engine trainer that trains every model of a shard — two-layer
  networks of *different* widths, each on its own draw — as one batched ensemble (``torch.bmm``).
  Every model is padded to the largest width with a fixed 0/1 mask on its hidden units; masked
  units have a zero output weight, so they never change the output or receive a gradient, and a
  padded model trains exactly as it would alone at its true width. Symmetric initialisation (units
  in pairs with equal w_j and opposite a_j, so f ≡ 0 at the start), only W trained, full-batch
  Adam on the logistic loss. Each model stops when it fits all its points; the batch then drops
  it and shrinks the padding to the widest model still training. Observations: ``correct`` and
  ``margin`` (y·f) of every model on every example.
* :func:`bisect_width`: per (m, d), rounds of probes (widths × draws, one engine run per round)
  that narrow the bracket around q_min, the smallest width fitting 100% of the training points in
  at least ``required`` of ``draws`` draws.
* :func:`fit_power_law`: the exponent of y ∝ x^k by OLS on log–log axes with a t (or bootstrap)
  confidence interval — a pure function of arrays.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memlens.capacity.errors import CapacityInputError

CACHE_ELEMENTS = 1 << 16  # (models × points × width) per training chunk: 256 KiB of float32, cache-resident


def _whole(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CapacityInputError(f"{name} must be a whole number of at least {minimum}; got {value!r}.")
    return int(value)


def random_labels(m: int, d: int, seed: int, draw: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``draw`` of seed ``seed``: m points uniform on S^{d−1} (float64) and uniform ±1 labels (int8)."""
    m, d = _whole("m", m, 1), _whole("d", d, 1)
    rng = np.random.default_rng([_whole("seed", seed, 0), _whole("draw", draw, 0), 0xDA1E])
    X = rng.standard_normal((m, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.where(rng.random(m) < 0.5, -1, 1).astype(np.int8)
    return X, y


class RandomLabels:
    """``draws`` independent random-label problems of m points in R^d, stacked: examples s·m … (s+1)·m − 1 are draw s.

    A dataset for :func:`memlens.engine.run_design` (``n_examples``, ``summary``, ``fingerprint``);
    a model trained on draw s has membership row :meth:`members` (s).
    """

    def __init__(self, m: int, d: int, *, draws: int = 1, seed: int = 0):
        self.m, self.d = _whole("m", m, 2), _whole("d", d, 1)
        self.draws, self.seed = _whole("draws", draws, 1), _whole("seed", seed, 0)
        parts = [random_labels(self.m, self.d, self.seed, s) for s in range(self.draws)]
        self.X = np.concatenate([X for X, _ in parts])
        self.y = np.concatenate([y for _, y in parts])
        self.draw = np.repeat(np.arange(self.draws), self.m)

    @property
    def n_examples(self) -> int:
        return len(self.y)

    def __len__(self) -> int:
        return self.n_examples

    def members(self, draw: int) -> np.ndarray:
        """The membership row (bool, N) of a model trained on draw ``draw``."""
        return self.draw == draw

    def summary(self) -> dict:
        return {"name": f"random-labels:m={self.m},d={self.d}", "m": self.m, "d": self.d,
                "draws": self.draws, "seed": self.seed}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for array in (self.X, self.y):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()


def sweep_design(data: RandomLabels, model_draws):
    """A :class:`~memlens.design.Design` in which model k trains on all m points of draw ``model_draws[k]``."""
    from memlens.design import Design

    model_draws = np.asarray(model_draws)
    if model_draws.ndim != 1 or len(model_draws) == 0 or not np.isin(model_draws, np.arange(data.draws)).all():
        raise CapacityInputError(
            f"model_draws must be a non-empty list of draw numbers in 0 … {data.draws - 1} (one per model); "
            f"got {model_draws.tolist()!r}. Make the dataset with more draws or name existing ones."
        )
    membership = data.draw[None, :] == model_draws[:, None]
    return Design(f"width-sweep:{data.draws}-draws", data.seed, membership)


def _check_widths(widths) -> tuple[int, ...]:
    widths = tuple(widths)
    bad = [w for w in widths
           if isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 2 or w % 2]
    if not widths or bad:
        raise CapacityInputError(
            f"Widths must be even whole numbers >= 2 (hidden units come in symmetric pairs with equal "
            f"weights and opposite output signs, so every network starts at f = 0); got {bad or 'none'}. "
            "Round each width up to the next even number."
        )
    return tuple(int(w) for w in widths)


def initial_weights(seed, d: int, width: int, dtype=None):
    """Model's first layer at initialisation, (d, width): w_j ~ N(0, I_d), units j and j + width/2 equal.

    A function of (seed, d, width) only, so a model starts the same alone or padded in an ensemble.
    """
    import torch

    from memlens import seeds as seed_streams

    g = torch.Generator().manual_seed(seed_streams.to_int(seed, "int63"))
    half = torch.randn(d, width // 2, generator=g, dtype=torch.float64)
    return torch.cat([half, half], dim=1).to(dtype or torch.float32)


def output_signs(width: int, dtype=None):
    """The fixed second layer a_j: +1 for the first half of the units, −1 for the second."""
    import torch

    half = width // 2
    return torch.cat([torch.ones(half, dtype=torch.float64), -torch.ones(half, dtype=torch.float64)]).to(
        dtype or torch.float32)


@dataclass
class WidthSweepTrainer:
    """Trains two-layer ReLU networks of different widths (``widths[k]`` for engine model k) as one batch.

    ``widths`` is indexed by the engine's model index (:func:`memlens.seeds.model_index` of the
    model's seed), so a shard knows each model's width. Full-batch Adam (``lr``) on the mean logistic
    loss over the model's training points, for at most ``epochs`` epochs; with ``stop_when_fit`` a
    model stops at the first check (every ``check_every`` epochs) at which it classifies all its
    points correctly. ``dtype``: ``"float32"`` or ``"float64"``. Observations, (models, N):
    ``correct`` (y·f > 0), ``margin`` (y·f) on every example — members and the other draws — and
    ``epochs_run`` (the model's epoch count, repeated along the examples).
    """

    widths: tuple
    epochs: int = 3000
    lr: float = 0.05
    check_every: int = 10
    stop_when_fit: bool = True
    dtype: str = "float32"
    device: str = "cpu"
    units_per_model: int = field(default=1, init=False)

    def __post_init__(self):
        self.widths = _check_widths(self.widths)
        self.epochs = _whole("epochs", self.epochs, 1)
        self.check_every = _whole("check_every", self.check_every, 1)
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise CapacityInputError(f"lr must be a positive finite number; got {self.lr!r}.")
        if self.dtype not in ("float32", "float64"):
            raise CapacityInputError(f"dtype must be 'float32' or 'float64'; got {self.dtype!r}.")

    def config(self) -> dict:
        return {"kind": "width-sweep", "widths": list(self.widths), "epochs": self.epochs, "lr": self.lr,
                "check_every": self.check_every, "stop_when_fit": self.stop_when_fit, "dtype": self.dtype,
                "activation": "relu", "loss": "logistic", "optimizer": "adam (full batch)",
                "trained": "first layer only", "init": "symmetric pairs, w ~ N(0, I_d)"}

    def fit_observe(self, data, membership, seeds, progress=None) -> dict:
        from memlens import seeds as seed_streams

        X, y = np.asarray(data.X, dtype=np.float64), np.asarray(data.y)
        if not np.isfinite(X).all():
            bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
            raise CapacityInputError(
                f"Examples {bad[:10].tolist()} have non-finite features; remove or repair them before the sweep."
            )
        _check_labels(X, y, membership)
        indices = [seed_streams.model_index(s) for s in seeds]
        if max(indices) >= len(self.widths):
            raise CapacityInputError(
                f"The design has model {max(indices)} but the trainer names widths for only {len(self.widths)} "
                "models; give one width per model of the design."
            )
        widths = [self.widths[i] for i in indices]
        members = [np.flatnonzero(row) for row in np.asarray(membership, dtype=bool)]
        W, epochs_run = train_batched(X, y, members, widths, seeds, epochs=self.epochs, lr=self.lr,
                                      check_every=self.check_every, stop_when_fit=self.stop_when_fit,
                                      dtype=self.dtype, device=self.device)
        margin = margins(W, widths, X, y, dtype=self.dtype, device=self.device)
        if progress is not None:
            progress(len(seeds))
        return {"correct": margin > 0, "margin": margin.astype(np.float32),
                "epochs_run": np.repeat(epochs_run[:, None], len(y), axis=1).astype(np.int32)}


def _check_labels(X: np.ndarray, y: np.ndarray, membership) -> None:
    """Refuse labels other than ±1, and identical inputs with different labels trained by one model."""
    bad = np.flatnonzero(~np.isin(y, (-1, 1)))
    if len(bad):
        raise CapacityInputError(
            f"Examples {bad[:10].tolist()} have labels other than -1 and +1; the width sweep fits binary "
            "±1 labels. Map the two classes to -1 and +1."
        )
    _, group = np.unique(X, axis=0, return_inverse=True)
    group = group.ravel()
    for row in np.asarray(membership, dtype=bool):
        ids = np.flatnonzero(row)
        order = np.lexsort((y[ids], group[ids]))
        g, labels = group[ids][order], y[ids][order]
        clash = np.flatnonzero((g[1:] == g[:-1]) & (labels[1:] != labels[:-1]))
        if len(clash):
            pairs = [tuple(sorted((int(ids[order][i]), int(ids[order][i + 1])))) for i in clash[:5]]
            raise CapacityInputError(
                f"Examples {pairs} are identical inputs with different labels in one model's training set; "
                "no network can fit both, so q_min would not exist. Remove or relabel one of each pair."
            )


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]


def train_batched(X, y, members, widths, seeds, *, epochs, lr, check_every=10, stop_when_fit=True,
                  dtype="float32", device="cpu"):
    """Train one network per (members[k], widths[k], seeds[k]) in one padded batch; return their weights.

    Returns (list of (d, widths[k]) float64 arrays, epochs each model ran). Models with fewer
    training points than the most are padded with zero-weight points; models narrower than the
    widest still training are padded with masked hidden units (output weight 0 → no effect, zero
    gradient, zero Adam update). A finished model leaves the batch, and the padding shrinks.
    """
    import torch

    tdtype = _torch_dtype(dtype)
    k, d = len(widths), X.shape[1]
    n_max = max(len(rows) for rows in members)
    width_max = max(widths)
    # per-model training points, padded with weight-0 rows
    Xb = torch.zeros(k, n_max, d, dtype=tdtype)
    yb = torch.zeros(k, n_max, dtype=tdtype)
    weight = torch.zeros(k, n_max, dtype=tdtype)
    W = torch.zeros(k, d, width_max, dtype=tdtype)
    v = torch.zeros(k, width_max, dtype=tdtype)  # a_j·mask_j/√q: the fixed output layer, 0 on padding
    for i, (rows, q, seed) in enumerate(zip(members, widths, seeds, strict=True)):
        Xb[i, :len(rows)] = torch.from_numpy(X[rows]).to(tdtype)
        yb[i, :len(rows)] = torch.from_numpy(y[rows].astype(np.float64)).to(tdtype)
        weight[i, :len(rows)] = 1.0 / len(rows)
        W[i, :, :q] = initial_weights(seed, d, q, tdtype)
        v[i, :q] = output_signs(q, tdtype) / math.sqrt(q)
    Xb, yb, weight, W, v = (t.to(device) for t in (Xb, yb, weight, W, v))
    widths_t = torch.tensor(widths)
    active = torch.arange(k)  # which models are still training, in batch order
    final = [None] * k
    epochs_run = np.full(k, epochs, dtype=np.int64)
    exp_avg, exp_avg_sq = torch.zeros_like(W), torch.zeros_like(W)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(epochs + 1):  # W has had `step` updates
        # gradient of Σ_k mean_n softplus(−y f) by hand, a few models at a time so that the (models, n,
        # width) intermediates stay in cache: dW_k = X_kᵀ diag(g_k) relu'(X_k W_k) · diag(v_k), where v is
        # 0 on masked units, so their gradient (and hence their Adam update) is exactly 0
        f = torch.empty_like(yb)
        grad = torch.empty_like(W)
        per_chunk = max(1, CACHE_ELEMENTS // (Xb.shape[1] * W.shape[2]))
        for lo in range(0, len(W), per_chunk):
            chunk = slice(lo, lo + per_chunk)
            pre = torch.bmm(Xb[chunk], W[chunk])
            on = (pre > 0).to(tdtype)  # relu'(pre)
            f[chunk] = fc = torch.bmm(pre.clamp_(min=0), v[chunk, :, None])[..., 0]
            g = -yb[chunk] * weight[chunk] * torch.sigmoid(-yb[chunk] * fc)
            torch.bmm((Xb[chunk] * g[:, :, None]).transpose(1, 2), on, out=grad[chunk])
        grad.mul_(v[:, None, :])
        if step == epochs or (step and step % check_every == 0):
            fit = ((yb * f > 0) | (weight == 0)).all(dim=1)
            done = fit if stop_when_fit else torch.zeros_like(fit)
            if step == epochs:
                done = torch.ones_like(fit)
            for i in torch.nonzero(done).flatten().tolist():
                model = int(active[i])
                final[model] = W[i, :, :widths[model]].cpu().double().numpy().copy()
                epochs_run[model] = step
            if done.all():
                break
            if done.any():  # drop finished models, then the padding no model still training needs
                keep = torch.nonzero(~done).flatten().to(device)
                active = active[keep.cpu()]
                q_keep = int(widths_t[active].max())
                Xb, yb, weight = Xb[keep], yb[keep], weight[keep]
                W, v = W[keep][:, :, :q_keep].contiguous(), v[keep][:, :q_keep].contiguous()
                grad = grad[keep][:, :, :q_keep].contiguous()
                exp_avg = exp_avg[keep][:, :, :q_keep].contiguous()
                exp_avg_sq = exp_avg_sq[keep][:, :, :q_keep].contiguous()
        t = step + 1  # Adam, elementwise, so every model's update is its own
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq / (1 - beta2**t)).sqrt_().add_(eps)
        W.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1**t))
    return final, epochs_run


def margins(weights, widths, X, y, *, dtype="float32", device="cpu", chunk: int = 8192) -> np.ndarray:
    """y·f(x) of every model (first layers ``weights``) on every example: (models, N) float64."""
    import torch

    tdtype = _torch_dtype(dtype)
    out = np.empty((len(weights), len(y)))
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float64)).to(tdtype).to(device)
    for i, (Wi, q) in enumerate(zip(weights, widths, strict=True)):
        Wt = torch.from_numpy(Wi).to(tdtype).to(device)
        a = output_signs(q, tdtype).to(device) / math.sqrt(q)
        with torch.no_grad():
            for start in range(0, len(y), chunk):
                f = torch.relu(Xt[start:start + chunk] @ Wt) @ a
                out[i, start:start + chunk] = f.double().cpu().numpy()
    return out * np.asarray(y, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# bisection over width


@dataclass
class WidthBisection:
    """The result of :func:`bisect_width` for one (m, d)."""

    m: int
    d: int
    q_min: int | None  # None: no probed width up to ``max_width`` fits
    bracket: tuple  # (largest failing width, smallest passing width) at the end
    probes: list  # one dict per trained model: round, width, draw, train_accuracy, fit, epochs_run
    rounds: int

    def pass_counts(self) -> dict:
        """{width: (draws fitted, draws tried)} over every probe."""
        counts: dict = {}
        for p in self.probes:
            fitted, tried = counts.get(p["width"], (0, 0))
            counts[p["width"]] = (fitted + int(p["fit"]), tried + 1)
        return dict(sorted(counts.items()))


def _even(x: float) -> int:
    return max(2, 2 * math.ceil(x / 2))


def first_round_widths(m: int, d: int, probes: int, low: float = 0.25, high: float = 16.0) -> list[int]:
    """``probes`` even widths spaced geometrically from low·m/d to high·m/d (the notes' c-grid spans ¼ … 16)."""
    grid = np.geomspace(low * m / d, high * m / d, probes)
    return sorted({_even(w) for w in grid})


def next_widths(lo: int, hi: int, probes: int) -> list[int]:
    """Up to ``probes`` even widths strictly between ``lo`` and ``hi``, evenly spaced."""
    candidates = np.arange(lo + 2, hi, 2)
    if len(candidates) <= probes:
        return candidates.tolist()
    picks = np.linspace(0, len(candidates) - 1, probes + 2)[1:-1].round().astype(int)
    return sorted(set(candidates[picks].tolist()))


def bisect_width(m: int, d: int, out, *, draws: int = 5, required: int = 4, probes: int = 13,
                 rel_tol: float = 0.05, max_rounds: int = 4, max_width: int | None = None,
                 first_round: tuple = (0.25, 4.0),
                 data_seed: int = 0, seed: int = 0, trainer_options: dict | None = None,
                 progress: bool = False) -> WidthBisection:
    """q_min for (m, d): the smallest even width fitting all m points in ≥ ``required`` of ``draws`` draws.

    Each round trains ``probes`` widths × ``draws`` draws as one engine run (``out/round-R``, one
    shard: one batched ensemble). Round 1 probes widths from ``first_round`` = (c_low, c_high) times
    m/d geometrically (default ¼ … 4; the notes' grid spans ¼ … 16); later
    rounds probe evenly inside the bracket (largest failing, smallest passing width) until it is
    within ``rel_tol`` (relative) or two units wide. A width counts as passing by its own draws only;
    the bracket's top is the smallest passing width. If nothing passes, the range grows ×16 per
    round up to ``max_width`` (default min(256·m/d, 16·m)); ``q_min`` is None if none passes by then.
    """
    from memlens.engine import run_design

    m, d = _whole("m", m, 2), _whole("d", d, 1)
    draws, required = _whole("draws", draws, 1), _whole("required", required, 1)
    probes = _whole("probes", probes, 1)
    if required > draws:
        raise CapacityInputError(f"required ({required}) cannot exceed draws ({draws}).")
    max_width = _even(max_width if max_width is not None else min(256 * m / d, 16 * m))
    data = RandomLabels(m, d, draws=draws, seed=data_seed)
    out = Path(out)
    lo, hi = 0, None
    records: list[dict] = []
    widths = [w for w in first_round_widths(m, d, probes, *first_round) if w <= max_width]
    rounds = 0
    while widths and rounds < max_rounds:
        rounds += 1
        model_widths = [w for w in widths for _ in range(draws)]
        model_draws = [s for _ in widths for s in range(draws)]
        trainer = WidthSweepTrainer(tuple(model_widths), **(trainer_options or {}))
        store = run_design(data, sweep_design(data, model_draws), trainer, out / f"round-{rounds}",
                           seed=seed + rounds - 1, shard_size=len(model_widths), progress=progress,
                           describe={**data.summary(), "fingerprint": data.fingerprint()})
        correct = np.asarray(store.observation("correct"))
        epochs_run = np.asarray(store.observation("epochs_run"))[:, 0]
        membership = np.asarray(store.membership)
        passed = {}
        for k, (w, s) in enumerate(zip(model_widths, model_draws, strict=True)):
            accuracy = float(correct[k][membership[k]].mean())
            records.append({"round": rounds, "width": w, "draw": s, "train_accuracy": accuracy,
                            "fit": accuracy == 1.0, "epochs_run": int(epochs_run[k])})
            passed[w] = passed.get(w, 0) + int(accuracy == 1.0)
        passing = [w for w in widths if passed[w] >= required]
        if passing:
            hi = min([*passing, *([hi] if hi is not None else [])])
        failing = [w for w in widths if passed[w] < required and (hi is None or w < hi)]
        lo = max([lo, *failing])
        if hi is None:  # nothing fits yet: look wider
            top = max(widths)
            if top >= max_width:
                break
            widths = sorted({_even(w) for w in np.geomspace(top, min(16 * top, max_width), probes)} - {top})
            continue
        if hi - lo <= 2 or hi <= lo * (1 + rel_tol):
            break
        widths = next_widths(lo, hi, probes)
    return WidthBisection(m, d, hi, (lo, hi), records, rounds)


# ---------------------------------------------------------------------------------------------
# the exponent


@dataclass(frozen=True)
class PowerLawFit:
    """y ≈ C·x^exponent fitted on log–log axes, with a ``confidence`` interval on the exponent."""

    exponent: float
    log_prefactor: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str
    n: int


def fit_power_law(x, y, *, confidence: float = 0.95, method: str = "ols", n_boot: int = 2000,
                  seed: int = 0) -> PowerLawFit:
    """The exponent k of y ∝ x^k: the OLS slope of log y on log x, with a confidence interval.

    ``method="ols"``: the t interval slope ± t_{n−2} · s/√Σ(log x − mean)² (needs n ≥ 3).
    ``method="bootstrap"``: the percentile interval of the slope over ``n_boot`` resamples of the
    (x, y) pairs (resamples with a single distinct x are redrawn). A pure function of the arrays.
    """
    from scipy import stats

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise CapacityInputError(f"x and y must be 1-D arrays of the same length; got {x.shape} and {y.shape}.")
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)))
    if len(bad):
        raise CapacityInputError(
            f"A power law is fitted on log–log axes, so every x and y must be finite and positive; points "
            f"{bad[:10].tolist()} are not. Drop them (e.g. settings where no width fitted) before fitting."
        )
    if not 0 < confidence < 1:
        raise CapacityInputError(f"confidence must be in (0, 1); got {confidence!r}.")
    lx, ly = np.log(x), np.log(y)
    if len(x) < 3 or np.ptp(lx) == 0:
        raise CapacityInputError(
            f"Fitting an exponent with an interval needs at least 3 points with at least 2 distinct x; got "
            f"{len(x)} points with {len(np.unique(x))} distinct x."
        )
    slope, intercept = _ols(lx, ly)
    if method == "ols":
        sxx = ((lx - lx.mean()) ** 2).sum()
        resid = ly - (intercept + slope * lx)
        se = math.sqrt((resid @ resid) / (len(x) - 2) / sxx)
        half = stats.t.ppf(0.5 + confidence / 2, len(x) - 2) * se
        low, high = slope - half, slope + half
    elif method == "bootstrap":
        rng = np.random.default_rng([_whole("seed", seed, 0), 0xB007])
        slopes = np.empty(_whole("n_boot", n_boot, 10))
        for b in range(len(slopes)):
            while True:
                pick = rng.integers(0, len(x), len(x))
                if np.ptp(lx[pick]) > 0:
                    break
            slopes[b] = _ols(lx[pick], ly[pick])[0]
        low, high = np.quantile(slopes, [0.5 - confidence / 2, 0.5 + confidence / 2])
    else:
        raise CapacityInputError(f"method must be 'ols' or 'bootstrap'; got {method!r}.")
    return PowerLawFit(float(slope), float(intercept), float(low), float(high), confidence, method, len(x))


def _ols(lx: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
    cx = lx - lx.mean()
    slope = (cx @ (ly - ly.mean())) / (cx @ cx)
    return float(slope), float(ly.mean() - slope * lx.mean())
