"""What every facegan generator offers: the three ways of using a generator that the official
README shows.

1. fast mode: `G.run(latents, truncation_psi=0.7, noise_mode='const')` -> uint8 NHWC numpy;
2. a differentiable module: `img = G(z, c)` -> float NCHW in [-1, 1];
3. its components: `ws = G.mapping(z, c)` -> [N, num_ws, w_dim], then `img = G.synthesis(ws)`.

A subclass sets the attributes below and provides `mapping` and `synthesis` submodules.
`mapping` must hold a `w_avg` buffer (the tracked mean of w, the centre of truncation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from facegan.errors import ConfigError, NetworkInputError
from facegan.nn.precision import compute_dtype, fp16_enabled
from facegan.utils.device import warn_if_bf16_is_emulated
from facegan.utils.images import to_uint8

NOISE_MODES = ("const", "random", "none")
PRECISIONS = ("fp32", "bf16", "fp16")


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float | Sequence[float] | torch.Tensor = 1.0,
             cutoff: int | None = None) -> torch.Tensor:
    """The truncation trick: w' = w_avg + psi * (w - w_avg), on the first `cutoff` layers (all if None).

    `psi` may be one number or one value per layer (shape [num_ws]), for per-group truncation.
    """
    num_ws = ws.shape[1]
    if not isinstance(psi, torch.Tensor):
        psi = torch.as_tensor(psi, dtype=ws.dtype, device=ws.device)
    psi = psi.to(device=ws.device, dtype=ws.dtype)
    if psi.ndim == 0:
        if cutoff is None and float(psi) == 1.0:
            return ws
        psi = psi.expand(num_ws)
    if psi.shape != (num_ws,):
        raise NetworkInputError(f"truncation psi must be a number or {num_ws} per-layer values, "
                                f"got shape {tuple(psi.shape)}")
    if cutoff is not None:
        psi = torch.where(torch.arange(num_ws, device=ws.device) < cutoff, psi, torch.ones_like(psi))
    return torch.lerp(w_avg.to(ws.dtype), ws, psi[None, :, None])


@torch.no_grad()
def update_w_avg(w_avg: torch.Tensor, w_mean: torch.Tensor, beta: float) -> None:
    """Move the tracked mean of w towards a batch mean, as the official running average does:
    w_avg <- lerp(w_mean, w_avg, beta) = w_mean + beta (w_avg - w_mean)."""
    w_avg.copy_(w_mean.detach().to(w_avg.dtype).lerp(w_avg, beta))


class RunningAverages:
    """Steps of running averages (StyleGAN3's magnitude EMAs) that a forward pass with
    `update_emas=<this collector>` asks for, gathered instead of taken: a training loop takes each
    step once per training step, towards the mean over every round and process (`apply`), so the
    result does not depend on how the batch is split. The forward itself uses the average moved by
    its own samples, as the official forward does, without storing it: with one round on one
    process the forward and the stored average are exactly the official ones. `update_emas=True`
    takes each step at once."""

    def __init__(self) -> None:
        self._entries: dict[int, list] = {}   # id(buffer) -> [buffer, beta, sum of value * count, count]

    def __bool__(self) -> bool:
        return True   # `if update_emas:` is true for a collector

    def add(self, buffer: torch.Tensor, value: torch.Tensor, beta: float, count: int) -> None:
        entry = self._entries.setdefault(id(buffer), [buffer, beta, torch.zeros_like(buffer, dtype=torch.float64), 0])
        entry[2] = entry[2] + value.detach().to(torch.float64) * count
        entry[3] += count

    @torch.no_grad()
    def apply(self, all_reduce_sum=None) -> None:
        """buffer <- lerp(mean, buffer, beta) for every gathered buffer, once; `all_reduce_sum(t)`
        sums a tensor over processes in place (one call for all buffers)."""
        if not self._entries:
            return
        entries = list(self._entries.values())
        packed = torch.cat([torch.cat([e[2].flatten(), e[2].new_tensor([float(e[3])])]) for e in entries])
        if all_reduce_sum is not None:
            all_reduce_sum(packed)
        offset = 0
        for buffer, beta, total, _ in entries:
            n = total.numel()
            mean = packed[offset:offset + n] / packed[offset + n]
            buffer.copy_(mean.reshape(buffer.shape).to(buffer.dtype).lerp(buffer, beta))
            offset += n + 1
        self._entries.clear()


@torch.no_grad()
def running_average(buffer: torch.Tensor, value: torch.Tensor, beta: float, update_emas, count: int) -> torch.Tensor:
    """One step of a running average, lerp(value, buffer, beta), as the official networks take it
    with update_emas=True (stored in `buffer`); handed to a `RunningAverages` collector when one is
    given (`buffer` unchanged until it applies). Returns the moved average, for the forward to use."""
    moved = value.to(buffer.dtype).lerp(buffer, beta)
    if isinstance(update_emas, RunningAverages):
        update_emas.add(buffer, value, beta, count)
        return moved
    if update_emas:
        buffer.copy_(moved)
    return buffer


class GeneratorBase(nn.Module):
    """Common interface and fast mode of all generators (see module docstring)."""

    z_dim: int            # Input latent (Z) dimensionality.
    c_dim: int            # Conditioning label (C) dimensionality, 0 = none.
    w_dim: int            # Intermediate latent (W) dimensionality.
    num_ws: int           # Number of per-layer ws the synthesis network takes.
    img_resolution: int   # Output resolution.
    img_channels: int     # Number of output color channels.
    config: object        # The NetworkConfig the generator was built from.
    mapping: nn.Module
    synthesis: nn.Module

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const", update_emas: bool = False,
                **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, update_emas=update_emas, **synthesis_kwargs)

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    @property
    def tracks_w_avg(self) -> bool:
        """Whether training moves w_avg (StyleGAN, StyleGAN2 with a w_avg_beta; not DCGAN, whose
        w_avg stays at the origin)."""
        return getattr(self.mapping, "w_avg_beta", None) is not None

    def update_w_avg(self, w_mean: torch.Tensor) -> None:
        """One step of the w_avg running mean towards `w_mean` [w_dim] (e.g. a batch mean gathered
        over processes); nothing for a network that does not track it. `G(z, update_emas=True)`
        takes the same step with its own batch."""
        if self.tracks_w_avg:
            update_w_avg(self.mapping.w_avg, w_mean, self.mapping.w_avg_beta)

    def make_labels(self, labels, n: int, device: torch.device) -> torch.Tensor | None:
        """Class indices (ints) or one-hot/float rows -> a [n, c_dim] tensor (None if unconditional)."""
        if self.c_dim == 0:
            if labels is not None:
                raise NetworkInputError("this network is unconditional: it takes no class labels")
            return None
        if labels is None:
            raise NetworkInputError(f"this network is conditional ({self.c_dim} classes): "
                                    "give a class label (--class K)")
        a = np.asarray(labels)
        if a.ndim == 0 or (a.ndim == 1 and np.issubdtype(a.dtype, np.integer)):
            idx = np.broadcast_to(a, (n,)).astype(np.int64)
            if idx.min() < 0 or idx.max() >= self.c_dim:
                raise NetworkInputError(f"class label out of range: this network has classes 0-{self.c_dim - 1}")
            c = torch.zeros(n, self.c_dim, device=device)
            c[torch.arange(n), torch.from_numpy(idx).to(device)] = 1
            return c
        c = torch.as_tensor(np.broadcast_to(a, (n, self.c_dim)), dtype=torch.float32, device=device)
        return c

    @torch.inference_mode()
    def run(self, latents: np.ndarray | torch.Tensor, labels=None, truncation_psi: float = 0.7,
            truncation_cutoff: int | None = None, noise_mode: str = "const", batch_size: int = 8,
            device: torch.device | str | None = None, precision: str = "fp32") -> np.ndarray:
        """Fast mode: latents [N, z_dim] -> uint8 images [N, H, W, C], in minibatches, without gradients.

        precision: 'fp32' (default; the "same image as the official scripts" contract), 'bf16'
        (autocast to bfloat16: much faster on CPUs with AVX-512 BF16 and on recent GPUs, images
        differ by a few grey levels, see docs/networks.md) or 'fp16' (autocast, CUDA only; on the
        CPU inside facegan.nn.precision.cpu_fp16()).
        """
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        param = next(self.parameters())
        z = torch.as_tensor(np.asarray(latents) if not isinstance(latents, torch.Tensor) else latents,
                            dtype=compute_dtype(param.dtype))  # float32 (float64 for a float64 network)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise NetworkInputError(f"latents must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        device = torch.device(device) if device is not None else param.device
        c = self.make_labels(labels, len(z), device)
        was_training = self.training
        self.eval()
        if precision == "fp16" and not fp16_enabled(device):
            raise ConfigError("precision 'fp16' needs CUDA; use 'bf16' or 'fp32' on this device "
                              "(facegan.nn.precision.cpu_fp16() forces it on the CPU, for checks)")
        warn_if_bf16_is_emulated(precision, device)
        autocast = contextlib.nullcontext() if precision == "fp32" else torch.autocast(
            device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
        try:
            out = []
            for i in range(0, len(z), batch_size):
                zb = z[i:i + batch_size].to(device)
                cb = None if c is None else c[i:i + batch_size]
                with autocast:
                    img = self(zb, cb, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                               noise_mode=noise_mode)
                out.append(to_uint8(img.float()))
        finally:
            self.train(was_training)
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.img_resolution, self.img_resolution,
                                                                 self.img_channels), np.uint8)
