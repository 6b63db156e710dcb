"""The truncation sweep: one row per seed, one column per ψ (StyleGAN paper, figure 8; the seed
tutorial's figure of ψ from -1 to 1).

ψ is applied to every layer around w_avg, as the official figure does it by hand:
w' = w_avg + ψ (w - w_avg). ψ = 1 is the untruncated face, ψ = 0 the mean face (the same for every
seed), and negative ψ the "anti-face" on the other side of the mean.

    fig = truncation_sweep(G, seeds=[91, 388], psis=[1, 0.7, 0.5, 0, -0.5, -1])
    fig.cells["seed91-psi0.5"]
"""

from __future__ import annotations

import torch

from facegan.generation.figures import Figure, ws_for_seeds
from facegan.generation.images import synthesize
from facegan.generation.truncation import Truncation
from facegan.utils.images import make_grid

DEFAULT_PSIS = (-1.0, -0.7, -0.5, -0.2, 0.0, 0.2, 0.5, 0.7, 1.0)   # the seed tutorial's sweep
PAPER_PSIS = (1.0, 0.7, 0.5, 0.0, -0.5, -1.0)                      # the StyleGAN paper's figure 8


def psi_name(psi: float) -> str:
    return f"psi{psi:g}"


@torch.inference_mode()
def truncation_sweep(G, seeds: list[int], psis: list[float] = DEFAULT_PSIS, noise_mode: str = "const",
                     class_idx: int | None = None, batch_size: int = 8) -> Figure:
    """Cells are named 'seed{seed}-psi{psi}' (e.g. 'seed91-psi-0.5')."""
    ws = ws_for_seeds(G, seeds, Truncation(), class_idx)
    psi = torch.tensor([float(p) for p in psis], dtype=ws.dtype, device=ws.device)
    # [seeds * psis, num_ws, w_dim], row-major: all psi of the first seed, then the next seed.
    swept = torch.lerp(G.w_avg.to(ws.dtype)[None, None], ws[:, None], psi[None, :, None, None]).flatten(0, 1)
    images = synthesize(G, swept, noise_mode, batch_size)
    cells = {f"seed{s}-{psi_name(p)}": images[i * len(psis) + j] for i, s in enumerate(seeds)
             for j, p in enumerate(psis)}
    return Figure(make_grid(images, cols=len(psis)), cells)

