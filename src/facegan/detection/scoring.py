"""Scores of a detector on labelled images: average precision, the ROC curve, accuracy at a threshold,
and the threshold that a calibration set says to use.

Labels: 1 = generated (the positive class, as in Wang et al.), 0 = real. Scores: higher = more
likely generated. Optional per-sample weights let a set with several fakes per real count each
class equally (every function treats a weight as that many copies of the sample).
"""

from __future__ import annotations

import numpy as np


def _sorted(scores, labels, weights):
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.int64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, np.float64)
    if scores.shape != labels.shape or scores.shape != weights.shape or scores.ndim != 1:
        raise ValueError(f"scores, labels and weights must be 1-D of one length, got {scores.shape}, "
                         f"{labels.shape}, {weights.shape}")
    if not ((labels == 0) | (labels == 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (generated)")
    order = np.argsort(-scores, kind="stable")
    return scores[order], labels[order], weights[order]


def _counts(scores, labels, weights):
    """True and false positives (weighted) at each distinct threshold, from the highest down."""
    s, y, w = _sorted(scores, labels, weights)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]   # the last index of each run of tied scores
    tp = np.cumsum(w * y)[last]
    fp = np.cumsum(w * (1 - y))[last]
    return s[last], tp, fp


def average_precision(scores, labels, weights=None) -> float:
    """AP = sum over thresholds of (R_n - R_{n-1}) * P_n (the step-wise area, no interpolation).

    The definition scikit-learn's `average_precision_score` and Wang et al.'s evaluation use; tied
    scores form one threshold.
    """
    _, tp, fp = _counts(scores, labels, weights)
    if len(tp) == 0 or tp[-1] == 0:
        raise ValueError("average precision needs at least one generated image")
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_curve(scores, labels, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate) from (0, 0) to (1, 1), one point per distinct score."""
    _, tp, fp = _counts(scores, labels, weights)
    if tp[-1] == 0 or fp[-1] == 0:
        raise ValueError("a ROC curve needs both real and generated images")
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_auc(scores, labels, weights=None) -> float:
    fpr, tpr = roc_curve(scores, labels, weights)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def class_accuracies(scores, labels, threshold: float, weights=None) -> tuple[float | None, float | None]:
    """(share of reals scored below `threshold`, share of fakes scored at or above it); None for an
    empty class."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.int64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, np.float64)
    said_fake = scores >= threshold
    out = []
    for cls, right in ((0, ~said_fake), (1, said_fake)):
        total = weights[labels == cls].sum()
        out.append(float(weights[(labels == cls) & right].sum() / total) if total > 0 else None)
    return out[0], out[1]


def balanced_accuracy(scores, labels, threshold: float, weights=None) -> float:
    """The mean of the real and the fake accuracy: the plain accuracy of a set with as many reals as
    fakes (the test sets of Wang et al. are balanced), and not inflated by an unbalanced one."""
    real, fake = class_accuracies(scores, labels, threshold, weights)
    if real is None or fake is None:
        raise ValueError("accuracy needs both real and generated images")
    return (real + fake) / 2


def calibrate_threshold(scores, labels, weights=None) -> float:
    """The threshold with the best balanced accuracy on a calibration set: half-way between the two
    neighbouring scores where it is reached (the first such place, from the lowest threshold up)."""
    s = np.unique(np.asarray(scores, np.float64))
    if len(s) == 0:
        raise ValueError("calibration needs scores")
    # From 'everything is generated' (s[0]) to 'nothing is' (just above s[-1]).
    candidates = np.r_[s[0], (s[1:] + s[:-1]) / 2, np.nextafter(s[-1], np.inf)]
    accs = [balanced_accuracy(scores, labels, t, weights) for t in candidates]
    return float(candidates[int(np.argmax(accs))])
