"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"): the blit + geometry + colour pipeline (and the filter, noise and
cutout extensions), applied to every image D sees, and the heuristic that adapts its probability.

Each transform is applied to each image independently with probability `p` times its multiplier
(official presets below). Geometric transforms are composed into one matrix per image and applied
once: the image is padded by reflection, up-sampled 2x with the sym6 wavelet filter, resampled
bilinearly, and down-sampled back, which keeps the resampling free of aliasing. Colour transforms
are composed into one 4x4 matrix in RGB space (the luma axis is (1, 1, 1)/√3); grayscale images
get the mean of the RGB rows. Everything is differentiable in the images (the generator learns
through it) with double backward (R1).

Randomness comes from torch's global generator: the training loop seeds it per round, so a run is
reproducible and resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from facegan.errors import ConfigError
from facegan.nn.resample import downsample2d, setup_filter, upsample2d
from facegan.training.augment_ops import (
    grid_sample,
    rotate2d,
    rotate3d,
    scale2d,
    scale3d,
    translate2d,
    translate3d,
)

# Daubechies symlet low-pass taps (published constants, as PyWavelets lists them).
SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148]

_BLIT = dict(xflip=1, rotate90=1, xint=1)
_GEOM = dict(scale=1, rotate=1, aniso=1, xfrac=1)
_COLOR = dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
AUGPIPES: dict[str, dict[str, float]] = {
    "blit": _BLIT, "geom": _GEOM, "color": _COLOR, "filter": dict(imgfilter=1), "noise": dict(noise=1),
    "cutout": dict(cutout=1), "bg": {**_BLIT, **_GEOM}, "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
}


def _band_filters() -> np.ndarray:
    """The 4-band filter bank of the image-space filtering (low, and three octave band-passes)."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, 4):
        # Upsample every filter by 2 (insert zeros), then low-pass; band i gets the high-pass added.
        up = np.zeros((bank.shape[0], bank.shape[1] * 2 - 1))
        up[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in up])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start:start + hi2.size] += hi2
    return bank


@dataclass(frozen=True)
class AugmentSpec:
    """Probability multipliers (0 = off) and strengths of each transform (official defaults)."""

    xflip: float = 0
    rotate90: float = 0
    xint: float = 0
    xint_max: float = 0.125
    scale: float = 0
    rotate: float = 0
    aniso: float = 0
    xfrac: float = 0
    scale_std: float = 0.2
    rotate_max: float = 1
    aniso_std: float = 0.2
    xfrac_std: float = 0.125
    brightness: float = 0
    contrast: float = 0
    lumaflip: float = 0
    hue: float = 0
    saturation: float = 0
    brightness_std: float = 0.2
    contrast_std: float = 0.5
    hue_max: float = 1
    saturation_std: float = 1
    imgfilter: float = 0
    imgfilter_bands: tuple[float, ...] = (1, 1, 1, 1)
    imgfilter_std: float = 1
    noise: float = 0
    cutout: float = 0
    noise_std: float = 0.1
    cutout_size: float = 0.5


class AugmentPipe(nn.Module):
    def __init__(self, spec: AugmentSpec = AugmentSpec()):
        super().__init__()
        self.spec = spec
        self.register_buffer("p", torch.zeros([]))                       # overall probability
        self.register_buffer("geom_filter", setup_filter(SYM6))          # 12x12, sums to 1
        self.register_buffer("band_filters", torch.as_tensor(_band_filters(), dtype=torch.float32))

    @staticmethod
    def from_preset(name: str) -> AugmentPipe:
        if name not in AUGPIPES:
            raise ConfigError(f"unknown --augpipe {name!r}; use one of {', '.join(AUGPIPES)}")
        return AugmentPipe(AugmentSpec(**AUGPIPES[name]))

    # -- random draws --------------------------------------------------------------------------
    def _chance(self, n: int, multiplier: float, device, shape=()) -> torch.Tensor:
        return torch.rand([n, *shape], device=device) < multiplier * self.p

    def _geometry(self, n: int, h: int, w: int, device) -> torch.Tensor | None:
        """The inverse transform [N, 3, 3] (output pixel -> input pixel), or None when no image moves."""
        s = self.spec
        eye = torch.eye(3, device=device).expand(n, 3, 3)
        m = eye
        if s.xflip:
            flip = torch.floor(torch.rand([n], device=device) * 2) * self._chance(n, s.xflip, device)
            m = m @ scale2d(1 / (1 - 2 * flip), torch.ones_like(flip))
        if s.rotate90:
            quarter = torch.floor(torch.rand([n], device=device) * 4) * self._chance(n, s.rotate90, device)
            m = m @ rotate2d(math.pi / 2 * quarter)
        if s.xint:
            t = (torch.rand([n, 2], device=device) * 2 - 1) * s.xint_max * self._chance(n, s.xint, device, (1,))
            m = m @ translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h))
        if s.scale:
            k = torch.where(self._chance(n, s.scale, device), torch.exp2(torch.randn([n], device=device) * s.scale_std),
                            torch.ones([n], device=device))
            m = m @ scale2d(1 / k, 1 / k)
        # Rotation is drawn twice (around the anisotropic scaling) with p_rot such that
        # P(at least one) equals the rotation probability, as the paper.
        p_rot = 1 - torch.sqrt((1 - s.rotate * self.p).clamp(0, 1))
        if s.rotate:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * s.rotate_max
            m = m @ rotate2d(theta * (torch.rand([n], device=device) < p_rot))
        if s.aniso:
            k = torch.where(self._chance(n, s.aniso, device), torch.exp2(torch.randn([n], device=device) * s.aniso_std),
                            torch.ones([n], device=device))
            m = m @ scale2d(1 / k, k)
        if s.rotate:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * s.rotate_max
            m = m @ rotate2d(theta * (torch.rand([n], device=device) < p_rot))
        if s.xfrac:
            t = torch.randn([n, 2], device=device) * s.xfrac_std * self._chance(n, s.xfrac, device, (1,))
            m = m @ translate2d(-t[:, 0] * w, -t[:, 1] * h)
        if not any((s.xflip, s.rotate90, s.xint, s.scale, s.rotate, s.aniso, s.xfrac)):
            return None
        return m

    def _apply_geometry(self, images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        device = images.device
        cx, cy = (w - 1) / 2, (h - 1) / 2
        # How far the transformed image reaches beyond the frame: pad that much (by reflection).
        corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device=device).t()
        reach = (m @ corners)[:, :2, :].permute(1, 0, 2).flatten(1)          # [xy, N*4]
        pad_taps = self.geom_filter.shape[0] // 4
        margin = torch.cat([-reach, reach]).max(dim=1).values                  # [x0, y0, x1, y1]
        margin = margin + torch.tensor([pad_taps * 2 - cx, pad_taps * 2 - cy] * 2, device=device)
        margin = margin.clamp(min=0)
        margin = torch.minimum(margin, torch.tensor([w - 1, h - 1] * 2, device=device, dtype=margin.dtype))
        x0, y0, x1, y1 = (int(v) for v in margin.ceil())
        images = torch.nn.functional.pad(images, [x0, x1, y0, y1], mode="reflect")
        m = translate2d(torch.tensor((x0 - x1) / 2.0), torch.tensor((y0 - y1) / 2.0), device=device) @ m
        # Resample at twice the resolution, between wavelet up- and down-sampling.
        images = upsample2d(images, self.geom_filter, up=2)
        m = scale2d(torch.tensor(2.0), torch.tensor(2.0), device=device) @ m @ scale2d(
            torch.tensor(0.5), torch.tensor(0.5), device=device)
        m = translate2d(torch.tensor(-0.5), torch.tensor(-0.5), device=device) @ m @ translate2d(
            torch.tensor(0.5), torch.tensor(0.5), device=device)
        out_shape = [n, c, (h + pad_taps * 2) * 2, (w + pad_taps * 2) * 2]
        # To the normalised [-1, 1] coordinates of affine_grid (output size -> input size).
        m = scale2d(torch.tensor(2.0 / images.shape[3]), torch.tensor(2.0 / images.shape[2]), device=device) @ m @ \
            scale2d(torch.tensor(out_shape[3] / 2.0), torch.tensor(out_shape[2] / 2.0), device=device)
        grid = torch.nn.functional.affine_grid(m[:, :2, :], out_shape, align_corners=False)
        images = grid_sample(images, grid)
        return downsample2d(images, self.geom_filter, down=2, padding=-pad_taps * 2, flip_filter=True)

    def _color(self, n: int, device) -> torch.Tensor | None:
        s = self.spec
        if not any((s.brightness, s.contrast, s.lumaflip, s.hue, s.saturation)):
            return None
        m = torch.eye(4, device=device).expand(n, 4, 4)
        axis = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
        luma = torch.outer(axis, axis)
        if s.brightness:
            b = torch.randn([n], device=device) * s.brightness_std * self._chance(n, s.brightness, device)
            m = translate3d(b) @ m
        if s.contrast:
            k = torch.where(self._chance(n, s.contrast, device),
                            torch.exp2(torch.randn([n], device=device) * s.contrast_std),
                            torch.ones([n], device=device))
            m = scale3d(k) @ m
        if s.lumaflip:
            flip = torch.floor(torch.rand([n, 1, 1], device=device) * 2) * self._chance(n, s.lumaflip, device, (1, 1))
            m = (torch.eye(4, device=device) - 2 * luma * flip) @ m
        if s.hue:
            theta = (torch.rand([n], device=device) * 2 - 1) * math.pi * s.hue_max * self._chance(n, s.hue, device)
            m = rotate3d(axis, theta) @ m
        if s.saturation:
            k = torch.where(self._chance(n, s.saturation, device, (1, 1)),
                            torch.exp2(torch.randn([n, 1, 1], device=device) * s.saturation_std),
                            torch.ones([n, 1, 1], device=device))
            m = (luma + (torch.eye(4, device=device) - luma) * k) @ m
        return m

    @staticmethod
    def _apply_color(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        x = images.reshape(n, c, h * w)
        if c == 3:
            x = m[:, :3, :3] @ x + m[:, :3, 3:]
        else:  # grayscale: the luminance-preserving mean of the RGB rows
            row = m[:, :3, :].mean(dim=1, keepdim=True)
            x = x * row[:, :, :3].sum(dim=2, keepdim=True) + row[:, :, 3:]
        return x.reshape(n, c, h, w)

    def _filter(self, images: torch.Tensor) -> torch.Tensor:
        s = self.spec
        n, c, h, w = images.shape
        device = images.device
        bands = self.band_filters.shape[0]
        power = torch.tensor([10.0, 1.0, 1.0, 1.0], device=device) / 13  # expected 1/f power per band
        gain = torch.ones([n, bands], device=device)
        for i, strength in enumerate(s.imgfilter_bands):
            t_i = torch.where(torch.rand([n], device=device) < s.imgfilter * self.p * strength,
                              torch.exp2(torch.randn([n], device=device) * s.imgfilter_std),
                              torch.ones([n], device=device))
            t = torch.ones([n, bands], device=device)
            t[:, i] = t_i
            gain = gain * t / (power * t.square()).sum(dim=-1, keepdim=True).sqrt()
        taps = (gain @ self.band_filters).unsqueeze(1).expand(n, c, -1).reshape(n * c, 1, -1)
        pad = self.band_filters.shape[1] // 2
        if min(h, w) <= pad:
            raise ConfigError(f"image-space filtering (augpipe 'f') needs images larger than {pad}x{pad}; "
                              f"these are {w}x{h} (use --augpipe bgc)")
        x = torch.nn.functional.pad(images.reshape(1, n * c, h, w), [pad] * 4, mode="reflect")
        x = torch.nn.functional.conv2d(x, taps.unsqueeze(2), groups=n * c)
        x = torch.nn.functional.conv2d(x, taps.unsqueeze(3), groups=n * c)
        return x.reshape(n, c, h, w)

    # -- the pipeline -------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if float(self.p) == 0:
            return images
        dtype = images.dtype
        images = images.float()
        n, c, h, w = images.shape
        device = images.device
        s = self.spec
        m = self._geometry(n, h, w, device)
        if m is not None:
            images = self._apply_geometry(images, m)
        cm = self._color(n, device)
        if cm is not None:
            images = self._apply_color(images, cm)
        if s.imgfilter:
            images = self._filter(images)
        if s.noise:
            sigma = torch.randn([n, 1, 1, 1], device=device).abs() * s.noise_std
            sigma = sigma * self._chance(n, s.noise, device, (1, 1, 1))
            images = images + torch.randn_like(images) * sigma
        if s.cutout:
            size = s.cutout_size * self._chance(n, s.cutout, device, (1, 1))          # [N, 1, 1]
            center = torch.rand([n, 2, 1, 1], device=device)
            xs = (torch.arange(w, device=device) + 0.5) / w
            ys = (torch.arange(h, device=device) + 0.5) / h
            keep = ((xs.view(1, 1, w) - center[:, 0]).abs() >= size / 2) | \
                   ((ys.view(1, h, 1) - center[:, 1]).abs() >= size / 2)
            images = images * keep.unsqueeze(1).float()
        return images.to(dtype)


class AdaController:
    """The ADA heuristic: every `interval` minibatches, with r_t = E[sign(D(real))] over them,
    p += sign(r_t - target) * (batch * interval) / (kimg * 1000), so p can move by 1 in `kimg`
    thousand images. Deviation: p is clamped to [0, 1] (the official code clamps only at 0; p > 1
    makes every transform certain and has been seen to run away, stylegan2-ada-pytorch #175)."""

    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500):
        self.target, self.interval, self.kimg = target, interval, kimg

    def update(self, p: float, r_t: float, batch: int) -> float:
        step = np.sign(r_t - self.target) * (batch * self.interval) / (self.kimg * 1000)
        return float(min(max(p + step, 0.0), 1.0))
