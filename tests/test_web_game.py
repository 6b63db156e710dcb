"""The parts of the game on their own: real photos without repeats, the fake pool, identical image
processing, rendering through the generator interface, and the rate limiter."""

from __future__ import annotations

import time

import numpy as np
import pytest

import facegan
from facegan.data.archive import Archive
from facegan.errors import ConfigError
from facegan.web.imaging import encode_png, to_display
from facegan.web.pool import FakePool
from facegan.web.ratelimit import Limit, RateLimiter, RateLimits
from facegan.web.reals import RealSampler
from facegan.web.render import Renderer, RenderParams
from web_helpers import build_archive, build_network


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    root = tmp_path_factory.mktemp("nets")
    return {
        "dcgan": facegan.load(build_network(root / "dcgan.safetensors", "dcgan", 32)),
        "stylegan2": facegan.load(build_network(root / "sg2.safetensors", "stylegan2", 32)),
        "stylegan": facegan.load(build_network(root / "sg1.safetensors", "stylegan", 64)),
    }


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return Archive(build_archive(tmp_path_factory.mktemp("data") / "faces.zip", count=10))


# -- real photos --------------------------------------------------------------------------------
def test_reals_do_not_repeat_for_a_player_until_the_archive_is_exhausted(archive):
    sampler = RealSampler(archive, 32, 1, history=lambda player: [])
    first = [sampler.draw("p") for _ in range(len(archive))]
    names = [name for name, _, _ in first]
    assert sorted(names) == sorted(archive.names)
    assert not any(exhausted for _, _, exhausted in first[:-1])
    name, pixels, exhausted = sampler.draw("p")   # the second cycle begins
    assert exhausted and pixels.shape == (32, 32, 1)
    second = [name] + [sampler.draw("p")[0] for _ in range(len(archive) - 1)]
    assert sorted(second) == sorted(archive.names)


def test_each_player_has_their_own_cycle(archive):
    sampler = RealSampler(archive, 32, 1, history=lambda player: [])
    a = {sampler.draw("a")[0] for _ in range(5)}
    b = {sampler.draw("b")[0] for _ in range(len(archive))}
    assert len(a) == 5 and b == set(archive.names)


def test_after_a_restart_a_player_continues_their_cycle_from_the_database(archive):
    shown = archive.names[:7]
    sampler = RealSampler(archive, 32, 1, history=lambda player: list(shown) if player == "p" else [])
    rest = {sampler.draw("p")[0] for _ in range(3)}
    assert rest == set(archive.names[7:])


def test_photos_that_cannot_be_decoded_are_left_out(tmp_path):
    folder = tmp_path / "faces"
    build_archive(folder, count=3)
    (folder / "00000" / "img00000001.png").write_bytes(b"not a png")
    sampler = RealSampler(Archive(folder), 16, 1, history=lambda player: [])
    names = [sampler.draw("p")[0] for _ in range(6)]
    assert "00000/img00000001.png" not in names and sampler.total == 2


# -- image processing ---------------------------------------------------------------------------
def test_display_processing_crops_resizes_and_converts_any_photo():
    rgb = np.random.RandomState(0).randint(0, 256, (40, 60, 3), dtype=np.uint8)
    assert to_display(rgb, 32, 3).shape == (32, 32, 3)
    assert to_display(rgb, 32, 1).shape == (32, 32, 1)
    grey = np.full((25, 25, 1), 128, np.uint8)
    np.testing.assert_array_equal(to_display(grey, 32, 3), np.full((32, 32, 3), 128, np.uint8))


def test_encoded_images_carry_nothing_but_the_pixels():
    a = np.random.RandomState(1).randint(0, 256, (32, 32, 1), dtype=np.uint8)
    data = encode_png(a)
    assert png_chunks(data) == ["IHDR", "IDAT", "IEND"]
    assert encode_png(a) == data  # deterministic: the bytes are a function of the pixels


def png_chunks(data: bytes) -> list[str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, pos = [], 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        types.append(data[pos + 4:pos + 8].decode("latin-1"))
        pos += 12 + length
    return types


# -- rendering ----------------------------------------------------------------------------------
def test_render_is_reproducible_from_seed_and_psi(nets):
    r = Renderer(nets["stylegan2"], "sg2")
    a = r.render(RenderParams(seed=5, psi=0.6))
    np.testing.assert_array_equal(a, r.render(RenderParams(seed=5, psi=0.6)))
    assert not np.array_equal(a, r.render(RenderParams(seed=6, psi=0.6)))
    assert not np.array_equal(a, r.render(RenderParams(seed=5, psi=1.0)))


def test_fakes_of_the_pool_match_single_renders(nets):
    r = Renderer(nets["stylegan2"], "sg2")
    batch = r.fakes([3, 4], [0.5, 0.9], [None, None])
    np.testing.assert_allclose(batch[1].astype(int), r.render(RenderParams(seed=4, psi=0.9)).astype(int), atol=1)


def test_mixing_takes_the_groups_styles_from_the_second_seed(nets):
    G = nets["stylegan"]
    r = Renderer(G, "sg1")
    base = r.render(RenderParams(seed=1))
    for group in ("coarse", "middle", "fine"):
        mixed = r.render(RenderParams(seed=1, mix_seed=2, mix_group=group))
        assert not np.array_equal(base, mixed), group
    assert r.info.groups == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": [8, 9]}


def test_mixing_is_refused_where_it_does_not_apply(nets):
    dcgan = Renderer(nets["dcgan"], "dcgan")
    assert not dcgan.info.mixing and not dcgan.info.has_noise
    with pytest.raises(ConfigError, match="single style layer"):
        dcgan.render(RenderParams(seed=1, mix_seed=2, mix_group="coarse"))
    sg2 = Renderer(nets["stylegan2"], "sg2")  # 32x32: no fine layers
    with pytest.raises(ConfigError, match="no fine layers"):
        sg2.render(RenderParams(seed=1, mix_seed=2, mix_group="fine"))


@pytest.mark.parametrize("params,message", [
    (RenderParams(seed=-1), "seed"),
    (RenderParams(seed=2**32), "seed"),
    (RenderParams(seed=0, psi=float("nan")), "psi"),
    (RenderParams(seed=0, cutoff=99), "cutoff"),
    (RenderParams(seed=0, noise_mode="loud"), "noise mode"),
    (RenderParams(seed=0, mix_seed=3), "both"),
    (RenderParams(seed=0, class_idx=1), "unconditional"),
])
def test_bad_render_settings_name_the_problem(nets, params, message):
    with pytest.raises(ConfigError, match=message):
        Renderer(nets["stylegan2"], "sg2").check(params)


def test_cutoff_limits_truncation_to_the_first_layers(nets):
    r = Renderer(nets["stylegan2"], "sg2")
    full = r.render(RenderParams(seed=2, psi=0.0))
    partial = r.render(RenderParams(seed=2, psi=0.0, cutoff=2))
    untruncated = r.render(RenderParams(seed=2, psi=1.0))
    assert not np.array_equal(full, partial) and not np.array_equal(partial, untruncated)


def test_previews_of_large_networks_stop_early_where_the_network_allows(nets):
    sg1 = Renderer(nets["stylegan"], "sg1", preview_resolution=16)
    assert sg1.info.early_exit
    assert sg1.render(RenderParams(seed=1, preview=True)).shape == (16, 16, 1)
    assert sg1.render(RenderParams(seed=1)).shape == (64, 64, 1)
    sg2 = Renderer(nets["stylegan2"], "sg2", preview_resolution=16)  # no early exit: rendered, then downscaled
    assert sg2.render(RenderParams(seed=1, preview=True)).shape == (16, 16, 1)


def test_rendered_pngs_are_cached_except_with_random_noise(nets):
    r = Renderer(nets["stylegan2"], "sg2")
    first = r.render_png(RenderParams(seed=9))
    again = r.render_png(RenderParams(seed=9))
    assert not first.cached and again.cached and again.png == first.png and first.size == 32
    assert not r.render_png(RenderParams(seed=9, noise_mode="random")).cached
    assert not r.render_png(RenderParams(seed=9, noise_mode="random")).cached


# -- the fake pool ------------------------------------------------------------------------------
def test_the_pool_fills_with_fresh_fakes_within_the_psi_range(nets):
    pool = FakePool(Renderer(nets["dcgan"], "dcgan"), size=12, psi_range=(0.4, 0.9), display_size=32)
    pool.start()
    try:
        deadline = time.monotonic() + 30
        while pool.ready < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        fakes = [pool.take(1.0) for _ in range(12)]
    finally:
        pool.stop()
    assert all(f is not None for f in fakes)
    assert len({f.seed for f in fakes}) == 12
    assert all(0.4 <= f.psi <= 0.9 for f in fakes) and len({f.psi for f in fakes}) > 1
    assert all(f.pixels.shape == (32, 32, 1) and f.pixels.dtype == np.uint8 for f in fakes)
    assert pool.generated >= 12


def test_an_empty_pool_answers_none_after_the_wait(nets):
    pool = FakePool(Renderer(nets["dcgan"], "dcgan"), size=2, psi_range=(0.5, 0.5), display_size=32)
    assert pool.take(0.01) is None  # never started


# -- rate limiting ------------------------------------------------------------------------------
def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    limiter = RateLimiter(Limit(rate=2.0, burst=3.0), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # another key has its own bucket
    now[0] += 0.5
    assert limiter.take("a") == 0.0


def test_scaling_rate_limits_and_switching_them_off():
    limits = RateLimits()
    double = limits.scaled(2)
    assert double.game.rate == 2 * limits.game.rate and double.new_players.burst == 2 * limits.new_players.burst
    assert not limits.scaled(0).enabled


def test_the_limiter_forgets_the_least_recent_keys_beyond_its_size():
    limiter = RateLimiter(Limit(1.0, 1.0), max_keys=2, clock=lambda: 0.0)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")          # "a" is forgotten
    assert limiter.take("a") == 0.0 and limiter.take("c") > 0
