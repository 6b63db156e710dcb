"""StyleGAN (v1): config F's layout and parameter counts, the official module names, truncation,
noise modes, w_avg tracking, progressive-growing fades, presets, files, memory formats, mixed
precision, torch.compile and gradients. (Numerical agreement with the official computation is in
test_stylegan1_reference.py, the building blocks in test_stylegan1_ops.py.)"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from facegan.errors import ConfigError, NetworkInputError
from facegan.networks import (
    STYLEGAN_PRESETS,
    StyleGANConfig,
    architectures,
    build_discriminator,
    build_generator,
    config_from_dict,
    load_networks,
    save_networks,
    stylegan_preset,
)
from facegan.networks.stylegan import current_resolution
from facegan.nn.scale2d import downscale2d, upscale2d


def tiny(**overrides) -> StyleGANConfig:
    base = dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=3, mapping_fmaps=16, fmap_base=64, fmap_max=16)
    return StyleGANConfig(**{**base, **overrides})


def with_random_parameters(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Make the zero-initialised parameters (biases, noise strengths, w_avg) matter."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(net.parameters()) + [getattr(net, "w_avg", torch.zeros(0))]:
            if t.ndim == 1:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.3)
    return net


@pytest.fixture(scope="module")
def config_f():
    cfg = stylegan_preset("stylegan-ffhq")
    return cfg, build_generator(cfg), build_discriminator(cfg)


# ------------------------------------------------------------------------------------------------
# Config F: layout, counts, names.

def test_config_f_has_the_official_parameter_counts(config_f):
    cfg, G, D = config_f
    assert sum(p.numel() for p in G.parameters()) == 26_219_627  # the README's Gs total
    assert sum(p.numel() for p in G.mapping.parameters()) == 2_101_248
    assert sum(p.numel() for p in D.parameters()) == 23_087_249
    assert (G.num_ws, G.z_dim, G.w_dim, G.img_resolution) == (18, 512, 512, 1024)


def test_config_f_uses_the_official_names_and_shapes(config_f):
    _, G, D = config_f
    g = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    expected_g = {
        "mapping.fc0.weight": (512, 512), "mapping.fc7.bias": (512,), "mapping.w_avg": (512,),
        "synthesis.lod": (),
        "synthesis.b4.const": (512, 4, 4),
        "synthesis.b4.conv0.noise_strength": (512,), "synthesis.b4.conv0.bias": (512,),
        "synthesis.b4.conv0.affine.weight": (1024, 512), "synthesis.b4.conv0.affine.bias": (1024,),
        "synthesis.b4.conv0.noise_const": (4, 4),
        "synthesis.b4.conv1.weight": (512, 512, 3, 3), "synthesis.b4.torgb.weight": (3, 512, 1, 1),
        "synthesis.b64.conv0.weight": (256, 512, 3, 3), "synthesis.b64.conv0.affine.weight": (512, 512),
        "synthesis.b1024.conv0.weight": (16, 32, 3, 3), "synthesis.b1024.conv1.weight": (16, 16, 3, 3),
        "synthesis.b1024.conv1.noise_const": (1024, 1024), "synthesis.b1024.torgb.weight": (3, 16, 1, 1),
        "synthesis.b1024.torgb.bias": (3,),
    }
    for key, shape in expected_g.items():
        assert g[key] == shape, key
    assert "synthesis.b4.conv0.weight" not in g  # the constant's layer has no conv
    assert sum(k.endswith("noise_const") for k in g) == 18
    d = {k: tuple(v.shape) for k, v in D.state_dict().items()}
    expected_d = {
        "lod": (), "b1024.fromrgb.weight": (16, 3, 1, 1), "b1024.conv0.weight": (16, 16, 3, 3),
        "b1024.conv1.weight": (32, 16, 3, 3), "b8.conv1.weight": (512, 512, 3, 3), "b4.fromrgb.weight": (512, 3, 1, 1),
        "b4.conv.weight": (512, 513, 3, 3), "b4.fc.weight": (512, 8192), "b4.out.weight": (1, 512),
    }
    for key, shape in expected_d.items():
        assert d[key] == shape, key


def test_fused_resampling_runs_from_128_up_as_the_official_auto(config_f):
    _, G, D = config_f
    fused_g = [r for r in G.synthesis.resolutions[1:] if getattr(G.synthesis, f"b{r}").conv0.fused]
    assert fused_g == [128, 256, 512, 1024]
    assert [r for r in D.resolutions[1:] if getattr(D, f"b{r}").fused] == [128, 256, 512, 1024]


def test_the_architecture_is_registered_and_presets_are_config_f():
    assert "stylegan" in architectures()
    assert set(STYLEGAN_PRESETS) == {"stylegan-ffhq", "stylegan-celebahq", "stylegan-bedrooms", "stylegan-cats",
                                     "stylegan-cars"}
    assert stylegan_preset("stylegan-ffhq") == StyleGANConfig()
    assert stylegan_preset("stylegan-celebahq") == StyleGANConfig()
    assert stylegan_preset("stylegan-cats").resolution == 256
    assert stylegan_preset("stylegan-cars").resolution == 512
    assert STYLEGAN_PRESETS["stylegan-cars"].content_box == (0, 64, 512, 384)
    small = stylegan_preset("stylegan-ffhq", 256, fmap_max=256)
    assert (small.resolution, small.fmap_max, small.num_ws) == (256, 256, 14)
    with pytest.raises(ConfigError, match="unknown StyleGAN preset"):
        stylegan_preset("stylegan-horses")


def test_config_round_trips_through_json_and_rejects_bad_values():
    cfg = tiny(blur_filter=(1, 3, 3, 1), fused_scale=True, truncation_cutoff=None, c_dim=2)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for bad in (dict(fused_scale="yes"), dict(nonlinearity="tanh"), dict(mapping_layers=-1),
                dict(mapping_layers=0, z_dim=8), dict(blur_filter=(1, -1)), dict(truncation_cutoff=-2),
                dict(w_avg_beta=1.5), dict(resolution=24), dict(mbstd_num_features=3)):
        with pytest.raises(ConfigError):
            tiny(**bad)


def test_current_resolution_is_the_one_being_faded_in_or_trained():
    assert [current_resolution(1024, lod) for lod in (0, 0.5, 1, 1.99, 7, 8, 9)] == [1024, 1024, 512, 512, 8, 4, 4]


# ------------------------------------------------------------------------------------------------
# The generator API.

def test_truncation_defaults_to_the_first_eight_layers_and_an_explicit_cutoff_overrides():
    G = with_random_parameters(build_generator(tiny(resolution=64)))  # 10 layers
    z = torch.randn(3, G.z_dim)
    w = G.mapping(z)
    w_avg = G.mapping.w_avg
    ws = G.mapping(z, truncation_psi=0.5)
    torch.testing.assert_close(ws[:, :8], w_avg + 0.5 * (w[:, :8] - w_avg))
    torch.testing.assert_close(ws[:, 8:], w[:, 8:])
    all_layers = G.mapping(z, truncation_psi=0.5, truncation_cutoff=G.num_ws)
    torch.testing.assert_close(all_layers, w_avg + 0.5 * (w - w_avg))
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.5, truncation_cutoff=0), w)
    # G.run's defaults are the network's: psi 0.7 on the first 8 layers.
    latents = z.numpy()
    np.testing.assert_array_equal(G.run(latents), G.run(latents, truncation_psi=0.7, truncation_cutoff=8))
    assert not np.array_equal(G.run(latents), G.run(latents, truncation_psi=0.7, truncation_cutoff=10))


def test_each_ws_entry_drives_its_own_layer():
    G = with_random_parameters(build_generator(tiny()))
    ws = G.mapping(torch.randn(2, G.z_dim))
    low = G.synthesis(ws, max_resolution=8)
    mixed = ws.clone()
    mixed[:, 4:] = G.mapping(torch.randn(2, G.z_dim))[:, 4:]  # the 16x16 layers only
    torch.testing.assert_close(G.synthesis(mixed, max_resolution=8), low)
    assert not torch.allclose(G.synthesis(mixed), G.synthesis(ws))


def test_bad_resolutions_and_labels_are_named():
    """(The inputs every architecture checks are in test_network_contract.py.)"""
    cfg = tiny(c_dim=2)
    G, D = build_generator(cfg), build_discriminator(cfg)
    with pytest.raises(NetworkInputError, match="max_resolution"):
        G.synthesis(torch.randn(2, G.num_ws, 16), max_resolution=12)
    with pytest.raises(NetworkInputError, match="power of two from 4 to 16"):
        D(torch.randn(2, 3, 32, 32), torch.zeros(2, 2))
    with pytest.raises(NetworkInputError, match="conditional"):
        D(torch.randn(2, 3, 16, 16))


# ------------------------------------------------------------------------------------------------
# Progressive growing.

def test_generator_fade_blends_two_torgb_outputs():
    G = with_random_parameters(build_generator(tiny()))
    ws = G.mapping(torch.randn(2, G.z_dim))
    s = G.synthesis
    x4 = s.b4(None, ws)
    x8 = s.b8(x4, ws)
    x16 = s.b16(x8, ws)
    rgb4, rgb8, rgb16 = s.b4.torgb(x4), s.b8.torgb(x8), s.b16.torgb(x16)
    torch.testing.assert_close(s(ws, lod=0), rgb16)
    torch.testing.assert_close(s(ws, lod=0.25), 0.75 * rgb16 + 0.25 * upscale2d(rgb8))
    torch.testing.assert_close(s(ws, lod=1), upscale2d(rgb8))
    torch.testing.assert_close(s(ws, lod=1.6), upscale2d(0.4 * rgb8 + 0.6 * upscale2d(rgb4)))
    torch.testing.assert_close(s(ws, lod=2), upscale2d(rgb4, 4))
    torch.testing.assert_close(s(ws, lod=5), upscale2d(rgb4, 4))  # beyond 4x4: clamped
    # The same through the buffer, as a tensor, and at the current resolution.
    s.lod.fill_(1.6)
    torch.testing.assert_close(s(ws), s(ws, lod=1.6))
    torch.testing.assert_close(s(ws, lod=s.lod), s(ws, lod=1.6))
    small = s(ws, max_resolution=8)
    assert small.shape[-1] == 8
    torch.testing.assert_close(small, 0.4 * rgb8 + 0.6 * upscale2d(rgb4))
    torch.testing.assert_close(downscale2d(s(ws)), small)
    # Capping the resolution raises the effective lod to at least log2(R / max_resolution).
    torch.testing.assert_close(s(ws, lod=0, max_resolution=8), rgb8)
    torch.testing.assert_close(s(ws, lod=torch.tensor(0.0), max_resolution=8), rgb8)


@pytest.mark.parametrize("lod", [1.0, 1.3, 2.0])
def test_discriminator_at_the_current_resolution_equals_the_full_size_path(lod):
    cfg = tiny()
    D = with_random_parameters(build_discriminator(cfg))
    img8 = torch.randn(4, 3, 8, 8)
    full = D(upscale2d(img8), lod=lod)  # what the official full-size D sees from the full-size G
    torch.testing.assert_close(D(img8, lod=lod), full)
    torch.testing.assert_close(D(img8, lod=torch.tensor(lod)), full)
    D.lod.fill_(lod)
    torch.testing.assert_close(D(img8), full)


def test_discriminator_fade_blends_two_fromrgb_paths():
    D = with_random_parameters(build_discriminator(tiny()))
    img = torch.randn(4, 3, 16, 16)
    high = D.b8(D.b16(D.b16.from_rgb(img)))
    low = D.b8(D.b8.from_rgb(downscale2d(img)))
    mid = D.b16(D.b16.from_rgb(img))
    blended = D.b8(mid + (D.b8.from_rgb(downscale2d(img)) - mid) * 0.25)
    torch.testing.assert_close(D(img, lod=0), D.b4(high))
    torch.testing.assert_close(D(img, lod=0.25), D.b4(blended))
    torch.testing.assert_close(D(img, lod=1), D.b4(low))


# ------------------------------------------------------------------------------------------------
# Variants, files, memory formats, precision, compile, gradients.

@pytest.mark.parametrize("overrides", [
    dict(use_styles=False),
    dict(const_input_layer=False),
    dict(use_noise=False),
    dict(use_pixel_norm=True, use_instance_norm=False),
    dict(use_instance_norm=False),
    dict(nonlinearity="relu", mapping_nonlinearity="relu"),
    dict(blur_filter=()),
    dict(mapping_layers=0),
    dict(mbstd_group_size=0),
    dict(img_channels=1),
])
def test_the_official_switches_build_and_run(overrides):
    cfg = tiny(**overrides)
    G, D = build_generator(cfg), build_discriminator(cfg)
    img = G(torch.randn(4, cfg.z_dim), truncation_psi=0.7, noise_mode="random")
    assert img.shape == (4, cfg.img_channels, 16, 16) and torch.isfinite(img).all()
    assert D(img).shape == (4, 1)
    if overrides.get("use_styles") is False:
        assert G.num_ws == 1
    if overrides.get("const_input_layer") is False:
        assert G.synthesis.b4.dense.weight.shape == (16 * 16, 16)
    if overrides.get("use_noise") is False:
        assert not any("noise" in k for k in G.state_dict())


def test_the_lod_buffers_travel_in_the_network_file(tmp_path):
    cfg = tiny()
    G, D = build_generator(cfg), build_discriminator(cfg)
    G.synthesis.lod.fill_(0.5)
    D.lod.fill_(1.5)
    save_networks(tmp_path / "sg1.safetensors", {"G_ema": G, "D": D}, cfg)
    nets, _, _ = load_networks(tmp_path / "sg1.safetensors")
    assert float(nets["G_ema"].synthesis.lod) == 0.5 and float(nets["D"].lod) == 1.5


def test_channels_last_gives_the_same_images_and_scores():
    cfg = tiny()
    G, D = with_random_parameters(build_generator(cfg)), with_random_parameters(build_discriminator(cfg))
    z = torch.randn(2, cfg.z_dim)
    expected, scores = G(z), D(G(z))
    G_cl = G.to(memory_format=torch.channels_last)
    img = G_cl(z)
    assert img.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(img, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(D(img.contiguous(memory_format=torch.channels_last)), scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(D(img.contiguous()), scores, rtol=1e-4, atol=1e-5)


def test_gradients_flow_through_the_in_place_epilogue():
    cfg = tiny(resolution=8, fused_scale=True)
    G = with_random_parameters(build_generator(cfg)).double()
    ws = G.mapping(torch.randn(2, cfg.z_dim, dtype=torch.float64)).detach().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda w: G.synthesis(w, noise_mode="const"), (ws,))


def test_discriminator_supports_the_r1_double_backward():
    # gradgradcheck needs float64 throughout; the minibatch stddev layer computes in float32, so it
    # is checked separately below.
    cfg = tiny(resolution=8, fused_scale=True, mbstd_group_size=0, fmap_base=16, fmap_max=8)
    D = with_random_parameters(build_discriminator(cfg)).double()
    img = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: D(x, lod=0.5), (img,))
    D = build_discriminator(tiny())
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    scores = D(img, lod=0.5)
    (grad,) = torch.autograd.grad(scores.sum(), img, create_graph=True)
    grad.square().sum().backward()
    # The R1 penalty reaches every weight in use: all but the last bias and (at lod 0.5) FromRGB at 4x4.
    assert [n for n, p in D.named_parameters() if p.grad is None] == ["b4.fromrgb.weight", "b4.fromrgb.bias",
                                                                      "b4.out.bias"]
    assert all(torch.isfinite(p.grad).all() for p in D.parameters() if p.grad is not None)


def test_torch_compile_captures_one_graph_and_follows_the_lod_buffer():
    import torch._dynamo

    cfg = tiny()
    G, D = with_random_parameters(build_generator(cfg)), with_random_parameters(build_discriminator(cfg))
    ws = G.mapping(torch.randn(4, cfg.z_dim))
    torch._dynamo.reset()
    synthesis = torch.compile(G.synthesis, backend="aot_eager", fullgraph=True)
    disc = torch.compile(D, backend="aot_eager", fullgraph=True)
    from torch._dynamo.utils import counters

    graphs = counters["stats"]["unique_graphs"]  # a process-wide count: other tests compile too
    with torch.no_grad():
        for lod in (0.0, 0.5, 1.25):  # a fade-in moves the buffers: no recompilation
            G.synthesis.lod.fill_(lod)
            D.lod.fill_(lod)
            img = synthesis(ws, noise_mode="const")
            torch.testing.assert_close(img, G.synthesis(ws, lod=lod))
            torch.testing.assert_close(disc(img), D(img, lod=lod))
        assert counters["stats"]["unique_graphs"] == graphs + 2
        assert synthesis(ws, max_resolution=8).shape[-1] == 8


# ------------------------------------------------------------------------------------------------
# CUDA (skipped without a GPU).

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_and_channels_last_on_cuda(dtype):
    cfg = tiny(resolution=128, fmap_base=256, fmap_max=64)  # includes fused up/down-sampling at 128
    G = with_random_parameters(build_generator(cfg)).cuda()
    D = with_random_parameters(build_discriminator(cfg)).cuda()
    z = torch.randn(8, cfg.z_dim, device="cuda")
    reference = G(z, truncation_psi=0.7)
    G_cl = G.to(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=dtype):
        img = G_cl(z, truncation_psi=0.7)
        scores = D(img.contiguous(memory_format=torch.channels_last), lod=0.5)
    assert img.dtype == dtype and img.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(img).all() and torch.isfinite(scores).all()
    # Half precision follows the float32 image closely (instance norm runs in float32).
    assert (img.float() - reference).abs().mean() < 0.05 * reference.abs().mean()


@pytest.mark.gpu
def test_torch_compile_on_cuda_matches_eager():
    cfg = tiny(resolution=32)
    G = with_random_parameters(build_generator(cfg)).cuda()
    z = torch.randn(4, cfg.z_dim, device="cuda")
    compiled = torch.compile(G)
    with torch.no_grad():
        torch.testing.assert_close(compiled(z, truncation_psi=0.7), G(z, truncation_psi=0.7), rtol=1e-3, atol=1e-3)


def test_config_f_feature_maps_follow_the_formula():
    cfg = StyleGANConfig()
    assert [cfg.nf(int(math.log2(r)) - 1) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)] == \
        [512, 512, 512, 512, 256, 128, 64, 32, 16]
