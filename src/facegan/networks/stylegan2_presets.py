"""The official StyleGAN2 presets: stylegan2-ada-pytorch's `--cfg` table (`cfg_specs` in its train.py),
network and training values in one place.

    >>> from facegan.networks.stylegan2_presets import stylegan2_preset, resolve_preset
    >>> G_cfg = stylegan2_preset("paper256", resolution=256)         # a StyleGAN2Config
    >>> train = resolve_preset("auto", resolution=256, gpus=1)       # batch 16, gamma 0.8192, ...

| preset (--cfg)               | GPUs | kimg   | batch | mbstd | ch. base | lr     | gamma | ema  | ramp | map |
| ---------------------------- | ---- | ------ | ----- | ----- | -------- | ------ | ----- | ---- | ---- | --- |
| auto                         | gpus | 25000  | (1)   | (2)   | (3)      | (4)    | (5)   | (6)  | 0.05 | 2   |
| stylegan2-config-f (stylegan2) | 8  | 25000  | 32    | 4     | 32768    | 0.002  | 10    | 10   | -    | 8   |
| paper256                     | 8    | 25000  | 64    | 8     | 16384    | 0.0025 | 1     | 20   | -    | 8   |
| paper512                     | 8    | 25000  | 64    | 8     | 32768    | 0.0025 | 0.5   | 20   | -    | 8   |
| paper1024                    | 8    | 25000  | 32    | 4     | 32768    | 0.002  | 2     | 10   | -    | 8   |
| cifar                        | 2    | 100000 | 64    | 32    | 32768    | 0.0025 | 0.01  | 500  | 0.05 | 2   |

(1) max(min(gpus * min(4096 // res, 32), 64), gpus); (2) min(batch // gpus, 4); (3) 16384 below 512x512,
else 32768; (4) 0.0025, 0.002 at 1024 and above; (5) 0.0002 * res^2 / batch; (6) batch * 10 / 32. `ema` is
the half-life of G_ema in kimg, `ramp` its ramp-up ratio, `map` the mapping depth.

All presets: z_dim = w_dim = 512, channel_max 512, num_fp16_res 4, conv_clamp 256, one Adam lr for G
and D with betas (0, 0.99) and eps 1e-8, lazy regularisation every 4 (G, path length) and 16 (D, R1)
minibatches, path-length weight 2 (0 in cifar), style mixing 0.9 (0 in cifar); cifar's D has the
'orig' architecture, the others 'resnet'. The per-GPU batch is batch / ref_gpus: with fewer GPUs
the official code accumulates gradients rather than shrinking the batch. The official `--fp32`
switch corresponds to `num_fp16_res=0, conv_clamp=None` overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from facegan.errors import ConfigError
from facegan.networks.stylegan2 import StyleGAN2Config

# Shared by every preset (train.py and its loss/optimiser defaults).
Z_DIM = 512
W_DIM = 512
CHANNEL_MAX = 512
NUM_FP16_RES = 4
CONV_CLAMP = 256
ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8
G_REG_INTERVAL = 4      # lazy path-length regularisation
D_REG_INTERVAL = 16     # lazy R1 regularisation
PL_BATCH_SHRINK = 2
PL_DECAY = 0.01


@dataclass(frozen=True)
class StyleGAN2Preset:
    """One official preset. In the `auto` row the formula-driven fields are None until `resolve_preset`."""

    name: str                        # facegan's name.
    official_name: str               # The --cfg value of stylegan2-ada-pytorch.
    ref_gpus: int | None             # GPUs the batch is defined for (None = the --gpus in use).
    kimg: int                        # Training length in thousands of real images shown.
    batch: int | None                # Total minibatch.
    mbstd_group_size: int | None     # Minibatch-stddev group size of D.
    channel_base: int | None         # Network width (fmaps * 32768).
    lrate: float | None              # Adam learning rate of G and D.
    gamma: float | None              # R1 regularisation weight.
    ema_kimg: float | None           # Half-life of G_ema in kimg.
    ema_rampup: float | None         # EMA ramp-up ratio, None = none.
    mapping_layers: int              # Depth of the mapping network.
    d_architecture: str = "resnet"   # Discriminator architecture.
    pl_weight: float = 2.0           # Path-length regularisation weight.
    style_mixing_prob: float = 0.9   # Style-mixing regularisation probability.
    # Shared values, repeated here so that one object carries everything a run needs.
    z_dim: int = Z_DIM
    w_dim: int = W_DIM
    channel_max: int = CHANNEL_MAX
    num_fp16_res: int = NUM_FP16_RES
    conv_clamp: float | None = CONV_CLAMP
    adam_betas: tuple[float, float] = ADAM_BETAS
    adam_eps: float = ADAM_EPS
    g_reg_interval: int = G_REG_INTERVAL
    d_reg_interval: int = D_REG_INTERVAL
    pl_batch_shrink: int = PL_BATCH_SHRINK
    pl_decay: float = PL_DECAY

    @property
    def batch_gpu(self) -> int:
        """Samples per GPU per step (batch / ref_gpus)."""
        if self.batch is None or self.ref_gpus is None:
            raise ConfigError(f"preset {self.name!r} is not resolved: call resolve_preset()")
        return self.batch // self.ref_gpus


OFFICIAL_PRESETS: dict[str, StyleGAN2Preset] = {p.name: p for p in [
    StyleGAN2Preset("auto", "auto", ref_gpus=None, kimg=25000, batch=None, mbstd_group_size=None,
                    channel_base=None, lrate=None, gamma=None, ema_kimg=None, ema_rampup=0.05, mapping_layers=2),
    StyleGAN2Preset("stylegan2-config-f", "stylegan2", ref_gpus=8, kimg=25000, batch=32, mbstd_group_size=4,
                    channel_base=32768, lrate=0.002, gamma=10, ema_kimg=10, ema_rampup=None, mapping_layers=8),
    StyleGAN2Preset("paper256", "paper256", ref_gpus=8, kimg=25000, batch=64, mbstd_group_size=8,
                    channel_base=16384, lrate=0.0025, gamma=1, ema_kimg=20, ema_rampup=None, mapping_layers=8),
    StyleGAN2Preset("paper512", "paper512", ref_gpus=8, kimg=25000, batch=64, mbstd_group_size=8,
                    channel_base=32768, lrate=0.0025, gamma=0.5, ema_kimg=20, ema_rampup=None, mapping_layers=8),
    StyleGAN2Preset("paper1024", "paper1024", ref_gpus=8, kimg=25000, batch=32, mbstd_group_size=4,
                    channel_base=32768, lrate=0.002, gamma=2, ema_kimg=10, ema_rampup=None, mapping_layers=8),
    StyleGAN2Preset("cifar", "cifar", ref_gpus=2, kimg=100000, batch=64, mbstd_group_size=32,
                    channel_base=32768, lrate=0.0025, gamma=0.01, ema_kimg=500, ema_rampup=0.05, mapping_layers=2,
                    d_architecture="orig", pl_weight=0.0, style_mixing_prob=0.0),
]}
PRESET_ALIASES = {"stylegan2": "stylegan2-config-f"}  # the official --cfg name


def preset_names() -> list[str]:
    return list(OFFICIAL_PRESETS)


def resolve_preset(name: str, resolution: int, gpus: int = 1) -> StyleGAN2Preset:
    """The preset with every value filled in for this resolution and GPU count (only `auto` depends on them)."""
    name = PRESET_ALIASES.get(name, name)
    if name not in OFFICIAL_PRESETS:
        raise ConfigError(f"unknown StyleGAN2 preset {name!r}; known: {', '.join(OFFICIAL_PRESETS)} "
                          f"(or the official names {', '.join(PRESET_ALIASES)})")
    if not isinstance(gpus, int) or gpus < 1 or gpus & (gpus - 1):
        raise ConfigError(f"gpus must be a power of two, got {gpus!r}")
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise ConfigError(f"resolution must be a power of two >= 4, got {resolution!r}")
    p = OFFICIAL_PRESETS[name]
    if name != "auto":
        return p
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)  # keeps GPU memory in check
    return dataclasses.replace(
        p,
        ref_gpus=gpus,
        batch=batch,
        mbstd_group_size=min(batch // gpus, 4),
        channel_base=32768 if resolution >= 512 else 16384,
        lrate=0.002 if resolution >= 1024 else 0.0025,
        gamma=0.0002 * resolution ** 2 / batch,
        ema_kimg=batch * 10 / 32,
    )


def stylegan2_preset(name: str, resolution: int, c_dim: int = 0, img_channels: int = 3, gpus: int = 1,
                     **overrides) -> StyleGAN2Config:
    """The network configuration of an official preset (plus any field overrides, checked by name)."""
    p = resolve_preset(name, resolution, gpus)
    cfg = StyleGAN2Config(
        resolution=resolution, img_channels=img_channels, c_dim=c_dim, z_dim=p.z_dim, w_dim=p.w_dim,
        mapping_layers=p.mapping_layers, channel_base=p.channel_base, channel_max=p.channel_max,
        num_fp16_res=p.num_fp16_res, conv_clamp=p.conv_clamp, mbstd_group_size=p.mbstd_group_size,
        d_architecture=p.d_architecture)
    return cfg.replace(**overrides) if overrides else cfg
