"""Writing TensorFlow network pickles: (G, D, Gs) of `dnnlib.tflib.network.Network` states.

The official file is a pickled 3-tuple. Each network pickles as the class
`dnnlib.tflib.network.Network` rebuilt without arguments (NEWOBJ) and then given its state (BUILD),
a plain dict:

    version           4 (StyleGAN2's dnnlib; StyleGAN writes 2-3, StyleGAN2-ADA TF 5)
    name              'G', 'D', 'Gs', or a component's scope name ('G_mapping', 'G_synthesis')
    static_kwargs     the build function's keyword arguments
    components        {'mapping': Network, 'synthesis': Network} (generators) or {}
    build_module_src  the Python source that defines the build function (see below)
    build_func_name   'G_main', 'G_style', 'D_main', ...
    variables         [(name, value)] in TensorFlow layouts, the network's own variables only

Version 5 (StyleGAN2-ADA's TensorFlow code) appends `input_shapes`, `output_shapes`, `input_names`
and `output_names`; readers that know version 4 ignore them.

NumPy arrays are written with the NumPy 1 spelling of their rebuilder (`numpy.core.multiarray`),
which NumPy 2 still reads, so the PyTorch environments of NVIDIA's repositories (NumPy 1) read the
file; 0-d variables are NumPy scalars, as TensorFlow's session returns them.

No NVIDIA code goes into the file: `build_module_src` is one import line naming the official module
that defines the build function. NVIDIA's PyTorch loaders (stylegan2-ada-pytorch and stylegan3
`legacy.py`) never look at it; the official TensorFlow code executes it, so it finds the build
function when run from the root of the repository the line names. facegan's reader never runs it.

The writer is a pure-Python pickler that emits the class name itself, so no stand-in module
`dnnlib` is ever registered in `sys.modules`.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facegan.utils.atomic import atomic_open

PROTOCOL = 4


@dataclass
class TFNetworkRecord:
    """One network's recorded state, written as a `dnnlib.tflib.network.Network`."""

    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalName:
    """A reference to `module.name` in the pickle, written by name without importing it."""

    module: str
    name: str


def tf_network(name: str, build_func: str, variables: Mapping[str, Any], static_kwargs: Mapping[str, Any],
               version: int = 4, components: Mapping[str, TFNetworkRecord] | None = None,
               build_module_src: str = "", io_spec: Mapping[str, list] | None = None) -> TFNetworkRecord:
    """A network state with the keys of the official __getstate__, in its order. Version 5 adds
    `io_spec`: input_shapes, output_shapes, input_names and output_names."""
    state = {
        "version": version, "name": name, "static_kwargs": dict(static_kwargs),
        "components": dict(components or {}), "build_module_src": build_module_src,
        "build_func_name": build_func, "variables": list(variables.items()),
    }
    if version >= 5:
        state.update({key: list((io_spec or {}).get(key, [])) for key in V5_IO_KEYS})
    return TFNetworkRecord(state)


V5_IO_KEYS = ("input_shapes", "output_shapes", "input_names", "output_names")


def split_scopes(variables: Mapping[str, Any], scopes: Mapping[str, str]) -> tuple[dict, dict[str, dict]]:
    """{'G_mapping/Dense0/weight': ...} -> (own variables, {component key: its variables, local names})."""
    own: dict[str, Any] = {}
    parts: dict[str, dict] = {key: {} for key in scopes}
    for name, value in variables.items():
        for key, prefix in scopes.items():
            if name.startswith(prefix + "/"):
                parts[key][name[len(prefix) + 1:]] = value
                break
        else:
            own[name] = value
    return own, parts


TF_NETWORK_CLASS = GlobalName("dnnlib.tflib.network", "Network")
_RECONSTRUCT = GlobalName("numpy.core.multiarray", "_reconstruct")
_NDARRAY = GlobalName("numpy", "ndarray")
_SCALAR = GlobalName("numpy.core.multiarray", "scalar")
_SCALAR_TYPES = (np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_)


class _Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_global_name(self, obj: GlobalName) -> None:
        self.save(obj.module)
        self.save(obj.name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    def _save_network(self, obj: TFNetworkRecord) -> None:
        self.save(TF_NETWORK_CLASS)
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self.save(obj.state)
        self.write(pickle.BUILD)

    def _save_array(self, obj: np.ndarray) -> None:
        if obj.dtype.hasobject:
            raise TypeError("arrays of Python objects do not belong in a network pickle")
        self.save(_RECONSTRUCT)
        self.save((_NDARRAY, (0,), b"b"))
        self.write(pickle.REDUCE)
        self.memoize(obj)
        data = np.ascontiguousarray(obj)
        self.save((1, tuple(obj.shape), obj.dtype, False, data.tobytes()))
        self.write(pickle.BUILD)

    def _save_scalar(self, obj: np.generic) -> None:
        self.save(_SCALAR)
        self.save((obj.dtype, obj.tobytes()))
        self.write(pickle.REDUCE)
        self.memoize(obj)

    dispatch[GlobalName] = _save_global_name
    dispatch[TFNetworkRecord] = _save_network
    dispatch[np.ndarray] = _save_array
    dispatch.update(dict.fromkeys(_SCALAR_TYPES, _save_scalar))


def dumps(obj: Any) -> bytes:
    """Pickle `obj`; TFNetworkRecords become `dnnlib.tflib.network.Network` objects."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=PROTOCOL).dump(obj)
    return buf.getvalue()


def write_tf_pickle(path: str | os.PathLike, G: TFNetworkRecord, D: TFNetworkRecord, Gs: TFNetworkRecord) -> None:
    """The official (G, D, Gs) file, written atomically (a failure leaves no file behind)."""
    with atomic_open(path, "wb") as f:
        _Pickler(f, protocol=PROTOCOL).dump((G, D, Gs))
