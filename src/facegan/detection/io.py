"""Detector files: `.safetensors`, no pickle, and the `Detector` that scores images.

Tensors: the module's state dict (`SpectralClassifier` or `ResNetDetector`). Metadata (strings, as
safetensors requires):

    format          "facegan-detector"
    format_version  "1"
    kind            spectral | cnn
    input_size      the side the detector looks at (images are centre-cropped and resized to it)
    channels        1 (grey) or 3 (RGB)
    psis            JSON list of the truncation psi of the training fakes
    threshold       the calibrated probability threshold (images at or above it are called generated)
    model           JSON: the module's own settings (cnn: width, blocks)
    training        JSON: what it was trained on (network, data, the real split, seeds, counts, ...)
    facegan_version the version that wrote it

Loading never executes anything from the file; a tensor that is missing, unexpected or of the wrong
shape, or a file of another format version, is one error that names the problem.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facegan.detection.models import ResNetDetector, SpectralClassifier
from facegan.detection.preprocess import to_input
from facegan.errors import FaceganError
from facegan.utils.atomic import atomic_path

FORMAT = "facegan-detector"
FORMAT_VERSION = 1
KINDS = ("spectral", "cnn")


class DetectorFormatError(FaceganError):
    """A detector file is unreadable, of another format version, or does not match its kind."""


@dataclass(frozen=True)
class DetectorInfo:
    kind: str                                   # spectral or cnn.
    input_size: int                             # Side of the (square) input.
    channels: int                               # 1 or 3.
    psis: tuple[float, ...] = ()                # Truncation psi of the training fakes.
    threshold: float = 0.5                      # Calibrated threshold on the probability of 'generated'.
    model: dict[str, Any] = field(default_factory=dict)     # The module's settings (cnn: width, blocks).
    training: dict[str, Any] = field(default_factory=dict)  # What it was trained on.

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DetectorFormatError(f"unknown detector kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.channels not in (1, 3):
            raise DetectorFormatError(f"a detector's input has 1 or 3 channels, not {self.channels}")
        if not 8 <= self.input_size <= 4096:
            raise DetectorFormatError(f"input size must be in [8, 4096], got {self.input_size}")
        if not (math.isfinite(self.threshold) and 0.0 <= self.threshold <= 1.0):
            raise DetectorFormatError(f"threshold must be a probability, got {self.threshold}")
        object.__setattr__(self, "psis", tuple(float(p) for p in self.psis))


def build_model(info: DetectorInfo) -> nn.Module:
    if info.kind == "spectral":
        return SpectralClassifier(info.input_size)
    return ResNetDetector(info.channels, width=int(info.model.get("width", 32)),
                          blocks=tuple(int(b) for b in info.model.get("blocks", (2, 2, 2))))


class Detector:
    """A trained detector: `probabilities(images)` says how likely each uint8 image is generated."""

    def __init__(self, info: DetectorInfo, model: nn.Module | None = None):
        self.info = info
        self.model = (model if model is not None else build_model(info)).eval()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device) -> Detector:
        self.model.to(device)
        return self

    @torch.inference_mode()
    def logits(self, images: Sequence[np.ndarray] | np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 HWC images (any size; 1 or 3 channels) -> logits [N] (> 0: more likely generated)."""
        self.model.eval()
        out = [self.model(to_input(images[i:i + batch_size], self.info.input_size, self.info.channels)
                          .to(self.device)).float().cpu()
               for i in range(0, len(images), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def probabilities(self, images: Sequence[np.ndarray] | np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The probability that each image is generated (the logistic of the logit)."""
        return 1.0 / (1.0 + np.exp(-self.logits(images, batch_size).astype(np.float64)))

    def verdicts(self, probabilities: np.ndarray) -> np.ndarray:
        """True where the calibrated threshold calls an image generated."""
        return np.asarray(probabilities) >= self.info.threshold

    def save(self, path: str | os.PathLike) -> None:
        save_detector(path, self)


def save_detector(path: str | os.PathLike, detector: Detector) -> None:
    """Write the detector to `path` (.safetensors), atomically."""
    from safetensors.torch import save_file

    from facegan import __version__

    info = detector.info
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in detector.model.state_dict().items()}
    meta = {
        "format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": info.kind,
        "input_size": str(info.input_size), "channels": str(info.channels), "psis": json.dumps(list(info.psis)),
        "threshold": repr(float(info.threshold)), "model": json.dumps(info.model),
        "training": json.dumps(info.training), "facegan_version": __version__,
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def _info_from_metadata(path: Path, meta: dict[str, str]) -> DetectorInfo:
    if meta.get("format") != FORMAT:
        raise DetectorFormatError(f"{path}: a .safetensors file, but not a facegan detector (no 'format' "
                                  f"{FORMAT!r} in its metadata)")
    version = meta.get("format_version", "")
    if version != str(FORMAT_VERSION):
        hint = "upgrade facegan" if version.isdigit() and int(version) > FORMAT_VERSION else "train it again"
        raise DetectorFormatError(f"{path}: detector format version {version or '?'}, this facegan reads version "
                                  f"{FORMAT_VERSION}; {hint}")
    try:
        return DetectorInfo(kind=meta["kind"], input_size=int(meta["input_size"]), channels=int(meta["channels"]),
                            psis=tuple(json.loads(meta.get("psis", "[]"))), threshold=float(meta["threshold"]),
                            model=json.loads(meta.get("model", "{}")), training=json.loads(meta.get("training", "{}")))
    except DetectorFormatError as exc:
        raise DetectorFormatError(f"{path}: {exc}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise DetectorFormatError(f"{path}: broken detector metadata ({type(exc).__name__}: {exc})") from None


def load_detector(path: str | os.PathLike, device: str | torch.device = "cpu") -> Detector:
    """Read a detector file, checking its format, version, kind and every tensor's name and shape."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            info = _info_from_metadata(path, meta)
            try:
                model = build_model(info)
            except (TypeError, ValueError) as exc:
                raise DetectorFormatError(f"{path}: its model settings {info.model} are invalid ({exc})") from None
            expected = model.state_dict()
            names = set(f.keys())
            missing = sorted(set(expected) - names)
            unexpected = sorted(names - set(expected))
            if missing or unexpected:
                raise DetectorFormatError(
                    f"{path}: not a {info.kind} detector of input size {info.input_size}: "
                    + (f"missing tensor {missing[0]}" if missing else f"unexpected tensor {unexpected[0]}")
                    + (f" (and {len(missing) + len(unexpected) - 1} more)" if len(missing) + len(unexpected) > 1
                       else ""))
            state = {}
            for name, want in expected.items():
                got = f.get_tensor(name)
                if tuple(got.shape) != tuple(want.shape):
                    raise DetectorFormatError(f"{path}: tensor {name} has shape {tuple(got.shape)}, a {info.kind} "
                                              f"detector of input size {info.input_size} needs {tuple(want.shape)}")
                if got.is_floating_point() and not torch.isfinite(got).all():
                    raise DetectorFormatError(f"{path}: tensor {name} holds non-finite values")
                state[name] = got.to(want.dtype)
    except FileNotFoundError:
        raise DetectorFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DetectorFormatError(f"{path}: a folder, not a detector file") from None
    except DetectorFormatError:
        raise
    except Exception as exc:  # safetensors' own errors on a corrupt or foreign file
        raise DetectorFormatError(f"{path}: not a readable .safetensors file ({exc})") from None
    model.load_state_dict(state)
    return Detector(info, model).to(device)


