"""A small U-Net EDM denoiser F(c_in x, c_noise, label) built on Hugging Face ``diffusers``' ``UNet2DModel``.

:class:`~memlens.generative.diffusion.DiffusionTrainer` (``network="unet"``) uses it exactly like
:class:`~memlens.generative.edm.MLPEnsemble` with one model: ``params`` is the list Adam and the EMA
update, and ``__call__(params, x_in, c_noise, labels)`` evaluates the network *with those tensors*
(``torch.func.functional_call``), so the EMA copies sample without being loaded into the module.

Layout (defaults): three resolutions with (32, 64, 64) channels, one ResNet block per resolution
on the way down (two on the way up, diffusers' convention), a single self-attention block in the
middle at the lowest resolution, GroupNorm with 8 groups, about 1.06 M parameters for one channel.
Images whose sides are not a multiple of 2^(levels−1) are zero-padded to one (14×14 → 16×16;
28×28 runs as is, 28 → 14 → 7) and the output cropped back. Time conditioning: EDM's
c_noise = ln σ / 4 goes in as the (float) ``timestep`` of diffusers' sinusoidal embedding, which
multiplies it by frequencies 10000^(−i/(h−1)) without rounding — the same embedding as EDM's
DDPM++ (``PositionalEmbedding(endpoint=True)``: ``flip_sin_to_cos=True``, ``freq_shift=1``).
Class conditioning: a learned embedding of ``n_labels`` rows (``num_class_embeds``) added to the
time embedding. The weights are built from the configuration only (never downloaded), from the
seed alone, on the CPU, then moved to the device: a seed gives the same network on any machine.
"""

from __future__ import annotations

import numpy as np

from .edm import DiffusionInputError

DEFAULT_CHANNELS = (32, 64, 64)


def _image_layout(image_shape) -> tuple[int, int, int]:
    """(channels, height, width) of ``image_shape`` = (H, W) or (C, H, W); refuse anything else."""
    try:
        shape = tuple(image_shape)
        whole = all(not isinstance(s, bool) and int(s) == s for s in shape)
    except (TypeError, ValueError):
        shape, whole = (), False
    if len(shape) == 2:
        shape = (1, *shape)
    if not whole or len(shape) != 3 or min(shape) < 1:
        raise DiffusionInputError(
            f"The U-Net denoiser needs images of shape (height, width) or (channels, height, width) with "
            f"positive whole sides; got {image_shape!r}. Pass the dataset's image_shape (e.g. (28, 28))."
        )
    return tuple(int(s) for s in shape)  # type: ignore[return-value]


class UNetDenoiser:
    """One diffusers ``UNet2DModel`` as an EDM denoiser network, evaluated with caller-given parameters.

    Args:
        seed: Integer seed of the initialisation (the only source of randomness).
        image_shape: (H, W) or (C, H, W) of the flattened images it denoises.
        n_labels: Class-conditioning labels (0: unconditional).
        channels: Channels per resolution, e.g. (32, 64, 64); its length is the number of resolutions.
        attention: Add one self-attention block at the lowest resolution (the mid block).
        device: Where the parameters live.
    """

    batched = False  # one model per call; the trainer trains membership rows one after another

    def __init__(self, seed: int, image_shape, *, n_labels: int = 0, channels=DEFAULT_CHANNELS,
                 attention: bool = True, device="cpu"):
        import torch
        from diffusers import UNet2DModel

        self.channels_in, self.height, self.width = _image_layout(image_shape)
        self.dim = self.channels_in * self.height * self.width
        if isinstance(n_labels, bool) or not isinstance(n_labels, int | np.integer) or n_labels < 0:
            raise DiffusionInputError(f"n_labels must be a whole number ≥ 0 (0: unconditional); got {n_labels!r}.")
        channels = tuple(int(c) for c in channels)
        groups = 8
        if not channels or min(channels) < groups or any(c % groups for c in channels):
            raise DiffusionInputError(
                f"U-Net channels must be one or more multiples of {groups} (GroupNorm uses {groups} groups); "
                f"got {channels}."
            )
        self.n_labels, self.channels, self.attention = int(n_labels), channels, bool(attention)
        # every downsampling halves the sides: pad them to a multiple of 2^(levels−1), crop after
        unit = 2 ** (len(channels) - 1)
        padded_h, padded_w = -(-self.height // unit) * unit, -(-self.width // unit) * unit
        self.pad = ((padded_w - self.width) // 2, (padded_w - self.width + 1) // 2,
                    (padded_h - self.height) // 2, (padded_h - self.height + 1) // 2)
        self.padded_shape = (padded_h, padded_w)
        levels = len(channels)
        with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
            torch.manual_seed(int(seed))
            module = UNet2DModel(
                sample_size=self.padded_shape, in_channels=self.channels_in, out_channels=self.channels_in,
                block_out_channels=channels, layers_per_block=1,
                down_block_types=("DownBlock2D",) * levels, up_block_types=("UpBlock2D",) * levels,
                add_attention=self.attention, attention_head_dim=8, norm_num_groups=groups,
                time_embedding_type="positional", flip_sin_to_cos=True, freq_shift=1,
                num_class_embeds=self.n_labels or None,
            )
        self.module = module.to(device)
        named = [(name, p) for name, p in self.module.named_parameters() if p.requires_grad]
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]  # leaf tensors: what Adam steps and the EMA copies

    def config(self) -> dict:
        """What shapes the network (for a run's configuration)."""
        return {"network": "diffusers.UNet2DModel", "channels": list(self.channels), "layers_per_block": 1,
                "attention": "mid block" if self.attention else "none", "padded_to": list(self.padded_shape),
                "n_labels": self.n_labels, "time_embedding": "positional(c_noise), flip_sin_to_cos, freq_shift 1",
                "parameters": int(sum(p.numel() for p in self.params))}

    def __call__(self, params, x_in, c_noise, labels):
        """F(c_in x, c_noise, label): x_in (1, B, d), c_noise (1, B), labels (1, B) long or None → (1, B, d)."""
        import torch
        from torch.func import functional_call

        self._check(x_in, c_noise, labels)
        batch = x_in.shape[1]
        images = x_in.reshape(batch, self.channels_in, self.height, self.width)
        if any(self.pad):
            images = torch.nn.functional.pad(images, self.pad)
        kwargs = {"class_labels": labels.reshape(batch) if self.n_labels else None, "return_dict": False}
        out = functional_call(self.module, dict(zip(self.names, params, strict=True)),
                              (images, c_noise.reshape(batch)), kwargs)[0]
        left, _, top, _ = self.pad
        out = out[:, :, top: top + self.height, left: left + self.width]
        return out.reshape(1, batch, self.dim)

    def _check(self, x_in, c_noise, labels) -> None:
        """Refuse inputs the U-Net would silently mis-read (wrong shapes, NaN, labels out of range)."""
        import torch

        if x_in.ndim != 3 or x_in.shape[0] != 1 or x_in.shape[2] != self.dim:
            raise DiffusionInputError(
                f"The U-Net denoiser takes x of shape (1, batch, {self.dim}) — one model, flattened "
                f"{self.channels_in}×{self.height}×{self.width} images; got {tuple(x_in.shape)}."
            )
        if tuple(c_noise.shape) != tuple(x_in.shape[:2]) or c_noise.is_floating_point() is False:
            raise DiffusionInputError(
                f"c_noise must be a float tensor of shape {tuple(x_in.shape[:2])} (EDM's ln σ / 4 per image); "
                f"got {c_noise.dtype} of shape {tuple(c_noise.shape)}."
            )
        if not (bool(torch.isfinite(x_in).all()) and bool(torch.isfinite(c_noise).all())):
            raise DiffusionInputError(
                "The U-Net denoiser was given NaN or infinite values (in the images or the noise levels). "
                "Check the images are finite and in range, and lower the learning rate if training diverged."
            )
        if not self.n_labels:
            if labels is not None:
                raise DiffusionInputError(
                    "This U-Net is unconditional (n_labels = 0) but was given labels; build it with "
                    "n_labels = the number of labels to condition on."
                )
            return
        if labels is None or tuple(labels.shape) != tuple(x_in.shape[:2]) or labels.is_floating_point():
            raise DiffusionInputError(
                f"This U-Net is conditioned on {self.n_labels} labels: pass integer labels of shape "
                f"{tuple(x_in.shape[:2])}; got {None if labels is None else tuple(labels.shape)}."
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.n_labels:
            raise DiffusionInputError(
                f"Labels must lie in [0, {self.n_labels}) for this U-Net; got values from {low} to {high}."
            )
