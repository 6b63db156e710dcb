"""Typed network configurations and the registry of architectures.

Every architecture has a frozen dataclass config (`arch` names it) and registers its generator
and discriminator classes here. A config round-trips through JSON (`to_dict`/`config_from_dict`),
which is how it travels inside our `.safetensors` files and `options.json`.
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


@dataclass(frozen=True)
class Architecture:
    name: str
    config_cls: type[NetworkConfig]
    generator: Callable[[Any], Any]
    discriminator: Callable[[Any], Any] | None


_REGISTRY: dict[str, Architecture] = {}


def register_architecture(config_cls: type[NetworkConfig], generator, discriminator=None) -> None:
    """Make an architecture buildable from its config (called once by each network module)."""
    _REGISTRY[config_cls.arch] = Architecture(config_cls.arch, config_cls, generator, discriminator)


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
