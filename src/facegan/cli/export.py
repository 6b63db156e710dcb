"""`facegan export NETWORK OUT --format nvidia|onnx`: thin layer over facegan.export."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli._network import NETWORK_PATH
from facegan.cli.types import Float, Int, OutputFile, Vec2


@click.command()
@click.argument("network", type=NETWORK_PATH)
@click.argument("out", type=OutputFile((".pkl", ".onnx"), add_suffix=False))
@click.option("--format", "fmt", type=click.Choice(["nvidia", "onnx"]), required=True,
              help="nvidia: a TensorFlow-layout network pickle (G, D, Gs) that NVIDIA's PyTorch code reads "
                   "(StyleGAN2; StyleGAN v1 in its own layout); onnx: the generator as an ONNX graph.")
@click.option("--part", type=click.Choice(["generator", "mapping", "synthesis"]), default=None,
              help="onnx: the whole generator (z, psi -> image; default), or its mapping (-> ws) or synthesis "
                   "(ws -> image).")
@click.option("--dtype", "output", type=click.Choice(["uint8", "float"]), default=None,
              help="onnx: uint8 NHWC images (default) or float NCHW in [-1, 1].")
@click.option("--noise-mode", type=click.Choice(["const", "none"]), default=None,
              help="onnx: the stored noise buffers baked in (const, default) or no noise.")
@click.option("--trunc-cutoff", type=Int(0, 64), default=None,
              help="onnx: psi applies to this many layers of w (default: the network's own).")
@click.option("--translate", type=Vec2(-1e3, 1e3), default=None,
              help="onnx, StyleGAN3: the default of the graph's optional translate input, X,Y in image widths "
                   "(as gen_images.py's --translate; default: the network's own, 0,0).")
@click.option("--rotate", type=Float(-3600, 3600), default=None,
              help="onnx, StyleGAN3: the default of the graph's optional rotate input, in degrees "
                   "(as gen_images.py's --rotate; default: the network's own, 0).")
def export(network: Path, out: Path, fmt: str, part: str | None, output: str | None, noise_mode: str | None,
           trunc_cutoff: int | None, translate: tuple[float, float] | None, rotate: float | None) -> None:
    """Write NETWORK (a facegan .safetensors file or checkpoint, or an official pickle) to OUT in
    NVIDIA's network format (OUT.pkl) or as ONNX (OUT.onnx).

    \b
    Examples:
    facegan export network.safetensors network.pkl --format nvidia
    facegan export network.safetensors generator.onnx --format onnx
    facegan export stylegan3-t.pkl generator.onnx --format onnx --translate 0.1,0 --rotate 10
    """
    from facegan.interop.export import export as export_networks

    options = dict(part=part, output=output, noise_mode=noise_mode, truncation_cutoff=trunc_cutoff,
                   translate=translate, rotate=rotate)
    options = {k: v for k, v in options.items() if v is not None}
    click.echo(export_networks(network, out, format=fmt, **options).summary())
