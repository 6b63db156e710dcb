"""Training archives in the stylegan2-ada-pytorch layout, so archives travel both ways.

A zip (stored, not compressed) or a folder holding

    00000/img00000000.png, 00000/img00000001.png, ...   (folders of 1000 images, uncompressed PNG)
    dataset.json                                         {"labels": [["00000/img00000000.png", 6], ...]}
                                                         or {"labels": null}

Labels are class indices (ints) or float vectors, one per image. Readers accept any archive of
images in this layout or any other (every file with an image extension, sorted by name), with or
without dataset.json, so plain folders and zips of photos load too.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facegan.errors import DatasetError
from facegan.utils.atomic import atomic_path

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".gif")


def member_name(index: int) -> str:
    """The archive name of the index-th image: 00000/img00000000.png, in folders of 1000."""
    return f"{index // 1000:05d}/img{index:08d}.png"


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS and not os.path.basename(name).startswith(".")


def encode_png(image: np.ndarray) -> bytes:
    """uint8 HWC (C = 1 or 3) -> uncompressed PNG bytes, the official dataset_tool's format.

    The official tool saves with Pillow at `compress_level=0`: the pixels go into stored (not
    compressed) zlib blocks, but Pillow still chooses a row filter for every row (Sub, Paeth, ...),
    which costs ten times the rest of the encoding and buys nothing when nothing is compressed. Here
    every row has filter type 0 (None): the same pixels, the same size to within a few bytes, a
    valid PNG for every decoder, written about 10x faster and decoded faster (nothing to unfilter).
    """
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected uint8 HWC with 1 or 3 channels, got {a.dtype} {a.shape}")
    h, w, c = a.shape
    rows = np.empty((h, w * c + 1), np.uint8)
    rows[:, 0] = 0                               # filter type 0 before every row
    rows[:, 1:] = a.reshape(h, w * c)
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 0, 0, 0, 0)  # 8-bit RGB or grey, no interlace
    return b"".join([PNG_SIGNATURE, _png_chunk(b"IHDR", header), _png_chunk(b"IDAT", zlib.compress(rows, 0)),
                     _png_chunk(b"IEND", b"")])


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


class Archive:
    """Read-only access to the images and labels of a zip or a folder.

    Safe to hand to DataLoader workers: the zip is (re)opened lazily in each process.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or folder")
        self.is_zip = self.path.is_file()
        if self.is_zip and not zipfile.is_zipfile(self.path):
            raise DatasetError(f"{self.path}: not a zip archive or a folder")
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        all_names = self._list_all()
        self.names: list[str] = sorted(n for n in all_names if is_image_name(n))
        self._labels_raw = self._read_labels() if "dataset.json" in all_names else None

    # -- listing and raw access -------------------------------------------------------------
    def _list_all(self) -> list[str]:
        if self.is_zip:
            return [n for n in self._open_zip().namelist() if not n.endswith("/")]
        root = self.path
        return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]

    def _open_zip(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetError(f"{self.path}: cannot open the zip ({exc})") from None
            self._zip_pid = os.getpid()
        return self._zip

    def read_bytes(self, name: str) -> bytes:
        if self.is_zip:
            return self._open_zip().read(name)
        target = (self.path / name).resolve()
        if self.path.resolve() not in target.parents:
            raise DatasetError(f"{name!r} lies outside the archive {self.path}")
        return target.read_bytes()

    def __len__(self) -> int:
        return len(self.names)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_zip"] = None  # reopened in the worker
        return state

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- images and labels --------------------------------------------------------------------
    def read_image(self, index: int) -> np.ndarray:
        """The index-th image as uint8 HWC (C = 1 or 3).

        Archives hold 8-bit L or RGB PNGs, decoded directly; anything else (a plain folder of photos)
        goes through `decode_image`, which converts other modes soundly or names the problem.
        """
        from PIL import Image

        from facegan.data.decode import SkipImage, decode_image

        name = self.names[index]
        data = self.read_bytes(name)
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.mode in ("L", "RGB") and img.format == "PNG":
                    img.load()
                    a = np.asarray(img)
                    return a[:, :, None] if a.ndim == 2 else a
        except Exception:
            pass  # decode_image says what is wrong
        try:
            return decode_image(data, channels=None)[0]
        except SkipImage as exc:
            raise DatasetError(f"{self.path}: cannot use {name}: {exc}") from None

    def _read_labels(self) -> list | None:
        try:
            meta = json.loads(self.read_bytes("dataset.json"))
        except (ValueError, KeyError) as exc:
            raise DatasetError(f"{self.path}: dataset.json is not valid JSON ({exc})") from None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if labels is None:
            return None
        try:
            by_name = {str(name): value for name, value in labels}
        except (TypeError, ValueError):
            raise DatasetError(f"{self.path}: dataset.json 'labels' must be a list of [name, label] pairs") from None
        return [by_name.get(n) for n in self.names]

    @property
    def labels(self) -> list | None:
        """One label per image (an int or a list of floats), or None when any image has none."""
        raw = self._labels_raw
        if raw is None or any(v is None for v in raw):
            return None
        return raw


class ArchiveWriter:
    """Write an archive atomically: a zip (stored) or a folder appears only when `close()` succeeds.

        with ArchiveWriter("out.zip") as w:
            w.add(image_hwc_uint8, label=3)
    """

    def __init__(self, dest: str | os.PathLike):
        self.dest = Path(dest)
        self.is_zip = self.dest.suffix.lower() == ".zip"
        if not self.is_zip and self.dest.exists() and any(self.dest.iterdir()):
            raise DatasetError(f"{self.dest}: the destination folder is not empty")
        self.count = 0
        self.labels: list[tuple[str, Any]] = []
        self.faces: dict[str, dict] = {}   # Aligned faces: archive name -> where it came from (dataset.json "faces").
        self._any_unlabelled = False
        if self.is_zip:
            self._atomic = atomic_path(self.dest)
            self._tmp = self._atomic.__enter__()
            self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED)
        else:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(dir=self.dest.parent, prefix=f".{self.dest.name}."))

    def add(self, image: np.ndarray, label: int | Sequence[float] | None = None) -> str:
        """Append one uint8 HWC image (C = 1 or 3) as an uncompressed PNG; returns its archive name."""
        return self.add_png(encode_png(image), label)

    def add_png(self, png: bytes, label: int | Sequence[float] | None = None, face: dict | None = None) -> str:
        """Append an image already encoded by `encode_png`; returns its archive name. `face`: the record of
        an aligned face (photo, face index, landmarks, yaw), kept in dataset.json under "faces"."""
        name = member_name(self.count)
        self._write(name, png)
        if face is not None:
            self.faces[name] = face
        if label is None:
            self._any_unlabelled = True
        else:
            value = int(label) if isinstance(label, (int, np.integer)) else [float(v) for v in label]
            self.labels.append((name, value))
        self.count += 1
        return name

    def _write(self, name: str, data: bytes) -> None:
        if self.is_zip:
            # A fixed timestamp makes the archive a function of its content: the same photos give the
            # same bytes (and the same hash, e.g. for cached metric statistics).
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            self._zip.writestr(info, data, compress_type=zipfile.ZIP_STORED)
        else:
            path = self._tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def close(self) -> None:
        """Write dataset.json and publish the archive."""
        labels = None if self._any_unlabelled or not self.labels else [[n, v] for n, v in self.labels]
        meta: dict[str, Any] = {"labels": labels}
        if self.faces:  # readers of the official layout look only at "labels"
            meta["faces"] = self.faces
        self._write("dataset.json", json.dumps(meta).encode())
        if self.is_zip:
            self._zip.close()
            self._atomic.__exit__(None, None, None)
        else:
            if self.dest.exists():
                self.dest.rmdir()  # empty, checked in __init__
            os.replace(self._tmp, self.dest)

    def abort(self) -> None:
        """Discard everything written so far; the destination is left as it was."""
        if self.is_zip:
            self._zip.close()
            self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)
        else:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
