"""Seeds to images, as the official generate.py: `seed0000.png`, ... (and the latents beside them).

    result = generate_images(G, seeds=[0, 1, 2], trunc=parse_truncation("0.7"))
    save_images(result, "out/", fmt="png", grid=True)
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facegan.errors import ConfigError
from facegan.generation.latents import seeds_to_z
from facegan.generation.truncation import NO_TRUNCATION, Truncation, map_truncated
from facegan.networks.base import NOISE_MODES
from facegan.utils.atomic import atomic_write_bytes
from facegan.utils.device import warn_if_bf16_is_emulated
from facegan.utils.images import make_grid, save_image, to_uint8

log = logging.getLogger(__name__)


@dataclass
class Generated:
    names: list[str]          # File stems: seed0000, ... or proj00, ...
    images: np.ndarray        # uint8 [N, H, W, C]
    z: np.ndarray | None      # [N, z_dim] float64, as drawn from the seeds (None for projected ws)
    ws: np.ndarray            # [N, num_ws, w_dim]


def class_labels(G, class_idx: int | None, n: int, device) -> torch.Tensor | None:
    """One-hot labels for a conditional network. As the official generate.py: a missing label is an
    error, a label given to an unconditional network is ignored with a warning."""
    if G.c_dim == 0:
        if class_idx is not None:
            log.warning("--class %d ignored: this network is unconditional", class_idx)
        return None
    if class_idx is None:
        raise ConfigError(f"this network is conditional: give --class (0-{G.c_dim - 1})")
    return G.make_labels(class_idx, n, device)


@torch.inference_mode()
def synthesize(G, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
               precision: str = "fp32") -> np.ndarray:
    """ws [N, num_ws, w_dim] -> uint8 [N, H, W, C], in minibatches."""
    if noise_mode not in NOISE_MODES:
        raise ConfigError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
    device = next(G.parameters()).device
    warn_if_bf16_is_emulated(precision, device)
    out = []
    for i in range(0, len(ws), batch_size):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            img = G.synthesis(ws[i:i + batch_size].to(device), noise_mode=noise_mode)
        out.append(to_uint8(img.float()))
    return np.concatenate(out) if out else np.zeros((0, G.img_resolution, G.img_resolution, G.img_channels), np.uint8)


@torch.inference_mode()
def generate_images(G, seeds: list[int] | None = None, trunc: Truncation = NO_TRUNCATION, noise_mode: str = "const",
                    class_idx: int | None = None, projected_w: str | os.PathLike | None = None,
                    batch_size: int = 8, precision: str = "fp32") -> Generated:
    """Images for `seeds` (z = RandomState(seed).randn, as official) or for the ws of a projection."""
    device = next(G.parameters()).device
    if projected_w is not None:
        if seeds:
            log.warning("--seeds ignored: generating from --projected-w %s", projected_w)
        ws = load_ws(projected_w, G)
        names = [f"proj{i:02d}" for i in range(len(ws))]
        return Generated(names, synthesize(G, ws, noise_mode, batch_size, precision), None, ws.numpy())
    if not seeds:
        raise ConfigError("give --seeds (e.g. 0-3,7) or --projected-w")
    z64 = seeds_to_z(seeds, G.z_dim)
    z = torch.from_numpy(z64).float().to(device)
    c = class_labels(G, class_idx, len(seeds), device)
    ws = torch.cat([map_truncated(G, z[i:i + batch_size], None if c is None else c[i:i + batch_size], trunc)
                    for i in range(0, len(z), batch_size)])
    images = synthesize(G, ws, noise_mode, batch_size, precision)
    return Generated([f"seed{s:04d}" for s in seeds], images, z64, ws.cpu().numpy())


def load_ws(path: str | os.PathLike, G) -> torch.Tensor:
    """The latents of a projector's projected_w.npz (key `w`) or of a seedNNNN.npz written by `generate`
    (key `ws`): [N, num_ws, w_dim] or [num_ws, w_dim], checked against G."""
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "w" if "w" in data.files else "ws"
            w = np.asarray(data[key], np.float32)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a latents .npz with a numeric 'w' or 'ws' array ({exc})") from None
    w = torch.from_numpy(w)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1:] != (G.num_ws, G.w_dim):
        raise ConfigError(f"{path}: w has shape {tuple(w.shape)}, this network needs [N, {G.num_ws}, {G.w_dim}]")
    if not torch.isfinite(w).all():
        raise ConfigError(f"{path}: w holds non-finite values")
    return w


def save_images(result: Generated, outdir: str | os.PathLike, fmt: str = "png", grid: bool = False,
                save_latents: bool = True) -> list[Path]:
    """Write each image (and its z/ws as .npz), plus grid.<fmt> when asked; returns the image paths."""
    if fmt not in ("png", "jpg"):
        raise ConfigError(f"--format must be png or jpg, got {fmt!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(result.names):
        path = outdir / f"{name}.{fmt}"
        save_image(path, result.images[i])
        paths.append(path)
        if save_latents:
            buf = io.BytesIO()
            arrays = {"ws": result.ws[i:i + 1]}
            if result.z is not None:
                arrays["z"] = result.z[i:i + 1]
            np.savez(buf, **arrays)
            atomic_write_bytes(outdir / f"{name}.npz", buf.getvalue())
    if grid and len(result.images):
        save_grid(result.images, outdir, fmt)
    return paths


def save_grid(images: np.ndarray, outdir: str | os.PathLike, fmt: str = "png") -> Path:
    """grid.<fmt>: the images row-major, 8 per row."""
    path = Path(outdir) / f"grid.{fmt}"
    save_image(path, make_grid(images, cols=min(len(images), 8)))
    return path


def write_images(G, outdir: str | os.PathLike, seeds: list[int] | None = None, trunc: Truncation = NO_TRUNCATION,
                 noise_mode: str = "const", class_idx: int | None = None,
                 projected_w: str | os.PathLike | None = None, fmt: str = "png", grid: bool = False,
                 save_latents: bool = True, batch_size: int = 8, precision: str = "fp32",
                 chunk: int = 64, progress: bool = False) -> list[Path]:
    """generate_images + save_images, `chunk` seeds at a time, so any number of seeds fits in memory
    (only --grid keeps every image). Returns the image paths."""
    from tqdm import tqdm

    if projected_w is not None or not seeds:
        result = generate_images(G, seeds, trunc, noise_mode, class_idx, projected_w, batch_size, precision)
        return save_images(result, outdir, fmt, grid, save_latents)
    paths, kept = [], []
    with tqdm(total=len(seeds), desc="generating", unit="img", disable=not progress or len(seeds) <= chunk) as bar:
        for i in range(0, len(seeds), chunk):
            result = generate_images(G, seeds[i:i + chunk], trunc, noise_mode, class_idx, None, batch_size,
                                     precision)
            paths += save_images(result, outdir, fmt, grid=False, save_latents=save_latents)
            if grid:
                kept.append(result.images)
            bar.update(len(result.names))
    if grid:
        save_grid(np.concatenate(kept), outdir, fmt)
    return paths
