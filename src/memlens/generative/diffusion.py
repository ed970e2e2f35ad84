"""A diffusion trainer for the engine: EDM denoisers per membership row, observed by what they replicate.

Each model trains on its row's examples (EDM loss, Adam, an EMA of the weights); at every snapshot
step the EMA weights generate ``samples`` images with the EDM Heun sampler (18 steps, ρ = 7; the
same noise and labels at every snapshot) and each sample is tested against the model's own
training images with Gu et al.'s nearest/second-nearest ratio (< 1/3, on 8-bit pixels for images;
on the raw values for points). Observations:

* per training example (models × N): ``replications`` — samples that replicate it, and
  ``nearest_count`` — samples whose nearest training image it is, both at the model's snapshot
  with the highest memorization ratio;
* per generated sample (``sample_*``: models × snapshots × samples): the sample (``sample_images``
  uint8, or ``sample_points``), its two nearest training ids, distances, ratio, ``replicated``
  flag, and per snapshot the ``sample_steps`` and mean training ``sample_loss``.

Networks: ``mlp`` (:class:`~memlens.generative.edm.MLPEnsemble`, every row of a shard in one pass)
and ``unet`` (a diffusers ``UNet2DModel``, one row at a time; :mod:`memlens.generative.edm_unet`).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..errors import MemlensError
from .edm import Condition, DiffusionInputError, edm_loss, to_unit_range

NETWORKS = ("mlp", "unet")
CHUNK = 100  # training steps whose random draws are made at once, per model


class DiffusionTrainer:
    """EDM denoisers on the engine (see the module docstring); ``fit_observe`` per the Trainer protocol."""

    units_per_model = 20  # progress ticks per model: one per 5% of its steps

    def __init__(self, network: str = "mlp", *, condition: str = "none", steps: int = 20_000,
                 batch_size: int = 128, lr: float = 1e-3, hidden: int = 256, layers: int = 2,
                 ema: float = 0.999, snapshots=None, samples: int = 1000, sampler_steps: int = 18,
                 value_range: tuple[float, float] = (0.0, 1.0), device: str = "cpu",
                 unet_channels=(32, 64, 64), unet_attention: bool = True, ema_warmup: bool = False):
        if network not in NETWORKS:
            raise DiffusionInputError(f"Unknown diffusion network {network!r}; choose one of {', '.join(NETWORKS)}.")
        self.condition = condition if isinstance(condition, Condition) else Condition.parse(condition)
        for name, value, low in (("steps", steps, 1), ("batch_size", batch_size, 1), ("hidden", hidden, 1),
                                 ("layers", layers, 1), ("samples", samples, 2), ("sampler_steps", sampler_steps, 2)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise DiffusionInputError(f"{name} must be a whole number of at least {low}; got {value!r}.")
        if not (np.isfinite(lr) and lr > 0):
            raise DiffusionInputError(f"lr must be a finite number above 0, such as 1e-3; got {lr!r}.")
        if not 0.0 <= ema < 1.0:
            raise DiffusionInputError(f"ema must be a decay in [0, 1), such as 0.999; got {ema!r}.")
        snapshots = sorted({int(steps)} if snapshots is None else {int(s) for s in snapshots})
        if not snapshots or snapshots[0] < 1 or snapshots[-1] > steps:
            raise DiffusionInputError(
                f"Snapshot steps must lie in 1 … {steps} (the training steps); got {snapshots}."
            )
        self.network, self.steps, self.batch_size, self.lr = network, int(steps), int(batch_size), float(lr)
        self.hidden, self.layers, self.ema, self.snapshots = int(hidden), int(layers), float(ema), snapshots
        self.samples, self.sampler_steps = int(samples), int(sampler_steps)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.device = device
        self.unet_channels, self.unet_attention = tuple(int(c) for c in unet_channels), bool(unet_attention)
        self.ema_warmup = bool(ema_warmup)

    def config(self) -> dict:
        shape = ({"hidden": self.hidden, "layers": self.layers} if self.network == "mlp" else
                 {"channels": list(self.unet_channels), "attention": self.unet_attention})
        return {"trainer": "diffusion-edm", "network": self.network, "condition": str(self.condition),
                "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, **shape,
                "ema": self.ema, **({"ema_warmup": "min(ema, (1 + t) / (10 + t))"} if self.ema_warmup else {}),
                "snapshots": self.snapshots, "samples": self.samples,
                "sampler": {"name": "edm-heun", "steps": self.sampler_steps, "rho": 7.0,
                            "sigma_min": 0.002, "sigma_max": 80.0},
                "value_range": list(self.value_range), "preconditioning": "edm (sigma_data 0.5)"}

    def resolve_device(self) -> dict:
        from memlens.train import device

        return device.resolve(self.device)

    # --- training ---------------------------------------------------------------------------

    def fit_observe(self, data, membership, seeds, progress=None) -> dict[str, np.ndarray]:
        import torch

        X = np.asarray(getattr(data, "X", data))
        X = X.reshape(len(X), -1)
        image_shape = getattr(data, "image_shape", None)
        if image_shape is not None and int(np.prod(image_shape)) != X.shape[1]:
            raise DiffusionInputError(
                f"The data says its images are {tuple(image_shape)} but rows hold {X.shape[1]} values."
            )
        if self.network == "unet" and image_shape is None:
            raise DiffusionInputError(
                "The unet network needs images (a dataset with image_shape, e.g. fashion-mnist); for points "
                "or feature vectors use --model mlp-edm."
            )
        y_all = torch.from_numpy(to_unit_range(X, self.value_range))
        membership = np.asarray(membership, dtype=bool)
        groups = [np.arange(len(membership))] if self.network == "mlp" else [[m] for m in range(len(membership))]
        dev = torch.device(self.resolve_device()["device"])
        results = [self._train_group(y_all.to(dev), data, membership[g], [seeds[m] for m in g],
                                     image_shape, dev, progress) for g in groups]
        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    def _network(self, model_seeds, dim, image_shape, n_labels, dev):
        ints = [_words(s)[0] for s in model_seeds]
        if self.network == "mlp":
            from .edm import MLPEnsemble

            return MLPEnsemble(ints, dim, hidden=self.hidden, layers=self.layers, n_labels=n_labels, device=dev)
        from .edm_unet import UNetDenoiser

        return UNetDenoiser(ints[0], tuple(image_shape), n_labels=n_labels, channels=self.unet_channels,
                            attention=self.unet_attention, device=dev)

    def _train_group(self, y_all, data, rows, model_seeds, image_shape, dev, progress) -> dict:
        import torch

        M, (N, dim) = len(rows), y_all.shape
        members = [np.flatnonzero(r) for r in rows]
        rngs = [np.random.default_rng(s) for s in model_seeds]  # conditioning labels, generation labels
        true_labels = getattr(data, "y", None)
        labelled = [self.condition.training_labels(m, true_labels, rng) for m, rng in zip(members, rngs, strict=True)]
        n_labels = max(n for _, n in labelled)
        net = self._network(model_seeds, dim, image_shape, n_labels, dev)
        params = net.params
        ema = [p.detach().clone() for p in params]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        gens = [torch.Generator(device=dev).manual_seed(_words(s)[1]) for s in model_seeds]
        counts = torch.tensor([len(m) for m in members], device=dev)
        width = int(counts.max())
        ids = torch.zeros((M, width), dtype=torch.long, device=dev)
        train_labels = torch.zeros((M, width), dtype=torch.long, device=dev)
        for i, m in enumerate(members):
            ids[i, : len(m)] = torch.from_numpy(m)
            if labelled[i][0] is not None:
                train_labels[i, : len(m)] = torch.from_numpy(np.asarray(labelled[i][0]))
        gen_labels = None
        if n_labels:
            gen_labels = torch.stack([torch.from_numpy(rng.integers(0, n, self.samples)) for (_, n), rng in
                                      zip(labelled, rngs, strict=True)]).to(dev)
        gen_noise = torch.stack([torch.randn(self.samples, dim, generator=g, device=dev) for g in gens])
        tick = max(1, self.steps // self.units_per_model)
        snaps, losses, running = [], [], deque(maxlen=100)  # per-model losses of the last 100 steps
        for start in range(0, self.steps, CHUNK):
            n_steps = min(CHUNK, self.steps - start)
            # each model's draws from its own generator: a model trains the same alone or in a group
            picks = torch.stack([torch.rand(n_steps, self.batch_size, generator=g, device=dev) for g in gens], 1)
            rows_idx = (picks * counts[None, :, None]).long()  # (steps, M, B) positions in each model's subset
            for k in range(n_steps):
                step = start + k + 1
                pos = rows_idx[k]
                y = y_all[torch.gather(ids, 1, pos)]
                labels = torch.gather(train_labels, 1, pos) if n_labels else None
                per_model = edm_loss(net, params, y, labels, gens)
                loss = per_model.sum()
                if not torch.isfinite(loss):
                    raise MemlensError(
                        f"Diffusion training diverged at step {step}: the loss is {loss.item()}. Lower --lr "
                        f"(now {self.lr:g}) or the batch size, and rerun; finished shards of models are kept."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():  # warm-up: early averages forget the random initialisation sooner
                    decay = min(self.ema, (1 + step) / (10 + step)) if self.ema_warmup else self.ema
                    for e, p in zip(ema, params, strict=True):
                        e.lerp_(p, 1 - decay)
                running.append(per_model.detach())
                if step in self.snapshots:
                    snaps.append(self._snapshot(net, ema, gen_noise, gen_labels, y_all, members, image_shape))
                    losses.append(torch.stack(list(running)).mean(0).cpu().numpy())
                if progress and step % tick == 0:
                    progress(M)
        return _observations(snaps, losses, self.snapshots, members, N, image_shape,
                             None if gen_labels is None else gen_labels.cpu().numpy())

    def _snapshot(self, net, ema, noise, labels, y_all, members, image_shape):
        import torch

        from .edm import denoise
        from .replication import quantize_8bit, replication_scores
        from .samplers import edm_heun_sample

        with torch.no_grad():
            x = edm_heun_sample(lambda x, s: denoise(net, ema, x, s, labels), noise, steps=self.sampler_steps)
        x = x.cpu().numpy()
        out = []
        for m, idx in enumerate(members):
            if len(idx) < 2:
                raise DiffusionInputError(
                    f"A model trained on {len(idx)} example(s); the replication test needs at least 2 training "
                    "images per model (the nearest and the second nearest). Use sizes of 2 or more."
                )
            training = y_all[torch.from_numpy(idx).to(y_all.device)].cpu().numpy()
            result = replication_scores(np.clip(x[m], -1, 1) if image_shape else x[m], training,
                                        quantize=image_shape is not None, training_ids=idx)
            out.append((quantize_8bit(np.clip(x[m], -1, 1)) if image_shape else x[m].astype(np.float32), result))
        return out


def _words(seed: np.random.SeedSequence) -> tuple[int, int]:
    """Two 63-bit integers from a model's seed: its initialisation and its training draws.

    ``generate_state`` is a pure function of the seed (``spawn`` is not: it counts its calls), so
    the same model seed always gives the same model, however often it is used.
    """
    words = seed.generate_state(2, dtype=np.uint64) >> np.uint64(1)
    return int(words[0]), int(words[1])


def _observations(snaps, losses, steps, members, n, image_shape, labels=None) -> dict:
    """Stack snapshot results ``snaps[s][m] = (values, ReplicationResult)`` into the observations."""
    M, S = len(members), len(snaps)
    first = snaps[0][0][1]
    B = len(first.nearest)
    fields = {"nearest": np.int32, "second": np.int32, "nearest_distance": np.float32,
              "second_distance": np.float32, "ratio": np.float32, "replicated": bool}
    out = {f"sample_{k}": np.empty((M, S, B), dtype=t) for k, t in fields.items()}
    values = np.stack([np.stack([snaps[s][m][0] for s in range(S)]) for m in range(M)])
    out["sample_images" if image_shape else "sample_points"] = values
    for s in range(S):
        for m in range(M):
            result = snaps[s][m][1]
            for k in fields:
                out[f"sample_{k}"][m, s] = getattr(result, k)
    out["sample_steps"] = np.tile(np.asarray(steps, dtype=np.int64), (M, 1))
    losses = np.asarray(losses, dtype=np.float32)  # (S,) one for all models, or (S, M)
    out["sample_loss"] = np.tile(losses, (M, 1)) if losses.ndim == 1 else losses.T.copy()
    out["sample_label"] = np.full((M, B), -1, np.int32) if labels is None else np.asarray(labels, np.int32)
    best = np.array([_best_snapshot(out["sample_replicated"][m]) for m in range(M)])
    replications = np.zeros((M, n), dtype=np.int32)
    nearest_count = np.zeros((M, n), dtype=np.int32)
    for m in range(M):
        near = out["sample_nearest"][m, best[m]]
        np.add.at(nearest_count[m], near, 1)
        np.add.at(replications[m], near[out["sample_replicated"][m, best[m]]], 1)
    out["replications"], out["nearest_count"] = replications, nearest_count
    return out


def _best_snapshot(replicated) -> int:
    """The snapshot with the highest replicated share (the first among ties), as Gu et al. report."""
    return int(np.argmax(np.asarray(replicated).mean(axis=-1)))
