"""One source item -> one archive PNG, or the reason it was skipped; run in worker processes.

`Conversion` holds everything the per-image work needs (channels, pixel limit, transform) and is
picklable, so `convert_items` can hand it to a pool of processes: decoding, cropping, resizing and
PNG encoding run in parallel while the main process reads the source in order and writes the
archive. Results come back in source order, so the archive is the same for any number of workers.

With `align` set, each photo goes through face detection and FFHQ alignment instead of the crop
(facegan.data.faces) and may give several images (`--faces all`), each with a record of where it
came from. Detection is the slow part, so it runs in the same pool, in small chunks.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facegan.data.archive import encode_png
from facegan.data.decode import SkipImage, decode_image, rgb_to_gray
from facegan.data.sources import SourceItem
from facegan.data.transforms import TransformOptions, apply_transform
from facegan.errors import DatasetError

if TYPE_CHECKING:
    from facegan.data.faces.align import AlignOptions

CHUNK_BYTES = 1 << 20   # Send work to the pool in chunks of about this many source bytes ...
CHUNK_ITEMS = 64        # ... or this many items, whichever comes first.
ALIGN_CHUNK_ITEMS = 2   # Face detection takes ~0.1 s a photo: small chunks keep every worker busy.
ALIGN_POOL_ITEMS = 16   # With alignment, a pool pays for itself from this many photos.


@dataclass(frozen=True)
class Converted:
    png: bytes          # The archive image, an uncompressed PNG.
    side: int           # Its width and height.
    notes: list[str]    # Conversions applied on the way (for the report).
    face: dict | None = None  # An aligned face: its index in the photo, landmarks, yaw (the archive keeps it).


@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Conversion:
    channels: int                  # 1 or 3.
    max_pixels: int                # Skip larger images from their header.
    transform: TransformOptions    # Crop and resize.
    align: AlignOptions | None = None  # Detect and FFHQ-align faces instead of the transform.

    def __call__(self, raw: bytes | np.ndarray) -> list[Converted] | Skipped:
        """The archive images of one source item (one, or one per face), or why there are none."""
        try:
            if isinstance(raw, np.ndarray):
                image, notes = array_image(raw, self.channels)
            else:
                image, notes = decode_image(raw, channels=self.channels, max_pixels=self.max_pixels)
            if self.align is not None:
                return self._faces(image, notes)
            image = apply_transform(image, self.transform)
        except SkipImage as exc:
            return Skipped(str(exc))
        return [Converted(encode_png(image), int(image.shape[0]), notes)]

    def _faces(self, image: np.ndarray, notes: list[str]) -> list[Converted] | Skipped:
        from facegan.data.faces.align import align_photo

        try:
            faces = align_photo(image, self.align)
        except (RuntimeError, ValueError, MemoryError) as exc:  # dlib and Pillow on an image they cannot handle
            return Skipped(f"face alignment failed ({type(exc).__name__}: {exc})")
        if not faces.aligned:
            return Skipped(faces.reason())
        notes = notes + faces.rejected
        return [Converted(encode_png(f.image), self.align.resolution, notes, f.record()) for f in faces.aligned]

    def many(self, raws: list[bytes | np.ndarray | Skipped]) -> list[list[Converted] | Skipped]:
        return [raw if isinstance(raw, Skipped) else self(raw) for raw in raws]

    @property
    def chunk_items(self) -> int:
        return CHUNK_ITEMS if self.align is None else ALIGN_CHUNK_ITEMS


def array_image(a: np.ndarray, channels: int) -> tuple[np.ndarray, list[str]]:
    """A uint8 HWC array from a source that holds arrays (CIFAR-10, builtins) -> `channels` channels."""
    a = np.asarray(a)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (1, 3):
        raise SkipImage(f"array of dtype {a.dtype} and shape {a.shape} is not a uint8 HWC image")
    if channels == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2), []
    if channels == 1 and a.shape[2] == 3:
        return rgb_to_gray(a), ["converted colour to grayscale"]
    return a, []


def read_item(item: SourceItem, max_file_bytes: int) -> bytes | np.ndarray | Skipped:
    """The raw content of a source item, or why it cannot be read (checked before reading it)."""
    if item.size is not None and item.size > max_file_bytes:
        return Skipped(f"file too large: {item.size} bytes is over the limit of {max_file_bytes}")
    try:
        return item.read()
    except OSError as exc:
        return Skipped(f"cannot read the file ({exc})")


def default_workers(total: int, pool_items: int = 2000) -> int:
    """One process for sources under `pool_items` (starting a pool costs more than it saves), else one
    per core, up to 16."""
    if total < pool_items:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 16))


def convert_items(items: Iterator[SourceItem], conversion: Conversion, workers: int,
                  max_file_bytes: int) -> Iterator[tuple[SourceItem, list[Converted] | Skipped]]:
    """Each item with its conversion, in source order; `workers` > 1 converts in that many processes."""
    if workers <= 1:
        for item in items:
            raw = read_item(item, max_file_bytes)
            yield item, raw if isinstance(raw, Skipped) else conversion(raw)
        return
    yield from _convert_in_pool(items, conversion, workers, max_file_bytes)


def _chunks(items: Iterator[SourceItem], max_file_bytes: int, max_items: int = CHUNK_ITEMS):
    chunk: list[tuple[SourceItem, bytes | np.ndarray | Skipped]] = []
    size = 0
    for item in items:
        raw = read_item(item, max_file_bytes)
        chunk.append((item, raw))
        size += raw.nbytes if isinstance(raw, np.ndarray) else len(raw) if isinstance(raw, bytes) else 0
        if size >= CHUNK_BYTES or len(chunk) >= max_items:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle


def _convert_in_pool(items, conversion, workers, max_file_bytes):
    import multiprocessing

    # spawn, not fork: the caller may hold threads (tqdm's monitor, torch's pools) that fork would copy
    # in an undefined state.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint)
    pending: deque[tuple[list[SourceItem], Future]] = deque()
    try:
        for chunk in _chunks(items, max_file_bytes, conversion.chunk_items):
            pending.append(([item for item, _ in chunk], pool.submit(conversion.many, [raw for _, raw in chunk])))
            while len(pending) > 2 * workers or (pending and pending[0][1].done()):
                yield from _collect(*pending.popleft())
        while pending:
            yield from _collect(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(items: list[SourceItem], future: Future):
    try:
        results = future.result()
    except BrokenProcessPool:
        raise DatasetError("a conversion process died (out of memory?); try fewer --workers") from None
    yield from zip(items, results)
