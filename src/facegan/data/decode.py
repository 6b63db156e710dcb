"""Decoding untrusted image files into clean uint8 arrays, or a reason to skip them.

Real photo folders hold everything: corrupt and truncated files, non-images, grayscale, RGBA,
CMYK, 16-bit, palette and EXIF-rotated images, tiny thumbnails and decompression bombs. Each file
either becomes a uint8 HWC array with 1 (L) or 3 (RGB) channels, converted where that is sound, or
raises `SkipImage` with a short reason for the report:

- EXIF orientation is applied, so portrait photos stand upright.
- Transparency (RGBA, LA, palette with transparency) is composited onto black, the colour the
  official `center-crop-wide` pads with, instead of silently dropping the alpha channel.
- CMYK, YCbCr, LAB, HSV and palette images are converted to RGB; 1-bit to L.
- 16-bit images are scaled to 8 bits (divided by 257, rounded; not clipped); float images whose
  values lie in [0, 1] are scaled by 255. Integer or float images outside those ranges have no
  known white point and are skipped.
- Truncated files are skipped (Pillow would otherwise fill the missing rows with grey), whatever
  `PIL.ImageFile.LOAD_TRUNCATED_IMAGES` says.
- Images over `max_pixels` (default: Pillow's own limit, 89 478 485 pixels, about 9459 x 9459) are
  skipped from their header, before any pixel is decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3  # Pillow's default Image.MAX_IMAGE_PIXELS


class SkipImage(Exception):
    """This file cannot be used; the message is the reason shown in the report."""


def decode_image(data: bytes, channels: int | None = 3,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """Decode image bytes to uint8 HWC with `channels` (1, 3, or None to keep the image's 1 or 3).

    Returns the array and a list of the conversions applied (empty for a clean RGB/L image).
    Raises SkipImage for anything that cannot soundly become an image.
    """
    from PIL import Image, ImageFile, ImageOps

    notes: list[str] = []
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise SkipImage(f"too large: {w}x{h} pixels is over the limit of {max_pixels} (decompression bomb?)")
            if w < 1 or h < 1:
                raise SkipImage(f"empty image ({w}x{h})")
            img.load()
    except SkipImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SkipImage(f"decompression bomb: {exc}") from None
    except Image.UnidentifiedImageError:
        raise SkipImage("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or "broken data stream" in msg.lower():
            raise SkipImage(f"truncated file ({msg})") from None
        raise SkipImage(f"corrupt image ({msg})") from None
    except Exception as exc:  # Pillow raises a zoo of exceptions on hostile input
        raise SkipImage(f"unreadable image ({type(exc).__name__}: {exc})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient

    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: keep the pixels as stored
        orientation = 1
        notes.append("ignored a broken EXIF block")
    if orientation not in (1, None):
        try:
            img = ImageOps.exif_transpose(img)
            notes.append("applied EXIF orientation")
        except Exception:
            notes.append("ignored a broken EXIF orientation")

    a, converted = to_8bit(img)
    if converted:
        notes.append(converted)
    if a.ndim == 2:
        a = a[:, :, None]
    if channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
        notes.append("replicated grayscale to RGB")
    elif channels == 1 and a.shape[2] == 3:
        a = rgb_to_gray(a)
        notes.append("converted colour to grayscale")
    return np.ascontiguousarray(a, dtype=np.uint8), notes


def rgb_to_gray(a: np.ndarray) -> np.ndarray:
    """uint8 HWC RGB -> uint8 HW1 luma with ITU-R 601 weights (Pillow's 'L' conversion)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(a), "RGB").convert("L"))[:, :, None]


def to_8bit(img) -> tuple[np.ndarray, str]:
    """Any Pillow image -> uint8 HW (gray) or HWC (RGB); returns (array, note or '')."""
    from PIL import Image

    mode = img.mode
    if mode in ("L", "RGB"):
        return np.asarray(img), ""
    if mode == "1":
        return np.asarray(img.convert("L")), "converted 1-bit to grayscale"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:  # fully opaque: nothing to composite
            return np.asarray(rgba.convert("RGB")), f"converted {mode} (opaque) to RGB"
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB")), f"composited {mode} onto black"
    if mode in ("P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(img.convert("RGB")), f"converted {mode} to RGB"
    if mode.startswith("I;16") or mode == "I":
        # Pillow gives 16-bit PNG/TIFF as I;16 and 16-bit PGM/PPM as I, already spread over 0-65535.
        a = np.asarray(img).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise SkipImage(f"{mode} image with values {a.min()}..{a.max()}: not 16-bit, no known white point")
        return ((a * 2 + 257) // 514).astype(np.uint8), "scaled 16-bit to 8 bits"
    if mode == "F":
        a = np.asarray(img).astype(np.float64)
        if a.size and not (np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1):
            raise SkipImage("float image with values outside [0, 1]: no known white point")
        return np.rint(a * 255).astype(np.uint8), "scaled float [0, 1] to 8 bits"
    raise SkipImage(f"unsupported image mode {mode!r}")
