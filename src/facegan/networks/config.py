"""Typed network configurations and the registry of architectures.

Every architecture has a frozen dataclass config (`arch` names it) and registers its generator
and discriminator classes here, with its training traits (`TrainingTraits`): everything in which
training it differs from the others (phases, progressive growing, losses, w_avg, presets, which
options apply). The training loop reads these traits and names no architecture. A config
round-trips through JSON (`to_dict`/`config_from_dict`), which is how it travels inside our
`.safetensors` files and `options.json`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from facegan.errors import ConfigError


@dataclass(frozen=True)
class NetworkConfig:
    """Fields every architecture shares. Subclasses add their own and set `arch`."""

    arch: ClassVar[str] = ""

    resolution: int = 256      # Output resolution (a power of two).
    img_channels: int = 3      # 3 = RGB, 1 = grayscale.
    c_dim: int = 0             # Conditioning label size, 0 = unconditional.

    def __post_init__(self) -> None:
        r = self.resolution
        if not isinstance(r, int) or r < 4 or r & (r - 1):
            raise ConfigError(f"resolution must be a power of two >= 4, got {r!r}")
        if self.img_channels not in (1, 3):
            raise ConfigError(f"img_channels must be 1 or 3, got {self.img_channels!r}")
        if self.c_dim < 0:
            raise ConfigError(f"c_dim must be >= 0, got {self.c_dim!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **dataclasses.asdict(self)}

    def replace(self, **overrides: Any) -> NetworkConfig:
        """A copy with fields replaced; unknown names are an error naming the valid ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ConfigError(f"unknown {self.arch} network option(s) {unknown}; valid: {sorted(names)}")
        return dataclasses.replace(self, **overrides)


# A preset: (dataset facts, c_dim, GPUs, precision) -> training option values, where `network` is
# the network config's dict and `progressive` (if any) a dict of ProgressiveOptions. One function
# can serve several presets with the name bound: functools.partial(fn, name).
PresetFn = Callable[..., dict[str, Any]]
# Values an official train.py derives from the run's final global batch and from fine-tuning
# (stylegan3's ema_kimg, magnitude-EMA beta, blur fade): (preset values, batch, fine_tune) -> values.
DerivedFn = Callable[[dict[str, Any], int, bool], dict[str, Any]]


@dataclass(frozen=True)
class TrainingTraits:
    """How an architecture trains, where it differs from the others."""

    losses: tuple[str, ...]                 # Losses it trains with; the first is the default.
    presets: dict[str, PresetFn]            # Preset name -> option values (see PresetFn).
    default_preset: str                     # The preset used when none is named.
    phase_order: tuple[str, ...] = ("G", "D")  # The order of the G and D phases in a step.
    lazy_regularisation: bool = False       # Regularisers every N steps in their own phases (Greg, Dreg).
    shared_latents: bool = False            # G's phase reuses D's latents (the DCGAN tutorial).
    progressive: bool = False               # Progressive growing (a level of detail `lod`).
    tracks_w_avg: bool = False              # The mapping network's w_avg follows the mean w.
    fakes_use_real_labels: bool = False     # D's fakes get the reals' labels (v1 TF), else random ones.
    path_length: bool = False               # The path-length regulariser exists (logistic loss).
    style_mixing: bool = False              # Style-mixing regularisation exists.
    conditional: bool = True                # Can condition on labels (--cond).
    augmentable: bool = True                # Can train with augmentation (--aug ada/fixed).
    optimizers: tuple[str, ...] = ("adam",)  # Optimisers it trains with ('adam', 'rmsprop'); the first is the default.
    averages_phase: str = "G"               # Whose fakes move G's running averages (w_avg, magnitude EMAs):
                                            # 'G' (G's main phase) or 'D' (D's main phase, as stylegan3's loss).
    steps_unreached_params: bool = True     # A parameter a phase's loss does not reach (D's output bias under
                                            # R1) steps with a zero gradient (TF's tflib optimizer, the `* 0`
                                            # terms of stylegan2-ada-pytorch's loss); False: the optimiser
                                            # skips it (no gradient), as stylegan3's loss and loop.
    derived: DerivedFn | None = None        # Values recomputed from the final --batch and fine-tuning (see DerivedFn).

    def __post_init__(self) -> None:
        if self.averages_phase not in ("G", "D"):
            raise ConfigError(f"averages_phase must be 'G' or 'D', got {self.averages_phase!r}")


@dataclass(frozen=True)
class Architecture:
    name: str
    config_cls: type[NetworkConfig]
    generator: Callable[[Any], Any]
    discriminator: Callable[[Any], Any] | None
    training: TrainingTraits | None = None


_REGISTRY: dict[str, Architecture] = {}


def register_architecture(config_cls: type[NetworkConfig], generator, discriminator=None,
                          training: TrainingTraits | None = None) -> None:
    """Make an architecture buildable from its config (called once by each network module), and
    trainable when `training` is given."""
    _REGISTRY[config_cls.arch] = Architecture(config_cls.arch, config_cls, generator, discriminator, training)


def register_training(arch: str, training: TrainingTraits) -> None:
    """Give an already registered architecture its training traits."""
    _REGISTRY[arch] = dataclasses.replace(_REGISTRY[arch], training=training)


def trainable_architectures() -> list[str]:
    _ensure_registered()
    return sorted(name for name, a in _REGISTRY.items() if a.training is not None and a.discriminator is not None)


def training_traits(arch: str) -> TrainingTraits:
    """The training traits of `arch`; an error naming the trainable ones if it has none."""
    traits = get_architecture(arch).training
    if traits is None:
        raise ConfigError(f"architecture {arch!r} cannot be trained; trainable: "
                          f"{', '.join(trainable_architectures())}")
    return traits


def _ensure_registered() -> None:
    # Importing the package registers every built-in architecture.
    import facegan.networks  # noqa: F401


def architectures() -> list[str]:
    _ensure_registered()
    return sorted(_REGISTRY)


def get_architecture(name: str) -> Architecture:
    _ensure_registered()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def config_from_dict(d: dict[str, Any]) -> NetworkConfig:
    """Rebuild a config from `to_dict` output, checking every field name and coercing JSON types."""
    d = dict(d)
    arch = d.pop("arch", None)
    if arch is None:
        raise ConfigError("network config has no 'arch' field")
    cls = get_architecture(arch).config_cls
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {arch} network option(s) {unknown} (written by a newer facegan?)")
    hints = typing.get_type_hints(cls)
    for name, value in d.items():
        if isinstance(value, list) and "tuple" in str(hints.get(name, "")):
            d[name] = tuple(value)
    return cls(**d)


def build_generator(config: NetworkConfig):
    return get_architecture(config.arch).generator(config)


def build_discriminator(config: NetworkConfig):
    arch = get_architecture(config.arch)
    if arch.discriminator is None:
        raise ConfigError(f"architecture {config.arch!r} has no discriminator")
    return arch.discriminator(config)
