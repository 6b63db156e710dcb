"""Named training presets with the official values, and resolving a run's options from them.

- stylegan: `stylegan-ffhq` (config F: logistic + R1 γ 10, progressive 8² to full, 600 + 600 kimg
  per resolution, the 8-GPU minibatch and learning-rate tables), `stylegan-celebahq` (the same with
  WGAN-GP, rates capped at 0.002), `tiny`
- stylegan2: `stylegan2-config-f`, `paper256`, `paper512`, `paper1024`, `auto`, `cifar`
  (stylegan2-ada-pytorch's `--cfg`), `tiny`
- dcgan: `dcgan` (the PyTorch tutorial: Adam 2e-4, β1 0.5, batch 128, BCE), `tiny`

`tiny` networks train on a 2-core CPU in minutes; they exist for tests and the demo.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from facegan.errors import ConfigError
from facegan.networks.dcgan import DCGANConfig
from facegan.networks.stylegan import stylegan_preset
from facegan.networks.stylegan2 import StyleGAN2Config
from facegan.networks.stylegan2_presets import PRESET_NAMES as STYLEGAN2_PRESETS
from facegan.networks.stylegan2_presets import stylegan2_preset, stylegan2_spec
from facegan.training.options import ProgressiveOptions, TrainingOptions

PRESETS = {
    "stylegan": ("stylegan-ffhq", "stylegan-celebahq", "tiny"),
    "stylegan2": (*STYLEGAN2_PRESETS, "stylegan2", "tiny"),
    "dcgan": ("dcgan", "tiny"),
}
DEFAULT_PRESET = {"stylegan": "stylegan-ffhq", "stylegan2": "auto", "dcgan": "dcgan"}

# The official StyleGAN train.py, 8 GPUs (the default config): global minibatch and learning rate
# per resolution. Fewer GPUs accumulate gradients instead of shrinking the batch, so results do not
# depend on the number of processes.
V1_MINIBATCH_8GPU = {4: 512, 8: 256, 16: 128, 32: 64, 64: 32}
V1_LR = {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    resolution: int
    channels: int
    label_dim: int


def dataset_facts(path: str) -> DatasetFacts:
    from facegan.data import ImageDataset

    ds = ImageDataset(path)
    label_dim = 0
    if ds.archive.labels is not None:
        label_dim = ImageDataset(path, use_labels=True).label_dim
    return DatasetFacts(ds.stored_resolution, ds.num_channels, label_dim)


def _stylegan2(cfg: str, facts: DatasetFacts, c_dim: int, gpus: int, precision: str) -> dict[str, Any]:
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


def _stylegan(cfg: str, facts: DatasetFacts, c_dim: int) -> dict[str, Any]:
    res = facts.resolution
    common = dict(loss="logistic", r1_gamma=10.0, d_reg_interval=None, g_reg_interval=None, pl_weight=0.0,
                  style_mixing_prob=0.9, ema_kimg=10.0, ema_rampup=None, betas=(0.0, 0.99), precision="fp32")
    if cfg == "tiny":
        net = stylegan_preset("stylegan-ffhq", res, img_channels=facts.channels, c_dim=c_dim, z_dim=64, w_dim=64,
                              mapping_layers=2, mapping_fmaps=64, fmap_base=32 * res, fmap_max=64)
        prog = ProgressiveOptions(initial_resolution=min(8, res), training_kimg=4, transition_kimg=4,
                                  minibatch_base=16, minibatch_dict={}, lr_base=0.002, lr_dict={},
                                  tick_kimg_dict={})
        return dict(common, network=net.to_dict(), progressive=prog, batch=16, batch_gpu=8, lr_g=0.002, lr_d=0.002,
                    ema_kimg=1.0, kimg=40, tick_kimg=1, snap=10)
    net = stylegan_preset("stylegan-ffhq", res, img_channels=facts.channels, c_dim=c_dim)
    lr_dict = dict(V1_LR)
    extra: dict[str, Any] = {}
    if cfg == "stylegan-celebahq":  # the official -wgangp line: WGAN-GP, learning rates capped at 0.002
        lr_dict = {k: min(v, 0.002) for k, v in lr_dict.items()}
        extra = dict(loss="wgan-gp")
    prog = ProgressiveOptions(minibatch_base=32, minibatch_dict=dict(V1_MINIBATCH_8GPU), lr_base=0.001,
                              lr_dict=lr_dict)
    return dict(common, **extra, network=net.to_dict(), progressive=prog, batch=32, batch_gpu=32, lr_g=0.001,
                lr_d=0.001, kimg=25000, tick_kimg=160, snap=10, mirror=True)


def _dcgan(cfg: str, facts: DatasetFacts) -> dict[str, Any]:
    width = 16 if cfg == "tiny" else 64
    net = DCGANConfig(resolution=facts.resolution, img_channels=facts.channels, ngf=width, ndf=width)
    batch = 32 if cfg == "tiny" else 128
    return dict(network=net.to_dict(), loss="bce", batch=batch, batch_gpu=batch, lr_g=0.0002, lr_d=0.0002,
                betas=(0.5, 0.999), eps=1e-8, ema_kimg=0.0, ema_rampup=None, style_mixing_prob=0.0, pl_weight=0.0,
                d_reg_interval=None, g_reg_interval=None, r1_gamma=0.0, kimg=40 if cfg == "tiny" else 1000,
                tick_kimg=1 if cfg == "tiny" else 10, snap=10, precision="fp32")


def resolve_options(data: str, arch: str = "stylegan2", cfg: str | None = None, gpus: int = 1,
                    **overrides: Any) -> TrainingOptions:
    """The options of a run: preset values for `arch`/`cfg` on this dataset, then `overrides`
    (None values are ignored: an option not given keeps the preset's value)."""
    if arch not in PRESETS:
        raise ConfigError(f"--arch must be one of {', '.join(PRESETS)}, got {arch!r}")
    cfg = cfg or DEFAULT_PRESET[arch]
    if cfg not in PRESETS[arch]:
        raise ConfigError(f"--cfg {cfg!r} is not a {arch} preset; use one of {', '.join(PRESETS[arch])}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    facts = dataset_facts(data)
    cond = bool(overrides.get("cond", False))
    if cond and facts.label_dim == 0:
        raise ConfigError(f"--cond needs labels, but {data} has no labels in dataset.json")
    c_dim = facts.label_dim if cond else 0
    if arch == "stylegan2":
        values = _stylegan2(cfg, facts, c_dim, gpus, overrides.get("precision", "mixed"))
    elif arch == "stylegan":
        values = _stylegan(cfg, facts, c_dim)
    else:
        values = _dcgan(cfg, facts)
    network_overrides = overrides.pop("network_overrides", None) or {}
    if network_overrides:
        from facegan.networks.config import config_from_dict

        values["network"] = config_from_dict(values["network"]).replace(**network_overrides).to_dict()
    if "batch" in overrides and "batch_gpu" not in overrides:
        overrides["batch_gpu"] = min(values["batch_gpu"], overrides["batch"])
        while overrides["batch"] % overrides["batch_gpu"]:
            overrides["batch_gpu"] -= 1
    if "batch" in overrides and values.get("progressive") is not None:
        # An explicit --batch replaces the per-resolution minibatch table.
        values["progressive"] = dataclasses.replace(values["progressive"], minibatch_base=overrides["batch"],
                                                    minibatch_dict={})
    opts = dict(data=str(data), arch=arch, cfg=cfg, resolution=facts.resolution, **values)
    opts.update(overrides)
    return TrainingOptions(**opts)


# Options that may change when a run is continued (they do not change what is computed).
RESUMABLE_OVERRIDES = ("kimg", "snap", "tick_kimg", "workers", "metrics", "device", "keep_checkpoints")


def resume_options(path: str, **overrides: Any) -> TrainingOptions:
    """The options of the run that `path` (a run directory or one of its checkpoints) belongs to,
    with only the harmless overrides above allowed: anything else would break exact resumption."""
    from pathlib import Path

    from facegan.training.checkpoint import find_checkpoint

    paths = find_checkpoint(path)
    options_file = paths.networks.parent.parent / "options.json"
    if not options_file.is_file():
        raise ConfigError(f"{options_file} is missing: cannot continue this run exactly")
    opts = TrainingOptions.from_json(options_file.read_text())
    overrides = {k: v for k, v in overrides.items() if v is not None}
    bad = sorted(set(overrides) - set(RESUMABLE_OVERRIDES))
    if bad:
        raise ConfigError(f"--resume continues a run with its own options; {', '.join(bad)} cannot change "
                          f"(only {', '.join(RESUMABLE_OVERRIDES)} can)")
    return opts.replace(resume=str(Path(path)), **overrides)
