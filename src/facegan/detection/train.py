"""Training a detector: real photos of an archive against a network's fakes, generated on the fly
across truncation psi, then a threshold calibrated on photos and fakes the fit never saw.

    from facegan.detection import DetectorTrainOptions, train_detector
    detector = train_detector(DetectorTrainOptions(data="faces.zip", network="net.safetensors"))
    detector.save("detector.safetensors")

- spectral: the azimuthal spectra of the fitting photos and of as many fakes (or `fakes`), logistic
  regression on them (L-BFGS, a small L2 penalty), both classes weighted equally.
- cnn: `steps` minibatches of half photos, half fresh fakes, each image flipped with probability 0.5
  and put through Wang et al.'s blur + JPEG augmentation; Adam, binary cross-entropy.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facegan.data.archive import Archive
from facegan.detection.augment import BlurJpeg
from facegan.detection.features import azimuthal_spectrum
from facegan.detection.io import KINDS, Detector, DetectorInfo
from facegan.detection.models import ResNetDetector, SpectralClassifier
from facegan.detection.preprocess import to_input
from facegan.detection.scoring import calibrate_threshold
from facegan.detection.supply import (
    CALIBRATION_SEEDS,
    TRAIN_SEEDS,
    RealSplit,
    check_generator,
    fake_batches,
    fakes,
    file_sha256,
    read_reals,
    split_reals,
)
from facegan.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorTrainOptions:
    data: Path                                  # Archive of real photos.
    network: Path                               # The generator whose fakes it learns to spot.
    kind: str = "spectral"                      # spectral or cnn.
    psis: tuple[float, ...] = (0.5, 0.7, 1.0)   # Truncation psi of the fakes (the game's range).
    input_size: int | None = None               # Side the detector looks at (default: the network's).
    holdout: float = 0.2                        # Share of the photos kept for `detect eval`.
    calibration: float = 0.1                    # Share of the photos the threshold is chosen on.
    split_seed: int = 0                         # Seed of the split of the photos.
    noise_mode: str = "const"                   # Noise of the fakes (const: as the game and generate).
    fakes: int | None = None                    # spectral: training fakes (default: as many as photos).
    calibration_fakes: int | None = None        # Fakes the threshold is chosen on (default: as many as photos,
                                                # at least 32).
    steps: int = 1000                           # cnn: minibatches.
    batch: int = 32                             # cnn: images per minibatch (half real, half fake).
    lr: float = 1e-3                            # cnn: Adam learning rate.
    width: int = 32                             # cnn: channels of the first stage.
    blocks: tuple[int, ...] = (2, 2, 2)         # cnn: basic blocks per stage.
    augment: BlurJpeg = field(default_factory=BlurJpeg)  # cnn: blur + JPEG (Wang et al., 0.5 each).
    l2: float = 1e-3                            # spectral: L2 penalty of the logistic regression.
    seed: int = 0                               # Weights, minibatch order and augmentation.
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "network", Path(self.network))
        object.__setattr__(self, "psis", tuple(float(p) for p in self.psis))
        if self.kind not in KINDS:
            raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.psis or not all(math.isfinite(p) and -2 <= p <= 2 for p in self.psis):
            raise ConfigError(f"--psi needs values in [-2, 2], got {self.psis}")
        if self.input_size is not None and not 8 <= self.input_size <= 4096:
            raise ConfigError(f"--input-size must be in [8, 4096], got {self.input_size}")
        for name in ("steps", "batch", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.batch < 2:
            raise ConfigError("--batch must be >= 2 (half photos, half fakes)")
        if not self.blocks or min(self.blocks) < 1:
            raise ConfigError(f"blocks must be positive counts, got {self.blocks}")
        for name in ("fakes", "calibration_fakes"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if not (0 <= self.holdout < 1 and 0 <= self.calibration < 1 and self.holdout + self.calibration < 1):
            raise ConfigError(f"held-out and calibration shares must be in [0, 1) and sum below 1, got "
                              f"{self.holdout}, {self.calibration}")
        if not (self.lr > 0 and self.l2 >= 0):
            raise ConfigError("learning rate must be > 0 and L2 >= 0")


def _progress(iterable=None, total=None, desc="", enabled=True, unit="it"):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, leave=False, dynamic_ncols=True)


def _balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights that give both classes the same total."""
    n_fake = labels.sum()
    n_real = len(labels) - n_fake
    return np.where(labels == 1, len(labels) / (2 * n_fake), len(labels) / (2 * n_real))


def train_detector(opts: DetectorTrainOptions, progress: bool = True, generator=None) -> Detector:
    """Train a detector as `opts` says; `generator` replaces loading `opts.network` (a network in memory)."""
    import facegan
    from facegan.utils.device import pick_device

    device = pick_device(opts.device)
    with Archive(opts.data) as archive:   # the photos are checked before the network is loaded
        if len(archive) == 0:
            raise ConfigError(f"{opts.data}: the archive holds no images")
        split = split_reals(len(archive), opts.holdout, opts.calibration, opts.split_seed)
        G = generator if generator is not None else facegan.load(opts.network, device=device)
        G = G.to(device).eval()
        check_generator(G)
        return _train(G, archive, split, opts, progress, device)


def _train(G, archive: Archive, split: RealSplit, opts: DetectorTrainOptions, progress: bool, device) -> Detector:
    size = opts.input_size or int(G.img_resolution)
    channels = int(G.img_channels)
    torch.manual_seed(opts.seed)
    if opts.kind == "spectral":
        model, trained = _fit_spectral(G, archive, split.fit, size, opts, progress, device)
    else:
        model, trained = _fit_cnn(G, archive, split.fit, size, channels, opts, progress, device)
    info = DetectorInfo(kind=opts.kind, input_size=size, channels=channels, psis=opts.psis,
                        model={"width": opts.width, "blocks": list(opts.blocks)} if opts.kind == "cnn" else {},
                        training={"network": opts.network.name, "network_sha256": file_sha256(opts.network),
                                  "data": opts.data.name, "archive_size": len(archive),
                                  "split_seed": opts.split_seed, "holdout": opts.holdout,
                                  "calibration": opts.calibration, "fit_reals": len(split.fit),
                                  "noise_mode": opts.noise_mode, "train_seeds": TRAIN_SEEDS,
                                  "calibration_seeds": CALIBRATION_SEEDS, **trained})
    detector = Detector(info, model.eval())
    threshold, n_cal = _calibrate(detector, G, archive, split.calibration, opts, progress)
    info = dataclasses.replace(info, threshold=threshold, training={
        **info.training, "calibration_reals": len(split.calibration), "calibration_fakes": n_cal})
    return Detector(info, detector.model)


@torch.no_grad()
def _spectra(images, size: int, channels: int, device) -> torch.Tensor:
    return azimuthal_spectrum(to_input(images, size, channels).to(device))


def _fit_spectral(G, archive, fit_idx, size, opts, progress, device):
    model = SpectralClassifier(size).to(device)
    channels = int(G.img_channels)
    chunk = 64
    feats = []
    for i in _progress(range(0, len(fit_idx), chunk), desc="spectra of photos", enabled=progress):
        feats.append(_spectra(read_reals(archive, fit_idx[i:i + chunk]), size, channels, device))
    n_fakes = opts.fakes or len(fit_idx)
    for i in _progress(range(0, n_fakes, chunk), desc="spectra of fakes", enabled=progress):
        images, _ = fakes(G, TRAIN_SEEDS + i, min(chunk, n_fakes - i), opts.psis, opts.noise_mode)
        feats.append(_spectra(images, size, channels, device))
    x = torch.cat(feats)
    y = torch.cat([torch.zeros(len(fit_idx)), torch.ones(n_fakes)]).to(device)
    with torch.no_grad():
        model.mean.copy_(x.mean(0))
        model.std.copy_(x.std(0).clamp_min(1e-6))
    z = (x - model.mean) / model.std
    w = torch.from_numpy(_balanced_weights(y.cpu().numpy())).float().to(device)
    linear = model.linear
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=20, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss(weight=w)

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(linear(z).squeeze(1), y) + opts.l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    bar = _progress(range(10), desc="logistic regression", enabled=progress)
    loss = None
    for _ in bar:
        loss = float(optimizer.step(closure).detach())
        bar.set_postfix(loss=f"{loss:.4f}")
    log.info("spectral detector: %d photos, %d fakes, final loss %.4f", len(fit_idx), n_fakes, loss)
    return model, {"fakes": n_fakes, "final_loss": round(loss, 6)}


def _fit_cnn(G, archive, fit_idx, size, channels, opts, progress, device):
    model = ResNetDetector(channels, opts.width, opts.blocks).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr, betas=(0.9, 0.999))
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.RandomState(opts.seed)
    half = opts.batch // 2
    stream = fake_batches(G, TRAIN_SEEDS, opts.batch - half, opts.psis, opts.noise_mode)
    labels = torch.cat([torch.zeros(half), torch.ones(opts.batch - half)]).to(device)
    bar = _progress(range(opts.steps), desc="training the cnn", enabled=progress, unit="step")
    loss = float("nan")
    for _ in bar:
        reals = read_reals(archive, rng.choice(fit_idx, half))
        images = [*reals, *next(stream)]
        images = [opts.augment(im, rng) for im in images]
        images = [im[:, ::-1] if rng.rand() < 0.5 else im for im in images]
        x = to_input(images, size, channels).to(device)
        optimizer.zero_grad(set_to_none=True)
        out = loss_fn(model(x), labels)
        out.backward()
        optimizer.step()
        loss = float(out.detach())
        bar.set_postfix(loss=f"{loss:.4f}")
    log.info("cnn detector: %d steps of %d, final loss %.4f", opts.steps, opts.batch, loss)
    return model.eval(), {"fakes": opts.steps * (opts.batch - half), "steps": opts.steps, "batch": opts.batch,
                          "lr": opts.lr, "augment": opts.augment.__dict__, "final_loss": round(loss, 6)}


def _calibrate(detector: Detector, G, archive, cal_idx, opts, progress) -> tuple[float, int]:
    """The threshold with the best balanced accuracy on the calibration photos and fresh fakes; 0.5
    when no photo is set aside for calibration."""
    if len(cal_idx) == 0:
        log.warning("no photos set aside for calibration: the threshold stays 0.5")
        return 0.5, 0
    n_fakes = opts.calibration_fakes or max(len(cal_idx), 32)
    images, _ = fakes(G, CALIBRATION_SEEDS, n_fakes, opts.psis, opts.noise_mode)
    with _progress(total=1, desc="calibrating", enabled=progress):
        probs = np.r_[detector.probabilities(read_reals(archive, cal_idx)), detector.probabilities(images)]
    labels = np.r_[np.zeros(len(cal_idx), np.int64), np.ones(n_fakes, np.int64)]
    return calibrate_threshold(probs, labels, _balanced_weights(labels)), n_fakes
