"""`facegan dataset create`: a source of photos -> a training archive, with a report of every file
that was skipped or converted.

    report = create_dataset(CreateOptions(source="photos/", dest="faces.zip", resolution=256,
                                          transform="center-crop"))

The archive is written atomically (it appears only when complete). The run fails with a
DatasetError only when nothing usable remains, or when the images cannot be made one consistent
size (square, power of two); every other problem skips the file and is listed in the report,
which is also written beside the archive as `<dest>.report.json`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facegan.data.archive import ArchiveWriter
from facegan.data.decode import DEFAULT_MAX_PIXELS, SkipImage, decode_image
from facegan.data.sources import iter_items, open_source
from facegan.data.transforms import TransformOptions, apply_transform
from facegan.errors import ConfigError, DatasetError
from facegan.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreateOptions:
    source: str                          # Folder, zip, CelebA folder, *_lmdb, CIFAR tarball or builtin:NAME.
    dest: str                            # OUT.zip or an empty/new folder.
    resolution: int | None = None        # Output side (power of two); None = keep the input size.
    transform: str | None = None         # center-crop, center-crop-wide, celeba; None = source default.
    resize_filter: str = "lanczos"       # lanczos (official default) or box.
    height: int | None = None            # Picture height inside the square, for center-crop-wide.
    max_images: int | None = None        # Stop after this many source items.
    channels: int | None = None          # 1 or 3; None = the source's default (3, or 1 for grayscale sets).
    labels: str = "auto"                 # auto (carry dataset.json / class labels), none, attributes (CelebA).
    max_upscale: float = 2.0             # Skip images that must be enlarged more than this.
    max_pixels: int = DEFAULT_MAX_PIXELS # Skip images with more pixels (decompression bombs).
    progress: bool = True                # Show a progress bar.

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"--channels must be 1 or 3, got {self.channels}")
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError(f"--max-images must be >= 1, got {self.max_images}")
        if self.labels not in ("auto", "none", "attributes"):
            raise ConfigError(f"--labels must be auto, none or attributes, got {self.labels!r}")


@dataclass
class Report:
    source: str
    dest: str
    written: int = 0
    resolution: int | None = None
    channels: int | None = None
    label_kind: str = "none"
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (file, reason)
    converted: list[tuple[str, str]] = field(default_factory=list)   # (file, what was done)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        lines = [f"{self.written} images written to {self.dest} "
                 f"({self.resolution}x{self.resolution}, {self.channels} channel{'s' if self.channels != 1 else ''}, "
                 f"labels: {self.label_kind})"]
        if self.converted:
            lines.append(f"{len(self.converted)} converted (see the report for each)")
        if self.skipped:
            lines.append(f"{len(self.skipped)} skipped:")
            lines += [f"  {name}: {reason}" for name, reason in self.skipped[:200]]
            if len(self.skipped) > 200:
                lines.append(f"  ... and {len(self.skipped) - 200} more (see the report file)")
        lines += self.notes
        return "\n".join(lines)


def report_path(dest: str | os.PathLike) -> Path:
    dest = Path(dest)
    return dest.with_name(dest.name + ".report.json")


def create_dataset(opts: CreateOptions) -> Report:
    """Convert `opts.source` into an archive at `opts.dest` (see module docstring)."""
    source = open_source(opts.source, labels=opts.labels)
    transform = opts.transform or source.default_transform
    topts = TransformOptions(resolution=opts.resolution, transform=transform, resize_filter=opts.resize_filter,
                             wide_height=opts.height, max_upscale=opts.max_upscale)
    channels = opts.channels or source.default_channels
    report = Report(source=source.description, dest=str(opts.dest), channels=channels, notes=list(source.notes))
    if len(source) == 0:
        raise DatasetError(f"{opts.source}: the source holds no files")

    total = len(source) if opts.max_images is None else min(len(source), opts.max_images)
    size: int | None = None
    label_kind: str | None = None
    writer = ArchiveWriter(opts.dest)
    try:
        for item in _progress(iter_items(source, opts.max_images), total, opts.progress):
            try:
                raw = item.read()
                if isinstance(raw, np.ndarray):
                    image, notes = _from_array(raw, channels)
                else:
                    image, notes = decode_image(raw, channels=channels, max_pixels=opts.max_pixels)
                image = apply_transform(image, topts)
            except SkipImage as exc:
                report.skipped.append((item.name, str(exc)))
                continue
            except OSError as exc:
                report.skipped.append((item.name, f"cannot read the file ({exc})"))
                continue
            side = image.shape[0]
            if size is None:
                if side & (side - 1) or side < 4:
                    raise DatasetError(f"images are {side}x{side}, which is not a power of two: "
                                       f"give --resolution (e.g. {1 << max(2, (side - 1).bit_length())})")
                size = side
            elif side != size:
                raise DatasetError(f"{item.name} is {side}x{side} but earlier images are {size}x{size}: "
                                   f"give --resolution (and --transform center-crop) to make them one size")
            label = None if opts.labels == "none" else item.label
            kind = _label_kind(label)
            if label_kind is None:
                label_kind = kind
            elif kind != label_kind:
                if label_kind != "mixed":
                    report.notes.append(f"labels dropped: {item.name} has a {kind} label, earlier images "
                                        f"{label_kind}")
                label_kind = "mixed"
            writer.add(image, label)
            if notes:
                report.converted.append((item.name, "; ".join(notes)))
            report.written += 1
        if report.written == 0:
            reasons = "; ".join(sorted({r for _, r in report.skipped})[:5])
            raise DatasetError(f"no usable image in {opts.source} ({len(report.skipped)} skipped: {reasons})")
        if label_kind == "mixed":
            writer.labels.clear()  # dataset.json gets labels: null
        writer.close()
    except BaseException:
        writer.abort()
        raise
    report.resolution = size
    report.label_kind = {None: "none", "mixed": "none"}.get(label_kind, label_kind)
    atomic_write_text(report_path(opts.dest), report.to_json())
    return report


def _label_kind(label) -> str:
    if label is None:
        return "none"
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return "class"
    return f"vector[{len(label)}]"


def _from_array(a: np.ndarray, channels: int) -> tuple[np.ndarray, list[str]]:
    a = np.asarray(a)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (1, 3):
        raise SkipImage(f"array of dtype {a.dtype} and shape {a.shape} is not a uint8 HWC image")
    if channels == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2), []
    if channels == 1 and a.shape[2] == 3:
        gray = np.rint(a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        return gray.astype(np.uint8)[:, :, None], ["converted colour to grayscale"]
    return a, []


def _progress(items, total: int, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, unit="img", desc="dataset", dynamic_ncols=True)

