"""Generation tools on real StyleGAN (v1), StyleGAN2 and DCGAN networks (tiny, random weights made to
matter): the arithmetic behind each figure, grid layouts, latents, and the video files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import facegan
from facegan.errors import ConfigError
from facegan.generation import (
    animation_writer,
    generate_images,
    interpolation_frames,
    noise_components,
    noise_detail,
    parse_truncation,
    save_images,
    seeds_to_z,
    style_mixing,
    truncation_sweep,
    write_animation,
    write_interpolation,
)
from facegan.generation.mixing import group_layers
from facegan.networks import DCGANConfig, StyleGAN2Config, build_generator, save_networks, stylegan_preset, truncate
from facegan.utils.images import to_uint8

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
    return G.eval().requires_grad_(False)


def saved(tmp_path_factory, name, G, cfg):
    path = tmp_path_factory.mktemp("net") / f"{name}.safetensors"
    save_networks(path, {"G_ema": G}, cfg)
    return path, facegan.load(path)


@pytest.fixture(scope="module")
def sg2(tmp_path_factory):
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=RES, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)
    return saved(tmp_path_factory, "sg2", lively(build_generator(cfg)), cfg)


@pytest.fixture(scope="module")
def sg1(tmp_path_factory):
    """StyleGAN v1 at 64x64: it has fine layers (64²) as well as coarse and middle ones."""
    torch.manual_seed(1)
    cfg = stylegan_preset("stylegan-ffhq", 2 * RES, z_dim=32, w_dim=32, mapping_layers=2, mapping_fmaps=32,
                          fmap_base=256, fmap_max=32)
    return saved(tmp_path_factory, "sg1", lively(build_generator(cfg), 1), cfg)


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory):
    torch.manual_seed(2)
    cfg = DCGANConfig(resolution=RES, z_dim=16, ngf=8, ndf=8)
    return saved(tmp_path_factory, "dcgan", build_generator(cfg).eval(), cfg)


def coarse_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images box-filtered to 8x8: a measure of coarse structure."""
    r = a.shape[0]
    small = [x.astype(float).reshape(8, r // 8, 8, r // 8, -1).mean(axis=(1, 3)) for x in (a, b)]
    return float(np.abs(small[0] - small[1]).mean())


def assert_within_one_level(a: np.ndarray, b: np.ndarray) -> None:
    """Images computed in different batch sizes may differ by float rounding: one grey level at most."""
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


# -- seeds to images ---------------------------------------------------------------------------

def test_seeds_give_the_images_of_fast_mode_and_their_latents_are_saved(sg2, tmp_path):
    _, G = sg2
    result = generate_images(G, [0, 5], parse_truncation("0.7"))
    np.testing.assert_array_equal(result.images, G.run(seeds_to_z([0, 5], G.z_dim), truncation_psi=0.7))
    paths = save_images(result, tmp_path, grid=True)
    assert [p.name for p in paths] == ["seed0000.png", "seed0005.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), result.images[1])
    with np.load(tmp_path / "seed0005.npz") as data:
        np.testing.assert_array_equal(data["z"], seeds_to_z([5], G.z_dim))   # float64, exactly as drawn
        ws = data["ws"]
    assert ws.shape == (1, G.num_ws, G.w_dim)
    np.testing.assert_array_equal(to_uint8(G.synthesis(torch.from_numpy(ws))), result.images[1:])
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (RES, 2 * RES, 3)
    np.testing.assert_array_equal(grid[:, RES:], result.images[1])


def test_jpg_output_and_no_latents(sg2, tmp_path):
    _, G = sg2
    paths = save_images(generate_images(G, [3]), tmp_path, fmt="jpg", save_latents=False)
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["seed0003.jpg"]
    assert Image.open(paths[0]).format == "JPEG"
    with pytest.raises(ConfigError, match="png or jpg"):
        save_images(generate_images(G, [3]), tmp_path, fmt="bmp")


def test_per_group_psi_truncates_each_group_by_its_own_value(sg2):
    _, G = sg2
    z = torch.from_numpy(seeds_to_z([3], G.z_dim)).float()
    ws = G.mapping(z, None)
    psi = torch.ones(G.num_ws)
    psi[group_layers("coarse", G.num_ws)] = 0.5
    psi[group_layers("fine", G.num_ws)] = 0.0
    result = generate_images(G, [3], parse_truncation("coarse=0.5,fine=0"))
    np.testing.assert_allclose(result.ws[0], truncate(ws, G.w_avg, psi)[0].numpy(), rtol=1e-6)
    # With a cutoff, the layers from the cutoff on keep their untruncated w.
    cut = generate_images(G, [3], parse_truncation("coarse=0.5,middle=0.2", cutoff=2)).ws[0]
    np.testing.assert_allclose(cut[:2], (G.w_avg + 0.5 * (ws[0, :2] - G.w_avg)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cut[2:], ws[0, 2:].numpy())
    for bad in ("tiny=0.5", "coarse", "coarse=x", "nan"):
        with pytest.raises(ConfigError):
            parse_truncation(bad)


def test_stylegan_v1_truncates_its_first_8_layers_by_default(sg1):
    _, G = sg1
    ws = generate_images(G, [1], parse_truncation("0.5")).ws[0]
    full = generate_images(G, [1], parse_truncation("1")).ws[0]
    w_avg = G.w_avg.numpy()
    np.testing.assert_allclose(ws[:8], w_avg + 0.5 * (full[:8] - w_avg), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ws[8:], full[8:])
    all_layers = generate_images(G, [1], parse_truncation("0.5", cutoff=G.num_ws)).ws[0]
    np.testing.assert_allclose(all_layers[8:], w_avg + 0.5 * (full[8:] - w_avg), rtol=1e-5, atol=1e-6)


def test_projected_w_files_generate_their_images(sg2, tmp_path):
    _, G = sg2
    ws = G.mapping(torch.randn(2, G.z_dim), None).numpy()
    np.savez(tmp_path / "projected_w.npz", w=ws)
    result = generate_images(G, projected_w=tmp_path / "projected_w.npz")
    assert result.names == ["proj00", "proj01"] and result.z is None
    np.testing.assert_array_equal(result.images, to_uint8(G.synthesis(torch.from_numpy(ws), noise_mode="const")))
    np.savez(tmp_path / "bad.npz", w=np.zeros((1, 3, 7)))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savez(tmp_path / "other.npz", v=ws)
    for name, message in [("bad.npz", "needs"), ("corrupt.npz", "not a latents .npz"), ("other.npz", "'w'")]:
        with pytest.raises(ConfigError, match=message):
            generate_images(G, projected_w=tmp_path / name)


def test_conditional_networks_need_a_class_and_unconditional_ones_ignore_it(sg2, caplog):
    _, G = sg2
    np.testing.assert_array_equal(generate_images(G, [1], class_idx=3).images, generate_images(G, [1]).images)
    assert "ignored" in caplog.text
    cfg = StyleGAN2Config(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=8, c_dim=3)
    C = build_generator(cfg).eval()
    with pytest.raises(ConfigError, match="--class"):
        generate_images(C, [1])
    a, b = generate_images(C, [1], class_idx=0).ws, generate_images(C, [1], class_idx=2).ws
    assert not np.allclose(a, b)


# -- style mixing -----------------------------------------------------------------------------

def test_style_mixing_matrix_layout(sg2):
    _, G = sg2
    rows, cols = [10, 11, 12], [20, 21]
    fig = style_mixing(G, rows, cols, "coarse")
    assert fig.grid.shape == ((len(rows) + 1) * RES, (len(cols) + 1) * RES, 3)
    assert (fig.grid[:RES, :RES] == 0).all()                 # black corner, as style_mixing.py
    np.testing.assert_array_equal(fig.grid[:RES, RES:2 * RES], fig.cells["20-20"])
    np.testing.assert_array_equal(fig.grid[2 * RES:3 * RES, :RES], fig.cells["11-11"])
    np.testing.assert_array_equal(fig.grid[2 * RES:3 * RES, 2 * RES:], fig.cells["11-21"])
    assert sorted(fig.cells) == sorted(["10-10", "11-11", "12-12", "20-20", "21-21",
                                        "10-20", "10-21", "11-20", "11-21", "12-20", "12-21"])
    # A cell is the row seed's ws with the coarse layers of the column seed's.
    z = torch.from_numpy(seeds_to_z([11, 21], G.z_dim)).float()
    ws = G.mapping(z, None)
    layers = group_layers("coarse", G.num_ws)
    mixed = ws[:1].clone()
    mixed[:, layers] = ws[1:, layers]
    # The figure draws its cells in one batch; batch size may change a float sum's order, so a pixel
    # may round to the next grey level.
    cell, direct = fig.cells["11-21"].astype(int), to_uint8(G.synthesis(mixed))[0].astype(int)
    assert np.abs(cell - direct).max() <= 1 and (cell != direct).mean() < 0.01


def test_style_mixing_keeps_the_coarse_structure_of_the_column_source(sg2):
    """Coarse-from-A images are closer (at 8x8) to A than to B, and closer to A than images given A's
    middle styles instead, so the effect comes from the coarse layers, not from mixing as such.

    (StyleGAN2 only: with random weights, StyleGAN v1's chain of instance normalisations makes the
    image depend mostly on the middle and fine styles; a trained v1 network behaves as the paper.)"""
    _, G = sg2
    rows, cols = list(range(30, 36)), list(range(40, 46))
    coarse, middle = style_mixing(G, rows, cols, "coarse"), style_mixing(G, rows, cols, "middle")
    pairs = [(r, c) for r in rows for c in cols]
    to_a = np.array([coarse_distance(coarse.cells[f"{r}-{c}"], coarse.cells[f"{c}-{c}"]) for r, c in pairs])
    to_b = np.array([coarse_distance(coarse.cells[f"{r}-{c}"], coarse.cells[f"{r}-{r}"]) for r, c in pairs])
    middle_to_a = np.array([coarse_distance(middle.cells[f"{r}-{c}"], coarse.cells[f"{c}-{c}"]) for r, c in pairs])
    assert (to_a < to_b).mean() >= 0.75 and to_a.mean() < to_b.mean()
    assert (to_a < middle_to_a).mean() >= 0.75


def test_style_mixing_of_stylegan_v1_takes_the_paper_layer_ranges(sg1):
    _, G = sg1
    z = torch.from_numpy(seeds_to_z([7, 8], G.z_dim)).float()
    ws = G.mapping(z, None, truncation_psi=1)
    for styles, layers in [("coarse", range(0, 4)), ("middle", range(4, 8)), ("fine", range(8, G.num_ws))]:
        mixed = ws[:1].clone()
        mixed[:, list(layers)] = ws[1:, list(layers)]
        fig = style_mixing(G, [7], [8], styles)
        np.testing.assert_array_equal(fig.cells["7-8"], to_uint8(G.synthesis(mixed))[0])


def test_style_mixing_on_a_single_w_network_takes_everything_from_the_column(dcgan):
    _, G = dcgan
    fig = style_mixing(G, [1], [2], "coarse")
    np.testing.assert_array_equal(fig.cells["1-2"], fig.cells["2-2"])
    with pytest.raises(ConfigError, match="out of range"):
        style_mixing(G, [1], [2], "0-6")


# -- truncation sweep ------------------------------------------------------------------------

def test_truncation_sweep_goes_from_the_face_to_the_mean_face(sg2):
    _, G = sg2
    fig = truncation_sweep(G, [1, 2, 3], [-1, 0, 0.5, 1])
    assert fig.grid.shape == (3 * RES, 4 * RES, 3)
    np.testing.assert_array_equal(fig.cells["seed1-psi0"], fig.cells["seed3-psi0"])       # w_avg for every seed
    np.testing.assert_array_equal(fig.cells["seed1-psi0"], to_uint8(G.synthesis(G.w_avg.expand(1, G.num_ws, -1)))[0])
    np.testing.assert_array_equal(fig.cells["seed2-psi1"], G.run(seeds_to_z([2], G.z_dim), truncation_psi=1)[0])
    np.testing.assert_array_equal(fig.cells["seed2-psi0.5"], G.run(seeds_to_z([2], G.z_dim), truncation_psi=0.5)[0])
    assert not np.array_equal(fig.cells["seed1-psi-1"], fig.cells["seed1-psi1"])
    np.testing.assert_array_equal(fig.grid[2 * RES:, 3 * RES:], fig.cells["seed3-psi1"])


def test_truncation_sweep_truncates_every_layer_of_stylegan_v1(sg1):
    _, G = sg1
    fig = truncation_sweep(G, [1, 2], [0])
    np.testing.assert_array_equal(fig.cells["seed1-psi0"], fig.cells["seed2-psi0"])


# -- noise figures ----------------------------------------------------------------------------

def test_noise_components_switch_the_noise_of_layer_groups(sg1):
    _, G = sg1
    fig = noise_components(G, [4, 5])
    R = G.img_resolution
    assert fig.grid.shape == (2 * R, 4 * R, 3)
    cells = {k.split("-")[1]: v for k, v in fig.cells.items() if k.startswith("seed4-")}
    ws = G.mapping(torch.from_numpy(seeds_to_z([4, 5], G.z_dim)).float(), None)
    np.testing.assert_array_equal(cells["all"], to_uint8(G.synthesis(ws, noise_mode="const"))[0])
    np.testing.assert_array_equal(cells["none"], to_uint8(G.synthesis(ws, noise_mode="none"))[0])
    for a, b in [("all", "none"), ("fine", "none"), ("coarse", "none"), ("fine", "all"), ("coarse", "all")]:
        assert not np.array_equal(cells[a], cells[b]), (a, b)
    np.testing.assert_array_equal(fig.grid[R:, 2 * R:3 * R], fig.cells["seed5-fine"])
    # The network is left as it was.
    np.testing.assert_array_equal(to_uint8(G.synthesis(ws, noise_mode="const"))[0], cells["all"])


def test_noise_detail_layout_and_standard_deviation(sg2):
    _, G = sg2
    state = torch.get_rng_state()
    fig = noise_detail(G, [4], samples=6)
    assert torch.equal(torch.get_rng_state(), state)          # the global RNG is untouched
    assert fig.grid.shape == (RES, 3 * RES, 3)
    np.testing.assert_array_equal(fig.grid[:, 2 * RES:], fig.cells["seed4-std"])
    assert fig.cells["seed4-std"].max() > 0
    np.testing.assert_array_equal(noise_detail(G, [4], samples=6).grid, fig.grid)  # seeded: reproducible
    assert not np.array_equal(noise_detail(G, [4], samples=6, seed=1).cells["seed4-image"], fig.cells["seed4-image"])
    # Without noise every realisation is the same image: the std map is zero, the crops all alike.
    still = noise_detail(G, [4], samples=4, noise_mode="none")
    assert still.cells["seed4-std"].max() == 0
    crops = still.cells["seed4-crops"]
    np.testing.assert_array_equal(crops[:RES // 2, :RES // 2], crops[RES // 2:, RES // 2:])
    np.testing.assert_array_equal(still.cells["seed4-image"], noise_components(G, [4]).cells["seed4-none"])


def test_noise_figures_need_noise_inputs(dcgan):
    with pytest.raises(ConfigError, match="no noise inputs"):
        noise_components(dcgan[1], [1])


# -- interpolation ----------------------------------------------------------------------------

@pytest.mark.parametrize("space,kind", [("w", "linear"), ("z", "slerp")])
def test_interpolation_loops_through_the_seeds(sg2, space, kind):
    _, G = sg2
    frames = interpolation_frames(G, [1, 2, 3], frames_per_transition=4, space=space, kind=kind)
    assert frames.shape == (12, RES, RES, 3)
    for k, seed in enumerate([1, 2, 3]):  # key frames are the seeds' images (to within batch rounding)
        assert_within_one_level(frames[4 * k], G.run(seeds_to_z([seed], G.z_dim), truncation_psi=1)[0])
    # The loop closes: the last frame is one step before the first, closer to it than to seed 3's frame.
    d_first = np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean()
    d_key3 = np.abs(frames[-1].astype(int) - frames[8].astype(int)).mean()
    assert d_first < d_key3


def test_slerp_in_z_keeps_the_norm_between_keys(sg2):
    from facegan.generation import slerp

    a, b = torch.from_numpy(seeds_to_z([1, 2], 512)).float()
    mid = slerp(a, b, 0.5)
    assert abs(float(mid.norm()) - float((a.norm() + b.norm()) / 2)) < 0.05 * float(a.norm())
    assert float(torch.lerp(a, b, 0.5).norm()) < 0.8 * float(mid.norm())  # lerp cuts through the middle


def test_animations_decode_with_every_frame(sg2, tmp_path):
    _, G = sg2
    frames = interpolation_frames(G, [1, 2], frames_per_transition=3)
    gif = write_animation(frames, tmp_path / "a.gif", fps=10)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.info.get("loop") == 0
    import imageio.v2 as imageio

    n = write_interpolation(G, tmp_path / "a.mp4", [1, 2], frames_per_transition=3, fps=10)
    with imageio.get_reader(tmp_path / "a.mp4") as reader:
        decoded = [f for f in reader]
    assert n == len(decoded) == 6 and decoded[0].shape == (RES, RES, 3)
    # H.264 in yuv420p halves the colour resolution, so compare brightness: lossy, but close.
    luma = [x.astype(float) @ [0.299, 0.587, 0.114] for x in (decoded[0], frames[0], frames[3])]
    assert np.abs(luma[0] - luma[1]).mean() < 0.25 * np.abs(luma[2] - luma[1]).mean()
    with pytest.raises(ConfigError):
        write_animation(frames, tmp_path / "a.avi")


def test_an_interrupted_animation_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError), animation_writer(tmp_path / "v.mp4") as append:
        append(np.zeros((8, 8, 3), np.uint8))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_many_seeds_are_written_in_chunks_with_one_grid(sg2, tmp_path):
    from facegan.generation import write_images

    _, G = sg2
    paths = write_images(G, tmp_path, list(range(5)), parse_truncation("0.7"), grid=True, save_latents=False, chunk=2)
    assert [p.name for p in paths] == [f"seed{s:04d}.png" for s in range(5)]
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (RES, 5 * RES, 3)
    for s in range(5):
        np.testing.assert_array_equal(grid[:, s * RES:(s + 1) * RES], np.asarray(Image.open(paths[s])))
