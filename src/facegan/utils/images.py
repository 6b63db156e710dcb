"""Image conversions at the edges of the networks, grids, and saving.

Inside the networks images are float NCHW in [-1, 1]; at the edges they are uint8 HWC (or NHWC).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from facegan.utils.atomic import atomic_path


def to_uint8(images) -> np.ndarray:
    """Float NCHW in [-1, 1] (torch tensor or array) -> uint8 NHWC, as the official scripts convert.

    x * 127.5 + 128, clamped to [0, 255] and truncated, which is the rounding of (x + 1) * 255 / 2.
    """
    import torch

    if isinstance(images, torch.Tensor):
        x = (images.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        return x.permute(0, 2, 3, 1).cpu().numpy()
    x = np.clip(np.asarray(images, dtype=np.float32) * 127.5 + 128, 0, 255).astype(np.uint8)
    return x.transpose(0, 2, 3, 1)


def from_uint8(images: np.ndarray):
    """uint8 NHWC (or HWC) -> float32 NCHW torch tensor in [-1, 1]."""
    import torch

    a = np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    x = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float()
    return x / 127.5 - 1


def make_grid(images: Sequence[np.ndarray] | np.ndarray, cols: int | None = None, pad: int = 0,
              pad_value: int = 0) -> np.ndarray:
    """Tile uint8 HWC images (all the same size) into one HWC image, row-major, `cols` per row."""
    images = np.asarray(images)
    if images.ndim == 3:  # NHW grayscale
        images = images[..., None]
    n, h, w, c = images.shape
    if cols is None:
        cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c), pad_value, dtype=images.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = r * (h + pad), q * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """Save a uint8 HWC (or HW) image atomically; the format follows the extension (png, jpg, ...)."""
    from PIL import Image

    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    img = Image.fromarray(a)
    ext = os.path.splitext(str(path))[1].lower()
    with atomic_path(path) as tmp:
        if ext in (".jpg", ".jpeg"):
            img.convert("RGB").save(tmp, format="JPEG", quality=quality)
        else:
            img.save(tmp)
