"""The StyleGAN paper's noise figures: what the per-layer noise inputs do.

components (figure 5): per seed, the image with noise in all layers, in none, in the fine layers only
    (64² and up: layers 8-17 of a 1024² network) and in the coarse layers only (up to 32²: layers
    0-7). As the official figure, the stored constant noise maps are used (noise_mode 'const'), so
    the figure is reproducible; the paper composites halves of these images, we show them whole.
detail (figure 4): per seed, one noise realisation, a 2x2 panel of the same region of four more
    realisations (zoomed 2x, nearest neighbour), and the per-pixel standard deviation over
    `samples` realisations (100 in the paper) of the same latent, computed as the official figure:
    std over samples of the channel-mean uint8 images, x4, rounded.

    components, detail = noise_figure(G, seeds=[1157, 1012])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from facegan.errors import ConfigError
from facegan.generation.figures import Figure, gray_cell, ws_for_seeds
from facegan.generation.images import synthesize
from facegan.generation.truncation import NO_TRUNCATION, Truncation
from facegan.utils.images import make_grid, to_uint8

# scope -> which noise layers (by the resolution they act on) keep their noise.
NOISE_SCOPES: dict[str, Callable[[int], bool]] = {
    "all": lambda res: True,
    "none": lambda res: False,
    "fine": lambda res: res >= 64,     # layers 8 and up
    "coarse": lambda res: res <= 32,   # layers 0-7
}

# The paper's crop of a 1024² image, (x0, y0, x1, y1) = (650, 180, 906, 436), as fractions.
DETAIL_CROP = (650 / 1024, 180 / 1024)


def noise_layers(G) -> list[tuple[torch.nn.Module, int]]:
    """Every synthesis layer with a noise input, and the resolution of its noise map."""
    return [(m, int(m.noise_const.shape[-1])) for m in G.synthesis.modules()
            if isinstance(getattr(m, "noise_strength", None), torch.Tensor)
            and isinstance(getattr(m, "noise_const", None), torch.Tensor)]


def require_noise(G) -> None:
    if not noise_layers(G):
        raise ConfigError("this network has no noise inputs: the noise figures need a StyleGAN or StyleGAN2 network")


@contextlib.contextmanager
def noise_only_where(G, keep: Callable[[int], bool]) -> Iterator[None]:
    """Temporarily scale the noise of every layer whose resolution `keep` rejects by 0 (as the official
    figure zeroes those noise inputs); the network is restored on exit."""
    saved = []
    with torch.no_grad():
        for layer, res in noise_layers(G):
            if not keep(res):
                saved.append((layer, layer.noise_strength.detach().clone()))
                layer.noise_strength.zero_()
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, value in saved:
                layer.noise_strength.copy_(value)


@torch.inference_mode()
def noise_components(G, seeds: list[int], trunc: Truncation = NO_TRUNCATION, noise_mode: str = "const",
                     class_idx: int | None = None) -> Figure:
    """Figure 5: one row per seed: all | none | fine | coarse. Cells 'seed{s}-{scope}'."""
    require_noise(G)
    ws = ws_for_seeds(G, seeds, trunc, class_idx)
    by_scope = {}
    for scope, keep in NOISE_SCOPES.items():
        with noise_only_where(G, keep):
            by_scope[scope] = synthesize(G, ws, noise_mode)
    cells = {f"seed{s}-{scope}": by_scope[scope][i] for i, s in enumerate(seeds) for scope in NOISE_SCOPES}
    return Figure(make_grid(np.stack(list(cells.values())), cols=len(NOISE_SCOPES)), cells)


def _crop_panel(images: np.ndarray) -> np.ndarray:
    """The paper's 2x2 panel: the same crop (a quarter of the width) of 4 images, each zoomed 2x."""
    _, h, w, c = images.shape
    size = max(1, w // 4)
    x0, y0 = min(round(DETAIL_CROP[0] * w), w - size), min(round(DETAIL_CROP[1] * h), h - size)
    panel = np.zeros((2 * (h // 2), 2 * (w // 2), c), np.uint8)
    for i in range(4):
        crop = images[i, y0:y0 + size, x0:x0 + size]
        ys = np.arange(h // 2) * size // (h // 2)  # nearest-neighbour resize to (h/2, w/2)
        xs = np.arange(w // 2) * size // (w // 2)
        r, q = divmod(i, 2)
        panel[r * (h // 2):(r + 1) * (h // 2), q * (w // 2):(q + 1) * (w // 2)] = crop[ys][:, xs]
    return panel


@torch.inference_mode()
def noise_detail(G, seeds: list[int], samples: int = 100, trunc: Truncation = NO_TRUNCATION,
                 noise_mode: str = "random", class_idx: int | None = None, seed: int = 0,
                 batch_size: int = 8) -> Figure:
    """Figure 4: one row per seed: a realisation | 2x2 zoomed crops of four more | std map x4.

    Cells 'seed{s}-image', 'seed{s}-crops', 'seed{s}-std'. The noise draws come from their own
    generator seeded with `seed` (the global torch RNG is left as it was).
    """
    require_noise(G)
    if samples < 2:
        raise ConfigError(f"the noise detail figure needs at least 2 samples, got {samples}")
    ws = ws_for_seeds(G, seeds, trunc, class_idx)
    device = ws.device
    cells: dict[str, np.ndarray] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i, s in enumerate(seeds):
            first, total, total_sq = [], 0.0, 0.0
            for k in range(0, samples, batch_size):
                n = min(batch_size, samples - k)
                img = to_uint8(G.synthesis(ws[i:i + 1].expand(n, -1, -1), noise_mode=noise_mode).float())
                gray = img.astype(np.float64).mean(axis=3)                  # [n, H, W]
                total, total_sq = total + gray.sum(0), total_sq + np.square(gray).sum(0)
                first += list(img[:max(0, 5 - len(first))])
            mean = total / samples
            std = np.sqrt(np.maximum(total_sq / samples - np.square(mean), 0))
            cells[f"seed{s}-image"] = first[0]
            cells[f"seed{s}-crops"] = _crop_panel(np.stack([first[1 + k % (len(first) - 1)] for k in range(4)]))
            cells[f"seed{s}-std"] = gray_cell(std * 4, G.img_channels)
    return Figure(make_grid(np.stack(list(cells.values())), cols=3), cells)


def noise_figure(G, seeds: list[int], samples: int = 100, trunc: Truncation = NO_TRUNCATION,
                 class_idx: int | None = None, seed: int = 0) -> tuple[Figure, Figure]:
    """Both noise figures (components, detail) for the same seeds."""
    return (noise_components(G, seeds, trunc, class_idx=class_idx),
            noise_detail(G, seeds, samples, trunc, class_idx=class_idx, seed=seed))
