"""Where photos come from: a folder, a zip, CelebA, an LSUN LMDB, the CIFAR-10 tarball, or a
builtin set. Every source lists its items up front (so progress shows an ETA) and reads each one
lazily; an item is either encoded image bytes (decoded and checked later) or a ready uint8 array.

    open_source("photos/")                      a folder, recursive, sorted by path
    open_source("photos.zip")                   a zip, sorted by member name
    open_source("celeba/")                      a folder holding img_align_celeba/ (+ list_attr_celeba.txt)
    open_source("bedroom_train_lmdb/")          an LSUN LMDB (a folder whose name ends in _lmdb)
    open_source("cifar-10-python.tar.gz")       the CIFAR-10 python tarball (50 000 training images)
    open_source("builtin:lfw-subset")           the 100 LFW faces scikit-image ships
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facegan.data.archive import is_image_name
from facegan.errors import ConfigError, DatasetError


@dataclass
class SourceItem:
    name: str                                   # Where the image came from (for the report).
    read: Callable[[], bytes | np.ndarray]      # Encoded bytes, or a uint8 HWC array.
    label: Any = None                           # An int class, a list of floats, or None.


@dataclass
class Source:
    description: str
    items: list[SourceItem]
    default_channels: int = 3                   # 1 for grayscale sources.
    default_transform: str | None = None        # e.g. 'celeba' for CelebA.
    label_names: list[str] | None = None        # Names of the label entries, when known.
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def open_source(spec: str | os.PathLike, labels: str = "auto") -> Source:
    """Recognise a source by its form (see module docstring)."""
    spec = str(spec)
    if spec.startswith("builtin:"):
        return _builtin(spec[len("builtin:"):])
    path = Path(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_dir():
        if path.name.endswith("_lmdb"):
            return _lsun(path)
        if (path / "img_align_celeba").is_dir() or path.name == "img_align_celeba":
            return _celeba(path, labels)
        return _folder(path)
    if path.name.endswith((".tar.gz", ".tgz", ".tar")) and "cifar-10" in path.name:
        return _cifar10(path)
    if zipfile.is_zipfile(path):
        return _zip(path)
    raise DatasetError(f"{path}: not a folder, zip, LSUN LMDB, CIFAR-10 tarball or builtin:NAME source")


# -- folders and zips --------------------------------------------------------------------------

def _labels_from_json(text: bytes | str, where: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
        labels = meta.get("labels") if isinstance(meta, dict) else None
        return {str(n): v for n, v in labels} if labels else {}
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{where}: dataset.json is not valid ({exc})") from None


def _folder(root: Path) -> Source:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in
                                                                          p.relative_to(root).parts))
    labels = _labels_from_json((root / "dataset.json").read_text(), str(root)) \
        if (root / "dataset.json").is_file() else {}
    items = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        if rel == "dataset.json":
            continue
        items.append(SourceItem(rel, p.read_bytes, labels.get(rel)))
    return Source(f"folder {root}", items)


def _zip(path: Path) -> Source:
    try:
        z = zipfile.ZipFile(path)
        names = sorted(n for n in z.namelist() if not n.endswith("/"))
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: cannot read the zip ({exc})") from None
    labels = _labels_from_json(z.read("dataset.json"), str(path)) if "dataset.json" in names else {}
    items = [SourceItem(n, (lambda n=n: z.read(n)), labels.get(n)) for n in names
             if n != "dataset.json" and not os.path.basename(n).startswith(".")]
    return Source(f"zip {path}", items)


# -- CelebA ------------------------------------------------------------------------------------

def read_celeba_attributes(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """list_attr_celeba.txt: a count line, a line of 40 names, then 'file v1 ... v40' with +-1."""
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise DatasetError(f"{path}: too short to be list_attr_celeba.txt")
    names = lines[1].split()
    table: dict[str, list[float]] = {}
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise DatasetError(f"{path}:{n}: expected a file name and {len(names)} values, got {len(parts)} fields")
        try:
            table[parts[0]] = [1.0 if int(v) > 0 else 0.0 for v in parts[1:]]
        except ValueError:
            raise DatasetError(f"{path}:{n}: attribute values must be 1 or -1") from None
    return names, table


def _celeba(root: Path, labels: str) -> Source:
    img_dir = root if root.name == "img_align_celeba" else root / "img_align_celeba"
    base = img_dir.parent
    attr_file = next((p for p in (base / "list_attr_celeba.txt", base / "Anno" / "list_attr_celeba.txt")
                      if p.is_file()), None)
    if labels not in ("auto", "none", "attributes"):
        raise ConfigError(f"--labels for CelebA must be none or attributes, got {labels!r}")
    use_attr = labels == "attributes"
    if use_attr and attr_file is None:
        raise DatasetError(f"--labels attributes: no list_attr_celeba.txt beside {img_dir}")
    names, table = read_celeba_attributes(attr_file) if use_attr else ([], {})
    files = sorted(p for p in img_dir.iterdir() if p.is_file() and is_image_name(p.name))
    items = [SourceItem(p.name, p.read_bytes, table.get(p.name) if use_attr else None) for p in files]
    src = Source(f"CelebA {img_dir}", items, default_transform="celeba", label_names=names or None)
    if use_attr:
        src.notes.append(f"labels: the {len(names)} CelebA attributes as 0/1 vectors")
    return src


# -- LSUN --------------------------------------------------------------------------------------

def _lsun(path: Path) -> Source:
    try:
        import lmdb
    except ImportError:
        raise DatasetError("LSUN sources need the lmdb package: pip install 'facegan[lmdb]'") from None
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=1)
    except lmdb.Error as exc:
        raise DatasetError(f"{path}: not a readable LMDB ({exc})") from None
    with env.begin(write=False) as txn:
        keys = [bytes(k) for k, _ in txn.cursor()]

    def reader(key: bytes) -> Callable[[], bytes]:
        def read() -> bytes:
            with env.begin(write=False) as txn:
                value = txn.get(key)
            return bytes(value)
        return read

    items = [SourceItem(k.decode("ascii", "replace"), reader(k)) for k in keys]
    return Source(f"LSUN LMDB {path}", items)


# -- CIFAR-10 ----------------------------------------------------------------------------------

class _CifarUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles of plain dicts of bytes, lists and NumPy arrays; a tarball from
    the internet is untrusted, so nothing else may be constructed."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 50 000 training images (uint8 NHWC) and labels of the CIFAR-10 python tarball."""
    images, labels = [], []
    try:
        with tarfile.open(path) as tar:
            members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            for i in range(1, 6):
                member = members.get(f"data_batch_{i}")
                if member is None:
                    raise DatasetError(f"{path}: data_batch_{i} is missing; is this the CIFAR-10 python tarball?")
                raw = tar.extractfile(member).read()
                try:
                    batch = _CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
                except (pickle.UnpicklingError, EOFError, ValueError) as exc:
                    raise DatasetError(f"{path}: data_batch_{i} is not a CIFAR-10 batch ({exc})") from None
                data, lab = batch.get("data", batch.get(b"data")), batch.get("labels", batch.get(b"labels"))
                data = np.asarray(data, dtype=np.uint8)
                if data.ndim != 2 or data.shape[1] != 3072 or lab is None or len(lab) != len(data):
                    raise DatasetError(f"{path}: data_batch_{i} has the wrong layout")
                images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
                labels.append(np.asarray(lab, dtype=np.int64))
    except tarfile.TarError as exc:
        raise DatasetError(f"{path}: not a readable tarball ({exc})") from None
    return np.concatenate(images), np.concatenate(labels)


def _cifar10(path: Path) -> Source:
    images, labels = read_cifar10(path)
    if labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"{path}: CIFAR-10 labels must be 0-9")
    items = [SourceItem(f"data_batch_{i // 10000 + 1}[{i % 10000}]", (lambda i=i: images[i]), int(labels[i]))
             for i in range(len(images))]
    return Source(f"CIFAR-10 {path}", items)


# -- builtin sets ------------------------------------------------------------------------------

BUILTINS = ("lfw-subset",)


def lfw_subset() -> np.ndarray:
    """The 100 real LFW faces (25x25 grayscale, uint8 HW) that scikit-image ships."""
    try:
        import skimage
    except ImportError:
        raise DatasetError("builtin:lfw-subset needs scikit-image: pip install 'facegan[lfw]'") from None
    path = Path(skimage.__file__).parent / "data" / "lfw_subset.npy"
    if not path.is_file():
        raise DatasetError(f"scikit-image has no {path.name} at {path}")
    a = np.load(path, allow_pickle=False)
    return np.clip(np.rint(a[:100] * 255), 0, 255).astype(np.uint8)


def _builtin(name: str) -> Source:
    if name != "lfw-subset":
        raise DatasetError(f"unknown builtin source {name!r}; known: {', '.join(BUILTINS)}")
    faces = lfw_subset()
    items = [SourceItem(f"lfw_subset[{i}]", (lambda i=i: faces[i][:, :, None])) for i in range(len(faces))]
    return Source("builtin:lfw-subset (100 LFW faces from scikit-image)", items, default_channels=1)


def iter_items(source: Source, max_images: int | None = None) -> Iterator[SourceItem]:
    for i, item in enumerate(source.items):
        if max_images is not None and i >= max_images:
            return
        yield item
