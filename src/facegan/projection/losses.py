"""The distance the projector minimises between the generated image and the target.

- `LPIPSLoss`: the official projector's distance, LPIPS with VGG16 (Zhang et al. 2018): unit-normalised
  VGG16 activations at five depths, weighted by LPIPS's learned linear layers, squared differences
  averaged over space and summed over layers. Images larger than 256² are first area-downsampled to
  256² (VGG16 was built for 224² images), as the official projector does. Needs the standard weights
  (torchvision's `vgg16-397923af.pth` and LPIPS v0.1 `vgg.pth`, see facegan.metrics).
- `LaplacianPyramidLoss`: the fallback when those weights are not available. **Not LPIPS, and not
  perceptual**: an L1 distance between Laplacian pyramids (in the spirit of the Lap1 loss of
  Bojanowski et al. 2018, "Optimizing the Latent Space of Generative Networks"). Each band-pass level
  and the low-pass residual count equally, so edges and textures at every scale weigh as much as the
  colours and the overall layout, which a plain pixel L2 under-weights (and so blurs). It needs no
  weights; projections made with it match colours and layout well but fine detail less faithfully
  than LPIPS ones.

A loss is set up once with the target, then called on each generated image:

    loss = LaplacianPyramidLoss().to(device)
    loss.set_target(target)          # [1, C, H, W] in [-1, 1]
    d = loss(images)                 # [N, C, H, W] in [-1, 1] -> [N]
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from facegan.errors import ConfigError

log = logging.getLogger(__name__)

LOSSES = ("auto", "lpips", "laplacian")


class ProjectionLoss(nn.Module):
    """A distance to a fixed target image; subclasses precompute what they can in `set_target`."""

    name: str = ""

    def set_target(self, target: torch.Tensor) -> None:
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


# -- the fallback: Laplacian pyramid L1 -----------------------------------------------------------

BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)   # the classic Burt-Adelson smoothing filter, /16


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial blur per channel, with reflected borders (so edges do not darken)."""
    k = torch.tensor(BINOMIAL_5, dtype=x.dtype, device=x.device)
    k = (k[:, None] * k[None, :]) / k.sum() ** 2
    c = x.shape[1]
    pad = min(2, x.shape[2] - 1, x.shape[3] - 1)
    if pad < 2:  # tiny maps: replicate what reflection cannot reach
        x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    else:
        x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, 5, 5), groups=c)


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """`levels` band-pass images (finest first), then the low-pass residual."""
    bands = []
    for _ in range(levels):
        low = _blur(x)[:, :, ::2, ::2]
        bands.append(x - F.interpolate(low, size=x.shape[2:], mode="bilinear", align_corners=False))
        x = low
    return bands + [x]


class LaplacianPyramidLoss(ProjectionLoss):
    """Sum over pyramid levels of the mean absolute difference (see module docstring). Not LPIPS."""

    name = "laplacian"

    def __init__(self, max_levels: int = 5, min_size: int = 8):
        super().__init__()
        self.max_levels = max_levels    # Band-pass levels at most (5: 1024² down to a 32² residual).
        self.min_size = min_size        # Stop splitting once the residual would be smaller than this.
        self.levels = 0
        self._pyramid: list[torch.Tensor] = []

    def set_target(self, target: torch.Tensor) -> None:
        size = min(target.shape[2:])
        self.levels = 0
        while self.levels < self.max_levels and size // 2 >= self.min_size:
            self.levels, size = self.levels + 1, size // 2
        self._pyramid = [t.detach() for t in laplacian_pyramid(target.float(), self.levels)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self._pyramid:
            raise RuntimeError("set_target() first")
        pyramid = laplacian_pyramid(images.float(), self.levels)
        return sum((a - b).abs().mean(dim=[1, 2, 3]) for a, b in zip(pyramid, self._pyramid))


# -- LPIPS (VGG16) --------------------------------------------------------------------------------

class LPIPSLoss(ProjectionLoss):
    """LPIPS-VGG16 distance to the target, as the official projector computes it (see module docstring).

    `lpips` is facegan.metrics' LPIPS module: `embed(images)` gives, per layer, the unit-normalised
    activations already scaled by the square roots of the learned weights.
    """

    name = "lpips"

    def __init__(self, lpips: nn.Module, max_size: int = 256):
        super().__init__()
        self.lpips = lpips.eval().requires_grad_(False)
        self.max_size = max_size        # Larger images are area-downsampled to this first (official: 256).
        self._target: list[torch.Tensor] = []

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if images.shape[1] == 1:        # VGG16 sees grayscale as three equal channels
            images = images.expand(-1, 3, -1, -1)
        if images.shape[2] > self.max_size:
            images = F.interpolate(images, size=(self.max_size, self.max_size), mode="area")
        return images

    def set_target(self, target: torch.Tensor) -> None:
        with torch.no_grad():
            self._target = [f.detach() for f in self.lpips.embed(self._prepare(target))]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self._target:
            raise RuntimeError("set_target() first")
        feats = self.lpips.embed(self._prepare(images))
        return sum((a - b).square().sum(dim=1).mean(dim=[1, 2]) for a, b in zip(feats, self._target))


def make_loss(kind: str = "auto", lpips_path: str | os.PathLike | None = None,
              vgg_path: str | os.PathLike | None = None) -> ProjectionLoss:
    """The projector's loss.

    'lpips': LPIPS-VGG16; the weights come from the paths given, the cache folder, or a download
        (an error saying which file to put where if none works).
    'laplacian': the documented fallback (not LPIPS).
    'auto': LPIPS when its weights are at hand (the paths given or the cache folder; nothing is
        downloaded), else the fallback, with a warning.
    """
    if kind not in LOSSES:
        raise ConfigError(f"unknown projection loss {kind!r}; use one of {', '.join(LOSSES)}")
    if kind == "laplacian":
        return LaplacianPyramidLoss()
    if kind == "lpips" or lpips_path is not None or vgg_path is not None:
        return LPIPSLoss(_load_lpips(lpips_path, vgg_path, download=True))
    try:
        return LPIPSLoss(_load_lpips(None, None, download=False))
    except Exception as exc:  # weights absent (or unreadable): fall back, loudly
        log.warning("LPIPS/VGG16 weights not found (%s); projecting with the Laplacian-pyramid L1 fallback "
                    "loss, which is not LPIPS (see docs/generation.md)", exc)
        return LaplacianPyramidLoss()


def _load_lpips(lpips_path, vgg_path, download: bool) -> nn.Module:
    from facegan.metrics.vgg16 import load_lpips

    return load_lpips(vgg_path=vgg_path, lpips_path=lpips_path, download=download)
