"""Crops and resizes that turn a decoded photo into a square training image.

- `center-crop`: the largest centred square, resized to the resolution (official `center-crop`).
- `center-crop-wide`: crop to the target aspect ratio (e.g. 512x384), resize to that size and paste
  it centred onto a black square of the full width (official `center-crop-wide`; the LSUN cars
  network was trained this way).
- `celeba`: CelebA's aligned 178x218 photos with the face in a fixed place: the square of side 128
  centred on (x, y) = (89, 121), the crop of the official `create_celeba` (eyes and mouth inside,
  little background), scaled with the image when the photo is not 178x218.

Resizing uses Pillow's Lanczos (the official default) or box filter (`--resize-filter box`, needed
to reproduce the paper's FFHQ-256 FIDs). Images are never resized when already at the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegan.data.decode import SkipImage
from facegan.errors import ConfigError

TRANSFORMS = ("center-crop", "center-crop-wide", "celeba")
RESIZE_FILTERS = ("lanczos", "box")

CELEBA_SIZE = (178, 218)        # width, height of img_align_celeba photos
CELEBA_CENTER = (89, 121)       # official create_celeba cx, cy
CELEBA_CROP = 128               # side of the official crop


@dataclass(frozen=True)
class TransformOptions:
    resolution: int | None = None     # Output side; None = keep the (square) input size.
    transform: str | None = None      # None, 'center-crop', 'center-crop-wide' or 'celeba'.
    resize_filter: str = "lanczos"    # 'lanczos' (official default) or 'box'.
    wide_height: int | None = None    # Height of the picture inside the square for center-crop-wide.
    max_upscale: float = 2.0          # Skip images that would have to be enlarged more than this.

    def __post_init__(self) -> None:
        if self.transform is not None and self.transform not in TRANSFORMS:
            raise ConfigError(f"unknown transform {self.transform!r}; use one of {', '.join(TRANSFORMS)}")
        if self.resize_filter not in RESIZE_FILTERS:
            raise ConfigError(f"unknown resize filter {self.resize_filter!r}; use lanczos or box")
        r = self.resolution
        if r is not None and (r < 4 or r & (r - 1)):
            raise ConfigError(f"--resolution must be a power of two >= 4, got {r}")
        if self.transform == "center-crop-wide":
            if r is None or self.wide_height is None:
                raise ConfigError("center-crop-wide needs --resolution (the width) and --height (the picture height)")
            if not 0 < self.wide_height <= r:
                raise ConfigError(f"--height must be in (0, {r}], got {self.wide_height}")


def _resize(a: np.ndarray, width: int, height: int, resize_filter: str) -> np.ndarray:
    from PIL import Image

    if a.shape[1] == width and a.shape[0] == height:
        return a
    f = Image.Resampling.LANCZOS if resize_filter == "lanczos" else Image.Resampling.BOX
    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    out = np.asarray(img.resize((width, height), f))
    return out[:, :, None] if out.ndim == 2 else out


def _check_upscale(src: int, dst: int, opts: TransformOptions) -> None:
    if dst > src * opts.max_upscale:
        raise SkipImage(f"too small: {src} px would be enlarged {dst / src:.1f}x to {dst} px "
                        f"(limit {opts.max_upscale:g}x, see --max-upscale)")


def center_crop(a: np.ndarray) -> np.ndarray:
    """The largest centred square of an HWC image."""
    h, w = a.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return a[y:y + s, x:x + s]


def celeba_crop(a: np.ndarray) -> np.ndarray:
    """The official CelebA face crop, scaled to the photo's size if it is not 178x218."""
    h, w = a.shape[:2]
    sx, sy = w / CELEBA_SIZE[0], h / CELEBA_SIZE[1]
    side = int(round(CELEBA_CROP * min(sx, sy)))
    cx, cy = CELEBA_CENTER[0] * sx, CELEBA_CENTER[1] * sy
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    if x0 < 0 or y0 < 0 or x0 + side > w or y0 + side > h:
        raise SkipImage(f"{w}x{h} is not an aligned CelebA photo: the face crop falls outside it")
    return a[y0:y0 + side, x0:x0 + side]


def apply_transform(a: np.ndarray, opts: TransformOptions) -> np.ndarray:
    """A decoded HWC uint8 image -> the square training image (or SkipImage)."""
    h, w = a.shape[:2]
    if opts.transform == "center-crop":
        a = center_crop(a)
    elif opts.transform == "celeba":
        a = celeba_crop(a)
    elif opts.transform == "center-crop-wide":
        width, height = opts.resolution, opts.wide_height
        # Crop to the target aspect ratio, around the centre.
        if w * height > h * width:  # too wide: cut the sides
            cw, ch = int(round(h * width / height)), h
        else:                       # too tall: cut top and bottom
            cw, ch = w, int(round(w * height / width))
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        a = a[y0:y0 + ch, x0:x0 + cw]
        _check_upscale(cw, width, opts)
        a = _resize(a, width, height, opts.resize_filter)
        canvas = np.zeros((width, width, a.shape[2]), np.uint8)
        top = (width - height) // 2
        canvas[top:top + height] = a
        return canvas
    h, w = a.shape[:2]
    if h != w:
        raise SkipImage(f"not square ({w}x{h}); use --transform center-crop")
    if opts.resolution is None:
        return a
    _check_upscale(w, opts.resolution, opts)
    return _resize(a, opts.resolution, opts.resolution, opts.resize_filter)
