"""`detect eval`: a detector's scores on photos it never saw against fresh fakes (seeds it never saw)
of the network it was trained on, and of another network, the generalisation number.

Reported per network, over all its fakes and per truncation psi: AP and ROC AUC (threshold-free),
accuracy at the uncalibrated 0.5 and at the calibrated threshold. Accuracies are balanced (the mean
of the real and the fake accuracy), which is the plain accuracy of Wang et al.'s balanced test sets;
over several psi each psi's fakes count 1/len(psis), so the reals weigh as much as all fakes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facegan.data.archive import Archive
from facegan.detection.io import Detector
from facegan.detection.scoring import average_precision, balanced_accuracy, class_accuracies, roc_auc, roc_curve
from facegan.detection.supply import EVAL_SEEDS, fakes, file_sha256, read_reals, split_reals
from facegan.errors import ConfigError

log = logging.getLogger(__name__)
ROC_POINTS = 256


def held_out_photos(detector: Detector, archive: Archive) -> tuple[np.ndarray, str]:
    """The photos the detector never saw: its held-out split when `archive` is the one it was trained
    on (the same size and split seed), every photo otherwise."""
    t = detector.info.training
    if t.get("archive_size") == len(archive) and t.get("holdout", 0) > 0:
        split = split_reals(len(archive), float(t["holdout"]), float(t.get("calibration", 0)),
                            int(t.get("split_seed", 0)))
        return split.holdout, f"the {len(split.holdout)} held-out photos of {archive.path.name}"
    if t.get("archive_size") == len(archive):
        log.warning("the detector held out no photos of this archive: evaluating on photos it was trained on")
    return np.arange(len(archive)), f"all {len(archive)} photos of {archive.path.name}"


def labelled(real_probs: np.ndarray, fake_probs: np.ndarray, fake_weights=None):
    """(scores, labels, weights) of photos and fakes; the photos together weigh as much as the fakes."""
    scores = np.r_[real_probs, fake_probs]
    labels = np.r_[np.zeros(len(real_probs), np.int64), np.ones(len(fake_probs), np.int64)]
    fw = np.ones(len(fake_probs)) if fake_weights is None else np.asarray(fake_weights, np.float64)
    weights = np.r_[np.full(len(real_probs), fw.sum() / max(len(real_probs), 1)), fw]
    return scores, labels, weights


def metrics(real_probs: np.ndarray, fake_probs: np.ndarray, threshold: float, fake_weights=None) -> dict:
    scores, labels, weights = labelled(real_probs, fake_probs, fake_weights)
    out = {"ap": average_precision(scores, labels, weights), "auc": roc_auc(scores, labels, weights)}
    for name, t in (("0.5", 0.5), ("calibrated", threshold)):
        real, fake = class_accuracies(scores, labels, t, weights)
        out[f"acc_{name}"] = balanced_accuracy(scores, labels, t, weights)
        out[f"real_acc_{name}"], out[f"fake_acc_{name}"] = real, fake
    return {k: round(v, 4) for k, v in out.items()}


def seen_in_training(detector: Detector, path: str | os.PathLike) -> bool:
    """Whether `path` is the network the detector was trained on (the same bytes; the same name when
    either file's digest is unknown)."""
    recorded, digest = detector.info.training.get("network_sha256"), file_sha256(path)
    if recorded and digest:
        return recorded == digest
    return Path(path).name == detector.info.training.get("network")


def network_report(detector: Detector, G, path: str | os.PathLike, real_probs: np.ndarray, psis, fakes_per_psi: int,
                   noise_mode: str) -> dict:
    images, image_psis = fakes(G, EVAL_SEEDS, fakes_per_psi * len(psis), psis, noise_mode)
    probs = detector.probabilities(images)
    threshold = detector.info.threshold
    fake_weights = np.full(len(probs), 1 / len(psis))
    report = {"network": str(path), "seen_in_training": seen_in_training(detector, path),
              "fakes": len(probs), **metrics(real_probs, probs, threshold, fake_weights)}
    report["per_psi"] = [{"psi": float(psi), "fakes": int((image_psis == psi).sum()),
                          **metrics(real_probs, probs[image_psis == psi], threshold)} for psi in psis]
    fpr, tpr = roc_curve(*labelled(real_probs, probs, fake_weights))
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().astype(int))
    report["roc"] = {"fpr": [round(float(v), 4) for v in fpr[keep]], "tpr": [round(float(v), 4) for v in tpr[keep]]}
    return report


def evaluate_detector(detector: Detector, data: str | os.PathLike, network: str | os.PathLike,
                      other_networks: Sequence[str | os.PathLike] = (), psis=None, fakes_per_psi: int | None = None,
                      noise_mode: str | None = None, device: str = "auto", generators: dict | None = None) -> dict:
    """The evaluation report (a JSON-able dict). `generators` maps a network path to a network in memory."""
    import facegan
    from facegan.utils.device import pick_device

    dev = pick_device(device)
    detector.to(dev)
    psis = tuple(float(p) for p in (psis or detector.info.psis or (1.0,)))
    noise_mode = noise_mode or detector.info.training.get("noise_mode", "const")
    with Archive(data) as archive:
        indices, described = held_out_photos(detector, archive)
        if len(indices) == 0:
            raise ConfigError(f"{data}: no photos to evaluate on")
        real_probs = detector.probabilities(read_reals(archive, indices))
    n = fakes_per_psi or len(indices)
    if n < 1:
        raise ConfigError(f"--fakes-per-psi must be >= 1, got {n}")
    report = {"detector": {"kind": detector.info.kind, "input_size": detector.info.input_size,
                           "threshold": round(detector.info.threshold, 4),
                           "trained_on": detector.info.training.get("network"), "psis": list(detector.info.psis)},
              "reals": {"count": int(len(indices)), "photos": described}, "fakes_per_psi": n, "psis": list(psis),
              "networks": []}
    for path in (network, *other_networks):
        G = (generators or {}).get(str(path))
        G = (G if G is not None else facegan.load(path, device=dev)).to(dev).eval()
        report["networks"].append(network_report(detector, G, path, real_probs, psis, n, noise_mode))
    return report


def format_report(report: dict) -> str:
    """The report as a few lines of text for the terminal."""
    d = report["detector"]
    lines = [f"{d['kind']} detector (input {d['input_size']} px, calibrated threshold {d['threshold']:.3f}), "
             f"trained on fakes of {d['trained_on']}",
             f"reals: {report['reals']['photos']}; fakes: {report['fakes_per_psi']} per psi",
             f"{'network':<44} {'psi':>6} {'AP':>7} {'AUC':>7} {'acc@0.5':>8} {'acc@cal':>8}"]
    for net in report["networks"]:
        tag = "" if net["seen_in_training"] else " (unseen)"
        name = net["network"]
        room = 44 - len(tag)
        label = (name if len(name) <= room else "..." + name[-(room - 3):]) + tag
        rows = [("all", net), *((f"{p['psi']:g}", p) for p in net["per_psi"])]
        for psi, r in rows:
            lines.append(f"{label:<44} {psi:>6} {r['ap']:>7.3f} {r['auc']:>7.3f} {r['acc_0.5']:>8.3f} "
                         f"{r['acc_calibrated']:>8.3f}")
            label = ""
    return "\n".join(lines)
