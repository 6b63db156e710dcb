"""Where photos come from. `open_source` recognises a source by its form:

    open_source("photos/")                      a folder, recursive, sorted by path
    open_source("photos.zip")                   a zip, sorted by member name
    open_source("celeba/")                      a folder holding img_align_celeba/ (+ list_attr_celeba.txt)
    open_source("bedroom_train_lmdb/")          an LSUN LMDB (a folder whose name ends in _lmdb)
    open_source("cifar-10-python.tar.gz")       the CIFAR-10 python tarball (or its cifar-10-batches-py/)
    open_source("builtin:lfw-subset")           the 100 LFW faces scikit-image ships

Every source knows its length up front (so progress shows an ETA) and yields its items lazily, in
order: an item is encoded image bytes (decoded and checked later) or a ready uint8 HWC array.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from facegan.data.sources.base import Source, SourceItem
from facegan.data.sources.builtin import BUILTINS, lfw_subset, open_builtin
from facegan.data.sources.celeba import find_celeba_images, open_celeba, read_celeba_attributes
from facegan.data.sources.cifar10 import open_cifar10, read_cifar10
from facegan.data.sources.folder import open_folder, open_zip
from facegan.data.sources.lsun import open_lsun
from facegan.errors import DatasetError

__all__ = [
    "BUILTINS",
    "Source",
    "SourceItem",
    "lfw_subset",
    "open_source",
    "read_celeba_attributes",
    "read_cifar10",
]

LABEL_MODES = ("auto", "none", "attributes")


def open_source(spec: str | os.PathLike, labels: str = "auto") -> Source:
    """Recognise a source by its form (see module docstring). `labels`: auto, none or attributes."""
    spec = str(spec)
    if spec.startswith("builtin:"):
        return open_builtin(spec[len("builtin:"):])
    path = Path(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_dir():
        if path.name.endswith("_lmdb"):
            return open_lsun(path)
        if path.name == "cifar-10-batches-py" or (path / "data_batch_1").is_file():
            return open_cifar10(path)
        if find_celeba_images(path) is not None:
            return open_celeba(path, labels)
        return open_folder(path)
    if "cifar-10" in path.name and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        return open_cifar10(path)
    if zipfile.is_zipfile(path):
        return open_zip(path)
    raise DatasetError(f"{path}: not a folder, zip, LSUN LMDB, CIFAR-10 tarball or builtin:NAME source")
