"""Builders of network pickles in the official layouts, from small random tensors, for the tests.

TensorFlow network pickles are written with facegan's own writer (facegan.interop.export.tf_pickle,
which names `dnnlib.tflib.network.Network` without importing it). The stylegan2-ada-pytorch classes
are not available (and must not be): the fixtures register throwaway modules named `dnnlib.util`
and `torch_utils.persistence` only while pickling, so the streams name exactly the globals the
official files name.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

from facegan.interop.export.tf_pickle import TFNetworkRecord, split_scopes, write_tf_pickle
from facegan.interop.export.tf_pickle import tf_network as _tf_network

__all__ = ["BUILD_SRC", "official_modules", "persistent_tree", "split_scopes", "tf_network", "write_snapshot",
           "write_tf_pickle"]


class _EasyDict(dict):
    pass


def _persistent_reconstruct(meta):  # never called: only its name goes into the stream
    raise AssertionError("fixtures are only written")


class _Persistent:
    """Pickles like a stylegan2-ada-pytorch persistent object: _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return (_persistent_reconstruct, (self.meta,))


@contextlib.contextmanager
def official_modules():
    """Make the official module paths importable while a fixture is pickled."""
    names = ["dnnlib", "dnnlib.util", "torch_utils", "torch_utils.persistence"]
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}
    mods["dnnlib.util"].EasyDict = _EasyDict
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _persistent_reconstruct
    old = (_EasyDict.__module__, _EasyDict.__qualname__,
           _persistent_reconstruct.__module__, _persistent_reconstruct.__qualname__)
    _EasyDict.__module__, _EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    _persistent_reconstruct.__module__ = "torch_utils.persistence"
    _persistent_reconstruct.__qualname__ = "_reconstruct_persistent_obj"
    sys.modules.update(mods)
    try:
        yield
    finally:
        (_EasyDict.__module__, _EasyDict.__qualname__,
         _persistent_reconstruct.__module__, _persistent_reconstruct.__qualname__) = old
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


# What a TF network's build_module_src holds in the fixtures: code that leaves a marker if it runs.
BUILD_SRC = "import os\nos.system('touch PWNED_BY_BUILD_SRC')\n"


def tf_network(name: str, build_func: str, variables: dict, static_kwargs: dict, version: int,
               components: dict | None = None, io_spec: dict | None = None) -> TFNetworkRecord:
    """A TF network state holding float32 `variables` and a build_module_src that must never run
    (`io_spec`: version 5's input and output shapes and names)."""
    return _tf_network(name, build_func, {k: np.asarray(v, dtype=np.float32) for k, v in variables.items()},
                       static_kwargs, version, components, build_module_src=BUILD_SRC, io_spec=io_spec)


def persistent_tree(module: torch.nn.Module, class_name: str, module_src: str, init_kwargs: dict | None = None):
    """A module tree recorded as stylegan2-ada-pytorch persistent objects (state = its __dict__)."""
    children = OrderedDict((n, persistent_tree(m, type(m).__name__, module_src)) for n, m in module._modules.items())
    state = {
        "training": False,
        "_parameters": OrderedDict((n, torch.nn.Parameter(p.detach().clone(), requires_grad=False))
                                   for n, p in module._parameters.items()),
        "_buffers": OrderedDict((n, None if b is None else b.detach().clone()) for n, b in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(), "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": children,
        "_init_args": (), "_init_kwargs": _EasyDict(init_kwargs or {}),
        "weight_gain": np.float64(0.125), "activation": "lrelu",
    }
    return _Persistent(class_name, state, module_src)


def write_snapshot(path, nets: dict, init_kwargs: dict, module_src: str, extra: dict | None = None) -> None:
    with official_modules():
        data = {name: persistent_tree(net, "Discriminator" if name == "D" else "Generator", module_src,
                                      init_kwargs[name]) for name, net in nets.items()}
        data["augment_pipe"] = None
        data["training_set_kwargs"] = _EasyDict(path="ffhq.zip", use_labels=False, xflip=True, resolution=16)
        data.update(extra or {})
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
