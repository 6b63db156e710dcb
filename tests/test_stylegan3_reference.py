"""StyleGAN3 against an independent computation: tiny -T and -R generators, written as official-layout
snapshot pickles, recomputed in NumPy (float64) straight from the paper's and the official code's
definitions (Fourier features on the grid (k - (size-1)/2)/s, the inverse user transform, full-padding
modulated conv, demodulation with eps 1e-8, input gain 1/sqrt(magnitude_ema), zero-insertion
upsampling with gain up², lrelu * sqrt 2, clamp, filtering every pixel then keeping every down-th,
ToRGB with 1/sqrt(I) styles, output * 0.25), with the filters read from the snapshot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

import facegan
from facegan.generation import seeds_to_z
from facegan.interop import load_any
from facegan.networks import make_transform, set_transform
from facegan.utils.images import to_uint8
from stylegan3_fixtures import tiny_config, write_sg3_snapshot


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def dense(x, W, b, lr=1.0, act=False):
    y = x @ (W * lr / math.sqrt(W.shape[1])).T + b * lr
    return lrelu(y) * math.sqrt(2) if act else y


def mapping(sd, z, psi, num_ws):
    x = z / np.sqrt(np.mean(z ** 2) + 1e-8)
    i = 0
    while f"mapping.fc{i}.weight" in sd:
        x = dense(x, sd[f"mapping.fc{i}.weight"], sd[f"mapping.fc{i}.bias"], lr=0.01, act=True)
        i += 1
    w = sd["mapping.w_avg"] + psi * (x - sd["mapping.w_avg"])
    return np.repeat(w[None], num_ws, axis=0)


def fourier_input(sd, w, size, rate, bandwidth, user_inverse):
    p = "synthesis.input."
    t = dense(w, sd[p + "affine.weight"], sd[p + "affine.bias"])
    t = t / np.hypot(t[0], t[1])
    rot = np.array([[t[0], -t[1], 0], [t[1], t[0], 0], [0, 0, 1]])
    tra = np.array([[1, 0, -t[2]], [0, 1, -t[3]], [0, 0, 1]])
    T = rot @ tra @ user_inverse
    freqs = sd[p + "freqs"] @ T[:2, :2]
    phases = sd[p + "phases"] + sd[p + "freqs"] @ T[:2, 2]
    amp = np.clip(1 - (np.linalg.norm(freqs, axis=1) - bandwidth) / (rate / 2 - bandwidth), 0, 1)
    pos = (np.arange(size) - (size - 1) / 2) / rate
    X, Y = np.meshgrid(pos, pos)  # X varies along the width
    feats = np.sin(2 * np.pi * (X[..., None] * freqs[:, 0] + Y[..., None] * freqs[:, 1] + phases)) * amp
    C = feats.shape[-1]
    return np.einsum("hwc,dc->dhw", feats, sd[p + "weight"] / math.sqrt(C))


def conv_full(x, w):
    """Correlation with zero padding k-1 on each side (output grows by k-1)."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (k - 1, k - 1), (k - 1, k - 1)))
    H, W = x.shape[1] + k - 1, x.shape[2] + k - 1
    return sum(np.einsum("oi,ihw->ohw", w[:, :, dy, dx], xp[:, dy:dy + H, dx:dx + W])
               for dy in range(k) for dx in range(k))


def fir(x, f, gain=1.0):
    """True convolution ('valid') of every channel with a 1-D (separable) or 2-D filter."""
    f2 = np.outer(f, f) if f.ndim == 1 else f
    return np.stack([convolve2d(c, f2 * gain, mode="valid") for c in x])


def synthesis_layer(sd, name, x, w, torgb, conv_kernel, up, down, pad, clamp=256.0):
    p = f"synthesis.{name}."
    I = x.shape[0]
    s = dense(w, sd[p + "affine.weight"], sd[p + "affine.bias"])
    if torgb:
        s = s / math.sqrt(I * conv_kernel ** 2)
    wt = sd[p + "weight"] * s[None, :, None, None]
    if not torgb:
        wt = wt / np.sqrt((wt ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
    wt = wt / math.sqrt(sd[p + "magnitude_ema"])
    y = conv_full(x, wt) + sd[p + "bias"][:, None, None]
    # Upsample: zero insertion, pad (negative = crop), FIR with gain up².
    C, H, W = y.shape
    u = np.zeros((C, H * up, W * up))
    u[:, ::up, ::up] = y
    lo, hi = pad
    u = np.pad(u, ((0, 0), (max(lo, 0), max(hi, 0)), (max(lo, 0), max(hi, 0))))
    u = u[:, max(-lo, 0):u.shape[1] - max(-hi, 0), max(-lo, 0):u.shape[2] - max(-hi, 0)]
    fu = sd.get(p + "up_filter")
    if fu is not None:
        u = fir(u, fu, gain=up ** 2)
    if not torgb:
        u = lrelu(u) * math.sqrt(2)
    u = np.clip(u, -clamp, clamp)
    fd = sd.get(p + "down_filter")
    if fd is not None:
        u = fir(u, fd)
    return u[:, ::down, ::down]


def reference_generator(G, z, psi, user_inverse=None):
    sd = {k: v.double().numpy() for k, v in G.state_dict().items()}
    sched = G.config.schedule
    user_inverse = np.eye(3) if user_inverse is None else user_inverse
    ws = mapping(sd, z, psi, G.num_ws)
    x = fourier_input(sd, ws[0], sched.sizes[0], sched.sampling_rates[0], sched.cutoffs[0], user_inverse)
    for spec, w in zip(sched.layers, ws[1:]):
        layer = getattr(G.synthesis, spec.name)
        x = synthesis_layer(sd, spec.name, x, w, spec.is_torgb, layer.conv_kernel, layer.up_factor,
                            layer.down_factor, layer.padding[:2])
        assert x.shape == (spec.out_channels, spec.out_size, spec.out_size), spec.name
    return x * 0.25


def assert_images_close(ours, expected):
    assert ours.shape == expected.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1
    inside = ((expected > 0) & (expected < 255)).mean()
    assert inside > 0.5, f"the fixture saturates ({inside:.0%} of the values are inside 1..254): a weak test"
    assert expected.std() > 10, "the fixture's images are nearly flat: a weak test"


@pytest.fixture(scope="module", params=["stylegan3-t", "stylegan3-r"])
def snapshot(request, tmp_path_factory):
    cfg = tiny_config(request.param)
    path = tmp_path_factory.mktemp("sg3") / f"{request.param}.pkl"
    nets = write_sg3_snapshot(path, cfg)
    return path, cfg, nets


def test_official_layout_snapshot_draws_the_independent_computation(snapshot):
    path, cfg, nets = snapshot
    G = facegan.load(path)
    seeds = [0, 1, 5]
    ours = G.run(seeds_to_z(seeds, cfg.z_dim), truncation_psi=0.7)
    expected = to_uint8(np.stack([reference_generator(G, np.random.RandomState(s).randn(cfg.z_dim), 0.7)
                                  for s in seeds]))
    assert_images_close(ours, expected)


def test_translate_and_rotate_move_the_image_as_gen_images_does(snapshot):
    path, cfg, _ = snapshot
    G = facegan.load(path)
    z = seeds_to_z([3], cfg.z_dim)
    before = G.run(z, truncation_psi=1)
    set_transform(G, translate=(0.1, -0.2), rotate=30)
    moved = G.run(z, truncation_psi=1)
    inverse = np.linalg.inv(make_transform((0.1, -0.2), 30))
    np.testing.assert_allclose(G.synthesis.input.transform.double().numpy(), inverse, atol=1e-6)
    expected = to_uint8(reference_generator(G, np.random.RandomState(3).randn(cfg.z_dim), 1, inverse)[None])
    assert_images_close(moved, expected)
    assert np.abs(moved.astype(int) - before.astype(int)).mean() > 2  # the transform is not a no-op


def test_make_transform_is_the_official_matrix():
    m = make_transform((0.25, -0.5), 90)
    np.testing.assert_allclose(m, [[0, 1, 0.25], [-1, 0, -0.5], [0, 0, 1]], atol=1e-12)


def test_every_buffer_of_the_snapshot_is_copied(snapshot):
    path, cfg, nets = snapshot
    loaded = load_any(path)
    assert loaded.format == "stylegan3" and loaded.config == cfg
    for name in ("G", "G_ema", "D"):
        got, want = loaded.networks[name].state_dict(), nets[name].state_dict()
        assert set(got) == set(want)
        for key, value in want.items():
            assert torch.equal(got[key], value), f"{name}.{key}"
    keys = set(loaded.networks["G_ema"].state_dict())
    for key in ("synthesis.input.freqs", "synthesis.input.phases", "synthesis.input.transform", "mapping.w_avg",
                "synthesis.L0_36_8.up_filter".replace("_8", "_8" if cfg.conv_kernel == 3 else "_16"),
                f"synthesis.{cfg.schedule.names[0]}.magnitude_ema", f"synthesis.{cfg.schedule.names[0]}.down_filter"):
        assert key in keys


def test_a_radial_down_filter_is_two_dimensional_only_in_r(snapshot):
    _, cfg, nets = snapshot
    G = nets["G_ema"]
    first, critical = (getattr(G.synthesis, cfg.schedule.names[i]) for i in (0, -2))
    assert first.down_filter.ndim == (2 if cfg.use_radial_filters else 1)
    assert critical.down_filter.ndim == 1  # critically sampled layers never use radial filters
    assert G.synthesis.L4_32_3.up_filter is None and G.synthesis.L4_32_3.down_filter is None  # ToRGB
    assert first.weight.shape[-1] == (1 if cfg.use_radial_filters else 3)


def test_r_discriminator_keeps_its_own_capacity():
    cfg = tiny_config("stylegan3-r")
    assert (cfg.channel_base, cfg.d_channel_base) == (256, 128)
    D = facegan.networks.build_discriminator(cfg)
    assert D.b32.conv0.weight.shape[0] == min(cfg.d_channel_base // 32, cfg.d_channel_max)


def test_safetensors_round_trip_is_exact(snapshot, tmp_path):
    path, cfg, _ = snapshot
    facegan.interop.convert(path, tmp_path / "net.safetensors")
    a, b = load_any(path), load_any(tmp_path / "net.safetensors")
    assert b.format == "facegan" and b.config == a.config
    for name in ("G", "G_ema", "D"):
        sa, sb = a.networks[name].state_dict(), b.networks[name].state_dict()
        assert set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    z = seeds_to_z([0, 1], cfg.z_dim)
    np.testing.assert_array_equal(a.pick().run(z), b.pick().run(z))


def test_loading_never_runs_the_embedded_module_source(snapshot, tmp_path, monkeypatch):
    path, _, _ = snapshot
    monkeypatch.chdir(tmp_path)
    facegan.load(path)
    assert not (tmp_path / "PWNED_BY_SG3_SRC").exists()


def test_fp16_layers_forced_on_the_cpu_match_float64(snapshot):
    """The fp16 path (float16 convolutions, filtering in float32 as NVIDIA's kernel) against float64."""
    path, cfg, _ = snapshot
    G = facegan.load(path)
    assert all(getattr(G.synthesis, n).use_fp16 for n in G.synthesis.layer_names)  # 32x32: every layer
    ws = G.mapping(torch.from_numpy(seeds_to_z([0, 1], cfg.z_dim)), None, truncation_psi=0.7)
    with torch.no_grad():
        half = G.synthesis(ws, fp16_on_cpu=True)
        full = G.synthesis(ws)
        exact = G.double().synthesis(ws.double())
    assert half.dtype == torch.float32
    err16, err32 = (half.double() - exact).abs().max(), (full.double() - exact).abs().max()
    assert err32 < 1e-5
    assert 1e-5 < err16 < 3e-2 * exact.abs().max()  # really ran in float16, and within its precision
    assert np.abs(to_uint8(half).astype(int) - to_uint8(exact.float()).astype(int)).max() <= 2


def test_the_twelve_official_files_are_in_the_registry_and_validate_as_stylegan3(snapshot):
    from facegan.interop.registry import PRETRAINED, lookup, validate_network_file

    sg3 = [e for e in PRETRAINED if e.family == "stylegan3"]
    assert len(sg3) == 12
    assert {(e.filename, e.resolution) for e in sg3} == {
        (f"stylegan3-{c}-{d}-{r}x{r}.pkl", r) for c in "tr" for d, r in
        [("ffhq", 1024), ("ffhqu", 1024), ("ffhqu", 256), ("metfaces", 1024), ("metfacesu", 1024), ("afhqv2", 512)]}
    entry = lookup("stylegan3-r-afhqv2-512x512")
    assert entry is lookup("stylegan3-r-afhqv2") and entry.urls == (
        "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/stylegan3-r-afhqv2-512x512.pkl",)
    assert validate_network_file(snapshot[0]) == "stylegan3"  # what the download cache checks


def test_update_emas_moves_magnitude_ema_and_w_avg_as_the_official_code():
    from stylegan3_fixtures import randomized

    cfg = tiny_config("stylegan3-t", magnitude_ema_beta=0.9)
    G = randomized(cfg, 5)
    z = torch.from_numpy(seeds_to_z([0, 1, 2, 3], cfg.z_dim)).float()
    ws = G.mapping(z, None)
    first = getattr(G.synthesis, cfg.schedule.names[0])
    x0 = G.synthesis.input(ws[:, 0])
    expected = torch.lerp(x0.square().mean(), first.magnitude_ema.clone(), 0.9)
    w_avg = torch.lerp(ws[:, 0].mean(0), G.mapping.w_avg.clone(), cfg.w_avg_beta)
    with torch.no_grad():
        G(z, None, update_emas=True)
    torch.testing.assert_close(first.magnitude_ema, expected)
    torch.testing.assert_close(G.mapping.w_avg, w_avg)
    before = first.magnitude_ema.clone()
    with torch.no_grad():
        G(z, None)  # without update_emas nothing moves
    assert torch.equal(first.magnitude_ema, before)


def test_bf16_autocast_draws_nearly_the_same_image():
    from stylegan3_fixtures import randomized

    G = randomized(tiny_config("stylegan3-r"), 6)
    z = seeds_to_z([0, 1], 8)
    diff = np.abs(G.run(z, precision="bf16").astype(int) - G.run(z).astype(int))
    assert diff.mean() < 4


def test_a_snapshot_with_a_misshapen_buffer_or_an_unknown_argument_is_one_clear_error(tmp_path):
    from facegan.errors import NetworkFormatError
    from interop_fixtures import write_snapshot
    from stylegan3_fixtures import SG3_SRC, init_kwargs, randomized

    cfg = tiny_config("stylegan3-t")
    G = randomized(cfg, 0)
    G.synthesis.input.freqs = torch.zeros(3, 2)
    write_snapshot(tmp_path / "bad.pkl", {"G_ema": G}, init_kwargs(cfg), SG3_SRC)
    with pytest.raises(NetworkFormatError, match="synthesis.input.freqs"):
        facegan.load(tmp_path / "bad.pkl")
    kwargs = init_kwargs(cfg)
    kwargs["G_ema"] = {**kwargs["G_ema"], "use_spectral_norm": True}
    write_snapshot(tmp_path / "odd.pkl", {"G_ema": randomized(cfg, 0)}, kwargs, SG3_SRC)
    with pytest.raises(NetworkFormatError, match="unknown constructor argument 'use_spectral_norm'"):
        facegan.load(tmp_path / "odd.pkl")
    kwargs["G_ema"] = {**init_kwargs(cfg)["G_ema"], "channel_base": 1}
    write_snapshot(tmp_path / "empty.pkl", {"G_ema": randomized(cfg, 0)}, kwargs, SG3_SRC)
    with pytest.raises(facegan.errors.FaceganError, match="without channels"):
        facegan.load(tmp_path / "empty.pkl")
