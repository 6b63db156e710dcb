"""Resolving a run's options from a named preset of the architecture registry.

The presets themselves (their names and official values) belong to each architecture's entry in
the registry (facegan.networks.training_presets for the built-in ones); `PRESETS` lists them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from facegan.errors import ConfigError
from facegan.networks.config import trainable_architectures, training_traits
from facegan.training.options import ProgressiveOptions, TrainingOptions, check_options_apply
from facegan.training.resume import resume_plan


def _preset_names() -> dict[str, tuple[str, ...]]:
    return {arch: tuple(training_traits(arch).presets) for arch in trainable_architectures()}


PRESETS = _preset_names()


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


def resolve_options(data: str, arch: str = "stylegan2", cfg: str | None = None, gpus: int = 1,
                    **overrides: Any) -> TrainingOptions:
    """The options of a run: preset values for `arch`/`cfg` on this dataset, then `overrides`
    (None values are ignored: an option not given keeps the preset's value). An override that does
    not apply to the architecture, loss or augmentation is refused (options.APPLIES)."""
    if arch not in trainable_architectures():
        raise ConfigError(f"--arch must be one of {', '.join(trainable_architectures())}, got {arch!r}")
    traits = training_traits(arch)
    cfg = cfg or traits.default_preset
    if cfg not in traits.presets:
        raise ConfigError(f"--cfg {cfg!r} is not a {arch} preset; use one of {', '.join(traits.presets)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    facts = dataset_facts(data)
    cond = bool(overrides.get("cond", False))
    if cond and facts.label_dim == 0:
        raise ConfigError(f"--cond needs labels, but {data} has no labels in dataset.json")
    c_dim = facts.label_dim if cond else 0
    values = traits.presets[cfg](facts, c_dim, gpus, overrides.get("precision", "mixed"))
    values.setdefault("loss", traits.losses[0])
    if traits.derived is not None:  # what the official train.py derives from the final batch and --resume
        resume = overrides.get("resume")
        fine_tune = resume is not None and not resume_plan(resume).continues
        values = traits.derived(values, overrides.get("batch", values["batch"]), fine_tune)
    check_options_apply(overrides, arch, overrides.get("loss", values["loss"]), overrides.get("aug", "noaug"))
    if isinstance(values.get("progressive"), dict):
        values["progressive"] = ProgressiveOptions(**values["progressive"])
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
