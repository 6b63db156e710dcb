"""The files of a projection, named as the official projector names them:

    target.png          the target, cropped and resized to the network's resolution
    proj.png            the projected image (the last w, the network's constant noise)
    projected_w.npz     key 'w': float32 [1, num_ws, w_dim], for `facegan generate --projected-w`
    proj.mp4            the optimisation: target | projection at each step, 10 fps (optional)
    projection.json     ours: options, loss used, distance per step, time taken
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from facegan.generation.images import synthesize
from facegan.generation.interpolate import animation_writer
from facegan.projection.projector import Projection, ProjectionOptions
from facegan.utils.atomic import atomic_write_bytes, atomic_write_text
from facegan.utils.images import save_image


def write_projection(G, target: np.ndarray, result: Projection, outdir: str | os.PathLike,
                     options: ProjectionOptions | None = None, video: bool = True, video_every: int = 1,
                     fps: int = 10, extra: dict | None = None) -> dict[str, Path]:
    """Write the files listed in the module docstring; returns them by name."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = {name: outdir / name for name in ("target.png", "proj.png", "projected_w.npz", "projection.json")}
    save_image(paths["target.png"], target)
    save_image(paths["proj.png"], synthesize(G, result.w)[0])
    buf = io.BytesIO()
    np.savez(buf, w=result.w.numpy().astype(np.float32))
    atomic_write_bytes(paths["projected_w.npz"], buf.getvalue())
    if video:
        paths["proj.mp4"] = outdir / "proj.mp4"
        steps = torch.arange(0, len(result.w_steps), max(1, video_every))
        if steps[-1] != len(result.w_steps) - 1:  # always end on the result
            steps = torch.cat([steps, torch.tensor([len(result.w_steps) - 1])])
        with animation_writer(paths["proj.mp4"], fps) as append:
            for chunk in steps.split(8):
                for frame in synthesize(G, result.w_steps[chunk]):
                    append(np.concatenate([target, frame], axis=1))
    summary = {
        "loss": result.loss_name,
        "options": dataclasses.asdict(options) if options is not None else None,
        "num_steps": len(result.distances),
        "first_distance": result.distances[0],
        "final_distance": result.distances[-1],
        "distances": result.distances,
        **(extra or {}),
    }
    atomic_write_text(paths["projection.json"], json.dumps(summary, indent=2) + "\n")
    return paths
