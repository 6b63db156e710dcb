"""Generators out as ONNX: onnxruntime on the CPU draws what PyTorch draws (within one grey level) for
every architecture, the mapping and synthesis graphs give ws and images on their own, and options
outside the graph are refused before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facegan.cli import main
from facegan.interop.export import ExportError, export
from facegan.networks import build_discriminator, build_generator, save_networks
from facegan.networks.dcgan import DCGANConfig
from test_export import randomized, tiny_sg2, tiny_v1

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CONFIGS = {
    "stylegan2-conditional": tiny_sg2(c_dim=3, g_architecture="resnet"),
    "stylegan-v1": tiny_v1(),
    "dcgan": DCGANConfig(resolution=16, z_dim=8, ngf=4, ndf=4),
}
SLOW = {"stylegan2-conditional", "stylegan-v1"}  # the exporter traces them for 10-25 s on a 2-core CPU


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about the CastLike nodes it cannot constant-fold
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feeds(G, seeds, psi, labels=None):
    z = np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]).astype(np.float32)
    out = {"z": z, "psi": np.array(psi, np.float32)}
    if G.c_dim:
        out["c"] = np.eye(G.c_dim, dtype=np.float32)[labels]
    return out


def assert_within_one_grey_level(got, expected):
    assert got.shape == expected.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert ((expected > 0) & (expected < 255)).mean() > 0.3, "the fixture saturates: a weak test"


@pytest.fixture(scope="module", params=[pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in CONFIGS])
def generator_graph(request, tmp_path_factory):
    G = randomized(build_generator(CONFIGS[request.param]), 1)
    if request.param == "stylegan-v1":
        with torch.no_grad():  # a flat map into the first instance norm: var 0, only its eps keeps it finite
            G.synthesis.b4.const[0] = 0.3
            G.synthesis.b4.conv0.noise_strength[0] = 0
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    report = export(G, path, format="onnx")
    return G, path, report


@pytest.mark.parametrize("seeds,psi", [([0], 1.0), ([1, 2, 3, 4, 5], 0.7), ([6, 7], -0.5)])
def test_onnxruntime_draws_what_pytorch_draws(generator_graph, seeds, psi):
    G, path, _ = generator_graph
    labels = [i % max(G.c_dim, 1) for i in range(len(seeds))]
    got = session(path).run(None, feeds(G, seeds, psi, labels))[0]
    expected = G.run(feeds(G, seeds, psi)["z"], labels=labels if G.c_dim else None, truncation_psi=psi)
    assert_within_one_grey_level(got, expected)


def test_the_graph_says_what_it_takes_and_gives(generator_graph):
    G, path, report = generator_graph
    s = session(path)
    inputs = {i.name: i.shape for i in s.get_inputs()}
    expected = {"z": [G.z_dim], "psi": []} | ({"c": [G.c_dim]} if G.c_dim else {})
    assert {k: v[1:] if v else v for k, v in inputs.items()} == expected
    assert isinstance(inputs["z"][0], str)  # the batch size is free
    out = s.get_outputs()[0]
    assert out.name == "img" and out.type == "tensor(uint8)" and out.shape[1:] == [16, 16, 3]
    assert report.format == "onnx" and "uint8 NHWC" in report.contents


@pytest.mark.slow
def test_mapping_and_synthesis_export_on_their_own(tmp_path):
    G = randomized(build_generator(tiny_sg2()), 2)
    export(G, tmp_path / "mapping.onnx", format="onnx", part="mapping", truncation_cutoff=3)
    export(G, tmp_path / "synthesis.onnx", format="onnx", part="synthesis", output="float", noise_mode="none")
    inputs = feeds(G, [0, 1, 2], 0.6)
    ws = session(tmp_path / "mapping.onnx").run(None, inputs)[0]
    with torch.no_grad():
        expected_ws = G.mapping(torch.from_numpy(inputs["z"]), None, truncation_psi=0.6, truncation_cutoff=3)
        expected_img = G.synthesis(expected_ws, noise_mode="none")
    np.testing.assert_allclose(ws, expected_ws.numpy(), rtol=1e-5, atol=1e-5)
    img = session(tmp_path / "synthesis.onnx").run(None, {"ws": expected_ws.numpy()})[0]
    assert img.dtype == np.float32 and img.shape == (3, 3, 16, 16)
    assert np.abs(img - expected_img.numpy()).max() < 1 / 127.5  # under one grey level
    with torch.no_grad():
        with_noise = G.synthesis(expected_ws, noise_mode="const")
    assert np.abs(img - with_noise.numpy()).max() > 0.01  # 'none' really leaves the noise out


@pytest.mark.parametrize("options,message", [
    (dict(part="discriminator"), "part must be one of generator, mapping, synthesis"),
    (dict(output="uint16"), "output must be one of uint8, float"),
    (dict(noise_mode="random"), "noise_mode must be one of const, none"),
    (dict(truncation_cutoff=99), "truncation_cutoff must be an integer from 0 to 6"),
    (dict(part="synthesis", truncation_cutoff=2), "truncation_cutoff belongs to the mapping"),
    (dict(part="mapping", output="float"), "output applies to images"),
    (dict(opset=9), "opset must be an integer >= 18"),
])
def test_options_outside_the_graph_are_refused_before_writing(tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        export(build_generator(tiny_sg2()), tmp_path / "g.onnx", format="onnx", **options)
    assert list(tmp_path.iterdir()) == []


def test_facegan_export_writes_an_onnx_generator(tmp_path, capsys):
    cfg = CONFIGS["dcgan"]
    G = randomized(build_generator(cfg), 3)
    save_networks(tmp_path / "dcgan.safetensors", {"G": G, "D": build_discriminator(cfg)}, cfg)
    assert main(["export", str(tmp_path / "dcgan.safetensors"), str(tmp_path / "dcgan.onnx"), "--format", "onnx"]) == 0
    assert "dcgan generator: z, psi -> img" in capsys.readouterr().out
    got = session(tmp_path / "dcgan.onnx").run(None, feeds(G, [3, 4], 0.8))[0]
    assert_within_one_grey_level(got, G.run(feeds(G, [3, 4], 0.8)["z"], truncation_psi=0.8))
    assert main(["export", str(tmp_path / "dcgan.safetensors"), str(tmp_path / "mapping.onnx"), "--format", "onnx",
                 "--part", "mapping"]) == 0
    ws = session(tmp_path / "mapping.onnx").run(None, feeds(G, [3], 0.8))[0]
    w_avg = G.w_avg.numpy()
    np.testing.assert_allclose(ws[:, 0], w_avg + 0.8 * (feeds(G, [3], 0.8)["z"] - w_avg), rtol=1e-5)  # DCGAN: w = z


def test_facegan_export_refuses_an_onnx_option_for_the_nvidia_format(tmp_path, capsys):
    cfg = tiny_sg2()
    save_networks(tmp_path / "n.safetensors", {"G": build_generator(cfg), "D": build_discriminator(cfg)}, cfg)
    assert main(["export", str(tmp_path / "n.safetensors"), str(tmp_path / "n.pkl"), "--format", "nvidia",
                 "--part", "mapping"]) != 0
    assert capsys.readouterr().err.startswith("error: the nvidia format takes no options (got part)")
    assert not (tmp_path / "n.pkl").exists()
