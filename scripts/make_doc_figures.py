#!/usr/bin/env python
"""Regenerate every figure of docs/generation.md (docs/img/gen-*) from one network.

    python scripts/make_doc_figures.py --network demo/runs/00000-...-demo/network-final.safetensors

Each figure is made by the same API the `facegan` commands call, with the settings the docs quote.
Small networks are scaled up (nearest neighbour) so that every cell is at least 128 pixels wide.
The projection figure projects a real LFW face (scikit-image's) or --target.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

log = logging.getLogger("make_doc_figures")


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    return image if factor == 1 else image.repeat(factor, axis=0).repeat(factor, axis=1)


def make_doc_figures(network: str | Path, outdir: str | Path = REPO / "docs" / "img", device: str = "auto",
                     projection_steps: int = 300, target: str | Path | None = None) -> list[Path]:
    """Write docs/img/gen-*.png (and gen-interpolate.gif); returns the paths written."""
    import facegan
    from facegan.generation import (
        generate_images,
        interpolation_frames,
        noise_components,
        noise_detail,
        parse_truncation,
        style_mixing,
        synthesize,
        truncation_sweep,
        write_animation,
    )
    from facegan.generation.mixing import STYLE_GROUPS, group_layers
    from facegan.projection import load_target, make_loss, project
    from facegan.utils.device import pick_device
    from facegan.utils.images import make_grid, save_image

    outdir = Path(outdir)
    G = facegan.load(network, device=pick_device(device))
    k = max(1, 128 // G.img_resolution)
    written: list[Path] = []

    def save(name: str, image: np.ndarray) -> None:
        path = outdir / name
        save_image(path, upscale(image, k))
        written.append(path)
        log.info("wrote %s", path)

    # facegan generate --seeds 0-15 --trunc 0.7 --grid
    save("gen-seeds.png", make_grid(generate_images(G, list(range(16)), parse_truncation("0.7")).images, cols=8))

    # The same seeds under one psi for all layers, and psi for one group only.
    groups = [g for g in STYLE_GROUPS if group_layers(g, G.num_ws)]
    specs = ["1", "0.5"] + [f"{g}=0.5" for g in groups]
    rows = [generate_images(G, list(range(6)), parse_truncation(s)).images for s in specs]
    save("gen-trunc-groups.png", make_grid(np.concatenate(rows), cols=6))
    log.info("gen-trunc-groups.png rows: %s", ", ".join(specs))

    if G.num_ws > 1:
        # facegan style-mix --rows 85,100,75 --cols 55,821,1789 --styles coarse (and middle)
        for styles in ("coarse", "middle"):
            save(f"gen-style-mix-{styles}.png", style_mixing(G, [85, 100, 75], [55, 821, 1789], styles).grid)

    # facegan truncation-sweep --seeds 91,388 (the seed tutorial's psi from -1 to 1)
    save("gen-truncation-sweep.png", truncation_sweep(G, [91, 388]).grid)

    if any(m for m in G.synthesis.modules() if hasattr(m, "noise_const")):
        # facegan noise-figure --seeds 1157,1012
        save("gen-noise-components.png", noise_components(G, [1157, 1012]).grid)
        save("gen-noise-detail.png", noise_detail(G, [1157, 1012], samples=100).grid)

    # facegan interpolate --seeds 1,2,3,4 --frames 15 --space w --output gen-interpolate.gif
    frames = interpolation_frames(G, [1, 2, 3, 4], frames_per_transition=15, space="w")
    path = outdir / "gen-interpolate.gif"
    write_animation(np.stack([upscale(f, k) for f in frames]), path, fps=15)
    written.append(path)

    # facegan project: target | w_avg (the start) | after 10%, 30% of the steps | the result (W) | W+
    with tempfile.TemporaryDirectory() as tmp:
        if target is None:
            from PIL import Image

            from facegan.data.sources import lfw_subset

            target = Path(tmp) / "lfw-face.png"
            Image.fromarray(lfw_subset()[7]).save(target)
        photo = load_target(target, G.img_resolution, G.img_channels)
    loss = make_loss("auto")
    from facegan.projection import ProjectionOptions

    w_run = project(G, photo, loss, ProjectionOptions(num_steps=projection_steps), progress=False)
    plus = project(G, photo, loss, ProjectionOptions(num_steps=projection_steps, w_plus=True), progress=False)
    picks = [0, projection_steps // 10, projection_steps * 3 // 10, projection_steps - 1]
    cells = [photo, *synthesize(G, w_run.w_steps[picks]), synthesize(G, plus.w)[0]]
    save("gen-projection.png", make_grid(np.stack(cells), cols=len(cells)))
    log.info("projection (%s loss): distance %.4f -> %.4f (W), %.4f (W+)", w_run.loss_name,
             w_run.distances[0], w_run.distances[-1], plus.distances[-1])
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", required=True, help="the network to draw the figures with")
    parser.add_argument("--outdir", default=str(REPO / "docs" / "img"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--projection-steps", type=int, default=300)
    parser.add_argument("--target", default=None, help="photo for the projection figure (default: an LFW face)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_doc_figures(args.network, args.outdir, args.device, args.projection_steps, args.target)


if __name__ == "__main__":
    main()
