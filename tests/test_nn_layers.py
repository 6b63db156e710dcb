"""The building blocks match their definitions: upfirdn2d against a direct NumPy computation,
equalised learning rate scaling, minibatch standard deviation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facegan.nn import EqualizedConv2d, EqualizedLinear, MinibatchStd
from facegan.nn.resample import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d


def upfirdn2d_numpy(x, f, up, down, pad):
    """Zero-insertion upsampling, padding, true 2-D convolution, decimation: written out in loops."""
    px0, px1, py0, py1 = pad
    n, c, h, w = x.shape
    u = np.zeros((n, c, h * up, w * up))
    u[:, :, ::up, ::up] = x
    p = np.zeros((n, c, h * up + py0 + py1, w * up + px0 + px1))
    p[:, :, py0:py0 + h * up, px0:px0 + w * up] = u
    fh, fw = f.shape
    oh, ow = p.shape[2] - fh + 1, p.shape[3] - fw + 1
    out = np.zeros((n, c, oh, ow))
    ff = f[::-1, ::-1]  # convolution, not correlation
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = (p[:, :, i:i + fh, j:j + fw] * ff).sum(axis=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2, 1, 2)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)),
                                         (2, 2, (0, 3, 1, 2))])
def test_upfirdn2d_equals_the_direct_definition(up, down, pad):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 5, 6)
    f = rng.rand(4, 4)  # deliberately asymmetric so a flipped filter would show
    expected = upfirdn2d_numpy(x, f, up, down, pad)
    got = upfirdn2d(torch.tensor(x), torch.tensor(f), up=up, down=down, padding=pad)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_separable_filter_equals_its_outer_product():
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f1 = setup_filter([1, 3, 3, 1], separable=True).double()
    f2 = setup_filter([1, 3, 3, 1]).double()
    assert math.isclose(float(f2.sum()), 1.0, rel_tol=1e-6)
    torch.testing.assert_close(upsample2d(x, f1), upsample2d(x, f2))
    torch.testing.assert_close(downsample2d(x, f1), downsample2d(x, f2))


def test_resampling_keeps_a_constant_image_constant_and_sizes_right():
    f = setup_filter([1, 3, 3, 1])
    x = torch.full((1, 1, 8, 8), 3.0)
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    blur = filter2d(x, setup_filter([1, 2, 1]))
    assert up.shape[-2:] == (16, 16) and down.shape[-2:] == (4, 4) and blur.shape[-2:] == (8, 8)
    # Away from the zero-padded border the mean is preserved.
    torch.testing.assert_close(up[..., 4:-4, 4:-4], torch.full_like(up[..., 4:-4, 4:-4], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 3.0))
    torch.testing.assert_close(blur[..., 1:-1, 1:-1], torch.full_like(blur[..., 1:-1, 1:-1], 3.0))


def test_upfirdn2d_supports_double_backward():
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    assert torch.autograd.gradgradcheck(lambda t: upsample2d(t, f).square(), (x,))


def test_equalized_linear_scales_weights_at_run_time():
    layer = EqualizedLinear(512, 4, bias_init=1.0, lr_multiplier=0.01)
    assert layer.weight.std().item() == pytest.approx(100, rel=0.1)  # stored as N(0,1) / lr_multiplier
    x = torch.randn(3, 512)
    expected = x @ (layer.weight * 0.01 / math.sqrt(512)).t() + layer.bias * 0.01
    torch.testing.assert_close(layer(x), expected)


def test_equalized_conv_uses_fan_in_of_the_whole_kernel():
    conv = EqualizedConv2d(8, 4, 3, gain=math.sqrt(2))
    assert conv.weight_gain == pytest.approx(math.sqrt(2) / math.sqrt(8 * 9))
    assert conv(torch.randn(2, 8, 5, 5)).shape == (2, 4, 5, 5)


def test_minibatch_std_appends_the_group_standard_deviation():
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStd(group_size=4)(x)
    assert y.shape == (8, 7, 4, 4)
    torch.testing.assert_close(y[:, :6], x)
    # Sample i is in group position i // 2 of subgroup i % 2: samples 0, 2, 4, 6 form one group.
    g = x[0::2]
    expected = g.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    torch.testing.assert_close(y[0, 6, 0, 0], expected)
    torch.testing.assert_close(y[6, 6], y[0, 6])


def test_minibatch_std_accepts_batches_not_divisible_by_the_group():
    assert MinibatchStd(group_size=4)(torch.randn(6, 3, 2, 2)).shape == (6, 4, 2, 2)
