"""`facegan generate | style-mix | truncation-sweep | noise-figure | interpolate`: thin layer over
facegan.generation."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from facegan.cli._common import FloatList, IntList

NOISE = click.Choice(["const", "random", "none"])


def network_options(fn):
    """--network and --device, loading the generator for the command."""
    @click.option("--network", "network_path", required=True, type=click.Path(exists=True, dir_okay=False),
                  help="Our .safetensors or an official NVIDIA pickle.")
    @click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps.")
    @functools.wraps(fn)
    def wrapper(network_path, device, **kwargs):
        import facegan
        from facegan.utils.device import pick_device

        return fn(G=facegan.load(network_path, device=pick_device(device)), **kwargs)
    return wrapper


def truncation_options(fn):
    @click.option("--trunc", default="1", show_default=True,
                  help="Truncation psi, or one per style group: coarse=0.5,middle=0.7,fine=1.")
    @click.option("--trunc-cutoff", type=int, default=None,
                  help="Truncate only layers below this (default: all; StyleGAN v1 networks: 8).")
    @functools.wraps(fn)
    def wrapper(trunc, trunc_cutoff, **kwargs):
        from facegan.generation.truncation import parse_truncation

        return fn(trunc=parse_truncation(trunc, trunc_cutoff), **kwargs)
    return wrapper


@click.command()
@network_options
@truncation_options
@click.option("--seeds", type=IntList(), default=None, help="Seeds, e.g. 0-3,7.")
@click.option("--projected-w", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Generate from a projector's .npz instead of seeds.")
@click.option("--noise-mode", type=NOISE, default="const", show_default=True)
@click.option("--class", "class_idx", type=int, default=None, help="Class label (conditional networks).")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default="png", show_default=True)
@click.option("--grid", is_flag=True, help="Also write grid.<format> of all images.")
@click.option("--no-latents", is_flag=True, help="Do not write seedNNNN.npz (z and ws) beside each image.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 is faster on AVX-512 BF16 CPUs and recent GPUs; fp32 reproduces the official images.")
def generate(G, trunc, seeds, projected_w, noise_mode, class_idx, outdir, fmt, grid, no_latents, precision):
    """Generate images from seeds: seed0000.png, ... (as NVIDIA's generate.py)."""
    from facegan.generation.images import generate_images, save_images

    result = generate_images(G, seeds, trunc, noise_mode, class_idx, projected_w, precision=precision)
    paths = save_images(result, outdir, fmt=fmt, grid=grid, save_latents=not no_latents)
    click.echo(f"wrote {len(paths)} image(s) to {outdir} (psi {trunc.describe()}, noise {noise_mode})")


@click.command("style-mix")
@network_options
@truncation_options
@click.option("--rows", type=IntList(), required=True, help="Destination seeds, e.g. 85,100,75.")
@click.option("--cols", type=IntList(), required=True, help="Seeds that give the styles, e.g. 55,821,1789.")
@click.option("--styles", default="0-6", show_default=True,
              help="Layers taken from the column seeds: coarse, middle, fine, or indices like 0-6.")
@click.option("--noise-mode", type=NOISE, default="const", show_default=True)
@click.option("--class", "class_idx", type=int, default=None)
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path))
def style_mix(G, trunc, rows, cols, styles, noise_mode, class_idx, outdir):
    """The style-mixing matrix: grid.png plus {row}-{col}.png (as NVIDIA's style_mixing.py)."""
    from facegan.generation.figures import style_mixing
    from facegan.utils.images import save_image

    fig = style_mixing(G, rows, cols, styles, trunc, noise_mode, class_idx)
    for name, img in fig.cells.items():
        if "-" in name:
            save_image(outdir / f"{name}.png", img)
    save_image(outdir / "grid.png", fig.grid)
    click.echo(f"wrote {outdir / 'grid.png'} and {len(rows) * len(cols)} mixed images")


@click.command("truncation-sweep")
@network_options
@click.option("--seeds", type=IntList(), required=True)
@click.option("--psi", "psis", type=FloatList(), default="-1,-0.7,-0.5,-0.2,0,0.2,0.5,0.7,1", show_default=True)
@click.option("--noise-mode", type=NOISE, default="const", show_default=True)
@click.option("--class", "class_idx", type=int, default=None)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The grid image.")
def truncation_sweep(G, seeds, psis, noise_mode, class_idx, out):
    """One row per seed, one column per psi (all layers truncated)."""
    from facegan.generation.figures import truncation_sweep as sweep
    from facegan.utils.images import save_image

    save_image(out, sweep(G, seeds, psis, noise_mode, class_idx).grid)
    click.echo(f"wrote {out} ({len(seeds)} seeds x {len(psis)} psi values)")


@click.command("noise-figure")
@network_options
@truncation_options
@click.option("--seeds", type=IntList(), default="1157,1012", show_default=True)
@click.option("--samples", type=int, default=100, show_default=True, help="Noise realisations for the std map.")
@click.option("--class", "class_idx", type=int, default=None)
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path))
def noise_figure(G, trunc, seeds, samples, class_idx, outdir):
    """noise-components.png (all / none / fine / coarse noise) and noise-std.png (per-pixel std x4)."""
    from facegan.generation.figures import noise_figure as figure
    from facegan.utils.images import save_image

    components, detail = figure(G, seeds, samples, trunc, class_idx)
    save_image(outdir / "noise-components.png", components.grid)
    save_image(outdir / "noise-std.png", detail.grid)
    click.echo(f"wrote {outdir / 'noise-components.png'} and {outdir / 'noise-std.png'}")


@click.command()
@network_options
@truncation_options
@click.option("--seeds", type=IntList(), required=True, help="Key frames, visited in order and back to the first.")
@click.option("--frames", type=int, default=30, show_default=True, help="Frames per transition.")
@click.option("--space", type=click.Choice(["z", "w"]), default="w", show_default=True)
@click.option("--kind", type=click.Choice(["linear", "slerp"]), default="linear", show_default=True)
@click.option("--fps", type=int, default=30, show_default=True)
@click.option("--noise-mode", type=NOISE, default="const", show_default=True)
@click.option("--class", "class_idx", type=int, default=None)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="video.mp4 or anim.gif")
def interpolate(G, trunc, seeds, frames, space, kind, fps, noise_mode, class_idx, out):
    """A looping interpolation video between seeds."""
    from facegan.generation.interpolate import interpolation_frames, write_animation

    video = interpolation_frames(G, seeds, frames, space, kind, trunc, noise_mode, class_idx)
    write_animation(video, out, fps)
    click.echo(f"wrote {out} ({len(video)} frames)")
