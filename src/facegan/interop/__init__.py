"""Network files in and out: our `.safetensors` format and the official NVIDIA files.

`load_network(path)` returns a ready generator from any supported file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from facegan.errors import NetworkFormatError


def load_network(path: str | os.PathLike, device: torch.device | str = "cpu", which: str = "G_ema"):
    """Load one network (`G_ema`, falling back to `G`; or `G`/`D` explicitly) from a supported file."""
    from facegan.networks.io import load_networks

    path = Path(path)
    if not path.exists():
        raise NetworkFormatError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        names = ("G_ema", "G") if which == "G_ema" else (which,)
        nets, _, _ = load_networks(path, names=names, device=device)
        for name in names:
            if name in nets:
                return nets[name]
        raise NetworkFormatError(f"{path}: holds no {' or '.join(names)} network")
    raise NetworkFormatError(f"{path}: unsupported network file (expected .safetensors)")
