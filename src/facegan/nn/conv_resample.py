"""2-D convolution with FIR up- or down-sampling folded in (StyleGAN2's resampling convolutions).

The result equals the slow composition

    up > 1:   upfirdn2d(x, f, up, gain=up**2)  then  conv2d(w)     (upsample first)
    down > 1: conv2d(w)  then  upfirdn2d(x, f, down)                (downsample last)

with `padding` counted on the upsampled image, exactly as stylegan2-ada-pytorch defines
`conv2d_resample`, but runs in the cheap order:

- upsampling: a stride-2 transposed convolution (the weights touch only the real input pixels),
  then the FIR filter on the result;
- downsampling: the FIR filter first, then a strided convolution (only kept pixels are computed);
- 1x1 kernels: the convolution commutes with the filter, so upsampling convolves first and
  downsampling filters first, each convolving the smaller image.

`flip_weight=True` computes a correlation (what `torch.nn.functional.conv2d` does), False a true
convolution; StyleGAN2 uses the latter for its upsampling layers, and the difference matters for
converted weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from facegan.nn.resample import _filter_size, _parse_padding, upfirdn2d


def _conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride: int = 1,
          padding: int | tuple[int, int] = 0, groups: int = 1, transpose: bool = False) -> torch.Tensor:
    b = None if b is None else b.to(x.dtype)
    if transpose:
        return F.conv_transpose2d(x, w, b, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    padding: int | Sequence[int] = 0, groups: int = 1, flip_weight: bool = True,
                    bias: torch.Tensor | None = None) -> torch.Tensor:
    """Convolve NCHW `x` with `w` [O, I/groups, kh, kw], resampling by `up` or `down` with filter `f`.

    `f` is a filter from `setup_filter` (needed when resampling); `padding` is (x0, x1, y0, y1), (x, y)
    or one int, relative to the upsampled image. `bias` [O] is added to the result, inside the last
    convolution. Up- and down-sampling at once is not supported.
    """
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_resample wants NCHW input and OIHW weights, got {tuple(x.shape)}, {tuple(w.shape)}")
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up- and down-sampling in one call is not supported")
    if (up > 1 or down > 1) and f is None:
        raise ValueError("conv2d_resample: resampling needs a filter")
    out_channels, in_per_group, kh, kw = w.shape
    px0, px1, py0, py1 = _parse_padding(padding)

    if up == 1 and down == 1:
        if not flip_weight:
            w = w.flip([2, 3])
        if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
            return _conv(x, w, bias, padding=(py0, px0), groups=groups)
        return _conv(F.pad(x, [px0, px1, py0, py1]), w, bias, groups=groups)  # negative padding crops

    fw, fh = _filter_size(f)
    if up > 1:
        # Padding of the upsampled image that the FIR filter needs (as in upsample2d).
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
        if kh == 1 and kw == 1:
            x = _conv(x, w if flip_weight else w.flip([2, 3]), groups=groups)  # bias after the filter
            return upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up * up, bias=bias)
        # The transposed convolution computes the true convolution of the zero-upsampled input over its
        # full support; what it produces beyond the padding is cropped (or zero-padded) by the filter step.
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        if flip_weight:  # a correlation = a convolution with the flipped kernel
            wt = wt.flip([2, 3])
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)  # crop what both sides would crop inside the transposed conv itself
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, wt, stride=up, padding=(pyt, pxt), groups=groups, transpose=True)
        return upfirdn2d(x, f, padding=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up * up, bias=bias)

    # Downsampling.
    px0 += (fw - down + 1) // 2
    px1 += (fw - down) // 2
    py0 += (fh - down + 1) // 2
    py1 += (fh - down) // 2
    if not flip_weight:
        w = w.flip([2, 3])
    if kh == 1 and kw == 1:
        x = upfirdn2d(x, f, down=down, padding=(px0, px1, py0, py1))
        return _conv(x, w, bias, groups=groups)
    x = upfirdn2d(x, f, padding=(px0, px1, py0, py1))
    return _conv(x, w, bias, stride=down, groups=groups)
