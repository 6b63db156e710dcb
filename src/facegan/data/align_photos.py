"""`facegan align`: photos -> one aligned PNG per face in a folder, with one line per photo.

    report = align_photos(["me.jpg", "holiday/"], "aligned/", AlignOptions(resolution=256))
    print(report.summary())

Each face becomes `<photo stem>_<face>.png` (face 0 = the largest), and `faces.json` records, per
file, the photo and face it came from, its landmarks, its FFHQ square and its yaw. Photos are read,
decoded and aligned by the dataset tool's conversion (facegan.data.convert), in its worker pool, so
bad files get the same one-line reasons; every file is written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facegan.data.convert import ALIGN_POOL_ITEMS, Conversion, Skipped, convert_items, default_workers
from facegan.data.decode import DEFAULT_MAX_PIXELS
from facegan.data.faces.align import AlignOptions
from facegan.data.faces.models import check_installed
from facegan.data.sources import SourceItem
from facegan.data.transforms import TransformOptions
from facegan.errors import ConfigError, DatasetError
from facegan.utils.atomic import atomic_write_bytes, atomic_write_text

MAX_FILE_BYTES = 1 << 30


@dataclass
class AlignReport:
    outdir: str
    written: list[tuple[str, str]] = field(default_factory=list)   # (photo, aligned file)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (photo, reason)
    notes: list[tuple[str, str]] = field(default_factory=list)     # (photo, faces rejected / conversions)

    def summary(self) -> str:
        lines = [f"{photo}: {Path(out).name}" for photo, out in self.written]
        lines += [f"{photo}: {note}" for photo, note in self.notes]
        lines += [f"{photo}: skipped: {reason}" for photo, reason in self.skipped]
        lines.append(f"{len(self.written)} aligned faces written to {self.outdir}, {len(self.skipped)} photos skipped")
        return "\n".join(lines)


def align_photos(photos: list[str | os.PathLike], outdir: str | os.PathLike, opts: AlignOptions,
                 workers: int | None = None) -> AlignReport:
    """Align the faces of `photos` (files, or folders read recursively) into `outdir`."""
    check_installed(opts.detector)
    files = _expand(photos)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ConfigError(f"--outdir {outdir} is a file, not a folder")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--outdir {outdir}: cannot create it ({exc.strerror})") from None
    items = (SourceItem(str(p), p.read_bytes, None, _size(p)) for p in files)
    conversion = Conversion(channels=3, max_pixels=DEFAULT_MAX_PIXELS, transform=TransformOptions(), align=opts)
    report = AlignReport(str(outdir))
    records = {}
    taken: set[str] = set()
    for item, outcome in convert_items(items, conversion, workers or default_workers(len(files), ALIGN_POOL_ITEMS),
                                       MAX_FILE_BYTES):
        if isinstance(outcome, Skipped):
            report.skipped.append((item.name, outcome.reason))
            continue
        for image in outcome:
            name = _unique(f"{Path(item.name).stem}_{image.face['face']:02d}.png", taken)
            atomic_write_bytes(outdir / name, image.png)
            records[name] = {"photo": item.name, **image.face}
            report.written.append((item.name, str(outdir / name)))
        if outcome[0].notes:
            report.notes.append((item.name, "; ".join(outcome[0].notes)))
    atomic_write_text(outdir / "faces.json", json.dumps({"options": asdict(opts), "faces": records}, indent=1))
    return report


def _expand(photos: list[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, photos):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.exists():
            files.append(p)
        else:
            raise DatasetError(f"{p}: no such photo or folder")
    if not files:
        raise DatasetError("no photos to align")
    return files


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _unique(name: str, taken: set[str]) -> str:
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{ext}"
    taken.add(candidate)
    return candidate
