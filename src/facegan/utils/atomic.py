"""Write files so that a reader never sees a half-written one.

Everything is written to a temporary file in the destination's folder, flushed to disk, and renamed
over the destination only on success. An interruption (Ctrl-C, a crash, a full disk) leaves the old
file, or no file, never a truncated one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from facegan.errors import FaceganError


def _new_file_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp's private 0600 must not leak out)."""
    try:  # Linux reports the umask without changing it (os.umask would, process-wide, for a moment)
        with open("/proc/self/status", encoding="ascii") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


class DiskFullError(FaceganError):
    """The disk filled up while writing; the destination was left untouched."""


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed to `dest`, on error removed.

    `suffix` defaults to `dest`'s own suffix, so libraries that pick a format by extension still work.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = dest.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:  # an overwritten file keeps its mode; a new one gets the usual one
            mode = dest.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp_path, mode)
        _fsync_file(tmp_path)
        os.replace(tmp_path, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(f"the disk is full: could not write {dest} (it was left as it was)") from exc
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(dest: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator[IO]:
    """Like `open(dest, mode)` for writing, but atomic (see module docstring)."""
    if not any(m in mode for m in "wx"):
        raise ValueError("atomic_open is for writing ('w' modes)")
    with atomic_path(dest) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_open(dest, "wb") as f:
        f.write(data)


def atomic_write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_open(dest, "w", encoding="utf-8") as f:
        f.write(text)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every platform/filesystem
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
