"""Small archives and options for the training tests (real data: the LFW faces scikit-image ships)."""

from __future__ import annotations

import numpy as np

from facegan.data import ArchiveWriter
from facegan.data.sources import lfw_subset


def lfw_archive(path, resolution: int = 16, count: int = 64, labels: bool = False):
    from PIL import Image

    faces = lfw_subset()[:count]
    with ArchiveWriter(path) as w:
        for i, f in enumerate(faces):
            img = np.asarray(Image.fromarray(f).resize((resolution, resolution), Image.Resampling.BOX))
            w.add(img[:, :, None], label=(i % 3) if labels else None)
    return path


def blob_archive(path, resolution: int = 16, count: int = 256, seed: int = 0):
    """A simple distribution: one bright Gaussian blob per image at a random place, on black."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:resolution, 0:resolution]
    with ArchiveWriter(path) as w:
        for _ in range(count):
            cx, cy = rng.uniform(4, resolution - 4, 2)
            img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0) * 255
            w.add(img.astype(np.uint8)[:, :, None])
    return path


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 256, seed: int = 0) -> float:
    """Mean 1-D Wasserstein distance between two equal-size point sets over random directions."""
    rng = np.random.RandomState(seed)
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    dirs = rng.randn(a.shape[1], projections)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())
