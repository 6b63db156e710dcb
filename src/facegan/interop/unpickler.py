"""A restricted unpickler for the official NVIDIA network pickles: nothing in the file runs.

`pickle.load` will call any function a file names. The official files need only a handful:

- TensorFlow StyleGAN / StyleGAN2 / StyleGAN2-ADA pickles: a tuple of `dnnlib.tflib.network.Network`
  objects, each rebuilt from a plain state dict (whose `build_module_src` is the TF source the
  official loader would execute: we keep it as text and never run it), NumPy arrays and scalars;
- stylegan2-ada-pytorch snapshots: persistent objects that reduce to
  `torch_utils.persistence._reconstruct_persistent_obj(meta)` — officially this executes
  `meta['module_src']`; here it returns a `PersistentObject` holding the recorded state — plus
  PyTorch tensors, parameters and storages (storages arrive as bytes of a nested `torch.save`,
  read with `torch.load(weights_only=True)`), OrderedDicts, sets and `dnnlib.EasyDict`s.

Every other global is refused with an UnsafePickleError naming it, before anything is called.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from facegan.errors import NetworkFormatError, UnsafePickleError

MAX_PICKLE_BYTES = 4 << 30  # the largest official pickle is ~1 GB


class EasyDict(dict):
    """Stands in for dnnlib.EasyDict: a dict (attribute access for convenience)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class TFNetwork:
    """The recorded state of a `dnnlib.tflib.network.Network`: version, name, static_kwargs,
    components, build_func_name, variables [(name, ndarray)], build_module_src (never executed)."""

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise UnsafePickleError("a TensorFlow Network's state must be a dict")
        self.state = state

    def __getattr__(self, name: str) -> Any:
        if name == "state":
            raise AttributeError(name)
        try:
            return self.state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"TFNetwork(name={self.state.get('name')!r}, version={self.state.get('version')!r})"


class PersistentObject:
    """A stylegan2-ada-pytorch persistent object as recorded: class name and state, no code."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or meta.get("type") != "class" or "state" not in meta:
            raise UnsafePickleError("a persistent object's record is not in the stylegan2-ada-pytorch format")
        self.class_name = str(meta.get("class_name", "?"))
        self.version = meta.get("version")
        self.module_src = meta.get("module_src", "")  # kept as text for provenance; never executed
        self.state = meta["state"]

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


def _reconstruct_persistent_obj(meta: dict) -> PersistentObject:
    return PersistentObject(meta)


def _load_storage_from_bytes(data: bytes):
    """A tensor storage serialised inside the pickle with torch.save, loaded without running code."""
    import torch

    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("a tensor storage must be stored as bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old pickle protocols inside old files are fine
            storage = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise UnsafePickleError(f"a tensor storage inside the pickle is not a plain torch storage ({exc})") from None
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise UnsafePickleError(f"a tensor storage inside the pickle decoded to {type(storage).__name__}")
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    import torch

    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise UnsafePickleError("tensor data must come from a torch storage")
    t = torch.empty((0,), dtype=storage.dtype if isinstance(storage, torch.TypedStorage) else torch.uint8)
    t.set_(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))
    return t


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_state):
    import torch

    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("a parameter must wrap a tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _numpy_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError("only plain NumPy arrays may be rebuilt")
    if isinstance(dtype, bytes):
        dtype = dtype.decode("latin1")
    return np.ndarray.__new__(np.ndarray, shape, _numpy_dtype(dtype))  # an empty array; BUILD fills it


def _numpy_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafePickleError("NumPy arrays of Python objects are not allowed in network pickles")
    return dt


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("only numeric NumPy scalars are allowed")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _codecs_encode(text, encoding="utf-8"):
    """Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError("_codecs.encode is only allowed to spell bytes")
    return text.encode(encoding)


# (module, name) -> replacement. Both numpy.core and numpy._core spellings occur.
_NUMPY = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}
_COMMON = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    **_NUMPY,
}
ALLOWED: dict[tuple[str, str], Any] = {
    **_COMMON,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"the pickle asks for {module}.{name}, which no official StyleGAN network file needs; "
                "refusing to load it (nothing was run)") from None

    def persistent_load(self, pid):
        raise UnsafePickleError("the pickle uses persistent ids, which official network pickles do not")


def _sniff(head: bytes, path: Path) -> None:
    """Explain the usual non-pickles: an HTML error page saved as .pkl, a zip, an empty file."""
    text = head.lstrip()[:64].lower()
    if not head:
        raise NetworkFormatError(f"{path}: the file is empty")
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")) or b"<html" in text:
        raise NetworkFormatError(f"{path}: this is an HTML page, not a network (a failed download, e.g. a Google "
                                 "Drive quota page): download the file again")
    if head.startswith(b"PK\x03\x04"):
        raise NetworkFormatError(f"{path}: this is a zip archive (a torch.save checkpoint?), not a network pickle")
    if head[:1] != b"\x80":
        raise NetworkFormatError(f"{path}: not a pickle (it does not start with a pickle protocol header)")


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle an official network file with the restricted unpickler (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise NetworkFormatError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_PICKLE_BYTES:
        raise NetworkFormatError(f"{path}: {size} bytes is larger than any official network pickle")
    with open(path, "rb") as f:
        _sniff(f.read(64), path)
        f.seek(0)
        try:
            return RestrictedUnpickler(f, encoding="latin1").load()
        except (UnsafePickleError, NetworkFormatError):
            raise
        except EOFError:
            raise NetworkFormatError(f"{path}: the file ends early (truncated download?)") from None
        except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                MemoryError, RecursionError) as exc:
            raise NetworkFormatError(f"{path}: not a readable network pickle ({type(exc).__name__}: {exc})") from None
