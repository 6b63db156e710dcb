"""StyleGAN3 against NVIDIA's own code: pickles that NVlabs/stylegan3 itself writes (its networks,
pickled as its training loop saves a snapshot) draw, through facegan, the images its gen_images.py
draws, within 1 grey level, with --translate/--rotate too.

Runs only when FACEGAN_STYLEGAN3_PEER names a checkout of NVlabs/stylegan3 (kept outside this repo:
its licence is non-commercial, so it is run, never copied); skipped otherwise. The networks are
tiny (32x32, 4 synthesis layers), so the whole file takes seconds. The comparison itself lives in
benchmarks/stylegan3_peer.py (its `check` mode runs the same at 64x64 with the full 14 layers).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import facegan

ROOT = Path(__file__).resolve().parents[1]
PEER = os.environ.get("FACEGAN_STYLEGAN3_PEER")

pytestmark = pytest.mark.skipif(not PEER, reason="set FACEGAN_STYLEGAN3_PEER to a checkout of NVlabs/stylegan3")

TINY = dict(z_dim=8, w_dim=8, cbase=128, cmax=8, synthesis_layers=4)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("stylegan3_peer", ROOT / "benchmarks" / "stylegan3_peer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def peer(bench):
    return bench.import_peer(PEER)


@pytest.fixture(scope="module", params=["stylegan3-t", "stylegan3-r"])
def official_pickle(request, bench, peer, tmp_path_factory):
    path = tmp_path_factory.mktemp("sg3") / f"{request.param}.pkl"
    return bench.write_official_snapshot(peer, path, request.param, 32, seed=3, **TINY)


def test_official_pickles_draw_the_images_of_gen_images_within_one_grey_level(bench, peer, official_pickle):
    rows = bench.compare(peer, official_pickle, seeds=(5,), psis=(1.0, 0.5))
    assert len(rows) == 2 * len(bench.TRANSFORMS)
    worst = max(rows, key=lambda r: r["max"])
    assert worst["max"] <= 1, worst
    assert min(r["grey_std"] for r in rows) > 10  # real images, not a flat grey that anything would match


def test_translate_and_rotate_move_the_official_image(bench, peer, official_pickle):
    """The transformed cases above compare something: the official image itself changes."""
    G = bench.load_official(peer, official_pickle)
    plain = bench.official_image(peer, G, 0).astype(int)
    for translate, rotate in bench.TRANSFORMS[1:]:
        moved = bench.official_image(peer, G, 0, 1.0, translate, rotate).astype(int)
        assert np.abs(moved - plain).max() > 20, (translate, rotate)


@pytest.mark.slow
def test_facegan_generate_writes_the_files_of_gen_images(bench, peer, official_pickle, tmp_path):
    """NVIDIA's gen_images.py itself (on the CPU) against the `facegan generate` command, file by file."""
    if official_pickle.stem != "stylegan3-t":
        pytest.skip("one configuration is enough for the command line: the drawing is checked above")
    result = bench.compare_cli(peer, official_pickle, tmp_path, seeds=(0, 1), psi=0.5, translate=(0.3, -0.15),
                               rotate=25.0)
    assert sorted(result["files"]) == ["seed0000.png", "seed0001.png"]
    assert result["max"] <= 1, result


def test_the_snapshots_discriminator_gives_the_official_logits(bench, peer, official_pickle):
    """D, which for -R has half G's capacity, read from the same file."""
    with open(official_pickle, "rb") as f:
        theirs = peer.legacy.load_network_pkl(f)["D"]
    ours = facegan.load(official_pickle, which="D")
    assert ours.config.channel_base == 128  # D's own capacity (G's is 256 for -R)
    images = torch.randn([4, 3, 32, 32], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = theirs(images, torch.zeros([4, 0]))
        got = ours(images, None)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# -- training ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["stylegan3-t", "stylegan3-r"])
def test_training_steps_are_those_of_nvidias_loss_and_training_loop(bench, peer, cfg, tmp_path):
    """Three steps of `TrainingRun.step` and of NVIDIA's StyleGAN2Loss driven as its training loop
    drives it (Gboth, Dmain, Dreg every 16 with the lazy-regularisation correction; G_ema), from
    the same official snapshot, reals and latents: the losses of every step, then every parameter,
    gradient and buffer (magnitude EMAs, w_avg) of G, D and G_ema, agree to float error. The
    magnitude EMAs move fast (β 0.8) and -R's D-input blur fades over the three steps (σ 3, 2.25,
    1.5: train.py's σ 10 would blur a 16² image flat, and D's minibatch-stddev of nearly equal
    images turns float error into large gradient differences), so a wrong EMA step or blur shows."""
    result = bench.compare_training(peer, cfg, 16, tmp_path, steps=3, batch=4, r1_gamma=2.0, blur_init_sigma=3.0,
                                    blur_fade_kimg=0.016, seed=3, magnitude_ema_beta=0.8, **TINY)
    rows = result["rows"]
    assert [r["phases"] for r in rows] == [["Gmain", "Dmain", "Dreg"], ["Gmain", "Dmain"], ["Gmain", "Dmain"]]
    assert [r["blur_sigma"] for r in rows] == ([3.0, 2.25, 1.5] if cfg == "stylegan3-r" else [0.0] * 3)
    for row in rows:
        for name, (ours, theirs) in row["losses"].items():
            if "/signs/" in name:  # a logit within float error of 0 may take either sign; its score is compared
                continue
            assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-7), (row["step"], name)
        for part in ("G", "D", "G_ema", "G.grad", "D.grad"):
            worst = max(row[part].items(), key=lambda kv: kv[1])
            assert worst[1] < 5e-5, (row["step"], part, worst)
    assert "Loss/r1_penalty" in rows[0]["losses"] and "Loss/r1_penalty" not in rows[1]["losses"]
    # What is compared moves: the weights, w_avg and every magnitude EMA left the snapshot's values.
    moved = set(result["G_moved"])
    assert "mapping.w_avg" in moved and sum(k.endswith("weight") for k in moved) >= 8
    assert {k for k in rows[0]["G"] if k.endswith("magnitude_ema")} <= moved

