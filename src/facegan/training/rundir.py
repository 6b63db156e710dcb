"""The run directory and what training writes into it.

    runs/00000-<dataset>-<arch>-<cfg>/
        options.json        the full resolved TrainingOptions
        log.txt             the progress lines (and warnings)
        stats.jsonl         one JSON line per tick: every statistic's mean, timing, progress
        events.out.tfevents.*   the same scalars for TensorBoard (when tensorboard is installed)
        reals.png           a grid of training images
        fakes_init.png      the control grid before training
        fakesNNNNNN.png     the control grid at kimg NNNNNN (every snapshot, or every image_snap ticks;
                            fakesNNNNNN_MMM.png between whole kimg)
        progress.gif        the control grids over training (at the end)
        checkpoints/        see checkpoint.py
        network-final.safetensors   G, D, G_ema at the end

The control grid is the seed tutorials' 6x6 grid of fixed latents (seeded), so the fakes images
show the same 36 faces evolving.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import torch

from facegan.utils.atomic import atomic_path
from facegan.utils.images import make_grid, save_image, to_uint8

log = logging.getLogger("facegan.training")
GRID = (6, 6)


def next_run_dir(outdir: str | os.PathLike, desc: str) -> Path:
    """outdir/<5-digit id>-<desc>, the id one more than the largest there (as the official code)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"^(\d+)-", p.name))]
    run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
    run_dir.mkdir()
    return run_dir


def run_description(dataset: str, arch: str, cfg: str, extra: str = "") -> str:
    text = f"{dataset}-{arch}-{cfg}" + (f"-{extra}" if extra else "")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


class RunLog:
    """Progress lines to log.txt (appended, flushed) and to the logger."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "log.txt"

    def write(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line.rstrip() + "\n")
        log.info(line)


class StatsWriter:
    """stats.jsonl lines and TensorBoard scalars."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "stats.jsonl"
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir))
        except Exception:  # tensorboard not installed: JSON lines only
            self.tb = None

    def write(self, stats: dict[str, float], kimg: float) -> None:
        line = {"timestamp": time.time(), **{k: v for k, v in stats.items() if v is not None}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        if self.tb is not None:
            global_step = int(round(kimg * 1000))
            for key, value in line.items():
                if key != "timestamp" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, global_step=global_step)
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def control_latents(z_dim: int, seed: int, std: float = 1.0) -> np.ndarray:
    """The fixed 6x6 grid of latents of a run, N(0, std²) (the Keras tutorial: std 0.5)."""
    return (np.random.RandomState(seed).randn(GRID[0] * GRID[1], z_dim) * std).astype(np.float32)


def save_grid(path: Path, images: np.ndarray) -> None:
    save_image(path, make_grid(images, cols=GRID[0]))


def write_progress_gif(run_dir: Path, duration_ms: int = 400) -> Path | None:
    """progress.gif from fakes_init.png and every fakesNNNNNN.png, in order."""
    from PIL import Image

    frames = sorted(run_dir.glob("fakes[0-9]*.png"))
    init = run_dir / "fakes_init.png"
    if init.exists():
        frames.insert(0, init)
    if not frames:
        return None
    images = [Image.open(p).convert("RGB") for p in frames]
    out = run_dir / "progress.gif"
    with atomic_path(out) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return out


@torch.no_grad()
def render_grid(G_ema, z, c) -> np.ndarray:
    """The control grid's images (const noise), eight at a time."""
    out = []
    for i in range(0, len(z), 8):
        cb = None if c is None else c[i:i + 8]
        out.append(to_uint8(G_ema(z[i:i + 8], cb, noise_mode="const")))
    return np.concatenate(out)


def grid_labels(dataset, n: int, seed: int, device):
    """Labels of the control grid (conditional runs): seeded draws from the dataset's labels."""
    rng = np.random.RandomState(seed)
    return torch.from_numpy(np.stack([dataset.get_label(int(i)) for i in rng.randint(len(dataset), size=n)])).to(device)


def save_reals(run_dir: Path, dataset) -> None:
    rng = np.random.RandomState(0)
    idx = rng.choice(len(dataset), size=min(36, len(dataset)), replace=False)
    images = np.stack([dataset[int(i)][0].transpose(1, 2, 0) for i in idx])
    save_grid(run_dir / "reals.png", images)
