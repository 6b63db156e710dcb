"""Metrics: FID, KID, precision/recall, PPL and SWD, their feature networks and cached statistics.

    from facegan.metrics import compute_metrics
    compute_metrics(G, "faces.zip", ["swd1k", "fid50k_full"], run_dir="runs/00001-faces-stylegan2-auto")
"""

from facegan.metrics.fid import frechet_distance
from facegan.metrics.kid import kernel_distance
from facegan.metrics.precision_recall import precision_recall
from facegan.metrics.runner import METRICS, MetricOptions, compute_metrics, register_metric

__all__ = ["METRICS", "MetricOptions", "compute_metrics", "frechet_distance", "kernel_distance", "precision_recall",
           "register_metric"]
