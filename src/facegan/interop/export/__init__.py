"""Networks out: NVIDIA's TensorFlow-layout network pickles and ONNX (docs/pretrained.md, "Exporting").

    export(networks, path, format="nvidia")   StyleGAN2 -> (G, D, Gs) as StyleGAN2-ADA TF (version 4),
                                              which stylegan2-ada-pytorch and stylegan3 convert on load;
                                              StyleGAN (v1) -> the original G_style layout (version 3)
    export(networks, path, format="onnx")     the generator (or its mapping or synthesis) as an ONNX graph

`networks` is a network file (ours or an official one), a LoadedNetworks, a dict of G / D / G_ema,
or a generator module (ONNX needs only the generator; NVIDIA's pickle holds D as well). What a
format cannot represent is refused with an ExportError before anything is written, and files are
written atomically, so a failed export leaves no partial file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from facegan.errors import FaceganError

FORMATS = {
    "nvidia": "NVIDIA TensorFlow-layout network pickle (G, D, Gs)",
    "onnx": "ONNX graph of the generator",
}


class ExportError(FaceganError):
    """The network cannot be written in the asked format (nothing was written)."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    contents: str                                    # What the file holds, in words.
    notes: tuple[str, ...] = field(default=())       # What the format does not carry, and fallbacks taken.

    def summary(self) -> str:
        lines = [f"wrote {self.path} ({FORMATS[self.format]}): {self.contents}"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _networks(source: Any) -> tuple[Any, dict[str, nn.Module]]:
    """(config, {name: module}) from whatever `export` was given."""
    from facegan.interop.load import LoadedNetworks, load_any
    from facegan.networks.base import GeneratorBase

    if isinstance(source, (str, os.PathLike)):
        source = load_any(source)
    if isinstance(source, LoadedNetworks):
        return source.config, dict(source.networks)
    if isinstance(source, GeneratorBase):
        return source.config, {"G_ema": source}
    if isinstance(source, Mapping) and source and all(isinstance(n, nn.Module) for n in source.values()):
        unknown = sorted(set(source) - {"G", "D", "G_ema"})
        if unknown:
            raise ExportError(f"networks are named G, D and G_ema, got {', '.join(unknown)}")
        config = next((n.config for n in source.values() if hasattr(n, "config")), None)
        if config is None:
            raise ExportError("these modules carry no facegan network config")
        return config, dict(source)
    raise ExportError(f"cannot export a {type(source).__name__}: give a network file, a generator, or a dict of "
                      "G / D / G_ema")


def _check_destination(path: Path, suffixes: tuple[str, ...], fmt: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise ExportError(f"{path}: a {fmt} export is written to a {' or '.join(suffixes)} file")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise ExportError(f"{parent}: the folder is not writable")


def export(networks: Any, path: str | os.PathLike, format: str = "nvidia", **options: Any) -> ExportReport:
    """Write `networks` to `path` in `format` ('nvidia' or 'onnx'); see the module docstring.

    ONNX options: part ('generator', 'mapping' or 'synthesis'), output ('uint8' NHWC or 'float'
    NCHW in [-1, 1]), noise_mode ('const' or 'none'), truncation_cutoff (int; default the
    network's), opset (int, >= 18; default the exporter's); StyleGAN3 only: translate ((x, y) in
    image widths) and rotate (degrees), the defaults of the graph's optional translate and rotate
    inputs (default: what the network's transform buffer holds). The batch size N is free.
    """
    if format not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    path = Path(path)
    if format == "nvidia":  # everything about the destination and the options first, then the networks
        if options:
            raise ExportError(f"the nvidia format takes no options (got {', '.join(sorted(options))})")
        _check_destination(path, (".pkl",), "nvidia")
        from facegan.interop.export.nvidia import export_nvidia

        return export_nvidia(*_networks(networks), path)
    _check_destination(path, (".onnx",), "onnx")
    from facegan.interop.export.onnx_graph import export_onnx

    return export_onnx(*_networks(networks), path, **options)


__all__ = ["FORMATS", "ExportError", "ExportReport", "export"]
