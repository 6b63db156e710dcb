"""The `facegan` command: a thin layer over the Python API.

Commands are registered here by name with their one-line help and loaded only when run, so
`facegan --help` answers instantly without importing torch. A command lives in a module of this
package (related commands share one: generate.py holds the five generation commands), takes its
options through the click types of types.py (the one validation layer), and only calls the API.
`main` is the one error boundary: one line `error: ...` per failure, exit codes 0/1/2/130.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
import traceback

import click

from facegan import __version__
from facegan.errors import FaceganError

# name -> (module, attribute, one-line help). Keep in the order of the data flow.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "dataset": (
        "facegan.cli.dataset", "dataset",
        "Create training archives from photos and inspect them."),
    "align": (
        "facegan.cli.align", "align", "Find the faces in photos and align them as FFHQ's."),
    "convert": (
        "facegan.cli.convert", "convert",
        "Convert an official NVIDIA pickle to .safetensors."),
    "pretrained": ("facegan.cli.pretrained", "pretrained", "NVIDIA's networks by name: list, download, verify."),
    "export": ("facegan.cli.export", "export", "Export a network to NVIDIA's pickle format or to ONNX."),
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
    "detect": ("facegan.cli.detect", "detect", "Spot generated faces: train and evaluate detectors, score photos."),
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
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110, "terminal_width": 110}
# Options of the whole program, accepted anywhere on the line (main() moves them to the front).
GLOBAL_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "--quiet", "--debug"})


@click.group(cls=LazyGroup, context_settings=CONTEXT, epilog="""\b
Examples:
  facegan dataset create --source photos/ --dest faces.zip --resolution 256
  facegan train --data faces.zip --kimg 1000
  facegan generate --network ffhq.pkl --seeds 0-7 --trunc 0.7 --outdir out
  facegan -v generate ...   (-v, -q and --debug may stand anywhere on the line)

Exit codes: 0 done, 1 error (bad file, network, data, disk), 2 bad usage or option, 130 interrupted.
See docs/cli.md.""")
@click.version_option(__version__, prog_name="facegan")
@click.option("-v", "--verbose", count=True, help="facegan's own progress details (-vv: also the libraries' debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.option("--debug", is_flag=True, envvar="FACEGAN_DEBUG",
              help="Show the Python traceback of an error (also FACEGAN_DEBUG=1).")
@click.option("--offline", is_flag=True, help="Never touch the network: use only cached files (= FACEGAN_OFFLINE=1).")
def cli(verbose: int, quiet: bool, debug: bool, offline: bool) -> None:
    """facegan: StyleGAN face generation end to end."""
    if offline:
        os.environ["FACEGAN_OFFLINE"] = "1"
    configure_logging(verbose, quiet)


def configure_logging(verbose: int, quiet: bool) -> None:
    """facegan's loggers at INFO (-v: DEBUG, -q: WARNING); other libraries at WARNING unless -vv."""
    root = logging.getLogger()
    if not root.handlers:  # a host that set up logging already (a test runner, an application) keeps its own
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("facegan").setLevel(level)


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Move -v/-q/--debug from anywhere on the line (before a `--`) to the front, where the group reads them."""
    front, rest = [], []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        (front if arg in GLOBAL_FLAGS else rest).append(arg)
    return front + rest


def debugging(argv: list[str]) -> bool:
    env = os.environ.get("FACEGAN_DEBUG", "").strip().lower()
    return "--debug" in argv or env not in ("", "0", "false", "no")


def describe_os_error(exc: OSError) -> str:
    """One line for an OS error: what failed, on which path ('permission denied: runs/x')."""
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.ENOSPC: "no space left",
               errno.ENOENT: "not found", errno.EROFS: "read-only file system", errno.EISDIR: "is a folder",
               errno.ENOTDIR: "not a folder", errno.EEXIST: "already exists", errno.EDQUOT: "disk quota exceeded"}
    reason = reasons.get(exc.errno) or (exc.strerror or str(exc) or type(exc).__name__).lower()
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    return reason + (": " + " -> ".join(map(str, paths)) if paths else "")


def error(message: str) -> None:
    """The one style of every error line."""
    click.secho(f"error: {message}", fg="red", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the error boundary of the CLI.

    Errors a user can cause (FaceganError, OS errors) print one line `error: ...` and exit 1 (a
    ConfigError, like a usage error, exits 2); usage errors print the usage and exit 2. A traceback
    only with --debug or FACEGAN_DEBUG=1.
    """
    from facegan.cli._common import ARGV

    argv = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    ARGV.set(tuple(argv))
    debug = debugging(argv)
    try:
        cli.main(args=argv, prog_name="facegan", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `facegan` or `facegan dataset` alone: the help
        click.echo(exc.ctx.get_help())
        return 0
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} -h)" if exc.ctx is not None else ""
        error(exc.format_message().rstrip(".") + hint)
        return exc.exit_code
    except click.ClickException as exc:
        error(exc.format_message())
        return exc.exit_code
    except FaceganError as exc:
        if debug:
            traceback.print_exc()
        error(str(exc))
        return exc.exit_code
    except OSError as exc:
        if debug:
            traceback.print_exc()
        error(describe_os_error(exc))
        return 1
    except Exception as exc:  # a bug: still one line, with the way to the traceback
        if debug:
            traceback.print_exc()
        error(f"internal error: {type(exc).__name__}: {exc} (a bug in facegan; rerun with --debug for the "
              "traceback and report it)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
