"""`facegan train` through the real entry point: a run stopped (as by Ctrl-C) and continued with the
command it prints ends with exactly the weights of a run that went straight through; the continued
run needs nothing but --resume; a failed start leaves no run folder; flags that do not apply are
refused."""

from __future__ import annotations

import shlex

import pytest
import torch

from facegan.cli import main
from facegan.networks import load_networks
from facegan.training import distributed as dist
from training_helpers import blob_archive, lfw_archive

TINY = ["--arch", "dcgan", "--cfg", "tiny", "--batch", "8", "--batch-gpu", "4", "--tick", "0.008", "--snap", "1",
        "--workers", "0", "--quiet"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return str(lfw_archive(tmp_path_factory.mktemp("data") / "faces16.zip", 16, 32))


def final_weights(run_dir):
    nets, _, _ = load_networks(run_dir / "network-final.safetensors")
    return {f"{n}.{k}": v for n, net in nets.items() for k, v in net.state_dict().items()}


def test_a_run_stopped_and_continued_with_the_printed_command_ends_like_a_straight_run(
        faces, tmp_path, monkeypatch, capsys):
    assert main(["train", "--data", faces, "--outdir", str(tmp_path / "straight"), "--kimg", "0.032", *TINY]) == 0
    (straight,) = (tmp_path / "straight").iterdir()

    calls = {"n": 0}

    def stop_after_two_steps(self, d):
        calls["n"] += 1
        return calls["n"] >= 2

    monkeypatch.setattr(dist.StopFlag, "is_set", stop_after_two_steps)
    assert main(["train", "--data", faces, "--outdir", str(tmp_path / "stopped"), "--kimg", "0.032", *TINY]) == 0
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert "stopped at 0.016 kimg" in out
    hint = next(line for line in out.splitlines() if line.startswith("continue with: "))
    command = shlex.split(hint.removeprefix("continue with: "))
    assert command[:2] == ["facegan", "train"] and "--data" not in command
    monkeypatch.chdir(tmp_path)            # the default --outdir ('runs') is not a change
    assert main([*command[1:], "--kimg", "0.032", "--quiet"]) == 0
    (stopped,) = (tmp_path / "stopped").iterdir()
    a, b = final_weights(straight), final_weights(stopped)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not (tmp_path / "runs").exists()


def test_continuing_accepts_the_runs_own_dataset_and_refuses_another(faces, tmp_path, capsys):
    assert main(["train", "--data", faces, "--outdir", str(tmp_path), "--kimg", "0.008", *TINY]) == 0
    (run,) = tmp_path.iterdir()
    assert main(["train", "--resume", str(run), "--data", faces, "--kimg", "0.016", "--quiet"]) == 0
    other = str(blob_archive(tmp_path.parent / "blobs.zip", 16, 16))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--data", other, "--kimg", "0.024"]) != 0
    assert "is not the dataset of the run" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--outdir", str(tmp_path / "elsewhere"), "--kimg", "0.024"]) != 0
    assert "--outdir" in capsys.readouterr().err


def test_a_failed_start_leaves_no_run_folder(faces, tmp_path, capsys):
    assert main(["train", "--data", faces, "--outdir", str(tmp_path / "base"), "--kimg", "0.008", *TINY]) == 0
    (base,) = (tmp_path / "base").iterdir()
    runs = tmp_path / "runs"
    code = main(["train", "--data", faces, "--outdir", str(runs), "--arch", "stylegan2", "--cfg", "tiny",
                 "--resume", str(base / "network-final.safetensors"), "--workers", "0", "--quiet"])
    assert code != 0 and capsys.readouterr().err.startswith("error: ")
    assert not runs.exists() or not list(runs.iterdir())


def test_a_flag_that_does_not_apply_is_refused_before_any_work(faces, tmp_path, capsys):
    code = main(["train", "--data", faces, "--outdir", str(tmp_path / "runs"), "--cfg", "tiny", "--target", "0.7"])
    assert code != 0
    assert "--target does not apply" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_without_data_and_without_a_run_to_continue_train_asks_for_data(tmp_path, capsys):
    assert main(["train", "--outdir", str(tmp_path)]) == 2
    assert "--data is required" in capsys.readouterr().err


def test_freezed_reaches_the_run_options(faces, tmp_path, capsys):
    import json

    assert main(["train", "--data", faces, "--outdir", str(tmp_path), "--cfg", "tiny", "--freezed", "4", "-n"]) == 0
    assert json.loads(capsys.readouterr().out)["freezed"] == 4
    assert not list(tmp_path.iterdir())


def test_a_progressive_batch_that_does_not_split_into_rounds_fails_before_a_run_folder(faces, tmp_path):
    from facegan.errors import ConfigError
    from facegan.training import resolve_options, train
    from facegan.training.options import ProgressiveOptions

    prog = ProgressiveOptions(initial_resolution=8, minibatch_base=8, minibatch_dict={16: 12})
    opts = resolve_options(faces, arch="stylegan", cfg="tiny", outdir=str(tmp_path), batch_gpu=8, workers=0,
                           progressive=prog)
    with pytest.raises(ConfigError, match="multiple of --batch-gpu"):
        train(opts, progress=False)
    assert not list(tmp_path.iterdir())
