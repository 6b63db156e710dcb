"""LSUN: an LMDB whose keys are image ids and whose values are encoded JPEG (or WEBP) photos, in a
folder whose name ends in `_lmdb` (e.g. `bedroom_train_lmdb`, `car_lmdb`). Read in key order in one
pass over a read-only cursor, so a 3-million-image category streams without listing it first.
Needs the `lmdb` package (`pip install 'facegan[lmdb]'`)."""

from __future__ import annotations

from pathlib import Path

from facegan.data.sources.base import Source, SourceItem
from facegan.errors import DatasetError


def _open_env(path: Path):
    try:
        import lmdb
    except ImportError:
        raise DatasetError("LSUN sources need the lmdb package: pip install 'facegan[lmdb]'") from None
    try:
        return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=8)
    except lmdb.Error as exc:
        raise DatasetError(f"{path}: not a readable LMDB ({exc})") from None


def open_lsun(path: Path) -> Source:
    env = _open_env(path)
    with env.begin(write=False) as txn:
        count = int(txn.stat()["entries"])
    env.close()

    def items():
        env = _open_env(path)
        try:
            with env.begin(write=False) as txn:
                for key, value in txn.cursor():
                    name = bytes(key).decode("ascii", "replace")
                    yield SourceItem(name, lambda value=value: bytes(value), None, len(value))
        finally:
            env.close()

    return Source(f"LSUN LMDB {path}", count, items)
