"""`facegan generate | style-mix | truncation-sweep | noise-figure | interpolate`: a thin layer over
facegan.generation. Every command loads its network with --network/--device and writes atomically."""

from __future__ import annotations

import click

from facegan.cli._common import (
    aliased,
    class_option,
    global_quiet,
    network_options,
    noise_option,
    transform_options,
    truncation_options,
)
from facegan.cli.types import PSI_MAX, PSI_MIN, FloatList, Int, OutputDir, OutputFile, Seeds

OUTDIR = {"required": True, "type": OutputDir(), "help": "The folder written to (created if missing)."}


@click.command()
@network_options
@transform_options
@truncation_options
@click.option("--seeds", type=Seeds(), default=None, help="Seeds, e.g. 0-3,7 (0 to 2**32-1, at most 100,000).")
@click.option("--projected-w", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Generate from latents instead of seeds: a projector's projected_w.npz or the seedNNNN.npz "
                   "this command writes (writes proj00.png, ...).")
@noise_option
@class_option
@click.option("--outdir", **OUTDIR)
@click.option("--format", "fmt", type=click.Choice(["png", "jpg"]), default="png", show_default=True,
              help="Image file format.")
@click.option("--grid", is_flag=True, help="Also write grid.<format> of all the images.")
@click.option("--save-latents/--no-latents", default=True, show_default=True,
              help="Write seedNNNN.npz (z and ws) beside each image.")
@click.option("--batch", "batch_size", type=Int(1, 4096), default=8, show_default=True,
              help="Images computed at once.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 is faster on AVX-512 BF16/AMX CPUs and recent GPUs (slower elsewhere); fp32 reproduces "
                   "the official images.")
def generate(G, trunc, seeds, projected_w, noise_mode, class_idx, outdir, fmt, grid, save_latents, batch_size,
             precision):
    """Generate images from seeds: seed0000.png, ... (as NVIDIA's generate.py).

    \b
    Examples:
    facegan generate --network ffhq.pkl --seeds 0-3,7 --trunc 0.7 --outdir out
    facegan generate --network ffhq.pkl --seeds 0-7 --trunc coarse=0.5,middle=0.7 --grid --outdir out
    facegan generate --network stylegan3-t-ffhq --seeds 0-3 --translate 0.3,0 --rotate 10 --outdir out
    """
    from facegan.errors import ConfigError
    from facegan.generation.images import write_images

    if seeds is None and projected_w is None:
        raise ConfigError("give --seeds (e.g. 0-3,7) or --projected-w FILE")
    paths = write_images(G, outdir, seeds, trunc, noise_mode, class_idx, projected_w, fmt, grid, save_latents,
                         batch_size, precision, progress=not global_quiet())
    click.echo(f"wrote {len(paths)} image(s) to {outdir} (psi {trunc.describe()}, noise {noise_mode})")


@click.command("style-mix")
@network_options
@transform_options
@truncation_options
@click.option("--rows", type=Seeds(limit=64), required=True, help="Destination seeds, e.g. 85,100,75.")
@click.option("--cols", type=Seeds(limit=64), required=True, help="Seeds that give the styles, e.g. 55,821,1789.")
@click.option("--styles", default="0-6", show_default=True,
              help="Layers taken from the column seeds: coarse, middle, fine, or indices like 0-6.")
@noise_option
@class_option
@click.option("--outdir", **OUTDIR)
def style_mix(G, trunc, rows, cols, styles, noise_mode, class_idx, outdir):
    """The style-mixing matrix: grid.png plus {row}-{col}.png (as NVIDIA's style_mixing.py).

    \b
    Example:
    facegan style-mix --network ffhq.pkl --rows 85,100,75 --cols 55,821,1789 --styles coarse --outdir mix
    """
    from facegan.generation.style_mix import style_mixing
    from facegan.utils.images import save_image

    fig = style_mixing(G, rows, cols, styles, trunc, noise_mode, class_idx)
    for name, img in fig.cells.items():
        save_image(outdir / f"{name}.png", img)
    save_image(outdir / "grid.png", fig.grid)
    click.echo(f"wrote {outdir / 'grid.png'} and {len(fig.cells)} single images")


@click.command("truncation-sweep")
@network_options
@transform_options
@click.option("--seeds", type=Seeds(limit=64), required=True, help="One row per seed.")
@aliased("--trunc", "psis", aliases=("--psi",), type=FloatList(PSI_MIN, PSI_MAX),
         default="-1,-0.7,-0.5,-0.2,0,0.2,0.5,0.7,1", show_default=True,
         help="One column per psi (the paper's figure 8: 1,0.7,0.5,0,-0.5,-1).")
@noise_option
@class_option
@aliased("--output", "out", aliases=("--out",), required=True, type=OutputFile((".png", ".jpg")),
         help="The grid image, .png or .jpg (a name without extension gets .png).")
def truncation_sweep(G, seeds, psis, noise_mode, class_idx, out):
    """One row per seed, one column per psi (applied to every layer).

    \b
    Example:
    facegan truncation-sweep --network ffhq.pkl --seeds 91,388 --trunc 1,0.7,0.5,0,-0.5,-1 --output sweep.png
    """
    from facegan.generation.truncation_sweep import truncation_sweep as sweep
    from facegan.utils.images import save_image

    save_image(out, sweep(G, seeds, psis, noise_mode, class_idx).grid)
    click.echo(f"wrote {out} ({len(seeds)} seeds x {len(psis)} psi values)")


@click.command("noise-figure")
@network_options
@truncation_options
@click.option("--seeds", type=Seeds(limit=64), default="1157,1012", show_default=True, help="One row per seed.")
@click.option("--samples", type=Int(2, 10_000), default=100, show_default=True,
              help="Noise realisations for the standard-deviation map.")
@click.option("--noise-seed", type=Int(0), default=0, show_default=True, help="Seed of the random noise draws.")
@class_option
@click.option("--outdir", **OUTDIR)
def noise_figure(G, trunc, seeds, samples, noise_seed, class_idx, outdir):
    """noise-components.png (noise in all / no / fine / coarse layers) and noise-detail.png
    (a realisation, zoomed crops of four more, per-pixel std x4).

    \b
    Example:
    facegan noise-figure --network ffhq.pkl --seeds 1157,1012 --outdir noise
    """
    from facegan.generation.noise_figure import noise_components, noise_detail
    from facegan.utils.images import save_image

    components = noise_components(G, seeds, trunc, class_idx=class_idx)
    save_image(outdir / "noise-components.png", components.grid)
    detail = noise_detail(G, seeds, samples, trunc, class_idx=class_idx, seed=noise_seed)
    save_image(outdir / "noise-detail.png", detail.grid)
    click.echo(f"wrote {outdir / 'noise-components.png'} and {outdir / 'noise-detail.png'}")


@click.command()
@network_options
@transform_options
@truncation_options
@click.option("--seeds", type=Seeds(limit=1000), required=True,
              help="Key frames, visited in order and back to the first.")
@click.option("--frames", type=Int(1, 10_000), default=30, show_default=True, help="Frames per transition.")
@click.option("--space", type=click.Choice(["z", "w"]), default="w", show_default=True,
              help="Interpolate the latents z or the intermediate latents w.")
@click.option("--kind", type=click.Choice(["linear", "slerp"]), default="linear", show_default=True,
              help="Straight lines, or great circles (slerp).")
@click.option("--fps", type=Int(1, 240), default=30, show_default=True, help="Frames per second of the video.")
@noise_option
@class_option
@aliased("--output", "out", aliases=("--out",), required=True, type=OutputFile((".mp4", ".gif")),
         help="video.mp4 or anim.gif (a name without extension gets .mp4).")
def interpolate(G, trunc, seeds, frames, space, kind, fps, noise_mode, class_idx, out):
    """A looping interpolation video through the seeds (and back to the first).

    \b
    Example:
    facegan interpolate --network ffhq.pkl --seeds 1,2,3 --frames 60 --space w --output walk.mp4
    """
    from facegan.generation.interpolate import write_interpolation

    n = write_interpolation(G, out, seeds, frames, space, kind, trunc, noise_mode, class_idx, fps,
                            progress=not global_quiet())
    click.echo(f"wrote {out} ({n} frames)")
