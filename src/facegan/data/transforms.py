"""Crops and resizes that turn a decoded photo into a square training image.

- `center-crop`: the largest centred square, resized to the resolution (official `center-crop`).
- `center-crop-wide`: crop the centre to the target aspect ratio (e.g. 512:384), resize to that
  size and paste it centred onto a black square of the full width (the official `center-crop-wide`
  and StyleGAN's `create_lsun_wide`; the LSUN cars networks were trained this way). Deviation: the
  official code cuts a band of rows sized for the *output* width out of the *input* photo, which
  squashes every photo wider than the output (stylegan2-ada-pytorch issue #47), and skips photos
  wider than the aspect ratio; here the crop keeps the aspect ratio, cutting the sides of wide photos.
- `celeba`: CelebA's aligned 178x218 photos with the face in a fixed place: the square of side 128
  centred on (x, y) = (89, 121), i.e. columns 25-152 and rows 57-184, the crop of the official
  `create_celeba`, scaled for a scaled copy of the photos (other shapes are skipped); 128x128 unless
  a resolution is given.
- `keras-face`: the Keras face tutorial's crop of the same photos: rows 15-192 (a 178x178 square,
  the full width), then Pillow's `thumbnail` to 128x128 (or the resolution given), as its code;
  a scaled copy of the photos gets the same crop, scaled.

Resizing uses Pillow's Lanczos (the official default) or box filter (`--resize-filter box`, needed
to reproduce the paper's FFHQ-256 FIDs). Images are never resized when already at the resolution,
and never enlarged more than `max_upscale` times (they are skipped as too small).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegan.data.decode import SkipImage
from facegan.errors import ConfigError

TRANSFORMS = ("center-crop", "center-crop-wide", "celeba", "keras-face")
RESIZE_FILTERS = ("lanczos", "box")

CELEBA_SIZE = (178, 218)        # width, height of img_align_celeba photos
CELEBA_CENTER = (89, 121)       # official create_celeba cx, cy
CELEBA_CROP = 128               # side of the official crop
KERAS_FACE_TOP = 15             # the Keras tutorial's crop: rows 15 to 193 (exclusive), full width


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
                raise ConfigError("center-crop-wide needs the width and height of the picture: --resolution WxH "
                                  "(e.g. 512x384)")
            if not 0 < self.wide_height <= r:
                raise ConfigError(f"the picture height must be in (0, {r}], got {self.wide_height}")
        elif self.wide_height is not None and self.wide_height != r:
            raise ConfigError(f"a non-square resolution ({r}x{self.wide_height}) needs --transform center-crop-wide; "
                              "archives hold square images")


def parse_resolution(text: str | int) -> tuple[int, int | None]:
    """'256' -> (256, None); '512x384' (stylegan3's syntax for center-crop-wide) -> (512, 384)."""
    value = str(text).strip().lower()
    width, sep, height = value.partition("x")
    try:
        return int(width), (int(height) if sep else None)
    except ValueError:
        raise ConfigError(f"--resolution must be N or WxH (e.g. 256 or 512x384), got {text!r}") from None


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


def _celeba_scale(a: np.ndarray) -> float:
    """How much larger than 178x218 an aligned CelebA photo is; other shapes are skipped."""
    h, w = a.shape[:2]
    scale = w / CELEBA_SIZE[0]
    if abs(h - CELEBA_SIZE[1] * scale) > max(1.0, 0.01 * h):
        raise SkipImage(f"{w}x{h} is not an aligned CelebA photo (178x218 or a scaled copy): the face crop "
                        f"would miss the face")
    return scale


def keras_face_crop(a: np.ndarray) -> np.ndarray:
    """The Keras tutorial's crop: the full-width square from row 15 of an aligned CelebA photo."""
    scale = _celeba_scale(a)
    top = int(round(KERAS_FACE_TOP * scale))
    return a[top:top + a.shape[1]]


def thumbnail(a: np.ndarray, resolution: int) -> np.ndarray:
    """Pillow's Image.thumbnail to resolution x resolution (its default filter and reducing gap)."""
    from PIL import Image

    img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
    img.thumbnail((resolution, resolution))
    out = np.asarray(img)
    return out[:, :, None] if out.ndim == 2 else out


def celeba_crop(a: np.ndarray) -> np.ndarray:
    """The official CelebA face crop; a uniformly scaled copy of the 178x218 photos gets the same crop,
    scaled. Photos of any other shape are not aligned CelebA photos and are skipped."""
    scale = _celeba_scale(a)
    side = int(round(CELEBA_CROP * scale))
    x0 = int(round(CELEBA_CENTER[0] * scale - side / 2))
    y0 = int(round(CELEBA_CENTER[1] * scale - side / 2))
    return a[y0:y0 + side, x0:x0 + side]


def apply_transform(a: np.ndarray, opts: TransformOptions) -> np.ndarray:
    """A decoded HWC uint8 image -> the square training image (or SkipImage)."""
    h, w = a.shape[:2]
    if opts.transform == "center-crop":
        a = center_crop(a)
    elif opts.transform == "celeba":
        a = celeba_crop(a)
    elif opts.transform == "keras-face":
        a = keras_face_crop(a)
        if a.shape[1] < (opts.resolution or CELEBA_CROP):
            raise SkipImage(f"too small: a thumbnail never enlarges {a.shape[1]} px to {opts.resolution} px")
        return thumbnail(a, opts.resolution or CELEBA_CROP)
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
    resolution = opts.resolution
    if resolution is None and opts.transform == "celeba":
        resolution = CELEBA_CROP  # the official create_celeba size, whatever the size of the photos
    if resolution is None:
        return a
    _check_upscale(w, resolution, opts)
    return _resize(a, resolution, resolution, opts.resize_filter)
