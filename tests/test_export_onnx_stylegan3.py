"""StyleGAN3 generators out as ONNX (impossible with NVIDIA's code, whose custom CUDA ops do not
export): onnxruntime draws what PyTorch draws for -T and -R, with the graph's optional translate and
rotate inputs left at their defaults or fed, as gen_images.py's --translate/--rotate move the image;
the file passes onnx.checker; `facegan export` writes one from an official-layout snapshot; bad
input is refused in one line before anything is written."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import facegan
from facegan.cli import main
from facegan.errors import ConfigError
from facegan.interop.export import ExportError, export
from facegan.networks import build_generator
from facegan.networks.stylegan3 import get_transform, inverse_transform, make_transform, set_transform
from stylegan3_fixtures import randomized, tiny_config, write_sg3_snapshot
from test_export import tiny_sg2

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

TOLERANCE = 1e-5  # float32 images in about [-1, 1]: the two runtimes differ by rounding alone (~3e-7 seen)


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings about the overridable translate/rotate initializers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latents(G, seeds):
    return np.concatenate([np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]).astype(np.float32)


def pytorch_images(G, z, psi):
    with torch.no_grad():
        return G(torch.from_numpy(z), None, truncation_psi=psi).numpy()


def moved(G, translate, rotate):
    """A copy of G with its transform buffer set as gen_images.py sets it."""
    import copy

    G = copy.deepcopy(G)
    set_transform(G, translate, rotate)
    return G


# ---------------------------------------------------------------------------------------------
# The pieces, without exporting (fast).

@pytest.mark.parametrize("translate,rotate", [((0.0, 0.0), 0.0), ((0.3, -0.2), 17.0), ((1.5, 2.0), -200.0)])
def test_the_graphs_transform_is_the_inverse_that_gen_images_writes(translate, rotate):
    got = inverse_transform(torch.tensor(translate, dtype=torch.float64), torch.tensor(rotate, dtype=torch.float64))
    np.testing.assert_allclose(got.numpy(), np.linalg.inv(make_transform(translate, rotate)), atol=1e-12)


def test_get_transform_reads_back_what_set_transform_wrote():
    G = randomized(tiny_config(resolution=16), 0)
    assert get_transform(G) == ((0.0, 0.0), 0.0)
    set_transform(G, (0.25, -0.1), 45)
    (tx, ty), angle = get_transform(G)
    assert (tx, ty, angle) == pytest.approx((0.25, -0.1, 45), abs=1e-5)
    with torch.no_grad():
        G.synthesis.input.transform[0, 1] += 0.5  # a shear: no translate and rotate describe it
    with pytest.raises(ConfigError, match="not a rotation and a translation"):
        get_transform(G)


@pytest.mark.parametrize("cfg", ["stylegan3-t", "stylegan3-r"])
def test_the_traced_form_of_the_layers_draws_what_the_eager_form_draws(cfg, monkeypatch):
    """What the exporter traces: modulated convs as scaled activations + one convolution, filtered
    lrelu as convolutions without channel chunks (torch.compiler.is_compiling() is True then)."""
    G = randomized(tiny_config(cfg, 16), 2)
    z = torch.from_numpy(latents(G, [0, 1, 2]))
    with torch.no_grad():
        eager = G(z, None, truncation_psi=0.8)
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        traced = G(z, None, truncation_psi=0.8)
    assert (eager - traced).abs().max() < 1e-5
    assert eager.abs().max() > 0.3  # images, not a flat field


@pytest.mark.parametrize("options,message", [
    (dict(translate=(0.1, 0.0)), "translate and rotate apply to StyleGAN3 networks only"),
    (dict(rotate=10), "translate and rotate apply to StyleGAN3 networks only"),
])
def test_translate_and_rotate_are_refused_for_earlier_stylegans(tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        export(build_generator(tiny_sg2()), tmp_path / "g.onnx", format="onnx", **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options,message", [
    (dict(part="mapping", rotate=10), "translate and rotate belong to the synthesis"),
    (dict(translate=(math.nan, 0.0)), "translate must be two finite numbers"),
    (dict(translate=(0.1,)), "translate must be two finite numbers"),
    (dict(rotate=math.inf), "rotate must be a finite number of degrees"),
    (dict(rotate="10"), "rotate must be a finite number of degrees"),
])
def test_bad_transform_options_are_refused_before_writing(tmp_path, options, message):
    G = randomized(tiny_config(resolution=16), 0)
    with pytest.raises(ExportError, match=message):
        export(G, tmp_path / "g.onnx", format="onnx", **options)
    assert list(tmp_path.iterdir()) == []


def test_a_sheared_transform_buffer_is_refused_unless_replaced(tmp_path):
    G = randomized(tiny_config(resolution=16), 0)
    with torch.no_grad():
        G.synthesis.input.transform[0, 1] = 0.5
    with pytest.raises(ExportError, match="not a rotation and a translation .*; give both translate and rotate"):
        export(G, tmp_path / "g.onnx", format="onnx")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Exported graphs (the exporter traces a tiny StyleGAN3 for 10-20 s on a 2-core CPU: slow).

@pytest.fixture(scope="module", params=["stylegan3-t", "stylegan3-r"])
def generator_graph(request, tmp_path_factory):
    G = randomized(tiny_config(request.param, 16), 1)
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    report = export(G, path, format="onnx", output="float")
    return G, path, report


@pytest.mark.slow
def test_onnxruntime_draws_what_pytorch_draws_for_t_and_r(generator_graph):
    G, path, _ = generator_graph
    s = session(path)
    for seeds, psi in (([0], 1.0), ([1, 2, 3], 0.7)):
        z = latents(G, seeds)
        got = s.run(None, {"z": z, "psi": np.array(psi, np.float32)})[0]
        expected = pytorch_images(G, z, psi)
        assert got.shape == expected.shape == (len(seeds), 3, 16, 16)
        assert np.abs(got - expected).max() < TOLERANCE
        assert np.abs(expected).max() > 0.3  # images, not a flat field


@pytest.mark.slow
def test_the_translate_and_rotate_inputs_move_the_image_as_gen_images_does(generator_graph):
    G, path, _ = generator_graph
    z = latents(G, [4, 5])
    psi = np.array(0.7, np.float32)
    for translate, rotate in (((0.25, -0.1), 45.0), ((0.0, 0.3), 0.0), ((0.0, 0.0), -90.0)):
        got = session(path).run(None, {"z": z, "psi": psi, "translate": np.array(translate, np.float32),
                                       "rotate": np.array(rotate, np.float32)})[0]
        expected = pytorch_images(moved(G, translate, rotate), z, 0.7)
        assert np.abs(got - expected).max() < TOLERANCE
        assert np.abs(expected - pytorch_images(G, z, 0.7)).mean() > 0.01  # the image really moved


@pytest.mark.slow
def test_the_graph_passes_the_checker_and_says_what_it_takes(generator_graph):
    G, path, report = generator_graph
    onnx.checker.check_model(str(path), full_check=True)
    s = session(path)
    assert {i.name: i.shape[1:] for i in s.get_inputs()} == {"z": [G.z_dim], "psi": []}  # as every architecture
    assert {i.name: i.shape for i in s.get_overridable_initializers()} == {"translate": [2], "rotate": []}
    assert s.get_outputs()[0].name == "img" and s.get_outputs()[0].type == "tensor(float)"
    assert "stylegan3 generator: z, psi, translate, rotate -> img (float32)" in report.contents
    assert any("optional inputs translate [2] (default 0,0) and rotate [] (default 0 degrees)" in n
               for n in report.notes)


@pytest.mark.slow
def test_every_convolution_keeps_the_channels_as_channels(generator_graph):
    """No convolution of the graph runs on channels folded into the batch ([N C, 1, H, W], as the
    eager path filters small tensors): onnxruntime's blocked layout pads such a convolution's single
    channel to 8 or 16, and a 256² StyleGAN3-T image took 8 GB. Filters run depthwise (groups = C)."""
    _, path, _ = generator_graph
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    dims = {v.name: v.type.tensor_type.shape.dim for v in [*model.graph.value_info, *model.graph.input]}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    assert len(convs) > 10  # the modulated convs and the filters
    for node in convs:
        n, c = dims[node.input[0]][:2]
        assert n.dim_param == "batch" and c.dim_value > 1, (node.name, n, c)


@pytest.mark.slow
def test_the_synthesis_graph_defaults_to_the_networks_own_transform(tmp_path):
    G = moved(randomized(tiny_config("stylegan3-r", 16), 3), (0.1, 0.2), 30)
    report = export(G, tmp_path / "synthesis.onnx", format="onnx", part="synthesis", output="float")
    assert any("default 0.1,0.2" in n and "default 30 degrees" in n for n in report.notes)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(latents(G, [6, 7])), None, truncation_psi=0.5)
        expected = G.synthesis(ws).numpy()
    s = session(tmp_path / "synthesis.onnx")
    got = s.run(None, {"ws": ws.numpy()})[0]
    assert np.abs(got - expected).max() < TOLERANCE
    unmoved = s.run(None, {"ws": ws.numpy(), "translate": np.zeros(2, np.float32), "rotate": np.array(0, np.float32)})
    with torch.no_grad():
        G.synthesis.input.transform.copy_(torch.eye(3))
        assert np.abs(unmoved[0] - G.synthesis(ws).numpy()).max() < TOLERANCE


# ---------------------------------------------------------------------------------------------
# The command line.

@pytest.mark.slow
def test_facegan_export_writes_an_official_stylegan3_snapshot_as_onnx(tmp_path, capsys):
    snapshot = tmp_path / "stylegan3-t-tiny.pkl"
    write_sg3_snapshot(snapshot, tiny_config("stylegan3-t", 16), with_d=False)
    out = tmp_path / "sg3.onnx"
    assert main(["export", str(snapshot), str(out), "--format", "onnx", "--translate", "0.2,0", "--rotate", "10"]) == 0
    printed = capsys.readouterr().out
    assert "stylegan3 generator: z, psi, translate, rotate -> img (uint8 NHWC)" in printed
    assert "default 0.2,0" in printed and "default 10 degrees" in printed
    G = facegan.load(snapshot)
    z = latents(G, [8, 9, 10])
    got = session(out).run(None, {"z": z, "psi": np.array(0.6, np.float32)})[0]
    expected = moved(G, (0.2, 0.0), 10).run(z, truncation_psi=0.6)
    assert got.dtype == np.uint8 and got.shape == expected.shape == (3, 16, 16, 3)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert ((expected > 0) & (expected < 255)).mean() > 0.3, "the fixture saturates: a weak test"


def test_facegan_export_refuses_translate_for_a_stylegan2_network_in_one_line(tmp_path, capsys):
    from web_helpers import build_network

    net = build_network(tmp_path / "sg2.safetensors", "stylegan2", 16)
    code = main(["export", str(net), str(tmp_path / "g.onnx"), "--format", "onnx", "--rotate", "10"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: translate and rotate apply to StyleGAN3")
    assert not (tmp_path / "g.onnx").exists()


def test_facegan_export_refuses_a_malformed_translate_in_one_line(tmp_path, capsys):
    snapshot = tmp_path / "sg3.pkl"
    write_sg3_snapshot(snapshot, tiny_config("stylegan3-t", 16), with_d=False)
    code = main(["export", str(snapshot), str(tmp_path / "g.onnx"), "--format", "onnx", "--translate", "0.2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "expected two numbers X,Y" in err
    assert not (tmp_path / "g.onnx").exists()
