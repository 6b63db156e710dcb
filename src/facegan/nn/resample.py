"""FIR up/down-sampling in pure PyTorch (the upfirdn2d operation of StyleGAN2).

upfirdn2d(x, f, up, down, padding) = upsample by inserting zeros, pad (negative values crop),
convolve with the 2-D FIR filter f, then keep every `down`-th pixel. No custom CUDA code: it runs
wherever PyTorch runs, on CPU and GPU, and supports double backward (R1, path-length penalties).

Padding is (x0, x1, y0, y1) or one int for all four sides. The filter is a true convolution
(flipped) unless flip_filter=True; the filters used here are symmetric, so it rarely matters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def setup_filter(f: Sequence[float] | torch.Tensor, normalize: bool = True, separable: bool = False,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """A 1-D tap list -> a 2-D filter (outer product), or the 1-D filter itself if separable=True.

    With normalize=True the 2-D filter sums to one ([1,3,3,1] -> [1,3,3,1]^T[1,3,3,1] / 64).
    """
    f = torch.as_tensor(f, dtype=torch.float32, device=device)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1 and not separable:
        f = f.outer(f)
    if normalize:
        f = f / (f.sum() if f.ndim == 2 else f.sum())
    return f


def _parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, padding: int | Sequence[int] = 0,
              flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of NCHW images (see module docstring).

    `f` is a 2-D filter [fh, fw] or a 1-D separable filter [fw] (applied along both axes).
    `gain` multiplies the overall signal (use up**2 when upsampling to keep the mean).
    """
    assert x.ndim == 4, f"expected NCHW, got shape {tuple(x.shape)}"
    N, C, H, W = x.shape
    px0, px1, py0, py1 = _parse_padding(padding)

    # Upsample by inserting up-1 zeros after every pixel.
    if up > 1:
        x = x.reshape(N, C, H, 1, W, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(N, C, H * up, W * up)

    # Pad (or crop, for negative padding). Symmetric non-negative padding is left to the convolution,
    # which pads without materialising a padded copy.
    conv_padding = (0, 0)
    if px0 == px1 >= 0 and py0 == py1 >= 0:
        conv_padding = (py0, px0)
    else:
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
        x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]

    # Convolve with the filter, depthwise.
    f = f.to(device=x.device, dtype=x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        w = (f * gain).expand(C, 1, *f.shape)
        x = F.conv2d(x, w, groups=C, padding=conv_padding)
    else:
        g = gain ** 0.5
        x = F.conv2d(x, (f * g).expand(C, 1, 1, f.shape[0]), groups=C, padding=(0, conv_padding[1]))
        x = F.conv2d(x, (f * g)[:, None].expand(C, 1, f.shape[0], 1), groups=C, padding=(conv_padding[0], 0))

    # Downsample by keeping every down-th pixel.
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _filter_size(f: torch.Tensor) -> tuple[int, int]:
    return (f.shape[-1], f.shape[0]) if f.ndim == 2 else (f.shape[0], f.shape[0])


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: int | Sequence[int] = 0, flip_filter: bool = False,
             gain: float = 1.0) -> torch.Tensor:
    """Filter without resampling; the output keeps the input size (plus `padding`)."""
    fw, fh = _filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, padding: int | Sequence[int] = 0,
               flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Upsample by `up` with the FIR filter f; output size is input size * up."""
    fw, fh = _filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    p = [px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, padding: int | Sequence[int] = 0,
                 flip_filter: bool = False, gain: float = 1.0) -> torch.Tensor:
    """Downsample by `down` with the FIR filter f; output size is input size / down."""
    fw, fh = _filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    p = [px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
