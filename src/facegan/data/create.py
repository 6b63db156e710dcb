"""`facegan dataset create`: a source of photos -> a training archive, with a report of every file
that was skipped or converted.

    report = create_dataset(CreateOptions(source="photos/", dest="faces.zip", resolution=256,
                                          transform="center-crop"))

With `align="ffhq"` every photo's faces are detected and aligned as FFHQ's were
(facegan.data.faces): `faces`, `min_face`, `max_yaw` and `detector` choose which faces, and
dataset.json records, per image, the photo and face it came from, its landmarks and its yaw.

The archive is written atomically (it appears only when complete). The run fails with a
DatasetError only when nothing usable remains, or when the images cannot be made one consistent
size (square, power of two); every other problem skips the file and is listed in the report,
which is also written beside the archive as `<dest>.report.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facegan.data.archive import ArchiveWriter
from facegan.data.convert import ALIGN_POOL_ITEMS, Conversion, Skipped, convert_items, default_workers
from facegan.data.decode import DEFAULT_MAX_PIXELS
from facegan.data.sources import LABEL_MODES, open_source
from facegan.data.transforms import TransformOptions
from facegan.errors import ConfigError, DatasetError
from facegan.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    from facegan.data.faces.align import AlignOptions

log = logging.getLogger(__name__)

ALIGN_MODES = ("none", "ffhq")
FFHQ_RESOLUTION = 1024


@dataclass(frozen=True)
class CreateOptions:
    source: str                          # Folder, zip, CelebA folder, *_lmdb, CIFAR tarball or builtin:NAME.
    dest: str                            # OUT.zip or an empty/new folder.
    resolution: int | None = None        # Output side (power of two); None = keep the input size.
    transform: str | None = None         # center-crop, center-crop-wide, celeba; None = source default.
    resize_filter: str = "lanczos"       # lanczos (official default) or box.
    height: int | None = None            # Picture height inside the square, for center-crop-wide.
    max_images: int | None = None        # Stop after writing this many images.
    channels: int | None = None          # 1 or 3; None = the source's default (3, or 1 for grayscale sets).
    labels: str = "auto"                 # auto (carry dataset.json / class labels), none, attributes (CelebA).
    max_upscale: float = 2.0             # Skip images that must be enlarged more than this.
    max_pixels: int = DEFAULT_MAX_PIXELS  # Skip images with more pixels (decompression bombs).
    max_file_bytes: int = 1 << 30        # Skip files larger than this without reading them.
    workers: int | None = None           # Conversion processes; None = one per core for large sources.
    progress: bool = True                # Show a progress bar.
    align: str = "none"                  # none, or ffhq: detect the faces and align them as FFHQ's.
    faces: str = "largest"               # With --align ffhq: largest (one per photo) or all.
    min_face: int | None = None          # With --align ffhq: skip faces whose square is smaller (photo px).
    max_yaw: float | None = None         # With --align ffhq: skip faces turned further (degrees).
    detector: str = "hog"                # With --align ffhq: hog or cnn.

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"--channels must be 1 or 3, got {self.channels}")
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError(f"--max-images must be >= 1, got {self.max_images}")
        if self.labels not in LABEL_MODES:
            raise ConfigError(f"--labels must be one of {', '.join(LABEL_MODES)}, got {self.labels!r}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.max_upscale < 1:
            raise ConfigError(f"--max-upscale must be >= 1, got {self.max_upscale}")
        if self.align not in ALIGN_MODES:
            raise ConfigError(f"--align must be one of {', '.join(ALIGN_MODES)}, got {self.align!r}")
        if self.align != "none" and (self.transform is not None or self.height is not None):
            raise ConfigError("--align ffhq makes its own square crop: leave out --transform and --height")
        if self.align == "none" and (self.faces != "largest" or self.min_face is not None
                                     or self.max_yaw is not None or self.detector != "hog"):
            raise ConfigError("--faces, --min-face, --max-yaw and --detector need --align ffhq")

    def align_options(self) -> AlignOptions | None:
        """The face options, for --align ffhq (default resolution: FFHQ's 1024)."""
        if self.align == "none":
            return None
        from facegan.data.faces.align import AlignOptions

        return AlignOptions(resolution=self.resolution or FFHQ_RESOLUTION, faces=self.faces, min_face=self.min_face,
                            max_yaw=self.max_yaw, detector=self.detector, max_upscale=self.max_upscale)


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

    def summary(self, max_lines: int = 200) -> str:
        lines = [f"{self.written} images written to {self.dest} "
                 f"({self.resolution}x{self.resolution}, {self.channels} channel{'s' if self.channels != 1 else ''}, "
                 f"labels: {self.label_kind})"]
        if self.converted:
            lines.append(f"{len(self.converted)} converted (see the report for each)")
        if self.skipped:
            lines.append(f"{len(self.skipped)} skipped:")
            lines += [f"  {name}: {reason}" for name, reason in self.skipped[:max_lines]]
            if len(self.skipped) > max_lines:
                lines.append(f"  ... and {len(self.skipped) - max_lines} more (see the report file)")
        lines += self.notes
        return "\n".join(lines)


def report_path(dest: str | os.PathLike) -> Path:
    """Where the report of an archive goes: beside it, `<dest>.report.json`."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".report.json")


def create_dataset(opts: CreateOptions) -> Report:
    """Convert `opts.source` into an archive at `opts.dest` (see module docstring)."""
    source = open_source(opts.source, labels=opts.labels)
    if len(source) == 0:
        raise DatasetError(f"{opts.source}: the source holds no files")
    align = opts.align_options()
    if align is not None:
        from facegan.data.faces.models import check_installed

        check_installed(align.detector)  # one clear line before any worker starts
    topts = TransformOptions(resolution=opts.resolution, transform=None if align else
                             opts.transform or source.default_transform, resize_filter=opts.resize_filter,
                             wide_height=opts.height, max_upscale=opts.max_upscale)
    channels = opts.channels or source.default_channels
    conversion = Conversion(channels=channels, max_pixels=opts.max_pixels, transform=topts, align=align)
    total = len(source) if opts.max_images is None else min(len(source), opts.max_images)
    workers = opts.workers or default_workers(total, ALIGN_POOL_ITEMS if align else 2000)
    report = Report(source=source.description, dest=str(opts.dest), channels=channels, notes=list(source.notes))
    writer = ArchiveWriter(opts.dest)
    labels = _LabelCheck()
    photos_with_faces = 0
    with contextlib.ExitStack() as stack:
        try:
            items = iter(source)
            stack.callback(getattr(items, "close", lambda: None))
            results = convert_items(items, conversion, workers, opts.max_file_bytes)
            stack.callback(results.close)
            bar = stack.enter_context(_progress(total, opts.progress))
            for item, outcome in results:
                bar.update()
                if isinstance(outcome, Skipped):
                    report.skipped.append((item.name, outcome.reason))
                    bar.set_postfix(skipped=len(report.skipped), refresh=False)
                    continue
                for image in outcome:
                    report.resolution = _check_size(report.resolution, image.side, item.name)
                    label = labels.add(item.name, None if opts.labels == "none" else item.label, report)
                    if image.face is None:
                        writer.add_png(image.png, label)
                    else:
                        writer.add_png(image.png, label, face={"photo": item.name, **image.face})
                    report.written += 1
                    if report.written == opts.max_images:
                        break
                photos_with_faces += 1
                if outcome[0].notes:
                    report.converted.append((item.name, "; ".join(outcome[0].notes)))
                if report.written == opts.max_images:
                    break
            if report.written == 0:
                atomic_write_text(report_path(opts.dest), report.to_json())
                reasons = "; ".join(sorted({r for _, r in report.skipped})[:5])
                raise DatasetError(f"no usable image in {opts.source} ({len(report.skipped)} skipped: {reasons}; "
                                   f"every file and its reason: {report_path(opts.dest)})")
            if labels.mixed:
                writer.labels.clear()  # dataset.json gets labels: null
            writer.close()
        except BaseException:
            writer.abort()
            raise
    report.label_kind = labels.kind
    if align is not None:
        report.notes.append(f"{report.written} faces from {photos_with_faces} photos, aligned as FFHQ "
                            f"({align.detector} detector, faces: {align.faces})")
    atomic_write_text(report_path(opts.dest), report.to_json())
    return report


def _check_size(size: int | None, side: int, name: str) -> int:
    if size is None:
        if side & (side - 1) or side < 4:
            raise DatasetError(f"images are {side}x{side}, which is not a power of two: "
                               f"give --resolution (e.g. {1 << max(2, (side - 1).bit_length())})")
        return side
    if side != size:
        raise DatasetError(f"{name} is {side}x{side} but earlier images are {size}x{size}: "
                           f"give --resolution (and --transform center-crop) to make them one size")
    return size


class _LabelCheck:
    """Labels go into dataset.json only when every image has one of the same kind (as the official tool)."""

    def __init__(self) -> None:
        self.first: str | None = None
        self.mixed = False

    def add(self, name: str, label: Any, report: Report) -> Any:
        """Check one image's label; returns what to store (None for a label of no known kind)."""
        kind = label_kind(label)
        if self.first is None:
            self.first = kind
        if (kind != self.first or kind == "unsupported") and not self.mixed:
            self.mixed = True
            report.notes.append(f"labels dropped: {name} has a {kind} label, the first image {self.first}")
        return None if kind == "unsupported" else label

    @property
    def kind(self) -> str:
        return "none" if self.mixed or self.first is None else self.first


def label_kind(label: Any) -> str:
    """'none', 'class' (an int), 'vector[D]' (D numbers) or 'unsupported'."""
    if label is None:
        return "none"
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return "class"
    if isinstance(label, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in label):
        return f"vector[{len(label)}]"
    return "unsupported"


@contextlib.contextmanager
def _progress(total: int, enabled: bool):
    if not enabled:
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="img", desc="dataset", dynamic_ncols=True) as bar:
        yield bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kwargs) -> None:
        pass
