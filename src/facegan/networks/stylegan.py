"""StyleGAN (v1): Karras, Laine & Aila, "A Style-Based Generator Architecture for Generative
Adversarial Networks" (2018), built as the official TensorFlow code builds it
(training/networks_stylegan.py: G_style = G_mapping + G_synthesis, and D_basic), config F by default.

Generator
    z [N, 512] (+ label embedding) -> pixel norm -> 8 x (dense, leaky ReLU; lr multiplier 0.01) -> w,
    broadcast to num_ws = 2 log2(resolution) - 2 layers and truncated towards w_avg on the first
    `truncation_cutoff` (8) layers. The synthesis starts from a learned 4x4 constant; every layer is
    [conv] -> noise (one N(0,1) map per sample times a learned per-channel strength) -> bias ->
    leaky ReLU -> instance norm -> style (x * (s + 1) + b from the layer's own affine map of w).
    From 8x8 on, a block's first conv doubles the resolution (nearest upscale + 3x3 conv below
    128x128, the fused transposed conv from 128x128 up) and is followed by the [1,2,1] blur.
    Every resolution has its ToRGB (1x1 conv); the output blends two of them while a resolution
    fades in (progressive growing).
Discriminator
    FromRGB (1x1 conv, leaky ReLU) at every resolution; blocks of conv, blur, conv with 2x
    downsampling (fused from 128x128 up); at 4x4 minibatch stddev (group 4), conv, dense, dense.

Progressive growing (level of detail, `lod`; 0 = full resolution, each +1 halves it)
    `G.synthesis(ws, lod=..., max_resolution=...)` and `D(img, lod=...)`. Without `lod` they read
    their `lod` buffer (`synthesis.lod`, `D.lod`, saved with the network). The image at lod
    blends ToRGB of resolution R / 2^floor(lod) with the nearest-upscaled ToRGB of the next lower one
    by frac(lod), exactly as the official 'linear' structure; D mirrors it with FromRGB of the 2x2
    box-downscaled image. Without `max_resolution` G returns full size (lower resolutions nearest-
    upscaled, as the official network); with it G stops at that resolution and returns that size,
    and D takes images of any power-of-two size up to its resolution (see docs/networks.md).
    A Python-number `lod` (and the buffer outside torch.compile) runs only the layers that matter;
    a tensor `lod` evaluates the official linear chain with tensor arithmetic, so a compiled network
    can follow a fade-in without recompiling.

Stored tensors keep the official meaning (equalised-lr coefficients applied at run time, the
StyleMod +1 applied at run time), and the module names follow a fixed table (docs/networks.md) that
the official-pickle converter relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facegan.errors import ConfigError, NetworkInputError
from facegan.networks.base import NOISE_MODES, GeneratorBase, truncate, update_w_avg
from facegan.networks.config import NetworkConfig, register_architecture
from facegan.nn.adain import adain, instance_norm, pixel_norm, style_modulate
from facegan.nn.equalized import EqualizedConv2d, EqualizedLinear
from facegan.nn.mbstd import MinibatchStd
from facegan.nn.precision import compute_dtype
from facegan.nn.scale2d import Blur2d, conv2d_downscale2d, downscale2d, upscale2d, upscale2d_conv2d

NONLINEARITIES = ("lrelu", "relu")
FUSED_SCALE_AUTO_RESOLUTION = 128  # 'auto': fused up/down-sampling convs from this resolution up


# ----------------------------------------------------------------------------------------------
# Configuration and presets.

@dataclass(frozen=True)
class StyleGANConfig(NetworkConfig):
    """The official G_style / G_mapping / G_synthesis / D_basic keyword arguments (official names in
    brackets where ours differ). Defaults are config F."""

    arch = "stylegan"

    resolution: int = 1024                 # Output resolution (a power of two >= 4).
    # Mapping network.
    z_dim: int = 512                       # [latent_size] Input latent (Z) dimensionality.
    w_dim: int = 512                       # [dlatent_size] Intermediate latent (W) dimensionality.
    mapping_layers: int = 8                # Number of dense layers.
    mapping_fmaps: int = 512               # Width of the hidden dense layers.
    mapping_lr_multiplier: float = 0.01    # [mapping_lrmul] Learning-rate multiplier of the mapping.
    mapping_nonlinearity: str = "lrelu"    # 'lrelu' (slope 0.2) or 'relu'.
    normalize_latents: bool = True         # Pixel-normalise z (with the label embedding) first.
    w_avg_beta: float | None = 0.995       # [dlatent_avg_beta] Decay of the tracked mean of w; None = frozen.
    truncation_psi: float | None = 0.7     # Default psi of G.run; None or 1 = no truncation.
    truncation_cutoff: int | None = 8      # Default number of truncated layers; None = all, 0 = none.
    # Synthesis network (the discriminator shares the feature-map formula and the resampling).
    fmap_base: int = 8192                  # Feature maps: nf(stage) = min(fmap_base / 2^(stage*decay), max).
    fmap_decay: float = 1.0                # log2 feature-map reduction per doubling of the resolution.
    fmap_max: int = 512                    # Most feature maps of any layer.
    use_styles: bool = True                # Style (AdaIN) inputs; False = one w for the whole network.
    const_input_layer: bool = True         # Start from a learned constant (False: a dense layer of w).
    use_noise: bool = True                 # Per-pixel noise inputs.
    nonlinearity: str = "lrelu"            # Activation of the synthesis and the discriminator.
    use_pixel_norm: bool = False           # Pixel norm in every synthesis layer (ProGAN).
    use_instance_norm: bool = True         # Instance norm in every synthesis layer.
    fused_scale: str | bool = "auto"       # Fused resampling convs: True, False or 'auto' (from 128x128).
    blur_filter: tuple[float, ...] = (1, 2, 1)  # Low-pass taps around resampling; () = no blur.
    # Discriminator.
    mbstd_group_size: int = 4              # Minibatch stddev group size; 0 or 1 = off.
    mbstd_num_features: int = 1            # Feature maps the minibatch stddev layer appends.

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = ("z_dim", "w_dim", "mapping_fmaps", "fmap_base", "fmap_max")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.mapping_layers < 0:
            raise ConfigError(f"mapping_layers must be >= 0, got {self.mapping_layers}")
        if self.mapping_layers == 0 and self.mapping_in_features != self.w_dim:
            raise ConfigError(f"without mapping layers w is the normalised input, so it needs "
                              f"{self.mapping_in_features} = w_dim ({self.w_dim})")
        if not self.mapping_lr_multiplier > 0:
            raise ConfigError(f"mapping_lr_multiplier must be > 0, got {self.mapping_lr_multiplier}")
        for name in ("mapping_nonlinearity", "nonlinearity"):
            if getattr(self, name) not in NONLINEARITIES:
                raise ConfigError(f"{name} must be one of {NONLINEARITIES}, got {getattr(self, name)!r}")
        if self.w_avg_beta is not None and not 0 <= self.w_avg_beta <= 1:
            raise ConfigError(f"w_avg_beta must be in [0, 1] or None, got {self.w_avg_beta}")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise ConfigError(f"truncation_cutoff must be >= 0 or None, got {self.truncation_cutoff}")
        if self.fused_scale not in ("auto", True, False):
            raise ConfigError(f"fused_scale must be True, False or 'auto', got {self.fused_scale!r}")
        if self.blur_filter and (not all(isinstance(t, (int, float)) for t in self.blur_filter)
                                 or sum(self.blur_filter) == 0):
            raise ConfigError(f"blur_filter must be a list of numbers with a non-zero sum, got {self.blur_filter!r}")
        if self.mbstd_group_size < 0 or self.mbstd_num_features < 1:
            raise ConfigError("mbstd_group_size must be >= 0 and mbstd_num_features >= 1")
        if self.mbstd_group_size > 1 and self.nf(1) % self.mbstd_num_features:
            raise ConfigError(f"mbstd_num_features ({self.mbstd_num_features}) must divide the 4x4 "
                              f"feature maps ({self.nf(1)})")

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Synthesis layers: two per resolution from 4x4 (18 at 1024x1024)."""
        return 2 * self.resolution_log2 - 2

    @property
    def num_ws(self) -> int:
        """Number of per-layer ws the synthesis takes (one per layer, or one in all without styles)."""
        return self.num_layers if self.use_styles else 1

    @property
    def mapping_in_features(self) -> int:
        """Width of the mapping input: z, plus a z-sized label embedding for conditional networks."""
        return self.z_dim * 2 if self.c_dim else self.z_dim

    def nf(self, stage: int) -> int:
        """Feature maps at `stage`; the block at resolution 2^r uses nf(r - 1)."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)

    def fused(self, resolution: int) -> bool:
        """Whether the resampling conv of the block at `resolution` is fused (G: output, D: input resolution)."""
        if self.fused_scale == "auto":
            return resolution >= FUSED_SCALE_AUTO_RESOLUTION
        return bool(self.fused_scale)


@dataclass(frozen=True)
class StyleGANPreset:
    """An official network: its resolution, the file it was released as, and where the picture is."""

    resolution: int                                        # Resolution of the generator.
    official_file: str                                     # Name of the released pickle.
    description: str                                       # What it generates.
    content_box: tuple[int, int, int, int] | None = None   # (x, y, width, height) of the picture in the frame.


# Every official StyleGAN network is config F; only the resolution (and the data) differ.
STYLEGAN_PRESETS: dict[str, StyleGANPreset] = {
    "stylegan-ffhq": StyleGANPreset(1024, "karras2019stylegan-ffhq-1024x1024.pkl", "FFHQ faces, config F"),
    "stylegan-celebahq": StyleGANPreset(1024, "karras2019stylegan-celebahq-1024x1024.pkl",
                                        "CelebA-HQ faces (config F network, WGAN-GP loss)"),
    "stylegan-bedrooms": StyleGANPreset(256, "karras2019stylegan-bedrooms-256x256.pkl", "LSUN bedrooms"),
    "stylegan-cats": StyleGANPreset(256, "karras2019stylegan-cats-256x256.pkl", "LSUN cats"),
    # LSUN cars were resized to 512x384 and padded with black rows into a 512x512 square.
    "stylegan-cars": StyleGANPreset(512, "karras2019stylegan-cars-512x384.pkl", "LSUN cars, 512x384 content",
                                    content_box=(0, 64, 512, 384)),
}


def stylegan_preset(name: str, resolution: int | None = None, **overrides: Any) -> StyleGANConfig:
    """The config of an official network, e.g. `stylegan_preset('stylegan-ffhq')`; `resolution` and
    any other field may be overridden (`stylegan_preset('stylegan-ffhq', 256)` is config F at 256x256)."""
    if name not in STYLEGAN_PRESETS:
        raise ConfigError(f"unknown StyleGAN preset {name!r}; known: {', '.join(STYLEGAN_PRESETS)}")
    base = StyleGANConfig(resolution=STYLEGAN_PRESETS[name].resolution)
    if resolution is not None:
        overrides["resolution"] = resolution
    return base.replace(**overrides) if overrides else base


def current_resolution(resolution: int, lod: float) -> int:
    """The resolution being trained at level of detail `lod`: the one fading in (or stable) there."""
    levels = int(math.log2(resolution)) - 2
    return resolution >> int(math.floor(min(max(float(lod), 0.0), levels)))


def _act(x: torch.Tensor, name: str, inplace: bool = False) -> torch.Tensor:
    """The activation; the leaky ReLU's gain sqrt(2) lives in the weights' equalised-lr scale, as in
    the official code."""
    if name == "lrelu":
        return F.leaky_relu(x, 0.2, inplace=inplace)
    return F.relu(x, inplace=inplace)


def _to_preferred_format(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Activations go channels_last on CPU (oneDNN convolutions run ~25% faster so) and wherever the
    network was converted with `.to(memory_format=torch.channels_last)`; the layers keep the format."""
    if x.device.type == "cpu" or weight.is_contiguous(memory_format=torch.channels_last):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _lerp_clip(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a + (b - a) * clip(t, 0, 1), the official lerp_clip."""
    return a + (b - a) * t.clamp(0, 1).to(a.dtype)


def _lod_value(lod: float | torch.Tensor | None, buffer: torch.Tensor) -> float | torch.Tensor:
    """A Python lod picks the layers to run; a tensor lod keeps the fade in tensor arithmetic.

    No lod means the stored one: read as a number in eager mode, kept a tensor under torch.compile.
    """
    if lod is None:
        return buffer if torch.compiler.is_compiling() else float(buffer)
    if isinstance(lod, torch.Tensor):
        if lod.ndim != 0:
            raise NetworkInputError(f"lod must be a number or a 0-d tensor, got shape {tuple(lod.shape)}")
        return lod
    return float(lod)


def _static_lod(lod: float, levels: int, top: int) -> tuple[int, float]:
    """(level to run up to, fade fraction) for a Python lod, levels counted from 4x4 = 0.

    The effective lod is at least `levels - top` (nothing above level `top` runs) and at most
    `levels` (4x4 only).
    """
    lod = min(max(lod, float(levels - top)), float(levels))
    whole = math.floor(lod)
    return levels - whole, lod - whole


# ----------------------------------------------------------------------------------------------
# Generator.

class StyleGANMapping(nn.Module):
    """z (+ label) -> w, broadcast to [N, num_ws, w_dim]; holds w_avg and applies truncation."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.num_ws
        self.normalize_latents = cfg.normalize_latents
        self.w_avg_beta = cfg.w_avg_beta
        self.truncation_cutoff = cfg.truncation_cutoff
        self.num_layers = cfg.mapping_layers
        self.nonlinearity = cfg.mapping_nonlinearity
        if cfg.c_dim:
            # LabelConcat: a plain N(0, 1) matrix, no equalised-lr scale (as the official code).
            self.embed = nn.Linear(cfg.c_dim, cfg.z_dim, bias=False)
            nn.init.normal_(self.embed.weight)
        features = cfg.mapping_in_features
        for i in range(cfg.mapping_layers):
            out = cfg.w_dim if i == cfg.mapping_layers - 1 else cfg.mapping_fmaps
            setattr(self, f"fc{i}", EqualizedLinear(features, out, lr_multiplier=cfg.mapping_lr_multiplier,
                                                    gain=math.sqrt(2)))
            features = out
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                truncation_psi: float | torch.Tensor | None = 1.0, truncation_cutoff: int | None = None,
                update_emas: bool = False) -> torch.Tensor:
        """z [N, z_dim], c [N, c_dim] -> ws [N, num_ws, w_dim].

        `truncation_cutoff=None` means the network's default (config.truncation_cutoff: 8 layers for
        the official networks); `update_emas=True` (training) moves w_avg towards this batch's mean w.
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise NetworkInputError(f"z must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        x = z
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape != (z.shape[0], self.c_dim):
                got = None if c is None else tuple(c.shape)
                raise NetworkInputError(f"this network is conditional: c must have shape "
                                        f"[{z.shape[0]}, {self.c_dim}], got {got}")
            x = torch.cat([x, self.embed(c.to(self.embed.weight.dtype)).to(x.dtype)], dim=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        for i in range(self.num_layers):
            x = _act(getattr(self, f"fc{i}")(x), self.nonlinearity)

        if update_emas and self.w_avg_beta is not None:
            update_w_avg(self.w_avg, x.detach().to(compute_dtype(x.dtype)).mean(dim=0), self.w_avg_beta)

        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        psi = 1.0 if truncation_psi is None else truncation_psi
        if isinstance(psi, torch.Tensor) or psi != 1:
            cutoff = self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
            ws = truncate(ws, self.w_avg, psi, cutoff)
        return ws

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class StyleGANLayer(nn.Module):
    """One synthesis layer: [conv or 2x up-conv, blur], then the official layer epilogue
    noise -> bias -> activation -> [pixel norm] -> [instance norm] -> [style]."""

    def __init__(
        self,
        cfg: StyleGANConfig,        # The network's config (switches, blur, fused_scale).
        in_channels: int | None,    # Input feature maps; None = no conv (the layer on the 4x4 input).
        out_channels: int,          # Output feature maps.
        resolution: int,            # Output resolution.
        w_index: int,               # Which ws entry drives this layer's style.
        up: bool = False,           # Double the resolution in the conv.
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.w_index = w_index if cfg.use_styles else 0
        self.up = up
        self.fused = up and cfg.fused(resolution)
        self.nonlinearity = cfg.nonlinearity
        self.use_pixel_norm, self.use_instance_norm = cfg.use_pixel_norm, cfg.use_instance_norm
        if in_channels is not None:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.weight_gain = math.sqrt(2) / math.sqrt(in_channels * 9)
        else:
            self.weight = None
        self.blur = Blur2d(cfg.blur_filter) if up and cfg.blur_filter else None
        if cfg.use_noise:
            self.noise_strength = nn.Parameter(torch.zeros(out_channels))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
        else:
            self.noise_strength = None
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.affine = EqualizedLinear(cfg.w_dim, out_channels * 2, gain=1.0) if cfg.use_styles else None

    def forward(self, x: torch.Tensor, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        # After the conv, x is this layer's own tensor: the epilogue updates it in place (autograd
        # allows it: no op before saves its output), which saves an allocation per step.
        if self.weight is not None:
            w = (self.weight * self.weight_gain).to(x.dtype)
            x = upscale2d_conv2d(x, w, self.fused) if self.up else F.conv2d(x, w, padding=1)
        if self.blur is not None:
            x = self.blur(x)
        owned = self.weight is not None
        if self.noise_strength is not None and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
            else:
                noise = self.noise_const.to(x.dtype)[None, None]
            strength = self.noise_strength.to(x.dtype)[None, :, None, None]
            x = x.addcmul_(noise, strength) if owned else torch.addcmul(x, noise, strength)
            owned = True
        bias = self.bias.to(x.dtype)[None, :, None, None]
        x = _act(x.add_(bias) if owned else x + bias, self.nonlinearity, inplace=True)
        if self.use_pixel_norm:
            x = pixel_norm(x)
        style = self.affine(ws[:, self.w_index]) if self.affine is not None else None
        if self.use_instance_norm and style is not None:
            return adain(x, style, inplace=True)
        if self.use_instance_norm:
            return instance_norm(x, inplace=True)
        if style is not None:
            return style_modulate(x, style)
        return x

    def extra_repr(self) -> str:
        conv = "none" if self.in_channels is None else f"{self.in_channels}->{self.out_channels}"
        return f"conv={conv}, resolution={self.resolution}, up={self.up}, fused={self.fused}, w_index={self.w_index}"


class StyleGANSynthesisBlock(nn.Module):
    """The two layers of one resolution (b4: constant input + conv; bR: up-conv + conv) and its ToRGB."""

    def __init__(self, cfg: StyleGANConfig, in_channels: int | None, resolution: int):
        super().__init__()
        self.resolution = resolution
        C = cfg.nf(int(math.log2(resolution)) - 1)
        first = 2 * int(math.log2(resolution)) - 4  # index of the block's first layer in ws
        self.const = self.dense = None
        if resolution == 4:
            if cfg.const_input_layer:
                self.const = nn.Parameter(torch.ones(C, 4, 4))
            else:  # ProGAN-style input: w -> 4x4 through a dense layer (gain sqrt(2)/4, no bias)
                self.dense = EqualizedLinear(cfg.w_dim, C * 16, bias=False, gain=math.sqrt(2) / 4)
            self.conv0 = StyleGANLayer(cfg, None, C, 4, w_index=0)
        else:
            self.conv0 = StyleGANLayer(cfg, in_channels, C, resolution, w_index=first, up=True)
        self.conv1 = StyleGANLayer(cfg, C, C, resolution, w_index=first + 1)
        self.torgb = EqualizedConv2d(C, cfg.img_channels, 1, gain=1.0)
        self.out_channels = C

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        if self.const is not None:
            x = _to_preferred_format(self.const.to(ws.dtype)[None].expand(ws.shape[0], -1, -1, -1), self.conv1.weight)
        elif self.dense is not None:
            x = _to_preferred_format(self.dense(ws[:, 0]).reshape(ws.shape[0], self.out_channels, 4, 4),
                                     self.conv1.weight)
        x = self.conv0(x, ws, noise_mode)
        return self.conv1(x, ws, noise_mode)


class StyleGANSynthesis(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R] in [-1, 1] (at lod 0)."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.w_dim, self.num_ws = cfg.w_dim, cfg.num_ws
        self.img_resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self.resolutions = [2 ** r for r in range(2, cfg.resolution_log2 + 1)]
        in_channels = None
        for res in self.resolutions:
            block = StyleGANSynthesisBlock(cfg, in_channels, res)
            setattr(self, f"b{res}", block)
            in_channels = block.out_channels
        self.register_buffer("lod", torch.zeros(()))

    def block(self, level: int) -> StyleGANSynthesisBlock:
        return getattr(self, f"b{self.resolutions[level]}")

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", update_emas: bool = False,
                lod: float | torch.Tensor | None = None, max_resolution: int | None = None,
                force_fp32: bool = False) -> torch.Tensor:
        """Images at full size, or at `max_resolution` (then nothing above it runs).

        `lod` (default: the `lod` buffer) is the level of detail of progressive growing; with
        `max_resolution` M the effective lod is at least log2(R / M). `force_fp32` is accepted for
        the common interface (StyleGAN2's); this network has no float16 layers of its own.
        """
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise NetworkInputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        levels = len(self.resolutions) - 1
        top = levels if max_resolution is None else self._level_of(max_resolution)
        lod = _lod_value(lod, self.lod)

        if isinstance(lod, torch.Tensor):  # the official linear structure, in tensor arithmetic
            x = img = None
            for level in range(top + 1):
                block = self.block(level)
                x = block(x, ws, noise_mode)
                y = block.torgb(x)
                img = y if img is None else _lerp_clip(y, upscale2d(img), lod - (levels - level))
            return img

        # A Python lod: run up to the current resolution, blend with the one below while fading in.
        cur, frac = _static_lod(lod, levels, top)
        x = low = None
        for level in range(cur + 1):
            block = self.block(level)
            x = block(x, ws, noise_mode)
            if frac > 0 and level == cur - 1:
                low = block.torgb(x)
        img = self.block(cur).torgb(x)
        if low is not None:
            img = img + (upscale2d(low) - img) * frac
        return upscale2d(img, 2 ** (top - cur))

    def _level_of(self, resolution: int) -> int:
        if resolution not in self.resolutions:
            raise NetworkInputError(f"max_resolution must be a power of two from 4 to {self.img_resolution}, "
                                    f"got {resolution!r}")
        return self.resolutions.index(resolution)


class StyleGANGenerator(GeneratorBase):
    """G_style: `G(z, c)`, `G.mapping(z, c)` -> ws, `G.synthesis(ws)`, `G.run(latents)` (see base)."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, cfg.num_ws
        self.img_resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self.mapping = StyleGANMapping(cfg)
        self.synthesis = StyleGANSynthesis(cfg)

    @torch.no_grad()
    def run(self, latents: np.ndarray | torch.Tensor, labels=None, truncation_psi: float | None = None,
            truncation_cutoff: int | None = None, noise_mode: str = "const", batch_size: int = 8,
            device: torch.device | str | None = None, precision: str = "fp32") -> np.ndarray:
        """Fast mode; psi and cutoff default to the network's (0.7 on the first 8 layers officially)."""
        if truncation_psi is None:
            truncation_psi = 1.0 if self.config.truncation_psi is None else self.config.truncation_psi
        return super().run(latents, labels, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                           noise_mode=noise_mode, batch_size=batch_size, device=device, precision=precision)


# ----------------------------------------------------------------------------------------------
# Discriminator.

class StyleGANDiscriminatorBlock(nn.Module):
    """Resolution R >= 8: FromRGB, conv (nf(r-1)), blur, conv with 2x downsampling (nf(r-2))."""

    def __init__(self, cfg: StyleGANConfig, resolution: int):
        super().__init__()
        r = int(math.log2(resolution))
        self.resolution = resolution
        self.fused = cfg.fused(resolution)
        self.nonlinearity = cfg.nonlinearity
        gain = math.sqrt(2)
        self.fromrgb = EqualizedConv2d(cfg.img_channels, cfg.nf(r - 1), 1, gain=gain)
        self.conv0 = EqualizedConv2d(cfg.nf(r - 1), cfg.nf(r - 1), 3, gain=gain)
        self.blur = Blur2d(cfg.blur_filter) if cfg.blur_filter else None
        self.conv1 = EqualizedConv2d(cfg.nf(r - 1), cfg.nf(r - 2), 3, gain=gain)  # used with downsampling

    def from_rgb(self, img: torch.Tensor) -> torch.Tensor:
        return _act(self.fromrgb(img), self.nonlinearity, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _act(self.conv0(x), self.nonlinearity, inplace=True)
        if self.blur is not None:
            x = self.blur(x)
        x = conv2d_downscale2d(x, self.conv1.scaled_weight(x.dtype), self.fused)
        return _act(x.add_(self.conv1.scaled_bias(x.dtype)[None, :, None, None]), self.nonlinearity, inplace=True)


class StyleGANDiscriminatorEpilogue(nn.Module):
    """4x4: FromRGB, minibatch stddev, conv, dense, dense -> [N, max(c_dim, 1)] scores."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.resolution = 4
        self.nonlinearity = cfg.nonlinearity
        gain = math.sqrt(2)
        C = cfg.nf(1)
        self.fromrgb = EqualizedConv2d(cfg.img_channels, C, 1, gain=gain)
        use_mbstd = cfg.mbstd_group_size > 1
        self.mbstd = MinibatchStd(cfg.mbstd_group_size, cfg.mbstd_num_features) if use_mbstd else None
        self.conv = EqualizedConv2d(C + (cfg.mbstd_num_features if use_mbstd else 0), C, 3, gain=gain)
        self.fc = EqualizedLinear(C * 16, cfg.nf(0), gain=gain)
        self.out = EqualizedLinear(cfg.nf(0), max(cfg.c_dim, 1), gain=1.0)

    def from_rgb(self, img: torch.Tensor) -> torch.Tensor:
        return _act(self.fromrgb(img), self.nonlinearity, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = _act(self.conv(x), self.nonlinearity, inplace=True)
        x = _act(self.fc(x.flatten(1)), self.nonlinearity, inplace=True)
        return self.out(x)


class StyleGANDiscriminator(nn.Module):
    """D_basic: images [N, C, r, r] (r = the resolution, or any lower power of two) -> scores [N, 1]."""

    def __init__(self, cfg: StyleGANConfig):
        super().__init__()
        self.config = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.resolution, cfg.img_channels
        self.resolutions = [2 ** r for r in range(2, cfg.resolution_log2 + 1)]
        for res in reversed(self.resolutions[1:]):
            setattr(self, f"b{res}", StyleGANDiscriminatorBlock(cfg, res))
        self.b4 = StyleGANDiscriminatorEpilogue(cfg)
        self.register_buffer("lod", torch.zeros(()))

    def block(self, level: int) -> nn.Module:
        return getattr(self, f"b{self.resolutions[level]}")

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None,
                lod: float | torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        """Scores of images at the full resolution or any lower one (then the effective lod is at
        least log2(R / r)); `lod` defaults to the `lod` buffer. `force_fp32` is accepted for the
        common interface; this network has no float16 layers of its own."""
        if img.ndim != 4 or img.shape[1] != self.img_channels or img.shape[2] != img.shape[3] \
                or img.shape[2] not in self.resolutions:
            raise NetworkInputError(f"images must have shape [N, {self.img_channels}, r, r] with r a power of two "
                                    f"from 4 to {self.img_resolution}, got {tuple(img.shape)}")
        if self.c_dim and (c is None or c.shape != (img.shape[0], self.c_dim)):
            raise NetworkInputError(f"this discriminator is conditional: c must have shape [{img.shape[0]}, "
                                    f"{self.c_dim}], got {None if c is None else tuple(c.shape)}")
        levels = len(self.resolutions) - 1
        top = self.resolutions.index(img.shape[2])
        lod = _lod_value(lod, self.lod)
        img = _to_preferred_format(img, self.b4.conv.weight)

        if isinstance(lod, torch.Tensor):  # the official linear structure, in tensor arithmetic
            x = self.block(top).from_rgb(img)
            for level in range(top, 0, -1):
                x = self.block(level)(x)
                img = downscale2d(img)
                x = _lerp_clip(x, self.block(level - 1).from_rgb(img), lod - (levels - level))
        else:  # a Python lod: start at the current resolution, blend in the one below while fading in
            cur, frac = _static_lod(lod, levels, top)
            img = downscale2d(img, 2 ** (top - cur))
            x = self.block(cur).from_rgb(img)
            for level in range(cur, 0, -1):
                x = self.block(level)(x)
                if level == cur and frac > 0:
                    x = x + (self.block(level - 1).from_rgb(downscale2d(img)) - x) * frac
        scores = self.b4(x)
        if self.c_dim:  # LabelSwitch: the score of each image's own class
            scores = (scores * c.to(scores.dtype)).sum(dim=1, keepdim=True)
        return scores


register_architecture(StyleGANConfig, StyleGANGenerator, StyleGANDiscriminator)
