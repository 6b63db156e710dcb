"""StyleGAN (v1) G and D against an independent NumPy implementation of the official TensorFlow
networks (training/networks_stylegan.py, 'linear' structure), read through the TF-name table of
docs/networks.md: our state dict is renamed and re-laid-out to the official variables, and the
reference computes with those only, in float64, with the TensorFlow ops of test_stylegan1_ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facegan.interop.export.stylegan_tf import tf_discriminator_variables, tf_generator_variables
from facegan.networks import StyleGANConfig, build_discriminator, build_generator
from test_stylegan1_ops import (
    shift_sum,
    tf_blur,
    tf_conv2d,
    tf_conv2d_transpose,
    tf_downscale2d,
    tf_instance_norm,
    tf_upscale2d,
)

SQRT2 = math.sqrt(2)
D_RTOL = 1e-7  # facegan.nn.MinibatchStd computes its statistic in float32 even for float64 input


def tiny(**overrides) -> StyleGANConfig:
    return StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=3, mapping_fmaps=16, fmap_base=64,
                          fmap_max=16, **overrides)


def randomized(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter and buffer random (the zero/one initial values would hide mistakes), float64."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if not name.endswith("lod") and "blur" not in name:
                t.copy_(torch.randn(t.shape, generator=gen) * (0.5 if t.ndim == 1 else 1.0))
    return net.double()


# ------------------------------------------------------------------------------------------------
# Our names -> the official variables (the table in docs/networks.md), as the exporter writes them:
# the reference below computes from those names alone, so it checks the exporter's table too.

tf_generator_vars = tf_generator_variables
tf_discriminator_vars = tf_discriminator_variables


# ------------------------------------------------------------------------------------------------
# The official networks in NumPy.

def lrelu(x):
    return np.maximum(x, 0.2 * x)


def scaled(w, gain, lrmul=1.0):
    """get_weight with use_wscale: the stored weight times gain / sqrt(fan_in) * lrmul."""
    return w * (gain / np.sqrt(np.prod(w.shape[:-1]))) * lrmul


def fused(cfg, size):
    return size >= 128 if cfg.fused_scale == "auto" else cfg.fused_scale


def ref_mapping(v, cfg, z, c=None):
    x = z
    if cfg.c_dim:
        x = np.concatenate([x, c @ v["G_mapping/LabelConcat/weight"]], axis=1)
    x = x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)
    for i in range(cfg.mapping_layers):
        x = lrelu(x @ scaled(v[f"G_mapping/Dense{i}/weight"], SQRT2, 0.01) + v[f"G_mapping/Dense{i}/bias"] * 0.01)
    return x


def ref_synthesis(v, cfg, dlatents, lod):
    L = cfg.resolution_log2

    def epilogue(x, scope, k):
        s = f"G_synthesis/{scope}"
        x = x + v[f"G_synthesis/noise{k}"] * v[f"{s}/Noise/weight"].reshape(1, -1, 1, 1)
        x = lrelu(x + v[f"{s}/bias"].reshape(1, -1, 1, 1))
        x = tf_instance_norm(x)
        style = dlatents[:, k] @ scaled(v[f"{s}/StyleMod/weight"], 1.0) + v[f"{s}/StyleMod/bias"]
        C = x.shape[1]
        return x * (style[:, :C, None, None] + 1) + style[:, C:, None, None]

    def torgb(r, x):
        n = L - r
        return tf_conv2d(x, scaled(v[f"G_synthesis/ToRGB_lod{n}/weight"], 1.0)) + \
            v[f"G_synthesis/ToRGB_lod{n}/bias"].reshape(1, -1, 1, 1)

    if cfg.const_input_layer:
        x = epilogue(np.tile(v["G_synthesis/4x4/Const/const"], (len(dlatents), 1, 1, 1)), "4x4/Const", 0)
    else:  # ProGAN-style input: a dense layer of w (gain sqrt(2) / 4), reshaped to 4x4
        x = dlatents[:, 0] @ scaled(v["G_synthesis/4x4/Dense/weight"], SQRT2 / 4)
        x = epilogue(x.reshape(len(x), -1, 4, 4), "4x4/Dense", 0)
    x = epilogue(tf_conv2d(x, scaled(v["G_synthesis/4x4/Conv/weight"], SQRT2)), "4x4/Conv", 1)
    images = torgb(2, x)
    for r in range(3, L + 1):
        R = 2 ** r
        w = scaled(v[f"G_synthesis/{R}x{R}/Conv0_up/weight"], SQRT2)
        if fused(cfg, x.shape[2] * 2):
            y = tf_conv2d_transpose(x, shift_sum(w.transpose(0, 1, 3, 2)))
        else:
            y = tf_conv2d(tf_upscale2d(x), w)
        x = epilogue(tf_blur(y, (1, 2, 1)), f"{R}x{R}/Conv0_up", 2 * r - 4)
        x = epilogue(tf_conv2d(x, scaled(v[f"G_synthesis/{R}x{R}/Conv1/weight"], SQRT2)), f"{R}x{R}/Conv1", 2 * r - 3)
        img = torgb(r, x)
        images = tf_upscale2d(images)
        images = img + (images - img) * np.clip(lod - (L - r), 0, 1)  # lerp_clip
    return images


def ref_generator(v, cfg, z, c=None, psi=0.7, cutoff=8, lod=0.0):
    w = ref_mapping(v, cfg, z, c)
    dl = np.repeat(w[:, None], cfg.num_layers, axis=1)
    coefs = np.where(np.arange(cfg.num_layers)[None, :, None] < cutoff, psi, 1.0)
    dl = v["dlatent_avg"] + (dl - v["dlatent_avg"]) * coefs
    return ref_synthesis(v, cfg, dl, lod)


def ref_mbstd(x, group_size=4, num_features=1):
    N, C, H, W = x.shape
    g = min(group_size, N)
    y = x.reshape(g, -1, num_features, C // num_features, H, W)
    y = y - y.mean(axis=0, keepdims=True)
    y = np.sqrt((y ** 2).mean(axis=0) + 1e-8)
    y = y.mean(axis=(2, 3, 4))[:, :, None, None]
    return np.concatenate([x, np.tile(y, (g, 1, H, W))], axis=1)


def ref_discriminator(v, cfg, images, c=None, lod=0.0):
    L = cfg.resolution_log2

    def fromrgb(r, img):
        n = L - r
        return lrelu(tf_conv2d(img, scaled(v[f"FromRGB_lod{n}/weight"], SQRT2)) +
                     v[f"FromRGB_lod{n}/bias"].reshape(1, -1, 1, 1))

    def conv(x, name, stride_down=False):
        w, b = scaled(v[f"{name}/weight"], SQRT2), v[f"{name}/bias"].reshape(1, -1, 1, 1)
        if not stride_down:
            return lrelu(tf_conv2d(x, w) + b)
        if fused(cfg, x.shape[2]):
            return lrelu(tf_conv2d(x, shift_sum(w) * 0.25, stride=2) + b)
        return lrelu(tf_downscale2d(tf_conv2d(x, w)) + b)

    img = images
    x = fromrgb(L, img)
    for r in range(L, 2, -1):
        R = 2 ** r
        x = conv(x, f"{R}x{R}/Conv0")
        x = conv(tf_blur(x, (1, 2, 1)), f"{R}x{R}/Conv1_down", stride_down=True)
        img = tf_downscale2d(img)
        x = x + (fromrgb(r - 1, img) - x) * np.clip(lod - (L - r), 0, 1)
    x = conv(ref_mbstd(x), "4x4/Conv")
    x = lrelu(x.reshape(len(x), -1) @ scaled(v["4x4/Dense0/weight"], SQRT2) + v["4x4/Dense0/bias"])
    scores = x @ scaled(v["4x4/Dense1/weight"], 1.0) + v["4x4/Dense1/bias"]
    if cfg.c_dim:
        scores = (scores * c).sum(axis=1, keepdims=True)
    return scores


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fused_scale", [False, True])
@pytest.mark.parametrize("lod", [0.0, 0.3, 1.0, 1.75])
def test_generator_equals_the_official_computation(fused_scale, lod):
    cfg = tiny(fused_scale=fused_scale)
    G = randomized(build_generator(cfg), seed=1)
    v = tf_generator_vars(G)
    z = np.random.RandomState(0).randn(3, cfg.z_dim)
    expected = ref_generator(v, cfg, z, psi=0.7, cutoff=8, lod=lod)
    zt = torch.tensor(z)
    # A Python lod (only the needed layers run) and a tensor lod (the linear chain) both match.
    for lod_arg in (lod, torch.tensor(lod, dtype=torch.float64)):
        got = G(zt, truncation_psi=0.7, noise_mode="const", lod=lod_arg)
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-9, atol=1e-9)


def test_dense_input_generator_equals_the_official_computation():
    cfg = tiny(const_input_layer=False)
    G = randomized(build_generator(cfg), seed=5)
    z = np.random.RandomState(4).randn(2, cfg.z_dim)
    expected = ref_generator(tf_generator_vars(G), cfg, z, psi=1.0)
    np.testing.assert_allclose(G(torch.tensor(z)).detach().numpy(), expected, rtol=1e-9, atol=1e-9)


def test_conditional_generator_equals_the_official_computation():
    cfg = tiny(c_dim=3)
    G = randomized(build_generator(cfg), seed=2)
    v = tf_generator_vars(G)
    z = np.random.RandomState(1).randn(2, cfg.z_dim)
    c = np.eye(3)[[2, 0]]
    expected = ref_generator(v, cfg, z, c=c, psi=0.5, cutoff=3)
    got = G(torch.tensor(z), torch.tensor(c), truncation_psi=0.5, truncation_cutoff=3)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fused_scale", [False, True])
@pytest.mark.parametrize("lod", [0.0, 0.4, 1.0, 1.5, 2.0])
def test_discriminator_equals_the_official_computation(fused_scale, lod):
    cfg = tiny(fused_scale=fused_scale)
    D = randomized(build_discriminator(cfg), seed=3)
    v = tf_discriminator_vars(D)
    images = np.random.RandomState(2).randn(8, 3, 16, 16)  # two minibatch-stddev groups of four
    expected = ref_discriminator(v, cfg, images, lod=lod)
    for lod_arg in (lod, torch.tensor(lod, dtype=torch.float64)):
        got = D(torch.tensor(images), lod=lod_arg)
        np.testing.assert_allclose(got.detach().numpy(), expected, rtol=D_RTOL)


def test_conditional_discriminator_scores_the_given_class():
    cfg = tiny(c_dim=4)
    D = randomized(build_discriminator(cfg), seed=4)
    images = np.random.RandomState(3).randn(4, 3, 16, 16)
    c = np.eye(4)[[3, 1, 1, 0]]
    expected = ref_discriminator(tf_discriminator_vars(D), cfg, images, c=c)
    got = D(torch.tensor(images), torch.tensor(c))
    assert got.shape == (4, 1)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=D_RTOL)
