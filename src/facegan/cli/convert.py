"""`facegan convert SRC DEST.safetensors`: thin layer over facegan.interop.convert."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli._network import NETWORK_PATH
from facegan.cli.types import OutputFile


@click.command()
@click.argument("src", type=NETWORK_PATH)
@click.argument("dest", type=OutputFile((".safetensors",), add_suffix=False))
def convert(src: Path, dest: Path) -> None:
    """Convert an official NVIDIA network pickle (StyleGAN, StyleGAN2, StyleGAN2-ADA TensorFlow, or a
    stylegan2-ada-pytorch snapshot) to our .safetensors format, keeping G, D and G_ema.

    Nothing in the pickle is executed: it is read with a restricted unpickler.

    \b
    Example:
    facegan convert stylegan2-ffhq-config-f.pkl ffhq.safetensors
    """
    from facegan.interop import convert as convert_file

    click.echo(convert_file(src, dest).summary())
