"""Recognising a network file and loading it: our `.safetensors`, or an official pickle."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from facegan.errors import NetworkFormatError
from facegan.interop.stylegan2_pytorch import convert_snapshot, is_snapshot
from facegan.interop.tf_network import is_tf_network_tuple
from facegan.interop.unpickler import safe_load
from facegan.networks.config import NetworkConfig

FORMATS = {
    "facegan": "facegan .safetensors",
    "stylegan-tf": "StyleGAN (v1) TensorFlow pickle",
    "stylegan2-tf": "StyleGAN2 / StyleGAN2-ADA TensorFlow pickle",
    "stylegan2-ada-pytorch": "stylegan2-ada-pytorch network snapshot",
}


@dataclass
class LoadedNetworks:
    format: str                              # One of FORMATS.
    config: NetworkConfig
    networks: dict[str, nn.Module]           # Some of G, D, G_ema.
    metadata: dict[str, str] = field(default_factory=dict)

    def pick(self, which: str = "G_ema") -> nn.Module:
        names = ("G_ema", "G") if which == "G_ema" else (which,)
        for name in names:
            if name in self.networks:
                return self.networks[name]
        raise NetworkFormatError(f"the file holds no {' or '.join(names)} network (it has {', '.join(self.networks)})")


def load_official(path: str | os.PathLike) -> LoadedNetworks:
    """An official NVIDIA pickle -> our networks (never executing anything from the file)."""
    from facegan.interop.stylegan2_tf import convert_stylegan2_tf
    from facegan.interop.stylegan_tf import convert_stylegan_tf

    path = Path(path)
    data = safe_load(path)
    source = path.name
    if is_tf_network_tuple(data):
        G, D, Gs = data
        version = Gs.state.get("version")
        build = Gs.state.get("build_func_name")
        if version in (2, 3) or build == "G_style":
            config, nets = convert_stylegan_tf(G, D, Gs, source)
            return LoadedNetworks("stylegan-tf", config, nets)
        if version == 4:
            config, nets = convert_stylegan2_tf(G, D, Gs, source)
            return LoadedNetworks("stylegan2-tf", config, nets)
        raise NetworkFormatError(f"{path}: a TensorFlow network pickle of unknown version {version!r} "
                                 f"(build function {build!r})")
    if is_snapshot(data):
        config, nets = convert_snapshot(data, source)
        return LoadedNetworks("stylegan2-ada-pytorch", config, nets)
    raise NetworkFormatError(f"{path}: a pickle, but not an official StyleGAN network file (found a "
                             f"{type(data).__name__})")


def load_any(path: str | os.PathLike) -> LoadedNetworks:
    """Any supported network file, recognised by its content."""
    from facegan.networks.io import load_networks

    path = Path(path)
    if not path.is_file():
        raise NetworkFormatError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):  # safetensors: u64 size, JSON
        nets, config, meta = load_networks(path)
        return LoadedNetworks("facegan", config, nets, dict(meta))
    return load_official(path)


def load_network(path: str | os.PathLike, device: torch.device | str = "cpu", which: str = "G_ema") -> nn.Module:
    """One ready network (G_ema by default, falling back to G; or 'G' / 'D') from any supported file."""
    net = load_any(path).pick(which)
    return net.to(device).eval().requires_grad_(False)
