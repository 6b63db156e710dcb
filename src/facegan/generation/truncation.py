"""Truncation specs: one ψ for every truncated layer, or one ψ per style group.

    parse_truncation("0.7")                         psi 0.7 (on the network's default layers)
    parse_truncation("coarse=0.5,middle=0.7,fine=1")  a different psi per group; groups left out get 1

The per-group form is the seed tutorial's idea of truncating coarse styles (pose, face shape)
harder than fine ones (colour, texture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from facegan.errors import ConfigError
from facegan.generation.mixing import STYLE_GROUPS, group_layers
from facegan.networks.base import truncate


@dataclass(frozen=True)
class Truncation:
    psi: float = 1.0                                      # One psi for every truncated layer.
    groups: dict[str, float] = field(default_factory=dict)  # Or a psi per style group (overrides psi).
    cutoff: int | None = None                             # Layers >= cutoff are never truncated.

    def __post_init__(self) -> None:
        values = [self.psi, *self.groups.values()]
        if not all(math.isfinite(v) for v in values):
            raise ConfigError(f"truncation psi must be finite, got {self.describe()}")
        unknown = set(self.groups) - set(STYLE_GROUPS)
        if unknown:
            raise ConfigError(f"unknown style group(s) {sorted(unknown)}; use {', '.join(STYLE_GROUPS)}")
        if self.cutoff is not None and self.cutoff < 0:
            raise ConfigError(f"--trunc-cutoff must be >= 0, got {self.cutoff}")

    @property
    def per_group(self) -> bool:
        return bool(self.groups)

    def layer_psi(self, num_ws: int) -> torch.Tensor:
        """The psi of every layer (per-group form)."""
        psi = torch.ones(num_ws)
        for group, value in self.groups.items():
            psi[group_layers(group, num_ws)] = float(value)
        return psi

    def describe(self) -> str:
        text = ",".join(f"{g}={v:g}" for g, v in self.groups.items()) if self.groups else f"{self.psi:g}"
        return text if self.cutoff is None else f"{text} (cutoff {self.cutoff})"


def parse_truncation(text: str | float, cutoff: int | None = None) -> Truncation:
    if isinstance(text, (int, float)):
        return Truncation(psi=float(text), cutoff=cutoff)
    text = str(text).strip()
    if "=" not in text:
        try:
            return Truncation(psi=float(text), cutoff=cutoff)
        except ValueError:
            raise ConfigError(f"--trunc must be a number or group=psi pairs, got {text!r}") from None
    groups: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            groups[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"bad truncation {part!r}: write it as coarse=0.5,middle=0.7,fine=1") from None
        if not sep:
            raise ConfigError(f"bad truncation {part!r}: write it as coarse=0.5,middle=0.7,fine=1")
    return Truncation(groups=groups, cutoff=cutoff)


def map_truncated(G, z: torch.Tensor, c: torch.Tensor | None, trunc: Truncation) -> torch.Tensor:
    """z -> truncated ws. A single psi uses the network's own defaults (StyleGAN v1 truncates its
    first 8 layers unless a cutoff is given); per-group psi applies to every layer below the cutoff."""
    if not trunc.per_group:
        return G.mapping(z, c, truncation_psi=trunc.psi, truncation_cutoff=trunc.cutoff)
    ws = G.mapping(z, c, truncation_psi=1.0, truncation_cutoff=G.num_ws)
    return truncate(ws, G.w_avg, trunc.layer_psi(G.num_ws).to(ws.device), trunc.cutoff)


NO_TRUNCATION = Truncation()
