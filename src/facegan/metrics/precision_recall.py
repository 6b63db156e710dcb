"""Improved precision and recall (Kynkäänniemi et al. 2019): each feature set is a manifold made of
balls around its points, of radius the distance to the k-th nearest neighbour (k = 3). Precision =
the fraction of generated points inside the real manifold; recall = the fraction of real points
inside the generated manifold. Distances are computed in blocks, never as one full matrix."""

from __future__ import annotations

import numpy as np
import torch


def _kth_radii(manifold: torch.Tensor, k: int, block: int) -> torch.Tensor:
    radii = []
    for rows in manifold.split(block):
        d = torch.cdist(rows, manifold)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _inside(probes: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, block: int) -> torch.Tensor:
    hits = []
    for rows in probes.split(block):
        hit = torch.zeros(len(rows), dtype=torch.bool)
        for start in range(0, len(manifold), block):
            d = torch.cdist(rows, manifold[start:start + block])
            hit |= (d <= radii[start:start + block]).any(dim=1)
        hits.append(hit)
    return torch.cat(hits)


def precision_recall(real: np.ndarray, gen: np.ndarray, k: int = 3, block: int = 10000) -> tuple[float, float]:
    r = torch.from_numpy(np.asarray(real, np.float32))
    g = torch.from_numpy(np.asarray(gen, np.float32))
    precision = _inside(g, r, _kth_radii(r, k, block), block).float().mean()
    recall = _inside(r, g, _kth_radii(g, k, block), block).float().mean()
    return float(precision), float(recall)
