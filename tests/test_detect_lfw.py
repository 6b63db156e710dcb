"""Detectors on real faces: the LFW photos scikit-image ships against a facegan network trained on
them for a moment, through the Python API and the `facegan detect` commands as the docs show them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_helpers import one_thread
from facegan.cli import main
from facegan.detection import DetectorTrainOptions, evaluate_detector, load_detector, train_detector
from facegan.utils.images import save_image
from training_helpers import lfw_archive

SMALL_SG2 = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32)


def train_network(data, outdir, arch: str, seed: int = 0):
    from facegan.training import resolve_options, train

    kw = {"network_overrides": SMALL_SG2} if arch == "stylegan2" else {}
    opts = resolve_options(str(data), arch=arch, cfg="tiny", outdir=str(outdir), workers=0, batch=16, batch_gpu=16,
                           kimg=0.25, tick_kimg=0.25, snap=100, seed=seed, **kw)
    return train(opts, progress=False).run_dir / "network-final.safetensors"


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def lfw(tmp_path_factory, single_thread):
    """The 100 LFW faces at 32 px, a tiny StyleGAN2 trained on them, and a DCGAN as the unseen network."""
    root = tmp_path_factory.mktemp("lfw")
    data = lfw_archive(root / "lfw32.zip", 32, 100)
    network = train_network(data, root / "runs", "stylegan2")
    detector = train_detector(DetectorTrainOptions(data=data, network=network, device="cpu"), progress=False)
    detector.save(root / "spectral.safetensors")
    return {"data": data, "network": network, "other": train_network(data, root / "runs", "dcgan"),
            "detector": detector, "detector_file": root / "spectral.safetensors"}


def test_the_spectral_detector_spots_held_out_fakes_of_its_network(lfw, capsys):
    detector = lfw["detector"]
    assert detector.info.training["fit_reals"] == 70 and detector.info.training["calibration_reals"] == 10
    report = evaluate_detector(detector, lfw["data"], lfw["network"], other_networks=[lfw["other"]], device="cpu")
    assert report["reals"]["count"] == 20
    same, other = report["networks"]
    assert same["seen_in_training"] and not other["seen_in_training"]
    assert same["ap"] >= 0.95, same
    assert [row["psi"] for row in same["per_psi"]] == [0.5, 0.7, 1.0]
    assert all(row["fakes"] == 20 for row in same["per_psi"])
    # The unseen network is reported as it is (here a DCGAN: its fakes need not look like this network's).
    assert 0 <= other["ap"] <= 1 and 0 <= other["acc_calibrated"] <= 1
    with capsys.disabled():
        print(f"\nspectral, LFW 32 px: AP {same['ap']:.3f} on its network, {other['ap']:.3f} on the unseen DCGAN")


def test_the_cnn_detector_trains_with_augmentation_and_reloads(lfw, tmp_path):
    opts = DetectorTrainOptions(data=lfw["data"], network=lfw["network"], kind="cnn", steps=4, batch=8, width=4,
                                blocks=(1, 1), device="cpu")
    detector = train_detector(opts, progress=False)
    detector.save(tmp_path / "cnn.safetensors")
    back = load_detector(tmp_path / "cnn.safetensors")
    assert back.info.kind == "cnn" and back.info.model == {"width": 4, "blocks": [1, 1]}
    assert back.info.training["augment"]["blur_prob"] == 0.5 and back.info.training["fakes"] == 16
    faces = np.random.RandomState(0).randint(0, 256, (3, 32, 32, 1)).astype(np.uint8)
    p = back.probabilities(faces)
    assert np.allclose(p, detector.probabilities(faces)) and np.all((p >= 0) & (p <= 1))


def test_the_commands_train_evaluate_plot_and_score_photos(lfw, tmp_path, capsys):
    det, report, plot = tmp_path / "detector.safetensors", tmp_path / "report.json", tmp_path / "roc.png"
    assert main(["detect", "train", "--data", str(lfw["data"]), "--network", str(lfw["network"]),
                 "--kind", "spectral", "--output", str(det), "--device", "cpu", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["detect", "eval", "--detector", str(det), "--data", str(lfw["data"]), "--network",
                 str(lfw["network"]), "--other-network", str(lfw["other"]), "--output", str(report),
                 "--plot", str(plot), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "(unseen)" in out and "acc@cal" in out
    data = json.loads(report.read_text())
    assert data["networks"][0]["ap"] >= 0.95
    from PIL import Image

    with Image.open(plot) as img:
        assert img.format == "PNG" and img.size[0] > 600
    # Score a real photo and a fake, as files.
    from facegan.data.archive import Archive

    with Archive(lfw["data"]) as archive:
        save_image(tmp_path / "real.png", archive.read_image(0))
    G = __import__("facegan").load(lfw["network"])
    save_image(tmp_path / "fake.png", G.run(np.random.RandomState(5).randn(1, G.z_dim), truncation_psi=0.7)[0])
    assert main(["detect", "--detector", str(det), "--json", str(tmp_path / "real.png"),
                 str(tmp_path / "fake.png")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["photo"] for r in rows] == [str(tmp_path / "real.png"), str(tmp_path / "fake.png")]
    assert all(0 <= r["p_generated"] <= 1 for r in rows) and rows[1]["verdict"] == "generated"


def test_bad_inputs_to_the_commands_are_one_line_errors(lfw, tmp_path, capsys):
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    (tmp_path / "photo.png").write_bytes(b"not a png")
    save_image(tmp_path / "ok.png", np.zeros((8, 8, 1), np.uint8))
    cases = [
        (["detect", "--detector", str(tmp_path / "broken.safetensors"), str(tmp_path / "ok.png")],
         "not a readable .safetensors file"),
        (["detect", "train", "--data", str(lfw["data"]), "--network", str(lfw["network"]), "--output", str(tmp_path)],
         "is a folder"),
        (["detect", "train", "--data", str(lfw["data"]), "--network", str(lfw["network"]), "--output",
          "/proc/no/detector.safetensors"], "cannot write there"),
        (["detect", "train", "--data", str(lfw["data"]), "--network", str(lfw["network"]), "--output",
          str(tmp_path / "d.safetensors"), "--holdout", "0.6", "--calibration", "0.5"], "sum below 1"),
    ]
    for argv, message in cases:
        assert main(argv) != 0, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, err
    assert main(["detect", "--detector", str(lfw["detector_file"]), str(tmp_path / "photo.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "photo.png" in err and "\n" not in err
