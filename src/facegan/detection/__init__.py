"""Telling generated faces from real ones: the other side of the Which Face Is Real game.

Two detectors, trained on an archive's photos against a network's fakes and saved as
`.safetensors` (no pickle):

- `spectral`: the azimuthally averaged power spectrum (Durall et al. 2019/2020) into logistic
  regression; trains in seconds on a CPU.
- `cnn`: a small ResNet from scratch with Wang et al.'s (CVPR 2020) blur + JPEG augmentation.

    from facegan.detection import DetectorTrainOptions, evaluate_detector, load_detector, train_detector
    detector = train_detector(DetectorTrainOptions(data="faces.zip", network="net.safetensors"))
    detector.save("detector.safetensors")
    detector = load_detector("detector.safetensors")
    p = detector.probabilities(images)          # uint8 HWC images -> P(generated)
    report = evaluate_detector(detector, "faces.zip", "net.safetensors", other_networks=["other.safetensors"])

It consumes generation (the fakes) and data (the photos); the web app imports it.
"""

from facegan.detection.augment import BlurJpeg
from facegan.detection.evaluate import evaluate_detector, format_report
from facegan.detection.features import azimuthal_spectrum, spectrum_bins
from facegan.detection.io import (
    FORMAT_VERSION,
    KINDS,
    Detector,
    DetectorFormatError,
    DetectorInfo,
    load_detector,
    save_detector,
)
from facegan.detection.plot import plot_report
from facegan.detection.preprocess import read_photo
from facegan.detection.scoring import average_precision, balanced_accuracy, calibrate_threshold, roc_auc, roc_curve
from facegan.detection.train import DetectorTrainOptions, train_detector

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "BlurJpeg",
    "Detector",
    "DetectorFormatError",
    "DetectorInfo",
    "DetectorTrainOptions",
    "average_precision",
    "azimuthal_spectrum",
    "balanced_accuracy",
    "calibrate_threshold",
    "evaluate_detector",
    "format_report",
    "load_detector",
    "plot_report",
    "read_photo",
    "roc_auc",
    "roc_curve",
    "save_detector",
    "spectrum_bins",
    "train_detector",
]
