"""The built-in architectures' training traits and presets, registered with the architecture
registry (config.py). Values are the official ones:

- stylegan: `stylegan-ffhq` (config F: logistic + R1 γ 10, progressive 8² to full, 600 + 600 kimg
  per resolution, the 8-GPU minibatch and learning-rate tables), `stylegan-celebahq` (the same with
  WGAN-GP, rates capped at 0.002), `tiny`
- stylegan2: `stylegan2-config-f`, `paper256`, `paper512`, `paper1024`, `auto`, `cifar`
  (stylegan2-ada-pytorch's `--cfg`), `tiny`
- stylegan3: `stylegan3-t`, `stylegan3-r` (stylegan3's train.py `--cfg`), `tiny`; values and
  derivation in stylegan3_presets.py
- dcgan: `dcgan` (the PyTorch tutorial: Adam 2e-4, β1 0.5, batch 128, BCE), `tiny`
- keras-dcgan: `keras-face` (the Keras face tutorial: Keras RMSprop 1e-4 with clipvalue 1 and decay
  1e-8, flipped and noisy labels, batch 16, 20 000 iterations, the grid every 50), `tiny`

`tiny` networks train on a 2-core CPU in minutes; they exist for tests and the demo. A preset
returns plain option values (see config.PresetFn), so this module needs nothing from training.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from facegan.networks.config import TrainingTraits, register_training
from facegan.networks.dcgan import DCGANConfig
from facegan.networks.keras_face import KerasFaceConfig
from facegan.networks.stylegan import StyleGANConfig, stylegan_preset
from facegan.networks.stylegan2 import StyleGAN2Config
from facegan.networks.stylegan2_presets import PRESET_NAMES as STYLEGAN2_PRESETS
from facegan.networks.stylegan2_presets import stylegan2_preset, stylegan2_spec
from facegan.networks.stylegan3 import StyleGAN3Config
from facegan.networks.stylegan3_presets import PRESET_NAMES as STYLEGAN3_PRESETS
from facegan.networks.stylegan3_presets import derived_values, stylegan3_training

# The official StyleGAN train.py, 8 GPUs (the default config): global minibatch and learning rate
# per resolution. Fewer GPUs accumulate gradients instead of shrinking the batch, so results do not
# depend on the number of processes.
V1_MINIBATCH_8GPU = {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}
V1_LR = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


def _stylegan2(cfg: str, facts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
    res = facts.resolution
    if cfg == "tiny":
        net = StyleGAN2Config(resolution=res, img_channels=facts.channels, c_dim=c_dim, z_dim=64, w_dim=64,
                              mapping_layers=2, channel_base=32 * res, channel_max=64, mbstd_group_size=4)
        batch = 16
        return dict(network=net.to_dict(), batch=batch, batch_gpu=8, lr_g=0.0025, lr_d=0.0025,
                    r1_gamma=0.0002 * res ** 2 / batch, ema_kimg=batch * 10 / 32, ema_rampup=0.05, kimg=40,
                    tick_kimg=1, snap=10, style_mixing_prob=0.9, pl_weight=2.0, precision="fp32")
    spec = stylegan2_spec(cfg, res, gpus)
    net = stylegan2_preset(cfg, res, c_dim=c_dim, img_channels=facts.channels, gpus=gpus,
                           mixed_precision=precision == "mixed")
    return dict(network=net.to_dict(), batch=spec.batch, batch_gpu=max(1, spec.batch // spec.ref_gpus),
                lr_g=spec.lr, lr_d=spec.lr, r1_gamma=spec.gamma, ema_kimg=spec.ema_kimg, ema_rampup=spec.ema_rampup,
                kimg=spec.kimg, tick_kimg=4, snap=50, style_mixing_prob=spec.style_mixing_prob,
                pl_weight=spec.pl_weight, precision=precision)


def _stylegan(cfg: str, facts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
    res = facts.resolution
    common = dict(loss="logistic", r1_gamma=10.0, d_reg_interval=None, g_reg_interval=None, pl_weight=0.0,
                  style_mixing_prob=0.9, ema_kimg=10.0, ema_rampup=None, betas=(0.0, 0.99), precision="fp32")
    if cfg == "tiny":
        net = stylegan_preset("stylegan-ffhq", res, img_channels=facts.channels, c_dim=c_dim, z_dim=64, w_dim=64,
                              mapping_layers=2, mapping_fmaps=64, fmap_base=32 * res, fmap_max=64)
        prog = dict(initial_resolution=min(8, res), training_kimg=4, transition_kimg=4, minibatch_base=16,
                    minibatch_dict={}, lr_base=0.002, lr_dict={}, tick_kimg_dict={})
        return dict(common, network=net.to_dict(), progressive=prog, batch=16, batch_gpu=8, lr_g=0.002, lr_d=0.002,
                    ema_kimg=1.0, kimg=40, tick_kimg=1, snap=10)
    net = stylegan_preset("stylegan-ffhq", res, img_channels=facts.channels, c_dim=c_dim)
    lr_dict = dict(V1_LR)
    extra: dict[str, Any] = {}
    if cfg == "stylegan-celebahq":  # the official -wgangp line: WGAN-GP, learning rates capped at 0.002
        lr_dict = {k: min(v, 0.002) for k, v in lr_dict.items()}
        extra = dict(loss="wgan-gp")
    prog = dict(minibatch_base=32, minibatch_dict=dict(V1_MINIBATCH_8GPU), lr_base=0.001, lr_dict=lr_dict)
    return dict(common, **extra, network=net.to_dict(), progressive=prog, batch=32, batch_gpu=32, lr_g=0.001,
                lr_d=0.001, kimg=25000, tick_kimg=160, snap=10, mirror=True)


def _dcgan(cfg: str, facts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
    width = 16 if cfg == "tiny" else 64
    net = DCGANConfig(resolution=facts.resolution, img_channels=facts.channels, ngf=width, ndf=width)
    batch = 32 if cfg == "tiny" else 128
    return dict(network=net.to_dict(), loss="bce", batch=batch, batch_gpu=batch, lr_g=0.0002, lr_d=0.0002,
                betas=(0.5, 0.999), eps=1e-8, ema_kimg=0.0, ema_rampup=None, style_mixing_prob=0.0, pl_weight=0.0,
                d_reg_interval=None, g_reg_interval=None, r1_gamma=0.0, kimg=40 if cfg == "tiny" else 1000,
                tick_kimg=1 if cfg == "tiny" else 10, snap=10, precision="fp32")


def _keras_face(cfg: str, facts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
    """The Keras tutorial at the dataset's resolution (128 in the tutorial); `tiny` is the same
    model with narrow layers. 50 steps of 16 = one tick of 0.8 kimg, the grid at every tick."""
    widths = dict(dense_channels=16, g_channels=32, g_top_channels=32, d_channels=32) if cfg == "tiny" else {}
    net = KerasFaceConfig(resolution=facts.resolution, img_channels=facts.channels, **widths)
    steps = 20_000 if cfg == "keras-face" else 250
    return dict(network=net.to_dict(), loss="bce", batch=16, batch_gpu=16, lr_g=1e-4, lr_d=1e-4,
                optimizer="rmsprop", rho=0.9, eps=1e-7, clip_value=1.0, lr_decay=1e-8, label_flip=True,
                label_noise=0.05, ema_kimg=0.0, ema_rampup=None, style_mixing_prob=0.0, pl_weight=0.0,
                d_reg_interval=None, g_reg_interval=None, r1_gamma=0.0, kimg=steps * 16 / 1000, tick_kimg=0.8,
                image_snap=1, snap=25 if cfg == "keras-face" else 5, grid_z_std=0.5, precision="fp32")


def _presets(fn, names) -> dict:
    return {name: partial(fn, name) for name in names}


STYLEGAN2_TRAINING = TrainingTraits(
    losses=("logistic", "wgan-gp"), default_preset="auto",
    presets=_presets(_stylegan2, (*STYLEGAN2_PRESETS, "stylegan2", "tiny")),
    phase_order=("G", "D"), lazy_regularisation=True, tracks_w_avg=True, path_length=True, style_mixing=True)

STYLEGAN_TRAINING = TrainingTraits(
    losses=("logistic", "wgan-gp"), default_preset="stylegan-ffhq",
    presets=_presets(_stylegan, ("stylegan-ffhq", "stylegan-celebahq", "tiny")),
    phase_order=("D", "G"),          # the official order: D (with R1 every step) then G
    progressive=True, tracks_w_avg=True, fakes_use_real_labels=True, style_mixing=True)

STYLEGAN3_TRAINING = TrainingTraits(
    losses=("logistic",), default_preset="stylegan3-t", presets=_presets(stylegan3_training, STYLEGAN3_PRESETS),
    phase_order=("G", "D"), lazy_regularisation=True, tracks_w_avg=True, averages_phase="D", derived=derived_values,
    steps_unreached_params=False)   # stylegan3's loss dropped stylegan2-ada's `* 0` terms: Adam skips them

DCGAN_TRAINING = TrainingTraits(
    losses=("bce",), default_preset="dcgan", presets=_presets(_dcgan, ("dcgan", "tiny")),
    phase_order=("D", "G"), shared_latents=True, conditional=False, augmentable=False)

KERAS_FACE_TRAINING = TrainingTraits(
    losses=("bce",), default_preset="keras-face", presets=_presets(_keras_face, ("keras-face", "tiny")),
    phase_order=("D", "G"), shared_latents=False, conditional=False, augmentable=False, optimizers=("rmsprop",))

register_training(StyleGAN2Config.arch, STYLEGAN2_TRAINING)
register_training(StyleGANConfig.arch, STYLEGAN_TRAINING)
register_training(StyleGAN3Config.arch, STYLEGAN3_TRAINING)
register_training(DCGANConfig.arch, DCGAN_TRAINING)
register_training(KerasFaceConfig.arch, KERAS_FACE_TRAINING)
