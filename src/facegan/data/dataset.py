"""The training Dataset: images of an archive at any power-of-two resolution up to the stored one.

    ds = ImageDataset("faces.zip", resolution=64, xflip=True, use_labels=True)
    img, label = ds[i]        # uint8 [C, 64, 64] (NumPy), float32 [label_dim]

Reads our archives, stylegan2-ada-pytorch archives and plain folders or zips of same-size square
images. Lower resolutions are made on the fly by box filtering (the mean of each 2^k x 2^k
block, rounded), exactly what the official multi-resolution TFRecords stored as mip levels; the
measurement that led to this choice is in docs/datasets.md. Images of lower phases can be kept
decoded in memory (`cache_bytes`), which makes progressive growing's long low-resolution phases
cheap.

With `xflip=True` the dataset doubles, as the official loader: index i >= N is image i - N mirrored.
Class labels (ints) become one-hot vectors; float vectors are used as given. The dataset is safe in
multi-worker DataLoaders (the archive reopens itself in each worker).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facegan.data.archive import Archive
from facegan.errors import DatasetError


def box_downsample(img: np.ndarray, factor: int) -> np.ndarray:
    """uint8 CHW -> uint8 CHW downsampled by `factor` (a power of two): the mean of each block,
    rounded half to even (NumPy's rint), as the official TFRecords stored their mip levels.

    Exact integer arithmetic: successive 2x2 sums, then rounding by shifts (the block area is a
    power of two): 2x and 4x reductions are several times faster than with integer division (see
    docs/benchmarks.md), and all of them much faster than a float mean.
    """
    if factor == 1:
        return img
    steps = factor.bit_length() - 1
    if factor != 1 << steps:
        raise ValueError(f"factor must be a power of two, got {factor}")
    s = img.astype(np.uint16 if factor <= 16 else np.uint32)  # 16 * 16 * 255 + 128 fits in 16 bits
    for _ in range(steps):
        s = s[:, 0::2, :] + s[:, 1::2, :]
        s = s[:, :, 0::2] + s[:, :, 1::2]
    bits = 2 * steps                                            # the block area is 2**bits
    half = s.dtype.type(1 << (bits - 1))
    q = (s + half) >> bits                                      # round half up ...
    q -= ((s & s.dtype.type((1 << bits) - 1)) == half) & (q & 1).astype(bool)  # ... then ties to even
    return q.astype(np.uint8)


class ImageDataset:
    """A map-style dataset of (uint8 CHW image, float32 label) pairs (see module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike,        # Archive: zip or folder.
        resolution: int | None = None,  # Served resolution (power of two <= stored); None = stored.
        xflip: bool = False,            # Double the dataset with mirrored copies.
        use_labels: bool = False,       # Serve the labels of dataset.json (zero-size labels otherwise).
        max_size: int | None = None,    # Use a random subset of this many images (seeded).
        random_seed: int = 0,           # Seed of the subset.
        cache_bytes: int = 0,           # Keep decoded images in memory up to this many bytes.
    ):
        self.path = Path(path)
        self.archive = Archive(path)
        if len(self.archive) == 0:
            raise DatasetError(f"{self.path}: holds no images")
        self.name = self.path.stem if self.path.suffix else self.path.name
        self._indices = np.arange(len(self.archive), dtype=np.int64)
        if max_size is not None and max_size < len(self._indices):
            rng = np.random.RandomState(random_seed)
            self._indices = np.sort(rng.permutation(len(self._indices))[:max_size])
        first = self.archive.read_image(int(self._indices[0]))
        if first.shape[0] != first.shape[1] or first.shape[0] & (first.shape[0] - 1):
            raise DatasetError(f"{self.path}: images must be square with a power-of-two side, the first is "
                               f"{first.shape[1]}x{first.shape[0]}; make an archive with facegan dataset create")
        self.stored_resolution = int(first.shape[0])
        self.num_channels = int(first.shape[2])
        self.resolution = self.stored_resolution
        self.set_resolution(resolution or self.stored_resolution)
        self.xflip = bool(xflip)
        self.use_labels = bool(use_labels)
        self._labels = self._load_labels() if use_labels else None
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[int, np.ndarray] = {}
        self._cached_bytes = 0

    # -- resolution ---------------------------------------------------------------------------
    def set_resolution(self, resolution: int) -> None:
        """Serve images at `resolution` from now on (cheap: nothing is re-read)."""
        r = int(resolution)
        if r < 1 or r & (r - 1) or r > self.stored_resolution:
            raise DatasetError(f"resolution {resolution} must be a power of two <= the stored "
                               f"{self.stored_resolution}")
        if r != self.resolution:
            self._cache = {}
            self._cached_bytes = 0
        self.resolution = r

    @property
    def image_shape(self) -> list[int]:
        return [self.num_channels, self.resolution, self.resolution]

    # -- labels -------------------------------------------------------------------------------
    def _load_labels(self) -> np.ndarray:
        raw = self.archive.labels
        if raw is None:  # as the official loader: no labels (or not one for every image) -> zero-width labels
            return np.zeros((len(self._indices), 0), np.float32)
        raw = [raw[i] for i in self._indices]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
            classes = np.asarray(raw, dtype=np.int64)
            if classes.min() < 0:
                raise DatasetError(f"{self.path}: class labels must be >= 0")
            onehot = np.zeros((len(classes), int(classes.max()) + 1), np.float32)
            onehot[np.arange(len(classes)), classes] = 1
            return onehot
        try:
            vectors = np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError):
            raise DatasetError(f"{self.path}: labels must all be class ints or all float vectors of one size") from None
        if vectors.ndim != 2:
            raise DatasetError(f"{self.path}: labels must all be class ints or all float vectors of one size")
        return vectors

    @property
    def has_labels(self) -> bool:
        return self._labels is not None and self._labels.shape[1] > 0

    @property
    def label_dim(self) -> int:
        return 0 if self._labels is None else int(self._labels.shape[1])

    @property
    def label_shape(self) -> list[int]:
        return [self.label_dim]

    def get_label(self, index: int) -> np.ndarray:
        if self._labels is None:
            return np.zeros([0], np.float32)
        return self._labels[index % len(self._indices)].copy()

    # -- items --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._indices) * (2 if self.xflip else 1)

    def _image(self, raw_index: int) -> np.ndarray:
        cached = self._cache.get(raw_index)
        if cached is not None:
            return cached
        hwc = self.archive.read_image(raw_index)
        if hwc.shape != (self.stored_resolution, self.stored_resolution, self.num_channels):
            raise DatasetError(f"{self.path}: {self.archive.names[raw_index]} is {hwc.shape[1]}x{hwc.shape[0]}x"
                               f"{hwc.shape[2]}, the first image {self.stored_resolution}x{self.stored_resolution}x"
                               f"{self.num_channels}; all images of an archive must match")
        chw = np.array(hwc.transpose(2, 0, 1), order="C")  # a writable copy (decoded arrays are read-only)
        img = box_downsample(chw, self.stored_resolution // self.resolution)
        if self._cached_bytes + img.nbytes <= self.cache_bytes:
            self._cache[raw_index] = img
            self._cached_bytes += img.nbytes
        return img

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self._indices)
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        img = self._image(int(self._indices[index % n]))
        if index >= n:  # the mirrored half
            img = img[:, :, ::-1]
        return np.ascontiguousarray(img), self.get_label(index)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"], state["_cached_bytes"] = {}, 0  # each worker fills its own
        return state

    def __repr__(self) -> str:
        return (f"ImageDataset({str(self.path)!r}, {len(self)} images, {self.num_channels}x{self.resolution}x"
                f"{self.resolution} (stored {self.stored_resolution}), labels={self.label_dim})")
