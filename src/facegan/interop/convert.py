"""`facegan convert`: an official network pickle -> our `.safetensors` with G, D and G_ema."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import NetworkFormatError
from facegan.interop.load import FORMATS, load_official
from facegan.networks.config import NetworkConfig
from facegan.networks.io import save_networks


@dataclass(frozen=True)
class ConversionReport:
    source: str                 # The official file.
    dest: str                   # The .safetensors written.
    format: str                 # One of facegan.interop.FORMATS.
    arch: str                   # Our architecture name ('stylegan', 'stylegan2').
    resolution: int
    details: str                # The architecture in a few words (generator/discriminator types, classes).
    networks: dict[str, int]    # name -> number of parameters
    sha256: str                 # Of the source file.

    def summary(self) -> str:
        nets = ", ".join(f"{k} ({v:,} parameters)" for k, v in self.networks.items())
        return (f"{self.source}: {FORMATS[self.format]}\n"
                f"  network: {self.arch} at {self.resolution}x{self.resolution}, {self.details}\n"
                f"  found: {nets}\n"
                f"  wrote {self.dest} (source sha256 {self.sha256[:16]}...)")


def describe(config: NetworkConfig) -> str:
    """The architecture of a converted network in a few words."""
    parts = []
    if config.arch == "stylegan2":
        parts.append(f"G {config.g_architecture}, D {config.d_architecture}")
    if config.arch == "stylegan3":
        parts.append("StyleGAN3-R (rotation equivariant)" if config.use_radial_filters else
                     "StyleGAN3-T (translation equivariant)")
    mapping_layers = getattr(config, "mapping_layers", None)
    if mapping_layers is not None:
        parts.append(f"{mapping_layers} mapping layers")
    parts.append(f"conditional on {config.c_dim} classes" if config.c_dim else "unconditional")
    return ", ".join(parts)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(src: str | os.PathLike, dest: str | os.PathLike) -> ConversionReport:
    """Convert an official pickle to our format; the source's name, format and sha256 go into the
    file's metadata (and, from a stylegan2-ada-pytorch snapshot, `augment_p` and
    `training_set_kwargs`). Written atomically."""
    src, dest = Path(src), Path(dest)
    if src.suffix == ".safetensors":
        raise NetworkFormatError(f"{src}: already a facegan .safetensors network; nothing to convert")
    loaded = load_official(src)
    digest = _sha256(src)
    order = [n for n in ("G", "D", "G_ema") if n in loaded.networks]
    save_networks(dest, {n: loaded.networks[n] for n in order}, loaded.config,
                  metadata={**loaded.metadata, "source": src.name, "source_format": loaded.format,
                            "source_sha256": digest})
    counts = {n: sum(p.numel() for p in loaded.networks[n].parameters()) for n in order}
    return ConversionReport(str(src), str(dest), loaded.format, loaded.config.arch, loaded.config.resolution,
                            describe(loaded.config), counts, digest)
