"""The target photo of a projection, prepared as the official projector prepares it: centre-cropped
to a square and resized with Lanczos to the network's resolution.

Deviation: the photo is first turned upright by its EXIF orientation (a phone photo is otherwise
projected on its side); a photo without that tag is unchanged.

With `align=True` the largest face is found and aligned as FFHQ's were (facegan.data.faces)
instead of the centre crop: what FFHQ networks expect, and what the official projector assumes
its targets already are. Faces may be enlarged up to 4x.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facegan.errors import ConfigError

ALIGN_MAX_UPSCALE = 4.0


def load_target(path: str | os.PathLike, resolution: int, channels: int = 3, align: bool = False) -> np.ndarray:
    """The image at `path` as uint8 [resolution, resolution, channels]; `align`: its FFHQ-aligned face."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if align:
        return _aligned_face(path, resolution, channels)
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


def _aligned_face(path: Path, resolution: int, channels: int) -> np.ndarray:
    from facegan.data.decode import SkipImage, decode_image, rgb_to_gray
    from facegan.data.faces import AlignOptions, align_photo

    try:
        photo, _ = decode_image(path.read_bytes(), channels=3)
        faces = align_photo(photo, AlignOptions(resolution=resolution, max_upscale=ALIGN_MAX_UPSCALE))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except SkipImage as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not faces.aligned:
        raise ConfigError(f"{path}: {faces.reason()}; leave out --align to project the centre crop")
    face = faces.aligned[0].image
    return rgb_to_gray(face) if channels == 1 else face
