"""StyleGAN2: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020), as
stylegan2-ada-pytorch builds it (config F and the ADA paper's configs).

Generator
    z [N, 512] (+ an embedded, normalised label) -> normalise 2nd moment -> mapping MLP (8 or 2
    layers, lrelu, lr multiplier 0.01) -> w, broadcast to num_ws = 2 log2(resolution) - 2 and
    truncated towards the tracked w_avg. The synthesis starts from a learned 4x4 constant; every
    block is two modulated 3x3 convolutions (the first up-samples 2x: transposed conv + [1,3,3,1]
    FIR), each followed by noise (a per-pixel map times a learned scalar strength), bias, lrelu
    (gain sqrt 2) and an optional clamp. 'skip' (config F): every block adds its ToRGB (a 1x1
    modulated conv without demodulation) to the up-sampled image of the block below.
Discriminator
    'resnet' (config F): FromRGB at the top resolution, then blocks of conv, conv + 2x down-sampling
    with a 1x1 down-sampling skip, summed with gain sqrt(1/2); at 4x4 minibatch stddev, conv, fc,
    out. Conditional networks project the output onto a mapped label embedding (cmap).

Channels: min(channel_base // resolution, channel_max). Mixed precision: on CUDA the
`num_fp16_res` highest resolutions run in float16 with activations clamped to +-conv_clamp (the
clamp applies in float32 too, as the official code does). On CPU every layer runs in float32,
unless `facegan.nn.precision.cpu_fp16()` asks for the CUDA arithmetic (for tests and checks).
A float64 network (`G.double()`) computes in float64 throughout, as a reference.

State-dict names and stored values mirror stylegan2-ada-pytorch exactly (`mapping.fc0.weight`,
`synthesis.b64.conv0.affine.bias`, `b4.mbstd`, ...; weights stored as randn / lr_multiplier,
affine biases initialised to 1), so a snapshot's state dict loads 1:1; see docs/networks.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from facegan.errors import ConfigError, NetworkInputError
from facegan.networks.base import NOISE_MODES, GeneratorBase, running_average, truncate
from facegan.networks.config import NetworkConfig, register_architecture
from facegan.nn.adain import pixel_norm
from facegan.nn.equalized import EqualizedConv2d, EqualizedLinear
from facegan.nn.mbstd import MinibatchStd
from facegan.nn.modulated import (
    LRELU_GAIN,
    WeightCache,
    bias_act,
    conv2d_down2,
    conv2d_up2,
    modulated_conv2d,
)
from facegan.nn.precision import compute_dtype, fp16_enabled
from facegan.nn.resample import downsample2d, setup_filter, upsample2d

ARCHITECTURES = ("orig", "skip", "resnet")


# ----------------------------------------------------------------------------------------------
# Configuration.

@dataclass(frozen=True)
class StyleGAN2Config(NetworkConfig):
    """Generator and discriminator hyper-parameters (official keyword names in brackets where
    ours differ). Defaults are config F at 1024x1024 in full precision, as the TF release."""

    arch = "stylegan2"

    resolution: int = 1024                     # [img_resolution]
    z_dim: int = 512                           # Input latent (Z) dimensionality.
    w_dim: int = 512                           # Intermediate latent (W) dimensionality.
    mapping_layers: int = 8                    # [mapping_kwargs.num_layers] Layers of the mapping MLP.
    mapping_lr_multiplier: float = 0.01        # [mapping_kwargs.lr_multiplier]
    mapping_embed_features: int | None = None  # Label embedding size, None = w_dim.
    mapping_layer_features: int | None = None  # Hidden width of the mapping, None = w_dim.
    w_avg_beta: float = 0.995                  # Decay of the tracked mean of w.
    channel_base: int = 32768                  # Channels = min(channel_base // resolution, channel_max).
    channel_max: int = 512                     # Most channels of any layer.
    num_fp16_res: int = 0                      # Run the N highest resolutions in float16 (CUDA only).
    conv_clamp: float | None = None            # Clamp activations to +-X, None = no clamp (ADA configs: 256).
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)  # FIR taps of every up/down-sampling.
    use_noise: bool = True                     # Per-pixel noise inputs.
    g_architecture: str = "skip"               # [synthesis_kwargs.architecture] orig, skip or resnet.
    d_architecture: str = "resnet"             # [D architecture] orig, skip or resnet.
    mbstd_group_size: int | None = 4           # Minibatch stddev group, None = whole minibatch.
    mbstd_num_channels: int = 1                # Minibatch stddev features, 0 = off.
    d_cmap_dim: int | None = None              # Conditional D: label embedding size, None = channels at 4x4.
    d_mapping_layers: int = 8                  # Conditional D: layers of its label mapping (TF pickles: 0).
    d_mapping_lr_multiplier: float = 0.01      # Conditional D: lr multiplier of its mapping (TF pickles: 0.1).
    fp16_channels_last: bool = False           # channels_last memory format in the float16 layers.

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("g_architecture", "d_architecture"):
            if getattr(self, name) not in ARCHITECTURES:
                raise ConfigError(f"{name} must be one of {ARCHITECTURES}, got {getattr(self, name)!r}")
        if self.z_dim < 1 or self.w_dim < 1 or self.channel_base < 1 or self.channel_max < 1:
            raise ConfigError("z_dim, w_dim, channel_base and channel_max must be positive")
        if self.mapping_layers < 1:
            raise ConfigError(f"mapping_layers must be >= 1, got {self.mapping_layers}")
        if not 0 <= self.num_fp16_res <= self.resolution_log2 - 1:
            raise ConfigError(f"num_fp16_res must be in [0, {self.resolution_log2 - 1}], got {self.num_fp16_res}")
        if self.conv_clamp is not None and self.conv_clamp <= 0:
            raise ConfigError(f"conv_clamp must be positive or None, got {self.conv_clamp}")
        if self.mbstd_num_channels and self.channels(4) % self.mbstd_num_channels:
            raise ConfigError("mbstd_num_channels must divide the channels at 4x4")

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_ws(self) -> int:
        return 2 * self.resolution_log2 - 2

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def fp16_resolution(self) -> int:
        """The lowest resolution that runs in float16 (when num_fp16_res > 0, on CUDA)."""
        return max(2 ** (self.resolution_log2 + 1 - self.num_fp16_res), 8)


# ----------------------------------------------------------------------------------------------
# Layers.

class FullyConnectedLayer(EqualizedLinear):
    """nn.equalized's dense layer (stored as randn / lr_multiplier) with the bias and activation
    fused after it, as the official layer: lrelu's gain sqrt(2) follows the activation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__(in_features, out_features, bias=bias, bias_init=bias_init, lr_multiplier=lr_multiplier)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Cast, then scale: the official order (it rounds differently from scaled_weight() when x is
        # bfloat16 or float16, e.g. under autocast after the first mapping layer).
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        x = x.matmul(w.t())
        return bias_act(x, b, self.activation, LRELU_GAIN if self.activation == "lrelu" else 1.0)


class Conv2dLayer(EqualizedConv2d):
    """nn.equalized's convolution with optional 2x up/down-sampling (FIR), and the bias, activation,
    gain and clamp fused after it, as the official layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.act_gain = LRELU_GAIN if activation == "lrelu" else 1.0

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.scaled_weight(x.dtype)
        if self.up == 2:
            x = conv2d_up2(x, w, self.resample_filter)
        elif self.down == 2:
            x = conv2d_down2(x, w, self.resample_filter)
        else:
            x = torch.nn.functional.conv2d(x, w, padding=w.shape[-1] // 2)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.scaled_bias(), self.activation, self.act_gain * gain, clamp)


# ----------------------------------------------------------------------------------------------
# Mapping network.

class MappingNetwork(nn.Module):
    def __init__(
        self,
        z_dim: int,                        # Input latent size, 0 = no latent (the conditional D's label mapping).
        c_dim: int,                        # Label size, 0 = no label.
        w_dim: int,                        # Output size.
        num_ws: int | None,                # Number of ws to broadcast to, None = do not broadcast.
        num_layers: int = 8,               # Layers of the MLP.
        embed_features: int | None = None, # Label embedding size, None = w_dim.
        layer_features: int | None = None, # Hidden width, None = w_dim.
        lr_multiplier: float = 0.01,       # Learning-rate multiplier of the layers.
        w_avg_beta: float | None = 0.995,  # Decay of the tracked mean of w, None = do not track.
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                         lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi=1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        x = None
        if self.z_dim:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise NetworkInputError(f"z must have shape [N, {self.z_dim}], "
                                        f"got {None if z is None else tuple(z.shape)}")
            x = pixel_norm(z.to(compute_dtype(z.dtype)))  # the official normalize_2nd_moment
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise NetworkInputError(f"this network is conditional: c must have shape [N, {self.c_dim}]")
            y = pixel_norm(self.embed(c.to(compute_dtype(c.dtype))))
            x = y if x is None else torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas and self.w_avg_beta is not None:
            running_average(self.w_avg, x.detach().to(compute_dtype(x.dtype)).mean(dim=0), self.w_avg_beta,
                            update_emas, x.shape[0])
        if self.num_ws is None:
            return x
        # A copy per layer (as the official `repeat`), not a broadcast view: callers mix styles in place.
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if isinstance(truncation_psi, (int, float)) and truncation_psi == 1 and truncation_cutoff is None:
            return x
        return truncate(x, self.w_avg, truncation_psi, truncation_cutoff)


# ----------------------------------------------------------------------------------------------
# Synthesis network.

class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally up-sampling), noise, bias, lrelu, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: int = 1,
                 use_noise: bool = True, resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self._cache = WeightCache()

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused: bool = False,
                gain: float = 1.0, inplace_input: bool = False) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) \
                * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        prepared = {"weight": self.weight}
        # The cache is Python state keyed on storage pointers: under torch.compile it would make every
        # layer recompile (and eager calls in between invalidate the guards); inductor folds the same
        # weight-only work into its graph instead.
        if not torch.is_grad_enabled() and not fused and not torch.compiler.is_compiling():
            dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
            prepared = self._cache.get(self.weight, dtype, transpose=self.up == 2)
            x = x.to(dtype)
        x = modulated_conv2d(x, styles=styles, up=self.up, resample_filter=self.resample_filter, fused=fused,
                             noise=noise, inplace_input=inplace_input, **prepared)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, "lrelu", LRELU_GAIN * gain, clamp, inplace=not torch.is_grad_enabled())


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation, bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, "linear", 1.0, self.conv_clamp, inplace=not torch.is_grad_enabled())


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, use_fp16: bool = False, fp16_channels_last: bool = False,
                 use_noise: bool = True):
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = self.num_torgb = 0
        layer = dict(w_dim=w_dim, resolution=resolution, use_noise=use_noise, resample_filter=resample_filter,
                     conv_clamp=conv_clamp)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str = "random", fused: bool | None = None,
                force_fp32: bool = False):
        w_iter = iter(ws.unbind(dim=1))
        use_fp16 = self.use_fp16 and not force_fp32 and fp16_enabled(ws.device)
        dtype = torch.float16 if use_fp16 else ws.dtype  # ws: float32 (float64 in a float64 network)
        # channels_last: optional in float16 on CUDA (as official); always on CPU, where its
        # convolutions run up to twice as fast (docs/benchmarks.md).
        cpu = ws.device.type == "cpu"
        memory_format = torch.channels_last if (self.channels_last and use_fp16) or cpu else torch.contiguous_format
        if fused is None:  # the official choice (fused when not training, in fp32 or at batch 1), on CUDA
            fused = (not self.training) and (dtype != torch.float16 or ws.shape[0] == 1) \
                and fp16_enabled(ws.device)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
        # Without autograd, a layer may scale its input in place when nothing else reads it: the
        # block's input after the previous ToRGB (orig/skip), and conv0's output.
        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), noise_mode, fused)  # x is an expanded view of const: not in place
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode, fused)
            x = self.conv1(x, next(w_iter), noise_mode, fused, gain=math.sqrt(0.5), inplace_input=True)
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), noise_mode, fused, inplace_input=True)
            x = self.conv1(x, next(w_iter), noise_mode, fused, inplace_input=True)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused).to(dtype=ws.dtype, memory_format=torch.contiguous_format)
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.resolution, cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(2, cfg.resolution_log2 + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                cfg.channels(res // 2) if res > 4 else 0, cfg.channels(res), w_dim=cfg.w_dim, resolution=res,
                img_channels=cfg.img_channels, is_last=res == cfg.resolution, architecture=cfg.g_architecture,
                resample_filter=cfg.resample_filter, conv_clamp=cfg.conv_clamp,
                use_fp16=res >= cfg.fp16_resolution and cfg.num_fp16_res > 0,
                fp16_channels_last=cfg.fp16_channels_last, use_noise=cfg.use_noise)
            self.num_ws += block.num_conv + (block.num_torgb if res == cfg.resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", update_emas: bool = False,
                fused: bool | None = None, force_fp32: bool = False) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise NetworkInputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(compute_dtype(ws.dtype))
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused=fused, force_fp32=force_fp32)
        return img


class StyleGAN2Generator(GeneratorBase):
    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, num_layers=cfg.mapping_layers,
                                      embed_features=cfg.mapping_embed_features,
                                      layer_features=cfg.mapping_layer_features,
                                      lr_multiplier=cfg.mapping_lr_multiplier, w_avg_beta=cfg.w_avg_beta)


# ----------------------------------------------------------------------------------------------
# Discriminator.

class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False, fp16_channels_last: bool = False):
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, force_fp32: bool = False):
        device = (x if x is not None else img).device
        use_fp16 = self.use_fp16 and not force_fp32 and fp16_enabled(device)
        dtype = torch.float16 if use_fp16 else compute_dtype((x if x is not None else img).dtype)
        memory_format = torch.channels_last if self.channels_last and use_fp16 else torch.contiguous_format
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=math.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        return x, img


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, 1, activation="lrelu")
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap):
        dtype = compute_dtype(x.dtype)
        x = x.to(dtype=dtype, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(dtype))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class StyleGAN2Discriminator(nn.Module):
    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.config = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.resolution, cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(cfg.resolution_log2, 2, -1)]
        cmap_dim = (cfg.channels(4) if cfg.d_cmap_dim is None else cfg.d_cmap_dim) if cfg.c_dim else 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                cfg.channels(res) if res < cfg.resolution else 0, cfg.channels(res), cfg.channels(res // 2),
                resolution=res, img_channels=cfg.img_channels, architecture=cfg.d_architecture,
                resample_filter=cfg.resample_filter, conv_clamp=cfg.conv_clamp,
                use_fp16=res >= cfg.fp16_resolution and cfg.num_fp16_res > 0,
                fp16_channels_last=cfg.fp16_channels_last)
            setattr(self, f"b{res}", block)
        if cfg.c_dim:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, num_ws=None, num_layers=cfg.d_mapping_layers,
                                          lr_multiplier=cfg.d_mapping_lr_multiplier, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim, 4, cfg.img_channels,
                                        architecture=cfg.d_architecture, mbstd_group_size=cfg.mbstd_group_size,
                                        mbstd_num_channels=cfg.mbstd_num_channels, conv_clamp=cfg.conv_clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, self.img_resolution, self.img_resolution):
            raise NetworkInputError(f"D expects images [N, {self.img_channels}, {self.img_resolution}, "
                                    f"{self.img_resolution}], got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim else None
        return self.b4(x, img, cmap)


register_architecture(StyleGAN2Config, StyleGAN2Generator, StyleGAN2Discriminator)
