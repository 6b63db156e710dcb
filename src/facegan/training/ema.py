"""The EMA generator (G_ema): an exponential moving average of G's weights, the network used for
every sample, metric and export.

As the official code: the half-life is `ema_kimg` thousand images, so after a minibatch of B images
beta = 0.5 ** (B / (ema_kimg * 1000)); with a ramp-up the half-life is capped at
cur_nimg * ema_rampup early in training. Buffers (w_avg, noise maps) are copied from G.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, ema_kimg: float, cur_nimg: int, rampup: float | None = None) -> float:
    if ema_kimg <= 0:
        return 0.0
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
