"""Looping interpolation videos between seeds, in z or in w, linear or spherical.

    frames = interpolation_frames(G, seeds=[1, 2, 3], frames_per_transition=30, space="w", kind="linear")
    write_animation(frames, "walk.mp4", fps=30)       # or walk.gif

The walk visits the seeds in order and returns to the first, so the video loops without a jump.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
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
def interpolation_ws(G, seeds: list[int], frames_per_transition: int = 30, space: str = "w", kind: str = "linear",
                     trunc: Truncation = NO_TRUNCATION, class_idx: int | None = None,
                     batch_size: int = 64) -> torch.Tensor:
    """The ws [len(seeds) * frames_per_transition, num_ws, w_dim] of a closed walk through the seeds:
    frame k * frames_per_transition is seed k exactly, and the last frame is one step before the first."""
    if len(seeds) < 2:
        raise ConfigError("interpolation needs at least two seeds")
    if space not in ("z", "w") or kind not in ("linear", "slerp"):
        raise ConfigError("--space must be z or w, --kind linear or slerp")
    if frames_per_transition < 1:
        raise ConfigError("--frames must be >= 1")
    device = next(G.parameters()).device
    z = torch.from_numpy(seeds_to_z(seeds, G.z_dim)).float().to(device)
    c = class_labels(G, class_idx, 1, device)

    def to_w(points: torch.Tensor) -> torch.Tensor:
        return torch.cat([map_truncated(G, p, None if c is None else c.expand(len(p), -1), trunc)
                          for p in points.split(batch_size)])

    keys = z if space == "z" else to_w(z)
    mix = slerp if kind == "slerp" else torch.lerp
    points = torch.stack([mix(keys[i], keys[(i + 1) % len(seeds)], k / frames_per_transition)
                          for i in range(len(seeds)) for k in range(frames_per_transition)])
    return to_w(points) if space == "z" else points


def interpolation_frames(G, seeds: list[int], frames_per_transition: int = 30, space: str = "w",
                         kind: str = "linear", trunc: Truncation = NO_TRUNCATION, noise_mode: str = "const",
                         class_idx: int | None = None, batch_size: int = 8) -> np.ndarray:
    """uint8 frames [len(seeds) * frames_per_transition, H, W, C] of the closed walk (see interpolation_ws)."""
    ws = interpolation_ws(G, seeds, frames_per_transition, space, kind, trunc, class_idx)
    return synthesize(G, ws, noise_mode, batch_size)


def write_interpolation(G, path: str | os.PathLike, seeds: list[int], frames_per_transition: int = 30,
                        space: str = "w", kind: str = "linear", trunc: Truncation = NO_TRUNCATION,
                        noise_mode: str = "const", class_idx: int | None = None, fps: int = 30,
                        batch_size: int = 8, progress: bool = False) -> int:
    """Render the walk straight into a video (frames never all in memory); returns the frame count."""
    from tqdm import tqdm

    ws = interpolation_ws(G, seeds, frames_per_transition, space, kind, trunc, class_idx)
    with animation_writer(path, fps) as append, tqdm(total=len(ws), desc="rendering", unit="frame",
                                                     disable=not progress) as bar:
        for batch in ws.split(batch_size):
            for frame in synthesize(G, batch, noise_mode, batch_size):
                append(frame)
            bar.update(len(batch))
    return len(ws)


VIDEO_SUFFIXES = (".mp4", ".gif")


@contextlib.contextmanager
def animation_writer(path: str | os.PathLike, fps: int = 30) -> Iterator[Callable[[np.ndarray], None]]:
    """Write frames one by one to .mp4 (H.264 through imageio-ffmpeg) or .gif (Pillow, looping forever);
    the file appears, complete, only when the block ends without an error.

        with animation_writer("walk.mp4", fps=30) as append:
            for frame in frames:     # uint8 HWC (grayscale HW1 is shown as RGB)
                append(frame)
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in VIDEO_SUFFIXES:
        raise ConfigError(f"an animation must end in .mp4 or .gif, got {path.name}")
    if fps < 1:
        raise ConfigError(f"fps must be >= 1, got {fps}")

    def rgb(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame, np.uint8)
        return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame

    with atomic_path(path) as tmp:
        if ext == ".gif":
            from PIL import Image

            images: list = []
            yield lambda frame: images.append(Image.fromarray(rgb(frame)))
            if not images:
                raise ConfigError(f"{path.name}: no frames to write")
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=max(1, round(1000 / fps)), disposal=1)
            return
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise ConfigError("mp4 output needs imageio and imageio-ffmpeg: pip install 'facegan[video]' "
                              "(or write a .gif)") from None

        def even(frame: np.ndarray) -> np.ndarray:  # H.264 in yuv420p wants even sizes
            h, w = frame.shape[:2]
            return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0))) if h % 2 or w % 2 else frame

        with imageio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                                pixelformat="yuv420p", macro_block_size=1) as writer:
            yield lambda frame: writer.append_data(even(rgb(frame)))


def write_animation(frames: np.ndarray, path: str | os.PathLike, fps: int = 30) -> Path:
    """Frames [N, H, W, C] -> .mp4 or .gif, atomically (see `animation_writer`)."""
    with animation_writer(path, fps) as append:
        for frame in frames:
            append(frame)
    return Path(path)
