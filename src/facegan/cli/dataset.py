"""`facegan dataset create|info`: thin layer over facegan.data."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli._common import global_quiet
from facegan.cli.align import face_options
from facegan.cli.types import ArchiveDest, Float, Int, OutputFile, force_option
from facegan.data.transforms import RESIZE_FILTERS, TRANSFORMS, parse_resolution


@click.group(epilog="""\b
Examples:
  facegan dataset create --source photos/ --dest faces.zip --resolution 256
  facegan dataset info faces.zip""")
def dataset() -> None:
    """Create training archives from photos and inspect them."""


@dataset.command()
@force_option("Replace an existing OUT.zip.")
@click.option("--source", required=True, metavar="SRC",
              help="Folder, zip, CelebA folder, *_lmdb folder, cifar-10-python.tar.gz or builtin:lfw-subset.")
@click.option("--dest", required=True, type=ArchiveDest(),
              help="OUT.zip (an existing one only with --force), or a new or empty folder.")
@click.option("--resolution", metavar="N|WxH", default=None,
              help="Output side, a power of two (default: the input size); WxH (e.g. 512x384) for center-crop-wide.")
@click.option("--transform", type=click.Choice(TRANSFORMS), default=None,
              help="Crop to a square (default: none; CelebA sources: celeba).")
@click.option("--resize-filter", type=click.Choice(RESIZE_FILTERS), default="lanczos", show_default=True,
              help="box reproduces the paper's FFHQ-256 FIDs.")
@click.option("--height", type=Int(1, 65536), default=None,
              help="Picture height inside the square (center-crop-wide).")
@click.option("--max-images", type=Int(1), default=None, help="Stop after writing this many images.")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="1 = grayscale, 3 = RGB (default: 3; 1 for grayscale builtin sets).")
@click.option("--labels", type=click.Choice(["auto", "none", "attributes"]), default="auto", show_default=True,
              help="auto carries class labels/dataset.json; attributes = CelebA's 40 attributes.")
@click.option("--max-upscale", type=Float(1, 1000), default=2.0, show_default=True,
              help="Skip images that would be enlarged more than this.")
@click.option("--workers", type=Int(0, 256), default=None,
              help="Conversion processes (default: one per core, up to 16, for 2000+ images).")
@click.option("--align", "align", type=click.Choice(["none", "ffhq"]), default="none", show_default=True,
              help="ffhq: find the faces and align them as FFHQ's (needs facegan[faces]; default resolution 1024).")
@face_options("largest", prefix="With --align ffhq: ")
def create(force, source, dest, resolution, transform, resize_filter, height, max_images, channels, labels,
           max_upscale, workers, align, faces, min_face, max_yaw, detector) -> None:
    """Convert photos into a training archive (stylegan2-ada-pytorch layout, as NVIDIA's dataset_tool.py).

    \b
    Examples:
    facegan dataset create --source photos/ --dest faces.zip --resolution 256
    facegan dataset create --source holiday-photos/ --dest faces.zip --align ffhq --resolution 256
    facegan dataset create --source img_align_celeba/ --dest celeba.zip --resolution 128
    facegan dataset create --source builtin:lfw-subset --dest lfw.zip --resolution 32 --force
    """
    from facegan.data.create import CreateOptions, create_dataset, report_path

    width, wide_height = parse_resolution(resolution) if resolution is not None else (None, None)
    if wide_height is not None and height is not None and wide_height != height:
        raise click.UsageError(f"--resolution {resolution} and --height {height} disagree")
    opts = CreateOptions(source=source, dest=dest, resolution=width, transform=transform, resize_filter=resize_filter,
                         height=height if height is not None else wide_height, max_images=max_images,
                         channels=int(channels) if channels else None, labels=labels, max_upscale=max_upscale,
                         workers=workers, progress=not global_quiet(), align=align, faces=faces, min_face=min_face,
                         max_yaw=max_yaw, detector=detector)
    report = create_dataset(opts)
    click.echo(report.summary())
    click.echo(f"report: {report_path(dest)}")


@dataset.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--preview", type=OutputFile((".png", ".jpg")), default=None,
              help="Where to write the preview grid (default: PATH.preview.png).")
@click.option("--count", type=Int(1, 4096), default=64, show_default=True, help="Images in the preview.")
def info(path: Path, preview: Path | None, count: int) -> None:
    """Print what an archive holds and write a preview grid.

    \b
    Example:
    facegan dataset info faces.zip --preview faces.png --count 16
    """
    from facegan.data.info import dataset_info, write_preview

    click.echo(dataset_info(path).summary())
    preview = preview or path.with_name(path.name + ".preview.png")
    n = write_preview(path, preview, count=count)
    click.echo(f"  preview:    {preview} ({n} images)")
