"""The branches that official networks take on CUDA, run on the CPU: float16 blocks
(num_fp16_res > 0), the pre-normalisation before demodulation, the no-grad weight caches, force_fp32,
fp16 autocast, and conv_clamp. `facegan.nn.precision.cpu_fp16()` lets them run here; each result is
checked against the same network in float64."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from facegan.errors import ConfigError
from facegan.networks import StyleGAN2Config, build_discriminator, build_generator
from facegan.nn.modulated import WeightCache, modulated_conv2d
from facegan.nn.precision import cpu_fp16, fp16_enabled
from network_helpers import with_random_parameters

# 16x16 with the two highest resolutions (16, 8) in float16, as the official training configs.
CFG = StyleGAN2Config(resolution=16, channel_base=256, channel_max=32, mapping_layers=2, z_dim=32, w_dim=32,
                      num_fp16_res=2, conv_clamp=256)


@pytest.fixture(scope="module")
def nets():
    G = with_random_parameters(build_generator(CFG)).eval()
    D = with_random_parameters(build_discriminator(CFG), seed=1).eval()
    return G, copy.deepcopy(G).double(), D, copy.deepcopy(D).double()


def rel_error(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a.detach().double() - ref.detach()).abs().max() / ref.detach().abs().max())


def test_cpu_fp16_is_off_by_default_and_scoped():
    cpu = torch.device("cpu")
    assert not fp16_enabled(cpu) and fp16_enabled(torch.device("cuda"))
    with cpu_fp16():
        assert fp16_enabled(cpu)
        with cpu_fp16():
            assert fp16_enabled(cpu)
        assert fp16_enabled(cpu)
    assert not fp16_enabled(cpu)


def test_float16_blocks_run_on_the_cpu_only_when_forced(nets):
    G, _, _, _ = nets
    dtypes = {}
    def record(name):
        def hook(module, inputs, output):
            dtypes[name] = output.dtype
        return hook

    hooks = [G.synthesis.b16.conv1.register_forward_hook(record("b16")),
             G.synthesis.b4.conv1.register_forward_hook(record("b4"))]
    ws = G.mapping(torch.randn(2, 32), None)
    try:
        G.synthesis(ws)
        assert dtypes == {"b16": torch.float32, "b4": torch.float32}
        dtypes.clear()
        with cpu_fp16():
            img = G.synthesis(ws)
        assert dtypes == {"b16": torch.float16, "b4": torch.float32}
        assert img.dtype == torch.float32
        dtypes.clear()
        with cpu_fp16():
            G.synthesis(ws, force_fp32=True)
        assert dtypes == {"b16": torch.float32, "b4": torch.float32}
    finally:
        for h in hooks:
            h.remove()


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad-with-weight-caches", "autograd"])
def test_float16_synthesis_matches_the_float64_network(nets, grad):
    """The fp16 inference fault: under no_grad the weight caches' demodulation norms must describe
    the pre-normalised float16 weight (an error there scales whole channels, ~1e0 relative)."""
    G, G64, _, _ = nets
    ws = G.mapping(torch.randn(3, 32, generator=torch.Generator().manual_seed(1)), None).detach()
    ref = G64.synthesis(ws.double(), noise_mode="const")
    with cpu_fp16(), torch.set_grad_enabled(grad):
        for _ in range(2):  # the second call reads the filled caches
            img = G.synthesis(ws, noise_mode="const")
            assert rel_error(img, ref) < 2e-2
    assert rel_error(G.synthesis(ws, noise_mode="const"), ref) < 1e-5  # float32


def test_float16_fused_modulation_matches_the_float64_network(nets):
    G, G64, _, _ = nets
    ws = G.mapping(torch.randn(1, 32), None)
    ref = G64.synthesis(ws.double())
    with cpu_fp16(), torch.no_grad():
        assert rel_error(G.synthesis(ws, fused=True), ref) < 2e-2
        assert rel_error(G.synthesis(ws, fused=False), ref) < 2e-2


def test_weight_cache_norms_follow_the_float16_prenormalisation():
    """modulated_conv2d with a cached float16 weight and its norms equals the uncached computation."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(8, 6, 3, 3, generator=gen)
    x = torch.randn(2, 6, 8, 8, generator=gen)
    styles = torch.randn(2, 6, generator=gen) + 1
    ref = modulated_conv2d(x.double(), weight.double(), styles.double())
    for up in (1, 2):
        cached = WeightCache().get(weight, torch.float16, transpose=up == 2)
        f = torch.tensor([1.0, 3, 3, 1]).outer(torch.tensor([1.0, 3, 3, 1])) / 64
        ref = modulated_conv2d(x.double(), weight.double(), styles.double(), up=up, resample_filter=f.double())
        with torch.no_grad():
            out = modulated_conv2d(x.half(), styles=styles, up=up, resample_filter=f, **cached)
        assert out.dtype == torch.float16
        assert rel_error(out, ref) < 1e-2


def test_force_fp32_gives_the_float32_image_inside_cpu_fp16(nets):
    G, _, _, _ = nets
    ws = G.mapping(torch.randn(2, 32), None)
    expected = G.synthesis(ws)
    with cpu_fp16(), torch.no_grad():
        torch.testing.assert_close(G.synthesis(ws, force_fp32=True), expected)


def test_float16_discriminator_matches_the_float64_network(nets):
    _, _, D, D64 = nets
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    ref = D64(img.double())
    with cpu_fp16():
        scores = D(img)
        fp32 = D(img, force_fp32=True)
    assert rel_error(fp32, ref) < 1e-5
    assert scores.dtype == torch.float32
    assert rel_error(scores, ref) < 2e-2


def test_run_with_fp16_autocast_on_the_cpu_when_forced(nets):
    G, G64, _, _ = nets
    z = np.random.RandomState(0).randn(2, 32)
    with pytest.raises(ConfigError, match="fp16.*needs CUDA"):
        G.run(z, precision="fp16")
    with cpu_fp16():
        half = G.run(z, truncation_psi=1, precision="fp16").astype(int)
    full = G64.run(z, truncation_psi=1).astype(int)
    assert np.abs(half - full).mean() < 2 and np.abs(half - full).max() < 16


def test_conv_clamp_bounds_every_activation(nets):
    """conv_clamp (256 in the official mixed-precision configs) clamps after the gain, in float16
    and in float32 alike; a small clamp shows it."""
    G, _, _, _ = nets
    G = copy.deepcopy(G)
    clamp = 0.05
    for m in G.modules():
        if hasattr(m, "conv_clamp"):
            m.conv_clamp = clamp
    seen = []
    for name, m in G.synthesis.named_modules():
        if name.endswith(("conv0", "conv1", "torgb")):
            m.register_forward_hook(lambda m, i, o: seen.append(float(o.abs().max())) and None)
    ws = G.mapping(torch.randn(2, 32), None)
    for forced in (False, True):
        seen.clear()
        with torch.no_grad(), (cpu_fp16() if forced else torch.autograd.grad_mode.no_grad()):
            G.synthesis(ws)
        assert len(seen) == 8 and max(seen) <= clamp * (1 + 1e-3)


def test_inference_takes_the_official_fused_modulation_choice_inside_cpu_fp16():
    """Officially, inference fuses the modulation in float32 blocks (or at batch 1) and not in
    float16 ones; a plain CPU run keeps it unfused. The unfused path fills the layer's weight cache,
    the fused one does not, which shows the choice."""
    G = with_random_parameters(build_generator(CFG)).eval()
    ws = G.mapping(torch.randn(2, 32), None)

    def unfused(layer):
        return layer._cache._key is not None

    with torch.no_grad():
        G.synthesis(ws)
    assert unfused(G.synthesis.b4.conv1) and unfused(G.synthesis.b16.conv1)
    G = copy.deepcopy(G)
    G.synthesis.b4.conv1._cache = WeightCache()
    G.synthesis.b16.conv1._cache = WeightCache()
    with cpu_fp16(), torch.no_grad():
        G.synthesis(ws)
    assert not unfused(G.synthesis.b4.conv1)   # float32 block: fused
    assert unfused(G.synthesis.b16.conv1)      # float16 block at batch 2: unfused


@pytest.mark.gpu
def test_float16_inference_on_cuda_matches_the_float64_network(nets):
    """The same check on CUDA, where the float16 blocks run without cpu_fp16()."""
    G, G64, _, _ = nets
    G = copy.deepcopy(G).cuda()
    ws = G.mapping(torch.randn(3, 32, device="cuda"), None).detach()
    ref = G64.synthesis(ws.double().cpu())
    with torch.no_grad():
        for fused in (None, True, False):
            img = G.synthesis(ws, fused=fused).cpu()
            assert rel_error(img, ref) < 2e-2
