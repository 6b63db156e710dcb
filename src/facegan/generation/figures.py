"""What the figure commands share: a figure is a grid image plus its named cells, built from seeds.

The figures themselves live one per module: `style_mix`, `truncation_sweep`, `noise_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facegan.generation.images import class_labels
from facegan.generation.latents import seeds_to_z
from facegan.generation.truncation import Truncation, map_truncated


@dataclass
class Figure:
    grid: np.ndarray                 # uint8 HWC: the whole figure.
    cells: dict[str, np.ndarray]     # name -> uint8 HWC: each image of the figure, by a stable name.


def ws_for_seeds(G, seeds: list[int], trunc: Truncation, class_idx: int | None, batch_size: int = 64) -> torch.Tensor:
    """The (truncated) ws [len(seeds), num_ws, w_dim] of `seeds`, z drawn as the official scripts draw it."""
    device = next(G.parameters()).device
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim)).float().to(device)
    c = class_labels(G, class_idx, len(seeds), device)
    return torch.cat([map_truncated(G, z[i:i + batch_size], None if c is None else c[i:i + batch_size], trunc)
                      for i in range(0, len(z), batch_size)])


def gray_cell(values: np.ndarray, channels: int) -> np.ndarray:
    """A float HW map (already in 0-255 units) -> a uint8 HWC cell, rounded as the official figures round."""
    cell = np.clip(values + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(cell[:, :, None], channels, axis=2)
