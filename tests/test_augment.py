"""Adaptive discriminator augmentation: each transform does what the ADA paper says, the pipeline is
identity at p = 0, differentiable twice, and the controller moves p by the official step within [0, 1]."""

from __future__ import annotations

import math

import pytest
import torch

from facegan.errors import ConfigError
from facegan.training.augment import AUGPIPES, AdaController, AugmentPipe, AugmentSpec


def smooth_images(n=8, c=3, size=32):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = torch.stack([torch.sin(3 * xx + yy), torch.cos(2 * yy), xx * yy])[:c]
    return base[None].repeat(n, 1, 1, 1) * torch.linspace(0.5, 1, n).view(n, 1, 1, 1)


def pipe(p=1.0, **spec) -> AugmentPipe:
    a = AugmentPipe(AugmentSpec(**spec))
    a.p.fill_(p)
    return a


@pytest.mark.parametrize("name", list(AUGPIPES))
def test_every_preset_keeps_shape_and_is_identity_at_p_zero(name):
    x = smooth_images(4, 3, 64)
    a = AugmentPipe.from_preset(name)
    assert a(x) is x  # p = 0: nothing at all happens
    a.p.fill_(1.0)
    torch.manual_seed(0)
    y = a(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and not torch.allclose(y, x)


def test_xflip_gives_the_image_or_its_mirror_with_equal_odds():
    torch.manual_seed(0)
    x = smooth_images(200, 3, 16)
    y = pipe(xflip=1)(x)
    same = (y - x).flatten(1).abs().amax(1) < 1e-4
    mirrored = (y - x.flip(-1)).flatten(1).abs().amax(1) < 0.05  # the wavelet resampling is not exactly symmetric
    assert (same | mirrored).all()
    assert 0.35 < same.float().mean() < 0.65


def test_four_quarter_turns_are_the_identity():
    from facegan.training.augment_ops import rotate2d

    m = rotate2d(torch.full([3], math.pi / 2))
    torch.testing.assert_close(torch.linalg.matrix_power(m, 4), torch.eye(3).expand(3, 3, 3), atol=1e-6, rtol=0)


def test_integer_translation_moves_pixels_without_changing_them():
    torch.manual_seed(1)
    x = smooth_images(16, 1, 32)
    y = pipe(xint=1, xint_max=0.125)(x)
    # Away from the reflected border every output pixel is an input pixel shifted by whole pixels.
    for i in range(16):
        best = min(float((y[i, :, 8:24, 8:24] - x[i, :, 8 - dy:24 - dy, 8 - dx:24 - dx]).abs().max())
                   for dx in range(-4, 5) for dy in range(-4, 5))
        assert best < 1e-4


def test_geometric_transforms_keep_a_constant_image_constant():
    torch.manual_seed(2)
    x = torch.full((6, 3, 32, 32), 0.3)
    y = pipe(scale=1, rotate=1, aniso=1, xfrac=1)(x)
    torch.testing.assert_close(y, x, atol=1e-4, rtol=0)  # reflection padding: no black corners, no brightness leak


def test_brightness_shifts_the_mean_by_the_drawn_amount_and_is_unbiased():
    torch.manual_seed(3)
    x = torch.zeros(4000, 3, 4, 4)
    y = pipe(brightness=1, brightness_std=0.2)(x)
    shift = y.mean(dim=(1, 2, 3))
    assert torch.allclose(y, shift.view(-1, 1, 1, 1).expand_as(y), atol=1e-6)  # a uniform shift per image
    assert abs(float(shift.mean())) < 0.02 and abs(float(shift.std()) - 0.2) < 0.02


def test_hue_and_saturation_keep_a_grey_image_grey():
    torch.manual_seed(4)
    x = torch.full((16, 3, 4, 4), 0.4)
    y = pipe(hue=1, saturation=1)(x)
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_contrast_scales_around_zero():
    torch.manual_seed(5)
    x = smooth_images(8, 3, 8)
    y = pipe(contrast=1)(x)
    ratio = y / x
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), atol=1e-4)


def test_grayscale_images_get_the_mean_colour_transform():
    torch.manual_seed(6)
    x = smooth_images(8, 1, 16)
    y = pipe(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_gradients_flow_and_double_backward_works():
    a = pipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1)
    x = smooth_images(2, 3, 16).double().requires_grad_(True)
    a = a.double()
    torch.manual_seed(7)
    y = a(x)
    (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    assert g.abs().sum() > 0
    g.square().sum().backward()  # the R1 penalty's second derivative
    assert x.grad is not None and torch.isfinite(x.grad).all()

    from facegan.training.augment_ops import grid_sample

    grid = torch.rand(1, 4, 4, 2, dtype=torch.float64) * 2 - 1
    inp = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: grid_sample(t, grid).square(), (inp,))


def test_image_filter_refuses_too_small_images():
    with pytest.raises(ConfigError, match="filtering"):
        pipe(imgfilter=1)(torch.zeros(2, 3, 16, 16))


def test_ada_moves_p_by_the_official_step_and_stays_in_range():
    ada = AdaController(target=0.6, interval=4, kimg=500)
    step = 32 * 4 / 500_000
    assert ada.update(0.1, 0.9, 32) == pytest.approx(0.1 + step)
    assert ada.update(0.1, 0.1, 32) == pytest.approx(0.1 - step)
    assert ada.update(0.0, 0.0, 32) == 0.0
    assert ada.update(1.0, 1.0, 32) == 1.0
