"""The command line: every command is listed with one line of help, user errors print one clean line
before any work starts, and each case of issue 21 gives one clear line or works as documented."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facegan import __version__
from facegan.cli import COMMANDS, describe_os_error, main
from facegan.cli._common import parse_float_list, parse_int_list
from facegan.errors import ConfigError
from web_helpers import build_archive, build_network


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


# -- the cases of issue 21, each pinned ----------------------------------------------------------


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    return build_network(tmp_path_factory.mktemp("net") / "net.safetensors", "stylegan2", 16)


@pytest.fixture(scope="module")
def grey(tmp_path_factory) -> Path:
    return build_archive(tmp_path_factory.mktemp("grey") / "grey.zip", 4)


def one_error_line(capsys, code: int, argv: list[str]) -> str:
    """Run facegan ARGV; it must exit with `code` and print one line `error: ...` without a traceback."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == code, argv
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in out + err, err
    return err


@pytest.mark.parametrize("args,message", [
    (["--batch", "0"], "--batch"), (["--batch", "-1"], "--batch"), (["--max-images", "0"], "--max-images"),
    (["--device", "gpu"], "unknown device 'gpu'"), (["--gamma", "-5"], "--gamma"), (["--glr", "-1"], "--glr"),
    (["--target", "5"], "--target"), (["--workers", "-1"], "--workers"), (["--kimg", "nan"], "--kimg"),
    (["--metrics", "fid,swd"], "unknown metric(s) fid, swd"),
])
def test_train_refuses_bad_options_before_it_starts(grey, tmp_path, capsys, args, message):
    err = one_error_line(capsys, 2, ["train", "--data", grey, "--outdir", tmp_path / "runs", *args])
    assert message in err
    assert not (tmp_path / "runs").exists()  # no run folder, not even an empty one


@pytest.mark.parametrize("args,message", [
    (["--batch", "0"], "--batch"), (["--batch", "-1"], "--batch"), (["--num-gen", "-5"], "--num-gen"),
    (["--metrics", "fid"], "unknown metric(s) fid"), (["--device", "gpu"], "unknown device"),
])
def test_metrics_refuses_bad_options(net, grey, capsys, args, message):
    assert message in one_error_line(capsys, 2, ["metrics", "--network", net, "--data", grey, *args])


def test_metrics_refuses_reals_with_other_channels_than_the_network(net, tmp_path, capsys):
    from facegan.data.archive import ArchiveWriter

    with ArchiveWriter(tmp_path / "rgb.zip") as w:
        for k in range(2):
            w.add(np.full((16, 16, 3), 40 * k, np.uint8))
    err = one_error_line(capsys, 1, ["metrics", "--network", net, "--data", tmp_path / "rgb.zip", "--metrics",
                                     "swd1k", "--device", "cpu"])
    assert "3-channel" in err and "1-channel" in err


def test_generate_refuses_a_gpu_device_and_an_outdir_it_cannot_create(net, tmp_path, capsys):
    assert "unknown device" in one_error_line(capsys, 2, ["generate", "--network", net, "--seeds", "1",
                                                          "--device", "gpu", "--outdir", tmp_path / "o"])
    (tmp_path / "file").write_text("x")
    err = one_error_line(capsys, 2, ["generate", "--network", net, "--seeds", "1", "--outdir", tmp_path / "file/o"])
    assert "is a file, not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_hundred_million_seeds_are_refused_at_once(net, tmp_path, capsys):
    err = one_error_line(capsys, 2, ["generate", "--network", net, "--seeds", "0-100000000", "--outdir", tmp_path])
    assert "100,000,001" in err and "limit is 100,000" in err
    assert "out of range" in one_error_line(capsys, 2, ["generate", "--network", net, "--seeds", str(2**32),
                                                        "--outdir", tmp_path])


def test_truncation_sweep_adds_the_extension_a_name_lacks(net, tmp_path, capsys):
    assert main(["truncation-sweep", "--network", str(net), "--seeds", "1", "--trunc", "0,1", "--output",
                 str(tmp_path / "sweep"), "--device", "cpu"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.png"]
    assert "must end in .png or .jpg" in one_error_line(
        capsys, 2, ["truncation-sweep", "--network", net, "--seeds", "1", "--output", tmp_path / "sweep.tiff"])


def test_old_spellings_still_work_as_hidden_aliases_with_a_warning(net, tmp_path, capsys):
    old = ["truncation-sweep", "--network", str(net), "--seeds", "1", "--psi", "0,1", "--out", str(tmp_path / "a.png")]
    new = ["truncation-sweep", "--network", str(net), "--seeds", "1", "--trunc", "0,1", "--output",
           str(tmp_path / "b.png")]
    assert main(old) == 0
    err = capsys.readouterr().err
    assert "warning: --psi is now --trunc" in err and "warning: --out is now --output" in err
    assert main(new) == 0
    assert "warning" not in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_the_latents_generate_writes_are_read_by_projected_w(net, tmp_path):
    assert main(["generate", "--network", str(net), "--seeds", "5", "--outdir", str(tmp_path / "a")]) == 0
    with np.load(tmp_path / "a" / "seed0005.npz") as f:
        assert "ws" in f.files
    assert main(["generate", "--network", str(net), "--projected-w", str(tmp_path / "a" / "seed0005.npz"),
                 "--outdir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "proj00.png").read_bytes() == (tmp_path / "a" / "seed0005.png").read_bytes()


def test_dataset_create_never_replaces_an_archive_without_force(tmp_path, capsys):
    dest = tmp_path / "faces.zip"
    dest.write_bytes(b"the archive a finished run points at")
    err = one_error_line(capsys, 2, ["dataset", "create", "--source", "builtin:lfw-subset", "--dest", dest,
                                     "--max-images", "2"])
    assert "already exists; add --force" in err
    assert dest.read_bytes() == b"the archive a finished run points at"
    assert main(["-q", "dataset", "create", "--source", "builtin:lfw-subset", "--dest", str(dest), "--max-images",
                 "2", "--resolution", "16", "--force"]) == 0
    assert dest.read_bytes()[:2] == b"PK"


def test_dataset_create_refuses_a_destination_that_is_neither_a_zip_nor_a_folder(tmp_path, capsys):
    err = one_error_line(capsys, 2, ["dataset", "create", "--source", "builtin:lfw-subset", "--dest",
                                     tmp_path / "d.tar"])
    assert "not .tar" in err and not (tmp_path / "d.tar").exists()


def test_verbose_and_quiet_work_anywhere_and_verbose_keeps_the_libraries_quiet(net, tmp_path):
    assert main(["generate", "--network", str(net), "--seeds", "1", "--outdir", str(tmp_path), "-v"]) == 0
    assert logging.getLogger("facegan").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("PIL").getEffectiveLevel() >= logging.WARNING
    assert main(["generate", "-q", "--network", str(net), "--seeds", "1", "--outdir", str(tmp_path)]) == 0
    assert logging.getLogger("facegan").getEffectiveLevel() == logging.WARNING


def test_usage_errors_are_one_line_with_exit_code_2(capsys):
    err = one_error_line(capsys, 2, ["generate"])
    assert "Missing option '--network'" in err and "facegan generate -h" in err
    assert "No such command" in one_error_line(capsys, 2, ["no-such-command"])


def test_a_traceback_only_with_debug(net, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    argv = ["generate", "--network", str(bad), "--seeds", "1", "--outdir", str(tmp_path / "o")]
    one_error_line(capsys, 1, argv)
    assert main([*argv, "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("FACEGAN_DEBUG", "1")
    assert main(argv) == 1
    assert "Traceback" in capsys.readouterr().err


def test_os_errors_are_named_in_one_line(tmp_path):
    with pytest.raises(OSError) as missing:
        open(tmp_path / "nope.txt")
    assert describe_os_error(missing.value) == f"not found: {tmp_path / 'nope.txt'}"
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError) as not_dir:
        (tmp_path / "f" / "sub").mkdir()
    assert describe_os_error(not_dir.value).startswith("not a folder: ")


def test_project_takes_the_photo_as_target_or_first_argument(net, tmp_path, capsys):
    from click.testing import CliRunner

    from facegan.cli.project import project

    usage = CliRunner().invoke(project, ["--help"]).output
    assert "--target" in usage and "[IMAGE]" not in usage
    assert "--target PHOTO" in one_error_line(capsys, 2, ["project", "--network", net, "--outdir", tmp_path])


def test_serve_checks_its_port_before_it_prints_the_banner(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        capsys.readouterr()
        assert main(["serve", "--network", __file__, "--data", str(tmp_path), "--port", str(port),
                     "--db", str(tmp_path / "g.sqlite")]) == 2
    out, err = capsys.readouterr()
    assert "Which Face Is Real on" not in out and f"cannot listen on 127.0.0.1:{port}: it is in use" in err
    assert not (tmp_path / "g.sqlite").exists()


def test_train_dry_run_resolves_the_checked_options(tmp_path, capsys):
    import json

    from training_helpers import lfw_archive

    data = lfw_archive(tmp_path / "faces.zip", 16, 4)
    assert main(["train", "--data", str(data), "--outdir", str(tmp_path / "runs"), "--cfg", "tiny", "--metrics",
                 "swd1k,none", "--device", "cpu", "--gamma", "0", "-n", "-q"]) == 0
    opts = json.loads(capsys.readouterr().out)
    assert opts["metrics"] == ["swd1k"] and opts["outdir"] == str(tmp_path / "runs") and opts["r1_gamma"] == 0
    assert not (tmp_path / "runs").exists()


def test_a_group_without_a_command_prints_its_help(capsys):
    assert main([]) == 0 and "Commands:" in capsys.readouterr().out
    assert main(["dataset"]) == 0 and "create" in capsys.readouterr().out
