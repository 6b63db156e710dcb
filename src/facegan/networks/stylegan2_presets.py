"""The official StyleGAN2 configurations (stylegan2-ada-pytorch's `--cfg`), network and training
values in one table, so training and the network builder read the same numbers.

    cfg                 GPUs  kimg    batch  mbstd  channel_base  lr      gamma  EMA kimg  ramp  mapping
    stylegan2-config-f  8     25000   32     4      32768         0.002   10     10        -     8
    paper256            8     25000   64     8      16384         0.0025  1      20        -     8
    paper512            8     25000   64     8      32768         0.0025  0.5    20        -     8
    paper1024           8     25000   32     4      32768         0.002   2      10        -     8
    cifar               2     100000  64     32     32768         0.0025  0.01   500       0.05  2
    auto                GPUs  25000   formulas of `auto_spec`                            0.05  2

All of them: channel_max 512, Adam betas (0, 0.99) eps 1e-8, num_fp16_res 4 and conv_clamp 256
(mixed precision; the TF StyleGAN2 release trained config F in float32 without clamping, which is
what `stylegan2-config-f` with `precision='fp32'` reproduces), style mixing 0.9 and path-length
regularisation weight 2 except `cifar` (both off, and D architecture 'orig').
`stylegan2-config-f` is the official `--cfg=stylegan2`.
"""

from __future__ import annotations

from dataclasses import dataclass

from facegan.errors import ConfigError
from facegan.networks.stylegan2 import StyleGAN2Config


@dataclass(frozen=True)
class StyleGAN2Spec:
    """One row of the official table: network and training values."""

    name: str
    ref_gpus: int              # GPUs the batch is defined for (per-GPU batch = batch / ref_gpus).
    kimg: int                  # Training length in thousands of real images shown.
    batch: int                 # Total batch size.
    mbstd: int                 # Minibatch stddev group size.
    fmaps: float               # channel_base = fmaps * 32768.
    lr: float                  # Adam learning rate of G and D.
    gamma: float               # R1 regularisation weight.
    ema_kimg: float            # Half-life of the EMA generator in thousands of images.
    ema_rampup: float | None   # EMA ramp-up (fraction of images shown), None = off.
    mapping_layers: int        # Depth of the mapping network.
    style_mixing_prob: float = 0.9
    pl_weight: float = 2.0
    d_architecture: str = "resnet"

    @property
    def channel_base(self) -> int:
        return int(self.fmaps * 32768)


STYLEGAN2_SPECS: dict[str, StyleGAN2Spec] = {
    "stylegan2-config-f": StyleGAN2Spec("stylegan2-config-f", 8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    "paper256": StyleGAN2Spec("paper256", 8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    "paper512": StyleGAN2Spec("paper512", 8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    "paper1024": StyleGAN2Spec("paper1024", 8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    "cifar": StyleGAN2Spec("cifar", 2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2, style_mixing_prob=0.0,
                           pl_weight=0.0, d_architecture="orig"),
}
PRESET_NAMES = ("stylegan2-config-f", "paper256", "paper512", "paper1024", "auto", "cifar")


def auto_spec(resolution: int, gpus: int = 1) -> StyleGAN2Spec:
    """The official `--cfg=auto` formulas for a resolution and GPU count."""
    if gpus < 1:
        raise ConfigError(f"gpus must be >= 1, got {gpus}")
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return StyleGAN2Spec(
        name="auto", ref_gpus=gpus, kimg=25000, batch=batch, mbstd=min(batch // gpus, 4),
        fmaps=1 if resolution >= 512 else 0.5, lr=0.002 if resolution >= 1024 else 0.0025,
        gamma=0.0002 * resolution ** 2 / batch, ema_kimg=batch * 10 / 32, ema_rampup=0.05, mapping_layers=2)


def stylegan2_spec(name: str, resolution: int, gpus: int = 1) -> StyleGAN2Spec:
    if name == "auto":
        return auto_spec(resolution, gpus)
    if name == "stylegan2":  # the official name
        name = "stylegan2-config-f"
    if name not in STYLEGAN2_SPECS:
        raise ConfigError(f"unknown StyleGAN2 preset {name!r}; known: {', '.join(PRESET_NAMES)}")
    return STYLEGAN2_SPECS[name]


def stylegan2_preset(name: str, resolution: int, c_dim: int = 0, img_channels: int = 3, gpus: int = 1,
                     mixed_precision: bool = True, **overrides) -> StyleGAN2Config:
    """The network config of an official preset at `resolution`; `overrides` replace any field.

    mixed_precision=True gives the official training networks (num_fp16_res 4, conv_clamp 256);
    False the float32 networks of the TF release (no clamp).
    """
    spec = stylegan2_spec(name, resolution, gpus)
    cfg = StyleGAN2Config(
        resolution=resolution, c_dim=c_dim, img_channels=img_channels, mapping_layers=spec.mapping_layers,
        channel_base=spec.channel_base, channel_max=512, mbstd_group_size=spec.mbstd,
        d_architecture=spec.d_architecture,
        num_fp16_res=min(4, int(resolution).bit_length() - 2) if mixed_precision else 0,
        conv_clamp=256 if mixed_precision else None)
    return cfg.replace(**overrides) if overrides else cfg
