"""StyleGAN3: Karras et al., "Alias-Free Generative Adversarial Networks" (NeurIPS 2021), the -T
(translation-equivariant) and -R (rotation-equivariant) generators as NVIDIA's stylegan3 code builds
them, in pure PyTorch (no custom CUDA ops: it runs wherever PyTorch runs).

Generator
    z -> the StyleGAN2 mapping network (2 layers, w_avg_beta 0.998) -> 16 ws. ws[0] drives the
    Fourier-feature input: `freqs` (random, in a disc of radius bandwidth 2), `phases`, rotated and
    translated by an affine of w and by the user's inverse `transform` buffer, sampled on a grid with
    a margin of 10 pixels, then a learned channel mixing. ws[1..15] drive 15 layers: a modulated
    conv with full padding (3x3, or 1x1 for -R) whose input is scaled by the tracked magnitude
    (`magnitude_ema`), then filtered leaky ReLU (bias, upsample 2x or 4x through a Kaiser low-pass,
    lrelu * sqrt 2, clamp 256, low-pass and downsample). Cutoffs rise geometrically from 2 to
    resolution/2 over layers 0..12; the last two layers are critically sampled; the last is ToRGB
    (1x1, no demodulation, linear) and the image is scaled by 0.25.
Discriminator
    The StyleGAN2 discriminator (stylegan3's train.py uses networks_stylegan2.Discriminator), with
    its own capacity: -R doubles G's channel_base/channel_max but not D's.

State-dict names and stored values mirror stylegan3's `training/networks_stylegan3.py`
(`synthesis.input.freqs`, `synthesis.L10_1044_81.down_filter`, ...), so an official pickle's state
dict loads 1:1; see docs/networks.md (StyleGAN3) for what matches and what deviates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import nn

from facegan.errors import ConfigError, NetworkInputError
from facegan.networks.base import NOISE_MODES, GeneratorBase, running_average
from facegan.networks.config import NetworkConfig, register_architecture
from facegan.networks.stylegan2 import FullyConnectedLayer, MappingNetwork, StyleGAN2Config, StyleGAN2Discriminator
from facegan.nn.filter_design import design_lowpass_filter
from facegan.nn.filtered_lrelu import filtered_lrelu
from facegan.nn.precision import compute_dtype, fp16_enabled

CONFIGS = ("stylegan3-t", "stylegan3-r")


# ----------------------------------------------------------------------------------------------
# Configuration and the layer schedule.

@dataclass(frozen=True)
class StyleGAN3Config(NetworkConfig):
    """Generator (and discriminator) hyper-parameters, named as the official keyword arguments.
    Defaults: StyleGAN3-T at 1024x1024 (use `stylegan3_preset` for -R)."""

    arch = "stylegan3"

    resolution: int = 1024                # [img_resolution]
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2               # [mapping_kwargs.num_layers]
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998
    channel_base: int = 32768             # G's channels = rint(min(channel_base / 2 / cutoff, channel_max)).
    channel_max: int = 512
    num_layers: int = 14                  # Synthesis layers, not counting the input and ToRGB.
    num_critical: int = 2                 # Critically sampled layers at the end.
    first_cutoff: float = 2.0             # Cutoff of the first layer, f_{c,0}.
    first_stopband: float = 2 ** 2.1     # Minimum stopband of the first layer, f_{t,0}.
    last_stopband_rel: float = 2 ** 0.3  # Minimum stopband of the last layer, relative to its cutoff.
    margin_size: int = 10                 # Pixels beyond the image on each side in the non-critical layers.
    output_scale: float = 0.25            # Scale of the output image.
    num_fp16_res: int = 4                 # Layers with sampling rate * 2**num_fp16_res > resolution run in fp16 (CUDA).
    conv_clamp: float | None = 256        # Clamp of every layer's output, None = no clamp.
    conv_kernel: int = 3                  # 3 (-T) or 1 (-R).
    filter_size: int = 6                  # Taps of the low-pass filters per unit of up/down factor.
    lrelu_upsampling: int = 2             # The activation runs at this multiple of the sampling rate.
    use_radial_filters: bool = False      # Radial (jinc) down filters (-R).
    magnitude_ema_beta: float = 0.999     # Decay of the tracked input magnitude of every layer.
    # The discriminator (StyleGAN2's, with its own capacity).
    d_channel_base: int = 32768
    d_channel_max: int = 512
    d_num_fp16_res: int = 4
    d_conv_clamp: float | None = 256
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    d_cmap_dim: int | None = None
    d_mapping_layers: int = 8
    d_mapping_lr_multiplier: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution < 16:
            raise ConfigError(f"a StyleGAN3 network needs a resolution of at least 16, got {self.resolution}")
        if min(self.z_dim, self.w_dim, self.channel_base, self.channel_max, self.d_channel_base,
               self.d_channel_max) < 1:
            raise ConfigError("z_dim, w_dim and the channel bases and maxima must be positive")
        if self.mapping_layers < 1:
            raise ConfigError(f"mapping_layers must be >= 1, got {self.mapping_layers}")
        if not 0 <= self.num_critical < self.num_layers:
            raise ConfigError(f"num_critical must be in [0, num_layers), got {self.num_critical}")
        if self.conv_kernel not in (1, 3, 5):
            raise ConfigError(f"conv_kernel must be 1, 3 or 5, got {self.conv_kernel}")
        if self.conv_clamp is not None and self.conv_clamp <= 0:
            raise ConfigError(f"conv_clamp must be positive or None, got {self.conv_clamp}")
        if self.num_fp16_res < 0 or self.filter_size < 1 or self.lrelu_upsampling < 1 or self.margin_size < 0:
            raise ConfigError("num_fp16_res, filter_size, lrelu_upsampling and margin_size must be non-negative")
        if min(self.schedule.channels) < 1:
            raise ConfigError(f"channel_base {self.channel_base} leaves a layer without channels "
                              f"(channels {list(self.schedule.channels)})")

    @property
    def num_ws(self) -> int:
        return self.num_layers + 2

    @cached_property
    def schedule(self) -> LayerSchedule:
        return LayerSchedule.of(self)

    def discriminator_config(self) -> StyleGAN2Config:
        """The StyleGAN2 discriminator that stylegan3's train.py pairs with this generator."""
        return StyleGAN2Config(
            resolution=self.resolution, img_channels=self.img_channels, c_dim=self.c_dim,
            channel_base=self.d_channel_base, channel_max=self.d_channel_max,
            # More fp16 resolutions than the network has mean the same as all of them.
            num_fp16_res=min(self.d_num_fp16_res, int(math.log2(self.resolution)) - 1),
            conv_clamp=self.d_conv_clamp, mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels, d_cmap_dim=self.d_cmap_dim,
            d_mapping_layers=self.d_mapping_layers, d_mapping_lr_multiplier=self.d_mapping_lr_multiplier)


def stylegan3_preset(cfg: str, resolution: int = 1024, **overrides) -> StyleGAN3Config:
    """The official train.py configurations: 'stylegan3-t', or 'stylegan3-r' (1x1 convs, radial
    filters, G's channel_base and channel_max doubled; D keeps 32768/512)."""
    if cfg not in CONFIGS:
        raise ConfigError(f"unknown StyleGAN3 configuration {cfg!r}; known: {', '.join(CONFIGS)}")
    base = dict(resolution=resolution)
    if cfg == "stylegan3-r":
        base.update(conv_kernel=1, use_radial_filters=True, channel_base=65536, channel_max=1024)
    return StyleGAN3Config(**{**base, **overrides})


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer of the schedule (index 0..num_layers; the last is ToRGB)."""

    index: int
    name: str                    # L{index}_{out_size}_{out_channels}, the official module name.
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool


@dataclass(frozen=True)
class LayerSchedule:
    """The per-layer cutoffs f_c, minimum stopbands f_t, sampling rates s, transition half-widths
    f_h, sizes and channels of the synthesis network (paper section 3.2, official code)."""

    cutoffs: tuple[float, ...]
    stopbands: tuple[float, ...]
    sampling_rates: tuple[int, ...]
    half_widths: tuple[float, ...]
    sizes: tuple[int, ...]
    channels: tuple[int, ...]
    layers: tuple[LayerSpec, ...] = field(repr=False)

    @classmethod
    def of(cls, cfg: StyleGAN3Config) -> LayerSchedule:
        n = cfg.num_layers
        last_cutoff = cfg.resolution / 2
        last_stopband = last_cutoff * cfg.last_stopband_rel
        exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
        cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
        stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, cfg.resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + cfg.margin_size * 2
        sizes[-2:] = cfg.resolution
        channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
        channels[-1] = cfg.img_channels
        layers = []
        for i in range(n + 1):
            prev = max(i - 1, 0)
            layers.append(LayerSpec(
                index=i, name=f"L{i}_{int(sizes[i])}_{int(channels[i])}",
                in_channels=int(channels[prev]), out_channels=int(channels[i]),
                in_size=int(sizes[prev]), out_size=int(sizes[i]),
                in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[i]),
                in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[i]),
                in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[i]),
                is_torgb=i == n, is_critically_sampled=i >= n - cfg.num_critical,
                use_fp16=bool(rates[i] * 2 ** cfg.num_fp16_res > cfg.resolution)))
        return cls(tuple(float(c) for c in cutoffs), tuple(float(s) for s in stopbands),
                   tuple(int(r) for r in rates), tuple(float(h) for h in half_widths),
                   tuple(int(s) for s in sizes), tuple(int(c) for c in channels), tuple(layers))

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]


# ----------------------------------------------------------------------------------------------
# The input transform (gen_images.py's --translate / --rotate).

def make_transform(translate: tuple[float, float] = (0.0, 0.0), angle: float = 0.0) -> np.ndarray:
    """The 3x3 rotation (degrees) and translation of the output image, as NVIDIA's gen_images.py
    builds it; the generator's `transform` buffer holds its inverse (see `set_transform`)."""
    s, c = math.sin(math.radians(angle)), math.cos(math.radians(angle))
    return np.array([[c, s, translate[0]], [-s, c, translate[1]], [0.0, 0.0, 1.0]])


def set_transform(G: nn.Module, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> None:
    """Translate (in units of the image: 1 = the full width) and rotate (degrees) the images of a
    StyleGAN3 generator from now on, as gen_images.py does: write the inverse transform into
    G.synthesis.input.transform."""
    inp = getattr(getattr(G, "synthesis", None), "input", None)
    if not isinstance(inp, SynthesisInput):
        raise ConfigError("--translate and --rotate apply to StyleGAN3 networks only (they move the "
                          "Fourier-feature input, which earlier StyleGANs do not have)")
    m = np.linalg.inv(make_transform(translate, rotate))
    with torch.no_grad():
        inp.transform.copy_(torch.from_numpy(m))


def inverse_transform(translate: torch.Tensor, rotate: torch.Tensor) -> torch.Tensor:
    """inv(make_transform(translate, rotate)) in closed form from tensors (translate [2] in image
    widths, rotate [] in degrees): the matrix that set_transform writes, as a traceable function
    (the ONNX graph computes it from its translate and rotate inputs)."""
    a = torch.deg2rad(rotate)
    c, s = torch.cos(a), torch.sin(a)
    tx, ty = translate.unbind()
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, s * ty - c * tx,
                        s, c, -(s * tx + c * ty),
                        zero, zero, one]).reshape(3, 3)


def get_transform(G: nn.Module) -> tuple[tuple[float, float], float]:
    """The (translate, rotate) that the generator's `transform` buffer holds, as set_transform takes
    them; a buffer that is not the inverse of a rotation and a translation is refused."""
    if not is_stylegan3(G):
        raise ConfigError("translate and rotate apply to StyleGAN3 networks only")
    m = np.linalg.inv(G.synthesis.input.transform.detach().to("cpu", torch.float64).numpy())
    angle = math.degrees(math.atan2(m[0, 1], m[0, 0]))
    if not np.allclose(m, make_transform((m[0, 2], m[1, 2]), angle), atol=1e-5):
        raise ConfigError("the network's input transform is not a rotation and a translation "
                          f"(its inverse is {np.round(m, 4).tolist()})")
    return (float(m[0, 2]), float(m[1, 2])), angle


def is_stylegan3(G: nn.Module) -> bool:
    return isinstance(getattr(getattr(G, "synthesis", None), "input", None), SynthesisInput)


# ----------------------------------------------------------------------------------------------
# Layers.

def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, demodulate: bool = True, padding: int = 0,
                     input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN3's modulated convolution: the weight and the styles pre-normalised by their RMS
    (when demodulating), modulated, demodulated (eps 1e-8), scaled by input_gain per input channel,
    and run as one grouped convolution of the whole batch. In a traced graph (torch.export, the ONNX
    exporter), whose group count must not depend on N, the same sums are run in another order: the
    activations scaled by the styles, one ordinary convolution, the outputs scaled by the
    demodulation coefficients (StyleGAN2's fused_modconv=False)."""
    N = x.shape[0]
    O, I, kh, kw = w.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    if torch.compiler.is_compiling():
        # sum_{i,k} (s_i w_oik)^2 = sum_i s_i^2 sum_k w_oik^2: no per-sample weight is formed.
        dcoefs = (s.square() @ w.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt() if demodulate else None  # [N, O]
        gain = s if input_gain is None else s * input_gain
        y = torch.nn.functional.conv2d(x * gain.reshape(N, I, 1, 1).to(x.dtype), w.to(x.dtype), padding=padding)
        return y if dcoefs is None else y * dcoefs.reshape(N, O, 1, 1).to(y.dtype)
    w = w.unsqueeze(0) * s.reshape(N, 1, I, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    if input_gain is not None:
        w = w * input_gain.expand(N, I).reshape(N, 1, I, 1, 1)
    y = torch.nn.functional.conv2d(x.reshape(1, N * I, *x.shape[2:]), w.reshape(N * O, I, kh, kw).to(x.dtype),
                                   padding=padding, groups=N)
    return y.reshape(N, O, *y.shape[2:])


class SynthesisInput(nn.Module):
    """Fourier features: sin(2 pi (f . (x, y) + phase)) on the sampling grid, rotated and translated
    by an affine of w and by the user's inverse `transform`, then mixed by a learned matrix."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim, self.channels, self.size = w_dim, channels, size
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)  # uniform in the 2-D disc of radius 1
        freqs *= bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))   # The user's inverse transform of the image.
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        """w [N, w_dim] -> features [N, C, size, size]; `transform` [3, 3] replaces the buffer
        (the ONNX graph's translate/rotate inputs)."""
        N = w.shape[0]
        user = self.transform if transform is None else transform
        t = self.affine(w)                                   # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device, dtype=w.dtype).unsqueeze(0).repeat([N, 1, 1])
        m_r = eye.clone()                                    # inverse rotation of the image
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = eye                                            # inverse translation of the image
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = m_r @ m_t @ user.to(w.dtype).unsqueeze(0)
        freqs = self.freqs.to(w.dtype).unsqueeze(0)
        phases = self.phases.to(w.dtype).unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Dampen the out-of-band frequencies that a user transform may bring in.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # Sample positions (k - (size - 1) / 2) / sampling_rate, as affine_grid(align_corners=False) gives.
        grid = (torch.arange(self.size, device=w.device, dtype=w.dtype) - (self.size - 1) / 2) / self.sampling_rate
        gx, gy = grid.reshape(1, 1, -1, 1), grid.reshape(1, -1, 1, 1)
        x = gx * freqs[:, None, None, :, 0] + gy * freqs[:, None, None, :, 1]   # [N, H, W, C]
        x = x + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]
        x = x @ (self.weight.to(w.dtype) / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv (full padding, input scaled by the tracked magnitude), then filtered lrelu."""

    def __init__(self, spec: LayerSpec, w_dim: int, cfg: StyleGAN3Config, design_filters: bool = True):
        super().__init__()
        self.spec = spec
        self.is_torgb = spec.is_torgb
        self.use_fp16 = spec.use_fp16
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        self.in_size, self.out_size = spec.in_size, spec.out_size
        self.conv_kernel = 1 if spec.is_torgb else cfg.conv_kernel
        self.conv_clamp = cfg.conv_clamp
        self.magnitude_ema_beta = cfg.magnitude_ema_beta
        tmp_rate = max(spec.in_sampling_rate, spec.out_sampling_rate) * (1 if spec.is_torgb else cfg.lrelu_upsampling)
        self.affine = FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([spec.out_channels, spec.in_channels, self.conv_kernel,
                                                self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([spec.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up_factor = round(tmp_rate / spec.in_sampling_rate)
        self.down_factor = round(tmp_rate / spec.out_sampling_rate)
        if spec.in_sampling_rate * self.up_factor != tmp_rate or spec.out_sampling_rate * self.down_factor != tmp_rate:
            raise ConfigError(f"{spec.name}: sampling rates {spec.in_sampling_rate}, {spec.out_sampling_rate} "
                              f"do not divide the activation's rate {tmp_rate}")
        self.up_taps = cfg.filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        self.down_taps = cfg.filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        self.down_radial = cfg.use_radial_filters and not spec.is_critically_sampled
        # An importer copies the stored filters instead (design_filters=False leaves them zero, shaped).
        design = design_lowpass_filter if design_filters else _empty_filter
        self.register_buffer("up_filter", design(self.up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", design(self.down_taps, spec.out_cutoff, spec.out_half_width * 2,
                                                   tmp_rate, radial=self.down_radial))
        # Padding of the upsampled image so that the output has exactly out_size pixels (symmetric
        # interpretation: appendix C.3).
        pad_total = (spec.out_size - 1) * self.down_factor + 1
        pad_total -= (spec.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [pad_lo, pad_hi, pad_lo, pad_hi]

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = False, update_emas: bool = False,
                fp16_on_cpu: bool = False) -> torch.Tensor:
        magnitude_ema = self.magnitude_ema
        if update_emas:  # the official forward moves the EMA with its own samples, then uses it
            magnitude = x.detach().to(torch.float32).square().mean()
            magnitude_ema = running_average(self.magnitude_ema, magnitude, self.magnitude_ema_beta, update_emas,
                                            x.shape[0])
        input_gain = magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        fp16 = self.use_fp16 and not force_fp32 and (fp16_enabled(x.device) or fp16_on_cpu)
        dtype = torch.float16 if fp16 else compute_dtype(w.dtype)
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=input_gain)
        gain, slope = (1.0, 1.0) if self.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias.to(dtype), self.up_factor,
                              self.down_factor, self.padding, gain=gain, slope=slope, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"{self.spec.name}: {self.in_channels}->{self.out_channels}, {self.in_size}->{self.out_size}, "
                f"up {self.up_factor}, down {self.down_factor}, fp16 {self.use_fp16}")


def _empty_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    if numtaps == 1:
        return None
    return torch.zeros([numtaps, numtaps] if radial else [numtaps])


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: StyleGAN3Config, design_filters: bool = True):
        super().__init__()
        sched = cfg.schedule
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.resolution, cfg.img_channels
        self.num_ws = cfg.num_ws
        self.output_scale = cfg.output_scale
        self.input = SynthesisInput(cfg.w_dim, sched.channels[0], sched.sizes[0], sched.sampling_rates[0],
                                    sched.cutoffs[0])
        self.layer_names = sched.names
        for spec in sched.layers:
            setattr(self, spec.name, SynthesisLayer(spec, cfg.w_dim, cfg, design_filters))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", update_emas: bool = False,
                force_fp32: bool = False, fp16_on_cpu: bool = False,
                transform: torch.Tensor | None = None) -> torch.Tensor:
        """ws [N, 16, w_dim] -> images [N, C, res, res] in about [-1, 1]. `noise_mode` is accepted for
        the common interface and ignored: StyleGAN3 has no noise inputs. fp16_on_cpu runs the fp16
        layers in float16 on any device (tests), not only on CUDA as the official code does.
        `transform` (the inverse 3x3, as set_transform writes it) replaces the input's buffer."""
        if noise_mode not in NOISE_MODES:
            raise NetworkInputError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise NetworkInputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        dtype = compute_dtype(self.input.weight.dtype)  # float32; float64 in a float64 network
        ws = ws.to(dtype).unbind(dim=1)
        x = self.input(ws[0], transform)
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, force_fp32=force_fp32, update_emas=update_emas, fp16_on_cpu=fp16_on_cpu)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(dtype)


class StyleGAN3Generator(GeneratorBase):
    def __init__(self, cfg: StyleGAN3Config, design_filters: bool = True):
        super().__init__()
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg, design_filters)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, num_layers=cfg.mapping_layers,
                                      lr_multiplier=cfg.mapping_lr_multiplier, w_avg_beta=cfg.w_avg_beta)


def stylegan3_discriminator(cfg: StyleGAN3Config) -> StyleGAN2Discriminator:
    return StyleGAN2Discriminator(cfg.discriminator_config())


register_architecture(StyleGAN3Config, StyleGAN3Generator, stylegan3_discriminator)
