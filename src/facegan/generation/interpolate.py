"""Looping interpolation videos between seeds, in z or in w, linear or spherical.

    frames = interpolation_frames(G, seeds=[1, 2, 3], frames_per_transition=30, space="w", kind="linear")
    write_animation(frames, "walk.mp4", fps=30)       # or walk.gif

The walk visits the seeds in order and returns to the first, so the video loops without a jump.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from facegan.errors import ConfigError
from facegan.generation.images import class_labels, synthesize
from facegan.generation.latents import seeds_to_z
from facegan.generation.truncation import NO_TRUNCATION, Truncation, map_truncated
from facegan.utils.atomic import atomic_path


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation along the last dimension (falls back to lerp for parallel vectors)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    lerp = (1 - t) * a + t * b
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-6, lerp, out)


@torch.inference_mode()
def interpolation_frames(G, seeds: list[int], frames_per_transition: int = 30, space: str = "w",
                         kind: str = "linear", trunc: Truncation = NO_TRUNCATION, noise_mode: str = "const",
                         class_idx: int | None = None, batch_size: int = 8) -> np.ndarray:
    """uint8 frames [len(seeds) * frames_per_transition, H, W, C] of a closed walk through the seeds."""
    if len(seeds) < 2:
        raise ConfigError("interpolation needs at least two seeds")
    if space not in ("z", "w") or kind not in ("linear", "slerp"):
        raise ConfigError("--space must be z or w, --kind linear or slerp")
    if frames_per_transition < 1:
        raise ConfigError("--frames must be >= 1")
    device = next(G.parameters()).device
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim)).float().to(device)
    c = class_labels(G, class_idx, 1, device)
    keys = z if space == "z" else map_truncated(G, z, None if c is None else c.expand(len(z), -1), trunc)
    mix = slerp if kind == "slerp" else (lambda a, b, t: torch.lerp(a, b, t))
    points = []
    for i in range(len(seeds)):
        a, b = keys[i], keys[(i + 1) % len(seeds)]
        points += [mix(a, b, k / frames_per_transition) for k in range(frames_per_transition)]
    points = torch.stack(points)
    if space == "z":
        ws = torch.cat([map_truncated(G, points[i:i + batch_size], None if c is None else
                                      c.expand(len(points[i:i + batch_size]), -1), trunc)
                        for i in range(0, len(points), batch_size)])
    else:
        ws = points
    return synthesize(G, ws, noise_mode, batch_size)


def write_animation(frames: np.ndarray, path: str | os.PathLike, fps: int = 30) -> Path:
    """Frames -> .mp4 (H.264 through imageio-ffmpeg) or .gif (Pillow, looping forever), atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".mp4", ".gif"):
        raise ConfigError(f"--out must end in .mp4 or .gif, got {path.name}")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    with atomic_path(path) as tmp:
        if ext == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=max(1, round(1000 / fps)), disposal=1)
        else:
            try:
                import imageio.v2 as imageio
            except ImportError:
                raise ConfigError("mp4 output needs imageio and imageio-ffmpeg: pip install 'facegan[video]' "
                                  "(or write a .gif)") from None
            h, w = frames.shape[1:3]
            if h % 2 or w % 2:  # H.264 wants even sizes
                frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
            with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                                    pixelformat="yuv420p", macro_block_size=1) as writer:
                for frame in frames:
                    writer.append_data(frame)
    return path
