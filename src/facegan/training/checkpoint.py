"""Checkpoints: everything needed to continue a run exactly, written so a crash loses at most the
work since the last one.

A checkpoint is two files in `<run>/checkpoints/`:

    ckpt-0000120000.safetensors G, D, G_ema in our network format (no pickle), with the config
    ckpt-0000120000.state.pt    training state: optimiser states, counters (images shown, steps,
                                ticks), progressive phase, data-stream position, ADA p and its
                                accumulators, the path-length mean, the non-finite-loss count;
                                plain tensors and numbers, loaded with torch.load(weights_only=True)

and `latest.json`, naming the newest complete pair, is replaced last (atomically). Every file goes
to a temporary name first and is renamed when complete, so a checkpoint either exists whole or not
at all; older checkpoints beyond the last N are removed only after the new one is in place.
Randomness needs no saved generator state: every random draw of a training step is seeded from
(seed, step, phase, round), so the step counter determines it.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from facegan.errors import CheckpointError
from facegan.networks.io import load_networks, save_networks
from facegan.utils.atomic import atomic_path, atomic_write_text

STATE_FORMAT = 1


@dataclass(frozen=True)
class CheckpointPaths:
    networks: Path
    state: Path

    @property
    def nimg(self) -> int:
        return int(re.search(r"(\d+)", self.networks.name).group(1))


def checkpoint_paths(run_dir: str | os.PathLike, nimg: int) -> CheckpointPaths:
    """Checkpoints are named by images shown (unique per step; kimg alone is not in short runs)."""
    d = Path(run_dir) / "checkpoints"
    return CheckpointPaths(d / f"ckpt-{nimg:010d}.safetensors", d / f"ckpt-{nimg:010d}.state.pt")


def save_checkpoint(run_dir: str | os.PathLike, nimg: int, networks: dict, config, state: dict[str, Any],
                    keep: int = 3, metadata: dict[str, str] | None = None) -> CheckpointPaths:
    paths = checkpoint_paths(run_dir, nimg)
    paths.networks.parent.mkdir(parents=True, exist_ok=True)
    save_networks(paths.networks, networks, config, metadata={"kimg": f"{nimg / 1000:g}", **(metadata or {})})
    buf = io.BytesIO()
    torch.save({"format": STATE_FORMAT, **state}, buf)
    with atomic_path(paths.state) as tmp:
        tmp.write_bytes(buf.getvalue())
    atomic_write_text(paths.networks.parent / "latest.json",
                      json.dumps({"networks": paths.networks.name, "state": paths.state.name, "nimg": nimg}))
    _prune(paths.networks.parent, keep)
    return paths


def _prune(folder: Path, keep: int) -> None:
    pairs = sorted(folder.glob("ckpt-*.safetensors"))
    for old in pairs[:-keep]:
        old.unlink(missing_ok=True)
        old.with_name(old.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)


def find_checkpoint(path: str | os.PathLike) -> CheckpointPaths:
    """A run directory (its latest checkpoint), a checkpoints/ folder, or one checkpoint file."""
    path = Path(path)
    if path.is_dir():
        folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        latest = folder / "latest.json"
        if not latest.is_file():
            raise CheckpointError(f"{path}: no checkpoint found (no {latest.relative_to(path.parent)})")
        try:
            info = json.loads(latest.read_text())
            paths = CheckpointPaths(folder / info["networks"], folder / info["state"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{latest}: unreadable ({exc})") from None
    else:
        name = path.name.replace(".state.pt", ".safetensors")
        paths = CheckpointPaths(path.with_name(name), path.with_name(name.replace(".safetensors", ".state.pt")))
    for p in (paths.networks, paths.state):
        if not p.is_file():
            raise CheckpointError(f"checkpoint file {p} is missing")
    return paths


def load_checkpoint(paths: CheckpointPaths, device: torch.device | str = "cpu"):
    """(networks, config, state) of a checkpoint; networks are in train mode with gradients on."""
    nets, config, _ = load_networks(paths.networks, device=device)
    for net in nets.values():
        net.requires_grad_(True).train()
    try:
        state = torch.load(paths.state, map_location=device, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{paths.state}: not a readable training state ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{paths.state}: not a facegan training state of format {STATE_FORMAT}")
    return nets, config, state
