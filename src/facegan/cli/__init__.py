"""The `facegan` command: a thin layer over the Python API.

Commands are registered here by name with their one-line help and loaded only when run, so
`facegan --help` answers instantly without importing torch. Each command lives in its own module
of this package and only parses options and calls the API.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from facegan import __version__
from facegan.errors import FaceganError

# name -> (module, attribute, one-line help). Keep in the order of the data flow.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "dataset": (
        "facegan.cli.dataset", "dataset",
        "Create training archives from photos and inspect them."),
    "convert": (
        "facegan.cli.convert", "convert",
        "Convert an official NVIDIA pickle to .safetensors."),
    "pretrained": ("facegan.cli.pretrained", "pretrained", "NVIDIA's networks by name: list, download, verify."),
    "train": (
        "facegan.cli.train", "train",
        "Train StyleGAN, StyleGAN2 or DCGAN on a dataset archive."),
    "generate": (
        "facegan.cli.generate", "generate",
        "Generate images from seeds (truncation, noise, classes)."),
    "style-mix": (
        "facegan.cli.generate", "style_mix",
        "The style-mixing grid: coarse/middle/fine styles of other seeds."),
    "truncation-sweep": (
        "facegan.cli.generate", "truncation_sweep",
        "One face per seed across a range of truncation psi."),
    "noise-figure": (
        "facegan.cli.generate", "noise_figure",
        "The paper's figure of the noise inputs and their effect."),
    "interpolate": (
        "facegan.cli.generate", "interpolate",
        "Looping interpolation videos between seeds in z or w."),
    "project": (
        "facegan.cli.project", "project",
        "Find the latent that reproduces a real photo."),
    "metrics": (
        "facegan.cli.metrics", "metrics",
        "FID, KID, precision/recall, PPL and SWD of a network."),
    "serve": (
        "facegan.cli.serve", "serve",
        "Serve the Which Face Is Real game, lessons and explorer."),
    "pool": ("facegan.cli.pool", "pool", "Fill the web app's shared pool of fakes (generation workers)."),
    "db": ("facegan.cli.db", "db", "The web app's database (SQLite or PostgreSQL): migrate, export answers."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # the command is not built yet in this checkout
                return None
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110}


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="facegan")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("--offline", is_flag=True, help="Never touch the network: use only cached files (= FACEGAN_OFFLINE=1).")
def cli(verbose: int, offline: bool) -> None:
    """facegan: StyleGAN face generation end to end."""
    if offline:
        os.environ["FACEGAN_OFFLINE"] = "1"
    level = logging.WARNING - 10 * min(verbose + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI, printing user errors without a traceback."""
    try:
        cli.main(args=argv, prog_name="facegan", standalone_mode=False)
    except FaceganError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
