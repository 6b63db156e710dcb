#!/usr/bin/env python
"""The figure of docs/datasets.md: a real photo before and after FFHQ alignment.

    python scripts/make_align_figure.py [--out docs/img/align-astronaut.jpg] [--resolution 256]

The photo is the astronaut portrait scikit-image ships (a NASA photo in the public domain). Top
row: the photo with the detector's box (blue), the 68 landmarks (green; the eye and mouth points
the recipe uses in red) and the FFHQ square (yellow, its top edge thicker), then the aligned face.
Bottom row: the same photo rotated by 20 degrees, shrunk to 80% and mirrored, aligned the same
way: the eyes land on the same pixels (the dotted lines at 3/8 and 5/8 of the width and at the
eyes' height).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))


def annotate(photo: np.ndarray, face, side: int):
    """The photo scaled to `side` pixels high, with the box, landmarks and FFHQ square drawn on it."""
    from PIL import Image, ImageDraw

    scale = side / photo.shape[0]
    img = Image.fromarray(photo).resize((round(photo.shape[1] * scale), side), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = (v * scale for v in face.face.rect)
    draw.rectangle([left, top, right, bottom], outline=(60, 140, 255), width=2)
    corners = [tuple(p) for p in face.quad.corners * scale]
    draw.line(corners + corners[:1], fill=(255, 220, 0), width=2)
    draw.line([corners[3], corners[0]], fill=(255, 220, 0), width=5)   # the top edge
    used = set(range(36, 48)) | {48, 54}
    for i, (x, y) in enumerate(face.face.landmarks * scale):
        r = 2.0 if i in used else 1.2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 40, 40) if i in used else (40, 230, 80))
    return img


def guides(aligned: np.ndarray, eye_y: float):
    from PIL import Image, ImageDraw

    img = Image.fromarray(aligned)
    draw = ImageDraw.Draw(img)
    side = img.width
    for x in (side * 3 / 8, side * 5 / 8):
        for y in range(0, side, 8):
            draw.line([(x, y), (x, y + 3)], fill=(255, 255, 255), width=1)
    for x in range(0, side, 8):
        draw.line([(x, eye_y), (x + 3, eye_y)], fill=(255, 255, 255), width=1)
    return img


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(REPO / "docs" / "img" / "align-astronaut.jpg"))
    parser.add_argument("--resolution", type=int, default=256)
    args = parser.parse_args()
    import skimage.data
    from PIL import Image

    from facegan.data.faces import AlignOptions, align_photo

    photo = skimage.data.astronaut()
    turned = Image.fromarray(photo).rotate(20, Image.Resampling.BICUBIC, expand=True)
    turned = turned.resize((round(turned.width * 0.8), round(turned.height * 0.8)), Image.Resampling.LANCZOS)
    turned = np.ascontiguousarray(np.asarray(turned)[:, ::-1])
    opts = AlignOptions(resolution=args.resolution)
    side, height = args.resolution, args.resolution * 3 // 2
    rows = []
    for p in (photo, turned):
        face = align_photo(p, opts).aligned[0]
        eye_y = float(face.quad.to_output(face.face.landmarks[36:48], side)[:, 1].mean())
        rows.append((annotate(p, face, height), guides(face.image, eye_y)))
    gap = 8
    width = max(a.width for a, _ in rows) + gap + side
    canvas = Image.new("RGB", (width, 2 * height + gap), (255, 255, 255))
    for r, (before, after) in enumerate(rows):
        y = r * (height + gap)
        canvas.paste(before, (0, y))
        canvas.paste(after, (width - side, y + (height - side) // 2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.out, quality=90)
    print(f"wrote {args.out} ({canvas.width}x{canvas.height})")


if __name__ == "__main__":
    main()
