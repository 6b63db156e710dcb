"""Minibatch standard deviation (ProGAN section 3; StyleGAN/StyleGAN2 discriminators).

The batch is split into groups of `group_size` samples (sample i joins group position i // (N / G),
as the official code reshapes); within each group the standard deviation of every feature is taken,
averaged over channels (in `num_channels` slices) and pixels, and appended as extra feature maps.
"""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStd(nn.Module):
    def __init__(
        self,
        group_size: int | None = 4,  # Samples per group; None = the whole minibatch.
        num_channels: int = 1,       # Number of feature maps appended (channel slices).
    ):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        G = N if self.group_size is None else min(self.group_size, N)
        # The official code needs N divisible by G; rather than fail, use the largest divisor <= G.
        while N % G != 0:
            G -= 1
        F = self.num_channels
        c = C // F
        dtype = torch.promote_types(x.dtype, torch.float32)  # at least fp32 under autocast
        y = x.to(dtype).reshape(G, -1, F, c, H, W)  # [GnFcHW] split the batch into groups
        y = y - y.mean(dim=0)                        # [GnFcHW] subtract the group mean
        y = y.square().mean(dim=0)                   # [nFcHW]  variance over the group
        y = (y + 1e-8).sqrt()                        # [nFcHW]  standard deviation
        y = y.mean(dim=[2, 3, 4])                    # [nF]     average over channels and pixels
        y = y.reshape(-1, F, 1, 1).to(x.dtype)       # [nF11]
        y = y.repeat(G, 1, H, W)                     # [NFHW]   replicate over the group and pixels
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
