"""StyleGAN (v1) building blocks equal their definitions in the official TensorFlow code, written out
here in NumPy: nearest upscale (tile), 2x2 box downscale, the blur ('SAME' depthwise correlation),
the fused up/down-sampling convolutions (TensorFlow conv2d_transpose / strided conv2d with 'SAME'
padding), instance norm, style modulation and pixel norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegan.nn.adain import adain, instance_norm, pixel_norm, style_modulate
from facegan.nn.scale2d import Blur2d, conv2d_downscale2d, downscale2d, upscale2d, upscale2d_conv2d

# ------------------------------------------------------------------------------------------------
# TensorFlow's ops, as NumPy definitions (NCHW activations, HWIO kernels as TensorFlow stores them).


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def tf_conv2d(x, w, stride=1):
    """tf.nn.conv2d(x, w [kh, kw, in, out], strides, padding='SAME'): a correlation."""
    n, c, h, wd = x.shape
    kh, kw, _, co = w.shape
    (pt, pb), (pl, pr) = tf_same_padding(h, kh, stride), tf_same_padding(wd, kw, stride)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = -(-h // stride), -(-wd // stride)
    out = np.zeros((n, co, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
            out += np.einsum("nchw,co->nohw", patch, w[i, j])
    return out


def tf_conv2d_transpose(x, w, stride=2):
    """tf.nn.conv2d_transpose(x, w [kh, kw, out, in], output [N, out, 2H, 2W], 'SAME'): the gradient
    of tf_conv2d, i.e. every input pixel scatters the kernel into the output."""
    n, c, h, wd = x.shape
    kh, kw, co, _ = w.shape
    oh, ow = h * stride, wd * stride
    (pt, _), (pl, _) = tf_same_padding(oh, kh, stride), tf_same_padding(ow, kw, stride)
    buf = np.zeros((n, co, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(kh):
        for j in range(kw):
            buf[:, :, i:i + stride * (h - 1) + 1:stride, j:j + stride * (wd - 1) + 1:stride] += \
                np.einsum("nchw,oc->nohw", x, w[i, j])
    return buf[:, :, pt:pt + oh, pl:pl + ow]


def tf_blur(x, taps):
    """The official _blur2d: normalised outer product, depthwise conv, 'SAME'."""
    f = np.outer(taps, taps).astype(np.float64)
    f /= f.sum()
    c = x.shape[1]
    w = np.zeros(f.shape + (c, c))
    for k in range(c):
        w[:, :, k, k] = f
    return tf_conv2d(x, w)


def tf_upscale2d(x):
    return x.repeat(2, axis=2).repeat(2, axis=3)


def tf_downscale2d(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def shift_sum(w_hw):
    """The official fused kernel: pad the [k, k, ...] kernel by one and add its four one-pixel shifts."""
    w = np.pad(w_hw, ((1, 1), (1, 1)) + ((0, 0),) * (w_hw.ndim - 2))
    return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


def tf_instance_norm(x, eps=1e-8):
    x = x - x.mean(axis=(2, 3), keepdims=True)
    return x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + eps)


def oihw(w_hwio):
    return torch.tensor(w_hwio.transpose(3, 2, 0, 1).copy())


# ------------------------------------------------------------------------------------------------


def test_upscale2d_repeats_every_pixel_in_both_memory_formats():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    expected = tf_upscale2d(x.numpy())
    np.testing.assert_array_equal(upscale2d(x).numpy(), expected)
    np.testing.assert_array_equal(upscale2d(x.contiguous(memory_format=torch.channels_last)).numpy(), expected)
    np.testing.assert_array_equal(upscale2d(x, 4).numpy(), tf_upscale2d(tf_upscale2d(x.numpy())))


def test_downscale2d_is_the_mean_of_each_box():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(downscale2d(x).numpy(), tf_downscale2d(x.numpy()), rtol=1e-12)
    np.testing.assert_allclose(downscale2d(x, 4).numpy(), tf_downscale2d(tf_downscale2d(x.numpy())), rtol=1e-12)
    # Undoing a nearest upscale gives the image back.
    torch.testing.assert_close(downscale2d(upscale2d(x)), x)


@pytest.mark.parametrize("taps", [(1, 2, 1), (1, 3, 2, 1), (1,)])
def test_blur_is_a_normalised_same_padded_depthwise_correlation(taps):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    got = Blur2d(taps).double()(x)
    np.testing.assert_allclose(got.numpy(), tf_blur(x.numpy(), taps), rtol=1e-6, atol=1e-7)  # float32 kernel


def test_blur_keeps_a_constant_image_away_from_the_border():
    x = torch.full((1, 2, 6, 6), 5.0)
    y = Blur2d((1, 2, 1))(x)
    torch.testing.assert_close(y[..., 1:-1, 1:-1], x[..., 1:-1, 1:-1])
    assert y[0, 0, 0, 0] == pytest.approx(5.0 * 9 / 16)  # the corner sees zero padding on two sides


def test_fused_upscale_conv_is_tensorflows_transposed_conv_with_the_shift_summed_kernel():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 5, 4)
    w = rng.randn(3, 3, 3, 4)  # HWIO, deliberately asymmetric
    w_t = shift_sum(w.transpose(0, 1, 3, 2))  # official: transpose to [k, k, out, in], pad, sum shifts
    expected = tf_conv2d_transpose(x, w_t)
    got = upscale2d_conv2d(torch.tensor(x), oihw(w), fused=True)
    assert got.shape == (2, 4, 10, 8)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_unfused_upscale_conv_is_nearest_upscale_then_conv():
    rng = np.random.RandomState(1)
    x, w = rng.randn(2, 3, 4, 4), rng.randn(3, 3, 3, 5)
    got = upscale2d_conv2d(torch.tensor(x), oihw(w), fused=False)
    np.testing.assert_allclose(got.numpy(), tf_conv2d(tf_upscale2d(x), w), rtol=1e-10, atol=1e-10)


def test_fused_and_unfused_upscale_convs_agree_up_to_a_flip_of_the_kernel():
    # A transposed convolution scatters, so the fused op equals upscale + conv with the kernel
    # mirrored in both spatial axes; with the same weights the two paths differ.
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    fused = upscale2d_conv2d(x, w, fused=True)
    torch.testing.assert_close(fused, upscale2d_conv2d(x, w.flip(2, 3), fused=False))
    assert not torch.allclose(fused, upscale2d_conv2d(x, w, fused=False))


def test_fused_downscale_conv_is_tensorflows_strided_conv_and_equals_conv_then_box():
    rng = np.random.RandomState(2)
    x, w = rng.randn(2, 3, 8, 6), rng.randn(3, 3, 3, 4)
    expected = tf_conv2d(x, shift_sum(w) * 0.25, stride=2)
    fused = conv2d_downscale2d(torch.tensor(x), oihw(w), fused=True)
    unfused = conv2d_downscale2d(torch.tensor(x), oihw(w), fused=False)
    np.testing.assert_allclose(fused.numpy(), expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(unfused.numpy(), tf_downscale2d(tf_conv2d(x, w)), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(fused, unfused)


def test_resampling_ops_follow_the_input_memory_format():
    x = torch.randn(2, 8, 8, 8).contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, 8, 3, 3)
    for y in (upscale2d(x), downscale2d(x), Blur2d()(x), upscale2d_conv2d(x, w, True),
              conv2d_downscale2d(x, w, True)):
        assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("inplace", [False, True])
def test_instance_norm_matches_the_definition_even_with_a_large_mean(inplace):
    # A mean 200 standard deviations from zero: a one-pass E[x^2] - E[x]^2 would lose ~4 digits.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 16, 16, generator=gen) * 0.5 + torch.tensor([0.0, 30.0, -100.0])[None, :, None, None]
    expected = tf_instance_norm(x.double().numpy())
    # float32 resolves values near 100 to ~1e-5, so that is the error a float32 mean leaves too.
    np.testing.assert_allclose(instance_norm(x.clone(), inplace=inplace).numpy(), expected, atol=1e-4)
    style = torch.randn(2, 6, generator=gen)
    np.testing.assert_allclose(adain(x.clone(), style, inplace=inplace).numpy(),
                               expected * (style[:, :3, None, None].numpy() + 1) + style[:, 3:, None, None].numpy(),
                               atol=3e-4)


def test_adain_is_instance_norm_then_style_with_plus_one_scale():
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    style = torch.randn(2, 8, dtype=torch.float64)
    scale, shift = style[:, :4, None, None], style[:, 4:, None, None]
    expected = tf_instance_norm(x.numpy()) * (scale.numpy() + 1) + shift.numpy()
    np.testing.assert_allclose(adain(x, style).numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(style_modulate(x, style).numpy(), x.numpy() * (scale.numpy() + 1) + shift.numpy())
    # A zero style is the identity on the normalised input.
    torch.testing.assert_close(adain(x, torch.zeros_like(style)), instance_norm(x))


def test_in_place_adain_overwrites_only_without_gradients():
    x = torch.randn(2, 4, 8, 8)
    style = torch.randn(2, 8)
    expected = adain(x, style)
    y = x.clone()
    out = adain(y, style, inplace=True)
    assert out.data_ptr() == y.data_ptr()
    torch.testing.assert_close(out, expected)
    # With autograd the input is left alone and gradients flow.
    xg = x.clone().requires_grad_(True)
    out = adain(xg, style, inplace=True)
    assert out.data_ptr() != xg.data_ptr()
    out.square().sum().backward()
    assert torch.isfinite(xg.grad).all()


def test_pixel_norm_gives_unit_mean_square():
    z = torch.randn(5, 32) * 7
    y = pixel_norm(z)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(5))
    np.testing.assert_allclose(y.numpy(), z.numpy() / np.sqrt((z.numpy() ** 2).mean(1, keepdims=True) + 1e-8),
                               rtol=1e-5)
