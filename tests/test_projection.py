"""The projector: the official recipe (schedule, W noise, noise regularisation) finds the w of an image
the network made itself; the files it writes; the target photo's preparation; the losses."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import facegan
from facegan.cli import main
from facegan.errors import ConfigError
from facegan.generation import seeds_to_z, synthesize
from facegan.networks import DCGANConfig, StyleGAN2Config, build_generator, save_networks
from facegan.projection import (
    LaplacianPyramidLoss,
    ProjectionOptions,
    load_target,
    make_loss,
    project,
)
from facegan.projection.losses import laplacian_pyramid
from facegan.projection.projector import learning_rate, noise_regularization, w_noise_scale

R = 16
FAST = dict(w_avg_samples=1000)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """A tiny StyleGAN2 with its official initialisation (noise strengths 0) and a w to find."""
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=R, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
    path = tmp_path_factory.mktemp("net") / "sg2.safetensors"
    save_networks(path, {"G_ema": build_generator(cfg)}, cfg)
    G = facegan.load(path)
    w = G.mapping(torch.from_numpy(seeds_to_z([7], G.z_dim)).float(), None)
    return path, G, w, synthesize(G, w)[0]


def pixel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def test_projection_finds_the_w_of_an_image_the_network_made(net):
    _, G, w, target = net
    before = {k: v.clone() for k, v in G.state_dict().items()}
    result = project(G, target, LaplacianPyramidLoss(), ProjectionOptions(num_steps=60, **FAST), progress=False)
    assert result.w.shape == (1, G.num_ws, G.w_dim) and result.w_steps.shape == (60, G.num_ws, G.w_dim)
    assert torch.equal(result.w[0], result.w_steps[-1])
    assert (result.w[0] == result.w[0, :1]).all()                       # W: one w broadcast to every layer
    start = synthesize(G, result.w_steps[:1])[0]                           # the first step is w_avg
    projected = synthesize(G, result.w)[0]
    assert pixel_error(projected, target) < 0.05 * pixel_error(start, target)
    assert float((result.w - w).norm() / (result.w_steps[0] - w).norm()) < 0.1
    assert result.distances[-1] < 0.1 * result.distances[0]
    for k, v in G.state_dict().items():                                    # the caller's network is untouched
        assert torch.equal(v, before[k]), k
    assert set(result.noise) == {n for n, _ in G.synthesis.named_buffers() if "noise_const" in n}


def test_w_plus_optimises_one_w_per_layer(net):
    _, G, _, target = net
    result = project(G, target, options=ProjectionOptions(num_steps=20, w_plus=True, **FAST), progress=False)
    assert result.w.shape == (1, G.num_ws, G.w_dim)
    assert not (result.w[0] == result.w[0, :1]).all()
    assert result.distances[-1] < result.distances[0]


def test_projection_runs_on_networks_without_noise_inputs():
    torch.manual_seed(1)
    G = build_generator(DCGANConfig(resolution=8, z_dim=8, ngf=4, ndf=4)).eval()
    target = synthesize(G, torch.randn(1, 1, 8))[0]
    result = project(G, target, options=ProjectionOptions(num_steps=30, **FAST), progress=False)
    assert result.noise == {} and result.distances[-1] < result.distances[0]


def test_the_official_schedule():
    o = ProjectionOptions(num_steps=1000)
    assert learning_rate(0, o) == 0.0                                     # ramp-up starts at zero
    assert learning_rate(25, o) == pytest.approx(0.05)                    # linear over the first 5%
    assert learning_rate(500, o) == pytest.approx(0.1)                    # flat in the middle
    assert learning_rate(875, o) == pytest.approx(0.05)                   # cosine over the last 25%
    assert learning_rate(999, o) < 1e-4
    assert w_noise_scale(0, o, 2.0) == pytest.approx(2.0 * 0.05)
    assert w_noise_scale(375, o, 2.0) == pytest.approx(2.0 * 0.05 * 0.25)  # (1 - t/0.75)^2 at t = 0.375
    assert w_noise_scale(750, o, 2.0) == 0.0
    with pytest.raises(ConfigError):
        ProjectionOptions(num_steps=0)


def test_noise_regularization_penalises_correlated_noise_maps():
    gen = torch.Generator().manual_seed(0)
    white = torch.randn(64, 64, generator=gen)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(1, 1, 68, 68, generator=gen), 5, stride=1)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert float(noise_regularization([white])) < 0.01 * float(noise_regularization([smooth]))
    assert float(noise_regularization([])) == 0.0


def test_laplacian_pyramid_loss():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    bands = laplacian_pyramid(x, 2)
    assert [tuple(b.shape[2:]) for b in bands] == [(32, 32), (16, 16), (8, 8)]
    loss = LaplacianPyramidLoss()
    loss.set_target(x)
    assert loss.levels == 2                                  # stops at an 8x8 residual
    assert float(loss(x)) == 0.0
    darker, shifted = x - 0.2, torch.roll(x, 1, dims=3)
    assert float(loss(darker)) > 0 and float(loss(shifted)) > 0
    assert loss(torch.cat([x, darker])).shape == (2,)


def test_target_photos_are_centre_cropped_and_resized(tmp_path):
    photo = np.zeros((40, 80, 3), np.uint8)
    photo[:, 20:60] = 255                                    # the centre square is white, the sides black
    Image.fromarray(photo).save(tmp_path / "wide.png")
    target = load_target(tmp_path / "wide.png", 16)
    assert target.shape == (16, 16, 3) and target.min() >= 250
    assert load_target(tmp_path / "wide.png", 8, channels=1).shape == (8, 8, 1)
    # A photo stored sideways with an EXIF orientation tag is turned upright.
    tall = np.zeros((80, 40, 3), np.uint8)
    tall[:40] = 255                                          # upright: white top half
    exif = Image.Exif()
    exif[0x0112] = 6                                         # "rotate 90 CW to view"
    Image.fromarray(np.rot90(tall, 1).copy()).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = load_target(tmp_path / "phone.jpg", 8).astype(int)
    assert upright[:3].mean() > 200 and upright[-3:].mean() < 50
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    with pytest.raises(ConfigError, match="not a readable image"):
        load_target(tmp_path / "broken.png", 16)


def test_auto_loss_falls_back_without_the_lpips_weights(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "empty-cache"))
    loss = make_loss("auto")
    assert isinstance(loss, LaplacianPyramidLoss) and "not LPIPS" in caplog.text
    with pytest.raises(ConfigError):
        make_loss("vgg-something")


def test_cli_writes_the_official_files(net, tmp_path):
    path, G, w, target = net
    Image.fromarray(np.repeat(np.repeat(target, 4, axis=0), 4, axis=1)).save(tmp_path / "photo.png")  # 64x64
    code = main(["project", str(tmp_path / "photo.png"), "--network", str(path), "--outdir", str(tmp_path / "p"),
                 "--num-steps", "6", "--video-every", "2", "--loss", "laplacian", "--device", "cpu"])
    assert code == 0
    out = tmp_path / "p"
    assert sorted(p.name for p in out.iterdir()) == ["proj.mp4", "proj.png", "projected_w.npz", "projection.json",
                                                     "target.png"]
    assert np.asarray(Image.open(out / "target.png")).shape == (R, R, 3)
    with np.load(out / "projected_w.npz") as f:
        assert list(f) == ["w"] and f["w"].shape == (1, G.num_ws, G.w_dim) and f["w"].dtype == np.float32
    summary = json.loads((out / "projection.json").read_text())
    assert summary["loss"] == "laplacian" and len(summary["distances"]) == 6
    assert all(math.isfinite(d) for d in summary["distances"])
    import imageio.v2 as imageio

    with imageio.get_reader(out / "proj.mp4") as reader:
        frames = [f for f in reader]
    assert len(frames) == 4 and frames[0].shape == (R, 2 * R, 3)           # steps 0, 2, 4 and the last
    # generate --projected-w renders proj.png again from the npz alone.
    assert main(["generate", "--network", str(path), "--projected-w", str(out / "projected_w.npz"),
                 "--outdir", str(tmp_path / "g"), "--device", "cpu"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g" / "proj00.png")),
                                  np.asarray(Image.open(out / "proj.png")))


def test_cli_errors_are_clear(net, tmp_path, capsys):
    path = str(net[0])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    for args, message in [([], "IMAGE or --target"), ([str(tmp_path / "broken.jpg")], "not a readable image")]:
        assert main(["project", *args, "--network", path, "--outdir", str(tmp_path / "o"), "--num-steps", "1",
                     "--loss", "laplacian"]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
