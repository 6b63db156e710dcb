"""The target photo of a projection, prepared as the official projector prepares it: centre-cropped
to a square and resized with Lanczos to the network's resolution.

Deviation: the photo is first turned upright by its EXIF orientation (a phone photo is otherwise
projected on its side); a photo without that tag is unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facegan.errors import ConfigError


def load_target(path: str | os.PathLike, resolution: int, channels: int = 3) -> np.ndarray:
    """The image at `path` as uint8 [resolution, resolution, channels]."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB" if channels == 3 else "L")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such image") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ConfigError(f"{path}: not a readable image ({exc})") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
    im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a
