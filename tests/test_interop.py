"""Official network files load without TensorFlow and without running anything from the file:
TensorFlow StyleGAN (v1) pickles and stylegan2-ada-pytorch snapshots built here in their real layouts
from small random tensors (TF StyleGAN2: test_interop_stylegan2_tf.py; hostile files:
test_interop_security.py). Every tensor lands where it belongs, the generated images equal an
independent computation of the official networks to within one grey level, and files of
architectures we do not know are refused with an error naming what is unknown."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import facegan
from facegan.errors import NetworkFormatError
from facegan.generation import seeds_to_z
from facegan.interop import convert, load_any, read_pickle
from facegan.networks import StyleGAN2Config, build_discriminator, build_generator, read_metadata
from interop_fixtures import (
    BUILD_SRC,
    official_modules,
    persistent_tree,
    split_scopes,
    tf_network,
    write_snapshot,
    write_tf_pickle,
)
from test_interop_stylegan2_tf import (
    SPECS,
    assert_images_close,
    generator_network,
    generator_variables,
    to_uint8,
    write_fixture,
)
from test_stylegan1_reference import (
    randomized,
    ref_discriminator,
    ref_generator,
    tf_discriminator_vars,
    tf_generator_vars,
)
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


def v1_networks(G, cfg, name, version=3, drop=(), **extra_kwargs):
    """A G_style network (with its G_mapping and G_synthesis components) in the official layout."""
    v = tf_generator_vars(G)
    for key in drop:
        v.pop(key)
    own, parts = split_scopes(v, {"mapping": "G_mapping", "synthesis": "G_synthesis"})
    own["lod"] = np.float32(0)
    kw = {**v1_kwargs(cfg), **extra_kwargs}
    comps = {"synthesis": tf_network("G_synthesis", "G_synthesis", parts["synthesis"], kw, version),
             "mapping": tf_network("G_mapping", "G_mapping", parts["mapping"], {**kw, "dlatent_broadcast": 18},
                                   version)}
    return tf_network(name, "G_style", own, kw, version, comps), v


def v1_pickle(path, G, D, Gs, cfg, version=3, d_build="D_basic", d_kwargs=None, **extra_kwargs):
    tf_G, _ = v1_networks(G, cfg, "G", version, **extra_kwargs)
    tf_Gs, v = v1_networks(Gs, cfg, "Gs", version, **extra_kwargs)
    tf_D = tf_network("D", d_build, tf_discriminator_vars(D), {**v1_kwargs(cfg), **(d_kwargs or {})}, version)
    write_tf_pickle(path, tf_G, tf_D, tf_Gs)
    return v


def v1_fixture(path, cfg, **extra_kwargs):
    G, Gs = randomized(build_generator(cfg), 1).float(), randomized(build_generator(cfg), 2).float()
    D = randomized(build_discriminator(cfg), 3).float()
    v = v1_pickle(path, G, D, Gs, cfg, **extra_kwargs)
    return path, cfg, G, D, Gs, v


@pytest.fixture(scope="module")
def v1_file(tmp_path_factory):
    return v1_fixture(tmp_path_factory.mktemp("v1") / "karras2019stylegan-tiny.pkl", tiny_v1())


@pytest.fixture(scope="module")
def v1_conditional_file(tmp_path_factory):
    return v1_fixture(tmp_path_factory.mktemp("v1c") / "stylegan-conditional.pkl", tiny_v1(c_dim=3))


def v1_reference(v, cfg, seeds, psi, cutoff, c=None):
    v64 = {k: np.asarray(x, np.float64) for k, x in v.items()}
    images = [ref_generator(v64, cfg, np.random.RandomState(s).randn(1, cfg.z_dim), c=c, psi=psi, cutoff=cutoff)
              for s in seeds]
    return to_uint8(np.concatenate(images))


@pytest.mark.parametrize("name", ["v1_file", "v1_conditional_file"])
def test_stylegan_v1_tf_pickle_loads_every_tensor_without_running_its_source(name, request, tmp_path, monkeypatch):
    path, cfg, G, D, Gs, _ = request.getfixturevalue(name)
    monkeypatch.chdir(tmp_path)  # each network's build_module_src would create a marker file here
    loaded = load_any(path)
    assert loaded.format == "stylegan-tf" and loaded.config == cfg
    assert_state_equal(loaded.networks["G_ema"], Gs)
    assert_state_equal(loaded.networks["G"], G)
    assert_state_equal(loaded.networks["D"], D)
    assert read_pickle(path).obj[2].state["build_module_src"] == BUILD_SRC
    assert not (tmp_path / f"{MARKER}_BY_BUILD_SRC").exists()


def test_stylegan_v1_images_equal_the_official_computation(v1_file):
    path, cfg, _, _, _, v = v1_file
    G = facegan.load(path)
    seeds = [0, 1, 2, 3, 7]
    # The official defaults (pretrained_example.py): psi 0.7 on the first 8 layers; constant noise.
    ours = G.run(seeds_to_z(seeds, cfg.z_dim), truncation_psi=0.7)
    assert_images_close(ours, v1_reference(v, cfg, seeds, 0.7, 8))
    ours = G.run(seeds_to_z(seeds, cfg.z_dim), truncation_psi=0.5, truncation_cutoff=2)
    assert_images_close(ours, v1_reference(v, cfg, seeds, 0.5, 2))


def test_stylegan_v1_conditional_images_and_scores_equal_the_official_computation(v1_conditional_file):
    path, cfg, _, D, _, v = v1_conditional_file
    c = np.eye(3)[[2]]
    ours = facegan.load(path).run(seeds_to_z([4], cfg.z_dim), labels=2, truncation_psi=0.7)
    assert_images_close(ours, v1_reference(v, cfg, [4], 0.7, 8, c))
    images = np.random.default_rng(0).standard_normal((4, 3, 16, 16))
    labels = np.eye(3)[[0, 2, 1, 2]]
    expected = ref_discriminator({k: np.asarray(x, np.float64) for k, x in tf_discriminator_vars(D).items()}, cfg,
                                 images, c=labels)
    with torch.no_grad():
        got = facegan.load(path, which="D")(torch.tensor(images, dtype=torch.float32),
                                            torch.tensor(labels, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_a_v1_truncation_cutoff_of_none_means_no_truncation(tmp_path):
    """G_style: truncation_cutoff None (or <= 0) turns truncation off."""
    path, cfg, *_ = v1_fixture(tmp_path / "nocut.pkl", tiny_v1(), truncation_cutoff=None)
    G = facegan.load(path)
    assert G.config.truncation_cutoff == 0
    z = seeds_to_z([1], cfg.z_dim)
    np.testing.assert_array_equal(G.run(z, truncation_psi=0.5), G.run(z, truncation_psi=1.0))


def test_the_stylegan2_codes_config_a_is_a_v1_network(tmp_path):
    """StyleGAN2's config A is the StyleGAN (v1) network pickled by the StyleGAN2 code (version 4)."""
    path, cfg, _, _, Gs, _ = v1_fixture(tmp_path / "stylegan2-ffhq-config-a.pkl", tiny_v1(), version=4)
    loaded = load_any(path)
    assert loaded.format == "stylegan-tf" and loaded.config == cfg
    assert_state_equal(loaded.networks["G_ema"], Gs)


# -- architectures we do not know are named, not guessed --------------------------------------

@pytest.fixture(scope="module")
def v1_parts():
    cfg = tiny_v1()
    return cfg, randomized(build_generator(cfg), 1).float(), randomized(build_discriminator(cfg), 3).float()


def test_a_missing_variable_is_named(tmp_path, v1_parts):
    cfg, G, D = v1_parts
    net, _ = v1_networks(G, cfg, "Gs", drop=["G_synthesis/8x8/Conv1/StyleMod/weight"])
    write_tf_pickle(tmp_path / "m.pkl", net, tf_network("D", "D_basic", tf_discriminator_vars(D), v1_kwargs(cfg), 3),
                    net)
    with pytest.raises(NetworkFormatError, match="no variable 'G_synthesis/8x8/Conv1/StyleMod/weight'"):
        facegan.load(tmp_path / "m.pkl")


def test_an_unknown_kwarg_is_refused_by_name(tmp_path, v1_parts):
    cfg, G, D = v1_parts
    v1_pickle(tmp_path / "k.pkl", G, D, G, cfg, resolution_w=512)
    with pytest.raises(NetworkFormatError, match="unknown TensorFlow kwarg 'resolution_w'"):
        facegan.load(tmp_path / "k.pkl")


def test_kwargs_that_do_not_describe_the_variables_are_named(tmp_path, v1_parts):
    cfg, G, D = v1_parts
    v1_pickle(tmp_path / "k.pkl", G, D, G, cfg, fmap_max=8, d_kwargs=dict(fmap_max=8))
    with pytest.raises(NetworkFormatError, match=r"variable 'G_synthesis/4x4/Const/const' has shape \[1, 16, 4, 4\]"):
        facegan.load(tmp_path / "k.pkl")


@pytest.mark.parametrize("d_build,message", [
    ("D_paper", "build function 'D_paper' is not a StyleGAN \\(v1\\) discriminator"),
    ("D_basic_custom", "'D_basic_custom'"),
])
def test_an_unknown_build_function_is_named(tmp_path, v1_parts, d_build, message):
    cfg, G, D = v1_parts
    v1_pickle(tmp_path / "b.pkl", G, D, G, cfg, d_build=d_build)
    with pytest.raises(NetworkFormatError, match=message):
        facegan.load(tmp_path / "b.pkl")


@pytest.mark.parametrize("build,version,message", [
    ("G_main", 3, "unknown build function 'G_main' for a version-3"),
    ("G_style", 5, "unknown build function 'G_style' for a version-5"),
    ("G_main", 6, "unknown version 6"),
    ("G_paper", 2, "Progressive GAN network"),
    ("G_custom", 4, "unknown build function 'G_custom'"),
])
def test_unknown_families_and_versions_are_named(tmp_path, build, version, message):
    net = tf_network("Gs", build, {}, {}, version)
    write_tf_pickle(tmp_path / "f.pkl", net, tf_network("D", "D_basic", {}, {}, version), net)
    with pytest.raises(NetworkFormatError, match=message):
        facegan.load(tmp_path / "f.pkl")


def stylegan2_tf_variant(tmp_path, name="config-f", **changes):
    spec = {**SPECS[name], **changes}
    path = tmp_path / "variant.pkl"
    write_fixture(path, spec, seed=0)
    return path


@pytest.mark.parametrize("changes,message", [
    (dict(synthesis="G_synthesis_custom"), "synthesis build function 'G_synthesis_custom'"),
    (dict(D="D_custom"), "build function 'D_custom' is not a StyleGAN2 discriminator"),
    (dict(G={**SPECS["config-f"]["G"], "resolution_w": 512}), "unknown TensorFlow kwarg 'resolution_w'"),
    (dict(G={**SPECS["config-f"]["G"], "nonlinearity": "relu"}), "nonlinearity 'relu' is not supported"),
    (dict(G={**SPECS["config-f"]["G"], "fmap_min": 8}), "fmap_min 8"),
    (dict(G={**SPECS["config-f"]["G"], "synthesis_func": "G_synthesis_stylegan_revised"}),
     "synthesis_func='G_synthesis_stylegan_revised' disagrees"),
    (dict(D_kw={**SPECS["config-f"]["D_kw"], "use_spectral_norm": True}), "comparison method"),
    (dict(D_kw={**SPECS["config-f"]["D_kw"], "score_max": 5}), "auxrot"),
    (dict(D_kw={**SPECS["config-f"]["D_kw"], "fmap_base": 64}), "G and D disagree on channel_base"),
])
def test_stylegan2_tf_variants_we_do_not_know_are_named(tmp_path, changes, message):
    with pytest.raises(NetworkFormatError, match=message):
        facegan.load(stylegan2_tf_variant(tmp_path, **changes))


def test_a_missing_stylegan2_variable_is_named(tmp_path):
    spec = SPECS["config-f"]
    v = generator_variables(np.random.default_rng(0), spec["G"], spec["synthesis"])
    v.pop("synthesis/8x8/Conv0_up/mod_bias")
    G = generator_network("Gs", v, spec)
    write_tf_pickle(tmp_path / "m.pkl", G, tf_network("D", spec["D"], {}, spec["D_kw"], 4), G)
    with pytest.raises(NetworkFormatError, match="no variable 'synthesis/8x8/Conv0_up/mod_bias'"):
        facegan.load(tmp_path / "m.pkl")


def test_a_conditional_generator_of_the_original_stylegan2_code_is_refused(tmp_path):
    """The original TF StyleGAN2 concatenates labels before normalising (LabelConcat); the ADA code and
    ours embed them. No official network is like that; such a file is refused, not misread."""
    spec = SPECS["config-f"]
    v = generator_variables(np.random.default_rng(0), spec["G"], spec["synthesis"])
    v["mapping/LabelConcat/weight"] = np.ones((2, 16), np.float32)
    G = generator_network("Gs", v, spec, kw={**spec["G"], "label_size": 2})
    write_tf_pickle(tmp_path / "c.pkl", G, tf_network("D", "D_stylegan2", {}, {**spec["D_kw"], "label_size": 2}, 4), G)
    with pytest.raises(NetworkFormatError, match="LabelConcat"):
        facegan.load(tmp_path / "c.pkl")


# -- stylegan2-ada-pytorch snapshots ------------------------------------------------------------

EVIL_SRC = f"import pathlib\npathlib.Path({MARKER!r}).touch()\n"


def randomize(net, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if "resample_filter" not in name:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.5 + (1.0 if name.endswith("affine.bias") else 0.0))
    return net


def sg2_init_kwargs(cfg, flat=False):
    """Constructor arguments as stylegan2-ada-pytorch's train.py records them (stylegan3's copy: flat)."""
    synthesis = dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=2, conv_clamp=256)
    G = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
             img_channels=cfg.img_channels, mapping_kwargs=dict(num_layers=cfg.mapping_layers))
    G.update(synthesis if flat else dict(synthesis_kwargs=synthesis))
    D = dict(c_dim=cfg.c_dim, img_resolution=cfg.resolution, img_channels=cfg.img_channels,
             architecture="resnet", channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=2,
             conv_clamp=256, block_kwargs={}, mapping_kwargs={}, epilogue_kwargs=dict(mbstd_group_size=4))
    return {"G": G, "G_ema": G, "D": D}


def snapshot_config(c_dim):
    return StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16,
                           c_dim=c_dim, num_fp16_res=2, conv_clamp=256)


def test_stylegan2_ada_pytorch_snapshot_loads_without_running_its_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = snapshot_config(c_dim=3)
    nets = {"G": randomize(build_generator(cfg), 1), "D": randomize(build_discriminator(cfg), 2),
            "G_ema": randomize(build_generator(cfg), 3)}
    aug = torch.nn.Module()
    aug.register_buffer("p", torch.tensor(0.3))
    with official_modules():
        extra = {"augment_pipe": persistent_tree(aug, "AugmentPipe", EVIL_SRC)}
    path = tmp_path / "network-snapshot-000120.pkl"
    write_snapshot(path, nets, sg2_init_kwargs(cfg), EVIL_SRC, extra=extra)
    loaded = load_any(path)
    assert loaded.format == "stylegan2-ada-pytorch" and loaded.config == cfg
    for name, net in nets.items():
        assert_state_equal(loaded.networks[name], net)
    z = seeds_to_z([0, 1], 16)
    np.testing.assert_array_equal(facegan.load(path).run(z, labels=2), nets["G_ema"].run(z, labels=2))
    # What else the snapshot records travels into the converted file.
    convert(path, tmp_path / "net.safetensors")
    meta = read_metadata(tmp_path / "net.safetensors")
    assert float(meta["augment_p"]) == pytest.approx(0.3)
    assert json.loads(meta["training_set_kwargs"])["path"] == "ffhq.zip"
    assert not (tmp_path / MARKER).exists()


def test_snapshot_images_equal_an_independent_computation(tmp_path):
    cfg = snapshot_config(c_dim=0)
    G = randomize(build_generator(cfg), 4)
    with torch.no_grad():  # keep the images inside the grey range, where the comparison means something
        for block in G.synthesis.children():
            block.torgb.weight.mul_(0.2)
    path = tmp_path / "network-snapshot-000000.pkl"
    write_snapshot(path, {"G_ema": G}, sg2_init_kwargs(cfg), EVIL_SRC)
    seeds = [0, 1, 2, 3, 7]
    ours = facegan.load(path).run(seeds_to_z(seeds, 16), truncation_psi=0.7)
    sd = G.state_dict()
    expected = to_uint8(np.stack([reference_generator(sd, cfg, np.random.RandomState(s).randn(16), 0.7)
                                  for s in seeds]))
    assert_images_close(ours, expected)


def test_a_stylegan3_codes_stylegan2_snapshot_loads_with_its_defaults(tmp_path):
    """stylegan3's `--cfg=stylegan2` records the synthesis arguments flat; its defaults differ."""
    cfg = snapshot_config(c_dim=0)
    nets = {"G_ema": randomize(build_generator(cfg), 1), "D": randomize(build_discriminator(cfg), 2)}
    kwargs = sg2_init_kwargs(cfg, flat=True)
    del kwargs["G"]["num_fp16_res"], kwargs["G"]["conv_clamp"], kwargs["D"]["num_fp16_res"], kwargs["D"]["conv_clamp"]
    kwargs["G"]["fused_modconv_default"] = "inference_only"
    write_snapshot(tmp_path / "sg3.pkl", nets, kwargs, "")
    loaded = load_any(tmp_path / "sg3.pkl")
    assert (loaded.config.num_fp16_res, loaded.config.conv_clamp, loaded.config.w_avg_beta) == (3, 256, 0.998)
    assert_state_equal(loaded.networks["G_ema"], nets["G_ema"])


def test_a_malformed_stylegan3_network_is_refused_naming_what_is_missing(tmp_path):
    G = torch.nn.Module()
    G.synthesis = torch.nn.Module()
    G.synthesis.input = torch.nn.Linear(2, 2)
    kwargs = dict(z_dim=2, c_dim=0, w_dim=2, img_resolution=16, img_channels=3, channel_base=64)
    write_snapshot(tmp_path / "sg3-t.pkl", {"G_ema": G}, {"G_ema": kwargs}, "")
    with pytest.raises(NetworkFormatError, match="missing"):
        facegan.load(tmp_path / "sg3-t.pkl")


@pytest.mark.parametrize("where,key", [("G", "mapping_kwargs"), ("G", "synthesis_kwargs"), ("D", "epilogue_kwargs")])
def test_an_unknown_constructor_argument_is_named(tmp_path, where, key):
    cfg = snapshot_config(c_dim=0)
    nets = {"G_ema": build_generator(cfg), "D": build_discriminator(cfg)}
    kwargs = sg2_init_kwargs(cfg)
    target = kwargs["G_ema" if where == "G" else "D"]
    target[key] = {**target.get(key, {}), "magnitude_ema_beta": 0.5}
    write_snapshot(tmp_path / "x.pkl", nets, kwargs, "")
    with pytest.raises(NetworkFormatError, match="unknown constructor argument 'magnitude_ema_beta'"):
        facegan.load(tmp_path / "x.pkl")


# -- conversion to our format -----------------------------------------------------------------

@pytest.fixture(scope="module")
def v2_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("v2") / "stylegan2-tiny-config-f.pkl"
    write_fixture(path, SPECS["config-f"], seed=0)
    return path


def test_convert_writes_g_d_and_g_ema_with_provenance(v2_file, tmp_path):
    report = convert(v2_file, tmp_path / "net.safetensors")
    assert report.format == "stylegan2-tf" and list(report.networks) == ["G", "D", "G_ema"]
    meta = read_metadata(tmp_path / "net.safetensors")
    assert meta["source"] == v2_file.name and meta["source_format"] == "stylegan2-tf"
    assert meta["source_sha256"] == report.sha256 and len(report.sha256) == 64
    original = load_any(v2_file)
    z = seeds_to_z([5, 6], 16)
    np.testing.assert_array_equal(facegan.load(tmp_path / "net.safetensors").run(z), facegan.load(v2_file).run(z))
    for name in ("G", "D", "G_ema"):
        assert_state_equal(facegan.load(tmp_path / "net.safetensors", which=name), original.networks[name])


def test_convert_refuses_a_safetensors_source(v2_file, tmp_path):
    convert(v2_file, tmp_path / "a.safetensors")
    with pytest.raises(NetworkFormatError, match="already"):
        convert(tmp_path / "a.safetensors", tmp_path / "b.safetensors")


def test_which_must_name_a_network(v2_file):
    with pytest.raises(facegan.FaceganError, match="G_ema, G or D"):
        facegan.load(v2_file, which="Gs")


def run_python(*args):
    """A fresh interpreter with this one's import path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_convert_reports_what_it_found_and_loads_nothing_of_nvidias(v1_file, tmp_path):
    """A fresh interpreter: converting and loading import neither dnnlib nor torch_utils."""
    path = v1_file[0]
    out = run_python("-m", "facegan", "convert", str(path), str(tmp_path / "v1.safetensors"))
    assert out.returncode == 0, out.stderr
    assert "StyleGAN (v1) TensorFlow pickle" in out.stdout and "16x16" in out.stdout
    for name in ("G", "D", "G_ema"):
        assert f"{name} (" in out.stdout
    assert (tmp_path / "v1.safetensors").exists()
    check = ("import sys, facegan; facegan.load(sys.argv[1]); "
             "assert not [m for m in sys.modules if m.split('.')[0] in ('dnnlib', 'torch_utils')]")
    out = run_python("-c", check, str(path))
    assert out.returncode == 0, out.stderr


def test_cli_convert_prints_errors_without_a_traceback(tmp_path, capsys):
    from facegan.cli import main

    bad = tmp_path / "ffhq.pkl"
    bad.write_text("<html>quota exceeded</html>")
    assert main(["convert", str(bad), str(tmp_path / "x.safetensors")]) != 0
    err = capsys.readouterr().err
    assert "HTML page" in err and "Traceback" not in err
    assert not (tmp_path / "x.safetensors").exists()


def test_a_file_without_g_ema_gives_its_g(tmp_path):
    from facegan.networks import save_networks

    cfg = snapshot_config(c_dim=0)
    G = randomize(build_generator(cfg), 7)
    write_snapshot(tmp_path / "g-only.pkl", {"G": G}, sg2_init_kwargs(cfg), "")
    save_networks(tmp_path / "g-only.safetensors", {"G": G}, cfg)
    for path in (tmp_path / "g-only.pkl", tmp_path / "g-only.safetensors"):
        assert_state_equal(facegan.load(path), G)
        with pytest.raises(NetworkFormatError, match="holds no D network"):
            facegan.load(path, which="D")
