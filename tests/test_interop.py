"""Official network files load without TensorFlow and without running anything from the file:
TensorFlow StyleGAN (v1) and StyleGAN2 pickles and stylegan2-ada-pytorch snapshots, built here in
their real layouts from small random tensors; every tensor lands where it belongs, and the
generated images equal an independent computation of the official networks to within one grey
level. Hostile and broken files are refused with a clear error."""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import NetworkFormatError, UnsafePickleError
from facegan.generation import seeds_to_z
from facegan.interop import convert, load_any
from facegan.networks import StyleGAN2Config, build_discriminator, build_generator, read_metadata
from facegan.utils.images import to_uint8
from interop_fixtures import (
    persistent_tree,
    split_scopes,
    tf_network,
    write_snapshot,
    write_tf_pickle,
)
from test_stylegan1_reference import randomized, ref_generator, tf_discriminator_vars, tf_generator_vars
from test_stylegan1_reference import tiny as tiny_v1
from test_stylegan2_reference import reference_generator

MARKER = "PWNED"


def assert_state_equal(net, expected):
    got = net.state_dict()
    assert set(got) == set(expected.state_dict())
    for name, value in expected.state_dict().items():
        torch.testing.assert_close(got[name].float(), value.float(), msg=name)


# -- StyleGAN (v1) TensorFlow pickles -----------------------------------------------------------

def v1_kwargs(cfg):
    return dict(latent_size=cfg.z_dim, dlatent_size=cfg.w_dim, label_size=cfg.c_dim, num_channels=cfg.img_channels,
                resolution=cfg.resolution, mapping_layers=cfg.mapping_layers, mapping_fmaps=cfg.mapping_fmaps,
                fmap_base=cfg.fmap_base, fmap_max=cfg.fmap_max)


def v1_pickle(path, G, D, Gs, cfg, **extra_kwargs):
    def gen(name, net):
        v = tf_generator_vars(net)
        own, parts = split_scopes(v, {"mapping": "G_mapping", "synthesis": "G_synthesis"})
        own["lod"] = np.float32(0)
        kw = {**v1_kwargs(cfg), **extra_kwargs}
        comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, 3),
                 "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], {**kw, "dlatent_broadcast": 18}, 3)}
        return tf_network(name, "G_style", own, kw, 3, comps), v

    tf_G, _ = gen("G", G)
    tf_Gs, v = gen("Gs", Gs)
    tf_D = tf_network("D", "D_basic", tf_discriminator_vars(D), v1_kwargs(cfg), 3)
    write_tf_pickle(path, tf_G, tf_D, tf_Gs)
    return v


@pytest.fixture(scope="module")
def v1_file(tmp_path_factory):
    cfg = tiny_v1()
    G, Gs = randomized(build_generator(cfg), 1).float(), randomized(build_generator(cfg), 2).float()
    D = randomized(build_discriminator(cfg), 3).float()
    path = tmp_path_factory.mktemp("v1") / "karras2019stylegan-tiny.pkl"
    v = v1_pickle(path, G, D, Gs, cfg)
    return path, cfg, G, D, Gs, v


def test_stylegan_v1_tf_pickle_loads_every_tensor(v1_file):
    path, cfg, G, D, Gs, _ = v1_file
    loaded = load_any(path)
    assert loaded.format == "stylegan-tf" and loaded.config == cfg
    assert_state_equal(loaded.networks["G_ema"], Gs)
    assert_state_equal(loaded.networks["G"], G)
    assert_state_equal(loaded.networks["D"], D)


def test_stylegan_v1_images_equal_the_official_computation(v1_file):
    path, cfg, _, _, _, v = v1_file
    G = facegan.load(path)
    z = seeds_to_z([0, 7], cfg.z_dim)
    ours = G.run(z, truncation_psi=0.7)  # the official defaults: psi 0.7 on the first 8 layers, const noise
    for i in range(2):
        expected = ref_generator({k: np.asarray(x, np.float64) for k, x in v.items()}, cfg, z[i:i + 1], psi=0.7,
                                 cutoff=8)
        ref = to_uint8(torch.tensor(np.asarray(expected)).reshape(1, cfg.img_channels, cfg.resolution,
                                                                   cfg.resolution))
        assert np.abs(ours[i:i + 1].astype(int) - ref.astype(int)).max() <= 1


def test_a_missing_variable_is_named(tmp_path):
    cfg = tiny_v1()
    G = randomized(build_generator(cfg), 1).float()
    D = randomized(build_discriminator(cfg), 3).float()
    v = tf_generator_vars(G)
    v.pop("G_synthesis/8x8/Conv1/StyleMod/weight")
    own, parts = split_scopes(v, {"mapping": "G_mapping", "synthesis": "G_synthesis"})
    kw = v1_kwargs(cfg)
    comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, 3),
             "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], kw, 3)}
    net = tf_network("Gs", "G_style", own, kw, 3, comps)
    write_tf_pickle(tmp_path / "m.pkl", net, tf_network("D", "D_basic", tf_discriminator_vars(D), kw, 3), net)
    with pytest.raises(NetworkFormatError, match="G_synthesis/8x8/Conv1/StyleMod/weight"):
        facegan.load(tmp_path / "m.pkl")


def test_an_unknown_kwarg_is_refused_by_name(tmp_path):
    cfg = tiny_v1()
    G = randomized(build_generator(cfg), 1).float()
    D = randomized(build_discriminator(cfg), 3).float()
    v1_pickle(tmp_path / "k.pkl", G, D, G, cfg, resolution_w=512)
    with pytest.raises(NetworkFormatError, match="unknown TensorFlow kwarg 'resolution_w'"):
        facegan.load(tmp_path / "k.pkl")


# -- StyleGAN2 TensorFlow pickles ---------------------------------------------------------------

def tf_vars_stylegan2_G(G, cfg) -> dict:
    """Our G -> the official TF StyleGAN2 variables (written out here independently of the loader)."""
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in G.state_dict().items()}
    hwio = lambda w: w.transpose(2, 3, 1, 0)  # noqa: E731
    v = {"dlatent_avg": sd["mapping.w_avg"], "synthesis/lod": np.float32(0)}
    for i in range(cfg.mapping_layers):
        v[f"mapping/Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T
        v[f"mapping/Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    v["synthesis/4x4/Const/const"] = sd["synthesis.b4.const"][None]
    res_log2 = int(math.log2(cfg.resolution))
    for r in range(2, res_log2 + 1):
        R = 2 ** r
        layers = [("Conv", "conv1", 0)] if R == 4 else [("Conv0_up", "conv0", 2 * r - 5), ("Conv1", "conv1", 2 * r - 4)]
        for tf_name, ours, k in layers:
            p, s = f"synthesis.b{R}.{ours}", f"synthesis/{R}x{R}/{tf_name}"
            w = hwio(sd[f"{p}.weight"])
            v[f"{s}/weight"] = w[::-1, ::-1] if ours == "conv0" else w   # up-sampling weights are stored flipped
            v[f"{s}/bias"] = sd[f"{p}.bias"]
            v[f"{s}/noise_strength"] = sd[f"{p}.noise_strength"]
            v[f"{s}/mod_weight"] = sd[f"{p}.affine.weight"].T
            v[f"{s}/mod_bias"] = sd[f"{p}.affine.bias"] - 1              # TF adds the 1 at run time
            v[f"synthesis/noise{k}"] = sd[f"{p}.noise_const"][None, None]
        if f"synthesis.b{R}.torgb.weight" in sd:
            t, s = f"synthesis.b{R}.torgb", f"synthesis/{R}x{R}/ToRGB"
            v[f"{s}/weight"], v[f"{s}/bias"] = hwio(sd[f"{t}.weight"]), sd[f"{t}.bias"]
            v[f"{s}/mod_weight"], v[f"{s}/mod_bias"] = sd[f"{t}.affine.weight"].T, sd[f"{t}.affine.bias"] - 1
    return v


def tf_vars_stylegan2_D(D, cfg) -> dict:
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in D.state_dict().items()}
    hwio = lambda w: w.transpose(2, 3, 1, 0)  # noqa: E731
    v = {"lod": np.float32(0)}
    R = cfg.resolution
    v[f"{R}x{R}/FromRGB/weight"] = hwio(sd[f"b{R}.fromrgb.weight"])
    v[f"{R}x{R}/FromRGB/bias"] = sd[f"b{R}.fromrgb.bias"]
    while R > 4:
        for tf_name, ours in (("Conv0", "conv0"), ("Conv1_down", "conv1")):
            v[f"{R}x{R}/{tf_name}/weight"] = hwio(sd[f"b{R}.{ours}.weight"])
            v[f"{R}x{R}/{tf_name}/bias"] = sd[f"b{R}.{ours}.bias"]
        v[f"{R}x{R}/Skip/weight"] = hwio(sd[f"b{R}.skip.weight"])
        R //= 2
    v["4x4/Conv/weight"], v["4x4/Conv/bias"] = hwio(sd["b4.conv.weight"]), sd["b4.conv.bias"]
    v["4x4/Dense0/weight"], v["4x4/Dense0/bias"] = sd["b4.fc.weight"].T, sd["b4.fc.bias"]
    v["Output/weight"], v["Output/bias"] = sd["b4.out.weight"].T, sd["b4.out.bias"]
    return v


def randomize(net, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if "resample_filter" not in name:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5 + (1.0 if name.endswith("affine.bias") else 0.0))
    return net


@pytest.fixture(scope="module")
def v2_file(tmp_path_factory):
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16)
    G, Gs = randomize(build_generator(cfg), 1), randomize(build_generator(cfg), 2)
    D = randomize(build_discriminator(cfg), 3)
    kw = dict(latent_size=16, dlatent_size=16, label_size=0, num_channels=3, resolution=16, mapping_layers=2,
              fmap_base=32, fmap_max=16)

    def gen(name, net):
        own, parts = split_scopes(tf_vars_stylegan2_G(net, cfg), {"mapping": "mapping", "synthesis": "synthesis"})
        comps = {"synthesis": tf_network("G_synthesis", "G_synthesis_stylegan2", parts["synthesis"], kw, 4),
                 "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], kw, 4)}
        return tf_network(name, "G_main", own, {**kw, "truncation_psi": 0.5}, 4, comps)

    path = tmp_path_factory.mktemp("v2") / "stylegan2-tiny-config-f.pkl"
    d_kw = dict(label_size=0, num_channels=3, resolution=16, fmap_base=32, fmap_max=16)
    write_tf_pickle(path, gen("G", G), tf_network("D", "D_stylegan2", tf_vars_stylegan2_D(D, cfg), d_kw, 4),
                    gen("Gs", Gs))
    return path, cfg, G, D, Gs


def test_stylegan2_tf_pickle_loads_every_tensor(v2_file):
    path, cfg, G, D, Gs = v2_file
    loaded = load_any(path)
    assert loaded.format == "stylegan2-tf"
    assert loaded.config.channel_base == 64 and loaded.config.mapping_layers == 2
    assert_state_equal(loaded.networks["G_ema"], Gs)
    assert_state_equal(loaded.networks["G"], G)
    assert_state_equal(loaded.networks["D"], D)


def test_stylegan2_tf_images_equal_the_official_computation(v2_file):
    path, cfg, _, _, Gs = v2_file
    G = facegan.load(path)
    z = seeds_to_z([3], cfg.z_dim)
    ours = G.run(z, truncation_psi=0.5, noise_mode="const")
    expected = reference_generator(Gs.state_dict(), cfg, z[0], psi=0.5)
    ref = to_uint8(torch.tensor(expected[None]))
    assert np.abs(ours.astype(int) - ref.astype(int)).max() <= 1


# -- stylegan2-ada-pytorch snapshots ------------------------------------------------------------

EVIL_SRC = f"import pathlib\npathlib.Path({MARKER!r}).touch()\n"


def sg2_init_kwargs(cfg):
    G = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
             img_channels=cfg.img_channels, mapping_kwargs=dict(num_layers=cfg.mapping_layers),
             synthesis_kwargs=dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=2,
                                   conv_clamp=256))
    D = dict(c_dim=cfg.c_dim, img_resolution=cfg.resolution, img_channels=cfg.img_channels,
             architecture="resnet", channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=2,
             conv_clamp=256, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))
    return {"G": G, "G_ema": G, "D": D}


def test_stylegan2_ada_pytorch_snapshot_loads_without_running_its_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16,
                          c_dim=3, num_fp16_res=2, conv_clamp=256)
    nets = {"G": randomize(build_generator(cfg), 1), "D": randomize(build_discriminator(cfg), 2),
            "G_ema": randomize(build_generator(cfg), 3)}
    aug = torch.nn.Module()
    aug.register_buffer("p", torch.tensor(0.3))
    with_aug = {"augment_pipe": None}
    path = tmp_path / "network-snapshot-000120.pkl"
    from interop_fixtures import official_modules

    with official_modules():
        with_aug["augment_pipe"] = persistent_tree(aug, "AugmentPipe", EVIL_SRC)
    write_snapshot(path, nets, sg2_init_kwargs(cfg), EVIL_SRC, extra=with_aug)
    loaded = load_any(path)
    assert loaded.format == "stylegan2-ada-pytorch" and loaded.config == cfg
    for name, net in nets.items():
        assert_state_equal(loaded.networks[name], net)
    z = seeds_to_z([0, 1], 16)
    np.testing.assert_array_equal(facegan.load(path).run(z, labels=2), nets["G_ema"].run(z, labels=2))
    assert not (tmp_path / MARKER).exists()


# -- conversion to our format -----------------------------------------------------------------

def test_convert_writes_g_d_and_g_ema_with_provenance(v2_file, tmp_path):
    path, cfg, G, D, Gs = v2_file
    report = convert(path, tmp_path / "net.safetensors")
    assert report.format == "stylegan2-tf" and set(report.networks) == {"G", "D", "G_ema"}
    meta = read_metadata(tmp_path / "net.safetensors")
    assert meta["source"] == path.name and meta["source_format"] == "stylegan2-tf"
    assert len(meta["source_sha256"]) == 64
    z = seeds_to_z([5], 16)
    np.testing.assert_array_equal(facegan.load(tmp_path / "net.safetensors").run(z), facegan.load(path).run(z))
    assert_state_equal(facegan.load(tmp_path / "net.safetensors", which="D"), D)


def test_cli_convert(v1_file, tmp_path):
    path = v1_file[0]
    out = subprocess.run([sys.executable, "-m", "facegan", "convert", str(path), str(tmp_path / "v1.safetensors")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "StyleGAN (v1) TensorFlow pickle" in out.stdout and "G_ema" in out.stdout
    assert (tmp_path / "v1.safetensors").exists()


# -- hostile and broken files -------------------------------------------------------------------

class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def hostile_payloads(marker):
    cmd = f"touch {marker}"
    yield "os.system", pickle.dumps(Reduce(os.system, (cmd,)))
    yield "builtins.eval", pickle.dumps(Reduce(eval, (f"__import__('os').system({cmd!r})",)))
    yield "subprocess.Popen", pickle.dumps(Reduce(subprocess.Popen, (["touch", str(marker)],)))
    yield "nested in a network tuple", pickle.dumps(({"G": Reduce(os.system, (cmd,))}, None, None))
    # A tensor storage whose bytes are themselves a malicious pickle (torch.storage._load_from_bytes).
    inner = pickle.dumps(Reduce(os.system, (cmd,)))
    yield "storage bytes", pickle.dumps(Reduce(torch.storage._load_from_bytes, (inner,)))
    arg = len(cmd).to_bytes(4, "little") + cmd.encode()
    yield "raw posix.system opcodes", b"\x80\x02cposix\nsystem\n(X" + arg + b"tR."


@pytest.mark.parametrize("label", [label for label, _ in hostile_payloads("x")])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, label):
    marker = tmp_path / MARKER
    data = dict(hostile_payloads(marker))[label]
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError):
        facegan.load(path)
    assert not marker.exists()


def test_an_html_download_page_is_explained(tmp_path):
    path = tmp_path / "ffhq.pkl"
    path.write_text("<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head></html>")
    with pytest.raises(NetworkFormatError, match="HTML page"):
        facegan.load(path)


def test_a_truncated_download_is_explained(v2_file, tmp_path):
    data = v2_file[0].read_bytes()
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetworkFormatError, match="truncated|not a readable"):
        facegan.load(path)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NetworkFormatError, match="not an official StyleGAN network"):
        facegan.load(path)
