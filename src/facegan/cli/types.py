"""The CLI's one validation layer: click parameter types that every command uses.

Each type refuses bad input while click parses the line, before any work starts, with one line
that names the option and the problem:

- numbers: `Int` and `Float` always carry both bounds (no overflow), and `Float` refuses NaN and
  infinity; lists of numbers (`IntList`, `FloatList`, `Seeds`) check every item the same way;
- paths written to: `OutputDir`, `OutputFile` and `ArchiveDest` check that the path can be created
  (the nearest existing folder is a folder and writable) and never create anything themselves, so a
  refused command leaves nothing behind; an existing archive is replaced only with `--force`;
- `Device`, `MetricNames` and `Truncation` check names against what facegan knows.

A new command that uses these types is covered by the contract test in tests/test_cli_contract.py.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import click

from facegan.errors import ConfigError
from facegan.utils.parsing import parse_float_list, parse_int_list

INT_MAX = 2**31 - 1          # the largest count or size any option takes
SEED_MAX = 2**32 - 1         # np.random.RandomState's seed range, as the official scripts draw latents
SEEDS_PER_RUN = 100_000      # --seeds names at most this many seeds in one command
FLOAT_MAX = 1e9              # the largest magnitude any float option takes


def _describe_range(lo, hi, lo_open: bool = False, hi_open: bool = False) -> str:
    return (f"{'>' if lo_open else '>='} {lo:g} and {'<' if hi_open else '<='} {hi:g}")


class Int(click.IntRange):
    """An integer between `min` and `max` (both inclusive; `max` defaults to 2**31-1)."""

    def __init__(self, min: int = 0, max: int = INT_MAX):  # noqa: A002 (click's own names)
        super().__init__(min=min, max=max)


class Float(click.FloatRange):
    """A finite float between `min` and `max`; NaN, infinity and overflowing literals are refused."""

    def __init__(self, min: float = -FLOAT_MAX, max: float = FLOAT_MAX,  # noqa: A002
                 min_open: bool = False, max_open: bool = False):
        super().__init__(min=min, max=max, min_open=min_open, max_open=max_open)

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class IntList(click.ParamType):
    """A list like '0-3,7', each item in [min, max], at most `limit` items."""

    name = "LIST"

    def __init__(self, min: int = 0, max: int = INT_MAX, limit: int = SEEDS_PER_RUN):  # noqa: A002
        self.min, self.max, self.limit = min, max, limit

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            values = parse_int_list(value, limit=self.limit)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        bad = [v for v in values if not self.min <= v <= self.max]
        if bad:
            self.fail(f"{bad[0]} is out of range: every value must be {_describe_range(self.min, self.max)}",
                      param, ctx)
        return values


class Seeds(IntList):
    """Seeds like '0-3,7': 0 to 2**32-1, at most 100,000 in one command."""

    name = "SEEDS"

    def __init__(self, limit: int = SEEDS_PER_RUN):
        super().__init__(0, SEED_MAX, limit)


class FloatList(click.ParamType):
    """A list like '-1,-0.5,0.7' of finite floats in [min, max]."""

    name = "FLOATS"

    def __init__(self, min: float = -FLOAT_MAX, max: float = FLOAT_MAX):  # noqa: A002
        self.min, self.max = min, max

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            values = parse_float_list(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        for v in values:
            if not math.isfinite(v):
                self.fail(f"{v} is not a finite number", param, ctx)
            if not self.min <= v <= self.max:
                self.fail(f"{v:g} is out of range: every value must be {_describe_range(self.min, self.max)}",
                          param, ctx)
        return values


class Vec2(FloatList):
    """Two finite floats 'X,Y', each in [min, max] (as gen_images.py's --translate)."""

    name = "X,Y"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        values = super().convert(value, param, ctx)
        if len(values) != 2:
            self.fail(f"expected two numbers X,Y, got {value!r}", param, ctx)
        return tuple(values)


PSI_MIN, PSI_MAX = -2.0, 2.0  # truncation psi beyond +-2 only draws noise; the web API has the same bounds


class Truncation(click.ParamType):
    """Truncation psi: one number, or group=psi pairs like coarse=0.5,middle=0.7 (checked, kept as text)."""

    name = "PSI"

    def convert(self, value, param, ctx):
        from facegan.generation.truncation import parse_truncation

        try:
            trunc = parse_truncation(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)
        values = [trunc.psi] if not trunc.per_group else list(trunc.groups.values())
        bad = [v for v in values if not (math.isfinite(v) and PSI_MIN <= v <= PSI_MAX)]
        if bad:
            self.fail(f"psi {bad[0]} is out of range: it must be {_describe_range(PSI_MIN, PSI_MAX)}", param, ctx)
        return str(value)


DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,2})?)$")


class Device(click.ParamType):
    """auto, cpu, cuda, cuda:N or mps; CUDA must be present when asked for by name."""

    name = "DEVICE"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if not DEVICE.match(text):
            self.fail(f"unknown device {value!r}: use auto, cpu, cuda, cuda:N or mps", param, ctx)
        if text.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                self.fail(f"{value!r} asked for, but CUDA is not available here (use cpu or auto)", param, ctx)
            index = int(text.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                self.fail(f"{value!r}: this machine has {torch.cuda.device_count()} CUDA device(s)", param, ctx)
        if text == "mps":
            import torch

            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                self.fail("'mps' asked for, but Apple MPS is not available here (use cpu or auto)", param, ctx)
        return text


class MetricNames(click.ParamType):
    """Comma-separated metric names, checked against facegan.metrics; 'none' means no metrics.

    The value stays text ('fid50k_full,swd'), with 'none' and spaces taken out."""

    name = "METRICS"

    def convert(self, value, param, ctx):
        names = tuple(m.strip() for m in str(value).split(",") if m.strip() and m.strip() != "none")
        from facegan.metrics import METRICS

        unknown = [m for m in names if m not in METRICS]
        if unknown:
            self.fail(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}", param, ctx)
        return ",".join(names)


# -- paths written to ----------------------------------------------------------------------------
def creatable(path: Path) -> str | None:
    """Why `path` cannot be created or written in (None if it can), without creating anything."""
    ancestor = path
    while not ancestor.exists():
        if ancestor.is_symlink():
            return f"{ancestor} is a broken link"
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    ancestor = ancestor if str(ancestor) else Path(".")
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"permission denied: cannot write in {ancestor}"
    return None


class OutputDir(click.ParamType):
    """A folder that is written to: it exists and is writable, or it can be created (as `path_type`)."""

    name = "DIR"

    def __init__(self, path_type: type = Path):
        self.path_type = path_type

    def convert(self, value, param, ctx):
        path = Path(value)
        if path.exists() and not path.is_dir():
            self.fail(f"{path} is a file, not a folder", param, ctx)
        problem = creatable(path)
        if problem:
            self.fail(problem, param, ctx)
        return self.path_type(path)


class OutputFile(click.ParamType):
    """A file that is written: its folder can be created, it is not a folder, its extension is known.

    A name without an extension gets `suffixes[0]` (e.g. `--output sweep` writes sweep.png)."""

    name = "FILE"

    def __init__(self, suffixes: tuple[str, ...] = (), add_suffix: bool = True):
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.add_suffix = add_suffix

    def convert(self, value, param, ctx):
        path = Path(value)
        if path.is_dir() or str(value).endswith(("/", os.sep)):
            self.fail(f"{path} is a folder; give a file name (e.g. {path / ('out' + (self.suffixes or ('',))[0])})",
                      param, ctx)
        if self.suffixes and path.suffix.lower() not in self.suffixes:
            if path.suffix == "" and self.add_suffix:
                path = path.with_name(path.name + self.suffixes[0])
            else:
                self.fail(f"{path}: the name must end in {' or '.join(self.suffixes)}", param, ctx)
        if path.exists() and not os.access(path, os.W_OK):
            self.fail(f"permission denied: cannot overwrite {path}", param, ctx)
        problem = creatable(path.parent)
        if problem:
            self.fail(problem, param, ctx)
        return path


class Database(OutputFile):
    """The web app's database: a PostgreSQL URL as it is, or a SQLite file that can be written."""

    name = "DB"

    def __init__(self):
        super().__init__((".sqlite", ".db", ".sqlite3"))

    def convert(self, value, param, ctx):
        if str(value).startswith(("postgresql://", "postgres://")):
            return str(value)
        return super().convert(value, param, ctx)


def force_option(help_text: str):
    """--force, read by ArchiveDest; eager, so it is known before the destination is checked."""
    return click.option("--force", is_flag=True, is_eager=True, help=help_text)


class ArchiveDest(click.ParamType):
    """A dataset destination: OUT.zip, or a new or empty folder (a name without an extension).

    An existing .zip is replaced only with --force; any other extension is refused (no folder
    named d.tar)."""

    name = "OUT"

    def convert(self, value, param, ctx):
        path = Path(value)
        suffix = path.suffix.lower()
        if path.is_dir():
            if any(path.iterdir()):
                self.fail(f"{path} is a folder that is not empty; give a new or empty folder, or OUT.zip",
                          param, ctx)
        elif suffix == ".zip":
            force = bool(ctx and ctx.params.get("force"))
            if path.exists() and not force:
                self.fail(f"{path} already exists; add --force to replace it (runs trained on it would then "
                          "read the new images)", param, ctx)
        elif path.exists():
            self.fail(f"{path} is a file that is not a .zip archive", param, ctx)
        elif suffix:
            self.fail(f"{path}: a destination is OUT.zip or a folder name without an extension, not {suffix}",
                      param, ctx)
        problem = creatable(path if path.is_dir() else path.parent)
        if problem:
            self.fail(problem, param, ctx)
        return path
