#!/usr/bin/env python
"""The figure of docs/augmentation.md: what each augmentation pipeline does to one face.

    python scripts/make_augment_figure.py [--out docs/img/aug-pipelines.jpg] [--resolution 96]

The face is the astronaut portrait scikit-image ships (a NASA photo in the public domain), cropped
around the face. One row per pipeline, the first column the original, then draws at p = 1 (and the
full `bgc` pipeline at the p values ADA typically settles on for small datasets).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

ROWS = [("blit", 1.0), ("geom", 1.0), ("color", 1.0), ("filter", 1.0), ("noise", 1.0), ("cutout", 1.0),
        ("bgc", 0.2), ("bgc", 0.5), ("bgc", 1.0)]


def astronaut_face(resolution: int) -> np.ndarray:
    """[3, R, R] float in [-1, 1]."""
    import skimage.data
    from PIL import Image

    photo = skimage.data.astronaut()[20:240, 120:340]  # the face and some hair and background
    image = Image.fromarray(photo).resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1


def make_figure(out: Path, resolution: int = 96, draws: int = 7, seed: int = 0) -> Path:
    import torch
    from PIL import Image, ImageDraw

    from facegan.training.augment import AugmentPipe
    from facegan.utils.atomic import atomic_path

    torch.manual_seed(seed)
    face = torch.from_numpy(astronaut_face(resolution))
    label_w = 110
    canvas = Image.new("RGB", (label_w + (draws + 1) * resolution, len(ROWS) * resolution), "white")
    draw = ImageDraw.Draw(canvas)
    for row, (name, p) in enumerate(ROWS):
        pipe = AugmentPipe.from_preset(name)
        pipe.p.fill_(p)
        with torch.no_grad():
            images = torch.cat([face[None], pipe(face[None].repeat(draws, 1, 1, 1))])
        pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        y = row * resolution
        draw.text((8, y + resolution // 2 - 12), f"{name}\np = {p:g}", fill="black")
        for col, tile in enumerate(pixels):
            canvas.paste(Image.fromarray(tile), (label_w + col * resolution, y))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        canvas.save(tmp, format="JPEG", quality=88, optimize=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "aug-pipelines.jpg")
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_figure(args.out, args.resolution, seed=args.seed))


if __name__ == "__main__":
    main()
