"""Builtin sets that need no download. `lfw-subset`: the 100 real faces of Labeled Faces in the Wild
that scikit-image ships (`skimage/data/lfw_subset.npy` holds 200 float 25x25 grayscale images in
[0, 1]; the first 100 are faces, the last 100 are not and are left out). They stay grayscale (one
channel): see docs/datasets.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facegan.data.sources.base import Source, SourceItem
from facegan.errors import DatasetError

BUILTINS = ("lfw-subset",)
LFW_FACES = 100


def lfw_subset() -> np.ndarray:
    """The 100 real LFW faces, uint8 [100, 25, 25]."""
    try:
        import skimage
    except ImportError:
        raise DatasetError("builtin:lfw-subset needs scikit-image: pip install 'facegan[lfw]'") from None
    path = Path(skimage.__file__).parent / "data" / "lfw_subset.npy"
    if not path.is_file():
        raise DatasetError(f"scikit-image has no {path.name} at {path}")
    a = np.load(path, allow_pickle=False)
    if a.ndim != 3 or len(a) < 2 * LFW_FACES:
        raise DatasetError(f"{path}: expected 200 images, got an array of shape {a.shape}")
    return np.clip(np.rint(a[:LFW_FACES] * 255), 0, 255).astype(np.uint8)


def open_builtin(name: str) -> Source:
    if name != "lfw-subset":
        raise DatasetError(f"unknown builtin source {name!r}; known: {', '.join(BUILTINS)}")
    faces = lfw_subset()

    def items():
        for i in range(len(faces)):
            yield SourceItem(f"lfw_subset[{i}]", lambda i=i: faces[i][:, :, None])

    return Source("builtin:lfw-subset (100 LFW faces from scikit-image)", len(faces), items, default_channels=1)
