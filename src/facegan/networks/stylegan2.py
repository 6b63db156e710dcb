"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN") as
stylegan2-ada-pytorch builds it: the generator and discriminator of `--cfg stylegan2/paper*/auto/cifar`.

Generator: z (and label c) -> mapping MLP (lr multiplier 0.01, tracked mean `w_avg`) -> ws
[N, num_ws, w_dim] -> synthesis: a learned 4x4 constant, then per resolution a block of two
modulated/demodulated 3x3 convolutions (the first upsamples 2x through a transposed convolution
and the [1,3,3,1] FIR filter), per-pixel noise with a learned strength, and a ToRGB layer whose
outputs are upsampled and summed (the "skip" architecture; "orig" and "resnet" as in the paper's
Table 1). Discriminator: FromRGB, residual blocks of two 3x3 convolutions (the second downsamples),
minibatch standard deviation, a 3x3 conv, two dense layers; a conditional D projects its output on
a mapped label embedding. Channels per resolution: min(channel_base // res, channel_max).

Weights are stored exactly as the official files store them (randn / lr_multiplier, run-time
equalised learning rate, affine biases starting at 1, ...), under the official names, so that a
stylegan2-ada-pytorch state dict loads 1:1 (`facegan.networks.load_state_strict`). The name table
is in docs/networks.md and `state_dict_names()` below lists it for any configuration.

Tensor names (res = 4, 8, ..., resolution; "b4" is the first block; [..] = present only when ...):

    Generator G                                           Discriminator D
    mapping.embed.{weight,bias}       [c_dim > 0]         b{res}.fromrgb.{weight,bias,resample_filter}
    mapping.fc{i}.{weight,bias}       i < mapping_layers                     [res = resolution or arch skip]
    mapping.w_avg                                         b{res}.conv0.{weight,bias,resample_filter}
    synthesis.b{res}.resample_filter                      b{res}.conv1.{weight,bias,resample_filter}
    synthesis.b4.const                                    b{res}.skip.{weight,resample_filter} [resnet]
    synthesis.b{res}.conv0.*          res > 4             b{res}.resample_filter      (res > 4)
    synthesis.b{res}.conv1.*                              b4.fromrgb.{weight,bias,resample_filter} [skip]
    synthesis.b{res}.torgb.{weight,bias,affine.weight,    b4.conv.{weight,bias,resample_filter}
        affine.bias}                  [skip, or last]     b4.fc.{weight,bias}, b4.out.{weight,bias}
    synthesis.b{res}.skip.{weight,resample_filter}        mapping.embed.{weight,bias}  [c_dim > 0]
                                      [resnet, res > 4]   mapping.fc{i}.{weight,bias}  [c_dim > 0]
    conv0/conv1 = {weight, noise_strength [use_noise], bias, resample_filter,
                   noise_const [use_noise], affine.weight, affine.bias}

Precision (the `precision` argument of synthesis and D): "auto" = the official policy (fp16 for the
`num_fp16_res` highest resolutions on CUDA, fp32 elsewhere; always fp32 on CPU, where the official
code would fail), "fp32", or "bf16" (every block in bfloat16; mapping, styles, demodulation and the
RGB sum stay fp32). See docs/networks.md for the measured deviations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from facegan.errors import ConfigError
from facegan.networks.base import NOISE_MODES, GeneratorBase, truncate
from facegan.networks.config import NetworkConfig, register_architecture
from facegan.nn.bias_act import ACTIVATION_GAINS, activate, bias_act, normalize_2nd_moment
from facegan.nn.conv_resample import conv2d_resample
from facegan.nn.equalized import EqualizedConv2d, EqualizedLinear
from facegan.nn.mbstd import MinibatchStd
from facegan.nn.modulated import modulated_conv2d
from facegan.nn.resample import downsample2d, setup_filter, upsample2d

ARCHITECTURES = ("orig", "skip", "resnet")
PRECISIONS = ("auto", "fp32", "bf16")


# ----------------------------------------------------------------------------------------------------
# Configuration.

@dataclass(frozen=True)
class StyleGAN2Config(NetworkConfig):
    """The hyper-parameters of G and D. Defaults are those of stylegan2-ada-pytorch's network classes;
    `facegan.networks.stylegan2_presets.stylegan2_preset` gives the values of the official `--cfg` presets."""

    arch = "stylegan2"

    resolution: int = 1024                     # Output (G) and input (D) resolution.
    z_dim: int = 512                           # Input latent (Z) dimensionality.
    w_dim: int = 512                           # Intermediate latent (W) dimensionality.
    # Mapping network.
    mapping_layers: int = 8                    # Fully connected layers (8 in config F / paper*, 2 in auto / cifar).
    mapping_embed_features: int | None = None  # Label embedding size, None = w_dim.
    mapping_layer_features: int | None = None  # Features of the hidden mapping layers, None = w_dim.
    mapping_lr_multiplier: float = 0.01        # Learning-rate multiplier of the mapping layers.
    w_avg_beta: float = 0.995                  # Decay of the tracked mean of w (truncation centre).
    # Both networks.
    channel_base: int = 32768                  # Channels at resolution res = min(channel_base // res, channel_max).
    channel_max: int = 512                     # Most channels of any layer.
    activation: str = "lrelu"                  # Nonlinearity: 'lrelu' (slope 0.2), 'relu' or 'linear'.
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)  # FIR filter taps for up/down-sampling.
    conv_clamp: float | None = None            # Clamp conv outputs to +-X (the presets: 256), None = no clamp.
    num_fp16_res: int = 0                      # fp16 for the N highest resolutions on CUDA (the presets: 4).
    fp16_channels_last: bool = False           # channels_last memory format in the fp16 blocks (--nhwc).
    # Synthesis network.
    architecture: str = "skip"                 # Generator architecture: 'orig', 'skip' or 'resnet'.
    use_noise: bool = True                     # Per-pixel noise inputs?
    # Discriminator.
    d_architecture: str = "resnet"             # Discriminator architecture: 'orig', 'skip' or 'resnet'.
    mbstd_group_size: int | None = 4           # Minibatch-stddev group size, None = the whole minibatch.
    mbstd_num_channels: int = 1                # Minibatch-stddev features, 0 = no minibatch-stddev layer.
    cmap_dim: int | None = None                # Mapped label size of a conditional D, None = channels at 4x4.
    d_mapping_layers: int = 8                  # Layers of the conditional D's label mapping.
    d_mapping_lr_multiplier: float = 0.01      # Their learning-rate multiplier.
    freeze_layers: int = 0                     # Freeze-D: the first N D layers are buffers, not parameters.

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("architecture", "d_architecture"):
            if getattr(self, name) not in ARCHITECTURES:
                raise ConfigError(f"{name} must be one of {ARCHITECTURES}, got {getattr(self, name)!r}")
        if self.activation not in ACTIVATION_GAINS:
            raise ConfigError(f"activation must be one of {tuple(ACTIVATION_GAINS)}, got {self.activation!r}")
        positive = ("z_dim", "w_dim", "channel_base", "channel_max")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.mapping_layers < 1:
            raise ConfigError(f"mapping_layers must be >= 1, got {self.mapping_layers}")
        if self.d_mapping_layers < 0 or self.num_fp16_res < 0 or self.freeze_layers < 0:
            raise ConfigError("d_mapping_layers, num_fp16_res and freeze_layers must be >= 0")
        if self.channel_base // self.resolution < 1:
            raise ConfigError(f"channel_base {self.channel_base} gives no channels at resolution {self.resolution}")
        if self.mbstd_group_size is not None and self.mbstd_group_size < 1:
            raise ConfigError(f"mbstd_group_size must be >= 1 or None, got {self.mbstd_group_size}")
        if self.conv_clamp is not None and self.conv_clamp <= 0:
            raise ConfigError(f"conv_clamp must be positive or None, got {self.conv_clamp}")
        if len(self.resample_filter) < 1:
            raise ConfigError("resample_filter needs at least one tap")

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    def channels(self, res: int) -> int:
        """Feature maps at resolution `res`: min(channel_base // res, channel_max)."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def fp16_resolution(self) -> int:
        """Blocks at this resolution and above run in fp16 (on CUDA, precision 'auto')."""
        return max(2 ** (self.resolution_log2 + 1 - self.num_fp16_res), 8)

    @property
    def num_ws(self) -> int:
        """Per-layer ws: two per block from 8x8 up, one for the 4x4 block, one for the last ToRGB."""
        return 2 * self.resolution_log2 - 2


# ----------------------------------------------------------------------------------------------------
# Layers.

class FullyConnectedLayer(EqualizedLinear):
    """Equalised-lr dense layer followed by bias + activation (with its default gain)."""

    def __init__(
        self,
        in_features: int,            # Number of input features.
        out_features: int,           # Number of output features.
        bias: bool = True,           # Learn an additive bias?
        activation: str = "linear",  # 'linear', 'relu' or 'lrelu'.
        lr_multiplier: float = 1.0,  # Learning-rate multiplier.
        bias_init: float = 0.0,      # Initial value of the stored bias.
    ):
        super().__init__(in_features, out_features, bias=bias, bias_init=bias_init, lr_multiplier=lr_multiplier)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation == "linear":
            return super().forward(x)
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = x.matmul(w.t())
        b = None if self.bias is None else self.bias * self.bias_gain
        return bias_act(x, b, act=self.activation)


class Conv2dLayer(EqualizedConv2d):
    """Equalised-lr convolution with optional FIR up/down-sampling, then bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,                     # Number of input channels.
        out_channels: int,                    # Number of output channels.
        kernel_size: int,                     # Width and height of the kernel.
        bias: bool = True,                    # Learn an additive bias?
        activation: str = "linear",           # 'linear', 'relu' or 'lrelu'.
        up: int = 1,                          # Integer upsampling factor.
        down: int = 1,                        # Integer downsampling factor.
        resample_filter=(1, 3, 3, 1),         # FIR filter taps for resampling.
        conv_clamp: float | None = None,      # Clamp the output to +-X, None = no clamp.
        trainable: bool = True,               # False = store weight and bias as buffers (Freeze-D).
    ):
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATION_GAINS[activation]
        if not trainable:  # same names and values, but not parameters
            weight, b = self.weight.data, None if self.bias is None else self.bias.data
            del self.weight, self.bias
            self.register_buffer("weight", weight)
            self.register_buffer("bias", b)
        self.register_buffer("resample_filter", setup_filter(resample_filter))

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = conv2d_resample(x, self.scaled_weight(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1), bias=self.bias)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, None, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", activation={self.activation}, up={self.up}, down={self.down}"


class MappingNetwork(nn.Module):
    """z (+ label embedding) -> w, broadcast to num_ws layers, with the tracked mean w_avg and truncation."""

    def __init__(
        self,
        z_dim: int,                         # Input latent (Z) dimensionality, 0 = no latent (D's label mapping).
        c_dim: int,                         # Conditioning label (C) dimensionality, 0 = no label.
        w_dim: int,                         # Intermediate latent (W) dimensionality.
        num_ws: int | None,                 # Number of ws to output, None = do not broadcast.
        num_layers: int = 8,                # Number of mapping layers.
        embed_features: int | None = None,  # Label embedding dimensionality, None = w_dim.
        layer_features: int | None = None,  # Hidden layer features, None = w_dim.
        activation: str = "lrelu",          # Activation of every layer.
        lr_multiplier: float = 0.01,        # Learning-rate multiplier of the layers.
        w_avg_beta: float | None = 0.995,   # Decay of the tracked mean of w, None = do not track.
    ):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            layer = FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi=1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        # Normalise and concatenate the inputs.
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must have shape [N, {self.z_dim}], got {None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this network is conditional: c must have shape [N, {self.c_dim}], "
                                 f"got {None if c is None else tuple(c.shape)}")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y

        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)

        # Track the mean of w (training only: the loss asks for it).
        if update_emas and self.w_avg_beta is not None and self.num_ws is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1 and truncation_cutoff is None):
            if self.w_avg_beta is None:
                raise ConfigError("this mapping network tracks no w_avg: it cannot truncate")
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling), noise, bias, activation, clamp."""

    def __init__(
        self,
        in_channels: int,                # Number of input channels.
        out_channels: int,               # Number of output channels.
        w_dim: int,                      # Intermediate latent (W) dimensionality.
        resolution: int,                 # Resolution of this layer's output.
        kernel_size: int = 3,            # Convolution kernel size.
        up: int = 1,                     # Integer upsampling factor.
        use_noise: bool = True,          # Per-pixel noise input?
        activation: str = "lrelu",       # 'linear', 'relu' or 'lrelu'.
        resample_filter=(1, 3, 3, 1),    # FIR filter taps for upsampling.
        conv_clamp: float | None = None, # Clamp the output to +-X, None = no clamp.
    ):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATION_GAINS[activation]
        # The kernel is stored as N(0, 1) with no equalisation gain: demodulation normalises it anyway.
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        in_res = self.resolution // self.up
        if x.shape[1:] != (self.weight.shape[1], in_res, in_res):
            raise ValueError(f"SynthesisLayer expects [N, {self.weight.shape[1]}, {in_res}, {in_res}], "
                             f"got {tuple(x.shape)}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            noise = noise * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength

        # act(conv + noise + b) * g == act(g * conv + g * noise + g * b): the gain rides on the modulation.
        g = self.act_gain * gain
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv, gain=g, bias=self.bias * g)
        inplace = not (torch.is_grad_enabled() and x.requires_grad)
        x = activate(x, self.activation, inplace=inplace)
        if self.conv_clamp is not None:  # the clamp scales with the layer gain, not with the activation gain
            c = self.conv_clamp * gain
            x = x.clamp_(-c, c) if inplace else x.clamp(-c, c)
        return x

    def extra_repr(self) -> str:
        o, i = self.weight.shape[:2]
        return f"{i}, {o}, resolution={self.resolution}, up={self.up}, activation={self.activation}"


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to RGB, without demodulation; bias and clamp, no activation."""

    def __init__(
        self,
        in_channels: int,                # Number of input channels.
        out_channels: int,               # Number of output (colour) channels.
        w_dim: int,                      # Intermediate latent (W) dimensionality.
        kernel_size: int = 1,            # Convolution kernel size.
        conv_clamp: float | None = None, # Clamp the output to +-X, None = no clamp.
    ):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv, bias=self.bias)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: [const or conv0 (up)], conv1, [torgb], [skip]."""

    def __init__(
        self,
        in_channels: int,                # Input channels, 0 = the first (4x4) block.
        out_channels: int,               # Output channels.
        w_dim: int,                      # Intermediate latent (W) dimensionality.
        resolution: int,                 # Resolution of this block.
        img_channels: int,               # Number of output colour channels.
        is_last: bool,                   # The last block (it always has a ToRGB layer)?
        architecture: str = "skip",      # 'orig', 'skip' or 'resnet'.
        resample_filter=(1, 3, 3, 1),    # FIR filter taps.
        conv_clamp: float | None = None, # Clamp conv outputs to +-X, None = no clamp.
        use_fp16: bool = False,          # fp16 on CUDA (precision 'auto')?
        fp16_channels_last: bool = False,  # channels_last in fp16?
        **layer_kwargs,                  # use_noise, activation for SynthesisLayer.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, dtype: torch.dtype,
                memory_format: torch.memory_format, noise_mode: str = "random",
                fused_modconv: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = x.to(memory_format=memory_format)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        # The skip architecture sums the upsampled RGB of the previous block with this block's ToRGB, in fp32.
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, img_channels, resolution, resolution] in about [-1, 1]."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(2, cfg.resolution_log2 + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                cfg.channels(res // 2) if res > 4 else 0, cfg.channels(res), w_dim=cfg.w_dim, resolution=res,
                img_channels=cfg.img_channels, is_last=(res == cfg.resolution), architecture=cfg.architecture,
                resample_filter=cfg.resample_filter, conv_clamp=cfg.conv_clamp,
                use_fp16=(res >= cfg.fp16_resolution), fp16_channels_last=cfg.fp16_channels_last,
                use_noise=cfg.use_noise, activation=cfg.activation)
            self.num_ws += block.num_conv
            if res == cfg.resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", update_emas: bool = False,
                precision: str = "auto", fused_modconv: bool | None = None,
                channels_last: bool | None = None) -> torch.Tensor:
        """`noise_mode`: 'const' (the stored noise maps), 'random' or 'none'. `precision`: see the module
        docstring. `fused_modconv`: None = grouped convolutions at inference in fp32 or at batch 1, as the
        official code chooses. `channels_last`: None = the official choice (fp16_channels_last in fp16
        blocks); True/False = every block."""
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        on_cuda = ws.device.type == "cuda"
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            if precision == "bf16":
                dtype = torch.bfloat16
            elif precision == "auto" and block.use_fp16 and on_cuda:
                dtype = torch.float16
            else:
                dtype = torch.float32
            cl = block.channels_last and dtype == torch.float16 if channels_last is None else channels_last
            fused = fused_modconv
            if fused is None:
                fused = (not self.training) and (dtype == torch.float32 or ws.shape[0] == 1)
            x, img = block(x, img, block_ws, dtype=dtype,
                           memory_format=torch.channels_last if cl else torch.contiguous_format,
                           noise_mode=noise_mode, fused_modconv=fused)
        return img


class Generator(GeneratorBase):
    """StyleGAN2 generator: `G(z, c)`, `G.mapping(z, c)`, `G.synthesis(ws)`, `G.run(latents)`."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.config = cfg
        self.z_dim = cfg.z_dim
        self.c_dim = cfg.c_dim
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws=self.num_ws,
                                      num_layers=cfg.mapping_layers, embed_features=cfg.mapping_embed_features,
                                      layer_features=cfg.mapping_layer_features, activation=cfg.activation,
                                      lr_multiplier=cfg.mapping_lr_multiplier, w_avg_beta=cfg.w_avg_beta)


# ----------------------------------------------------------------------------------------------------
# Discriminator.

class DiscriminatorBlock(nn.Module):
    """One resolution of D: [fromrgb], conv0 (3x3), conv1 (3x3, down 2), [skip (1x1, down 2)]."""

    def __init__(
        self,
        in_channels: int,                # Input channels, 0 = the first block.
        tmp_channels: int,               # Channels inside the block.
        out_channels: int,               # Output channels.
        resolution: int,                 # Resolution of this block's input.
        img_channels: int,               # Number of input colour channels.
        first_layer_idx: int,            # Index of the block's first layer (for Freeze-D).
        architecture: str = "resnet",    # 'orig', 'skip' or 'resnet'.
        activation: str = "lrelu",       # Activation of the convolutions.
        resample_filter=(1, 3, 3, 1),    # FIR filter taps.
        conv_clamp: float | None = None, # Clamp conv outputs to +-X, None = no clamp.
        use_fp16: bool = False,          # fp16 on CUDA (precision 'auto')?
        fp16_channels_last: bool = False,  # channels_last in fp16?
        freeze_layers: int = 0,          # Freeze-D: layers with an index below this are not trainable.
    ):
        super().__init__()
        if in_channels not in (0, tmp_channels):
            raise ValueError("a discriminator block's input has 0 or tmp_channels channels")
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_layers = 0

        def layer(*args, **kwargs) -> Conv2dLayer:
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return Conv2dLayer(*args, trainable=trainable, **kwargs)

        if in_channels == 0 or architecture == "skip":
            self.fromrgb = layer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                 conv_clamp=conv_clamp)
        self.conv0 = layer(tmp_channels, tmp_channels, kernel_size=3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = layer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                           resample_filter=resample_filter, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = layer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                              resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, dtype: torch.dtype,
                memory_format: torch.memory_format) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y.add_(x)
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        return x, img


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end of D: [fromrgb], minibatch stddev, 3x3 conv, dense, output (or label projection)."""

    def __init__(
        self,
        in_channels: int,                # Number of input channels.
        cmap_dim: int,                   # Mapped label size, 0 = unconditional.
        resolution: int,                 # Resolution of this block (4).
        img_channels: int,               # Number of input colour channels.
        architecture: str = "resnet",    # 'orig', 'skip' or 'resnet'.
        mbstd_group_size: int | None = 4,  # Minibatch-stddev group size, None = whole minibatch.
        mbstd_num_channels: int = 1,     # Minibatch-stddev features, 0 = none.
        activation: str = "lrelu",       # Activation.
        conv_clamp: float | None = None, # Clamp conv outputs to +-X, None = no clamp.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:  # projection discriminator
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """StyleGAN2 discriminator: D(img, c) -> one logit per image."""

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.config = cfg
        self.c_dim = cfg.c_dim
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(cfg.resolution_log2, 2, -1)]
        cmap_dim = (cfg.channels(4) if cfg.cmap_dim is None else cfg.cmap_dim) if cfg.c_dim > 0 else 0
        common = dict(img_channels=cfg.img_channels, architecture=cfg.d_architecture, conv_clamp=cfg.conv_clamp)
        layer_idx = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                cfg.channels(res) if res < cfg.resolution else 0, cfg.channels(res), cfg.channels(res // 2),
                resolution=res, first_layer_idx=layer_idx, activation=cfg.activation,
                resample_filter=cfg.resample_filter, use_fp16=(res >= cfg.fp16_resolution),
                fp16_channels_last=cfg.fp16_channels_last, freeze_layers=cfg.freeze_layers, **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(0, cfg.c_dim, cmap_dim, num_ws=None, num_layers=cfg.d_mapping_layers,
                                          activation=cfg.activation, lr_multiplier=cfg.d_mapping_lr_multiplier,
                                          w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(cfg.channels(4), cmap_dim=cmap_dim, resolution=4,
                                        mbstd_group_size=cfg.mbstd_group_size,
                                        mbstd_num_channels=cfg.mbstd_num_channels, activation=cfg.activation, **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, precision: str = "auto",
                update_emas: bool = False) -> torch.Tensor:
        if precision not in ("auto", "fp32"):
            raise ConfigError(f"the discriminator's precision must be 'auto' or 'fp32', got {precision!r}")
        expected = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != expected:
            raise ValueError(f"D expects images [N, {', '.join(map(str, expected))}], got {tuple(img.shape)}")
        on_cuda = img.device.type == "cuda"
        x = None
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            fp16 = precision == "auto" and block.use_fp16 and on_cuda
            memory_format = torch.channels_last if fp16 and block.channels_last else torch.contiguous_format
            x, img = block(x, img, dtype=torch.float16 if fp16 else torch.float32, memory_format=memory_format)
        cmap = None
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this discriminator is conditional: c must have shape [N, {self.c_dim}]")
            cmap = self.mapping(None, c)
        return self.b4(x, img, cmap)


register_architecture(StyleGAN2Config, Generator, Discriminator)
