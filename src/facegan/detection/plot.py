"""The figure of `detect eval`, drawn with Pillow (matplotlib is not a dependency of facegan): the ROC
curve of each network's fakes against the held-out photos, and the balanced accuracy per truncation
psi at the calibrated threshold."""

from __future__ import annotations

import os

from PIL import Image, ImageDraw, ImageFont

from facegan.utils.atomic import atomic_path

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))
W = 960
PANEL = 360   # side of each plot area
GRID = (225, 225, 225)
INK = (40, 40, 40)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _axes(img: Image.Image, draw: ImageDraw.ImageDraw, x0: int, y0: int, title: str, xlabel: str, ylabel: str,
          font, small) -> None:
    for i in range(11):
        t = i / 10
        draw.line([(x0 + t * PANEL, y0), (x0 + t * PANEL, y0 + PANEL)], fill=GRID)
        draw.line([(x0, y0 + t * PANEL), (x0 + PANEL, y0 + t * PANEL)], fill=GRID)
    draw.rectangle([x0, y0, x0 + PANEL, y0 + PANEL], outline=INK)
    for i in range(0, 11, 2):
        t = i / 10
        draw.text((x0 - 6, y0 + PANEL - t * PANEL), f"{t:.1f}", fill=INK, font=small, anchor="rm")
    draw.text((x0 + PANEL / 2, y0 - 12), title, fill=INK, font=font, anchor="ms")
    draw.text((x0 + PANEL / 2, y0 + PANEL + 34), xlabel, fill=INK, font=small, anchor="ms")
    label = Image.new("RGBA", (PANEL, 20), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((PANEL / 2, 10), ylabel, fill=INK, font=small, anchor="mm")
    turned = label.rotate(90, expand=True)
    img.paste(turned, (x0 - 52, y0), turned)


def plot_report(report: dict, path: str | os.PathLike) -> None:
    """Write the ROC and per-psi accuracy figure of an evaluation report to `path` (PNG), atomically."""
    nets = report["networks"]
    height = 50 + PANEL + 62 + 20 * len(nets) + 24   # panels, axis labels, one legend line per network, footer
    img = Image.new("RGB", (W, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)

    # Left: ROC curves, chance on the diagonal.
    x0, y0 = 80, 50
    _axes(img, draw, x0, y0, "ROC: held-out photos vs fakes", "false-positive rate (photos called generated)",
          "true-positive rate (fakes caught)", font, small)
    for i in range(0, 11, 2):
        draw.text((x0 + i / 10 * PANEL, y0 + PANEL + 6), f"{i / 10:.1f}", fill=INK, font=small, anchor="mt")
    draw.line([(x0, y0 + PANEL), (x0 + PANEL, y0)], fill=(160, 160, 160), width=1)
    for k, net in enumerate(nets):
        pts = [(x0 + f * PANEL, y0 + PANEL - t * PANEL) for f, t in zip(net["roc"]["fpr"], net["roc"]["tpr"])]
        colour = COLOURS[k % len(COLOURS)]
        draw.line(pts, fill=colour, width=3, joint="curve")
        tag = "" if net["seen_in_training"] else " (unseen)"
        ly = y0 + PANEL + 62 + 20 * k   # the legend, under both panels
        draw.rectangle([x0, ly - 6, x0 + 24, ly + 4], fill=colour)
        draw.text((x0 + 32, ly), f"{net['network'][-48:]}{tag}: AP {net['ap']:.3f}, AUC {net['auc']:.3f}, "
                  f"accuracy {net['acc_0.5']:.3f} at 0.5, {net['acc_calibrated']:.3f} calibrated",
                  fill=INK, font=small, anchor="lm")

    # Right: balanced accuracy per psi at the calibrated threshold; chance at 0.5.
    x1 = x0 + PANEL + 140
    _axes(img, draw, x1, y0, "Accuracy per psi (calibrated threshold)", "truncation psi of the fakes",
          "balanced accuracy", font, small)
    psis = report["psis"]
    draw.line([(x1, y0 + PANEL / 2), (x1 + PANEL, y0 + PANEL / 2)], fill=(160, 160, 160), width=1)
    slot = PANEL / max(len(psis), 1)
    bar = slot * 0.8 / max(len(nets), 1)
    for j, psi in enumerate(psis):
        cx = x1 + (j + 0.5) * slot
        draw.text((cx, y0 + PANEL + 6), f"{psi:g}", fill=INK, font=small, anchor="mt")
        for k, net in enumerate(nets):
            row = next((r for r in net["per_psi"] if r["psi"] == psi), None)
            if row is None:
                continue
            left = cx - slot * 0.4 + k * bar
            top = y0 + PANEL - row["acc_calibrated"] * PANEL
            draw.rectangle([left, top, left + bar - 2, y0 + PANEL], fill=COLOURS[k % len(COLOURS)])
    reals = report["reals"]["photos"]
    draw.text((W / 2, height - 8), f"{report['detector']['kind']} detector; reals: {reals}; "
              f"{report['fakes_per_psi']} fakes per psi", fill=INK, font=small, anchor="ms")
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
