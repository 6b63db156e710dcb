"""Every generation command on a tiny StyleGAN3 (official-layout snapshot, 16 ws): the files, the
gen_images.py transform options, the options that do not apply, and projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facegan
from facegan.cli import main
from facegan.generation import seeds_to_z, synthesize
from facegan.networks import set_transform
from facegan.projection import LaplacianPyramidLoss, ProjectionOptions, project
from stylegan3_fixtures import tiny_config, write_sg3_snapshot
from test_generation_cli import cli, image


@pytest.fixture(scope="module")
def sg3_snapshot(tmp_path_factory):
    """-T at 32x32 with the official 14 layers (16 ws), few channels."""
    path = tmp_path_factory.mktemp("sg3") / "stylegan3-t-tiny.pkl"
    write_sg3_snapshot(path, tiny_config("stylegan3-t", num_layers=14, channel_base=64, channel_max=8), with_d=False)
    return path


@pytest.mark.slow
def test_every_generation_command_on_a_stylegan3_snapshot(sg3_snapshot, tmp_path, capsys):
    G = facegan.load(sg3_snapshot)
    assert G.num_ws == 16
    cli("generate", "--network", sg3_snapshot, "--seeds", "0-2", "--trunc", "0.7", "--outdir", tmp_path / "gen",
        "--grid")
    expected = G.run(seeds_to_z([0, 1, 2], G.z_dim), truncation_psi=0.7)
    for k in range(3):
        np.testing.assert_array_equal(image(tmp_path / "gen" / f"seed{k:04d}.png"), expected[k])
    cli("style-mix", "--network", sg3_snapshot, "--rows", "1,2", "--cols", "3,4,5", "--styles", "0-6",
        "--outdir", tmp_path / "mix")
    assert image(tmp_path / "mix" / "grid.png").shape == (3 * 32, 4 * 32, 3)
    cli("style-mix", "--network", sg3_snapshot, "--rows", "1", "--cols", "3", "--styles", "fine",
        "--outdir", tmp_path / "fine")
    cli("truncation-sweep", "--network", sg3_snapshot, "--seeds", "1,2", "--out", tmp_path / "sweep.png")
    assert image(tmp_path / "sweep.png").shape == (2 * 32, 9 * 32, 3)
    cli("interpolate", "--network", sg3_snapshot, "--seeds", "1,2", "--frames", "2", "--out", tmp_path / "walk.gif")
    assert main(["noise-figure", "--network", str(sg3_snapshot), "--outdir", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err
    assert "no noise inputs" in err and "Traceback" not in err


def test_translate_and_rotate_are_applied_as_gen_images_applies_them(sg3_snapshot, tmp_path, capsys):
    cli("generate", "--network", sg3_snapshot, "--seeds", "5", "--translate", "0.25,-0.1", "--rotate", "45",
        "--outdir", tmp_path / "moved")
    cli("generate", "--network", sg3_snapshot, "--seeds", "5", "--outdir", tmp_path / "plain")
    G = facegan.load(sg3_snapshot)
    set_transform(G, (0.25, -0.1), 45)
    moved = image(tmp_path / "moved" / "seed0005.png")
    np.testing.assert_array_equal(moved, G.run(seeds_to_z([5], G.z_dim), truncation_psi=1)[0])
    assert np.abs(moved.astype(int) - image(tmp_path / "plain" / "seed0005.png").astype(int)).mean() > 2


def test_translate_on_a_stylegan2_network_is_one_clear_error(tmp_path, capsys):
    from web_helpers import build_network

    net = build_network(tmp_path / "sg2.safetensors", "stylegan2", 16)
    code = main(["generate", "--network", str(net), "--seeds", "1", "--rotate", "10", "--outdir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "StyleGAN3 networks only" in err
    assert not (tmp_path / "o").exists()


def test_noise_mode_says_it_does_nothing_on_stylegan3(sg3_snapshot, tmp_path, capsys):
    cli("generate", "--network", sg3_snapshot, "--seeds", "3", "--noise-mode", "random", "--outdir", tmp_path / "r")
    assert "StyleGAN3 networks have no noise inputs" in capsys.readouterr().err
    cli("generate", "--network", sg3_snapshot, "--seeds", "3", "--outdir", tmp_path / "c")
    assert "noise" not in capsys.readouterr().err  # not given: no warning
    np.testing.assert_array_equal(image(tmp_path / "r" / "seed0003.png"), image(tmp_path / "c" / "seed0003.png"))


@pytest.mark.slow
def test_projection_of_stylegan3_starts_at_w_avg_and_optimises_w_alone(sg3_snapshot):
    G = facegan.load(sg3_snapshot)
    w = G.mapping(torch.from_numpy(seeds_to_z([7], G.z_dim)).float(), None, truncation_psi=0.5)
    target = synthesize(G, w)[0]
    result = project(G, target, LaplacianPyramidLoss(), ProjectionOptions(num_steps=20, w_avg_samples=100),
                     progress=False)
    assert result.noise == {}  # nothing but w to optimise
    # The learning rate ramps up from 0, so the first step is the start: the tracked w_avg.
    torch.testing.assert_close(result.w_steps[0, 0], G.w_avg)
    assert result.w.shape == (1, 16, G.w_dim)
    assert len(result.distances) == 20 and np.isfinite(result.distances).all()
    assert not torch.equal(result.w[0, 0], result.w_steps[0, 0])  # w was optimised
