"""StyleGAN2 networks: official layout and names, presets, the generator interface, conditioning,
noise modes, truncation, w_avg tracking, double backward, precision options."""

from __future__ import annotations

import pytest
import torch

from facegan.errors import ConfigError
from facegan.networks import (
    StyleGAN2Config,
    build_discriminator,
    build_generator,
    stylegan2_preset,
    stylegan2_spec,
)

TINY = dict(resolution=32, channel_base=256, channel_max=32, mapping_layers=2, z_dim=32, w_dim=32)


def tiny(**kw) -> StyleGAN2Config:
    return StyleGAN2Config(**{**TINY, **kw})


def test_config_f_has_the_official_parameter_count_and_names():
    G = build_generator(StyleGAN2Config(resolution=1024))
    assert sum(p.numel() for p in G.parameters()) == 30_370_060  # the official StyleGAN2 FFHQ generator
    assert G.num_ws == 18
    names = set(G.state_dict())
    for name in ["mapping.fc7.weight", "mapping.w_avg", "synthesis.b4.const", "synthesis.b4.conv1.affine.weight",
                 "synthesis.b4.conv1.noise_const", "synthesis.b4.conv1.noise_strength", "synthesis.b4.torgb.weight",
                 "synthesis.b1024.conv0.resample_filter", "synthesis.b1024.resample_filter"]:
        assert name in names
    assert tuple(G.state_dict()["synthesis.b1024.conv0.weight"].shape) == (32, 64, 3, 3)
    assert tuple(G.state_dict()["synthesis.b8.conv0.noise_const"].shape) == (8, 8)
    D = build_discriminator(StyleGAN2Config(resolution=1024))
    assert {"b1024.fromrgb.weight", "b1024.skip.weight", "b4.mbstd" if False else "b4.conv.weight", "b4.fc.weight",
            "b4.out.weight"} <= set(D.state_dict())


def test_stored_values_have_the_official_meaning():
    G = build_generator(tiny())
    assert torch.all(G.synthesis.b8.conv0.affine.bias == 1)      # affine bias_init 1
    assert G.synthesis.b8.conv0.noise_strength.item() == 0       # noise strength starts at 0
    assert G.mapping.fc0.weight.std().item() == pytest.approx(100, rel=0.2)  # randn / lr_multiplier 0.01
    torch.testing.assert_close(G.synthesis.b8.resample_filter.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_every_architecture_generates_and_discriminates(arch):
    cfg = tiny(g_architecture=arch, d_architecture=arch)
    G, D = build_generator(cfg), build_discriminator(cfg)
    img = G(torch.randn(4, 32))
    assert img.shape == (4, 3, 32, 32)
    assert D(img).shape == (4, 1)


def test_truncation_cutoff_none_truncates_every_layer():
    G = build_generator(tiny()).eval()
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(32))
    z = torch.randn(2, 32)
    ws = G.mapping(z, None)
    t = G.mapping(z, None, truncation_psi=0.5)
    torch.testing.assert_close(t, G.mapping.w_avg + 0.5 * (ws - G.mapping.w_avg))
    c = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(c[:, 3:], ws[:, 3:])
    torch.testing.assert_close(G.mapping(z, None, truncation_psi=0.0)[:, 0], G.mapping.w_avg.expand(2, -1))


def test_the_conditional_discriminator_has_its_own_label_mapping():
    """(Conditioning itself is in test_network_contract.py.)"""
    D = build_discriminator(tiny(c_dim=4))
    assert {"mapping.embed.weight", "mapping.fc0.weight"} <= set(D.state_dict())
    assert D.mapping.fc0.weight.shape == (32, 32)   # cmap_dim = channels at 4x4


def test_double_backward_for_r1_and_path_length():
    cfg = tiny(resolution=16)
    G, D = build_generator(cfg), build_discriminator(cfg)
    real = torch.randn(4, 3, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    grad.square().sum().backward()
    assert D.b16.conv0.weight.grad is not None and D.b16.conv0.weight.grad.abs().sum() > 0
    ws = G.mapping(torch.randn(2, 32), None).detach().requires_grad_(True)
    img = G.synthesis(ws, noise_mode="random")
    (gw,) = torch.autograd.grad((img * torch.randn_like(img)).sum(), ws, create_graph=True)
    gw.square().sum().backward()
    assert G.synthesis.b16.conv0.weight.grad.abs().sum() > 0


def test_fused_and_unfused_modulation_agree():
    G = build_generator(tiny()).eval()
    ws = G.mapping(torch.randn(3, 32), None)
    torch.testing.assert_close(G.synthesis(ws, fused=True), G.synthesis(ws, fused=False), rtol=1e-4, atol=1e-5)


def test_presets_carry_the_official_values():
    f = stylegan2_preset("stylegan2-config-f", 1024)
    assert (f.channel_base, f.mapping_layers, f.mbstd_group_size, f.num_fp16_res, f.conv_clamp) == (32768, 8, 4, 4, 256)
    p256 = stylegan2_preset("paper256", 256)
    assert p256.channel_base == 16384 and p256.mbstd_group_size == 8
    assert stylegan2_spec("paper256", 256).gamma == 1
    auto = stylegan2_spec("auto", 256, gpus=1)
    assert (auto.batch, auto.mbstd, auto.gamma, auto.ema_kimg) == (16, 4, pytest.approx(0.8192), 5.0)
    assert stylegan2_preset("auto", 256).mapping_layers == 2
    cifar = stylegan2_preset("cifar", 32, c_dim=10)
    assert cifar.d_architecture == "orig" and stylegan2_spec("cifar", 32).pl_weight == 0
    assert stylegan2_preset("stylegan2-config-f", 1024, mixed_precision=False).conv_clamp is None
    with pytest.raises(ConfigError, match="unknown StyleGAN2 preset"):
        stylegan2_preset("config-z", 256)


@pytest.mark.parametrize("arch", ["orig", "skip", "resnet"])
def test_torch_compile_captures_one_graph_for_training_and_inference(arch):
    import torch._dynamo

    cfg = tiny(g_architecture=arch, d_architecture=arch, c_dim=3)  # conditional: the D projection too
    G, D = build_generator(cfg), build_discriminator(cfg)
    z, c = torch.randn(4, 32), torch.eye(3)[[0, 1, 2, 0]]
    torch._dynamo.reset()
    G_c = torch.compile(G, backend="aot_eager", fullgraph=True)  # fullgraph: a graph break is an error
    D_c = torch.compile(D, backend="aot_eager", fullgraph=True)
    img = G_c(z, c, noise_mode="const")
    torch.testing.assert_close(img, G(z, c, noise_mode="const"))
    torch.testing.assert_close(D_c(img, c), D(img, c))
    D_c(img, c).sum().backward()  # gradients flow through both compiled graphs
    assert G.synthesis.b32.conv1.weight.grad is not None and torch.isfinite(G.mapping.fc0.weight.grad).all()
    G.eval()
    from torch._dynamo.utils import counters

    with torch.no_grad():  # inference: the in-place epilogues trace too, and eager calls between
        torch.testing.assert_close(G_c(z, c, noise_mode="const"), G(z, c, noise_mode="const"))
        graphs = counters["stats"]["unique_graphs"]
        for _ in range(2):  # eager calls in between (which fill the layers' weight caches) ...
            torch.testing.assert_close(G_c(z, c, noise_mode="const"), G(z, c, noise_mode="const"))
        assert counters["stats"]["unique_graphs"] == graphs  # ... cause no recompilation


@pytest.mark.gpu
def test_cuda_mixed_precision_and_channels_last():
    cfg = tiny(num_fp16_res=2, conv_clamp=256, fp16_channels_last=True)
    G, D = build_generator(cfg).cuda(), build_discriminator(cfg).cuda()
    z = torch.randn(4, 32, device="cuda")
    img = G(z)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    ref = G.synthesis(G.mapping(z, None), force_fp32=True)
    assert (img - ref).abs().mean() < 0.05
    assert torch.isfinite(D(img)).all()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert torch.isfinite(G(z)).all()


@pytest.mark.gpu
def test_torch_compile_on_cuda():
    G = build_generator(tiny()).cuda().eval()
    compiled = torch.compile(G)
    z = torch.randn(2, 32, device="cuda")
    torch.testing.assert_close(compiled(z), G(z), rtol=1e-3, atol=1e-3)
