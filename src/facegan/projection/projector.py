"""Projection: find the w that makes the generator reproduce a given image (StyleGAN2 paper, section
5; stylegan2-ada-pytorch's projector.py).

The official recipe, step by step:
1. The mean and spread of W: map 10,000 z (np.random.RandomState(123)) and take the mean w (the
   start) and sigma = sqrt(sum |w - mean|² / N).
2. Optimise one w, broadcast to every layer (or, with `w_plus`, one w per layer: W+, a common
   extension that reaches closer fits but leaves the space the generator was trained on), together
   with every layer's noise map (started as fresh N(0, 1) noise), with Adam (betas 0.9, 0.999).
3. Each step: learning rate 0.1 ramped up linearly over the first 5% of the steps and down with a
   cosine over the last 25%; Gaussian noise of scale sigma * 0.05 * max(0, 1 - t / 0.75)² added to
   w, so the search explores early and settles late; loss = distance(G.synthesis(w), target)
   + 1e5 * the noise maps' squared autocorrelations (horizontal and vertical, at every scale down
   to 8x8), so the noise maps cannot smuggle the image in; after each step the noise maps are
   renormalised to zero mean and unit variance.
4. The result is the last w. As the official script, images of the result are rendered with the
   network's own constant noise (not the optimised maps), so `facegan generate --projected-w`
   reproduces `proj.png` from `projected_w.npz` alone.

StyleGAN3 (no noise inputs, so only w is optimised): the start is the network's tracked `w_avg`, as
the stylegan3 maintainers advise for projection (NVlabs/stylegan3 #136); the spread still comes from
the 10,000 samples.

    target = load_target("me.jpg", G.img_resolution, G.img_channels)
    result = project(G, target, make_loss("auto"), ProjectionOptions(num_steps=1000))
    result.w            # [1, num_ws, w_dim]
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from facegan.errors import ConfigError
from facegan.generation.images import class_labels
from facegan.networks.stylegan3 import is_stylegan3
from facegan.projection.losses import LaplacianPyramidLoss, ProjectionLoss
from facegan.utils.images import from_uint8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectionOptions:
    num_steps: int = 1000                   # Optimisation steps.
    w_avg_samples: int = 10000              # z samples for the mean and spread of W.
    initial_learning_rate: float = 0.1      # Adam's learning rate at the top of its ramp.
    initial_noise_factor: float = 0.05      # Noise added to w at the start, times the spread of W.
    lr_rampdown_length: float = 0.25        # Cosine ramp-down of the learning rate over this last fraction.
    lr_rampup_length: float = 0.05          # Linear ramp-up over this first fraction.
    noise_ramp_length: float = 0.75         # The noise added to w fades out (quadratically) over this fraction.
    regularize_noise_weight: float = 1e5    # Weight of the noise maps' autocorrelation penalty.
    w_plus: bool = False                    # One w per layer (W+) instead of one w for all layers.
    optimize_noise: bool = True             # Optimise the noise maps too (official: yes).
    seed: int = 303                         # Seeds the noise maps' start and the noise added to w.

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ConfigError(f"num_steps must be >= 1, got {self.num_steps}")
        if self.w_avg_samples < 2:
            raise ConfigError(f"w_avg_samples must be >= 2, got {self.w_avg_samples}")
        if not (self.initial_learning_rate > 0 and math.isfinite(self.initial_learning_rate)):
            raise ConfigError(f"initial_learning_rate must be a positive number, got {self.initial_learning_rate}")
        for name in ("lr_rampdown_length", "lr_rampup_length", "noise_ramp_length"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"{name} must be in (0, 1], got {getattr(self, name)}")


@dataclass
class Projection:
    w: torch.Tensor                  # [1, num_ws, w_dim]: the result (CPU, float32).
    w_steps: torch.Tensor            # [num_steps, num_ws, w_dim]: w after each step (for the progress video).
    distances: list[float]           # The distance to the target before each step's update.
    losses: list[float]              # Distance + weighted noise penalty, per step.
    loss_name: str                   # Which distance: 'lpips' or 'laplacian'.
    noise: dict[str, torch.Tensor] = field(default_factory=dict)   # The optimised noise maps, by buffer name.


def learning_rate(step: int, options: ProjectionOptions) -> float:
    """The official schedule: linear ramp-up, flat, cosine ramp-down."""
    t = step / options.num_steps
    ramp = min(1.0, (1.0 - t) / options.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / options.lr_rampup_length)
    return options.initial_learning_rate * ramp


def w_noise_scale(step: int, options: ProjectionOptions, w_std: float) -> float:
    t = step / options.num_steps
    return w_std * options.initial_noise_factor * max(0.0, 1.0 - t / options.noise_ramp_length) ** 2


def noise_regularization(noise_maps: list[torch.Tensor]) -> torch.Tensor:
    """Sum over maps and scales (halving down to 8x8) of the squared mean products of each map with
    itself shifted by one pixel, horizontally and vertically: zero for white noise."""
    terms = []
    for v in noise_maps:
        x = v[None, None]
        while True:
            terms.append((x * torch.roll(x, shifts=1, dims=3)).mean() ** 2)
            terms.append((x * torch.roll(x, shifts=1, dims=2)).mean() ** 2)
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return torch.stack(terms).sum() if terms else torch.zeros(())


@torch.no_grad()
def w_statistics(G, num_samples: int, c: torch.Tensor | None, batch_size: int = 1000) -> tuple[torch.Tensor, float]:
    """Mean w [w_dim] and spread sqrt(sum |w - mean|² / N) of `num_samples` mapped z (RandomState(123))."""
    device = next(G.parameters()).device
    z = np.random.RandomState(123).randn(num_samples, G.z_dim)
    ws = []
    for i in range(0, num_samples, batch_size):
        zb = torch.from_numpy(z[i:i + batch_size]).float().to(device)
        cb = None if c is None else c.expand(len(zb), -1)
        ws.append(G.mapping(zb, cb)[:, 0].double())
    w = torch.cat(ws)
    w_avg = w.mean(dim=0)
    w_std = float(((w - w_avg).square().sum() / num_samples).sqrt())
    return w_avg.float(), w_std


def project(G, target: np.ndarray, loss: ProjectionLoss | None = None, options: ProjectionOptions | None = None,
            class_idx: int | None = None, progress: bool = True) -> Projection:
    """Project the uint8 image `target` [H, W, C] (the network's resolution and channels; see
    load_target) into W (or W+). The network `G` is not modified."""
    options = options or ProjectionOptions()
    R, C = G.img_resolution, G.img_channels
    target = np.asarray(target)
    if target.dtype != np.uint8 or target.shape != (R, R, C):
        raise ConfigError(f"the target must be a uint8 image of shape {(R, R, C)} (this network's output), "
                          f"got {target.dtype} {target.shape}")
    device = next(G.parameters()).device
    G = copy.deepcopy(G).eval().requires_grad_(False)
    c = class_labels(G, class_idx, 1, device)
    loss = (loss or LaplacianPyramidLoss()).to(device)
    loss.set_target(from_uint8(np.array(target)).to(device))  # a writable copy for torch

    log.info("computing the mean and spread of W from %d samples", options.w_avg_samples)
    w_avg, w_std = w_statistics(G, options.w_avg_samples, c)
    if is_stylegan3(G):  # anchored to the tracked centre of W (no noise maps to optimise)
        w_avg = G.mapping.w_avg.detach().float().clone()
    gen = torch.Generator(device=device).manual_seed(options.seed)

    noise_bufs = {name: buf for name, buf in G.synthesis.named_buffers() if "noise_const" in name}
    with torch.no_grad():
        for buf in noise_bufs.values():
            buf.copy_(torch.randn(buf.shape, generator=gen, device=device, dtype=buf.dtype))
    noise_maps = list(noise_bufs.values()) if options.optimize_noise else []
    for buf in noise_maps:
        buf.requires_grad_(True)

    layers = G.num_ws if options.w_plus else 1
    w_opt = w_avg.to(device)[None, None].repeat(1, layers, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt] + noise_maps, betas=(0.9, 0.999), lr=options.initial_learning_rate)
    w_steps = torch.zeros(options.num_steps, layers, G.w_dim)
    distances, losses = [], []

    from tqdm import tqdm

    bar = tqdm(range(options.num_steps), desc=f"projecting ({loss.name})", unit="step", disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, options)
        w_noise = torch.randn(w_opt.shape, generator=gen, device=device) * w_noise_scale(step, options, w_std)
        ws = (w_opt + w_noise).expand(1, G.num_ws, G.w_dim)
        synth = G.synthesis(ws, noise_mode="const")
        dist = loss(synth).sum()
        total = dist + noise_regularization(list(noise_bufs.values())) * options.regularize_noise_weight
        if not torch.isfinite(total):
            raise ConfigError(f"the projection diverged at step {step} (loss {float(total)}); "
                              "try a lower learning rate")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        distances.append(dist.item())
        losses.append(total.item())
        w_steps[step] = w_opt.detach()[0].cpu()
        with torch.no_grad():
            for buf in noise_maps:
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
        if step % 10 == 0 or step == options.num_steps - 1:
            bar.set_postfix(dist=f"{distances[-1]:.4f}", loss=f"{losses[-1]:.4f}")

    w_steps = w_steps.expand(-1, G.num_ws, -1).contiguous()
    return Projection(w=w_steps[-1:].clone(), w_steps=w_steps, distances=distances, losses=losses,
                      loss_name=loss.name,
                      noise={name: buf.detach().cpu().clone() for name, buf in noise_bufs.items()})
