"""Computing metrics of a generator against a dataset, with cached real-data statistics, and
recording the results in the run directory.

    results = compute_metrics(G, "faces.zip", ["fid50k_full", "swd16k"], run_dir="runs/00003-...")

Metric names are the official ones (stylegan2-ada-pytorch's metric_main, ProGAN's SWD):

| name | what | generated | real |
| --- | --- | --- | --- |
| fid50k_full | FID | 50 000 | all |
| fid50k | FID | 50 000 | 50 000 |
| kid50k_full | KID (100 subsets of 1000) | 50 000 | up to 1 000 000 |
| kid50k | KID | 50 000 | 50 000 |
| pr50k3_full | precision, recall (k = 3, VGG-16) | 50 000 | up to 200 000 |
| pr50k3 | precision, recall | 50 000 | 50 000 |
| ppl2_wend | PPL in W, end points, whole image | 50 000 paths | - |
| ppl_zfull, ppl_wfull, ppl_zend, ppl_wend | legacy PPL (cropped) | 50 000 paths | - |
| swd16k | SWD, no network needed | 16 384 | 16 384 |
| swd1k | SWD, quick | 1 024 | 1 024 |

Real statistics are cached in the cache folder under a key made of the archive (absolute path,
size, modification time), the resolution, the feature network and the number of images; results
are appended as one JSON line to `<run_dir>/metric-<name>.jsonl`, with the numbers of generated
and real images actually used (`num_gen`, `num_real`). A metric computed from fewer images than its
name says logs a warning that names both counts.

Reproducible: `seed` fixes every random draw (latents, labels, noise maps, subsets, directions).
The noise maps that the networks draw from torch's global generator are drawn under a forked,
seeded state, so a metric neither depends on nor disturbs the caller's random state.

The dataset is checked against the network before any work: a lower resolution, a channel count
that a pixel-space metric (SWD) cannot compare, or labels that do not fit are a MetricError. A
larger archive is box-downsampled to the network's resolution; grey images are replicated to RGB
for the feature networks (Inception, VGG-16), as the official code does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from facegan.errors import MetricError
from facegan.metrics import features as feat
from facegan.metrics.fid import frechet_distance
from facegan.metrics.kid import kernel_distance
from facegan.metrics.ppl import PixelDistance, filtered_mean, path_lengths
from facegan.metrics.precision_recall import precision_recall
from facegan.metrics.swd import SWDAccumulator, swd
from facegan.metrics.weights import cache_dir
from facegan.utils.atomic import atomic_path

log = logging.getLogger(__name__)


@dataclass
class MetricOptions:
    data: str                                 # Dataset archive of real images.
    device: torch.device = torch.device("cpu")
    batch: int = 32
    num_gen: int | None = None                # Override the number of generated images (quick runs).
    num_real: int | None = None               # Override the cap on real images.
    mirror: bool = False                      # Include x-flipped reals.
    inception: str | None = None              # Weight files (None: cache / download).
    vgg: str | None = None
    lpips: str | None = None
    allow_torchscript: bool = False           # Accept NVIDIA's TorchScript detectors.
    ppl_distance: str = "lpips"               # 'lpips' or the documented fallback 'pixel'.
    cache: bool = True
    download: bool = True
    progress: bool = False
    seed: int = 0
    _detectors: dict = field(default_factory=dict)
    _counts: dict = field(default_factory=dict)  # images the current metric used: num_gen, num_real

    def __post_init__(self) -> None:
        for name in ("batch", "num_gen", "num_real"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise MetricError(f"{name} must be a positive whole number, got {value!r}")


METRICS: dict[str, Callable] = {}


def register_metric(fn: Callable) -> Callable:
    METRICS[fn.__name__] = fn
    return fn


def _dataset(opts: MetricOptions, resolution: int):
    from facegan.data import ImageDataset

    ds = ImageDataset(opts.data, xflip=opts.mirror)
    if ds.stored_resolution < resolution:
        raise MetricError(f"{opts.data} holds {ds.stored_resolution}x{ds.stored_resolution} images; the network "
                          f"makes {resolution}x{resolution}: use an archive at the network's resolution")
    ds.set_resolution(resolution)
    return ds


PIXEL_METRICS = ("swd16k", "swd1k")  # compare pixels, so the channel counts must agree


def check_dataset(G, opts: MetricOptions, metrics: list[str]) -> None:
    """Refuse, before any work, a dataset that the metrics cannot compare with G's images."""
    ds = _dataset(opts, G.img_resolution)
    if len(ds) < 2:
        raise MetricError(f"{opts.data} holds {len(ds)} image(s); a metric needs at least two")
    pixel = [m for m in metrics if m in PIXEL_METRICS]
    if pixel and ds.num_channels != G.img_channels:
        kinds = {1: "grey", 3: "RGB"}
        raise MetricError(f"{', '.join(pixel)} compares pixels: {opts.data} holds {kinds.get(ds.num_channels)} "
                          f"images ({ds.num_channels} channel(s)), the network makes {kinds.get(G.img_channels)} "
                          f"images ({G.img_channels}); use an archive with the network's channels")
    _labels(G, opts)


def _detector(opts: MetricOptions, kind: str):
    if kind not in opts._detectors:
        if kind == "inception":
            from facegan.metrics.inception import load_inception

            net = load_inception(opts.inception, opts.allow_torchscript, opts.download)
        else:
            from facegan.metrics.vgg16 import VGGFeatures, load_vgg16

            net = VGGFeatures(load_vgg16(opts.vgg, opts.download))
        opts._detectors[kind] = net.to(opts.device).eval()
    return opts._detectors[kind]


def _cache_key(opts: MetricOptions, kind: str, resolution: int, num: int, capture: bool) -> str:
    st = os.stat(opts.data)
    # "features-fp32": statistics written since the captured features are kept in float32 (older caches held float16)
    ident = json.dumps([str(Path(opts.data).resolve()), st.st_size, int(st.st_mtime), kind, resolution, num,
                        opts.mirror, capture, "features-fp32"])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def real_features(opts: MetricOptions, kind: str, resolution: int, max_items: int | None, capture_all: bool):
    """(mean, cov, all-features-or-None) of the dataset, from the cache when possible."""
    ds = _dataset(opts, resolution)
    num = len(ds) if max_items is None else min(len(ds), max_items)
    if opts.num_real is not None:
        num = min(num, opts.num_real)
    opts._counts["num_real"] = num
    key = _cache_key(opts, kind, resolution, num, capture_all)
    path = cache_dir() / "metrics" / f"{Path(opts.data).stem}-{kind}-{key}.npz"
    if opts.cache and path.is_file():
        with np.load(path) as data:
            return data["mean"], data["cov"], (data["features"] if capture_all else None)
    detector = _detector(opts, kind)
    stats = feat.accumulate(feat.dataset_batches(ds, num, opts.batch, opts.device), detector, num, capture_all,
                            "real features", opts.progress)
    mean, cov = stats.mean_cov()
    features = stats.all() if capture_all else None
    stats.close()
    if opts.cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"mean": mean, "cov": cov}
        if features is not None:
            arrays["features"] = features.astype(np.float32)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    return mean, cov, features


def gen_features(G, opts: MetricOptions, kind: str, num: int, capture_all: bool, labels):
    opts._counts["num_gen"] = num
    detector = _detector(opts, kind)
    batches = feat.generated_batches(G, num, opts.batch, opts.device, labels, opts.seed)
    return feat.accumulate(batches, detector, num, capture_all, "generated features", opts.progress)


def _labels(G, opts):
    if not G.c_dim:
        return None
    from facegan.data import ImageDataset

    ds = ImageDataset(opts.data, use_labels=True)
    if ds.label_dim != G.c_dim:
        raise MetricError(f"the network takes {G.c_dim} labels, {opts.data} has {ds.label_dim}")
    return lambda i: ds.get_label(i % len(ds))


def _fid(G, opts, max_real):
    mu_r, cov_r, _ = real_features(opts, "inception", G.img_resolution, max_real, False)
    stats = gen_features(G, opts, "inception", opts.num_gen or 50000, False, _labels(G, opts))
    mu_g, cov_g = stats.mean_cov()
    stats.close()
    return frechet_distance(mu_g, cov_g, mu_r, cov_r)


def _kid(G, opts, max_real):
    _, _, real = real_features(opts, "inception", G.img_resolution, max_real, True)
    stats = gen_features(G, opts, "inception", opts.num_gen or 50000, True, _labels(G, opts))
    gen = stats.all()
    stats.close()
    return kernel_distance(real, gen, num_subsets=100, max_subset_size=1000, seed=opts.seed)


def _pr(G, opts, max_real):
    _, _, real = real_features(opts, "vgg16", G.img_resolution, max_real, True)
    stats = gen_features(G, opts, "vgg16", opts.num_gen or 50000, True, _labels(G, opts))
    gen = stats.all()
    stats.close()
    p, r = precision_recall(real, gen, k=3)
    return {"precision": p, "recall": r}


def _ppl(G, opts, space, sampling, crop, name):
    if G.num_ws <= 1:
        raise MetricError(f"{name}: PPL needs a style-based generator (StyleGAN or StyleGAN2)")
    if opts.ppl_distance == "pixel":
        distance = PixelDistance()
    else:
        from facegan.metrics.vgg16 import load_lpips

        distance = load_lpips(opts.vgg, opts.lpips, opts.download)
    distance = distance.to(opts.device)
    opts._counts["num_gen"] = opts.num_gen or 50000
    dist = path_lengths(G, distance, opts.num_gen or 50000, 1e-4, space, sampling, crop, batch=max(2, opts.batch // 4),
                        device=opts.device, labels=_labels(G, opts), seed=opts.seed)
    return filtered_mean(dist)


@register_metric
def fid50k_full(G, opts):
    return {"fid50k_full": _fid(G, opts, None)}


@register_metric
def fid50k(G, opts):
    return {"fid50k": _fid(G, opts, 50000)}


@register_metric
def kid50k_full(G, opts):
    return {"kid50k_full": _kid(G, opts, 1_000_000)}


@register_metric
def kid50k(G, opts):
    return {"kid50k": _kid(G, opts, 50000)}


@register_metric
def pr50k3_full(G, opts):
    r = _pr(G, opts, 200_000)
    return {"pr50k3_full_precision": r["precision"], "pr50k3_full_recall": r["recall"]}


@register_metric
def pr50k3(G, opts):
    r = _pr(G, opts, 50000)
    return {"pr50k3_precision": r["precision"], "pr50k3_recall": r["recall"]}


@register_metric
def ppl2_wend(G, opts):
    return {"ppl2_wend": _ppl(G, opts, "w", "end", False, "ppl2_wend")}


@register_metric
def ppl_zfull(G, opts):
    return {"ppl_zfull": _ppl(G, opts, "z", "full", True, "ppl_zfull")}


@register_metric
def ppl_wfull(G, opts):
    return {"ppl_wfull": _ppl(G, opts, "w", "full", True, "ppl_wfull")}


@register_metric
def ppl_zend(G, opts):
    return {"ppl_zend": _ppl(G, opts, "z", "end", True, "ppl_zend")}


@register_metric
def ppl_wend(G, opts):
    return {"ppl_wend": _ppl(G, opts, "w", "end", True, "ppl_wend")}


def _swd(G, opts, num: int, name: str):
    ds = _dataset(opts, G.img_resolution)
    num = min(opts.num_gen or num, len(ds))  # SWD compares equal numbers of descriptors
    num_real = num
    opts._counts.update(num_gen=num, num_real=num_real)
    real, gen = SWDAccumulator(G.img_resolution, opts.seed), SWDAccumulator(G.img_resolution, opts.seed + 1)
    for images in feat.dataset_batches(ds, num_real, opts.batch, opts.device):
        real.append(images[:, :ds.num_channels])
    for images in feat.generated_batches(G, num, opts.batch, opts.device, _labels(G, opts), opts.seed):
        gen.append(images[:, :G.img_channels])
    return {f"{name}_{k}" if k != "SWDx1e3_avg" else name: v for k, v in swd(real, gen, opts.seed).items()}


@register_metric
def swd16k(G, opts):
    return _swd(G, opts, 16384, "swd16k")


@register_metric
def swd1k(G, opts):
    return _swd(G, opts, 1024, "swd1k")


# What each name promises: (generated images, real images); None = no promise (all, or "up to").
NOMINAL_COUNTS: dict[str, tuple[int, int | None]] = {
    "fid50k_full": (50000, None), "fid50k": (50000, 50000), "kid50k_full": (50000, None), "kid50k": (50000, 50000),
    "pr50k3_full": (50000, None), "pr50k3": (50000, 50000), "ppl2_wend": (50000, None), "ppl_zfull": (50000, None),
    "ppl_wfull": (50000, None), "ppl_zend": (50000, None), "ppl_wend": (50000, None), "swd16k": (16384, 16384),
    "swd1k": (1024, 1024),
}


def warn_if_short(name: str, counts: dict) -> None:
    """Log when a metric used fewer images than its name says (the result line records the counts)."""
    nominal_gen, nominal_real = NOMINAL_COUNTS.get(name, (None, None))
    short = []
    if nominal_gen is not None and counts.get("num_gen", nominal_gen) < nominal_gen:
        short.append(f"{counts['num_gen']} generated (its name says {nominal_gen})")
    if nominal_real is not None and counts.get("num_real", nominal_real) < nominal_real:
        short.append(f"{counts['num_real']} real (its name says {nominal_real})")
    if short:
        log.warning("%s was computed from %s images: not comparable with a full %s", name, " and ".join(short), name)


def _format_time(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def append_jsonl(path: Path, record: dict) -> None:
    """Append one line and flush it to disk (a partially written line is never left behind by a
    crash after this returns; lines are small enough to be written in one call)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def compute_metrics(G, data: str, metrics: list[str], run_dir: str | os.PathLike | None = None,
                    snapshot: str | os.PathLike | None = None, **options) -> dict[str, float]:
    """Compute `metrics` for generator G against the archive `data`; returns {result name: value}
    and, with a run directory, appends each metric's line to metric-<name>.jsonl there."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    opts = MetricOptions(data=str(data), **options)
    G = G.eval().to(opts.device)
    check_dataset(G, opts, metrics)
    results: dict[str, float] = {}
    for name in metrics:
        start = time.time()
        opts._counts = {}
        values = METRICS[name](G, opts)
        elapsed = time.time() - start
        results.update(values)
        warn_if_short(name, opts._counts)
        if run_dir is not None:
            record = {"results": values, "metric": name, "total_time": elapsed, "total_time_str": _format_time(elapsed),
                      "num_gpus": 1, "snapshot_pkl": None if snapshot is None else os.path.relpath(snapshot, run_dir),
                      "timestamp": time.time(), **opts._counts}
            append_jsonl(Path(run_dir) / f"metric-{name}.jsonl", record)
    return results
