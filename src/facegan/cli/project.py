"""`facegan project`: a thin layer over facegan.projection."""

from __future__ import annotations

import time
from pathlib import Path

import click

from facegan.cli._common import class_option, global_quiet, network_options
from facegan.cli.types import Int, OutputDir


class HiddenArgument(click.Argument):
    """A positional argument kept for old command lines, not shown in the usage line."""

    def get_usage_pieces(self, ctx):
        return []


@click.command()
@click.argument("image", required=False, cls=HiddenArgument,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "target_opt", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The photo to project (as NVIDIA's projector.py; the photo may also come first, without --target).")
@network_options
@click.option("--outdir", required=True, type=OutputDir(), help="The folder written to (created if missing).")
@click.option("--num-steps", type=Int(1, 1_000_000), default=1000, show_default=True,
              help="Optimisation steps.")
@click.option("--seed", type=Int(0), default=303, show_default=True,
              help="Seed of the w statistics and the noise (NVIDIA's default).")
@click.option("--w-plus", is_flag=True, help="Optimise one w per layer (W+): closer fits, less editable latents.")
@click.option("--loss", "loss_kind", type=click.Choice(["auto", "lpips", "laplacian"]), default="auto",
              show_default=True,
              help="lpips: LPIPS-VGG16 as the official projector; laplacian: the fallback (not LPIPS); "
                   "auto: LPIPS if its weights are at hand, else the fallback.")
@click.option("--lpips", "lpips_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="LPIPS v0.1 linear weights (vgg.pth).")
@click.option("--vgg", "vgg_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="VGG16 weights (torchvision's vgg16-397923af.pth).")
@click.option("--save-video/--no-save-video", default=True, show_default=True,
              help="Write proj.mp4: target | projection at each step.")
@click.option("--video-every", type=Int(1), default=1, show_default=True,
              help="One video frame every N steps.")
@click.option("--align", "align", is_flag=True,
              help="Find the largest face and align it as FFHQ's were (needs facegan[faces]).")
@class_option
def project(G, image, target_opt, outdir, num_steps, seed, w_plus, loss_kind, lpips_path, vgg_path, save_video,
            video_every, align, class_idx):
    """Find the w (or W+) that reproduces a photo: target.png, proj.png, projected_w.npz, proj.mp4.

    \b
    Example:
    facegan project --target me.jpg --network ffhq.pkl --outdir proj
    facegan project --target holiday.jpg --align --network ffhq.pkl --outdir proj
    facegan generate --network ffhq.pkl --projected-w proj/projected_w.npz --outdir out
    """
    from facegan.errors import ConfigError
    from facegan.projection import ProjectionOptions, load_target, make_loss, write_projection
    from facegan.projection import project as run_projection

    if (image is None) == (target_opt is None):
        raise ConfigError("give the photo to project once, as --target PHOTO (IMAGE or --target, not both)")
    if image is not None:
        click.secho("warning: the photo now comes as --target PHOTO (the old form goes in the next release)",
                    fg="yellow", err=True)
    target = load_target(image or target_opt, G.img_resolution, G.img_channels, align=align)
    options = ProjectionOptions(num_steps=num_steps, seed=seed, w_plus=w_plus)
    loss = make_loss(loss_kind, lpips_path, vgg_path)
    start = time.perf_counter()
    result = run_projection(G, target, loss, options, class_idx=class_idx, progress=not global_quiet())
    elapsed = time.perf_counter() - start
    paths = write_projection(G, target, result, outdir, options, video=save_video, video_every=video_every,
                             extra={"target": str(image or target_opt), "elapsed_s": round(elapsed, 2)})
    click.echo(f"projected in {elapsed:.1f} s with the {result.loss_name} loss (distance "
               f"{result.distances[0]:.4f} -> {result.distances[-1]:.4f}); wrote "
               + ", ".join(p.name for p in paths.values()) + f" to {outdir}")
