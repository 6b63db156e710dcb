"""Equalised learning rate (Karras et al., ProGAN, section 4.1; used by StyleGAN and StyleGAN2).

Weights are stored as N(0, 1) / lr_multiplier and scaled at run time by
gain * lr_multiplier / sqrt(fan_in), so that every layer learns at the same speed under Adam.
Biases are stored raw and scaled by lr_multiplier at run time (only the mapping network uses
lr_multiplier != 1, namely 0.01). The stored values are exactly what the official files hold, so
converted weights copy across unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _Equalized(nn.Module):
    """The run-time scaling shared by the layers below (weight * weight_gain, bias * bias_gain)."""

    weight: nn.Parameter
    bias: nn.Parameter | None
    weight_gain: float
    bias_gain: float

    def scaled_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        w = self.weight * self.weight_gain
        return w if dtype is None else w.to(dtype)

    def scaled_bias(self, dtype: torch.dtype | None = None) -> torch.Tensor | None:
        if self.bias is None:
            return None
        b = self.bias * self.bias_gain
        return b if dtype is None else b.to(dtype)


class EqualizedLinear(_Equalized):
    """A fully connected layer y = x W^T * weight_gain + b * lr_multiplier."""

    def __init__(
        self,
        in_features: int,            # Number of input features.
        out_features: int,           # Number of output features.
        bias: bool = True,           # Learn an additive bias?
        bias_init: float = 0.0,      # Initial value of the stored bias.
        lr_multiplier: float = 1.0,  # Learning-rate multiplier (0.01 in the mapping network).
        gain: float = 1.0,           # Extra gain folded into the weight scale (sqrt(2) before lrelu in v1).
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.scaled_weight(x.dtype), self.scaled_bias(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, lr_multiplier={self.lr_multiplier:g}"


class EqualizedConv2d(_Equalized):
    """A 2-D convolution (stride 1, 'same' padding) with equalised learning rate.

    Networks that resample inside the convolution (fused up/down-sampling) or fuse the bias with
    the activation take `scaled_weight()` and `scaled_bias()` and do their own arithmetic.
    """

    def __init__(
        self,
        in_channels: int,            # Number of input channels.
        out_channels: int,           # Number of output channels.
        kernel_size: int,            # Width and height of the kernel.
        bias: bool = True,           # Learn an additive bias?
        bias_init: float = 0.0,      # Initial value of the stored bias.
        lr_multiplier: float = 1.0,  # Learning-rate multiplier.
        gain: float = 1.0,           # Extra gain folded into the weight scale.
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_channels], float(bias_init))) if bias else None
        self.weight_gain = gain * lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.scaled_weight(x.dtype), self.scaled_bias(x.dtype), padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"lr_multiplier={self.lr_multiplier:g}")
