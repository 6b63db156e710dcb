"""`facegan dataset info`: what an archive holds, and a preview grid."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from facegan.data.archive import Archive
from facegan.errors import DatasetError
from facegan.utils.images import make_grid, save_image


@dataclass(frozen=True)
class DatasetInfo:
    path: str
    count: int
    resolution: int
    channels: int
    label_kind: str          # none, class (N classes), vector[D]
    num_classes: int | None

    def summary(self) -> str:
        return (f"{self.path}\n  images:     {self.count}\n  resolution: {self.resolution}x{self.resolution}\n"
                f"  channels:   {self.channels}\n  labels:     {self.label_kind}")


def dataset_info(path: str | os.PathLike) -> DatasetInfo:
    a = Archive(path)
    if len(a) == 0:
        raise DatasetError(f"{path}: holds no images")
    first = a.read_image(0)
    labels = a.labels
    kind, classes = "none", None
    if labels is not None:
        if all(isinstance(v, int) for v in labels):
            classes = max(labels) + 1
            kind = f"class ({classes} classes)"
        else:
            kind = f"vector[{len(labels[0])}]"
    return DatasetInfo(str(path), len(a), int(first.shape[0]), int(first.shape[2]), kind, classes)


def write_preview(path: str | os.PathLike, dest: str | os.PathLike, count: int = 64, seed: int = 0) -> int:
    """A grid of `count` images drawn at random (seeded) from the archive; returns how many."""
    a = Archive(path)
    n = min(count, len(a))
    idx = np.sort(np.random.RandomState(seed).choice(len(a), n, replace=False))
    images = [a.read_image(int(i)) for i in idx]
    grid = make_grid(np.stack(images), cols=int(np.ceil(np.sqrt(n))), pad=1)
    save_image(dest, grid)
    return n
