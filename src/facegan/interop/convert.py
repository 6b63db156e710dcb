"""`facegan convert`: an official network pickle -> our `.safetensors` with G, D and G_ema."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from facegan.interop.load import FORMATS, load_official
from facegan.networks.io import save_networks


@dataclass(frozen=True)
class ConversionReport:
    source: str
    dest: str
    format: str
    arch: str
    resolution: int
    networks: dict[str, int]   # name -> number of parameters
    sha256: str

    def summary(self) -> str:
        nets = ", ".join(f"{k} ({v:,} parameters)" for k, v in self.networks.items())
        return (f"{self.source}: {FORMATS[self.format]}, {self.arch} at {self.resolution}x{self.resolution}\n"
                f"  networks: {nets}\n  wrote {self.dest}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(src: str | os.PathLike, dest: str | os.PathLike) -> ConversionReport:
    """Convert an official pickle to our format; the source's name, format and sha256 go into the
    file's metadata. Written atomically."""
    src, dest = Path(src), Path(dest)
    loaded = load_official(src)
    digest = _sha256(src)
    order = [n for n in ("G", "D", "G_ema") if n in loaded.networks]
    save_networks(dest, {n: loaded.networks[n] for n in order}, loaded.config,
                  metadata={"source": src.name, "source_format": loaded.format, "source_sha256": digest})
    counts = {n: sum(p.numel() for p in loaded.networks[n].parameters()) for n in order}
    return ConversionReport(str(src), str(dest), loaded.format, loaded.config.arch, loaded.config.resolution,
                            counts, digest)
