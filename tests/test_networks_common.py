"""The generator interface, truncation, seeds, DCGAN and our .safetensors network files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import ConfigError, NetworkFormatError
from facegan.generation import seed_to_z, seeds_to_z
from facegan.networks import (
    DCGANConfig,
    build_discriminator,
    build_generator,
    config_from_dict,
    read_metadata,
    save_networks,
    truncate,
)


def test_a_seed_names_the_official_latent():
    z = seed_to_z(5, 512)
    assert z.shape == (1, 512)
    np.testing.assert_array_equal(z, np.random.RandomState(5).randn(1, 512))
    np.testing.assert_array_equal(seeds_to_z([5, 6], 512)[1], np.random.RandomState(6).randn(512))


def test_truncation_lerps_towards_the_mean_on_the_first_layers_only():
    ws = torch.randn(2, 6, 4)
    w_avg = torch.randn(4)
    out = truncate(ws, w_avg, 0.5, cutoff=2)
    torch.testing.assert_close(out[:, :2], w_avg + 0.5 * (ws[:, :2] - w_avg))
    torch.testing.assert_close(out[:, 2:], ws[:, 2:])
    per_layer = truncate(ws, w_avg, torch.tensor([0.0, 1, 1, 1, 1, 0.5]))
    torch.testing.assert_close(per_layer[:, 0], w_avg.expand(2, 4))
    torch.testing.assert_close(per_layer[:, 5], w_avg + 0.5 * (ws[:, 5] - w_avg))
    with pytest.raises(ConfigError):
        truncate(ws, w_avg, torch.ones(3))


@pytest.mark.parametrize("resolution", [8, 32, 64])
def test_dcgan_generates_and_discriminates_at_its_resolution(resolution):
    cfg = DCGANConfig(resolution=resolution, ngf=8, ndf=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    z = torch.randn(3, cfg.z_dim)
    img = G(z)
    assert img.shape == (3, 3, resolution, resolution)
    assert img.abs().max() <= 1
    assert D(img).shape == (3, 1)


def test_dcgan_64_has_the_tutorial_layout():
    G = build_generator(DCGANConfig())
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    assert sum(p.numel() for p in G.parameters()) == 3576704  # the tutorial's netG parameter count
    w = convs[1].weight
    assert abs(w.std().item() - 0.02) < 0.002


def test_configs_refuse_bad_resolutions_and_unknown_architectures():
    with pytest.raises(ConfigError, match="power of two"):
        DCGANConfig(resolution=48)
    with pytest.raises(ConfigError, match="unknown architecture"):
        config_from_dict({"arch": "nope"})


def test_loading_a_mismatched_network_names_the_tensor(tmp_path):
    small = DCGANConfig(resolution=16, ngf=8)
    path = tmp_path / "net.safetensors"
    G = build_generator(small)
    save_networks(path, {"G": G}, small)
    # Tamper with the file: drop one tensor, keep the metadata.
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    meta = read_metadata(path)
    del tensors["G.synthesis.main.1.weight"]
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(NetworkFormatError, match="synthesis.main.1.weight"):
        facegan.load(path)


def test_foreign_files_are_refused_clearly(tmp_path):
    junk = tmp_path / "x.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(NetworkFormatError, match="not a readable"):
        facegan.load(junk)
    with pytest.raises(NetworkFormatError, match="no such file"):
        facegan.load(tmp_path / "missing.safetensors")


def test_style_groups_follow_the_paper():
    from facegan.generation.mixing import group_layers, style_layers

    assert group_layers("coarse", 18) == [0, 1, 2, 3]
    assert group_layers("middle", 18) == [4, 5, 6, 7]
    assert group_layers("fine", 18) == list(range(8, 18))
    assert group_layers("fine", 8) == []  # a 32x32 network has no fine styles
    assert style_layers("0-6", 18) == [0, 1, 2, 3, 4, 5, 6]
    assert style_layers("coarse,fine", 12) == [0, 1, 2, 3, 8, 9, 10, 11]
    with pytest.raises(ConfigError, match="out of range"):
        style_layers("0-20", 18)
    with pytest.raises(ConfigError, match="selects no layer"):
        style_layers("fine", 8)


def test_mixing_takes_the_selected_layers_from_the_source():
    from facegan.generation.mixing import mix_styles

    a, b = torch.zeros(2, 6, 3), torch.ones(1, 6, 3)
    out = mix_styles(a, b, [0, 1])
    assert out[:, :2].eq(1).all() and out[:, 2:].eq(0).all() and a.eq(0).all()


@pytest.mark.parametrize("native", [False, True])
def test_bf16_warns_once_where_the_hardware_has_no_bfloat16(native, monkeypatch, caplog):
    # The CPU cannot be swapped in a test: what is replaced is the answer to "AVX-512 BF16 or AMX?".
    from facegan.utils import device as devmod

    monkeypatch.setattr(devmod, "_warned", set())
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert devmod.has_native_bf16("cpu") is native
    G = build_generator(DCGANConfig(resolution=8, ngf=4, ndf=4))
    z = np.random.RandomState(0).randn(2, G.z_dim)
    with caplog.at_level(logging.WARNING, logger="facegan.utils.device"):
        assert G.run(z, precision="fp32").shape == (2, 8, 8, 3)
        assert not caplog.records  # fp32 never warns
        for _ in range(2):
            assert G.run(z, precision="bf16").shape == (2, 8, 8, 3)  # slow, not refused
    warnings = [r.getMessage() for r in caplog.records]
    if native:
        assert warnings == []
    else:
        assert len(warnings) == 1 and "no AVX-512 BF16 or AMX" in warnings[0] and "use fp32" in warnings[0]
