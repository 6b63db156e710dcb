"""Every generation command works on a network trained the way `make demo` trains one, on an
official stylegan2-ada-pytorch snapshot (and its conversion), and on DCGAN: the files, their sizes
and grid layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import facegan
from facegan.cli import main
from facegan.generation import seeds_to_z
from facegan.interop import convert
from facegan.networks import StyleGAN2Config, build_generator
from interop_fixtures import write_snapshot
from test_generation import dcgan, lively  # noqa: F401  (dcgan is a fixture)
from test_interop import sg2_init_kwargs
from training_helpers import lfw_archive


def cli(*args) -> None:
    code = main([*map(str, args), "--device", "cpu"])
    assert code == 0, f"facegan {' '.join(map(str, args))} exited with {code}"


def image(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def run_every_command(network, out) -> dict[str, np.ndarray]:
    """Run each generation command with small settings; check the files they write and their sizes."""
    G = facegan.load(network)
    R, C = G.img_resolution, G.img_channels

    def shape(rows: int, cols: int) -> tuple[int, ...]:  # of a grid of rows x cols images, as PIL reads it
        return (rows * R, cols * R) if C == 1 else (rows * R, cols * R, C)

    cli("generate", "--network", network, "--seeds", "0-2", "--trunc", "0.7", "--outdir", out / "gen", "--grid")
    names = sorted(p.name for p in (out / "gen").iterdir())
    assert names == ["grid.png", "seed0000.npz", "seed0000.png", "seed0001.npz", "seed0001.png",
                     "seed0002.npz", "seed0002.png"]
    singles = [image(out / "gen" / f"seed{s:04d}.png") for s in range(3)]
    grid = image(out / "gen" / "grid.png")
    assert grid.shape == shape(1, 3)
    for k, single in enumerate(singles):  # the grid's cells are the single images
        np.testing.assert_array_equal(grid[:, k * R:(k + 1) * R], single)

    if G.num_ws > 1:
        cli("style-mix", "--network", network, "--rows", "1,2", "--cols", "3,4,5", "--styles", "coarse",
            "--outdir", out / "mix")
        assert sorted(p.name for p in (out / "mix").iterdir()) == sorted(
            ["grid.png", "1-1.png", "2-2.png", "3-3.png", "4-4.png", "5-5.png",
             "1-3.png", "1-4.png", "1-5.png", "2-3.png", "2-4.png", "2-5.png"])
        mix = image(out / "mix" / "grid.png")
        assert mix.shape == shape(3, 4)
        np.testing.assert_array_equal(mix[2 * R:, 2 * R:3 * R], image(out / "mix" / "2-4.png"))

        cli("noise-figure", "--network", network, "--seeds", "1,2", "--samples", "4", "--outdir", out / "noise")
        assert image(out / "noise" / "noise-components.png").shape == shape(2, 4)
        assert image(out / "noise" / "noise-detail.png").shape == shape(2, 3)

    cli("truncation-sweep", "--network", network, "--seeds", "1,2", "--out", out / "sweep.png")
    assert image(out / "sweep.png").shape == shape(2, 9)

    cli("interpolate", "--network", network, "--seeds", "1,2", "--frames", "3", "--out", out / "walk.gif")
    with Image.open(out / "walk.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (R, R)
    return {"seed0000": singles[0], "grid": grid}


@pytest.fixture(scope="module")
def demo_network(tmp_path_factory):
    """A tiny StyleGAN2 trained a few steps on the LFW faces, as `make demo` trains its network."""
    from facegan.training import resolve_options, train

    d = tmp_path_factory.mktemp("demo")
    data = str(lfw_archive(d / "lfw-subset.zip", 32, 16))
    opts = resolve_options(data, arch="stylegan2", cfg="tiny", outdir=str(d / "runs"), workers=0, batch=8,
                           batch_gpu=8, kimg=0.016, tick_kimg=0.016, snap=1)
    return train(opts, progress=False).run_dir / "network-final.safetensors"


@pytest.mark.slow
def test_every_command_on_a_trained_demo_network(demo_network, tmp_path):
    out = run_every_command(demo_network, tmp_path)
    G = facegan.load(demo_network)
    assert G.img_channels == 1  # the LFW faces are grayscale
    expected = G.run(seeds_to_z([0], G.z_dim), truncation_psi=0.7)[0, :, :, 0]
    assert np.abs(out["seed0000"].astype(int) - expected.astype(int)).max() <= 1


@pytest.fixture(scope="module")
def official_snapshot(tmp_path_factory):
    """A stylegan2-ada-pytorch network-snapshot pickle (official layout, tiny random tensors)."""
    torch.manual_seed(3)
    cfg = StyleGAN2Config(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16,
                          num_fp16_res=2, conv_clamp=256)
    G = lively(build_generator(cfg), 3)
    path = tmp_path_factory.mktemp("official") / "network-snapshot-000100.pkl"
    write_snapshot(path, {"G_ema": G}, sg2_init_kwargs(cfg), "")
    return path


def test_every_command_on_an_official_snapshot_and_its_conversion(official_snapshot, tmp_path):
    from_pickle = run_every_command(official_snapshot, tmp_path / "pkl")
    convert(official_snapshot, tmp_path / "net.safetensors")
    from_converted = run_every_command(tmp_path / "net.safetensors", tmp_path / "st")
    for key in from_pickle:
        np.testing.assert_array_equal(from_pickle[key], from_converted[key])
    for name in ("mix/grid.png", "noise/noise-components.png", "sweep.png"):
        np.testing.assert_array_equal(image(tmp_path / "pkl" / name), image(tmp_path / "st" / name))


def test_every_command_on_dcgan_and_a_clear_error_for_the_noise_figure(dcgan, tmp_path, capsys):  # noqa: F811
    path, _ = dcgan
    run_every_command(path, tmp_path)
    assert main(["noise-figure", "--network", str(path), "--outdir", str(tmp_path / "n")]) != 0
    err = capsys.readouterr().err
    assert "no noise inputs" in err and "Traceback" not in err


def test_generate_options(official_snapshot, tmp_path, capsys):
    net = official_snapshot
    cli("generate", "--network", net, "--seeds", "4", "--trunc", "coarse=0.5,middle=0.7", "--trunc-cutoff", "4",
        "--format", "jpg", "--no-latents", "--noise-mode", "random", "--outdir", tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["seed0004.jpg"]
    with np.load(_latents(net, tmp_path / "b", "--trunc", "coarse=0.5,middle=0.7", "--trunc-cutoff", "4")) as f:
        ws, z = f["ws"], f["z"]
    G = facegan.load(net)
    full = G.mapping(torch.from_numpy(z).float(), None).numpy()
    w_avg = G.w_avg.numpy()
    np.testing.assert_allclose(ws[0, :4], w_avg + 0.5 * (full[0, :4] - w_avg), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ws[0, 4:], full[0, 4:])  # layers from the cutoff on: untruncated
    # --projected-w renders the stored ws: the latents of a generate run reproduce its image.
    np.savez(tmp_path / "projected_w.npz", w=ws)
    cli("generate", "--network", net, "--projected-w", tmp_path / "projected_w.npz", "--outdir", tmp_path / "p")
    np.testing.assert_array_equal(image(tmp_path / "p" / "proj00.png"), image(tmp_path / "b" / "seed0004.png"))
    # Errors are one line, without a traceback.
    for args, message in [(["--outdir", tmp_path / "x"], "--seeds"),
                          (["--seeds", "1", "--trunc", "coarse=x", "--outdir", tmp_path / "x"], "bad truncation")]:
        assert main(["generate", "--network", str(net), *map(str, args)]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def _latents(net, outdir, *flags):
    cli("generate", "--network", net, "--seeds", "4", *flags, "--outdir", outdir)
    return outdir / "seed0004.npz"
