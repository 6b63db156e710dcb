"""The two detectors, as torch modules from [-1, 1] NCHW images to one logit each (> 0: generated).

- `SpectralClassifier`: Durall et al.'s azimuthal power spectrum, standardised with the training
  set's mean and deviation, into logistic regression (one linear layer).
- `ResNetDetector`: a small ResNet (He et al. 2016: basic blocks of two 3x3 convolutions with batch
  norm and an identity shortcut) trained from scratch, in the spirit of Wang et al.'s ResNet-50. It is
  smaller because no ImageNet weights can be downloaded here and the faces are small: a 3x3 stem
  (no 7x7 convolution and max-pool, which would leave nothing of a 32-pixel face), then stages of
  `blocks` blocks whose widths double as the resolution halves.
"""

from __future__ import annotations

import torch
from torch import nn

from facegan.detection.features import azimuthal_spectrum, spectrum_bins


class SpectralClassifier(nn.Module):
    def __init__(self, size: int):
        super().__init__()
        bins = spectrum_bins(size)
        self.size = size
        self.register_buffer("mean", torch.zeros(bins))   # Standardisation of the profile (training set).
        self.register_buffer("std", torch.ones(bins))
        self.linear = nn.Linear(bins, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return (azimuthal_spectrum(x).to(self.mean.device) - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x)).squeeze(1)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:  # projection shortcut (option B of the paper)
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNetDetector(nn.Module):
    def __init__(self, channels: int, width: int = 32, blocks: tuple[int, ...] = (2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        layers, cin = [], width
        for stage, count in enumerate(blocks):
            cout = width * 2 ** stage
            for i in range(count):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stages(self.stem(x))
        return self.fc(y.mean(dim=(2, 3))).squeeze(1)
