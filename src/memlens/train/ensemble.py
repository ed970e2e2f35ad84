"""Many small PyTorch models trained at once, as one batched computation.

Each model's weights are a slice along axis 0 of stacked parameter tensors, so one ``bmm`` (or
one grouped convolution) runs every model's layer. The loss is the sum over models of each
model's mean loss, so each slice receives exactly its own model's gradient, and
:class:`~memlens.train.optim.StackedOptimizer` updates each slice exactly as ``torch.optim`` would
update a lone model. Each model draws its own minibatches from its own members, in an order fixed
by its own seed, so a model trains identically whichever shard it is trained in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from memlens import observe
from memlens.data import Dataset
from memlens.errors import MemlensError
from memlens.train.base import Progress

MODELS = ("mlp", "cnn", "linear")


@dataclass
class Ensemble:
    """Vectorized ensemble trainer for small classifiers.

    Args:
        model: ``"mlp"`` (one hidden ReLU layer of ``width``), ``"linear"`` (multinomial
            logistic regression) or ``"cnn"`` (two 3×3 conv layers, ``width`` and 2·``width``
            channels, each followed by 2×2 max-pooling, then a linear head; needs images).
        width: Hidden units of the MLP, first-layer channels of the CNN.
        epochs: Passes over each model's own training subset.
        batch_size: Examples per step, per model.
        optimizer: ``"adam"`` or ``"sgd"`` (momentum 0.9).
        lr, weight_decay: Optimizer settings (L2 weight decay).
        precision: ``"float32"``, ``"bfloat16"`` (autocast, fp32 master weights; fast only on
            CPUs with AMX or AVX512-BF16) or ``"auto"`` (bf16 where this CPU runs it faster, see
            :mod:`memlens.train.precision`; resolved once, by :meth:`resolve_precision`).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (a CUDA GPU when torch sees one; see
            :mod:`memlens.train.device`). Not part of :meth:`config`: it changes the speed, not
            the experiment, so a run may be resumed on other hardware; the run records it.
        eval_batch: Examples per forward pass when observing.
        proxies: One-model memorization proxies to record during training (see
            :mod:`memlens.train.proxies`): ``"curvature"``, ``"self-influence"``,
            ``"learning-events"``.
        proxy_every: Epochs between proxy checkpoints (default: about 10 checkpoints per run).
        curvature_vectors, curvature_step: Rademacher vectors n and finite-difference step h.
        depth: Hidden layers of the MLP (each ``width`` ReLU units); only ``"mlp"`` takes > 1.
        activations: Also observe every hidden layer's post-ReLU outputs, as ``activations_0``,
            ``activations_1``, … of shape (models, N, units) and ``test_activations_k`` on the
            test set (the CNN's after pooling, flattened) — what layer-wise decoders such as
            :class:`memlens.capacity.masc.MASC` read. Off by default: they are large.
        early_stopping: Patience in epochs, or None (train all ``epochs``). Each model's accuracy
            on the test split is measured after every epoch; a model stops once it has not
            improved for this many epochs, and every model ends with its best epoch's weights.
            The test split, not the model's OUT examples, so the stopping rule never looks at a
            training-pool example and every observation on the pool (Feldman–Zhang, the attacks)
            stays exactly as valid as without it; the price is that the run's test accuracy is
            that of the best of up to ``epochs`` checkpoints on the same examples (optimistic by
            the selection). Needs a dataset with a test split.
        downweighted, downweight: Example ids whose training loss is multiplied by
            ``downweight`` (≥ 0); each model's loss is the weighted mean over its batch,
            Σ wᵢ·lossᵢ / Σ wᵢ, so weight 1 is plain training and weight 0 drops the example from
            the gradient (it still takes a batch slot).

    ``depth``, ``activations``, ``early_stopping`` and the down-weighting enter :meth:`config`
    only when not at their defaults, so runs made before they existed keep their identity and
    still resume.

    Example:
        >>> from memlens.data import load
        >>> from memlens.design import halves
        >>> from memlens.train import model_seeds
        >>> data = load("digits:200")
        >>> trainer = Ensemble("linear", epochs=2)
        >>> obs = trainer.fit_observe(data, halves(4, 200).membership, model_seeds(0, 4))
        >>> obs["confidence"].shape, obs["test_correct"].shape
        ((4, 200), (4, 450))
    """

    model: str = "mlp"
    width: int = 256
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    precision: str = "float32"
    eval_batch: int = 2048
    proxies: tuple[str, ...] = ()
    proxy_every: int | None = None
    curvature_vectors: int = 10
    curvature_step: float = 1e-3
    device: str = "auto"
    depth: int = 1
    activations: bool = False
    early_stopping: int | None = None
    downweighted: tuple[int, ...] = ()
    downweight: float = 1.0

    # Dense models train and observe through memlens.train.dense's hand-written passes; False
    # sends them through autograd and autocast like the CNN (bench/ensemble_formulation.py
    # compares the two). A class switch, not a field: it changes the speed, not the experiment.
    hand_written: ClassVar[bool] = True

    def __post_init__(self) -> None:
        from memlens.train import proxies

        _check_settings(self)  # before anything divides by them or trains with them
        self.downweighted = tuple(sorted({int(i) for i in self.downweighted}))
        if self.early_stopping is not None and self.proxies:
            raise MemlensError(
                "Early stopping restores each model's best epoch, which the proxies' checkpoints do not "
                "follow; drop --proxies or --early-stopping."
            )
        self.proxies = tuple(sorted(set(self.proxies)))
        if self.proxies and self.proxy_every is None:
            self.proxy_every = max(1, self.epochs // 10)
        if self.proxies:
            proxies.check(self.proxies, model=self.model, epochs=self.epochs, every=self.proxy_every)
        if self.model not in MODELS:
            raise MemlensError(f"Unknown ensemble model '{self.model}'; use one of {', '.join(MODELS)}.")
        if self.depth != 1 and self.model != "mlp":
            raise MemlensError(f"Ensemble depth {self.depth} needs model 'mlp'; the {self.model} model has a fixed depth.")
        if self.activations and self.model == "linear":
            raise MemlensError(
                "Ensemble activations=True needs hidden layers to observe; the linear model has none. "
                "Use model 'mlp' or 'cnn'."
            )
        if self.optimizer not in ("adam", "sgd"):
            raise MemlensError(f"Unknown optimizer '{self.optimizer}'; use adam or sgd.")
        from memlens.train.precision import check_request

        check_request(self.precision)
        self._precision_choice: dict | None = None  # not a field: what "auto" became, not config
        from memlens.train import device

        device.check_request(self.device)
        self._device_choice: dict | None = None

    @property
    def units_per_model(self) -> int:
        return self.epochs

    def config(self) -> dict:
        """The trainer's part of the run's identity: every field but ``device`` (hardware only).

        ``depth`` and ``activations`` appear only when changed, so older runs' configs still match.
        """
        optional = {"depth": 1, "activations": False, "early_stopping": None, "downweighted": (), "downweight": 1.0}
        config = {"trainer": "ensemble", **{k: v for k, v in asdict(self).items()
                                            if k != "device" and not (k in optional and v == optional[k])}}
        if "downweighted" in config:  # weights only mean something together with their ids
            config["downweighted"] = list(config["downweighted"])
            config["downweight"] = self.downweight
        return config

    def resolve_device(self) -> dict:
        """Where this trainer runs (``cpu`` or ``cuda``) and why; resolved once per trainer."""
        from memlens.train import device

        if self._device_choice is None:
            self._device_choice = device.resolve(self.device)
        return self._device_choice

    def resolve_precision(self, stored: dict | None = None) -> dict:
        """What ``precision`` means on this run: float32 or bfloat16, with the reason (a dict).

        ``stored`` is the choice recorded when the run was created; a resumed run reuses it, so
        all its models train in one precision whichever machine resumes it. Otherwise ``auto`` is
        resolved here once (see :func:`memlens.train.precision.choose`) and kept.
        """
        from memlens.train.precision import PRECISIONS, choose

        if stored and stored.get("requested") == self.precision and stored.get("precision") in PRECISIONS:
            self._precision_choice = {**stored, "source": "run"}
        elif self._precision_choice is None:
            self._precision_choice = choose(self.precision)
        return self._precision_choice

    def _bf16(self) -> bool:
        return self.resolve_precision()["precision"] == "bfloat16"

    # --- the network, as functions of stacked parameters -------------------------------------

    def _init(self, n_features: int, n_classes: int, image_shape, seeds, device="cpu") -> list:
        """Stacked parameters, model m initialised from its own seed (PyTorch's default init).

        Drawn on the CPU whatever ``device`` is, so a model starts from the same weights there.
        """
        import torch

        shapes = self._shapes(n_features, n_classes, image_shape)
        per_model = []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s.generate_state(1, dtype=np.uint64)[0] >> 1))
            params = []
            for shape, fan_in in shapes:
                bound = 1.0 / math.sqrt(fan_in)
                params.append((torch.rand(shape, generator=g) * 2 - 1) * bound)
            per_model.append(params)
        # conv layers in grouped-conv layout (models are consecutive channel blocks along axis 0);
        # dense layers stacked on a new model axis
        n_conv = 4 if self.model == "cnn" else 0
        stacked = [
            torch.cat(ps) if i < n_conv else torch.stack(ps)
            for i, ps in enumerate(zip(*per_model, strict=True))
        ]
        return [p.to(device).requires_grad_() for p in stacked]

    def _shapes(self, d: int, c: int, image_shape) -> list[tuple[tuple[int, ...], int]]:
        w = self.width
        if self.model == "linear":
            return [((d, c), d), ((1, c), d)]
        if self.model == "mlp":
            return [((d, w), d), ((1, w), d), *[((w, w), w), ((1, w), w)] * (self.depth - 1), ((w, c), w), ((1, c), w)]
        ch, h, wd = _image_dims(image_shape, d)
        flat = 2 * w * (h // 4) * (wd // 4)
        return [
            ((w, ch, 3, 3), ch * 9), ((w,), ch * 9),
            ((2 * w, w, 3, 3), w * 9), ((2 * w,), w * 9),
            ((flat, c), flat), ((1, c), flat),
        ]  # fmt: skip

    def _forward(self, params, x, image_shape, shared: bool, hidden: list | None = None):
        """Logits (M, B, C). ``x`` is (M, B, D) per-model batches, or (B, D) shared by all models.

        When ``hidden`` is a list, each hidden layer's post-ReLU output (M, B, units) is appended.
        """
        import torch
        import torch.nn.functional as F

        if self.model in ("linear", "mlp"):
            h = x
            for i in range(0, len(params), 2):
                W, b = params[i], params[i + 1]
                h = torch.baddbmm(b, h, W) if not shared or i else torch.matmul(h, W) + b
                if i + 2 < len(params):
                    h = torch.relu(h)
                    if hidden is not None:
                        hidden.append(h)
            return h
        W1, b1, W2, b2, W3, b3 = params
        m = W3.shape[0]
        ch, hh, ww = _image_dims(image_shape, x.shape[-1])
        if shared:  # one input for all models: an ordinary conv with M·width output channels
            h = F.conv2d(x.reshape(-1, ch, hh, ww), W1, b1, padding=1)
        else:  # model m's batch goes to channel block m of a grouped conv
            B = x.shape[1]
            xs = x.reshape(m, B, ch, hh, ww).transpose(0, 1).reshape(B, m * ch, hh, ww)
            h = F.conv2d(xs, W1, b1, padding=1, groups=m)
        h = F.max_pool2d(torch.relu(h), 2)
        if hidden is not None:  # (B, M·ch, h, w) → (M, B, ch·h·w): model m's channel block
            hidden.append(h.reshape(h.shape[0], m, -1).transpose(0, 1))
        h = F.max_pool2d(torch.relu(F.conv2d(h, W2, b2, padding=1, groups=m)), 2)
        if hidden is not None:
            hidden.append(h.reshape(h.shape[0], m, -1).transpose(0, 1))
        B = h.shape[0]
        h = h.reshape(B, m, -1).transpose(0, 1)  # (M, B, 2w·h/4·w/4)
        return torch.baddbmm(b3, h, W3)

    # --- training and observation ------------------------------------------------------------

    def fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None = None):
        import torch

        # Gradients of tiny models underflow into denormals, which are ~20x slower on x86;
        # flushing them to zero changes no result that matters and is undone afterwards.
        torch.set_flush_denormal(True)
        try:
            return self._fit_observe(data, membership, seeds, progress)
        finally:
            torch.set_flush_denormal(False)

    def _fit_observe(self, data: Dataset, membership, seeds, progress: Progress | None):
        import torch
        import torch.nn.functional as F

        membership = np.asarray(membership, dtype=bool)
        m, n = membership.shape
        if n != data.n_examples:
            raise MemlensError(f"Membership covers {n} examples but the dataset has {data.n_examples}.")
        if self.model == "cnn":
            _image_dims(data.image_shape, data.X.shape[1])
        counts = membership.sum(axis=1)
        if (counts == 0).any():
            raise MemlensError("A model in this design has no training examples.")
        example_weight = np.ones(n, dtype=np.float32)
        if self.downweighted:
            if max(self.downweighted) >= n:
                raise MemlensError(f"Down-weighted ids reach {max(self.downweighted)}; the dataset has ids 0..{n - 1}.")
            example_weight[list(self.downweighted)] = self.downweight
        if self.early_stopping is not None and not data.has_test:
            raise MemlensError(
                f"Early stopping measures each model on the test split, and {data.name} has none. Use a "
                "dataset with a test split (digits, fashion-mnist, an .npz with X_test/y_test) or drop "
                "--early-stopping."
            )
        mean, std = _standardizer(data.X)
        device = torch.device(self.resolve_device()["device"])
        X = torch.from_numpy((data.X - mean) / std).to(device)
        y = torch.from_numpy(data.y).to(device)
        params = self._init(X.shape[1], data.n_classes, data.image_shape, seeds, device)
        from memlens.train.optim import StackedOptimizer

        opt = StackedOptimizer(params, m, kind=self.optimizer, lr=self.lr, weight_decay=self.weight_decay)
        # batch order from a child of each model's seed, derived without spawn() (which mutates
        # the SeedSequence, so a second call would otherwise draw different batches)
        rngs = [np.random.default_rng(np.random.SeedSequence(s.entropy, spawn_key=(*s.spawn_key, 1))) for s in seeds]
        members = [np.flatnonzero(row) for row in membership]
        B = min(self.batch_size, int(counts.max()))
        steps = math.ceil(counts.max() / B)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=self._bf16())
        tracker = None
        if self.proxies:
            from memlens.train.proxies import ProxyTracker

            tracker = ProxyTracker(self, self.proxies, m, n, epochs=self.epochs,
                                   curvature_vectors=self.curvature_vectors, curvature_step=self.curvature_step)
        stopper = None
        if self.early_stopping is not None:
            X_val = torch.from_numpy((data.X_test - mean) / std).to(device)
            stopper = _EarlyStopping(params, m, self.early_stopping)
        dense = None
        if self.model in ("linear", "mlp") and self.hand_written:
            from memlens.train.dense import DenseGradients

            dense = DenseGradients(params, X, torch.bfloat16 if self._bf16() else torch.float32)
        for epoch in range(1, self.epochs + 1):
            # (M, steps·B) example ids, each row a fresh permutation of that model's members;
            # shorter rows are padded with weight-0 entries (designs here differ by at most a few)
            idx = np.zeros((m, steps * B), dtype=np.int64)
            weight = np.zeros((m, steps * B), dtype=np.float32)
            for j in range(m):
                idx[j, : counts[j]] = rngs[j].permutation(members[j])
                weight[j, : counts[j]] = example_weight[idx[j, : counts[j]]]
            idx_t, weight_t = torch.from_numpy(idx).to(device), torch.from_numpy(weight).to(device)
            training = None if stopper is None else torch.from_numpy(~stopper.stopped).to(device)
            for s in range(steps):
                bi, bw = idx_t[:, s * B : (s + 1) * B], weight_t[:, s * B : (s + 1) * B]
                if self.downweighted:  # weighted mean; a batch of weight 0 only sits the step out
                    total = bw.sum(1)
                    denominator, active = total.clamp_min(1e-12), total > 0
                else:  # the unweighted mean of the examples present
                    denominator = bw.sum(1).clamp_min(1)
                    active = bw[:, 0] > 0  # a model whose subset is used up sits this step out
                if dense is not None:  # the gradient written out (memlens.train.dense)
                    dense(bi, y[bi], bw / denominator[:, None])
                else:
                    with autocast:
                        logits = self._forward(params, X[bi], data.image_shape, shared=False)
                    losses = F.cross_entropy(logits.float().flatten(0, 1), y[bi].flatten(), reduction="none")
                    opt.zero_grad()
                    ((losses.view(m, -1) * bw).sum(1) / denominator).sum().backward()
                opt.step(active=active if training is None else active & training)
            if tracker is not None and epoch % self.proxy_every == 0:
                tracker.update(params, X, y, data.image_shape, epoch=epoch, lr=self.lr)
            if stopper is not None:
                with torch.no_grad():
                    val = self._observe(params, X_val, data.y_test, data.image_shape, probabilities=False)
                stopper.update(params, val["correct"].mean(axis=1), epoch)
            if progress:
                progress(m)
            if stopper is not None and stopper.stopped.all():
                if progress:  # the epochs no model trains still count as done
                    for _ in range(self.epochs - epoch):
                        progress(m)
                break
        if stopper is not None:
            stopper.restore(params)
        with torch.no_grad():
            out = self._observe(params, X, data.y, data.image_shape)
            if tracker is not None:
                out.update(tracker.results())
            if data.has_test:
                X_test = torch.from_numpy((data.X_test - mean) / std).to(device)
                test = self._observe(params, X_test, data.y_test, data.image_shape, probabilities=False)
                out.update({f"test_{k}": v for k, v in test.items()})
        _check_converged(out["loss"], self)  # before the shard is returned and saved
        return out

    def _observe(self, params, X, y, image_shape, probabilities=True):
        import torch

        if self.model in ("linear", "mlp") and self.hand_written:  # the dense models' own forward, cache-sized chunks
            from memlens.train.dense import dense_logits

            hidden = [] if self.activations else None
            dtype = torch.bfloat16 if self._bf16() else torch.float32
            logits = dense_logits(params, X, dtype, chunk=min(self.eval_batch, 256), hidden=hidden)
            out = observe.from_logits(logits.cpu().numpy(), y, probabilities=probabilities)
            for k, layer in enumerate(hidden or ()):
                out[f"activations_{k}"] = layer.numpy()
            return out
        autocast = torch.autocast(X.device.type, dtype=torch.bfloat16, enabled=self._bf16())
        chunks, hidden_chunks = [], []
        for start in range(0, len(X), self.eval_batch):
            hidden = [] if self.activations else None
            with autocast:
                chunks.append(self._forward(params, X[start : start + self.eval_batch], image_shape, True, hidden).float())
            hidden_chunks.append([a.float().cpu() for a in hidden or ()])
        logits = torch.cat(chunks, dim=1).cpu().numpy()
        out = observe.from_logits(logits, y, probabilities=probabilities)
        for k, layer in enumerate(zip(*hidden_chunks, strict=True)):
            out[f"activations_{k}"] = torch.cat(layer, dim=1).numpy()
        return out


class _EarlyStopping:
    """Per-model best validation accuracy, the epoch it came at, and a copy of those weights.

    Parameters are stacked with the models as consecutive blocks along axis 0 (dense and conv
    alike), so ``p.view(M, -1)[j]`` is model j's slice of any of them.
    """

    def __init__(self, params, m: int, patience: int):
        self.m, self.patience = m, patience
        self.best = [p.detach().clone() for p in params]
        self.best_accuracy = np.full(m, -1.0)
        self.best_epoch = np.zeros(m, dtype=np.int64)
        self.stopped = np.zeros(m, dtype=bool)

    def update(self, params, accuracy: np.ndarray, epoch: int) -> None:
        import torch

        improved = (accuracy > self.best_accuracy) & ~self.stopped
        if improved.any():
            rows = torch.from_numpy(np.flatnonzero(improved)).to(params[0].device)
            with torch.no_grad():
                for kept, p in zip(self.best, params, strict=True):
                    kept.view(self.m, -1)[rows] = p.detach().view(self.m, -1)[rows]
            self.best_accuracy[improved] = accuracy[improved]
            self.best_epoch[improved] = epoch
        self.stopped |= epoch - self.best_epoch >= self.patience

    def restore(self, params) -> None:
        import torch

        with torch.no_grad():
            for kept, p in zip(self.best, params, strict=True):
                p.copy_(kept)


def auto_epochs(examples_per_model: int, batch_size: int, *, min_steps: int = 500, min_epochs: int = 20) -> int:
    """Epochs that give each model at least ``min_steps`` optimizer steps.

    Memorization only shows once models fit their training sets, including the examples whose
    labels disagree with everything like them; a fixed epoch count under-trains small datasets.

    >>> auto_epochs(673, 128), auto_epochs(30000, 128)
    (84, 20)
    """
    steps = math.ceil(examples_per_model / min(batch_size, examples_per_model))
    return max(min_epochs, math.ceil(min_steps / steps))


def _check_settings(trainer: Ensemble) -> None:
    """Refuse settings that cannot train, naming the CLI option and the value."""
    import numbers

    def called(name: str) -> str:  # "lr (--lr)": the attribute, and the CLI option when there is one
        flag = name.replace("_", "-")
        return f"{name} (--{flag})" if name in ("width", "epochs", "batch_size", "lr", "weight_decay") else name

    for name in ("width", "epochs", "batch_size", "eval_batch", "curvature_vectors", "depth"):
        value = getattr(trainer, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise MemlensError(f"Ensemble {called(name)} must be a whole number >= 1; got {value!r}.")
    if trainer.proxy_every is not None and (not isinstance(trainer.proxy_every, numbers.Integral) or trainer.proxy_every < 1):
        raise MemlensError(f"Ensemble proxy_every must be a whole number >= 1; got {trainer.proxy_every!r}.")
    for name, low, closed in (("lr", 0.0, False), ("weight_decay", 0.0, True), ("curvature_step", 0.0, False)):
        value = getattr(trainer, name)
        ok = isinstance(value, numbers.Real) and math.isfinite(value) and (value >= low if closed else value > low)
        if not ok:
            raise MemlensError(
                f"Ensemble {called(name)} must be a finite number "
                f"{'>=' if closed else '>'} {low:g}; got {value!r}."
            )
    if trainer.early_stopping is not None and (
        isinstance(trainer.early_stopping, bool)
        or not isinstance(trainer.early_stopping, numbers.Integral)
        or trainer.early_stopping < 1
    ):
        raise MemlensError(
            f"Ensemble early_stopping (--early-stopping) is a patience in epochs, a whole number >= 1; "
            f"got {trainer.early_stopping!r}."
        )
    dw = trainer.downweight
    if isinstance(dw, bool) or not isinstance(dw, numbers.Real) or not math.isfinite(dw) or dw < 0:
        raise MemlensError(f"Ensemble downweight must be a finite number >= 0; got {dw!r}.")
    if not isinstance(trainer.activations, bool):
        raise MemlensError(f"Ensemble activations must be True or False; got {trainer.activations!r}.")


def _check_converged(loss: np.ndarray, trainer: Ensemble) -> None:
    """Refuse observations of models whose training diverged (NaN or infinite loss).

    Saved, they would poison every estimate; a NaN loss after training means the weights blew up.
    """
    diverged = np.flatnonzero(~np.isfinite(loss).all(axis=1))
    if len(diverged):
        raise MemlensError(
            f"Training diverged: {len(diverged)} of the {len(loss)} models in this shard ended with "
            f"NaN or infinite losses ({trainer.optimizer}, learning rate {trainer.lr:g}, weight "
            f"decay {trainer.weight_decay:g}), so their observations were not saved. Lower the "
            f"learning rate (--lr, e.g. {min(trainer.lr / 10, 3e-3):g}) and run the audit again."
        )


def _standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the whole pool (constant features are left unscaled)."""
    mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = X.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0
    return mean, std


def _image_dims(image_shape, d: int) -> tuple[int, int, int]:
    if image_shape is None:
        raise MemlensError(
            "The cnn model needs image data (e.g. fashion-mnist, mnist-5k, digits); this dataset "
            "has plain feature vectors. Use --model mlp."
        )
    shape = tuple(image_shape)
    ch, h, w = (1, *shape) if len(shape) == 2 else shape
    if ch * h * w != d or h < 4 or w < 4:
        raise MemlensError(f"Image shape {shape} does not match {d} features per example.")
    return ch, h, w


