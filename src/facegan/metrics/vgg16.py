"""VGG-16 (torchvision's layout, which loads `vgg16-397923af.pth`) for two jobs:

- precision/recall features: the 4096-d activations of the second fully connected layer (after its
  ReLU), of images resized to 224x224 and normalised with the ImageNet mean/std, as in
  Kynkäänniemi et al. (2019);
- LPIPS (Zhang et al. 2018, v0.1 'vgg'): unit-normalised activations of relu1_2, relu2_2, relu3_3,
  relu4_3 and relu5_3, squared differences weighted by the learned linear layers (`vgg.pth`),
  averaged over space and summed over layers. Used by PPL and by the projector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facegan.errors import MetricError
from facegan.networks.io import load_state_strict

CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
LPIPS_TAPS = (3, 8, 15, 22, 29)              # indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 in features
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


class VGG16(nn.Module):
    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in LPIPS_TAPS:
                out.append(x)
                if len(out) == len(LPIPS_TAPS):
                    break
        return out


class VGGFeatures(nn.Module):
    """uint8-range images [N, 3, H, W] -> fc2 features [N, 4096] (precision/recall)."""

    feature_dim = 4096

    def __init__(self, vgg: VGG16):
        super().__init__()
        self.vgg = vgg
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.float(), size=(224, 224), mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        x = self.vgg.features(x)
        x = F.adaptive_avg_pool2d(x, 7).flatten(1)
        return self.vgg.classifier[:5](x)  # fc1, relu, dropout (off in eval), fc2, relu


class LPIPS(nn.Module):
    """LPIPS distance between image batches in [-1, 1] (returns [N])."""

    def __init__(self, vgg: VGG16, lin: dict[str, torch.Tensor]):
        super().__init__()
        self.vgg = vgg
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))
        for i, c in enumerate(LPIPS_CHANNELS):
            w = lin[f"lin{i}.model.1.weight"]
            if tuple(w.shape) != (1, c, 1, 1):
                raise MetricError(f"LPIPS weight lin{i}.model.1.weight has shape {tuple(w.shape)}, "
                                  f"expected (1, {c}, 1, 1)")
            self.register_buffer(f"lin{i}", w.float().clone())

    def embed(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per layer: unit-normalised activations scaled by sqrt(lin weight) (so distances are sums of squares)."""
        x = (images - self.shift) / self.scale
        out = []
        for i, f in enumerate(self.vgg.taps(x)):
            f = f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            out.append(f * getattr(self, f"lin{i}").clamp(min=0).sqrt())
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return sum((fa - fb).square().sum(dim=1).mean(dim=[1, 2]) for fa, fb in zip(self.embed(a), self.embed(b)))


def _load_state(name: str, path, download: bool) -> dict[str, torch.Tensor]:
    from facegan.metrics.weights import locate

    file = locate(name, path, download)
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MetricError(f"{file}: not a readable state dict ({exc})") from None


def load_vgg16(path=None, download: bool = True) -> VGG16:
    net = VGG16()
    load_state_strict(net, _load_state("vgg16", path, download), context="vgg16 weights")
    return net.eval().requires_grad_(False)


def load_lpips(vgg_path=None, lpips_path=None, download: bool = True) -> LPIPS:
    lin = _load_state("lpips", lpips_path, download)
    return LPIPS(load_vgg16(vgg_path, download), lin).eval().requires_grad_(False)
