"""Reading the recorded state of TensorFlow `Network` objects and filling our modules from it.

A TF network pickle (StyleGAN, StyleGAN2, StyleGAN2-ADA) holds (G, D, Gs); each network's state
has `version` (2-3: StyleGAN, 4: StyleGAN2 and ADA), `build_func_name` (G_style, G_main, D_basic,
D_stylegan2, ...), `static_kwargs` (the constructor arguments), `components` (mapping and
synthesis sub-networks) and `variables`, a list of (name, array) in TensorFlow layouts
(dense [in, out], conv [kh, kw, in, out]).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from facegan.errors import NetworkFormatError
from facegan.interop.unpickler import TFNetwork
from facegan.networks.io import load_state_strict

Rule = tuple[str, Callable[..., np.ndarray] | None]


def is_tf_network_tuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetwork) for n in obj)


def tf_variables(net: TFNetwork, prefix_by: str = "key") -> dict[str, np.ndarray]:
    """All variables of a network and its components, flat: 'mapping/Dense0/weight' (prefix_by='key')
    or 'G_mapping/Dense0/weight' (prefix_by='name', TensorFlow's own scope names)."""
    out: dict[str, np.ndarray] = {}

    def walk(prefix: str, n: TFNetwork) -> None:
        variables = n.state.get("variables", [])
        if not isinstance(variables, (list, tuple)):
            raise NetworkFormatError(f"network {n.state.get('name')!r}: 'variables' is not a list")
        for item in variables:
            try:
                name, value = item
            except (TypeError, ValueError):
                raise NetworkFormatError(f"network {n.state.get('name')!r}: malformed variable entry") from None
            out[prefix + str(name)] = np.asarray(value)
        for key, comp in (n.state.get("components") or {}).items():
            if not isinstance(comp, TFNetwork):
                raise NetworkFormatError(f"component {key!r} is not a TensorFlow network")
            label = key if prefix_by == "key" else str(comp.state.get("name", key))
            walk(prefix + label + "/", comp)

    walk("", net)
    return out


def tf_kwargs(net: TFNetwork) -> dict[str, Any]:
    """The static kwargs of a network merged with those of its components (components get the
    top-level kwargs forwarded, plus their own)."""
    merged: dict[str, Any] = {}
    for comp in (net.state.get("components") or {}).values():
        merged.update(dict(comp.state.get("static_kwargs") or {}))
    merged.update(dict(net.state.get("static_kwargs") or {}))
    return merged


class KwargReader:
    """Reads TF kwargs by name with defaults, remembering which were read, so that any kwarg left
    over is reported as unknown (a fork's architecture we would otherwise silently misbuild)."""

    def __init__(self, kwargs: dict[str, Any], network: str):
        self.kwargs, self.network, self.seen = kwargs, network, set()

    def __call__(self, name: str, default: Any = None) -> Any:
        self.seen.add(name)
        value = self.kwargs.get(name, default)
        return default if value is None else value

    def ignore(self, *names: str) -> None:
        self.seen.update(names)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.kwargs) - self.seen)
        if unknown:
            raise NetworkFormatError(f"{self.network}: unknown TensorFlow kwarg {unknown[0]!r} "
                                     f"({', '.join(unknown)}); this is not an architecture facegan knows")


def fill_module(module: nn.Module, rules: Iterable[Rule], variables: dict[str, np.ndarray], context: str) -> None:
    """Set every tensor of `module` from `variables` via the first rule whose regex matches its name.

    A rule's function gets the regex groups and returns the array (None as the function keeps our
    own value, e.g. for FIR filter buffers). A tensor no rule covers, or a rule naming a variable the
    file lacks, is an error naming it; shapes are checked by load_state_strict.
    """
    compiled = [(re.compile(p), fn) for p, fn in rules]
    state = {}
    for name, tensor in module.state_dict().items():
        match = next(((fn, m) for pattern, fn in compiled if (m := pattern.fullmatch(name))), None)
        if match is None:
            raise NetworkFormatError(f"{context}: no conversion rule for our tensor {name!r}")
        fn, m = match
        if fn is None:
            state[name] = tensor
            continue
        try:
            value = fn(*m.groups())
        except KeyError as exc:
            raise NetworkFormatError(f"{context}: the file has no variable {exc.args[0]!r} "
                                     f"(needed for {name!r})") from None
        state[name] = torch.from_numpy(np.array(value, dtype=np.float32))  # shape checked below, never reshaped
    load_state_strict(module, state, context=context)


def oihw(w: np.ndarray) -> np.ndarray:
    """TF conv weight [kh, kw, in, out] -> PyTorch [out, in, kh, kw]."""
    return np.asarray(w).transpose(3, 2, 0, 1)
