"""DCGAN (Radford et al. 2015) as in the PyTorch DCGAN face tutorial: the baseline StyleGAN is
compared against.

Tutorial defaults: 64x64 RGB, nz 100, ngf = ndf = 64, batch norm, ReLU in G, LeakyReLU(0.2) in D,
no biases, N(0, 0.02) initial weights (batch norm: N(1, 0.02) scale, zero shift). The resolution is
configurable: each doubling adds one stride-2 stage, the 64x64 layout is the tutorial's exactly.

Deviation: the tutorial's D ends in a Sigmoid and trains with BCELoss; ours returns the logit and
training uses BCE-with-logits, the same loss computed without the saturating sigmoid.

To share the generator interface, DCGAN has a trivial "mapping": w = z (num_ws = 1), with
w_avg = 0, so truncation psi scales the latent towards the origin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from facegan.errors import ConfigError, NetworkInputError
from facegan.networks.base import NOISE_MODES, GeneratorBase, truncate
from facegan.networks.config import NetworkConfig, register_architecture


@dataclass(frozen=True)
class DCGANConfig(NetworkConfig):
    arch = "dcgan"

    resolution: int = 64   # Output resolution, a power of two >= 8 (tutorial: 64).
    z_dim: int = 100       # nz: size of the latent vector.
    ngf: int = 64          # Feature maps of the last generator stage.
    ndf: int = 64          # Feature maps of the first discriminator stage.

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.resolution < 8:
            raise ConfigError(f"DCGAN needs resolution >= 8, got {self.resolution}")
        if self.c_dim != 0:
            raise ConfigError("DCGAN is unconditional (c_dim must be 0)")

    @property
    def num_stages(self) -> int:
        """Stride-2 stages between 4x4 and the output (3 at 64x64)."""
        return int(math.log2(self.resolution)) - 3


def init_dcgan_weights(module: nn.Module) -> None:
    """The tutorial's initialisation: conv weights N(0, 0.02); batch norm scale N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANMapping(nn.Module):
    """w = z, broadcast to one layer; truncation pulls z towards w_avg = 0."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.z_dim = self.w_dim = z_dim
        self.num_ws = 1
        self.register_buffer("w_avg", torch.zeros(z_dim))

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_emas=False):
        if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
            raise NetworkInputError(f"z must have shape [N, {self.z_dim}], got {None if z is None else tuple(z.shape)}")
        if c is not None and c.numel():
            raise NetworkInputError("this network is unconditional: it takes no class labels")
        ws = z.unsqueeze(1)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


class DCGANSynthesis(nn.Module):
    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.z_dim = cfg.z_dim
        ch = cfg.ngf * 2 ** cfg.num_stages
        layers: list[nn.Module] = [  # z [N, nz, 1, 1] -> [N, ngf*2^stages, 4, 4]
            nn.ConvTranspose2d(cfg.z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(cfg.num_stages):  # each stage doubles the resolution and halves the channels
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, cfg.img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, ws, noise_mode="const", update_emas=False, force_fp32=False):
        """ws [N, 1, z_dim] -> images; noise_mode and force_fp32 are accepted for the common interface
        (DCGAN has neither noise inputs nor float16 layers)."""
        if noise_mode not in NOISE_MODES:
            raise ConfigError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1:] != (1, self.z_dim):
            raise NetworkInputError(f"ws must have shape [N, 1, {self.z_dim}], got {tuple(ws.shape)}")
        return self.main(ws[:, 0, :, None, None])


class DCGANGenerator(GeneratorBase):
    """w = z, then the synthesis network. Subclasses of the DCGAN family (keras_face.py) set their
    own synthesis class and initialisation."""

    synthesis_cls: type[nn.Module] = DCGANSynthesis
    init_weights = staticmethod(init_dcgan_weights)

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.config = cfg
        self.z_dim = self.w_dim = cfg.z_dim
        self.c_dim = 0
        self.num_ws = 1
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.img_channels
        self.mapping = DCGANMapping(cfg.z_dim)
        self.synthesis = self.synthesis_cls(cfg)
        self.init_weights(self)


class DCGANDiscriminator(nn.Module):
    """Image -> one logit per image (the tutorial's D without its final Sigmoid). Subclasses of the
    DCGAN family override `layers` and `init_weights`."""

    init_weights = staticmethod(init_dcgan_weights)

    def __init__(self, cfg: DCGANConfig):
        super().__init__()
        self.config = cfg
        self.c_dim = 0
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.img_channels
        self.main = nn.Sequential(*self.layers(cfg))
        self.init_weights(self)

    @staticmethod
    def layers(cfg: DCGANConfig) -> list[nn.Module]:
        ch = cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.img_channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(cfg.num_stages):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        return layers + [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False) -> torch.Tensor:
        shape = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != shape:
            raise NetworkInputError(f"D expects images [N, {', '.join(map(str, shape))}], got {tuple(img.shape)}")
        return self.main(img).flatten(1)


register_architecture(DCGANConfig, DCGANGenerator, DCGANDiscriminator)
