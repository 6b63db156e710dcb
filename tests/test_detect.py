"""The detectors' parts as specifications: the spectral feature, the scores, the augmentation, the
file format and its errors. (Training on real faces: test_detect_lfw.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facegan.detection import (
    BlurJpeg,
    Detector,
    DetectorFormatError,
    DetectorInfo,
    average_precision,
    azimuthal_spectrum,
    balanced_accuracy,
    calibrate_threshold,
    load_detector,
    roc_auc,
    roc_curve,
    spectrum_bins,
)
from facegan.detection.preprocess import fit_image
from facegan.detection.supply import split_reals
from facegan.errors import ConfigError

# -- the spectral feature ---------------------------------------------------------------------------

def test_spectrum_has_one_bin_per_ring_out_to_the_corner():
    assert spectrum_bins(32) == 24          # round(sqrt(16^2 + 16^2)) = 23, plus the centre
    assert spectrum_bins(1024) == 725       # Durall et al.'s 1024 px profile has about 722 points
    assert azimuthal_spectrum(torch.randn(3, 1, 32, 32)).shape == (3, 24)


def test_spectrum_is_scaled_to_unit_range_and_ignores_contrast_and_rotation():
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    p = azimuthal_spectrum(x)
    assert torch.allclose(p.min(1).values, torch.zeros(2)) and torch.allclose(p.max(1).values, torch.ones(2))
    # 20 log |F| of 3x is the same profile shifted up; the per-image scaling removes it.
    assert torch.allclose(azimuthal_spectrum(3 * x), p, atol=1e-5)
    # A ring average does not care about a 90 degree turn.
    assert torch.allclose(azimuthal_spectrum(torch.rot90(x, 1, (2, 3))), p, atol=1e-4)


def test_spectrum_sees_the_high_frequencies_that_blurring_removes():
    from PIL import Image, ImageFilter

    rng = np.random.RandomState(0)
    sharp = rng.randint(0, 256, (32, 32)).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(1.5)))
    to = lambda a: torch.from_numpy(np.array(a)).float()[None, None] / 127.5 - 1  # noqa: E731
    ps, pb = azimuthal_spectrum(to(sharp))[0], azimuthal_spectrum(to(blurred))[0]
    assert pb[-6:].mean() < ps[-6:].mean() - 0.2


def test_colour_becomes_grey_with_the_luma_weights():
    rgb = torch.rand(1, 3, 16, 16)
    grey = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]
    assert torch.allclose(azimuthal_spectrum(rgb), azimuthal_spectrum(grey), atol=1e-5)


# -- scores -----------------------------------------------------------------------------------------

def test_average_precision_matches_the_step_wise_definition():
    # Ranked: F R F R (fakes are positives). Precision at each fake: 1/1, 2/3.
    scores, labels = [0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 1.0
    # Tied scores are one threshold: two fakes and two reals all at 0.5 give precision 1/2.
    assert average_precision([0.5] * 4, [1, 0, 1, 0]) == 0.5


def test_weights_count_like_copies_of_a_sample():
    scores, labels = np.array([0.9, 0.6, 0.4, 0.2]), np.array([1, 0, 1, 0])
    copies = np.repeat(np.arange(4), [2, 1, 3, 1])
    assert average_precision(scores, labels, [2, 1, 3, 1]) == pytest.approx(
        average_precision(scores[copies], labels[copies]))
    assert roc_auc(scores, labels, [2, 1, 3, 1]) == pytest.approx(roc_auc(scores[copies], labels[copies]))


def test_roc_runs_from_corner_to_corner_and_its_area_counts_ordered_pairs():
    scores, labels = [0.9, 0.7, 0.6, 0.3, 0.2], [1, 0, 1, 1, 0]
    fpr, tpr = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    # AUC = share of (fake, real) pairs ranked correctly: fakes .9 .6 .3 vs reals .7 .2 -> 4 of 6.
    assert roc_auc(scores, labels) == pytest.approx(4 / 6)


def test_balanced_accuracy_and_the_calibrated_threshold():
    scores, labels = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.45]), np.array([0, 0, 0, 1, 1, 1])
    assert balanced_accuracy(scores, labels, 0.5) == 0.5          # every fake is missed at 0.5
    t = calibrate_threshold(scores, labels)
    assert 0.3 < t <= 0.35 and balanced_accuracy(scores, labels, t) == 1.0
    with pytest.raises(ValueError, match="both"):
        balanced_accuracy(scores[:3], labels[:3], 0.5)


# -- augmentation and preprocessing ----------------------------------------------------------------

def test_blur_and_jpeg_change_the_image_as_often_as_asked():
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
    aug = BlurJpeg()
    changed = sum(not np.array_equal(aug(image, rng), image) for _ in range(200))
    assert 0.65 < changed / 200 < 0.85       # 1 - 0.5 * 0.5 = 0.75 of images are blurred or compressed
    assert np.array_equal(BlurJpeg(0.0, 3.0, 0.0)(image, rng), image)
    grey = image[:, :, :1]
    assert BlurJpeg(1.0, 3.0, 1.0)(grey, rng).shape == grey.shape
    with pytest.raises(ConfigError):
        BlurJpeg(blur_prob=1.5)


def test_photos_are_cropped_resized_and_converted_to_the_detectors_input():
    photo = np.zeros((40, 60, 3), np.uint8)
    photo[:, 10:50] = 200                      # the centred square is all 200
    out = fit_image(photo, 16, 1)
    assert out.shape == (16, 16, 1) and np.all(np.abs(out.astype(int) - 200) <= 1)
    assert fit_image(out, 16, 3).shape == (16, 16, 3)


def test_the_split_of_the_photos_is_disjoint_complete_and_reproducible():
    a, b = split_reals(100, 0.2, 0.1, seed=3), split_reals(100, 0.2, 0.1, seed=3)
    assert (len(a.holdout), len(a.calibration), len(a.fit)) == (20, 10, 70)
    assert sorted(np.r_[a.fit, a.calibration, a.holdout]) == list(range(100))
    assert np.array_equal(a.holdout, b.holdout)
    assert not np.array_equal(a.holdout, split_reals(100, 0.2, 0.1, seed=4).holdout)
    with pytest.raises(ConfigError, match="too few"):
        split_reals(3, 0.5, 0.3, seed=0)


# -- the file format --------------------------------------------------------------------------------

def spectral(size=16, threshold=0.4) -> Detector:
    torch.manual_seed(0)
    detector = Detector(DetectorInfo("spectral", size, 1, (0.5, 1.0), threshold, training={"network": "n"}))
    torch.nn.init.normal_(detector.model.linear.weight)
    return detector


def test_a_detector_file_round_trips_with_its_metadata_and_no_pickle(tmp_path):
    from safetensors import safe_open

    d = spectral()
    d.save(tmp_path / "d.safetensors")
    back = load_detector(tmp_path / "d.safetensors")
    assert back.info == d.info
    images = np.random.RandomState(0).randint(0, 256, (4, 16, 16, 1)).astype(np.uint8)
    assert np.allclose(back.probabilities(images), d.probabilities(images))
    with safe_open(str(tmp_path / "d.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "facegan-detector" and meta["kind"] == "spectral" and meta["input_size"] == "16"
    assert json.loads(meta["psis"]) == [0.5, 1.0]
    cnn = Detector(DetectorInfo("cnn", 16, 3, model={"width": 4, "blocks": [1, 1]}))
    cnn.save(tmp_path / "c.safetensors")
    assert load_detector(tmp_path / "c.safetensors").info.model == {"width": 4, "blocks": [1, 1]}


def rewrite(src, dst, meta_changes=None, tensor_changes=None):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(meta_changes or {})
    tensors.update(tensor_changes or {})
    save_file({k: v for k, v in tensors.items() if v is not None}, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("meta, tensors, message", [
    ({"format_version": "2"}, None, "format version 2, this facegan reads version 1; upgrade facegan"),
    ({"format_version": "0"}, None, "format version 0.*train it again"),
    ({"format": "facegan-network"}, None, "not a facegan detector"),
    ({"kind": "oracle"}, None, "unknown detector kind 'oracle'"),
    ({"input_size": "32"}, None, r"tensor mean has shape \(12,\), a spectral detector of input size 32 needs \(24,\)"),
    ({"threshold": "nan"}, None, "threshold must be a probability"),
    ({"psis": "[0.5"}, None, "broken detector metadata"),
    (None, {"linear.weight": torch.zeros(1, 7)}, r"tensor linear.weight has shape \(1, 7\)"),
    (None, {"linear.bias": None}, "missing tensor linear.bias"),
    (None, {"extra": torch.zeros(1)}, "unexpected tensor extra"),
    (None, {"std": torch.full((12,), float("inf"))}, "non-finite"),
])
def test_a_wrong_or_foreign_detector_file_is_one_clear_error(tmp_path, meta, tensors, message):
    spectral().save(tmp_path / "d.safetensors")
    bad = rewrite(tmp_path / "d.safetensors", tmp_path / "bad.safetensors", meta, tensors)
    with pytest.raises(DetectorFormatError, match=message):
        load_detector(bad)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x80\x04 not a detector")
    with pytest.raises(DetectorFormatError, match="not a readable .safetensors file"):
        load_detector(tmp_path / "x.safetensors")
    with pytest.raises(DetectorFormatError, match="no such file"):
        load_detector(tmp_path / "missing.safetensors")
