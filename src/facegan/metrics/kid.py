"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² estimate with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets (official: 100 subsets of
at most 1000 features each)."""

from __future__ import annotations

import numpy as np


def kernel_distance(real: np.ndarray, gen: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
                    seed: int = 0) -> float:
    rng = np.random.RandomState(seed)
    d = real.shape[1]
    m = min(len(real), len(gen), max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least two features on each side")
    total = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(len(gen), m, replace=False)].astype(np.float64)
        y = real[rng.choice(len(real), m, replace=False)].astype(np.float64)
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)
