"""Sliced Wasserstein distance (Karras et al. 2018, ProGAN, appendix D): a multi-scale statistical
distance that needs no pretrained network.

Each image is decomposed into a Laplacian pyramid (5-tap binomial filter, mirrored borders) from
the full resolution down to 16x16. From every level, 128 random 7x7 neighbourhoods per image are
taken as descriptors; each level's descriptors are normalised per channel (mean and standard
deviation over all descriptors of that set), and the sliced Wasserstein distance between the real
and generated descriptor sets is estimated with 4 x 128 random unit directions (sorted 1-D
projections, mean absolute difference). Reported x1e3 per level and averaged, as ProGAN's
`SWDx1e3_<res>` / `SWDx1e3_avg`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NHOOD = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
_G1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
GAUSS = (_G1[:, None] * _G1[None, :]) / 256.0


def _filter(x: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    x = F.pad(x, [2, 2, 2, 2], mode="reflect")
    return F.conv2d(x, GAUSS.to(x).expand(c, 1, 5, 5), groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _filter(x)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = torch.zeros(n, c, h * 2, w * 2, dtype=x.dtype, device=x.device)
    up[:, :, ::2, ::2] = x
    return _filter(up) * 4


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid = [x.float()]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def descriptors(level: torch.Tensor, rng: np.random.RandomState) -> np.ndarray:
    """NHOODS_PER_IMAGE random 7x7 patches per image: [N * 128, C, 7, 7]."""
    n, c, h, w = level.shape
    half = NHOOD // 2
    ys = rng.randint(half, h - half, size=(n, NHOODS_PER_IMAGE))
    xs = rng.randint(half, w - half, size=(n, NHOODS_PER_IMAGE))
    idx_n = torch.from_numpy(np.repeat(np.arange(n), NHOODS_PER_IMAGE))
    ys, xs = torch.from_numpy(ys.ravel()), torch.from_numpy(xs.ravel())
    offsets = torch.arange(-half, half + 1)
    rows = (ys[:, None] + offsets[None, :])[:, :, None].expand(-1, NHOOD, NHOOD)     # [M, 7, 7]
    cols = (xs[:, None] + offsets[None, :])[:, None, :].expand(-1, NHOOD, NHOOD)
    out = level.permute(0, 2, 3, 1)[idx_n[:, None, None], rows, cols]                 # [M, 7, 7, C]
    return out.permute(0, 3, 1, 2).cpu().numpy()


def _normalise(desc: np.ndarray) -> np.ndarray:
    desc = desc - desc.mean(axis=(0, 2, 3), keepdims=True)
    desc = desc / desc.std(axis=(0, 2, 3), keepdims=True)
    return desc.reshape(len(desc), -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.RandomState) -> float:
    results = []
    for _ in range(DIR_REPEATS):
        dirs = rng.randn(a.shape[1], DIRS_PER_REPEAT)
        dirs /= np.sqrt((dirs ** 2).sum(axis=0, keepdims=True))
        dirs = dirs.astype(np.float32)
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(results))


def swd_levels(resolution: int) -> list[int]:
    res, out = resolution, []
    while res >= 16:
        out.append(res)
        res //= 2
    return out


class SWDAccumulator:
    """Collects descriptors batch by batch (uint8-range float images [N, C, H, W])."""

    def __init__(self, resolution: int, seed: int = 0):
        self.levels = swd_levels(resolution)
        if not self.levels:
            raise ValueError("SWD needs images of at least 16x16")
        self.rng = np.random.RandomState(seed)
        self.desc: list[list[np.ndarray]] = [[] for _ in self.levels]

    def append(self, images: torch.Tensor) -> None:
        pyramid = laplacian_pyramid(images.float().cpu(), len(self.levels))
        for i, level in enumerate(pyramid):
            self.desc[i].append(descriptors(level, self.rng).astype(np.float32))

    def finalize(self) -> list[np.ndarray]:
        return [_normalise(np.concatenate(d)) for d in self.desc]


def swd(real: SWDAccumulator, gen: SWDAccumulator, seed: int = 0) -> dict[str, float]:
    rng = np.random.RandomState(seed)
    dists = [sliced_wasserstein(a, b, rng) * 1e3 for a, b in zip(real.finalize(), gen.finalize())]
    out = {f"SWDx1e3_{res}": d for res, d in zip(real.levels, dists)}
    out["SWDx1e3_avg"] = float(np.mean(dists))
    return out
