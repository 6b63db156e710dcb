"""Reading the recorded state of TensorFlow `Network` objects and filling our modules from it.

A TF network pickle (StyleGAN, StyleGAN2, StyleGAN2-ADA) holds (G, D, Gs); each network's state
has `version` (2-3: StyleGAN, 4: StyleGAN2, 5: StyleGAN2-ADA), `build_func_name` (G_style, G_main, D_basic,
D_stylegan2, ...), `static_kwargs` (the constructor arguments), `components` (mapping and
synthesis sub-networks) and `variables`, a list of (name, array) in TensorFlow layouts
(dense [in, out], conv [kh, kw, in, out]).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from facegan.errors import NetworkFormatError
from facegan.interop.unpickler import TFNetwork
from facegan.networks.io import load_state_strict

Rule = tuple[str, Callable[..., np.ndarray] | None]


MAX_DEPTH = 8  # official networks nest one level (G -> mapping, synthesis); a deeper or cyclic tree is malformed


def is_tf_network_tuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, TFNetwork) for n in obj)


def _state(net: Any, where: str) -> dict[str, Any]:
    state = getattr(net, "__dict__", {}).get("state") if isinstance(net, TFNetwork) else None
    if not isinstance(state, dict):
        raise NetworkFormatError(f"{where}: not a recorded TensorFlow network")
    return state


def components(net: TFNetwork, where: str = "network") -> dict[str, TFNetwork]:
    comps = _state(net, where).get("components") or {}
    if not isinstance(comps, dict) or not all(isinstance(c, TFNetwork) for c in comps.values()):
        raise NetworkFormatError(f"{where}: 'components' is not a dict of TensorFlow networks")
    return comps


def build_func(net: TFNetwork, where: str = "network") -> str:
    """The network's build function name, e.g. 'G_style', 'G_main', 'D_stylegan2'."""
    return str(_state(net, where).get("build_func_name"))


def check_build_functions(G: TFNetwork, D: TFNetwork, Gs: TFNetwork, source: str, family: str, generator: str,
                          parts: dict[str, Collection[str]],
                          discriminators: Collection[str]) -> tuple[dict[str, str], str]:
    """G and Gs must be built by `generator` with components built by one of `parts[key]`, D by one
    of `discriminators`; anything else is an error naming it. Returns (Gs's component builds, D's)."""
    found: dict[str, str] = {}
    for name, net in (("G", G), ("Gs", Gs)):
        where = f"{source} [{name}]"
        if build_func(net, where) != generator:
            raise NetworkFormatError(f"{where}: build function {build_func(net)!r} is not a {family} generator "
                                     f"({generator})")
        comps = components(net, where)
        for key, options in parts.items():
            if key not in comps:
                raise NetworkFormatError(f"{where}: the generator has no {key!r} component")
            found[key] = build_func(comps[key])
            if found[key] not in options:
                raise NetworkFormatError(f"{where}: {key} build function {found[key]!r} is not one facegan knows "
                                         f"for {family} ({', '.join(options)})")
    d_build = build_func(D, f"{source} [D]")
    if d_build not in discriminators:
        raise NetworkFormatError(f"{source} [D]: build function {d_build!r} is not a {family} discriminator "
                                 f"facegan knows ({', '.join(discriminators)})")
    return found, d_build


def static_kwargs(net: TFNetwork, where: str = "network") -> dict[str, Any]:
    kwargs = _state(net, where).get("static_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise NetworkFormatError(f"{where}: 'static_kwargs' is not a dict")
    return dict(kwargs)


def tf_variables(net: TFNetwork, prefix_by: str = "key") -> dict[str, np.ndarray]:
    """All variables of a network and its components, flat: 'mapping/Dense0/weight' (prefix_by='key')
    or 'G_mapping/Dense0/weight' (prefix_by='name', TensorFlow's own scope names)."""
    out: dict[str, np.ndarray] = {}

    def walk(prefix: str, n: TFNetwork, seen: tuple[int, ...]) -> None:
        where = f"network {prefix.rstrip('/') or _state(n, 'network').get('name')!r}"
        if id(n) in seen or len(seen) >= MAX_DEPTH:
            raise NetworkFormatError(f"{where}: components nest too deeply or contain themselves")
        variables = _state(n, where).get("variables", [])
        if not isinstance(variables, (list, tuple)):
            raise NetworkFormatError(f"{where}: 'variables' is not a list")
        for item in variables:
            try:
                name, value = item
            except (TypeError, ValueError):
                raise NetworkFormatError(f"{where}: malformed variable entry") from None
            if not isinstance(value, (np.ndarray, np.generic, float, int)):
                raise NetworkFormatError(f"{where}: variable {name!r} is not an array")
            out[prefix + str(name)] = np.asarray(value)
        for key, comp in components(n, where).items():
            label = key if prefix_by == "key" else str(_state(comp, where).get("name", key))
            walk(prefix + label + "/", comp, seen + (id(n),))

    walk("", net, ())
    return out


def tf_kwargs(net: TFNetwork, where: str = "network") -> dict[str, Any]:
    """The static kwargs of a network merged with those of its components (components get the
    top-level kwargs forwarded, plus their own)."""
    merged: dict[str, Any] = {}
    for key, comp in components(net, where).items():
        merged.update(static_kwargs(comp, f"{where} component {key!r}"))
    merged.update(static_kwargs(net, where))
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


class _Reads(dict):
    """The variables, remembering which names were read (to name them in errors)."""

    def __init__(self, variables: dict[str, np.ndarray]):
        super().__init__(variables)
        self.read: list[str] = []

    def __getitem__(self, key: str) -> np.ndarray:
        self.read.append(key)
        return super().__getitem__(key)


def fill_module(module: nn.Module, rules: Iterable[Rule], variables: dict[str, np.ndarray], context: str) -> None:
    """Set every tensor of `module` from `variables` via the first rule whose regex matches its name.

    A rule's function gets the regex groups and the variables (as the dict `v` it closes over) and
    returns the array; a rule with None as function keeps our own value (FIR filter buffers). A
    tensor no rule covers, a variable the file lacks, or a variable of the wrong shape is an error
    naming it.
    """
    compiled = [(re.compile(p), fn) for p, fn in rules]
    reads = variables if isinstance(variables, _Reads) else None
    state = {}
    for name, tensor in module.state_dict().items():
        match = next(((fn, m) for pattern, fn in compiled if (m := pattern.fullmatch(name))), None)
        if match is None:
            raise NetworkFormatError(f"{context}: no conversion rule for our tensor {name!r}")
        fn, m = match
        if fn is None:
            state[name] = tensor
            continue
        if reads is not None:
            reads.read.clear()
        try:
            value = np.array(fn(*m.groups()), dtype=np.float32)
        except KeyError as exc:
            raise NetworkFormatError(f"{context}: the file has no variable {exc.args[0]!r} "
                                     f"(needed for {name!r})") from None
        except (IndexError, ValueError, TypeError) as exc:
            source = f"variable {reads.read[-1]!r}" if reads is not None and reads.read else "the variable"
            raise NetworkFormatError(f"{context}: {source} has the wrong shape for {name!r} ({exc})") from None
        if value.shape != tuple(tensor.shape):
            if reads is not None and reads.read:
                src = reads.read[-1]
                raise NetworkFormatError(f"{context}: variable {src!r} has shape {list(variables[src].shape)}, which "
                                         f"does not fit {name!r} {list(tensor.shape)}; the file's kwargs do not "
                                         "describe its variables")
            raise NetworkFormatError(f"{context}: {name!r} would get shape {list(value.shape)}, expected "
                                     f"{list(tensor.shape)}")
        state[name] = torch.from_numpy(value)
    load_state_strict(module, state, context=context)


def tracked(variables: dict[str, np.ndarray]) -> _Reads:
    """Wrap a variable dict so that fill_module can name the variable behind a shape mismatch."""
    return _Reads(variables)


def oihw(w: np.ndarray) -> np.ndarray:
    """TF conv weight [kh, kw, in, out] -> PyTorch [out, in, kh, kw]."""
    return np.asarray(w).transpose(3, 2, 0, 1)
