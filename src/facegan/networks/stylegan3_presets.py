"""StyleGAN3's training configurations: stylegan3's train.py `--cfg stylegan3-t` and `stylegan3-r`,
and `tiny` (a small -T for tests and the demo), as values for the training options.

From train.py and training/training_loop.py (NVlabs/stylegan3):

    mapping depth 2, z = w = 512, channel_base 32768, channel_max 512 (-R: G's doubled, D's kept)
    G lr 0.0025, D lr 0.002, Adam betas (0, 0.99), eps 1e-8; batch 32, minibatch-stddev group 4
    ema_kimg = batch * 10 / 32 with the training loop's ramp-up 0.05
    no style mixing, no path-length regularisation, no G regularisation phase; lazy R1 every 16 steps
    magnitude EMAs: beta = 0.5 ** (batch / 20000), moved by the G forward of D's fake phase
    -R: the images D sees are blurred, sigma 10 fading linearly to 0 over batch * 200 / 32 kimg
    fine-tuning (--resume a network): no EMA ramp-up, no blur, ADA reacts in 100 kimg
    kimg 25000, tick 4, snapshots every 50 ticks; --fp32: no fp16 layers, no clamp

The R1 weight: train.py requires --gamma. The preset takes the value of the recommended
configurations in stylegan3's docs/configs.md, which the guideline there makes quadratic in the
resolution: 0.5 at 128², 2 at 256², 8 at 512², 32 at 1024² (the same rule, 32·(res/1024)², at the
other resolutions). The paper's own runs used 32.8 for FFHQ 1024² and 8.2 (-T) / 16.4 (-R) for
AFHQv2 512²; `--gamma` overrides.

The values that train.py derives from the batch follow the run's final `--batch` (`derived`).
"""

from __future__ import annotations

from typing import Any

from facegan.errors import ConfigError
from facegan.networks.stylegan3 import StyleGAN3Config, stylegan3_preset

PRESET_NAMES = ("stylegan3-t", "stylegan3-r", "tiny")
BLUR_INIT_SIGMA = 10.0      # -R: [blur_init_sigma]


def recommended_gamma(resolution: int) -> float:
    """R1 γ of stylegan3's recommended configurations (docs/configs.md): 32 at 1024², ∝ res²."""
    return 32.0 * (resolution / 1024) ** 2


def derived_values(values: dict[str, Any], batch: int, fine_tune: bool) -> dict[str, Any]:
    """What train.py computes from the global batch (`--batch`) and from `--resume` of a network."""
    out = dict(values, ema_kimg=batch * 10 / 32)
    out["network"] = dict(values["network"], magnitude_ema_beta=0.5 ** (batch / 20_000))
    if out.get("blur_sigma", 0.0) > 0:
        out["blur_fade_kimg"] = batch * 200 / 32
    if fine_tune:
        out.update(ema_rampup=None, blur_sigma=0.0, ada_kimg=100)
    return out


def stylegan3_training(cfg: str, facts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
    """The option values of preset `cfg` for a dataset (facts: resolution, channels)."""
    if cfg not in PRESET_NAMES:
        raise ConfigError(f"unknown StyleGAN3 preset {cfg!r}; known: {', '.join(PRESET_NAMES)}")
    res = facts.resolution
    if cfg == "tiny":
        net = StyleGAN3Config(resolution=res, img_channels=facts.channels, c_dim=c_dim, z_dim=32, w_dim=32,
                              channel_base=16 * res, channel_max=32, d_channel_base=32 * res, d_channel_max=64,
                              num_fp16_res=0, conv_clamp=None, d_num_fp16_res=0, d_conv_clamp=None)
        length = dict(batch=16, batch_gpu=8, kimg=40, tick_kimg=1, snap=10, precision="fp32")
    else:
        fp32 = {} if precision == "mixed" else dict(num_fp16_res=0, conv_clamp=None, d_num_fp16_res=0,
                                                     d_conv_clamp=None)   # train.py --fp32
        net = stylegan3_preset(cfg, res, img_channels=facts.channels, c_dim=c_dim, **fp32)
        length = dict(batch=32, batch_gpu=4, kimg=25000, tick_kimg=4, snap=50, precision=precision)
    values = dict(network=net.to_dict(), loss="logistic", lr_g=0.0025, lr_d=0.002, betas=(0.0, 0.99), eps=1e-8,
                  r1_gamma=recommended_gamma(res), d_reg_interval=16, g_reg_interval=None, pl_weight=0.0,
                  style_mixing_prob=0.0, ema_rampup=0.05, blur_sigma=BLUR_INIT_SIGMA if cfg == "stylegan3-r" else 0.0,
                  blur_fade_kimg=0.0, **length)
    return derived_values(values, values["batch"], fine_tune=False)
