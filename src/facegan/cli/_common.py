"""Options shared by the command modules: the network and device, truncation, class and noise, and
old spellings kept as hidden aliases. Their values are checked by the types of types.py."""

from __future__ import annotations

import contextvars
import functools

import click

from facegan.cli._network import NETWORK
from facegan.cli.types import Device, Float, FloatList, Int, IntList, Truncation, Vec2
from facegan.utils.parsing import parse_float_list, parse_int_list

__all__ = ["AliasedOption", "FloatList", "IntList", "class_option", "device_option", "global_quiet",
           "network_options", "noise_option", "parse_float_list", "parse_int_list", "transform_options",
           "truncation_options"]

NOISE = click.Choice(["const", "random", "none"])
# The command line being run (set by facegan.cli.main), so an old spelling can be named in a warning.
ARGV: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("facegan_argv", default=())


class AliasedOption(click.Option):
    """An option whose `aliases` (old spellings, kept for one release) work but are not shown in --help."""

    def __init__(self, *args, aliases: tuple[str, ...] = (), **kwargs):
        self.aliases = tuple(aliases)
        super().__init__(*args, **kwargs)

    def handle_parse_result(self, ctx, opts, args):
        used = [a for a in self.aliases if any(t == a or t.startswith(a + "=") for t in ARGV.get())]
        if used:
            click.secho(f"warning: {used[0]} is now {self.opts[0]} (the old name goes in the next release)",
                        fg="yellow", err=True)
        return super().handle_parse_result(ctx, opts, args)

    def get_help_record(self, ctx):
        return self._without_aliases(super().get_help_record, ctx)

    def get_error_hint(self, ctx):
        return self._without_aliases(super().get_error_hint, ctx)

    def _without_aliases(self, method, ctx):
        opts = self.opts
        self.opts = [o for o in opts if o not in self.aliases]
        try:
            return method(ctx)
        finally:
            self.opts = opts


def aliased(*names: str, aliases: tuple[str, ...] = (), **kwargs):
    """click.option with hidden old spellings: aliased("--trunc", aliases=("--psi",), ...)."""
    decls = [n for n in names if n.startswith("-")]
    dest = [n for n in names if not n.startswith("-")]
    return click.option(*decls, *aliases, *dest, cls=AliasedOption, aliases=aliases, **kwargs)


def global_quiet() -> bool:
    """Whether `facegan -q` was given (anywhere on the line): no progress bars."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("quiet"))


def device_option(fn):
    return click.option("--device", type=Device(), default="auto", show_default=True,
                        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")(fn)


def network_options(fn):
    """--network and --device: the command receives the loaded generator as `G`."""
    @click.option("--network", "network_path", required=True, type=NETWORK,
                  help="Our .safetensors, a checkpoint, an official NVIDIA pickle, a URL or a pretrained name.")
    @device_option
    @functools.wraps(fn)
    def wrapper(network_path, device, **kwargs):
        import facegan
        from facegan.utils.device import pick_device

        return fn(G=facegan.load(network_path, device=pick_device(device)), **kwargs)
    return wrapper


def truncation_options(fn):
    """--trunc (one psi or psi per style group) and --trunc-cutoff: the command receives `trunc`."""
    @aliased("--trunc", aliases=("--psi",), type=Truncation(), default="1", show_default=True,
             help="Truncation psi (-2 to 2), or one per style group: coarse=0.5,middle=0.7,fine=1 (unnamed: 1).")
    @click.option("--trunc-cutoff", type=Int(0, 64), default=None,
                  help="Truncate only the layers below this index (default: all; StyleGAN v1 networks: 8).")
    @functools.wraps(fn)
    def wrapper(trunc, trunc_cutoff, **kwargs):
        from facegan.generation.truncation import parse_truncation

        return fn(trunc=parse_truncation(trunc, trunc_cutoff), **kwargs)
    return wrapper


def class_option(fn):
    return click.option("--class", "class_idx", type=Int(0), default=None,
                        help="Class label (required for conditional networks).")(fn)


def noise_option(fn):
    """--noise-mode; with a StyleGAN3 network (no noise inputs) a value given on the line earns a warning."""
    @click.option("--noise-mode", type=NOISE, default="const", show_default=True,
                  help="const: the stored noise maps; random: fresh noise; none: no noise. "
                       "StyleGAN3 has no noise inputs: there it does nothing.")
    @functools.wraps(fn)
    def wrapper(noise_mode, **kwargs):
        from facegan.networks.stylegan3 import is_stylegan3

        ctx = click.get_current_context()
        given = ctx.get_parameter_source("noise_mode") == click.core.ParameterSource.COMMANDLINE
        if given and is_stylegan3(kwargs.get("G")):
            click.secho("warning: --noise-mode does nothing here: StyleGAN3 networks have no noise inputs",
                        fg="yellow", err=True)
        return fn(noise_mode=noise_mode, **kwargs)
    return wrapper


def transform_options(fn):
    """--translate X,Y and --rotate DEG (StyleGAN3 only), applied as gen_images.py applies them: the
    inverse transform goes into G.synthesis.input.transform before any image is drawn."""
    @click.option("--translate", type=Vec2(-1e3, 1e3), default=None,
                  help="StyleGAN3: translate the images by X,Y (in image widths, e.g. 0.3,0), as gen_images.py.")
    @click.option("--rotate", type=Float(-3600, 3600), default=None,
                  help="StyleGAN3: rotate the images by DEG degrees, as gen_images.py.")
    @functools.wraps(fn)
    def wrapper(translate, rotate, **kwargs):
        if translate is not None or rotate is not None:
            from facegan.networks.stylegan3 import set_transform

            set_transform(kwargs["G"], translate or (0.0, 0.0), rotate or 0.0)
        return fn(**kwargs)
    return wrapper
