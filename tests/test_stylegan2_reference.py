"""StyleGAN2 against an independent computation: the generator and discriminator of a tiny
network recomputed in NumPy/SciPy straight from the paper's equations and the official code's
conventions (zero-insertion up-sampling, true convolutions, [1,3,3,1] FIR with gain 4, modulation,
demodulation with eps 1e-8, noise, bias, lrelu * sqrt 2, clamp, skip ToRGB, residual D)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d, correlate2d

from facegan.networks import StyleGAN2Config, build_discriminator, build_generator
from facegan.utils.images import to_uint8

F1 = np.array([1, 3, 3, 1], np.float64)
FIR = np.outer(F1, F1) / np.outer(F1, F1).sum()


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def dense(x, W, b, lr=1.0, act=False):
    y = x @ (W * lr / math.sqrt(W.shape[1])).T + (b * lr if b is not None else 0)
    return lrelu(y) * math.sqrt(2) if act else y


def conv_same(x, w):
    """x [I,H,W], w [O,I,k,k] -> [O,H,W], correlation with zero padding k//2 (as F.conv2d)."""
    return np.stack([sum(correlate2d(x[i], w[o, i], mode="same") for i in range(x.shape[0]))
                     for o in range(w.shape[0])])


def fir(x, pad0, pad1, gain=1.0, down=1):
    """Pad each channel, true-convolve with the 4x4 filter * gain, keep every down-th pixel."""
    p = np.pad(x, ((0, 0), (pad0, pad1), (pad0, pad1)))
    y = np.stack([convolve2d(c, FIR * gain, mode="valid") for c in p])
    return y[:, ::down, ::down]


def zero_insert(x):
    c, h, w = x.shape
    u = np.zeros((c, 2 * h - 1, 2 * w - 1))
    u[:, ::2, ::2] = x
    return u


def up_conv(x, w):
    """Transposed stride-2 conv = zero insertion + full true convolution; then FIR (pad 1, gain 4)."""
    u = zero_insert(x)
    y = np.stack([sum(convolve2d(u[i], w[o, i], mode="full") for i in range(x.shape[0]))
                  for o in range(w.shape[0])])
    return fir(y, 1, 1, gain=4)


def upsample_img(img):
    u = np.zeros((img.shape[0], img.shape[1] * 2, img.shape[2] * 2))
    u[:, ::2, ::2] = img
    return fir(u, 2, 1, gain=4)


def synthesis_layer(x, w_lat, p, up, clamp):
    W = p["weight"]
    s = dense(w_lat, p["affine.weight"], p["affine.bias"])                 # style per input channel
    wm = W * s[None, :, None, None]                                         # modulate
    wm = wm / np.sqrt((wm ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)  # demodulate
    y = up_conv(x, wm) if up else conv_same(x, wm)
    y = y + p["noise_const"][None] * p["noise_strength"]
    y = lrelu(y + p["bias"][:, None, None]) * math.sqrt(2)
    return np.clip(y, -clamp, clamp) if clamp else y


def torgb(x, w_lat, p, clamp):
    s = dense(w_lat, p["affine.weight"], p["affine.bias"]) / math.sqrt(x.shape[0])
    y = conv_same(x, p["weight"] * s[None, :, None, None]) + p["bias"][:, None, None]
    return np.clip(y, -clamp, clamp) if clamp else y


def reference_generator(sd, cfg, z, psi):
    P = {k: v.double().numpy() for k, v in sd.items()}
    x = z / np.sqrt((z ** 2).mean() + 1e-8)
    for i in range(cfg.mapping_layers):
        x = dense(x, P[f"mapping.fc{i}.weight"], P[f"mapping.fc{i}.bias"], lr=0.01, act=True)
    w = P["mapping.w_avg"] + psi * (x - P["mapping.w_avg"])
    sub = lambda prefix: {k[len(prefix):]: v for k, v in P.items() if k.startswith(prefix)}  # noqa: E731
    c = cfg.conv_clamp
    h = synthesis_layer(P["synthesis.b4.const"], w, sub("synthesis.b4.conv1."), False, c)
    img = torgb(h, w, sub("synthesis.b4.torgb."), c)
    res = 8
    while res <= cfg.resolution:
        b = f"synthesis.b{res}."
        h = synthesis_layer(h, w, sub(b + "conv0."), True, c)
        h = synthesis_layer(h, w, sub(b + "conv1."), False, c)
        img = upsample_img(img) + torgb(h, w, sub(b + "torgb."), c)
        res *= 2
    return img


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=16, channel_base=128, channel_max=16, mapping_layers=2, conv_clamp=0.9)
    G = build_generator(cfg).eval()
    with torch.no_grad():  # make every parameter matter: non-trivial noise strengths, biases, w_avg
        for name, p in G.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "affine" in name else 0.0))
        G.mapping.w_avg.copy_(torch.randn(cfg.w_dim) * 0.5)
    return cfg, G


def test_generator_matches_the_reference_computation(tiny):
    cfg, G = tiny
    z = np.random.RandomState(1).randn(1, cfg.z_dim)
    expected = reference_generator(G.state_dict(), cfg, z[0], psi=0.6)
    for fused in (False, True):
        with torch.no_grad():
            ws = G.mapping(torch.tensor(z, dtype=torch.float32), None, truncation_psi=0.6)
            got = G.synthesis(ws, noise_mode="const", fused=fused)[0].double().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # And the uint8 images agree to within one grey level.
    ref_u8 = to_uint8(torch.tensor(expected[None]))
    got_u8 = G.run(z, truncation_psi=0.6, noise_mode="const")
    assert np.abs(ref_u8.astype(int) - got_u8.astype(int)).max() <= 1


def test_clamp_is_active_in_the_reference_fixture(tiny):
    """The fixture is chosen so that conv_clamp really clamps (else the test above would not cover it)."""
    cfg, G = tiny
    acts = []
    hook = G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: acts.append(o))
    with torch.no_grad():
        G(torch.randn(2, cfg.z_dim))
    hook.remove()
    assert (acts[0].abs() == cfg.conv_clamp).float().mean() > 0.05


def reference_discriminator(sd, cfg, img):
    P = {k: v.double().numpy() for k, v in sd.items()}

    def conv_layer(x, prefix, act=True, gain=1.0, down=False, k=3):
        W = P[prefix + "weight"] / math.sqrt(P[prefix + "weight"][0].size)
        if down and k == 3:
            y = fir(x, 2, 2)
            y = np.stack([sum(correlate2d(y[i], W[o, i], mode="valid") for i in range(y.shape[0]))
                          for o in range(W.shape[0])])[:, ::2, ::2]
        elif down:  # 1x1 skip
            y = fir(x, 1, 1, down=2)
            y = np.einsum("oi,ihw->ohw", W[:, :, 0, 0], y)
        else:
            y = conv_same(x, W)
        if prefix + "bias" in P:
            y = y + P[prefix + "bias"][:, None, None]
        return lrelu(y) * math.sqrt(2) * gain if act else y * gain

    x = conv_layer(img, f"b{cfg.resolution}.fromrgb.")
    res = cfg.resolution
    while res > 4:
        b = f"b{res}."
        y = conv_layer(x, b + "skip.", act=False, gain=math.sqrt(0.5), down=True, k=1)
        x = conv_layer(x, b + "conv0.")
        x = conv_layer(x, b + "conv1.", gain=math.sqrt(0.5), down=True)
        x = x + y
        res //= 2
    return x, P


def test_discriminator_matches_the_reference_computation():
    torch.manual_seed(2)
    cfg = StyleGAN2Config(resolution=16, channel_base=128, channel_max=16, mbstd_group_size=2)
    D = build_discriminator(cfg).eval()
    with torch.no_grad():
        for name, p in D.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.2)
    imgs = np.random.RandomState(3).randn(2, 3, 16, 16)
    feats = []
    for i in range(2):
        x, P = reference_discriminator(D.state_dict(), cfg, imgs[i])
        feats.append(x)
    x = np.stack(feats)                                                    # [2, C, 4, 4]
    std = np.sqrt(((x - x.mean(0)) ** 2).mean(0) + 1e-8).mean()            # group of 2, one feature
    x = np.concatenate([x, np.full((2, 1, 4, 4), std)], axis=1)
    W = P["b4.conv.weight"] / math.sqrt(P["b4.conv.weight"][0].size)
    x = np.stack([lrelu(conv_same(xi, W) + P["b4.conv.bias"][:, None, None]) * math.sqrt(2) for xi in x])
    x = dense(x.reshape(2, -1), P["b4.fc.weight"], P["b4.fc.bias"], act=True)
    expected = dense(x, P["b4.out.weight"], P["b4.out.bias"])
    with torch.no_grad():
        got = D(torch.tensor(imgs, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
