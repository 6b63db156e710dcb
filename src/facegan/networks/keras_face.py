"""The Keras tutorial "Generate Realistic Human Face using GAN" (KDnuggets, 2020; its code follows
Chollet's Deep Learning with Python GAN): a DCGAN-family model without batch norm, written from the
tutorial's layer list (read for facts, not copied).

At 128x128 (the tutorial), Keras layers, "same" padding in G:
    G: Dense(128*16*16) LReLU, reshape 16x16x128; Conv2D(256, 5) LReLU; three Conv2DTranspose(256, 4,
       stride 2) LReLU (16 -> 128); Conv2D(512, 5) LReLU; Conv2D(512, 5) LReLU; Conv2D(3, 7) tanh.
    D ("valid" padding): Conv2D(256, 3) LReLU; four Conv2D(256, 4, stride 2) LReLU; Flatten;
       Dropout(0.4); Dense(1) (sigmoid: facegan returns the logit, training uses BCE-with-logits).
Keras defaults: LeakyReLU slope 0.3, Glorot-uniform kernels, zero biases. Latent 32-d N(0, 1).

Other resolutions scale the layout: G starts at R/8 (always three doublings), D has log2(R) - 3
stride-2 convolutions, so D's last feature map is 6x6 at every resolution, as at 128. Widths are
fields, so the `tiny` preset is the same model, narrower. Like DCGAN, the "mapping" is w = z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from facegan.errors import ConfigError
from facegan.networks.config import NetworkConfig, register_architecture
from facegan.networks.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANSynthesis


@dataclass(frozen=True)
class KerasFaceConfig(NetworkConfig):
    arch: ClassVar[str] = "keras-dcgan"

    resolution: int = 128       # Output resolution, a power of two >= 16 (tutorial: 128).
    z_dim: int = 32             # latent_dim
    dense_channels: int = 128   # Channels of G's first (R/8)^2 feature map (the Dense layer's output).
    g_channels: int = 256       # G's 5x5 convolution and its three transposed convolutions.
    g_top_channels: int = 512   # G's two 5x5 convolutions at full resolution.
    d_channels: int = 256       # Every D convolution.
    slope: float = 0.3          # LeakyReLU negative slope (Keras' default alpha).
    dropout: float = 0.4        # Dropout before D's last (Dense) layer.

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution < 16:
            raise ConfigError(f"keras-dcgan needs resolution >= 16, got {self.resolution}")
        if self.c_dim != 0:
            raise ConfigError("keras-dcgan is unconditional (c_dim must be 0)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if min(self.z_dim, self.dense_channels, self.g_channels, self.g_top_channels, self.d_channels) < 1:
            raise ConfigError("keras-dcgan widths and z_dim must be >= 1")

    @property
    def d_stages(self) -> int:
        """D's stride-2 convolutions (4 at 128x128)."""
        return int(math.log2(self.resolution)) - 3


def init_keras_weights(module: nn.Module) -> None:
    """Keras' defaults: Glorot-uniform kernels (limit sqrt(6 / (fan_in + fan_out))), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class _Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class KerasFaceSynthesis(DCGANSynthesis):
    """ws [N, 1, z_dim] -> images (DCGANSynthesis' interface and input checks, the tutorial's layers)."""

    def __init__(self, cfg: KerasFaceConfig):
        nn.Module.__init__(self)
        self.z_dim = cfg.z_dim
        base, a = cfg.resolution // 8, cfg.slope
        # DCGANSynthesis.forward checks ws and feeds [N, z_dim, 1, 1]: flattened for the Dense layer.
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(cfg.z_dim, cfg.dense_channels * base * base),
                                   nn.LeakyReLU(a), _Reshape(cfg.dense_channels, base, base),
                                   nn.Conv2d(cfg.dense_channels, cfg.g_channels, 5, padding=2), nn.LeakyReLU(a)]
        for _ in range(3):  # Keras Conv2DTranspose(4, stride 2, "same") = padding 1: doubles the size
            layers += [nn.ConvTranspose2d(cfg.g_channels, cfg.g_channels, 4, 2, 1), nn.LeakyReLU(a)]
        layers += [nn.Conv2d(cfg.g_channels, cfg.g_top_channels, 5, padding=2), nn.LeakyReLU(a),
                   nn.Conv2d(cfg.g_top_channels, cfg.g_top_channels, 5, padding=2), nn.LeakyReLU(a),
                   nn.Conv2d(cfg.g_top_channels, cfg.img_channels, 7, padding=3), nn.Tanh()]
        self.main = nn.Sequential(*layers)


class KerasFaceGenerator(DCGANGenerator):
    synthesis_cls = KerasFaceSynthesis
    init_weights = staticmethod(init_keras_weights)


class KerasFaceDiscriminator(DCGANDiscriminator):
    """Image -> one logit per image (the tutorial's D without its final sigmoid)."""

    init_weights = staticmethod(init_keras_weights)

    @staticmethod
    def layers(cfg: KerasFaceConfig) -> list[nn.Module]:
        ch, a = cfg.d_channels, cfg.slope
        layers: list[nn.Module] = [nn.Conv2d(cfg.img_channels, ch, 3), nn.LeakyReLU(a)]
        for _ in range(cfg.d_stages):
            layers += [nn.Conv2d(ch, ch, 4, 2), nn.LeakyReLU(a)]
        return layers + [nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(ch * 6 * 6, 1)]


register_architecture(KerasFaceConfig, KerasFaceGenerator, KerasFaceDiscriminator)
