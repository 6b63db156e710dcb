"""Decoding untrusted image files into clean uint8 arrays, or a reason to skip them.

Real photo folders hold everything: corrupt and truncated files, non-images, grayscale, RGBA,
CMYK, 16-bit, palette and EXIF-rotated images, tiny thumbnails and decompression bombs. Each file
either becomes a uint8 HWC array with 1 (L) or 3 (RGB) channels, converted where that is sound, or
raises `SkipImage` with a short reason for the report:

- EXIF orientation is applied, so portrait photos stand upright.
- Transparency (RGBA, LA, palette with transparency) is composited onto black, the colour the
  official `center-crop-wide` pads with, instead of silently dropping the alpha channel.
- CMYK, YCbCr, LAB, HSV and palette images are converted to RGB; 1-bit to L.
- 16- and 32-bit integer images are scaled to 8 bits by their bit depth (not clipped); float
  images by their [0, 1] range.
- Truncated files are skipped (Pillow would otherwise fill the missing rows with grey).
- Images over `max_pixels` (default 2**28, about 16k x 16k) are skipped before any pixel is
  decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

DEFAULT_MAX_PIXELS = 2**28


class SkipImage(Exception):
    """This file cannot be used; the message is the reason shown in the report."""


def decode_image(data: bytes, channels: int = 3, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """Decode image bytes to uint8 HWC with `channels` (1 or 3) channels.

    Returns the array and a list of the conversions applied (empty for a clean RGB/L image).
    Raises SkipImage for anything that cannot soundly become an image.
    """
    from PIL import Image, ImageOps

    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise SkipImage(f"too large: {w}x{h} pixels is over the limit of {max_pixels} (decompression bomb?)")
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

    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block: keep the pixels as stored
        orientation, notes = 1, notes + ["ignored a broken EXIF block"]
    if orientation not in (1, None):
        try:
            img = ImageOps.exif_transpose(img)
            notes.append("applied EXIF orientation")
        except Exception:
            notes.append("ignored a broken EXIF orientation")

    img, converted = _to_8bit(img)
    if converted:
        notes.append(converted)
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif channels == 1 and a.shape[2] == 3:
        a = np.asarray(img.convert("L"))[:, :, None]
        notes.append("converted colour to grayscale")
    return np.ascontiguousarray(a, dtype=np.uint8), notes


def _to_8bit(img):
    """Any Pillow mode -> 'L' or 'RGB' (8 bits per channel); returns (image, note or '')."""
    from PIL import Image

    mode = img.mode
    if mode in ("L", "RGB"):
        return img, ""
    if mode == "1":
        return img.convert("L"), "converted 1-bit to grayscale"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:  # fully opaque: nothing to composite
            return rgba.convert("RGB"), f"converted {mode} (opaque) to RGB"
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB"), f"composited {mode} onto black"
    if mode in ("P", "CMYK", "YCbCr", "LAB", "HSV"):
        return img.convert("RGB"), f"converted {mode} to RGB"
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(img).astype(np.float64)
        depth = 16 if mode.startswith("I;16") or a.max(initial=0) > 255 else 8
        if mode == "I" and a.max(initial=0) > 65535:
            depth = 32
        scale = (2**depth - 1) / 255.0
        out = np.clip(np.rint(a / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(out, mode="L"), f"scaled {depth}-bit grayscale to 8 bits"
    if mode == "F":
        a = np.asarray(img).astype(np.float64)
        out = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(out, mode="L"), "scaled float grayscale to 8 bits"
    if mode in ("RGB;16", "BGR;16", "RGBX"):
        return img.convert("RGB"), f"converted {mode} to RGB"
    raise SkipImage(f"unsupported image mode {mode!r}")
