"""The style-mixing matrix (StyleGAN paper, figure 3; stylegan2-ada-pytorch's style_mixing.py).

Each row seed is a destination, each column seed a source: the cell (row, col) is the row seed's ws
with the selected layers replaced by the column seed's. The top row shows the column sources, the
left column the row sources, and the top-left corner is black. With `styles='coarse'` (layers of
4²-8²) a cell takes pose, face shape and hair style from its column and the rest from its row.

    fig = style_mixing(G, rows=[85, 100, 75], cols=[55, 821, 1789], styles="coarse")
    fig.grid                 # the matrix
    fig.cells["85-55"]       # row 85 with the coarse styles of 55 (file names as the official script)
    fig.cells["55-55"]       # the source images themselves
"""

from __future__ import annotations

import numpy as np
import torch

from facegan.generation.figures import Figure, ws_for_seeds
from facegan.generation.images import synthesize
from facegan.generation.mixing import mix_styles, style_layers
from facegan.generation.truncation import NO_TRUNCATION, Truncation
from facegan.utils.images import make_grid


@torch.inference_mode()
def style_mixing(G, rows: list[int], cols: list[int], styles: str = "0-6", trunc: Truncation = NO_TRUNCATION,
                 noise_mode: str = "const", class_idx: int | None = None, batch_size: int = 8) -> Figure:
    """The style-mixing matrix. Cells are named '{row}-{col}' (mixed) and '{seed}-{seed}' (each source),
    the names of the official script's files."""
    layers = style_layers(styles, G.num_ws)
    seeds = list(dict.fromkeys(list(rows) + list(cols)))           # each seed once, in order
    ws = ws_for_seeds(G, seeds, trunc, class_idx)
    w_of = {s: ws[i:i + 1] for i, s in enumerate(seeds)}
    sources = synthesize(G, ws, noise_mode, batch_size)
    cells = {f"{s}-{s}": sources[i] for i, s in enumerate(seeds)}
    mixed_ws = torch.cat([mix_styles(w_of[r], w_of[c], layers) for r in rows for c in cols])
    mixed = synthesize(G, mixed_ws, noise_mode, batch_size)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        cells[f"{r}-{c}"] = mixed[k]

    grid_cells = [np.zeros_like(sources[0])] + [cells[f"{c}-{c}"] for c in cols]
    for r in rows:
        grid_cells += [cells[f"{r}-{r}"]] + [cells[f"{r}-{c}"] for c in cols]
    return Figure(make_grid(np.stack(grid_cells), cols=len(cols) + 1), cells)
