"""Generation tools on real StyleGAN (v1) and StyleGAN2 networks (tiny, random weights made to
matter): files, sizes, grid layouts, and the arithmetic behind each figure."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import facegan
from facegan.errors import ConfigError
from facegan.generation import (
    generate_images,
    interpolation_frames,
    noise_figure,
    parse_truncation,
    save_images,
    seeds_to_z,
    style_mixing,
    truncation_sweep,
    write_animation,
)
from facegan.generation.mixing import group_layers
from facegan.networks import StyleGAN2Config, build_generator, save_networks, stylegan_preset, truncate

RES = 32


def lively(G, seed=0):
    """Random weights with enough spread that every style and noise input changes the image."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.3 + 0.1)
            elif name.endswith("affine.weight"):
                p.mul_(3)
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen) * 0.3)
    return G.eval()


@pytest.fixture(scope="module")
def sg2(tmp_path_factory):
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=RES, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)
    G = lively(build_generator(cfg))
    path = tmp_path_factory.mktemp("net") / "sg2.safetensors"
    save_networks(path, {"G_ema": G}, cfg)
    return path, facegan.load(path)


@pytest.fixture(scope="module")
def sg1(tmp_path_factory):
    torch.manual_seed(1)
    cfg = stylegan_preset("stylegan-ffhq", 2 * RES, z_dim=32, w_dim=32, mapping_layers=2, mapping_fmaps=32,
                          fmap_base=256, fmap_max=32)
    G = lively(build_generator(cfg), 1)
    path = tmp_path_factory.mktemp("net") / "sg1.safetensors"
    save_networks(path, {"G_ema": G}, cfg)
    return path, facegan.load(path)


def test_seeds_give_the_images_of_fast_mode(sg2, tmp_path):
    _, G = sg2
    result = generate_images(G, [0, 5], parse_truncation("0.7"))
    np.testing.assert_array_equal(result.images, G.run(seeds_to_z([0, 5], G.z_dim), truncation_psi=0.7))
    paths = save_images(result, tmp_path, grid=True)
    assert [p.name for p in paths] == ["seed0000.png", "seed0005.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), result.images[1])
    with np.load(tmp_path / "seed0005.npz") as data:
        np.testing.assert_allclose(data["z"], seeds_to_z([5], G.z_dim).astype(np.float32))
        assert data["ws"].shape == (1, G.num_ws, G.w_dim)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (RES, 2 * RES, 3)
    np.testing.assert_array_equal(grid[:, RES:], result.images[1])


def test_per_group_psi_truncates_each_group_by_its_own_value(sg2):
    _, G = sg2
    z = torch.from_numpy(seeds_to_z([3], G.z_dim)).float()
    trunc = parse_truncation("coarse=0.5,fine=0")
    result = generate_images(G, [3], trunc)
    ws = G.mapping(z, None)
    psi = torch.ones(G.num_ws)
    psi[group_layers("coarse", G.num_ws)] = 0.5
    psi[group_layers("fine", G.num_ws)] = 0.0
    np.testing.assert_allclose(result.ws[0], truncate(ws, G.w_avg, psi)[0].numpy(), rtol=1e-6)
    with pytest.raises(ConfigError):
        parse_truncation("tiny=0.5")


def test_stylegan_v1_truncates_its_first_8_layers_by_default(sg1):
    _, G = sg1
    ws = generate_images(G, [1], parse_truncation("0.5")).ws[0]
    full = generate_images(G, [1], parse_truncation("1")).ws[0]
    w_avg = G.w_avg.numpy()
    np.testing.assert_allclose(ws[:8], w_avg + 0.5 * (full[:8] - w_avg), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ws[8:], full[8:])
    all_layers = generate_images(G, [1], parse_truncation("0.5", cutoff=G.num_ws)).ws[0]
    np.testing.assert_allclose(all_layers[8:], w_avg + 0.5 * (full[8:] - w_avg), rtol=1e-5, atol=1e-6)


def test_projected_w_files_generate_their_images(sg2, tmp_path):
    _, G = sg2
    ws = G.mapping(torch.randn(2, G.z_dim), None).numpy()
    np.savez(tmp_path / "projected_w.npz", w=ws)
    result = generate_images(G, projected_w=tmp_path / "projected_w.npz")
    assert result.names == ["proj00", "proj01"]
    expected = G.synthesis(torch.from_numpy(ws), noise_mode="const")
    np.testing.assert_array_equal(result.images, facegan.utils.images.to_uint8(expected))
    np.savez(tmp_path / "bad.npz", w=np.zeros((1, 3, 7)))
    with pytest.raises(ConfigError, match="needs"):
        generate_images(G, projected_w=tmp_path / "bad.npz")


def test_style_mixing_matrix_layout_and_coarse_structure(sg2):
    _, G = sg2
    rows, cols = [10, 11, 12], [20, 21]
    fig = style_mixing(G, rows, cols, "coarse")
    assert fig.grid.shape == (3 * RES + RES, 3 * RES, 3)  # (rows+1) x (cols+1) cells
    assert (fig.grid[:RES, :RES] == 255).all()               # blank corner
    np.testing.assert_array_equal(fig.grid[:RES, RES:2 * RES], fig.cells["col20"])
    np.testing.assert_array_equal(fig.grid[2 * RES:3 * RES, 2 * RES:], fig.cells["11-21"])
    # The claim is about coarse structure, so compare the images at 8x8 (box-filtered).
    def dist(a, b):
        small = [x.astype(float).reshape(8, RES // 8, 8, RES // 8, 3).mean(axis=(1, 3)) for x in (a, b)]
        return float(np.abs(small[0] - small[1]).mean())

    rows, cols = list(range(30, 36)), list(range(40, 46))
    coarse, middle = style_mixing(G, rows, cols, "coarse"), style_mixing(G, rows, cols, "middle")
    pairs = [(r, c) for r in rows for c in cols]
    to_a = np.array([dist(coarse.cells[f"{r}-{c}"], coarse.cells[f"col{c}"]) for r, c in pairs])
    to_b = np.array([dist(coarse.cells[f"{r}-{c}"], coarse.cells[f"row{r}"]) for r, c in pairs])
    middle_to_a = np.array([dist(middle.cells[f"{r}-{c}"], coarse.cells[f"col{c}"]) for r, c in pairs])
    # Coarse-from-A images are closer to A than to B, and closer to A than images given A's finer styles.
    assert (to_a < to_b).mean() >= 0.75 and to_a.mean() < to_b.mean()
    assert (to_a < middle_to_a).mean() >= 0.75


def test_truncation_sweep_reaches_the_mean_face_at_psi_zero(sg2):
    _, G = sg2
    fig = truncation_sweep(G, [1, 2, 3], [0, 1])
    assert fig.grid.shape == (3 * RES, 2 * RES, 3)
    np.testing.assert_array_equal(fig.cells["seed1-psi0"], fig.cells["seed3-psi0"])
    np.testing.assert_array_equal(fig.cells["seed2-psi1"], G.run(seeds_to_z([2], G.z_dim), truncation_psi=1)[0])


def test_noise_figure(sg2, sg1):
    for _, G in (sg2, sg1):
        components, detail = noise_figure(G, [4], samples=8)
        R = G.img_resolution
        assert components.grid.shape == (R, 4 * R, 3) and detail.grid.shape == (R, 2 * R, 3)
        none1 = components.cells["seed4-none"]
        again, _ = noise_figure(G, [4], samples=2, seed=9)
        np.testing.assert_array_equal(again.cells["seed4-none"], none1)          # no noise: deterministic
        assert not np.array_equal(components.cells["seed4-all"], none1)
        assert detail.cells["seed4-std"].max() > 0


def test_noise_figure_std_is_zero_without_noise(sg2):
    _, G = sg2
    saved = {n: p.detach().clone() for n, p in G.named_parameters() if n.endswith("noise_strength")}
    with torch.no_grad():
        for n, p in G.named_parameters():
            if n.endswith("noise_strength"):
                p.zero_()
    try:
        _, detail = noise_figure(G, [4], samples=4)
        assert detail.cells["seed4-std"].max() == 0
    finally:
        with torch.no_grad():
            for n, p in G.named_parameters():
                if n in saved:
                    p.copy_(saved[n])


@pytest.mark.parametrize("space,kind", [("w", "linear"), ("z", "slerp")])
def test_interpolation_loops_through_the_seeds(sg2, space, kind):
    _, G = sg2
    frames = interpolation_frames(G, [1, 2, 3], frames_per_transition=4, space=space, kind=kind)
    assert frames.shape == (12, RES, RES, 3)
    np.testing.assert_array_equal(frames[0], G.run(seeds_to_z([1], G.z_dim), truncation_psi=1)[0])
    np.testing.assert_array_equal(frames[4], G.run(seeds_to_z([2], G.z_dim), truncation_psi=1)[0])
    # The last frame is one step before the first: closer to it than to the last key frame's image.
    d_first = np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean()
    d_key3 = np.abs(frames[-1].astype(int) - frames[8].astype(int)).mean()
    assert d_first < d_key3


def test_animations_decode_with_every_frame(sg2, tmp_path):
    _, G = sg2
    frames = interpolation_frames(G, [1, 2], frames_per_transition=3)
    gif = write_animation(frames, tmp_path / "a.gif", fps=10)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.info.get("loop") == 0
    import imageio.v2 as imageio

    mp4 = write_animation(frames, tmp_path / "a.mp4", fps=10)
    reader = imageio.get_reader(mp4)
    assert sum(1 for _ in reader) == 6
    with pytest.raises(ConfigError):
        write_animation(frames, tmp_path / "a.avi")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "facegan", *args], capture_output=True, text=True, timeout=300)


def test_cli_commands_write_their_files(sg2, tmp_path):
    path, G = sg2
    out = run_cli("generate", "--network", str(path), "--seeds", "0-2", "--trunc", "0.7", "--outdir",
                  str(tmp_path / "g"), "--grid", "--format", "jpg", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "grid.jpg", "seed0000.jpg", "seed0000.npz", "seed0001.jpg", "seed0001.npz", "seed0002.jpg", "seed0002.npz"]
    out = run_cli("style-mix", "--network", str(path), "--rows", "1,2", "--cols", "3", "--styles", "coarse",
                  "--outdir", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1-3.png", "2-3.png", "grid.png"]
    out = run_cli("truncation-sweep", "--network", str(path), "--seeds", "1,2", "--out", str(tmp_path / "t.png"))
    assert out.returncode == 0 and Image.open(tmp_path / "t.png").size == (9 * RES, 2 * RES)
    out = run_cli("noise-figure", "--network", str(path), "--seeds", "1", "--samples", "4", "--outdir",
                  str(tmp_path / "n"))
    assert out.returncode == 0, out.stderr
    out = run_cli("interpolate", "--network", str(path), "--seeds", "1,2", "--frames", "2", "--out",
                  str(tmp_path / "v.gif"))
    assert out.returncode == 0 and Image.open(tmp_path / "v.gif").n_frames == 4
    bad = run_cli("generate", "--network", str(path), "--seeds", "1", "--class", "2", "--outdir", str(tmp_path / "x"))
    assert bad.returncode != 0 and "unconditional" in bad.stderr and "Traceback" not in bad.stderr
