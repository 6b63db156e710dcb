"""Resampling as ProGAN and StyleGAN (v1) do it: nearest-neighbour upscale, 2x2 box downscale, the
[1, 2, 1] blur, and convolutions fused with a factor-2 resampling ("fused_scale").

Definitions (the official TensorFlow code, re-derived and tested in tests/test_stylegan1_ops.py):

- `upscale2d`: every pixel repeated 2x2 (nearest neighbour).
- `downscale2d`: the mean of every 2x2 (or kxk) box.
- `Blur2d`: depthwise correlation with the normalised outer product of the taps ([1,2,1] -> a 3x3
  kernel summing to one), TensorFlow 'SAME' zero padding (for an even tap count the extra pixel of
  padding goes after, as TensorFlow pads).
- `upscale2d_conv2d(x, w, fused=True)`: the kxk kernel zero-padded to (k+1)x(k+1) and summed over
  its four one-pixel shifts, then a stride-2 transposed convolution with TensorFlow 'SAME'
  semantics. A transposed convolution scatters rather than correlates, so this equals nearest
  upscale followed by a 'SAME' correlation with the *spatially flipped* kernel; with `fused=False`
  it is upscale then correlation with the kernel as stored. The official networks use fused
  convolutions from 128x128 up and the unfused pair below, and each trained weight is only ever
  used one way, so both are reproduced exactly here.
- `conv2d_downscale2d(x, w, fused=True)`: the same shift-summed kernel times 1/4 with stride 2,
  which equals correlation then the 2x2 box mean exactly (no flip on this side).

Weights are OIHW and already carry their equalised-learning-rate scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upscaling by an integer factor (each pixel becomes a factor x factor square)."""
    if factor == 1:
        return x
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return F.interpolate(x, scale_factor=factor, mode="nearest")  # fast for channels_last
    N, C, H, W = x.shape  # NCHW: a broadcast copy is ~7x faster than interpolate on CPU
    return x[:, :, :, None, :, None].expand(N, C, H, factor, W, factor).reshape(N, C, H * factor, W * factor)


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """The mean of every factor x factor box."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


def blur_kernel(taps: Sequence[float]) -> torch.Tensor:
    """1-D taps -> the normalised 2-D kernel (outer product divided by its sum)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim != 1 or len(f) == 0 or float(f.sum()) == 0:
        raise ValueError(f"blur taps must be a non-empty 1-D list with a non-zero sum, got {list(taps)}")
    k = f.outer(f)
    return k / k.sum()


class Blur2d(nn.Module):
    """Low-pass filter of each channel with the normalised kernel of `taps`, output size = input size."""

    def __init__(
        self,
        taps: Sequence[float] = (1, 2, 1),  # 1-D filter taps; the 2-D kernel is their outer product.
    ):
        super().__init__()
        self.taps = tuple(float(t) for t in taps)
        self.register_buffer("kernel", blur_kernel(self.taps), persistent=False)
        k = len(self.taps)
        self.padding = [(k - 1) // 2, k // 2] * 2  # TensorFlow 'SAME': the odd pixel goes after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        C = x.shape[1]
        k = self.kernel.to(x.dtype)[None, None].expand(C, 1, *self.kernel.shape)
        p0, p1 = self.padding[:2]
        if p0 == p1:
            return F.conv2d(x, k, padding=p0, groups=C)
        return F.conv2d(F.pad(x, self.padding), k, groups=C)

    def extra_repr(self) -> str:
        return f"taps={self.taps}"


def _shift_sum(w: torch.Tensor) -> torch.Tensor:
    """[O, I, k, k] -> [O, I, k+1, k+1]: zero-pad by one and add the four one-pixel shifts."""
    w = F.pad(w, [1, 1, 1, 1])
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


def upscale2d_conv2d(x: torch.Tensor, weight: torch.Tensor, fused: bool) -> torch.Tensor:
    """2x upsampling convolution: [N, I, H, W] -> [N, O, 2H, 2W] (see the module docstring)."""
    k = weight.shape[-1]
    if not fused:
        return F.conv2d(upscale2d(x), weight, padding=k // 2)
    return F.conv_transpose2d(x, _shift_sum(weight).transpose(0, 1), stride=2, padding=(k - 1) // 2)


def conv2d_downscale2d(x: torch.Tensor, weight: torch.Tensor, fused: bool) -> torch.Tensor:
    """Convolution with 2x downsampling: [N, I, 2H, 2W] -> [N, O, H, W] (see the module docstring)."""
    k = weight.shape[-1]
    if not fused:
        return downscale2d(F.conv2d(x, weight, padding=k // 2))
    return F.conv2d(x, _shift_sum(weight) * 0.25, stride=2, padding=(k - 1) // 2)
