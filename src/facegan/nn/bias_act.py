"""Bias, activation, gain and clamp: the epilogue of every StyleGAN2 layer.

    y = clamp(act(x + b) * gain, -clamp, +clamp)

The default gain of an activation keeps the signal's second moment (He et al.): sqrt(2) after a
(leaky) ReLU, 1 after a linear layer. The clamp (`conv_clamp` in the official configs, 256) guards
fp16 against overflow; it is applied in every precision so that fp32 and fp16 compute the same
function. Plain PyTorch ops: differentiable twice, runs on every device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# name -> default gain. Every activation here is positively homogeneous (act(g x) = g act(x) for
# g > 0), which lets the networks fold gains into weights; keep it so when adding one.
ACTIVATION_GAINS = {
    "linear": 1.0,
    "relu": math.sqrt(2),
    "lrelu": math.sqrt(2),   # leaky ReLU with slope 0.2
}
LRELU_SLOPE = 0.2


def check_activation(act: str) -> str:
    if act not in ACTIVATION_GAINS:
        raise ValueError(f"unknown activation {act!r}; known: {', '.join(ACTIVATION_GAINS)}")
    return act


def activate(x: torch.Tensor, act: str, inplace: bool = False) -> torch.Tensor:
    """The activation alone, without bias or gain."""
    if act == "lrelu":
        return F.leaky_relu(x, LRELU_SLOPE, inplace=inplace)
    if act == "relu":
        return F.relu(x, inplace=inplace)
    return x


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, dim: int = 1) -> torch.Tensor:
    """Add the bias `b` (along `dim`), apply `act`, multiply by `gain` (None = the default gain of
    `act`), clamp to +-`clamp` (None = no clamp)."""
    gain = ACTIVATION_GAINS[check_activation(act)] if gain is None else float(gain)
    if b is not None:
        x = x + b.to(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = activate(x, act)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) along `dim`: the pixel norm StyleGAN applies to z and label embeddings."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
