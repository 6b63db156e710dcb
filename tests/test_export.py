"""Networks out in NVIDIA's TensorFlow layout: facegan -> pickle -> facegan gives back every weight bit
for bit and the same images; the written file is what NVIDIA's loader expects, checked without NVIDIA
code against the published format (class name and state keys of dnnlib.tflib.network.Network, the
kwargs stylegan2-ada-pytorch's legacy.py knows, variable names and shapes as the TF code creates
them, and images as the TF graph computes them); what the format cannot hold is refused before a byte
is written. (ONNX: test_export_onnx.py.)"""

from __future__ import annotations

import pickle
import pickletools

import numpy as np
import pytest
import torch

import facegan
from facegan.cli import main
from facegan.interop import load_any, read_pickle
from facegan.interop.export import ExportError, export
from facegan.networks import StyleGAN2Config, StyleGANConfig, build_discriminator, build_generator, save_networks
from facegan.networks.dcgan import DCGANConfig
from test_interop_stylegan2_tf import (
    assert_images_close,
    discriminator_variables,
    generator_variables,
    tf_generator,
    to_uint8,
)


def randomized(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every tensor random (zeros and ones would hide a swapped or dropped tensor); style biases near 1,
    some far from it (their TF form is b - 1, which float32 cannot always give back)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():  # fixed filters (blur, resampling) stay as they are
            if "resample_filter" in name or name.endswith("lod") or "running_" in name or "num_batches" in name:
                continue
            scale = 0.1 if "torgb" in name else 0.5  # images mostly inside 0..255
            t.copy_(torch.randn(t.shape, generator=gen) * scale + (1.0 if name.endswith("affine.bias") else 0.0))
            if name.endswith("affine.bias"):
                t.view(-1)[0] = 3e-9  # b - 1 + 1 == 0 in float32
    return net.eval()


def tiny_sg2(**overrides) -> StyleGAN2Config:
    return StyleGAN2Config(**{**dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64,
                                     channel_max=16), **overrides})


def tiny_v1(**overrides) -> StyleGANConfig:
    return StyleGANConfig(resolution=16, z_dim=16, w_dim=16, mapping_layers=3, mapping_fmaps=16, fmap_base=64,
                          fmap_max=16, **overrides)


CONFIGS = {
    "stylegan2-config-f": tiny_sg2(),
    "stylegan2-conditional-resnet-skip-clamp-box": tiny_sg2(z_dim=12, c_dim=3, g_architecture="resnet",
                                                            d_architecture="skip", conv_clamp=1.5,
                                                            mbstd_group_size=None, resample_filter=(1, 1),
                                                            mapping_layer_features=20, num_fp16_res=2),
    "stylegan2-orig-no-noise": tiny_sg2(g_architecture="orig", d_architecture="orig", use_noise=False,
                                        mbstd_group_size=2, mbstd_num_channels=2),
    "stylegan-v1": tiny_v1(),
    "stylegan-v1-conditional-dense-input": tiny_v1(c_dim=2, const_input_layer=False, fused_scale=True),
}


def networks(cfg, seed=0):
    return {"G": randomized(build_generator(cfg), seed + 1), "D": randomized(build_discriminator(cfg), seed + 2),
            "G_ema": randomized(build_generator(cfg), seed + 3)}


STYLEGAN2 = [label for label, cfg in CONFIGS.items() if cfg.arch == "stylegan2"]
_written: dict[str, tuple] = {}


def written(label, tmp_path_factory):
    """Each config exported once per session."""
    if label not in _written:
        cfg = CONFIGS[label]
        nets = networks(cfg)
        path = tmp_path_factory.mktemp("export") / f"{label}.pkl"
        _written[label] = (label, cfg, nets, path, export(nets, path, format="nvidia"))
    return _written[label]


@pytest.fixture(params=list(CONFIGS))
def exported(request, tmp_path_factory):
    return written(request.param, tmp_path_factory)


@pytest.fixture(params=STYLEGAN2)
def exported_sg2(request, tmp_path_factory):
    return written(request.param, tmp_path_factory)


# -- facegan -> NVIDIA layout -> facegan ------------------------------------------------------------

def test_reading_the_export_back_gives_every_weight_bit_for_bit(exported):
    label, cfg, nets, path, _ = exported
    back = load_any(path)
    assert back.format == ("stylegan-tf" if cfg.arch == "stylegan" else "stylegan2-tf")
    assert back.config == cfg
    for name, net in nets.items():
        got = back.networks[name].state_dict()
        assert got.keys() == net.state_dict().keys()
        for key, value in net.state_dict().items():
            assert torch.equal(got[key], value), f"{name}.{key}"


def test_the_exported_generator_draws_the_same_images(exported):
    label, cfg, nets, path, _ = exported
    z = np.random.RandomState(5).randn(4, cfg.z_dim)
    labels = 1 if cfg.c_dim else None
    expected = nets["G_ema"].run(z, labels=labels, truncation_psi=0.7)
    assert ((expected > 0) & (expected < 255)).mean() > 0.3, "the fixture saturates: a weak test"
    np.testing.assert_array_equal(facegan.load(path).run(z, labels=labels, truncation_psi=0.7), expected)
    D = facegan.load(path, which="D")
    images = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    c = torch.eye(cfg.c_dim)[[0, 1, 1, 0]] if cfg.c_dim else None
    with torch.no_grad():
        assert torch.equal(D(images, c), nets["D"](images, c))


# -- the file as NVIDIA's loader reads it ------------------------------------------------------------

class _NetworkStub(dict):
    """What legacy.py makes of dnnlib.tflib.network.Network: an empty dict subclass; the state lands in
    the instance __dict__ (the class has no __setstate__)."""


class _StubUnpickler(pickle.Unpickler):
    """legacy.py's loader: remaps exactly one class, everything else resolves normally."""

    def find_class(self, module, name):
        if (module, name) == ("dnnlib.tflib.network", "Network"):
            return _NetworkStub
        return super().find_class(module, name)


def nvidia_view(path):
    with open(path, "rb") as f:
        return _StubUnpickler(f).load()


def collect_params(net, prefix=""):
    """legacy.py's _collect_tf_params: own variables, then components under '<key>/'."""
    out = {}
    for name, value in net.__dict__["variables"]:
        out[prefix + name] = value
    for key, comp in net.__dict__["components"].items():
        out.update(collect_params(comp, prefix + key + "/"))
    return out


STATE_KEYS = ["version", "name", "static_kwargs", "components", "build_module_src", "build_func_name", "variables"]
# The kwargs stylegan2-ada-pytorch's legacy.py reads; any other raises "Unknown TensorFlow kwarg".
LEGACY_G_KWARGS = {"latent_size", "label_size", "dlatent_size", "resolution", "num_channels", "mapping_layers",
                   "label_fmaps", "mapping_fmaps", "mapping_nonlinearity", "mapping_lrmul", "w_avg_beta", "fmap_base",
                   "fmap_max", "num_fp16_res", "conv_clamp", "architecture", "resample_kernel", "use_noise",
                   "nonlinearity", "truncation_psi", "truncation_cutoff", "style_mixing_prob", "structure",
                   "conditioning", "fused_modconv"}
LEGACY_D_KWARGS = {"label_size", "resolution", "num_channels", "architecture", "fmap_base", "fmap_max",
                   "num_fp16_res", "conv_clamp", "mapping_fmaps", "nonlinearity", "resample_kernel", "freeze_layers",
                   "mapping_layers", "mapping_lrmul", "mbstd_group_size", "mbstd_num_features", "structure",
                   "conditioning"}


def shapes(variables):
    return {name: tuple(np.shape(value)) for name, value in variables.items()}


def test_a_stylegan2_export_is_a_tuple_of_tf_networks_with_the_official_state(exported_sg2):
    label, cfg, nets, path, _ = exported_sg2
    G, D, Gs = data = nvidia_view(path)
    assert isinstance(data, tuple) and all(type(n) is _NetworkStub for n in data)
    assert {key for key, _ in read_pickle(path).used} <= {"dnnlib.tflib.network", "numpy", "numpy.core.multiarray"}
    for net, name, build in ((G, "G", "G_main"), (D, "D", "D_main"), (Gs, "Gs", "G_main")):
        state = net.__dict__
        assert list(state) == STATE_KEYS
        assert (state["version"], state["name"], state["build_func_name"]) == (4, name, build)
        assert "def " not in state["build_module_src"]  # an import line, not NVIDIA's code
    assert {k: c.__dict__["build_func_name"] for k, c in Gs.__dict__["components"].items()} == {
        "mapping": "G_mapping", "synthesis": "G_synthesis"}
    assert set(Gs.__dict__["static_kwargs"]) <= LEGACY_G_KWARGS
    assert set(D.__dict__["static_kwargs"]) <= LEGACY_D_KWARGS
    kw, d_kw = Gs.__dict__["static_kwargs"], D.__dict__["static_kwargs"]
    assert (kw["resolution"], kw["latent_size"], kw["dlatent_size"], kw["fmap_base"], kw["fmap_max"]) == (
        cfg.resolution, cfg.z_dim, cfg.w_dim, cfg.channel_base // 2, cfg.channel_max)
    assert d_kw["mbstd_group_size"] == cfg.mbstd_group_size  # legacy.py's default (None) is not ours (4)


def test_each_network_is_pickled_as_python_pickles_a_tf_network_object(tmp_path):
    """An object whose class defines __getstate__, at protocol 2+: the class by name (its module is
    never imported by the writer), NEWOBJ with no arguments, then the state dict and BUILD."""
    path = tmp_path / "n.pkl"
    export(networks(tiny_sg2()), path)
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(path.read_bytes())]
    newobj = [i for i, (name, _) in enumerate(ops) if name == "NEWOBJ"]
    assert len(newobj) == 7  # G and Gs with their two components each, and D
    assert all(ops[i - 1][0] == "EMPTY_TUPLE" for i in newobj)  # rebuilt without arguments
    first = newobj[0]  # the class is named at its first use (later ones fetch it from the memo)
    assert ops[first - 7:first] == [("SHORT_BINUNICODE", "dnnlib.tflib.network"), ("MEMOIZE", None),
                                    ("SHORT_BINUNICODE", "Network"), ("MEMOIZE", None), ("STACK_GLOBAL", None),
                                    ("MEMOIZE", None), ("EMPTY_TUPLE", None)]
    assert read_pickle(path).used == {("dnnlib.tflib.network", "Network"), ("numpy", "dtype"), ("numpy", "ndarray"),
                                      ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar")}


def test_a_stylegan2_export_has_the_variables_the_tf_code_creates(exported_sg2):
    """Names and shapes as StyleGAN2-ADA's G_main / G_mapping / G_synthesis / D_main create them for the
    file's own kwargs (test_interop_stylegan2_tf builds those from the TF code's rules)."""
    label, cfg, nets, path, _ = exported_sg2
    G, D, Gs = nvidia_view(path)
    kw, d_kw = Gs.__dict__["static_kwargs"], D.__dict__["static_kwargs"]
    rng = np.random.default_rng(0)
    expected = shapes(generator_variables(rng, kw, "G_synthesis"))
    expected.pop("lod")  # StyleGAN2's G_main has one; StyleGAN2-ADA's does not
    if not cfg.use_noise:  # G_synthesis creates noise inputs and strengths only with use_noise
        expected = {k: s for k, s in expected.items() if "noise" not in k}
    for net in (G, Gs):
        assert shapes(collect_params(net)) == expected
    assert shapes(collect_params(D)) == shapes(discriminator_variables(rng, d_kw, "D_main"))


@pytest.mark.parametrize("label", [label for label in STYLEGAN2 if CONFIGS[label].use_noise])  # the graph adds noise
def test_a_stylegan2_export_computes_in_the_tf_graph_what_our_generator_draws(label, tmp_path_factory):
    """The file's variables and kwargs, run through a NumPy copy of the TF graph, draw our images."""
    label, cfg, nets, path, _ = written(label, tmp_path_factory)
    Gs = nvidia_view(path)[2]
    v = {k: np.asarray(x) for k, x in collect_params(Gs).items()}
    kw = Gs.__dict__["static_kwargs"]
    seeds = [0, 1, 2]
    z = np.concatenate([np.random.RandomState(s).randn(1, cfg.z_dim) for s in seeds])
    c = np.eye(cfg.c_dim)[[1, 1, 1]] if cfg.c_dim else None
    reference = np.concatenate([tf_generator(v, kw, "G_synthesis", z[i:i + 1], None if c is None else c[:1], 0.7)
                                for i in range(len(seeds))])
    ours = nets["G_ema"].run(z, labels=1 if cfg.c_dim else None, truncation_psi=0.7)
    assert_images_close(ours, to_uint8(reference))


def v1_expected_shapes(cfg: StyleGANConfig) -> tuple[dict, dict, dict, dict]:
    """(Gs own, G_mapping, G_synthesis, D) variable shapes from the published table of the official
    karras2019 layout (StyleGAN's networks_stylegan.py, FFHQ config F)."""
    L, w = cfg.resolution_log2, cfg.w_dim

    def nf(stage):
        return min(int(cfg.fmap_base / 2 ** stage), cfg.fmap_max)

    own = {"lod": (), "dlatent_avg": (w,)}
    mapping, fan_in = {}, cfg.z_dim
    for i in range(cfg.mapping_layers):
        out = w if i == cfg.mapping_layers - 1 else cfg.mapping_fmaps
        mapping[f"Dense{i}/weight"], mapping[f"Dense{i}/bias"] = (fan_in, out), (out,)
        fan_in = out
    synthesis = {"lod": ()}
    for k in range(2 * L - 2):
        r = 2 ** (k // 2 + 2)
        synthesis[f"noise{k}"] = (1, 1, r, r)

    def epilogue(scope, C):
        synthesis.update({f"{scope}/Noise/weight": (C,), f"{scope}/bias": (C,), f"{scope}/StyleMod/weight": (w, 2 * C),
                          f"{scope}/StyleMod/bias": (2 * C,)})

    synthesis["4x4/Const/const"] = (1, nf(1), 4, 4)
    epilogue("4x4/Const", nf(1))
    synthesis["4x4/Conv/weight"] = (3, 3, nf(1), nf(1))
    epilogue("4x4/Conv", nf(1))
    synthesis[f"ToRGB_lod{L - 2}/weight"], synthesis[f"ToRGB_lod{L - 2}/bias"] = (1, 1, nf(1), 3), (3,)
    for r in range(3, L + 1):
        R, cin, C = 2 ** r, nf(r - 2), nf(r - 1)
        synthesis[f"{R}x{R}/Conv0_up/weight"] = (3, 3, cin, C)
        epilogue(f"{R}x{R}/Conv0_up", C)
        synthesis[f"{R}x{R}/Conv1/weight"] = (3, 3, C, C)
        epilogue(f"{R}x{R}/Conv1", C)
        synthesis[f"ToRGB_lod{L - r}/weight"], synthesis[f"ToRGB_lod{L - r}/bias"] = (1, 1, C, 3), (3,)
    D = {"lod": ()}
    for r in range(L, 1, -1):
        R = 2 ** r
        D[f"FromRGB_lod{L - r}/weight"], D[f"FromRGB_lod{L - r}/bias"] = (1, 1, 3, nf(r - 1)), (nf(r - 1),)
        if r > 2:
            D[f"{R}x{R}/Conv0/weight"], D[f"{R}x{R}/Conv0/bias"] = (3, 3, nf(r - 1), nf(r - 1)), (nf(r - 1),)
            D[f"{R}x{R}/Conv1_down/weight"], D[f"{R}x{R}/Conv1_down/bias"] = (3, 3, nf(r - 1), nf(r - 2)), (nf(r - 2),)
    D.update({"4x4/Conv/weight": (3, 3, nf(1) + 1, nf(1)), "4x4/Conv/bias": (nf(1),),
              "4x4/Dense0/weight": (nf(1) * 16, nf(0)), "4x4/Dense0/bias": (nf(0),),
              "4x4/Dense1/weight": (nf(0), 1), "4x4/Dense1/bias": (1,)})
    return own, mapping, synthesis, D


def test_a_stylegan_v1_export_has_the_karras2019_layout(tmp_path):
    cfg = CONFIGS["stylegan-v1"]
    path = tmp_path / "karras2019stylegan-tiny.pkl"
    export(networks(cfg), path)
    G, D, Gs = data = nvidia_view(path)
    assert all(type(n) is _NetworkStub for n in data)
    own, mapping, synthesis, d = v1_expected_shapes(cfg)
    for net, name in ((G, "G"), (Gs, "Gs")):
        state = net.__dict__
        assert list(state) == STATE_KEYS and state["version"] == 3 and state["build_func_name"] == "G_style"
        assert state["name"] == name
        comps = state["components"]
        assert {k: (c.__dict__["name"], c.__dict__["build_func_name"]) for k, c in comps.items()} == {
            "mapping": ("G_mapping", "G_mapping"), "synthesis": ("G_synthesis", "G_synthesis")}
        assert shapes(dict(state["variables"])) == own
        assert shapes(dict(comps["mapping"].__dict__["variables"])) == mapping
        assert shapes(dict(comps["synthesis"].__dict__["variables"])) == synthesis
    assert D.__dict__["build_func_name"] == "D_basic" and shapes(dict(D.__dict__["variables"])) == d
    kw = Gs.__dict__["static_kwargs"]
    assert (kw["resolution"], kw["latent_size"], kw["fmap_base"], kw["truncation_psi"], kw["truncation_cutoff"]) == (
        16, 16, 64, 0.7, 8)
    # Variables are float32 arrays, 0-d ones NumPy scalars (as TensorFlow's session returns them).
    assert all(np.asarray(x).dtype == np.float32 for x in collect_params(Gs).values())
    assert isinstance(dict(Gs.__dict__["variables"])["lod"], np.float32)


def test_a_v1_network_caught_while_growing_keeps_its_level_of_detail(tmp_path):
    cfg = tiny_v1()
    nets = networks(cfg)
    for net in nets.values():
        lod = net.synthesis.lod if hasattr(net, "synthesis") else net.lod
        lod.fill_(0.5)
    export(nets, tmp_path / "growing.pkl")
    back = load_any(tmp_path / "growing.pkl")
    assert float(back.networks["G_ema"].synthesis.lod) == 0.5 and float(back.networks["D"].lod) == 0.5
    z = np.random.RandomState(0).randn(2, 16)
    np.testing.assert_array_equal(back.networks["G_ema"].run(z), nets["G_ema"].run(z))


# -- what cannot be exported is refused before writing ----------------------------------------------------

def test_dcgan_has_no_nvidia_format_and_nothing_is_written(tmp_path):
    cfg = DCGANConfig(resolution=16, z_dim=8, ngf=4, ndf=4)
    path = tmp_path / "dcgan.pkl"
    with pytest.raises(ExportError, match="NVIDIA has no network format for dcgan.*--format onnx"):
        export({"G": build_generator(cfg), "D": build_discriminator(cfg)}, path)
    assert list(tmp_path.iterdir()) == []


def test_an_architecture_option_the_tf_graph_lacks_is_refused_and_the_old_file_kept(tmp_path):
    """The TF discriminator's last dense layer has min(fmap_base, fmap_max) features; ours has the 4x4
    conv's; with channel_base 32 and channel_max 16 they differ."""
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=32, channel_max=16)
    path = tmp_path / "net.pkl"
    path.write_bytes(b"the old file")
    with pytest.raises(ExportError, match="last dense layer has 8 features.*min\\(fmap_base, fmap_max\\) = 16"):
        export(networks(cfg), path)
    assert path.read_bytes() == b"the old file" and list(tmp_path.iterdir()) == [path]


def test_a_generator_alone_cannot_fill_an_nvidia_pickle(tmp_path):
    with pytest.raises(ExportError, match="no discriminator"):
        export(build_generator(tiny_sg2()), tmp_path / "g.pkl")
    assert not (tmp_path / "g.pkl").exists()


def test_a_missing_generator_copy_is_filled_in_and_said(tmp_path):
    nets = networks(tiny_sg2())
    report = export({"G_ema": nets["G_ema"], "D": nets["D"]}, tmp_path / "n.pkl")
    assert any("no G: G_ema was written in its place" in n for n in report.notes)
    back = load_any(tmp_path / "n.pkl")
    assert torch.equal(back.networks["G"].synthesis.b16.torgb.weight, nets["G_ema"].synthesis.b16.torgb.weight)


@pytest.mark.parametrize("path,options,message", [
    ("net.onnx", {}, "nvidia export is written to a .pkl file"),
    ("net.pkl", {"part": "mapping"}, "the nvidia format takes no options"),
])
def test_bad_destinations_and_options_are_refused(tmp_path, path, options, message):
    with pytest.raises(ExportError, match=message):
        export(networks(tiny_sg2()), tmp_path / path, **options)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_format_is_refused(tmp_path):
    with pytest.raises(ExportError, match="format must be one of nvidia, onnx"):
        export(networks(tiny_sg2()), tmp_path / "x.pkl", format="tflite")


# -- the command and the package API --------------------------------------------------------------------

def test_facegan_export_writes_an_nvidia_pickle_from_a_network_file(tmp_path, capsys):
    cfg = tiny_sg2()
    nets = networks(cfg)
    save_networks(tmp_path / "network.safetensors", nets, cfg)
    assert main(["export", str(tmp_path / "network.safetensors"), str(tmp_path / "network.pkl"),
                 "--format", "nvidia"]) == 0
    assert "wrote" in capsys.readouterr().out
    back = facegan.load(tmp_path / "network.pkl")
    z = np.random.RandomState(0).randn(2, 16)
    np.testing.assert_array_equal(back.run(z), nets["G_ema"].run(z))


def test_facegan_export_prints_one_error_line_for_a_dcgan(tmp_path, capsys):
    cfg = DCGANConfig(resolution=16, z_dim=8, ngf=4, ndf=4)
    save_networks(tmp_path / "dcgan.safetensors", {"G": build_generator(cfg), "D": build_discriminator(cfg)}, cfg)
    assert main(["export", str(tmp_path / "dcgan.safetensors"), str(tmp_path / "dcgan.pkl"), "--format", "nvidia"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: NVIDIA has no network format for dcgan") and "Traceback" not in err
    assert not (tmp_path / "dcgan.pkl").exists()


def test_the_package_api_exports(tmp_path):
    nets = networks(tiny_v1())
    report = facegan.export(nets, tmp_path / "v1.pkl", format="nvidia")
    assert report.path == tmp_path / "v1.pkl" and "G_style" in report.contents
