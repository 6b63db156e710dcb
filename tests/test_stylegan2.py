"""StyleGAN2 networks: the arithmetic re-derived from the paper's equations in NumPy, the official
names, shapes, initial values and parameter counts, the three ways of using G, conditioning,
noise modes, precision and memory-format options, double backward, and the presets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import ConfigError
from facegan.generation import seeds_to_z
from facegan.networks import (
    StyleGAN2Config,
    build_discriminator,
    build_generator,
    config_from_dict,
    load_state_strict,
    resolve_preset,
    save_networks,
    stylegan2_preset,
)
from facegan.networks.stylegan2 import DiscriminatorBlock, SynthesisLayer
from facegan.nn import conv2d_resample, modulated_conv2d, setup_filter, upfirdn2d
from facegan.utils.images import to_uint8

SQRT2 = math.sqrt(2)
FIR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def tiny(**overrides) -> StyleGAN2Config:
    """A 16x16 StyleGAN2 small enough for unit tests (channels 32 at 4x4 ... 16 at 16x16)."""
    kw = dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32,
              mbstd_group_size=2)
    kw.update(overrides)
    return StyleGAN2Config(**kw)


def randomize(module: torch.nn.Module, seed: int = 0) -> None:
    """Move every stored value off its initial value (noise strengths, biases, w_avg) so that each matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point and not name.endswith("resample_filter"):
                t.add_(0.3 * torch.randn(t.shape, generator=g))


# ----------------------------------------------------------------------------------------------------
# An independent NumPy re-derivation (float64) of the StyleGAN2 forward pass from the paper's equations.

def np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * SQRT2


def np_dense(x, weight, bias, lr=1.0, act=False):
    y = x @ (weight * lr / np.sqrt(weight.shape[1])).T + bias * lr
    return np_lrelu(y) if act else y


def np_correlate(x, w, pad, stride=1):
    """Direct 2-D cross-correlation, x [N,I,H,W], w [O,I,k,k], zero padding `pad`, loops over taps."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (xp.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, oh))
    for a in range(k):
        for b in range(k):
            patch = xp[:, :, a:a + stride * oh:stride, b:b + stride * oh:stride]
            out += np.einsum("nihw,oi->nohw", patch, w[:, :, a, b])
    return out


def np_fir(x, f, pad0, pad1, gain=1.0):
    """Pad (pad0 before, pad1 after), then filter each channel with f (symmetric, so conv == correlation)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad0, pad1), (pad0, pad1)))
    k = f.shape[0]
    oh = xp.shape[2] - k + 1
    out = np.zeros(x.shape[:2] + (oh, oh))
    for a in range(k):
        for b in range(k):
            out += xp[:, :, a:a + oh, b:b + oh] * f[a, b] * gain
    return out


def np_upsample_image(img):
    """Insert zeros (x2), pad 2 before / 1 after, FIR with gain 4: the skip architecture's RGB upsampling."""
    n, c, h, w = img.shape
    u = np.zeros((n, c, 2 * h, 2 * w))
    u[:, :, ::2, ::2] = img
    return np_fir(u, FIR, 2, 1, gain=4)


def np_modconv(x, weight, styles, demodulate=True, up=False):
    """Paper eqs. 1-3 per sample; with `up`, a stride-2 transposed convolution then the [1,3,3,1] filter."""
    out = []
    for n in range(x.shape[0]):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            w = w / np.sqrt((w ** 2).sum(axis=(1, 2, 3)) + 1e-8)[:, None, None, None]
        xn = x[n:n + 1]
        if not up:
            out.append(np_correlate(xn, w, pad=w.shape[-1] // 2))
            continue
        h, k = xn.shape[2], w.shape[-1]
        t = np.zeros((1, w.shape[0], 2 * h + k - 2, 2 * h + k - 2))
        for a in range(k):  # every input pixel scatters the kernel at twice its position
            for b in range(k):
                t[:, :, a:a + 2 * h:2, b:b + 2 * h:2] += np.einsum("nihw,oi->nohw", xn, w[:, :, a, b])
        out.append(np_fir(t, FIR, 1, 1, gain=4))
    return np.concatenate(out)


def np_generator(G, z, psi, noise=True, clamp=None):
    sd = {k: v.double().numpy() for k, v in G.state_dict().items()}
    cfg = G.config
    x = z / np.sqrt((z ** 2).mean(axis=1, keepdims=True) + 1e-8)
    for i in range(cfg.mapping_layers):
        x = np_dense(x, sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"], lr=0.01, act=True)
    ws = sd["mapping.w_avg"] + psi * (x[:, None, :] - sd["mapping.w_avg"])  # truncation, all layers
    ws = np.repeat(ws, G.num_ws, axis=1) if ws.shape[1] == 1 else ws

    def layer(x, prefix, w, up):
        styles = np_dense(w, sd[prefix + ".affine.weight"], sd[prefix + ".affine.bias"])
        y = np_modconv(x, sd[prefix + ".weight"], styles, up=up)
        if noise:
            y = y + sd[prefix + ".noise_const"] * sd[prefix + ".noise_strength"]
        y = np_lrelu(y + sd[prefix + ".bias"][None, :, None, None])
        return y if clamp is None else np.clip(y, -clamp, clamp)

    def torgb(x, prefix, w):
        styles = np_dense(w, sd[prefix + ".affine.weight"], sd[prefix + ".affine.bias"]) / np.sqrt(x.shape[1])
        y = np_modconv(x, sd[prefix + ".weight"], styles, demodulate=False) + sd[prefix + ".bias"][None, :, None, None]
        return y if clamp is None else np.clip(y, -clamp, clamp)

    n = z.shape[0]
    x = np.repeat(sd["synthesis.b4.const"][None], n, axis=0)
    x = layer(x, "synthesis.b4.conv1", ws[:, 0], up=False)
    img = torgb(x, "synthesis.b4.torgb", ws[:, 1])
    i = 1
    res = 8
    while res <= cfg.resolution:
        x = layer(x, f"synthesis.b{res}.conv0", ws[:, i], up=True)
        x = layer(x, f"synthesis.b{res}.conv1", ws[:, i + 1], up=False)
        img = np_upsample_image(img) + torgb(x, f"synthesis.b{res}.torgb", ws[:, i + 2])
        i += 2
        res *= 2
    return img


def test_generator_equals_a_numpy_rederivation_of_the_paper(seeded):
    cfg = tiny(conv_clamp=1.5)  # a low clamp, so that clamping really happens
    G = build_generator(cfg).eval()
    randomize(G)
    z = np.random.RandomState(1).randn(2, cfg.z_dim)
    expected = np_generator(G, z, psi=0.6, clamp=1.5)
    for fused in (True, False):
        got = G(torch.tensor(z, dtype=torch.float32), truncation_psi=0.6, noise_mode="const", fused_modconv=fused)
        np.testing.assert_allclose(got.detach().double().numpy(), expected, rtol=1e-4, atol=1e-4)
        # The same image, to the grey level, as the uint8 conversion of the float64 computation.
        diff = to_uint8(got).astype(int) - to_uint8(expected).astype(int)
        assert np.abs(diff).max() <= 1
    without_noise = G(torch.tensor(z, dtype=torch.float32), truncation_psi=0.6, noise_mode="none")
    np.testing.assert_allclose(without_noise.detach().double().numpy(),
                               np_generator(G, z, psi=0.6, noise=False, clamp=1.5), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("up", [False, True])
def test_modulated_conv_fused_and_per_sample_equal_the_equations(up):
    rng = np.random.RandomState(0)
    x, weight, styles = rng.randn(3, 4, 5, 5), rng.randn(6, 4, 3, 3), rng.randn(3, 4)
    expected = np_modconv(x, weight, styles, up=up)
    f = setup_filter([1, 3, 3, 1]).double()
    for fused in (True, False):
        got = modulated_conv2d(torch.tensor(x), torch.tensor(weight), torch.tensor(styles), up=2 if up else 1,
                               padding=1, resample_filter=f, flip_weight=not up, fused_modconv=fused)
        np.testing.assert_allclose(got.double().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_modulated_conv_supports_double_backward():
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    for fused, up in ((True, 2), (False, 1)):
        assert torch.autograd.gradgradcheck(
            lambda x, w, s, fused=fused, up=up: modulated_conv2d(
                x, w, s, up=up, padding=1, resample_filter=f, flip_weight=up == 1, fused_modconv=fused), (x, w, s),
            fast_mode=True)


@pytest.mark.parametrize("k,up,down,groups", [(3, 2, 1, 1), (3, 2, 1, 2), (1, 2, 1, 1), (3, 1, 2, 1), (1, 1, 2, 1),
                                               (3, 1, 1, 2)])
def test_conv2d_resample_equals_filtering_then_convolving(k, up, down, groups):
    """The fast paths equal the plain definition: upsample with the FIR filter, convolve, downsample."""
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(6, 4 // groups, k, k, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    p = k // 2
    for flip in (True, False):
        wc = w if flip else w.flip([2, 3])
        if up > 1:  # padding counts on the upsampled image, the filter's own padding added
            y = upfirdn2d(x, f, up=2, padding=(p + 2, p + 1, p + 2, p + 1), gain=4)
            expected = torch.nn.functional.conv2d(y, wc, groups=groups)
        elif down > 1:  # pad for the filter, convolve, then filter and keep every other pixel
            y = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [p + 1] * 4), wc, groups=groups)
            expected = upfirdn2d(y, f, down=2)
        else:
            expected = torch.nn.functional.conv2d(x, wc, padding=p, groups=groups)
        got = conv2d_resample(x, w, f, up=up, down=down, padding=p, groups=groups, flip_weight=flip)
        torch.testing.assert_close(got, expected)


def test_discriminator_block_equals_a_numpy_rederivation():
    block = DiscriminatorBlock(4, 4, 6, resolution=8, img_channels=3, first_layer_idx=0, architecture="resnet",
                               conv_clamp=0.8)
    randomize(block)
    sd = {k: v.double().numpy() for k, v in block.state_dict().items()}
    x = np.random.RandomState(0).randn(2, 4, 8, 8)

    def conv(x, name, k, act=True, down=False, gain=1.0):
        w = sd[f"{name}.weight"] / np.sqrt(x.shape[1] * k * k)
        if down and k == 3:  # blur (pad 2) then a stride-2 correlation
            y = np_correlate(np_fir(x, FIR, 2, 2), w, pad=0, stride=2)
        elif down:  # blur-downsample (pad 1, keep every other pixel), then 1x1
            y = np_correlate(np_fir(x, FIR, 1, 1)[:, :, ::2, ::2], w, pad=0)
        else:
            y = np_correlate(x, w, pad=k // 2)
        if f"{name}.bias" in sd:
            y = y + sd[f"{name}.bias"][None, :, None, None]
        y = (np_lrelu(y) if act else y) * gain
        return np.clip(y, -0.8 * gain, 0.8 * gain) if act else y

    h = math.sqrt(0.5)
    expected = conv(x, "skip", 1, act=False, down=True, gain=h) + conv(conv(x, "conv0", 3), "conv1", 3, down=True,
                                                                      gain=h)
    got, _ = block(torch.tensor(x, dtype=torch.float32), None, dtype=torch.float32,
                   memory_format=torch.contiguous_format)
    np.testing.assert_allclose(got.detach().double().numpy(), expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------------------
# Names, shapes, initial values, parameter counts.

def official_generator_names(res: int, c_dim: int, mapping_layers: int, architecture: str = "skip") -> list[str]:
    """stylegan2-ada-pytorch's Generator state dict, in its order (written from its module structure)."""
    layer = ["weight", "noise_strength", "bias", "resample_filter", "noise_const", "affine.weight", "affine.bias"]
    rgb = ["weight", "bias", "affine.weight", "affine.bias"]
    names = ["synthesis.b4.const", "synthesis.b4.resample_filter"] + [f"synthesis.b4.conv1.{n}" for n in layer]
    if architecture == "skip" or res == 4:
        names += [f"synthesis.b4.torgb.{n}" for n in rgb]
    r = 8
    while r <= res:
        names += [f"synthesis.b{r}.resample_filter"]
        names += [f"synthesis.b{r}.conv{i}.{n}" for i in (0, 1) for n in layer]
        if architecture == "skip" or r == res:
            names += [f"synthesis.b{r}.torgb.{n}" for n in rgb]
        if architecture == "resnet":
            names += [f"synthesis.b{r}.skip.weight", f"synthesis.b{r}.skip.resample_filter"]
        r *= 2
    names += ["mapping.w_avg"]
    if c_dim:
        names += ["mapping.embed.weight", "mapping.embed.bias"]
    names += [f"mapping.fc{i}.{n}" for i in range(mapping_layers) for n in ("weight", "bias")]
    return names


def official_discriminator_names(res: int, c_dim: int, d_mapping_layers: int, architecture: str = "resnet"):
    conv = ["weight", "bias", "resample_filter"]
    names = []
    r = res
    while r > 4:
        names += [f"b{r}.resample_filter"]
        if r == res or architecture == "skip":
            names += [f"b{r}.fromrgb.{n}" for n in conv]
        names += [f"b{r}.conv0.{n}" for n in conv] + [f"b{r}.conv1.{n}" for n in conv]
        if architecture == "resnet":
            names += [f"b{r}.skip.weight", f"b{r}.skip.resample_filter"]
        r //= 2
    if c_dim:
        names += ["mapping.embed.weight", "mapping.embed.bias"]
        names += [f"mapping.fc{i}.{n}" for i in range(d_mapping_layers) for n in ("weight", "bias")]
    if architecture == "skip":
        names += [f"b4.fromrgb.{n}" for n in conv]
    names += [f"b4.conv.{n}" for n in conv] + ["b4.fc.weight", "b4.fc.bias", "b4.out.weight", "b4.out.bias"]
    return names


@pytest.mark.parametrize("g_arch,d_arch,c_dim", [("skip", "resnet", 0), ("skip", "resnet", 3), ("orig", "skip", 0),
                                                  ("resnet", "orig", 2)])
def test_state_dict_names_mirror_stylegan2_ada_pytorch(g_arch, d_arch, c_dim):
    cfg = tiny(architecture=g_arch, d_architecture=d_arch, c_dim=c_dim, d_mapping_layers=3)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert list(G.state_dict()) == official_generator_names(16, c_dim, 2, g_arch)
    assert list(D.state_dict()) == official_discriminator_names(16, c_dim, 3, d_arch)


def test_shapes_and_initial_values_are_the_official_ones():
    cfg = tiny(c_dim=3)
    G, D = build_generator(cfg), build_discriminator(cfg)
    sd = G.state_dict()
    assert sd["synthesis.b4.const"].shape == (32, 4, 4)
    assert sd["synthesis.b8.conv0.weight"].shape == (32, 32, 3, 3)      # [out, in, k, k], 256 // 8 = 32
    assert sd["synthesis.b16.conv1.weight"].shape == (16, 16, 3, 3)     # 256 // 16 = 16
    assert sd["synthesis.b16.torgb.weight"].shape == (3, 16, 1, 1)
    assert sd["synthesis.b16.conv1.noise_const"].shape == (16, 16)
    assert sd["synthesis.b16.conv1.noise_strength"].shape == ()
    assert sd["mapping.embed.weight"].shape == (16, 3)                   # embed_features = w_dim
    assert sd["mapping.fc0.weight"].shape == (16, 32)                    # z_dim + embed_features in
    torch.testing.assert_close(sd["synthesis.b8.resample_filter"], torch.tensor(FIR, dtype=torch.float32))
    # Affine biases start at 1 (styles around 1), other biases and noise strengths at 0, w_avg at 0.
    assert sd["synthesis.b8.conv0.affine.bias"].eq(1).all() and sd["synthesis.b8.torgb.affine.bias"].eq(1).all()
    assert sd["synthesis.b8.conv0.bias"].eq(0).all() and sd["synthesis.b8.conv0.noise_strength"] == 0
    assert sd["mapping.w_avg"].eq(0).all()
    # Mapping weights are stored as N(0, 1) / lr_multiplier = N(0, 100^2).
    assert 80 < sd["mapping.fc1.weight"].std() < 120 and 0.8 < sd["synthesis.b16.conv1.weight"].std() < 1.2
    assert D.state_dict()["mapping.fc7.weight"].shape == (32, 32)        # cmap_dim = channels at 4x4
    assert D.state_dict()["b4.fc.weight"].shape == (32, 32 * 16) and D.state_dict()["b4.out.weight"].shape == (32, 32)
    assert D.state_dict()["b4.conv.weight"].shape == (32, 33, 3, 3)      # + 1 minibatch-stddev channel


def config_f_parameter_count(res: int = 1024) -> tuple[int, int]:
    """G and D parameters of config F, counted layer by layer from the architecture description."""
    ch = {r: min(32768 // r, 512) for r in [2 ** i for i in range(2, int(math.log2(res)) + 1)]}
    dense = lambda i, o: i * o + o  # noqa: E731
    mapping = 8 * dense(512, 512)
    modconv = lambda i, o, k: o * i * k * k + o + dense(512, i)  # noqa: E731  kernel, bias, affine
    g = mapping + ch[4] * 16
    for r in ch:
        if r > 4:
            g += modconv(ch[r // 2], ch[r], 3) + 1                      # conv0 (+ noise strength)
        g += modconv(ch[r], ch[r], 3) + 1 + modconv(ch[r], 3, 1)       # conv1, torgb
    d = 3 * ch[res] + ch[res]                                          # fromrgb
    for r in ch:
        if r > 4:
            d += dense(ch[r] * 9, ch[r]) + dense(ch[r] * 9, ch[r // 2]) + ch[r] * ch[r // 2]  # conv0, conv1, skip
    d += dense(ch[4] * 9 + 9, ch[4]) + dense(ch[4] * 16, ch[4]) + dense(ch[4], 1)    # epilogue
    return g, d


def test_config_f_1024_has_the_published_parameter_count():
    cfg = stylegan2_preset("stylegan2-config-f", 1024)
    G, D = build_generator(cfg), build_discriminator(cfg)
    g, d = config_f_parameter_count(1024)
    assert sum(p.numel() for p in G.parameters()) == g == 30_370_060  # stylegan2-ada-pytorch's summary: 30.37M
    assert sum(p.numel() for p in D.parameters()) == d == 29_012_513
    assert G.num_ws == 18 and G.synthesis.b1024.conv1.weight.shape == (32, 32, 3, 3)


# ----------------------------------------------------------------------------------------------------
# The three ways of using G; mapping, truncation, noise, conditioning.

def test_the_three_ways_give_the_same_image():
    G = build_generator(tiny()).eval()
    randomize(G)
    z = seeds_to_z([0, 1, 2], G.z_dim)
    fast = G.run(z, truncation_psi=0.7, batch_size=2)
    module = G(torch.tensor(z, dtype=torch.float32), None, truncation_psi=0.7)
    ws = G.mapping(torch.tensor(z, dtype=torch.float32), None, truncation_psi=0.7)
    components = G.synthesis(ws, noise_mode="const")
    assert fast.dtype == np.uint8 and fast.shape == (3, 16, 16, 3)
    assert ws.shape == (3, G.num_ws, G.w_dim) == (3, 6, 16)
    np.testing.assert_array_equal(fast, to_uint8(module))
    torch.testing.assert_close(module, components)


def test_truncation_and_the_tracked_mean_of_w():
    G = build_generator(tiny())
    randomize(G)
    z = torch.randn(5, G.z_dim)
    w_avg0 = G.mapping.w_avg.clone()
    ws = G.mapping(z, update_emas=True)
    # w_avg moves towards the batch mean by 1 - beta; without update_emas it stays.
    torch.testing.assert_close(G.mapping.w_avg, ws[:, 0].mean(0).lerp(w_avg0, 0.995))
    before = G.mapping.w_avg.clone()
    G.mapping(z)
    torch.testing.assert_close(G.mapping.w_avg, before)
    # psi = 0 gives w_avg on every layer (cutoff None = all layers, as in StyleGAN2); a cutoff keeps the rest.
    assert torch.allclose(G.mapping(z, truncation_psi=0.0), G.mapping.w_avg.expand(5, G.num_ws, -1))
    cut = G.mapping(z, truncation_psi=0.0, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, 2:], ws[:, 2:])
    assert torch.allclose(cut[:, :2], G.mapping.w_avg.expand(5, 2, -1))


def test_noise_modes():
    G = build_generator(tiny()).eval()
    randomize(G)
    ws = G.mapping(torch.randn(2, G.z_dim))
    const = [G.synthesis(ws, noise_mode="const") for _ in range(2)]
    rand = [G.synthesis(ws, noise_mode="random") for _ in range(2)]
    none = G.synthesis(ws, noise_mode="none")
    torch.testing.assert_close(const[0], const[1])
    assert not torch.allclose(rand[0], rand[1]) and not torch.allclose(const[0], none)
    for m in G.modules():  # with zero strengths, random noise adds nothing
        if isinstance(m, SynthesisLayer):
            m.noise_strength.data.zero_()
    torch.testing.assert_close(G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="none"))
    with pytest.raises(ConfigError, match="noise_mode"):
        G.synthesis(ws, noise_mode="fixed")
    no_noise = build_generator(tiny(use_noise=False))
    assert not any("noise" in k for k in no_noise.state_dict())


def test_conditional_networks_use_the_label():
    cfg = tiny(c_dim=4)
    G, D = build_generator(cfg).eval(), build_discriminator(cfg)
    randomize(G)
    z = seeds_to_z([7, 7], G.z_dim)
    img = G.run(z, labels=[0, 3], truncation_psi=1.0)
    assert not np.array_equal(img[0], img[1])                      # same z, different class
    alone = G.run(z[:1], labels=3, truncation_psi=1.0)[0]        # the batch changes only the rounding
    assert np.abs(alone.astype(int) - img[1]).max() <= 1
    x = torch.randn(2, 3, 16, 16)
    c = torch.eye(4)[[0, 3]]
    assert D(x, c).shape == (2, 1)
    assert not torch.allclose(D(x, c), D(x, torch.eye(4)[[1, 2]]))
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(1, G.z_dim))
    with pytest.raises(ValueError, match="conditional"):
        D(x)
    with pytest.raises(ConfigError, match="class label out of range"):
        G.run(z, labels=4)


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "orig"), ("resnet", "skip"), ("skip", "resnet")])
def test_every_architecture_generates_and_discriminates(g_arch, d_arch):
    cfg = tiny(architecture=g_arch, d_architecture=d_arch, img_channels=1, resolution=32)
    G, D = build_generator(cfg), build_discriminator(cfg)
    img = G(torch.randn(2, cfg.z_dim))
    assert img.shape == (2, 1, 32, 32) and G.num_ws == cfg.num_ws == 8
    assert D(img).shape == (2, 1) and torch.isfinite(D(img)).all()


def test_bad_inputs_are_named():
    G, D = build_generator(tiny()), build_discriminator(tiny())
    with pytest.raises(ValueError, match=r"z must have shape \[N, 16\]"):
        G(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 6, 16\]"):
        G.synthesis(torch.randn(2, 5, 16))
    with pytest.raises(ValueError, match="D expects images"):
        D(torch.randn(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="precision"):
        G.synthesis(torch.randn(1, 6, 16), precision="fp8")
    with pytest.raises(ConfigError, match="architecture"):
        tiny(architecture="progressive")
    with pytest.raises(ConfigError, match="power of two"):
        tiny(resolution=24)


# ----------------------------------------------------------------------------------------------------
# Precision, memory format, compilation, training needs.

def test_execution_options_keep_the_image():
    G = build_generator(tiny(conv_clamp=256, num_fp16_res=2)).eval()
    randomize(G)
    ws = G.mapping(torch.randn(3, G.z_dim), truncation_psi=0.7)
    with torch.inference_mode():
        ref = G.synthesis(ws, fused_modconv=True)
        for kwargs in [dict(fused_modconv=False), dict(channels_last=True), dict(channels_last=True,
                                                                                fused_modconv=False)]:
            torch.testing.assert_close(G.synthesis(ws, **kwargs), ref, rtol=1e-4, atol=1e-4)
        # On CPU "auto" precision is fp32 even where the config asks for fp16 (which the CPU cannot run well).
        torch.testing.assert_close(G.synthesis(ws, precision="auto"), G.synthesis(ws, precision="fp32"))
        bf16 = G.synthesis(ws, precision="bf16")
    assert bf16.dtype == torch.float32
    err = (bf16 - ref).abs()
    assert err.mean() < 0.02 and err.max() < 0.2   # bf16 keeps 8 mantissa bits: close, not equal


def test_double_backward_for_r1_and_path_length():
    cfg = tiny()
    G, D = build_generator(cfg), build_discriminator(cfg)
    # R1: gradient of D's output w.r.t. real images, itself differentiated w.r.t. D's weights.
    real = torch.randn(4, 3, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    grad.square().sum().backward()
    assert D.b16.conv0.weight.grad is not None and D.b16.conv0.weight.grad.abs().sum() > 0
    # Path length: gradient of (img * noise) w.r.t. ws, differentiated w.r.t. G's weights (training = per-sample).
    G.train()
    ws = G.mapping(torch.randn(2, cfg.z_dim))
    img = G.synthesis(ws, noise_mode="random")
    (gw,) = torch.autograd.grad((img * torch.randn_like(img)).sum(), ws, create_graph=True)
    gw.square().sum().backward()
    assert G.synthesis.b8.conv0.weight.grad.abs().sum() > 0 and G.mapping.fc0.weight.grad.abs().sum() > 0


def test_freeze_d_keeps_names_and_turns_the_first_layers_into_buffers():
    cfg = tiny(freeze_layers=2)
    D = build_discriminator(cfg)
    params = dict(D.named_parameters())
    assert "b16.fromrgb.weight" not in params and "b16.conv0.weight" not in params
    assert "b16.conv1.weight" in params
    assert list(D.state_dict()) == list(build_discriminator(tiny()).state_dict())


def test_synthesis_compiles_without_graph_breaks():
    G = build_generator(tiny(resolution=8)).eval()
    ws = G.mapping(torch.randn(2, G.z_dim))
    compiled = torch.compile(G.synthesis, backend="eager", fullgraph=True)
    with torch.inference_mode():
        torch.testing.assert_close(compiled(ws), G.synthesis(ws))


# ----------------------------------------------------------------------------------------------------
# Files and presets.

def test_saved_network_loads_strictly_and_gives_the_same_images(tmp_path):
    cfg = tiny(c_dim=2, conv_clamp=256)
    G, D = build_generator(cfg), build_discriminator(cfg)
    randomize(G)
    path = tmp_path / "sg2.safetensors"
    save_networks(path, {"G": G, "D": D, "G_ema": G}, cfg)
    G2 = facegan.load(path)
    z = seeds_to_z([1, 2], cfg.z_dim)
    np.testing.assert_array_equal(G2.run(z, labels=1), G.run(z, labels=1))
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # A state dict from another configuration is refused with the offending tensor's name.
    other = build_generator(tiny(c_dim=2, mapping_layers=3))
    with pytest.raises(facegan.errors.NetworkFormatError, match="mapping.fc2"):
        load_state_strict(G, other.state_dict())


def test_presets_carry_the_official_values():
    f = stylegan2_preset("stylegan2-config-f", 1024)
    assert (f.channel_base, f.channel_max, f.mapping_layers, f.mbstd_group_size) == (32768, 512, 8, 4)
    assert (f.num_fp16_res, f.conv_clamp, f.architecture, f.d_architecture) == (4, 256, "skip", "resnet")
    assert stylegan2_preset("stylegan2", 1024) == f
    p256 = stylegan2_preset("paper256", 256)
    assert (p256.channel_base, p256.mbstd_group_size, p256.mapping_layers) == (16384, 8, 8)
    cifar = stylegan2_preset("cifar", 32, c_dim=10)
    assert (cifar.mapping_layers, cifar.mbstd_group_size, cifar.d_architecture, cifar.c_dim) == (2, 32, "orig", 10)
    t = resolve_preset("paper1024", 1024)
    assert (t.batch, t.batch_gpu, t.lrate, t.gamma, t.ema_kimg, t.ema_rampup) == (32, 4, 0.002, 2, 10, None)
    assert resolve_preset("cifar", 32).pl_weight == 0 and resolve_preset("paper512", 512).style_mixing_prob == 0.9
    fp32 = stylegan2_preset("paper512", 512, num_fp16_res=0, conv_clamp=None)  # the official --fp32
    assert fp32.num_fp16_res == 0 and fp32.conv_clamp is None
    with pytest.raises(ConfigError, match="unknown StyleGAN2 preset"):
        stylegan2_preset("config-e", 256)
    with pytest.raises(ConfigError, match="unknown stylegan2 network option"):
        stylegan2_preset("auto", 256, channel_bse=1)


@pytest.mark.parametrize("res,gpus,batch,mbstd,base,lr,gamma,ema", [
    (256, 1, 16, 4, 16384, 0.0025, 0.8192, 5.0),
    (1024, 8, 32, 4, 32768, 0.002, 6.5536, 10.0),
    (32, 2, 64, 4, 16384, 0.0025, 0.0032, 20.0),
    (512, 4, 32, 4, 32768, 0.0025, 1.6384, 10.0),
])
def test_auto_preset_follows_the_official_formulas(res, gpus, batch, mbstd, base, lr, gamma, ema):
    p = resolve_preset("auto", res, gpus)
    assert (p.batch, p.mbstd_group_size, p.channel_base, p.lrate, p.ema_kimg) == (batch, mbstd, base, lr, ema)
    assert p.gamma == pytest.approx(gamma) and p.ref_gpus == gpus and p.mapping_layers == 2
    cfg = stylegan2_preset("auto", res, gpus=gpus)
    assert (cfg.channel_base, cfg.mbstd_group_size, cfg.mapping_layers) == (base, mbstd, 2)
    with pytest.raises(ConfigError, match="power of two"):
        resolve_preset("auto", res, gpus=3)


# ----------------------------------------------------------------------------------------------------
# CUDA (skipped without a GPU).

@pytest.mark.gpu
def test_cuda_mixed_precision_bf16_autocast_channels_last_and_inductor():
    G = build_generator(tiny(resolution=32, conv_clamp=256, num_fp16_res=2, fp16_channels_last=True)).cuda().eval()
    randomize(G)
    ws = G.mapping(torch.randn(4, G.z_dim, device="cuda"), truncation_psi=0.7)
    with torch.inference_mode():
        ref = G.synthesis(ws, precision="fp32")
        mixed = G.synthesis(ws)                         # fp16 in the two highest resolutions
        assert G.synthesis.b32.use_fp16 and not G.synthesis.b8.use_fp16
        with torch.autocast("cuda", dtype=torch.bfloat16):
            autocast = G.synthesis(ws, precision="fp32")
        bf16 = G.synthesis(ws, precision="bf16", channels_last=True)
        compiled = torch.compile(G.synthesis)(ws)
    for out, tol in [(mixed, 0.05), (autocast, 0.2), (bf16, 0.2), (compiled, 1e-3)]:
        assert out.dtype == torch.float32 and (out - ref).abs().mean() < tol
    D = build_discriminator(tiny(resolution=32, conv_clamp=256, num_fp16_res=2)).cuda()
    img = torch.randn(4, 3, 32, 32, device="cuda", requires_grad=True)
    (g,) = torch.autograd.grad(D(img).sum(), img, create_graph=True)
    g.square().sum().backward()
    assert torch.isfinite(D.b32.conv0.weight.grad).all()
