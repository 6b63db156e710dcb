"""Training on CPU: every architecture and loss, the official schedules and formulas, exact resume,
two processes, signals, non-finite losses, a full disk, the run directory, and learning itself."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from facegan.errors import ConfigError, TrainingError
from facegan.networks import load_networks
from facegan.training import resolve_options, train
from facegan.training.ema import ema_beta
from facegan.training.loop import _fade_reals
from facegan.training.losses import GANLoss, LossContext
from facegan.training.options import ProgressiveOptions
from facegan.training.resume import resume_options
from facegan.training.schedule import lod_changed, progressive_schedule
from facegan.utils.atomic import DiskFullError
from training_helpers import blob_archive, lfw_archive, sliced_wasserstein

SMALL_SG2 = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


def small(data, outdir, arch="stylegan2", **kw):
    base = dict(cfg="tiny", outdir=str(outdir), workers=0, batch=8, batch_gpu=4, kimg=0.064, tick_kimg=0.032,
                snap=1)
    if arch == "stylegan2":
        base["network_overrides"] = SMALL_SG2
    base.update(kw)
    return resolve_options(data, arch=arch, **base)


def weights(run_dir: Path, name: str = "network-final.safetensors"):
    nets, _, _ = load_networks(run_dir / name)
    return {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}


# -- the official formulas ----------------------------------------------------------------------

def test_progressive_schedule_follows_the_official_arithmetic():
    p = ProgressiveOptions(minibatch_dict={4: 512, 8: 256, 16: 128, 32: 64, 64: 32}, minibatch_base=32,
                           lr_dict={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003})
    s = progressive_schedule(0, 1024, p)
    assert (s.lod, s.resolution, s.minibatch, s.lr) == (7, 8, 256, 0.001)
    assert progressive_schedule(600_000, 1024, p).lod == 7             # stable phase ends at 600 kimg
    mid = progressive_schedule(900_000, 1024, p)
    assert mid.lod == pytest.approx(6.5) and mid.resolution == 16 and mid.minibatch == 128
    assert progressive_schedule(1_200_000, 1024, p).lod == 6
    end = progressive_schedule(8_400_000, 1024, p)
    assert end.lod == 0 and end.resolution == 1024 and end.lr == 0.003 and end.minibatch == 32
    assert progressive_schedule(20_000_000, 1024, p).lod == 0
    assert lod_changed(7.0, 6.9) and lod_changed(6.9, 6.0) and not lod_changed(6.9, 6.5)


def test_reals_fade_between_two_resolutions():
    x = torch.randn(2, 1, 8, 8)
    down_up = torch.nn.functional.avg_pool2d(x, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(_fade_reals(x, 3.25), 0.75 * x + 0.25 * down_up)
    torch.testing.assert_close(_fade_reals(x, 3.0), x)


def test_ema_half_life_and_rampup():
    assert ema_beta(32, 10, 10**6) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(32, 10, 1000, rampup=0.05) == pytest.approx(0.5 ** (32 / 50))
    assert ema_beta(32, 0, 1000) == 0.0


def test_style_mixing_crossover_is_uniform_over_the_active_layers():
    from facegan.networks import StyleGAN2Config, build_discriminator, build_generator

    cfg = StyleGAN2Config(resolution=16, **SMALL_SG2)
    G, D = build_generator(cfg), build_discriminator(cfg)
    loss = GANLoss(G, D, style_mixing_prob=0.9)
    torch.manual_seed(0)
    cutoffs = []
    for _ in range(400):
        z = torch.randn(2, 32)
        with torch.no_grad():
            state = torch.get_rng_state()
            _, ws, _ = loss.run_G(z, None, LossContext(global_batch=2))
            direct = G.mapping(z, None)
        differs = (ws != direct).any(dim=2).any(dim=0)
        cutoffs.append(int(differs.nonzero()[0]) if differs.any() else G.num_ws)
        del state
    counts = np.bincount(cutoffs, minlength=G.num_ws + 1)
    assert counts[0] == 0                                  # never the whole w from the second latent
    assert abs(counts[G.num_ws] / 400 - 0.1) < 0.05       # 10% unmixed
    mixed = counts[1:G.num_ws]
    assert len(mixed) == G.num_ws - 1 and mixed.min() > 0.5 * mixed.mean()  # roughly uniform over 1..num_ws-1


# -- each architecture and loss trains --------------------------------------------------------

@pytest.mark.parametrize("arch,kw", [
    ("stylegan2", {}),
    ("stylegan2", {"aug": "ada", "ada_target": -1.0, "ada_kimg": 0.1, "ada_interval": 2}),
    ("stylegan", {}),
    ("stylegan", {"loss": "wgan-gp"}),
    ("dcgan", {}),
])
def test_each_architecture_and_loss_trains_a_few_steps(faces, tmp_path, arch, kw):
    opts = small(faces, tmp_path, arch, **kw)
    result = train(opts, progress=False)
    assert result.nimg == 64 and not result.interrupted
    final = weights(result.run_dir)
    assert all(torch.isfinite(v).all() for v in final.values())
    stats = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 2 and stats[-1]["Progress/kimg"] == pytest.approx(0.064)
    if kw.get("aug") == "ada":
        # r_t is always above the target -1, so p rises by batch*interval/(ada_kimg*1000) every 2 steps.
        expected = [min(1.0, (s["Progress/kimg"] * 1000 // 16) * 16 / 100) for s in stats]
        assert [s["Progress/augment"] for s in stats] == pytest.approx(expected)


def test_progressive_training_grows_the_resolution(faces, tmp_path):
    opts = small(faces, tmp_path, "stylegan", kimg=0.2, tick_kimg=0.024,
                 progressive=ProgressiveOptions(initial_resolution=8, training_kimg=0.05, transition_kimg=0.05,
                                                minibatch_base=8, minibatch_repeats=1, tick_kimg_dict={}))
    result = train(opts, progress=False)
    stats = [json.loads(line) for line in (result.run_dir / "stats.jsonl").read_text().splitlines()]
    lods = [s["Progress/lod"] for s in stats]
    assert lods[0] == 1 and lods[-1] == 0 and any(0 < lod < 1 for lod in lods)
    assert [s["Progress/resolution"] for s in stats][-1] == 16


# -- the run directory ----------------------------------------------------------------------------

def test_the_run_directory_holds_every_output(faces, tmp_path):
    result = train(small(faces, tmp_path), progress=False)
    run = result.run_dir
    assert run.name == "00000-faces16-stylegan2-tiny"
    names = {p.name for p in run.iterdir()}
    assert {"options.json", "log.txt", "stats.jsonl", "reals.png", "fakes_init.png", "fakes000000.png",
            "progress.gif", "network-final.safetensors", "checkpoints"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert json.loads((run / "options.json").read_text())["cfg"] == "tiny"
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["nimg"] == 64
    from PIL import Image

    assert Image.open(run / "fakes_init.png").size == (6 * 16, 6 * 16)  # the 6x6 control grid
    assert Image.open(run / "progress.gif").n_frames >= 2
    again = train(small(faces, tmp_path), progress=False)
    assert again.run_dir.name.startswith("00001-")


# -- exact resume, two processes ----------------------------------------------------------------

def test_a_stopped_and_resumed_run_ends_with_the_same_weights(faces, tmp_path):
    straight = train(small(faces, tmp_path / "a", kimg=0.096), progress=False)
    first = train(small(faces, tmp_path / "b", kimg=0.048, tick_kimg=0.016), progress=False)
    resumed = train(resume_options(str(first.run_dir), kimg=0.096), progress=False)
    assert resumed.run_dir == first.run_dir and resumed.nimg == 96
    a, b = weights(straight.run_dir), weights(resumed.run_dir)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_to_change_what_is_computed(faces, tmp_path):
    first = train(small(faces, tmp_path, kimg=0.032), progress=False)
    with pytest.raises(ConfigError, match="lr_g"):
        resume_options(str(first.run_dir), lr_g=0.1)


@pytest.mark.slow
def test_two_processes_train_like_one(faces, tmp_path):
    args = ["--data", faces, "--cfg", "tiny", "--kimg", "0.064", "--batch", "8", "--batch-gpu", "4", "--tick", "0.032",
            "--workers", "0", "--quiet", "--seed", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "facegan", "train", "--outdir", str(tmp_path / "one"), *args],
                         capture_output=True, text=True, timeout=600, env=env)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(29500 + os.getpid() % 1000), "-m", "facegan", "train", "--outdir", str(tmp_path / "two"),
                          *args], capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    (run1,), (run2,) = list((tmp_path / "one").iterdir()), list((tmp_path / "two").iterdir())
    a, b = weights(run1), weights(run2)
    # The all-reduce sums in another order, and Adam turns a rounding difference in a near-zero
    # gradient into up to one step (lr) of a weight: a few elements may differ by that much. A real
    # fault (a gradient not averaged, a batch split wrongly) moves most elements by a step or more.
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=2.5e-3, msg=k)
    diff = torch.cat([(a[k].float() - b[k].float()).abs().flatten() for k in a])
    assert diff.mean() < 2e-5, f"mean |one - two| = {diff.mean():.2e}"


# -- robustness ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_the_run_resumes(faces, tmp_path):
    cmd = [sys.executable, "-m", "facegan", "train", "--data", faces, "--cfg", "tiny", "--kimg", "50", "--batch", "8",
           "--batch-gpu", "4", "--tick", "0.032", "--snap", "1000", "--workers", "0", "--quiet", "--outdir",
           str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = None
    deadline = time.time() + 300
    while time.time() < deadline:
        logs = list(tmp_path.glob("*/log.txt"))
        # the second tick's line; not "sec/tick 2.4" in the first one's
        if logs and re.search(r"(?<!/)\btick 2 ", logs[0].read_text()):
            log = logs[0]
            break
        time.sleep(0.2)
    assert log is not None, "training did not start"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "stopped by a signal" in log.read_text() and "continue with" in out
    run = log.parent
    nimg = json.loads((run / "checkpoints" / "latest.json").read_text())["nimg"]
    assert nimg >= 64
    resumed = train(resume_options(str(run), kimg=(nimg + 16) / 1000), progress=False)
    assert resumed.nimg == nimg + 16


def test_non_finite_losses_skip_steps_then_stop_the_run(faces, tmp_path, monkeypatch):
    real_run_d = GANLoss.run_D

    def poisoned(self, img, c, ctx):
        return real_run_d(self, img, c, ctx) * float("nan")

    monkeypatch.setattr(GANLoss, "run_D", poisoned)
    with pytest.raises(TrainingError, match="non-finite"):
        train(small(faces, tmp_path, kimg=1, max_nonfinite_steps=3), progress=False)
    run = next(tmp_path.iterdir())
    log = (run / "log.txt").read_text()
    assert log.count("step skipped") == 3


def test_a_full_disk_is_reported_and_leaves_no_corrupt_checkpoint(faces, tmp_path, monkeypatch):
    import errno

    import facegan.utils.atomic as atomic

    real_fsync = atomic._fsync_file
    calls = {"n": 0}

    def fsync_then_fail(path):
        calls["n"] += 1
        if "ckpt-0000000064" in str(path) or "ckpt-0000000064" in str(getattr(path, "name", "")):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(path)

    monkeypatch.setattr(atomic, "_fsync_file", fsync_then_fail)
    with pytest.raises(DiskFullError, match="disk is full"):
        train(small(faces, tmp_path), progress=False)
    ckpts = next(tmp_path.iterdir()) / "checkpoints"
    assert json.loads((ckpts / "latest.json").read_text())["nimg"] == 32      # the previous one stands
    assert sorted(p.name for p in ckpts.iterdir()) == ["ckpt-0000000032.safetensors", "ckpt-0000000032.state.pt",
                                                       "latest.json"]


# -- fine-tuning ----------------------------------------------------------------------------------

def test_fine_tuning_starts_from_a_network_and_refuses_a_mismatch(faces, tmp_path):
    base = train(small(faces, tmp_path / "base"), progress=False)
    tuned = train(small(faces, tmp_path / "tune", resume=str(base.run_dir / "network-final.safetensors"),
                        kimg=0.008), progress=False)
    assert tuned.nimg == 8
    wrong = small(faces, tmp_path / "wrong", resume=str(base.run_dir / "network-final.safetensors"),
                  network_overrides={**SMALL_SG2, "channel_max": 16})
    from facegan.errors import NetworkFormatError

    with pytest.raises(NetworkFormatError, match="has shape"):
        train(wrong, progress=False)


# -- learning -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_training_moves_the_generated_distribution_towards_the_data(tmp_path):
    data = str(blob_archive(tmp_path / "blobs.zip", 16, 256))
    opts = small(data, tmp_path, "stylegan2", kimg=6, tick_kimg=1, batch=16, batch_gpu=16, snap=100)
    import facegan
    from facegan.data import ImageDataset

    ds = ImageDataset(data)
    reals = np.stack([ds[i][0] for i in range(256)]).astype(np.float64)
    torch.manual_seed(0)
    from facegan.networks import build_generator

    G0 = build_generator(opts.network_config)
    before = G0.run(np.random.RandomState(1).randn(256, G0.z_dim), truncation_psi=1).transpose(0, 3, 1, 2)
    result = train(opts, progress=False)
    G = facegan.load(result.run_dir / "network-final.safetensors")
    after = G.run(np.random.RandomState(1).randn(256, G.z_dim), truncation_psi=1).transpose(0, 3, 1, 2)
    d0, d1 = sliced_wasserstein(before, reals), sliced_wasserstein(after, reals)
    assert d1 < 0.5 * d0, (d0, d1)


def test_metrics_are_computed_at_each_snapshot_into_the_run_directory(faces, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEGAN_CACHE", str(tmp_path / "cache"))   # real-data statistics are cached here
    from facegan.cli.train import snapshot_metrics

    opts = small(faces, tmp_path / "runs", metrics=("swd1k",))
    result = train(opts, progress=False, on_snapshot=snapshot_metrics(opts))
    lines = [json.loads(line) for line in (result.run_dir / "metric-swd1k.jsonl").read_text().splitlines()]
    snapshots = sorted((result.run_dir / "checkpoints").glob("ckpt-*.safetensors"))
    assert len(lines) == len(snapshots) == 2                          # one line per snapshot (--snap 1, 2 ticks)
    for line, snapshot in zip(lines, snapshots):
        assert Path(line["snapshot_pkl"]).name == snapshot.name
        swd = line["results"]["swd1k"]
        assert np.isfinite(swd) and swd > 0
    assert "metric swd1k" in (result.run_dir / "log.txt").read_text()
