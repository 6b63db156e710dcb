"""`facegan align`: thin layer over facegan.data.align_photos."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli.types import Float, Int, OutputDir


def face_options(faces_default: str, prefix: str = ""):
    """The options that choose faces (also used by `facegan dataset create`, with `With --align ffhq: `)."""

    def says(text: str) -> str:
        return prefix + text if prefix else text[0].upper() + text[1:]

    options = [
        click.option("--faces", type=click.Choice(["largest", "all"]), default=faces_default, show_default=True,
                     help=says("one face per photo (the largest that passes), or every face.")),
        click.option("--min-face", type=Int(1, 100_000), default=None, metavar="PX",
                     help=says("skip faces whose FFHQ square is under PX photo pixels.")),
        click.option("--max-yaw", type=Float(0, 90), default=None, metavar="DEG",
                     help=says("skip faces turned further than DEG degrees from the camera.")),
        click.option("--detector", type=click.Choice(["hog", "cnn"]), default="hog", show_default=True,
                     help=says("dlib's HOG detector, or its CNN one (finds more faces, ~10x slower).")),
    ]

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


@click.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--outdir", required=True, type=OutputDir(),
              help="Where the aligned faces (PHOTO_00.png, ...) and faces.json go.")
@click.option("--resolution", type=Int(4, 8192), default=1024, show_default=True,
              help="Output side, a power of two (FFHQ: 1024).")
@face_options("all")
@click.option("--max-upscale", type=Float(1, 1000), default=2.0, show_default=True,
              help="Skip faces that would be enlarged more than this.")
@click.option("--workers", type=Int(1, 256), default=None,
              help="Processes (default: one per core for 16+ photos).")
def align(photos, outdir, resolution, faces, min_face, max_yaw, max_upscale, detector, workers) -> None:
    """Find the faces in PHOTOS (files or folders) and align each as FFHQ's were.

    \b
    Examples:
    facegan align me.jpg --outdir aligned --resolution 256
    facegan project --network ffhq.pkl --target me.jpg --align --outdir proj
    """
    from facegan.data.align_photos import align_photos
    from facegan.data.faces import AlignOptions

    opts = AlignOptions(resolution=resolution, faces=faces, min_face=min_face, max_yaw=max_yaw, detector=detector,
                        max_upscale=max_upscale)
    report = align_photos(list(photos), outdir, opts, workers=workers)
    click.echo(report.summary())
