"""What a detector sees: any uint8 photo, made the detector's input (its side, its channels), and
photos read from files safely.

An image that is not square is centre-cropped; one of another size is resized with Lanczos (the
filter of the dataset tool and of the game's display images), colour becomes grey with the ITU-R
601 weights and grey becomes RGB by repetition.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from facegan.data.decode import SkipImage, decode_image, rgb_to_gray
from facegan.data.transforms import center_crop
from facegan.errors import DatasetError


def fit_image(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 HWC (C = 1 or 3) -> uint8 [size, size, channels]."""
    from PIL import Image

    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected uint8 HWC with 1 or 3 channels, got {a.dtype} {a.shape}")
    a = center_crop(a)
    if a.shape[0] != size:
        img = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        a = np.asarray(img.resize((size, size), Image.Resampling.LANCZOS))
        a = a[:, :, None] if a.ndim == 2 else a
    if channels == 1 and a.shape[2] == 3:
        a = rgb_to_gray(a)
    elif channels == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return a


def to_input(images: Sequence[np.ndarray] | np.ndarray, size: int, channels: int) -> torch.Tensor:
    """uint8 images (HWC each, any size) -> float32 NCHW in [-1, 1] at the detector's size."""
    batch = np.stack([fit_image(im, size, channels) for im in images]) if len(images) else \
        np.zeros((0, size, size, channels), np.uint8)
    x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float()
    return x / 127.5 - 1


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """A photo file -> uint8 HWC; a file that is not a usable image is one clear error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return decode_image(data, channels=None)[0]
    except SkipImage as exc:
        raise DatasetError(f"{path}: {exc}") from None
