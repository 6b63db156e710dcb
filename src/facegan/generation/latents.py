"""Seeds to latents, exactly as the official scripts draw them, so the same seed names the same face:
z = np.random.RandomState(seed).randn(1, z_dim)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from facegan.errors import ConfigError


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The latent [1, z_dim] (float64, as NumPy draws it) of one seed."""
    if not 0 <= int(seed) < 2**32:
        raise ConfigError(f"seed must be in [0, 2**32), got {seed}")
    return np.random.RandomState(int(seed)).randn(1, z_dim)


def seeds_to_z(seeds: Iterable[int], z_dim: int) -> np.ndarray:
    """The latents [len(seeds), z_dim] of several seeds, one RandomState each."""
    seeds = list(seeds)
    if not seeds:
        return np.zeros((0, z_dim))
    return np.concatenate([seed_to_z(s, z_dim) for s in seeds], axis=0)
