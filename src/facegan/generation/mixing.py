"""Style mixing: which layers of w are coarse, middle and fine, and mixing two sets of styles.

Layer i of ws drives the synthesis at resolution 2^(2 + i // 2) (two layers per resolution from
4x4 up; StyleGAN2's ToRGB layers share the index of the next block's first conv). The StyleGAN
paper's groups are: coarse = 4²-8² (layers 0-3: pose, face shape, hair style, eyeglasses),
middle = 16²-32² (layers 4-7: facial features, eyes), fine = 64² and up (layers 8+: colour scheme,
micro-structure).
"""

from __future__ import annotations

import torch

from facegan.errors import ConfigError
from facegan.utils.parsing import parse_int_list

# group -> (lowest, highest) resolution it covers; None = up to the output resolution.
STYLE_GROUPS: dict[str, tuple[int, int | None]] = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, None)}


def layer_resolution(index: int) -> int:
    """The resolution that layer `index` of ws drives."""
    return 2 ** (2 + index // 2)


def group_layers(group: str, num_ws: int) -> list[int]:
    """The ws indices of a style group ('coarse', 'middle' or 'fine') for a network with num_ws layers."""
    if group not in STYLE_GROUPS:
        raise ConfigError(f"unknown style group {group!r}; use one of {', '.join(STYLE_GROUPS)}")
    lo, hi = STYLE_GROUPS[group]
    return [i for i in range(num_ws) if lo <= layer_resolution(i) and (hi is None or layer_resolution(i) <= hi)]


def style_layers(spec: str, num_ws: int) -> list[int]:
    """Parse a layer selection: group names and/or indices/ranges, e.g. 'coarse', 'middle,fine', '0-6'."""
    layers: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if part in STYLE_GROUPS:
            layers.update(group_layers(part, num_ws))
        else:
            try:
                layers.update(parse_int_list(part))
            except ConfigError:
                raise ConfigError(f"bad style selection {part!r}: use coarse, middle, fine or layer indices "
                                  f"like 0-6") from None
    bad = sorted(i for i in layers if not 0 <= i < num_ws)
    if bad:
        raise ConfigError(f"style layer(s) {bad} out of range: this network has layers 0-{num_ws - 1}")
    if not layers:
        raise ConfigError(f"style selection {spec!r} selects no layer of this network ({num_ws} layers)")
    return sorted(layers)


def mix_styles(ws_dst: torch.Tensor, ws_src: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """ws_dst with the given layers taken from ws_src (shapes [N, num_ws, w_dim], broadcastable in N)."""
    ws = ws_dst.clone() if ws_dst.shape[0] >= ws_src.shape[0] else ws_dst.expand_as(ws_src).clone()
    ws[:, layers] = ws_src[:, layers].to(ws.dtype).expand(ws.shape[0], len(layers), ws.shape[2])
    return ws
