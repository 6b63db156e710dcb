"""The StyleGAN2 convolution: modulation by a per-sample style, demodulation, optional 2x
up-sampling with a FIR filter, and the fused bias + activation + gain + clamp that follows it.

Modulation scales the input channels of the weight by the style s (w'_oi = s_i w_oi);
demodulation rescales every output channel to unit norm, w''_oi = w'_oi / sqrt(sum_i,k w'_oik^2
+ 1e-8) (Karras et al. 2020, eq. 1-3). Two equivalent ways to run it:

- fused: one grouped convolution with a per-sample weight (cheap when the batch is small and the
  weights are large, e.g. batch 1 at high resolution);
- unfused: scale the activations by s, run one ordinary convolution over the whole batch, and scale
  the result by the demodulation coefficients (far faster on CPUs, whose convolution kernels are
  tuned for batched inputs; the official code trains this way).

Up-sampling follows the official order: a stride-2 transposed convolution with the 3x3 weight,
then the [1,3,3,1] low-pass filter with gain 4 (so padding and rounding match the official
networks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facegan.nn.precision import compute_dtype
from facegan.nn.resample import upfirdn2d

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, activation: str = "linear", gain: float = 1.0,
             clamp: float | None = None, inplace: bool = False) -> torch.Tensor:
    """(x + b) -> activation -> * gain -> clamp to [-clamp, clamp]; b broadcast over dim 1.

    `activation` is 'linear' or 'lrelu' (slope 0.2); the caller folds the activation's default gain
    (sqrt(2) for lrelu) into `gain`, as the official bias_act does. inplace=True overwrites x (only
    without autograd): on CPUs, allocating a fresh activation tensor for every step costs more
    than the arithmetic.
    """
    shape = [1, -1] + [1] * (x.ndim - 2)
    if inplace:
        if b is not None:
            x.add_(b.to(x.dtype).reshape(shape))
        if activation == "lrelu":
            F.leaky_relu_(x, LRELU_SLOPE)
        if gain != 1:
            x.mul_(gain)
        return x.clamp_(-clamp, clamp) if clamp is not None else x
    if b is not None:
        x = x + b.to(x.dtype).reshape(shape)
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1,
               weight_t: torch.Tensor | None = None) -> torch.Tensor:
    """2x up-sampling convolution of a k x k weight [O, I/groups, k, k]: transposed conv, then FIR.

    The output is exactly twice the input size (k = 3 with the 4-tap filter, as StyleGAN2).
    `weight_t` may hold the weight already transposed to [I, O, k, k] (groups = 1).
    """
    out_ch, in_per_group, kh, kw = weight.shape
    if weight_t is not None:
        wt = weight_t
    elif groups == 1:
        wt = weight.transpose(0, 1)
    else:
        wt = weight.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=2, groups=groups)
    fw = f.shape[-1]
    p0 = (fw + 1) // 2 + kw // 2 - (kw - 1)   # padding of the official conv2d_resample for up=2
    p1 = (fw - 2) // 2 + kw // 2 - (kw - 2)
    return upfirdn2d(x, f, padding=[p0, p1, p0, p1], gain=4)


def conv2d_down2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x down-sampling convolution: FIR with padding, then a stride-2 convolution (k x k)."""
    kh = weight.shape[-1]
    fw = f.shape[-1]
    if kh == 1:
        p0, p1 = (fw - 1) // 2, (fw - 2) // 2
        x = upfirdn2d(x, f, down=2, padding=[p0, p1, p0, p1])
        return F.conv2d(x, weight)
    p0 = kh // 2 + (fw - 1) // 2
    p1 = kh // 2 + (fw - 2) // 2
    x = upfirdn2d(x, f, padding=[p0, p1, p0, p1])
    return F.conv2d(x, weight, stride=2)


def fp16_prenormalize(weight: torch.Tensor) -> torch.Tensor:
    """The official scaling of a weight [O, I, k, k] before a demodulated float16 convolution: every
    output channel to max |w| = 1 / sqrt(I k k), so that products stay in float16's range."""
    fan_in = weight[0].numel()
    return weight * (1 / math.sqrt(fan_in) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))


def modulated_conv2d(
    x: torch.Tensor,                  # Input [N, I, H, W].
    weight: torch.Tensor,             # Weight [O, I, k, k] (already scaled as needed).
    styles: torch.Tensor,             # Per-sample input-channel scales [N, I].
    demodulate: bool = True,          # Normalise each output channel of the modulated weight.
    up: int = 1,                      # 1 or 2.
    resample_filter: torch.Tensor | None = None,  # FIR filter for up-sampling.
    fused: bool = False,              # One grouped convolution instead of scaled activations.
    noise: torch.Tensor | None = None,  # Added after demodulation (broadcast to [N, O, H, W]).
    inplace_input: bool = False,      # x may be overwritten (inference only: the caller no longer needs it).
    weight_sq: torch.Tensor | None = None,  # Precomputed sum_k weight^2 [O, I] of `weight` (see WeightCache).
    weight_t: torch.Tensor | None = None,   # Precomputed contiguous weight.transpose(0, 1), for up=2.
    weight_prenormalized: bool = False,     # `weight` already had fp16_prenormalize applied (WeightCache).
) -> torch.Tensor:
    N, I, H, W = x.shape
    O, _, kh, kw = weight.shape
    assert styles.shape == (N, I), f"styles must be [{N}, {I}], got {tuple(styles.shape)}"
    if x.dtype == torch.float16 and demodulate:
        # Pre-normalise to keep fp16 from overflowing (the result is unchanged by demodulation).
        if not weight_prenormalized:
            weight = fp16_prenormalize(weight)
            weight_sq = weight_t = None  # they describe the weight before the scaling
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = None
    if demodulate:
        # sum_i,k (s_i w_oik)^2 = sum_i s_i^2 (sum_k w_oik^2): no need to build per-sample weights.
        wsq = weight_sq if weight_sq is not None else \
            weight.to(compute_dtype(weight.dtype)).square().sum(dim=[2, 3])  # [O, I]
        dcoefs = (styles.to(wsq.dtype).square() @ wsq.t() + 1e-8).rsqrt()   # [N, O]

    if kh == kw == 1 and up == 1 and not demodulate:
        # A 1x1 modulated conv (ToRGB) is a per-sample matrix product: no scaled copy of x needed.
        w = (weight[:, :, 0, 0].unsqueeze(0) * styles.unsqueeze(1)).to(x.dtype)   # [N, O, I]
        y = torch.matmul(x.permute(0, 2, 3, 1), w.transpose(1, 2).unsqueeze(1))  # [N, H, W, O]
        y = y.permute(0, 3, 1, 2)
        return y if noise is None else y + noise.to(y.dtype)
    if not fused:
        s = styles.to(x.dtype).reshape(N, I, 1, 1)
        x = x.mul_(s) if inplace_input and not torch.is_grad_enabled() else x * s
        w = weight if weight.dtype == x.dtype else weight.to(x.dtype)
        if up == 2:
            x = conv2d_up2(x, w, resample_filter, weight_t=weight_t)
        else:
            x = F.conv2d(x, w, padding=kh // 2)
        inplace = not torch.is_grad_enabled()  # x is the convolution's fresh output
        if dcoefs is not None:
            d = dcoefs.to(x.dtype).reshape(N, O, 1, 1)
            x = x.mul_(d) if inplace else x * d
        if noise is not None:
            x = x.add_(noise.to(x.dtype)) if inplace else x + noise.to(x.dtype)
        return x

    w = weight.unsqueeze(0) * styles.reshape(N, 1, I, 1, 1).to(weight.dtype)   # [N, O, I, k, k]
    if dcoefs is not None:
        w = w * dcoefs.reshape(N, O, 1, 1, 1).to(w.dtype)
    w = w.reshape(N * O, I, kh, kw).to(x.dtype)
    x = x.reshape(1, N * I, H, W)
    if up == 2:
        x = conv2d_up2(x, w, resample_filter, groups=N)
    else:
        x = F.conv2d(x, w, padding=kh // 2, groups=N)
    x = x.reshape(N, O, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise.to(x.dtype)) if not torch.is_grad_enabled() else x + noise.to(x.dtype)
    return x


class WeightCache:
    """Per-layer cache of what inference derives from a weight alone: its copy in the compute dtype
    (transposed for up-sampling layers), and the demodulation's sum of squares of that very copy.
    In float16 the copy is the pre-normalised weight (fp16_prenormalize, computed in full precision
    and then rounded once, as the official code), and `weight_prenormalized` says so. The result is
    keyword arguments of modulated_conv2d for a demodulated layer. Used only without autograd; an
    in-place update of the weight (an optimiser step, load_state_dict) bumps its version and
    invalidates the entry."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._value: dict = {}

    def get(self, weight: torch.Tensor, dtype: torch.dtype, transpose: bool = False) -> dict:
        key = (weight.data_ptr(), weight._version, dtype, weight.device, transpose)
        if self._key != key:
            w = weight.detach().to(compute_dtype(weight.dtype))
            prenormalize = dtype == torch.float16
            if prenormalize:
                w = fp16_prenormalize(w)
            self._value = {"weight": w.to(dtype), "weight_sq": w.square().sum(dim=[2, 3]),
                           "weight_prenormalized": prenormalize}
            if transpose:
                self._value["weight_t"] = w.to(dtype).transpose(0, 1).contiguous()
            self._key = key
        return self._value
