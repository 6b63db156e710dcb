"""Streaming feature statistics: mean and covariance accumulated in float64 batch by batch, and,
for metrics that need every feature (KID, precision/recall), the features kept on disk in float32
(as the official code keeps them) in a memory-mapped file rather than in RAM (50 000 x 2048
features = 400 MB on disk)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


class FeatureStats:
    def __init__(self, dim: int, capture_all: bool = False, capacity: int = 0, store_dir: str | None = None):
        self.dim = dim
        self.count = 0
        self.sum = np.zeros(dim, np.float64)
        self.sum_outer = np.zeros((dim, dim), np.float64)
        self.capture_all = capture_all
        self._store: np.memmap | None = None
        self._store_path: Path | None = None
        if capture_all:
            fd, name = tempfile.mkstemp(suffix=".features", dir=store_dir)
            os.close(fd)
            self._store_path = Path(name)
            self._store = np.memmap(name, dtype=np.float32, mode="w+", shape=(max(capacity, 1), dim))

    def append(self, features: np.ndarray) -> None:
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be [N, {self.dim}], got {x.shape}")
        if self.capture_all:
            if self.count + len(x) > self._store.shape[0]:
                raise ValueError("more features than the capacity given")
            self._store[self.count:self.count + len(x)] = x.astype(np.float32)
        self.sum += x.sum(0)
        self.sum_outer += x.T @ x
        self.count += len(x)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.count < 2:
            raise ValueError("need at least two feature vectors")
        mean = self.sum / self.count
        cov = (self.sum_outer - self.count * np.outer(mean, mean)) / (self.count - 1)
        return mean, cov

    def all(self) -> np.ndarray:
        if not self.capture_all:
            raise ValueError("features were not captured")
        return np.asarray(self._store[:self.count], np.float32)

    def close(self) -> None:
        if self._store is not None:
            del self._store
            self._store = None
            self._store_path.unlink(missing_ok=True)

    def __del__(self):  # noqa: D105 (best effort: temp files of abandoned runs)
        try:
            self.close()
        except Exception:
            pass
