"""CIFAR-10: the 50 000 training images of the python version (`cifar-10-python.tar.gz`, or the
extracted `cifar-10-batches-py/`), with their classes 0-9 as labels.

The batches `data_batch_1` ... `data_batch_5` are Python pickles of {'data': uint8 [10000, 3072]
(CHW rows), 'labels': [...]}. A tarball from the internet is untrusted, so they are read with an
unpickler that can build only NumPy arrays, never call anything else."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from facegan.data.sources.base import Source, SourceItem
from facegan.errors import DatasetError

BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class _CifarUnpickler(pickle.Unpickler):
    """Allows only what a CIFAR batch holds: dicts, lists, bytes, str, ints and NumPy arrays."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


def _parse_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DatasetError(f"{where} is not a CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{where} is not a CIFAR-10 batch (a {type(batch).__name__}, not a dict)")
    data, labels = batch.get("data", batch.get(b"data")), batch.get("labels", batch.get(b"labels"))
    try:
        data = np.asarray(data)
        labels = np.asarray(labels)
    except (TypeError, ValueError):
        data = labels = np.zeros(0)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),) \
            or labels.dtype.kind not in "iu":
        raise DatasetError(f"{where} has the wrong layout (expected uint8 data [N, 3072] and N int labels)")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{where}: CIFAR-10 labels must be 0-9")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int64)


def _read_batches(path: Path) -> list[tuple[bytes, str]]:
    if path.is_dir():
        missing = [b for b in BATCHES if not (path / b).is_file()]
        if missing:
            raise DatasetError(f"{path}: {missing[0]} is missing; is this cifar-10-batches-py?")
        return [((path / b).read_bytes(), f"{path}/{b}") for b in BATCHES]
    try:
        with tarfile.open(path) as tar:
            members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
            out = []
            for b in BATCHES:
                if b not in members:
                    raise DatasetError(f"{path}: {b} is missing; is this the CIFAR-10 python tarball?")
                out.append((tar.extractfile(members[b]).read(), f"{path}:{b}"))
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable tarball ({exc})") from None


def read_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training images (uint8 NHWC) and labels of the CIFAR-10 python tarball or folder."""
    parsed = [_parse_batch(raw, where) for raw, where in _read_batches(Path(path))]
    return np.concatenate([p[0] for p in parsed]), np.concatenate([p[1] for p in parsed])


def open_cifar10(path: Path) -> Source:
    images, labels = read_cifar10(path)
    per_batch = max(1, len(images) // len(BATCHES))

    def items():
        for i in range(len(images)):
            yield SourceItem(f"data_batch_{i // per_batch + 1}[{i % per_batch}]", lambda i=i: images[i],
                             int(labels[i]))

    return Source(f"CIFAR-10 {path}", len(images), items)
