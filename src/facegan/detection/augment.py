"""Wang et al.'s training augmentation ("CNN-generated images are surprisingly easy to spot... for
now", CVPR 2020, the Blur+JPEG (0.5) model): each image is blurred with probability 0.5 (Gaussian,
sigma ~ U[0, 3]) and then JPEG-compressed with probability 0.5 (quality ~ U{30, ..., 100}), so the
detector cannot lean on the finest traces that post-processing destroys. A horizontal flip (as
their training) is added by the caller."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from facegan.errors import ConfigError


@dataclass(frozen=True)
class BlurJpeg:
    blur_prob: float = 0.5
    sigma_max: float = 3.0
    jpeg_prob: float = 0.5
    quality_min: int = 30
    quality_max: int = 100

    def __post_init__(self) -> None:
        if not (0 <= self.blur_prob <= 1 and 0 <= self.jpeg_prob <= 1):
            raise ConfigError(f"augmentation probabilities must be in [0, 1], got {self.blur_prob}, {self.jpeg_prob}")
        if self.sigma_max < 0 or not 1 <= self.quality_min <= self.quality_max <= 100:
            raise ConfigError("blur sigma must be >= 0 and JPEG qualities within 1..100")

    def __call__(self, image: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        """uint8 HWC (C = 1 or 3) -> uint8 HWC of the same shape."""
        from PIL import Image, ImageFilter

        blur = rng.rand() < self.blur_prob
        sigma = rng.uniform(0, self.sigma_max)
        jpeg = rng.rand() < self.jpeg_prob
        quality = int(rng.randint(self.quality_min, self.quality_max + 1))
        if not (blur or jpeg):
            return image
        img = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        if blur and sigma > 0:
            img = img.filter(ImageFilter.GaussianBlur(radius=sigma))   # Pillow's radius is the std deviation
        if jpeg:
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality)
            buf.seek(0)
            img = Image.open(buf)
            img.load()
        a = np.asarray(img)
        return a[:, :, None] if a.ndim == 2 else a
