"""Perceptual path length (Karras et al. 2019): the LPIPS distance between images an ε step apart
along random interpolation paths, divided by ε², with the extreme 1% on either side dropped.

Settings of the official metrics (stylegan2-ada-pytorch's perceptual_path_length.py): ε = 1e-4;
`w` space: linear interpolation of mapped latents, `z` space: spherical interpolation of the latents
scaled to unit length; 'end' samples t = 0 (path end points), 'full' t ~ U(0, 1); the legacy `ppl_*`
metrics crop the face (rows 3/8-7/8, columns 2/8-6/8) while `ppl2_wend` uses the whole image; then
images are box-downsampled by resolution / 256 (so a cropped 1024x1024 face is measured at
128x128, as the official code does). Each batch draws fresh noise maps and keeps them fixed between
the two ends of a step (constant noise). The synthesis runs with force_fp32=True: ε-sized
differences would drown in float16.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from facegan.generation.interpolate import slerp


class PixelDistance(torch.nn.Module):
    """The documented fallback when no LPIPS weights are available: the mean squared difference of
    the images in [0, 255] over all pixels. NOT comparable to published PPL numbers (which use LPIPS)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a - b) * 127.5).square().flatten(1).mean(1)


def unit_slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between a and b scaled to unit length (the official PPL's slerp):
    a point on the unit sphere, whatever the lengths of a and b."""
    out = slerp(a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True), t)
    return out / out.norm(dim=-1, keepdim=True)


@torch.no_grad()
def path_lengths(G, distance, num_samples: int, epsilon: float = 1e-4, space: str = "w", sampling: str = "end",
                 crop: bool = False, batch: int = 8, device="cpu", labels=None, seed: int = 0) -> np.ndarray:
    G = copy.deepcopy(G).eval().to(device)   # noise buffers are re-drawn below: never touch the caller's G
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.RandomState(seed)
    noise_buffers = [b for name, b in G.named_buffers() if name.endswith("noise_const")]
    out = []
    for start in range(0, num_samples, batch):
        n = min(batch, num_samples - start)
        t = torch.rand([n], generator=gen) * (1 if sampling == "full" else 0)
        z0, z1 = torch.randn([2 * n, G.z_dim], generator=gen).to(device).chunk(2)
        c = None
        if G.c_dim:
            c = torch.from_numpy(np.stack([labels(int(i)) for i in rng.randint(1 << 31, size=n)])).to(device)
        c2 = None if c is None else torch.cat([c, c])
        t = t.to(device)
        if space == "w":
            w0, w1 = G.mapping(torch.cat([z0, z1]), c2).chunk(2)
            wt0 = torch.lerp(w0, w1, t[:, None, None])
            wt1 = torch.lerp(w0, w1, t[:, None, None] + epsilon)
        else:
            zt0 = unit_slerp(z0, z1, t[:, None])
            zt1 = unit_slerp(z0, z1, t[:, None] + epsilon)
            wt0, wt1 = G.mapping(torch.cat([zt0, zt1]), c2).chunk(2)
        for b in noise_buffers:
            b.copy_(torch.randn(b.shape, generator=gen).to(b))
        img = G.synthesis(torch.cat([wt0, wt1]), noise_mode="const", force_fp32=True)
        if crop:
            k = img.shape[2] // 8
            img = img[:, :, k * 3:k * 7, k * 2:k * 6]
        factor = G.img_resolution // 256
        if factor > 1:
            img = torch.nn.functional.avg_pool2d(img, factor)
        if img.shape[1] == 1:
            img = img.repeat(1, 3, 1, 1)
        a, b = img.chunk(2)
        out.append((distance(a, b) / epsilon ** 2).cpu().numpy())
    return np.concatenate(out)


def filtered_mean(dist: np.ndarray) -> float:
    """Mean of the distances between the 1st and 99th percentiles (the official filter)."""
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(dist[(dist >= lo) & (dist <= hi)].mean())
