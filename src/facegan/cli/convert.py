"""`facegan convert SRC DEST.safetensors`: thin layer over facegan.interop.convert."""

from __future__ import annotations

from pathlib import Path

import click

from facegan.cli._network import NETWORK_PATH


@click.command()
@click.argument("src", type=NETWORK_PATH)
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
def convert(src: Path, dest: Path) -> None:
    """Convert an official NVIDIA network pickle (StyleGAN, StyleGAN2, StyleGAN2-ADA TensorFlow, or a
    stylegan2-ada-pytorch snapshot) to our .safetensors format, keeping G, D and G_ema.

    Nothing in the pickle is executed: it is read with a restricted unpickler."""
    from facegan.errors import ConfigError
    from facegan.interop import convert as convert_file

    if dest.suffix != ".safetensors":
        raise ConfigError(f"DEST must end in .safetensors, got {dest}")
    click.echo(convert_file(src, dest).summary())
