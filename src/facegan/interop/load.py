"""Recognising a network file and loading it: our `.safetensors`, or an official pickle."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from facegan.errors import ConfigError, FaceganError, NetworkFormatError
from facegan.interop.stylegan2_pytorch import convert_snapshot, is_snapshot, snapshot_family, snapshot_metadata
from facegan.interop.tf_network import build_func, is_tf_network_tuple
from facegan.interop.unpickler import PersistentObject, TFNetwork, read_pickle
from facegan.networks.config import NetworkConfig
from facegan.networks.io import NETWORK_NAMES

FORMATS = {
    "facegan": "facegan .safetensors",
    "stylegan-tf": "StyleGAN (v1) TensorFlow pickle",
    "stylegan2-tf": "StyleGAN2 / StyleGAN2-ADA TensorFlow pickle",
    "stylegan2-ada-pytorch": "stylegan2-ada-pytorch network snapshot",
    "stylegan3": "stylegan3 (StyleGAN3-T/-R) network snapshot",
}


PROGAN_BUILDS = ("G_paper", "D_paper")


@dataclass
class LoadedNetworks:
    format: str                              # One of FORMATS.
    config: NetworkConfig
    networks: dict[str, nn.Module]           # Some of G, D, G_ema.
    metadata: dict[str, str] = field(default_factory=dict)

    def pick(self, which: str = "G_ema") -> nn.Module:
        """One network: 'G_ema' (falling back to 'G' when the file has no EMA generator), 'G' or 'D'."""
        if which not in NETWORK_NAMES:
            raise ConfigError(f"which must be G_ema, G or D, got {which!r}")
        names = ("G_ema", "G") if which == "G_ema" else (which,)
        for name in names:
            if name in self.networks:
                return self.networks[name]
        raise NetworkFormatError(f"the file holds no {' or '.join(names)} network (it has {', '.join(self.networks)})")


def detect_tf_family(G: TFNetwork, D: TFNetwork, Gs: TFNetwork, path: Path) -> str:
    """'stylegan-tf' or 'stylegan2-tf' from the recorded state version and build function."""
    version = Gs.__dict__.get("state", {}).get("version")
    build = build_func(Gs, f"{path} [Gs]")
    if build in PROGAN_BUILDS:
        raise NetworkFormatError(f"{path}: a Progressive GAN network (build function {build!r}); facegan loads "
                                 "StyleGAN (v1) and StyleGAN2 networks only")
    if not isinstance(version, int) or not 2 <= version <= 5:
        raise NetworkFormatError(f"{path}: a TensorFlow network pickle of unknown version {version!r} "
                                 f"(build function {build!r}); StyleGAN writes 2-3, StyleGAN2 4, StyleGAN2-ADA 5")
    if build == "G_style" and version <= 4:  # StyleGAN, or the StyleGAN2 code's config A (version 4)
        return "stylegan-tf"
    if build == "G_main" and version >= 4:  # StyleGAN2 (4) and StyleGAN2-ADA's TensorFlow code (5)
        return "stylegan2-tf"
    raise NetworkFormatError(f"{path}: unknown build function {build!r} for a version-{version} TensorFlow network "
                             "(known: G_style for StyleGAN, G_main for StyleGAN2)")


def load_official(path: str | os.PathLike, names: Collection[str] = NETWORK_NAMES) -> LoadedNetworks:
    """An official NVIDIA pickle -> our networks (never executing anything from the file).

    Only the networks in `names` are built (the file is read whole either way); asking for G_ema
    of a snapshot that has none gives its G.
    """
    from facegan.interop.stylegan2_tf import convert_stylegan2_tf
    from facegan.interop.stylegan_tf import convert_stylegan_tf

    path = Path(path)
    contents = read_pickle(path)
    data, source = contents.obj, path.name
    if is_tf_network_tuple(data):
        contents.require("tensorflow")
        family = detect_tf_family(*data, path)
        convert, args = (convert_stylegan_tf if family == "stylegan-tf" else convert_stylegan2_tf), data
    elif is_snapshot(data):
        contents.require("pytorch")
        family, convert, args = snapshot_family(data), convert_snapshot, (data,)
        if "G_ema" in names and not isinstance(data.get("G_ema"), PersistentObject):
            names = {*names, "G"}
    elif isinstance(data, TFNetwork) or (isinstance(data, tuple) and any(isinstance(n, TFNetwork) for n in data)):
        raise NetworkFormatError(f"{path}: TensorFlow networks, but not the (G, D, Gs) tuple of an official file")
    else:
        raise NetworkFormatError(f"{path}: a pickle, but not an official StyleGAN network file (found a "
                                 f"{type(data).__name__})")
    try:
        config, nets = convert(*args, source, names=names)
    except FaceganError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        raise NetworkFormatError(f"{path}: a malformed {FORMATS[family]} ({type(exc).__name__}: {exc})") from None
    return LoadedNetworks(family, config, nets, snapshot_metadata(data) if is_snapshot(data) else {})


def load_any(path: str | os.PathLike, names: Collection[str] = NETWORK_NAMES) -> LoadedNetworks:
    """The networks of any supported file (those of `names` it holds), recognised by its content."""
    from facegan.networks.io import load_networks, read_metadata

    path = Path(path)
    if not path.is_file():
        raise NetworkFormatError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(16)
    if path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{"):  # safetensors: u64 size, JSON
        if "G_ema" in names and "G_ema" not in json.loads(read_metadata(path).get("networks", "[]")):
            names = {*names, "G"}
        nets, config, meta = load_networks(path, names=[n for n in NETWORK_NAMES if n in names])
        return LoadedNetworks("facegan", config, nets, dict(meta))
    return load_official(path, names)


def load_network(path: str | os.PathLike, device: torch.device | str = "cpu", which: str = "G_ema",
                 requires_grad: bool = False) -> nn.Module:
    """One ready network (G_ema by default, falling back to G; or 'G' / 'D') from any supported file,
    in eval mode; its weights are frozen unless `requires_grad`."""
    if which not in NETWORK_NAMES:
        raise ConfigError(f"which must be G_ema, G or D, got {which!r}")
    net = load_any(path, names=(which,)).pick(which)
    return net.to(device).eval().requires_grad_(requires_grad)
