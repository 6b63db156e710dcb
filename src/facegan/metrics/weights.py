"""The weight files of the feature networks: found on disk, in the cache, or downloaded.

- `inception`: `pt_inception-2015-12-05-6726825d.pth`, the FID Inception-v3 (TF 2015-12-05 graph)
  as a PyTorch state dict (pytorch-fid); Apache 2.0.
- `inception-nvidia`: `inception-2015-12-05.pt`, the same network as NVIDIA's TorchScript file
  (opt-in: loading runs TorchScript); Apache 2.0.
- `vgg16`: `vgg16-397923af.pth`, torchvision's ImageNet VGG-16 state dict; CC BY 4.0.
- `lpips`: `vgg.pth`, LPIPS v0.1 linear layers for VGG (richzhang/PerceptualSimilarity); BSD 2-Clause.

Search order: the explicit path given (`--inception PATH`, ...), then the cache folder
(`$FACEGAN_CACHE`, default `~/.cache/facegan`), then a download to the cache when online
(written atomically). Offline and absent, a MetricError says which file to put where.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import MetricError
from facegan.utils.atomic import atomic_path


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    url: str
    sha256_prefix: str | None = None  # pytorch-fid encodes one in the file name


WEIGHTS = {
    "inception": WeightFile("inception", "pt_inception-2015-12-05-6726825d.pth",
                            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                            "pt_inception-2015-12-05-6726825d.pth", "6726825d"),
    "inception-nvidia": WeightFile("inception-nvidia", "inception-2015-12-05.pt",
                                   "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/"
                                   "inception-2015-12-05.pt"),
    "vgg16": WeightFile("vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                        "397923af"),
    "lpips": WeightFile("lpips", "vgg.pth",
                        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("FACEGAN_CACHE", Path.home() / ".cache" / "facegan"))


def locate(name: str, explicit: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The path of weight file `name` (see module docstring for the search order)."""
    spec = WEIGHTS[name]
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise MetricError(f"{path}: no such weight file")
        return path
    cached = cache_dir() / spec.filename
    if cached.is_file():
        return cached
    if download:
        try:
            _download(spec, cached)
            return cached
        except OSError as exc:
            reason = str(exc)
    else:
        reason = "downloads disabled"
    raise MetricError(f"the {name} weights ({spec.filename}) are not available ({reason}). Download "
                      f"{spec.url} and pass it with --{name.split('-')[0]} PATH, or put it in {cache_dir()} "
                      f"(FACEGAN_CACHE).")


def _download(spec: WeightFile, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(spec.url, timeout=30) as response, atomic_path(dest) as tmp:
        h = hashlib.sha256()
        with open(tmp, "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                h.update(chunk)
        if spec.sha256_prefix and not h.hexdigest().startswith(spec.sha256_prefix):
            raise OSError(f"checksum mismatch for {spec.url}")
