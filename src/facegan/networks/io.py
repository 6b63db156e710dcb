"""Our network file format: `.safetensors`, no pickle.

One file holds one or more networks of one architecture, under the prefixes `G.`, `D.` and `G_ema.`
(the names of the official snapshots). Its metadata (string -> string, as safetensors requires)
carries:

    format          "facegan-network"
    format_version  "1"
    config          the architecture config as JSON (NetworkConfig.to_dict())
    networks        JSON list of the networks inside, e.g. ["G", "D", "G_ema"]
    facegan_version the version that wrote it
    + any extra string fields the writer adds (e.g. "source", "kimg")

Loading never executes anything from the file; a tensor that is missing, unexpected or of the
wrong shape is an error naming it. Files are written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from facegan.errors import NetworkFormatError
from facegan.networks.config import NetworkConfig, build_discriminator, build_generator, config_from_dict
from facegan.utils.atomic import atomic_path

FORMAT = "facegan-network"
FORMAT_VERSION = 1
NETWORK_NAMES = ("G", "D", "G_ema")


def save_networks(path: str | os.PathLike, networks: Mapping[str, nn.Module], config: NetworkConfig,
                  metadata: Mapping[str, str] | None = None) -> None:
    """Write `networks` (a subset of G, D, G_ema) and `config` to a `.safetensors` file, atomically."""
    from safetensors.torch import save_file

    from facegan import __version__

    tensors: dict[str, torch.Tensor] = {}
    for name, net in networks.items():
        if name not in NETWORK_NAMES:
            raise ValueError(f"network name must be one of {NETWORK_NAMES}, got {name!r}")
        for key, value in net.state_dict().items():
            # safetensors refuses shared storage and non-contiguous views: store plain copies.
            tensors[f"{name}.{key}"] = value.detach().to("cpu").contiguous().clone()
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(config.to_dict()),
        "networks": json.dumps(list(networks)),
        "facegan_version": __version__,
    }
    for key, value in (metadata or {}).items():
        meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of one of our files, checked to be ours and of a version we read."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise NetworkFormatError(f"{path}: no such file") from None
    except Exception as exc:
        raise NetworkFormatError(f"{path}: not a readable .safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise NetworkFormatError(f"{path}: a .safetensors file, but not a facegan network (no 'format' metadata)")
    if int(meta.get("format_version", "0")) > FORMAT_VERSION:
        raise NetworkFormatError(
            f"{path}: written by a newer facegan (format {meta['format_version']}); upgrade facegan")
    return meta


def read_config(path: str | os.PathLike) -> NetworkConfig:
    return config_from_dict(json.loads(read_metadata(path)["config"]))


def load_networks(path: str | os.PathLike, names: Iterable[str] = NETWORK_NAMES,
                  device: torch.device | str = "cpu") -> tuple[dict[str, nn.Module], NetworkConfig, dict[str, str]]:
    """Build and fill the requested networks that the file holds; returns (networks, config, metadata)."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    config = config_from_dict(json.loads(meta["config"]))
    present = json.loads(meta.get("networks", "[]"))
    tensors = load_file(str(path), device="cpu")
    out: dict[str, nn.Module] = {}
    for name in names:
        if name not in present:
            continue
        net = build_discriminator(config) if name == "D" else build_generator(config)
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        load_state_strict(net, state, context=f"{path} [{name}]")
        out[name] = net.to(device).eval().requires_grad_(False)
    return out, config, meta


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor], context: str = "") -> None:
    """Copy every tensor of `state` into `module`, demanding an exact match of names and shapes.

    Unlike `load_state_dict(strict=False)`, nothing is silently left random: a missing, unexpected
    or misshapen tensor is a NetworkFormatError that names it.
    """
    own = module.state_dict()
    where = f"{context}: " if context else ""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        raise NetworkFormatError(f"{where}tensor {missing[0]!r} is missing ({len(missing)} missing in all); "
                                 "the file was written for a different network configuration")
    if unexpected:
        raise NetworkFormatError(f"{where}unexpected tensor {unexpected[0]!r} ({len(unexpected)} in all); "
                                 "the file was written for a different network configuration")
    for key, value in state.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise NetworkFormatError(f"{where}tensor {key!r} has shape {tuple(value.shape)}, "
                                     f"the network expects {tuple(own[key].shape)}")
    with torch.no_grad():
        for key, value in state.items():
            own[key].copy_(value)
