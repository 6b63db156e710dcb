"""Folders and zips of photos: every file, sorted by path (as the official tool), hidden files and
macOS resource forks left out. Files that are not images are reported as skipped, not silently
dropped. A dataset.json at the root carries its labels across."""

from __future__ import annotations

import zipfile
from pathlib import Path

from facegan.data.sources.base import Source, SourceItem, labels_from_dataset_json
from facegan.errors import DatasetError


def _hidden(parts: tuple[str, ...] | list[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def open_folder(root: Path) -> Source:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).parts))
    meta = root / "dataset.json"
    labels = labels_from_dataset_json(meta.read_bytes(), str(root)) if meta.is_file() else {}
    files = [p for p in files if p != meta]

    def items():
        for p in files:
            rel = p.relative_to(root).as_posix()
            try:
                size = p.stat().st_size
            except OSError:
                size = None
            yield SourceItem(rel, p.read_bytes, labels.get(rel), size)

    return Source(f"folder {root}", len(files), items)


def open_zip(path: Path) -> Source:
    try:
        z = zipfile.ZipFile(path)
        infos = sorted((i for i in z.infolist() if not i.is_dir()), key=lambda i: i.filename)
        labels = labels_from_dataset_json(z.read("dataset.json"), str(path)) \
            if any(i.filename == "dataset.json" for i in infos) else {}
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{path}: cannot read the zip ({exc})") from None
    infos = [i for i in infos if i.filename != "dataset.json" and not _hidden(i.filename.split("/"))]

    def items():
        for info in infos:
            yield SourceItem(info.filename, lambda info=info: z.read(info), labels.get(info.filename), info.file_size)

    return Source(f"zip {path}", len(infos), items)
