"""A restricted unpickler for the official NVIDIA network pickles: nothing in the file runs.

`pickle.load` calls whatever functions a file names. The official files need only a handful, and
each format has its own allow-list (`FORMAT_GLOBALS`):

- "tensorflow" (StyleGAN, StyleGAN2, StyleGAN2-ADA TF pickles): a tuple of
  `dnnlib.tflib.network.Network` objects, each rebuilt from a plain state dict whose
  `build_module_src` (the TF source the official loader would execute) is kept as text and never
  run; NumPy arrays and scalars; `dnnlib.util.EasyDict`s. (`tfutil.Network` is ProGAN's spelling:
  read so that the loader can say it is a Progressive GAN network, not refuse it as hostile.)
- "pytorch" (stylegan2-ada-pytorch snapshots): persistent objects reducing to
  `torch_utils.persistence._reconstruct_persistent_obj(meta)` — officially that executes
  `meta['module_src']`; here it returns a `PersistentObject` holding the recorded state — plus
  tensors, parameters and storages (a storage arrives as the bytes of a nested legacy `torch.save`,
  read with `torch.load(weights_only=True)`), OrderedDicts, sets, NumPy scalars and EasyDicts.

A global outside the union of the lists is refused with an UnsafePickleError naming it before
anything is called; after loading, `PickleContents.require(format)` refuses a file that used a
global of the other format. The objects a pickle can reach cannot change facegan itself: functions
are fresh wrappers per load and classes refuse attribute assignment (pickle's BUILD opcode would
otherwise let a file set attributes on them). Tensors must lie inside their storage, arrays must be
numeric, and the file size is bounded.
"""

from __future__ import annotations

import collections
import functools
import io
import os
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facegan.errors import NetworkFormatError, UnsafePickleError

MAX_PICKLE_BYTES = 4 << 30  # the largest official pickle is ~1 GB


class _Sealed(type):
    """Metaclass of every class a pickle may name: its attributes cannot be set after creation."""

    def __setattr__(cls, name: str, value: Any) -> None:
        raise UnsafePickleError(f"the pickle tried to set attribute {name!r} of class {cls.__name__}")

    def __delattr__(cls, name: str) -> None:
        raise UnsafePickleError(f"the pickle tried to delete attribute {name!r} of class {cls.__name__}")


class EasyDict(dict, metaclass=_Sealed):
    """Stands in for dnnlib.EasyDict: a dict (attribute access for convenience)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class TFNetwork(metaclass=_Sealed):
    """The recorded state of a `dnnlib.tflib.network.Network`: version, name, static_kwargs,
    components, build_func_name, variables [(name, ndarray)], build_module_src (never executed)."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise UnsafePickleError("a TensorFlow Network's state must be a dict")
        object.__setattr__(self, "state", state)

    def __getattr__(self, name: str) -> Any:
        if name == "state":
            raise AttributeError(name)
        try:
            return self.state[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        state = self.__dict__.get("state", {})
        return f"TFNetwork(name={state.get('name')!r}, version={state.get('version')!r})"


class PersistentObject:
    """A stylegan2-ada-pytorch persistent object as recorded: class name and state, no code."""

    def __init__(self, meta: Any):
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
            raise UnsafePickleError("a persistent object's record is not in the stylegan2-ada-pytorch format")
        self.class_name = str(meta.get("class_name", "?"))
        self.version = meta.get("version")
        self.module_src = meta.get("module_src", "")  # kept as text for provenance; never executed
        self.state: dict = meta["state"]

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name})"


class _NdarrayType:
    """What `numpy.ndarray` resolves to: a token that `_reconstruct` accepts; it cannot be called."""

    __slots__ = ()


_NDARRAY = _NdarrayType()


# ----------------------------------------------------------------------------------------------
# The rebuilders: each checks its arguments and builds only plain data.

def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    return PersistentObject(meta)


def _load_storage_from_bytes(data: Any):
    """A tensor storage serialised inside the pickle with torch.save, loaded without running code."""
    import torch

    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("a tensor storage must be stored as bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old pickle protocols and TypedStorage inside old files are fine
            storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise UnsafePickleError(f"a tensor storage inside the pickle is not a plain torch storage "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise UnsafePickleError(f"a tensor storage inside the pickle decoded to {type(storage).__name__}")
    return storage


def _ints(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                        for v in values):
        raise UnsafePickleError(f"tensor {what} must be a tuple of integers")
    return tuple(values)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    import torch

    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise UnsafePickleError("tensor data must come from a torch storage")
    if metadata:
        raise UnsafePickleError("tensors with extra metadata do not occur in network pickles")
    size, stride = _ints(size, "sizes"), _ints(stride, "strides")
    offset = _ints((storage_offset,), "offset")[0]
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise UnsafePickleError(f"malformed tensor layout (size {size}, stride {stride}, offset {offset})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated, but it is what old files hold
        typed = isinstance(storage, torch.TypedStorage)
        dtype = storage.dtype if typed else torch.uint8
        available = storage.size() if typed else storage.nbytes()
        if all(size):  # a tensor must lie inside its storage (set_ would silently grow the storage)
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= available:
                raise UnsafePickleError(f"a tensor of size {size} reaches past the end of its storage "
                                        f"({available} elements)")
        return torch.empty((0,), dtype=dtype).set_(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *_state):
    import torch

    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("a parameter must wrap a tensor")
    return torch.nn.Parameter(data, requires_grad=False)


def _numpy_dtype(*args):
    try:
        dt = np.dtype(*args)
    except (TypeError, ValueError) as exc:
        raise UnsafePickleError(f"not a NumPy dtype ({exc})") from None
    if dt.hasobject:
        raise UnsafePickleError("NumPy arrays of Python objects are not allowed in network pickles")
    return dt


def _numpy_reconstruct(subtype, shape, dtype):
    """numpy's array rebuilder: an empty array that BUILD then fills from the pickled bytes."""
    if subtype is not _NDARRAY or tuple(shape) != (0,):
        raise UnsafePickleError("only plain NumPy arrays may be rebuilt")
    if isinstance(dtype, bytes):
        dtype = dtype.decode("latin1")
    return np.ndarray.__new__(np.ndarray, (0,), _numpy_dtype(dtype))


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("only numeric NumPy scalars are allowed")
    if data is None:
        return dtype.type()
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise UnsafePickleError("malformed NumPy scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _codecs_encode(text, encoding="utf-8"):
    """Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError("_codecs.encode is only allowed to spell bytes")
    return text.encode(encoding)


# ----------------------------------------------------------------------------------------------
# The allow-lists.

_NUMPY = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,  # NumPy 1 spelling
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,  # NumPy 2 spelling
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}
_COMMON = {
    **_NUMPY,
    ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
}
_TENSORFLOW = {
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("tfutil", "Network"): TFNetwork,  # Progressive GAN pickles (recognised only to be named)
}
_PYTORCH = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}
ALLOWED: dict[tuple[str, str], Any] = {**_COMMON, **_TENSORFLOW, **_PYTORCH}
FORMAT_GLOBALS: dict[str, frozenset[tuple[str, str]]] = {
    "tensorflow": frozenset({**_COMMON, **_TENSORFLOW}),
    "pytorch": frozenset({**_COMMON, **_PYTORCH}),
}


def _fresh(obj: Any) -> Any:
    """A per-load wrapper of a function (so a pickle's BUILD cannot touch the function itself);
    classes are sealed and the ndarray token has no attributes, so they are shared."""
    if isinstance(obj, type) or obj is _NDARRAY:
        return obj
    fn: Callable = obj

    @functools.wraps(fn, assigned=("__name__", "__qualname__", "__doc__"), updated=())
    def call(*args, **kwargs):
        return fn(*args, **kwargs)
    return call


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-listed globals (recording which were used) and no persistent ids."""

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.used: set[tuple[str, str]] = set()
        self._resolved: dict[tuple[str, str], Any] = {}

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key not in ALLOWED:
            raise UnsafePickleError(
                f"the pickle asks for {module}.{name}, which no official StyleGAN network file needs; "
                "refusing to load it (nothing was run)")
        self.used.add(key)
        if key not in self._resolved:
            self._resolved[key] = _fresh(ALLOWED[key])
        return self._resolved[key]

    def persistent_load(self, pid):
        raise UnsafePickleError("the pickle uses persistent ids, which official network pickles do not")


@dataclass(frozen=True)
class PickleContents:
    """What a network pickle holds, and which allow-listed globals it used to say so."""

    obj: Any
    used: frozenset[tuple[str, str]]
    path: Path

    def require(self, fmt: str) -> None:
        """Refuse the file if it used a global that files of format `fmt` never use."""
        foreign = sorted(self.used - FORMAT_GLOBALS[fmt])
        if foreign:
            module, name = foreign[0]
            raise UnsafePickleError(f"{self.path}: a {fmt} network pickle that asks for {module}.{name}, which "
                                    f"{fmt} network files never use; refusing it")


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
        raise NetworkFormatError(f"{path}: not a network pickle (official files start with a pickle protocol 2+ "
                                 "header)")


def read_pickle(path: str | os.PathLike) -> PickleContents:
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
        unpickler = RestrictedUnpickler(f, encoding="latin1")
        try:
            obj = unpickler.load()
        except (UnsafePickleError, NetworkFormatError):
            raise
        except EOFError:
            raise NetworkFormatError(f"{path}: the file ends early (truncated download?): download it again") \
                from None
        except Exception as exc:  # whatever a malformed stream makes the unpickler or a rebuilder raise
            if "truncated" in str(exc):
                raise NetworkFormatError(f"{path}: the file ends early (truncated download?): download it again") \
                    from None
            raise NetworkFormatError(f"{path}: not a readable network pickle ({type(exc).__name__}: {exc})") \
                from None
    return PickleContents(obj, frozenset(unpickler.used), path)


def safe_load(path: str | os.PathLike) -> Any:
    """The object in a network pickle, read with the restricted unpickler."""
    return read_pickle(path).obj
