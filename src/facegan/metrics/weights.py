"""The weight files of the feature networks: found on disk, in the cache, or downloaded.

- `inception`: `pt_inception-2015-12-05-6726825d.pth`, the FID Inception-v3 (TF 2015-12-05 graph)
  as a PyTorch state dict (pytorch-fid); Apache 2.0.
- `inception-nvidia`: `inception-2015-12-05.pt`, the same network as NVIDIA's TorchScript file
  (opt-in: loading runs TorchScript); Apache 2.0.
- `vgg16`: `vgg16-397923af.pth`, torchvision's ImageNet VGG-16 state dict; CC BY 4.0.
- `lpips`: `vgg.pth`, LPIPS v0.1 linear layers for VGG (richzhang/PerceptualSimilarity); BSD 2-Clause.

Search order: the explicit path given (`--inception PATH`, ...), then the cache folder
(`$FACEGAN_CACHE`, default `~/.cache/facegan`), then a download to the cache when online. Downloads
go through the package's one download path (facegan.interop.download: resumed, locked, checked by
loading, SHA-256 recorded in the cache index, FACEGAN_MIRROR and FACEGAN_OFFLINE honoured).
Offline and absent, a MetricError says which file to put where.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from facegan.errors import FaceganError, MetricError
from facegan.interop.download import Remote, fetch, is_offline
from facegan.interop.download import cache_dir as cache_dir


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    url: str
    sha256_prefix: str | None = None  # pytorch-fid and torchvision encode one in the file name

    @property
    def remote(self) -> Remote:
        return Remote(self.filename, (self.url,), mirrorable=True)


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


def locate(name: str, explicit: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The path of weight file `name` (see module docstring for the search order)."""
    spec = WEIGHTS[name]
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise MetricError(f"{path}: no such weight file")
        return path
    cached = spec.remote.path
    if cached.is_file() or (download and not is_offline()):
        try:
            return fetch(spec.remote, lambda p: _check(spec, p))
        except FaceganError as exc:
            reason = str(exc)
    else:
        reason = "downloads disabled" if not download else "facegan is offline"
    raise MetricError(f"the {name} weights ({spec.filename}) are not available ({reason}). Download "
                      f"{spec.url} and pass it with --{name.split('-')[0]} PATH, or put it in {cache_dir()} "
                      f"(FACEGAN_CACHE).")


def _check(spec: WeightFile, path: Path) -> None:
    """What the cache asks of a weight file: the hash prefix its name carries, and that it loads as
    what it should be (a state dict through torch's restricted loader, or a TorchScript archive)."""
    import torch

    from facegan.interop.download import sha256_of

    if spec.sha256_prefix and not sha256_of(path).startswith(spec.sha256_prefix):
        raise MetricError(f"{spec.filename}: its SHA-256 does not start with {spec.sha256_prefix}, as its name says")
    if spec.filename.endswith(".pt"):
        if not zipfile.is_zipfile(path):
            raise MetricError(f"{spec.filename}: not a TorchScript archive")
        return
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MetricError(f"{spec.filename}: not a readable state dict ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MetricError(f"{spec.filename}: not a state dict of tensors")
