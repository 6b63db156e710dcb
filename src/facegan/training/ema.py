"""The EMA generator (G_ema): an exponential moving average of G's weights, the network used for
every sample, metric and export.

As the official code: the half-life is `ema_kimg` thousand images, so after a minibatch of B images
beta = 0.5 ** (B / (ema_kimg * 1000)); with a ramp-up the half-life is capped at
cur_nimg * ema_rampup early in training. Buffers (w_avg, noise maps) are copied from G.

w_avg, the tracked mean of w that truncation pulls towards, moves here too (`update_w_avg`), once
per step from every process's samples, for the architectures whose traits say they track it.
"""

from __future__ import annotations

import torch
from torch import nn

from facegan.training import distributed as dist


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


@torch.no_grad()
def update_w_avg(G: nn.Module, w_sum: torch.Tensor | None, w_count: int, dist_ctx) -> None:
    """The tracked mean of w, the one place it moves in training: towards this step's mean of the
    first latent's w over every process's G-main samples, with the mapping's `w_avg_beta`."""
    if w_sum is None or not G.tracks_w_avg:
        return
    packed = torch.cat([w_sum, torch.tensor([float(w_count)], device=w_sum.device)])
    dist.all_reduce_sum(packed, dist_ctx)
    G.update_w_avg(packed[:-1] / packed[-1])  # the networks' own running-mean step (w_avg_beta)
