"""The command line: every command is listed with one line of help, and user errors print cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from facegan import __version__
from facegan.cli import COMMANDS, main
from facegan.cli._common import parse_float_list, parse_int_list
from facegan.errors import ConfigError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facegan", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command_with_one_line():
    out = run_cli("--help")
    assert out.returncode == 0
    for name, (_, _, help_) in COMMANDS.items():
        assert name in out.stdout
        assert help_.split()[0] in out.stdout


def test_version_prints_the_package_version():
    out = run_cli("--version")
    assert out.returncode == 0 and __version__ in out.stdout


def test_help_does_not_import_torch():
    code = "import sys; from facegan.cli import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("False")


def test_unknown_command_fails_with_usage_error(capsys):
    assert main(["no-such-command"]) != 0


@pytest.mark.parametrize("text,expected", [
    ("0-3,7", [0, 1, 2, 3, 7]),
    ("85,100,75", [85, 100, 75]),
    ("5", [5]),
    ("1-1", [1]),
])
def test_seed_lists_parse_like_the_official_scripts(text, expected):
    assert parse_int_list(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-x"])
def test_bad_seed_lists_are_config_errors(text):
    with pytest.raises(ConfigError):
        parse_int_list(text)


def test_float_lists_accept_negative_values():
    assert parse_float_list("-1,-0.7,0,0.5,1") == [-1.0, -0.7, 0.0, 0.5, 1.0]
