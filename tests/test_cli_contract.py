"""The contract of every command, checked by walking the click command tree: a command added to
facegan.cli.COMMANDS is covered without a new test.

For every command and every option it tries each class of bad input (a missing file, a folder where
a file is expected, an output that cannot be written, zero, negative, NaN, infinite and overflowing
numbers) and requires exit code 2, one line `error: ...`, no traceback and no file written. A
corrupt network gives exit code 1 the same way. Invalid input fails while the line is parsed, so
the walk runs in-process and takes seconds.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import pytest

from facegan.cli import cli, main
from facegan.cli._network import NetworkParam
from facegan.cli.types import (
    PSI_MAX,
    PSI_MIN,
    ArchiveDest,
    Device,
    Float,
    FloatList,
    Int,
    IntList,
    MetricNames,
    OutputDir,
    OutputFile,
    Truncation,
    Vec2,
)
from web_helpers import build_archive, build_network


def commands() -> list[tuple[str, click.Command]]:
    """(command line words, command) of every leaf command, through groups."""
    found = []

    def walk(words: str, cmd: click.Command) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(f"{words} {name}".strip(), cmd.get_command(ctx, name))
        else:
            found.append((words, cmd))
    walk("", cli)
    return found


COMMANDS = commands()
IDS = [words for words, _ in COMMANDS]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("contract")
    photo = root / "photo.png"
    from PIL import Image
    Image.new("RGB", (32, 32), (120, 90, 60)).save(photo)
    corrupt = root / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64 + b"not a network")
    blocker = root / "a-file.txt"
    blocker.write_text("a file, where a folder would have to be created")
    (root / "a-folder").mkdir()
    from facegan.detection import Detector, DetectorInfo

    detector = root / "detector.safetensors"
    Detector(DetectorInfo(kind="spectral", input_size=32, channels=3)).save(detector)
    return {"root": root, "network": build_network(root / "net.safetensors", "dcgan", 32), "detector": detector,
            "archive": build_archive(root / "faces.zip", 4), "photo": photo, "corrupt": corrupt, "blocker": blocker,
            "folder": root / "a-folder"}


def options(cmd: click.Command) -> list[click.Parameter]:
    return [p for p in cmd.params if not getattr(p, "hidden", False) and p.name not in ("help",)]


def flag(param: click.Parameter) -> str | None:
    """How the parameter is written on the line (None for arguments: they go by position)."""
    return param.opts[0] if isinstance(param, click.Option) else None


def valid_value(param: click.Parameter, files: dict, out: Path) -> str:
    """A value the parameter accepts, from its type (and, for existing files, its name)."""
    t = param.type
    if isinstance(t, OutputDir):
        return str(out / "outdir")
    if isinstance(t, OutputFile):
        return str(out / ("output" + (t.suffixes[0] if t.suffixes else ".bin")))
    if isinstance(t, ArchiveDest):
        return str(out / "new.zip")
    if isinstance(t, NetworkParam):
        return str(files["network"])
    if isinstance(t, click.Path):
        name = param.name or ""
        if not t.file_okay:
            return str(files["folder"])
        if "detector" in name:
            return str(files["detector"])
        if "network" in name or name == "src":
            return str(files["network"])
        if name in ("data", "path") or "data" in name:
            return str(files["archive"])
        return str(files["photo"])
    if isinstance(t, Vec2):
        return "0,0"
    if isinstance(t, (IntList, FloatList)):
        return "1"
    if isinstance(t, Truncation):
        return "0.7"
    if isinstance(t, MetricNames):
        return "swd1k"
    if isinstance(t, Device):
        return "cpu"
    if isinstance(t, click.Choice):
        return str(t.choices[0])
    if isinstance(t, (Int, Float)):
        return str(t.min if t.min is not None and not t.min_open else (t.max if t.max is not None else 1))
    if param.name == "source":
        return "builtin:lfw-subset"
    return "x"


def base_args(cmd: click.Command, files: dict, out: Path, override: dict | None = None) -> list[str]:
    """The required parameters with valid values (and `override`: name -> value)."""
    override = override or {}
    args: list[str] = []
    for p in cmd.params:
        if not (p.required or p.name in override):
            continue
        value = override.get(p.name, None) or valid_value(p, files, out)
        args += [flag(p), value] if flag(p) else [value]
    return args


def with_value(cmd, param, value: str, files, out) -> list[str]:
    """A full line with `param` set to `value` and every other required parameter valid."""
    return base_args(cmd, files, out, {param.name: value})


def listing(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def assert_refused(words: str, args: list[str], files: dict, capsys, code: int = 2) -> str:
    """facegan WORDS ARGS exits with `code`, one `error:` line, no traceback, nothing written."""
    before = listing(files["root"])
    capsys.readouterr()
    result = main([*words.split(), *args])
    out, err = capsys.readouterr()
    line = f"facegan {words} {' '.join(args)}"
    assert result == code, f"{line}: exit {result}, expected {code}\n{err}"
    assert err.count("\n") == 1 and err.startswith("error: "), f"{line}: not one error line:\n{err}"
    assert "Traceback" not in err + out and "internal error" not in err, f"{line}:\n{err}"
    assert listing(files["root"]) == before, f"{line} wrote {listing(files['root']) - before}"
    return err


def parses(cmd: click.Command, words: str, args: list[str]) -> bool:
    try:
        with cmd.make_context(words, list(args), resilient_parsing=False):
            return True
    except click.ClickException:
        return False


# -- numbers -------------------------------------------------------------------------------------
BAD_NUMBERS = ["nan", "inf", "-inf", "1e400", str(10**30), "-" + str(10**30), "0", "-1", "abc"]
NUMBER_TYPES = (Int, Float, IntList, FloatList, Truncation)


def declared_range(t) -> tuple[float, float]:
    if isinstance(t, Truncation):
        return PSI_MIN, PSI_MAX
    return t.min, t.max


def admits(t, text: str) -> bool:
    """Whether the declared range of `t` admits the number `text` (NaN, infinities: never)."""
    try:
        value = float(text)
    except ValueError:
        return False
    lo, hi = declared_range(t)
    if not math.isfinite(value) or (isinstance(t, (Int, IntList)) and not value.is_integer()):
        return False
    lo_open, hi_open = getattr(t, "min_open", False), getattr(t, "max_open", False)
    return (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)


@pytest.mark.parametrize("words,cmd", COMMANDS, ids=IDS)
def test_every_number_is_bounded_and_every_bad_number_is_one_line(words, cmd, files, tmp_path, capsys):
    assert parses(cmd, words, base_args(cmd, files, tmp_path)), f"{words}: its valid base line does not parse"
    for param in cmd.params:
        t = param.type
        if isinstance(t, (click.types.IntParamType, click.types.FloatParamType)):
            assert isinstance(t, (Int, Float)), f"{words} {param.opts}: a number without the bounds of types.py"
            assert t.min is not None and t.max is not None, f"{words} {param.opts}: unbounded"
        if not isinstance(t, NUMBER_TYPES) or getattr(param, "is_flag", False):
            continue
        for bad in BAD_NUMBERS:
            args = with_value(cmd, param, f"{bad},0" if isinstance(t, Vec2) else bad, files, tmp_path)
            if admits(t, bad):  # e.g. --seed 0: the declared range says it is valid, so it must parse
                assert parses(cmd, words, args), f"{words} {param.opts} {bad}: in range, yet refused"
            else:
                assert_refused(words, args, files, capsys)


# -- paths -------------------------------------------------------------------------------------
@pytest.mark.parametrize("words,cmd", COMMANDS, ids=IDS)
def test_every_path_is_checked_before_any_work(words, cmd, files, tmp_path, capsys):
    for param in cmd.params:
        t = param.type
        cases = []
        if isinstance(t, NetworkParam):
            cases += [str(files["root"] / "missing.pkl")] + ([] if t.dir_okay else [str(files["folder"])])
        if isinstance(t, click.Path) and t.exists:
            cases.append(str(files["root"] / "missing.file"))
            if not t.dir_okay:
                cases.append(str(files["folder"]))
        if isinstance(t, (OutputDir, OutputFile, ArchiveDest)):
            cases.append(str(files["blocker"] / "under-a-file" / "out.zip"))  # cannot be created
        if isinstance(t, (OutputFile,)):
            cases.append(str(files["folder"]))                              # a folder where a file goes
        if isinstance(t, OutputDir):
            cases.append(str(files["blocker"]))                             # a file where a folder goes
        for value in cases:
            assert_refused(words, with_value(cmd, param, value, files, tmp_path), files, capsys)


def test_an_unwritable_folder_is_refused_before_any_work(files, tmp_path, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    locked = files["root"] / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o500)
    try:
        err = assert_refused("generate", ["--network", str(files["network"]), "--seeds", "1", "--outdir",
                                          str(locked / "out")], files, capsys)
        assert "permission denied" in err
    finally:
        locked.chmod(0o700)


# -- files that are there but wrong --------------------------------------------------------------
NETWORK_COMMANDS = [(w, c) for w, c in COMMANDS if any(p.name in ("network", "network_path") for p in c.params)]


@pytest.mark.parametrize("words,cmd", NETWORK_COMMANDS, ids=[w for w, _ in NETWORK_COMMANDS])
def test_a_corrupt_network_is_one_line(words, cmd, files, tmp_path, capsys):
    name = next(p.name for p in cmd.params if p.name in ("network", "network_path"))
    args = base_args(cmd, files, tmp_path, {name: str(files["corrupt"])})
    if words == "serve":
        args += ["--port", "0", "--db", str(tmp_path / "game.sqlite")]
    err = assert_refused(words, args, files, capsys, code=1)
    assert "corrupt.safetensors" in err


def test_every_command_is_covered_by_the_walk():
    from facegan.cli import COMMANDS as REGISTERED

    top = {words.split()[0] for words, _ in COMMANDS}
    assert top == set(REGISTERED)
    assert len(NETWORK_COMMANDS) >= 7


# -- help ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("words,cmd", COMMANDS, ids=IDS)
def test_every_option_has_help_and_every_command_an_example(words, cmd):
    for param in options(cmd):
        if isinstance(param, click.Option):
            assert param.help, f"facegan {words} {param.opts[0]} has no help text"
    assert "facegan " in (cmd.help or "") + (cmd.epilog or ""), f"facegan {words} shows no example"
