"""Turning pixels into the bytes the app serves.

The game's two images go through exactly the same steps (`to_display` then `encode_png`), so the
bytes a player receives are a function of the pixels alone: same size, same mode, same encoder
settings, no metadata chunks, nothing that says where an image came from.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PNG_COMPRESS_LEVEL = 6   # zlib level of every PNG the app writes (fixed: part of "same settings").


def to_display(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 HWC (any size, C = 1 or 3) -> uint8 [size, size, channels]: centre-cropped to a square,
    resized with a Lanczos filter when the size differs, converted to grey or RGB."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected uint8 HWC with 1 or 3 channels, got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        a = a[top:top + s, left:left + s]
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    out = np.asarray(img)
    return out[:, :, None] if out.ndim == 2 else out


def encode_png(image: np.ndarray, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """uint8 HWC -> PNG bytes (IHDR, IDAT, IEND only)."""
    a = np.asarray(image)
    img = Image.fromarray(a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level, optimize=False)
    return buf.getvalue()

