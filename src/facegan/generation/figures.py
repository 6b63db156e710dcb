"""The figures: the style-mixing matrix, the truncation sweep, the noise figure.

Each returns the grid image and its cells, so the CLI (or a notebook) can save or show them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from facegan.generation.images import class_labels, synthesize
from facegan.generation.latents import seeds_to_z
from facegan.generation.mixing import mix_styles, style_layers
from facegan.generation.truncation import NO_TRUNCATION, Truncation, map_truncated
from facegan.networks.base import truncate
from facegan.utils.images import make_grid


@dataclass
class Figure:
    grid: np.ndarray                 # uint8 HWC
    cells: dict[str, np.ndarray]     # name -> uint8 HWC


def _ws_for_seeds(G, seeds: list[int], trunc: Truncation, class_idx: int | None) -> torch.Tensor:
    device = next(G.parameters()).device
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim)).float().to(device)
    return map_truncated(G, z, class_labels(G, class_idx, len(seeds), device), trunc)


@torch.inference_mode()
def style_mixing(G, rows: list[int], cols: list[int], styles: str = "0-6", trunc: Truncation = NO_TRUNCATION,
                 noise_mode: str = "const", class_idx: int | None = None) -> Figure:
    """The paper's style-mixing matrix: each row seed is the destination, each column seed gives the
    selected styles. Top row: the column sources; left column: the row sources; top-left: blank.

    Cells: '{row}-{col}' (mixed), plus 'row{seed}' and 'col{seed}'.
    """
    layers = style_layers(styles, G.num_ws)
    row_ws, col_ws = _ws_for_seeds(G, rows, trunc, class_idx), _ws_for_seeds(G, cols, trunc, class_idx)
    row_img, col_img = synthesize(G, row_ws, noise_mode), synthesize(G, col_ws, noise_mode)
    mixed = torch.cat([mix_styles(row_ws[i:i + 1].expand(len(cols), -1, -1), col_ws, layers)
                       for i in range(len(rows))])
    mixed_img = synthesize(G, mixed, noise_mode)
    blank = np.zeros_like(row_img[0]) + 255
    cells_grid = [blank] + list(col_img)
    cells = {f"col{s}": col_img[j] for j, s in enumerate(cols)}
    for i, r in enumerate(rows):
        cells[f"row{r}"] = row_img[i]
        cells_grid.append(row_img[i])
        for j, c in enumerate(cols):
            cells[f"{r}-{c}"] = mixed_img[i * len(cols) + j]
            cells_grid.append(mixed_img[i * len(cols) + j])
    return Figure(make_grid(np.stack(cells_grid), cols=len(cols) + 1), cells)


@torch.inference_mode()
def truncation_sweep(G, seeds: list[int], psis: list[float], noise_mode: str = "const",
                     class_idx: int | None = None) -> Figure:
    """One row per seed, one column per psi, psi applied to every layer around w_avg (the paper's
    figure 8 and the seed tutorial's sweep from -1 to 1). Cells: 'seed{seed}-psi{psi}'."""
    ws = _ws_for_seeds(G, seeds, Truncation(1.0, cutoff=G.num_ws), class_idx)
    rows, cells = [], {}
    for i, seed in enumerate(seeds):
        swept = torch.cat([truncate(ws[i:i + 1], G.w_avg, psi) for psi in psis])
        images = synthesize(G, swept, noise_mode)
        for j, psi in enumerate(psis):
            cells[f"seed{seed}-psi{psi:g}"] = images[j]
        rows.extend(images)
    return Figure(make_grid(np.stack(rows), cols=len(psis)), cells)


def _noise_layers(G) -> list[tuple[torch.nn.Module, int]]:
    """Every synthesis layer with noise, with the resolution its noise map has."""
    return [(m, int(m.noise_const.shape[-1])) for m in G.synthesis.modules()
            if hasattr(m, "noise_strength") and hasattr(m, "noise_const")]


@contextlib.contextmanager
def noise_only_where(G, keep: Callable[[int], bool]) -> Iterator[None]:
    """Temporarily silence the noise of every layer whose resolution `keep` rejects."""
    saved = []
    with torch.no_grad():
        for layer, res in _noise_layers(G):
            if not keep(res):
                saved.append((layer, layer.noise_strength.detach().clone()))
                layer.noise_strength.zero_()
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, value in saved:
                layer.noise_strength.copy_(value)


NOISE_SCOPES: dict[str, Callable[[int], bool]] = {
    "all": lambda r: True,
    "none": lambda r: False,
    "fine": lambda r: r >= 64,     # layers 8 and up: 64x64 and finer
    "coarse": lambda r: r <= 32,   # layers 0-7: 4x4 to 32x32
}


@torch.inference_mode()
def noise_figure(G, seeds: list[int], samples: int = 100, trunc: Truncation = NO_TRUNCATION,
                 class_idx: int | None = None, seed: int = 0) -> tuple[Figure, Figure]:
    """The paper's noise figures.

    components (figure 5): per seed, random noise in all layers, in none, in the fine layers only
    (64x64 and up) and in the coarse layers only (up to 32x32).
    detail (figure 4): per seed, the image and the per-pixel standard deviation over `samples`
    noise realisations, scaled x4 (as the paper) and shown in grey.
    """
    if G.num_ws <= 1 or not _noise_layers(G):
        from facegan.errors import ConfigError

        raise ConfigError("this network has no noise inputs (the noise figure needs StyleGAN or StyleGAN2)")
    torch.manual_seed(seed)
    ws = _ws_for_seeds(G, seeds, trunc, class_idx)
    comp_cells, comp_grid, detail_cells, detail_grid = {}, [], {}, []
    for i, s in enumerate(seeds):
        for scope, keep in NOISE_SCOPES.items():
            with noise_only_where(G, keep):
                img = synthesize(G, ws[i:i + 1], "random")[0]
            comp_cells[f"seed{s}-{scope}"] = img
            comp_grid.append(img)
        stack = torch.cat([G.synthesis(ws[i:i + 1].expand(min(16, samples - k), -1, -1), noise_mode="random").float()
                           for k in range(0, samples, 16)])
        std = stack.std(dim=0).mean(dim=0)                      # [H, W] in [-1, 1] units
        std_img = np.clip(std.cpu().numpy() * 4 * 127.5, 0, 255).astype(np.uint8)
        std_img = np.repeat(std_img[:, :, None], G.img_channels, axis=2)
        mean_img = synthesize(G, ws[i:i + 1], "const")[0]
        detail_cells[f"seed{s}-image"], detail_cells[f"seed{s}-std"] = mean_img, std_img
        detail_grid += [mean_img, std_img]
    return (Figure(make_grid(np.stack(comp_grid), cols=len(NOISE_SCOPES)), comp_cells),
            Figure(make_grid(np.stack(detail_grid), cols=2), detail_cells))
