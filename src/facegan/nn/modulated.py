"""Modulated and demodulated convolution (StyleGAN2, Karras et al. 2020, section 2.2, eqs. 1-3).

Each sample n scales the input channels of the shared kernel by its style s[n] (modulation),
w'[n,o,i,k] = s[n,i] * w[o,i,k], and, with demodulation, rescales every output channel to unit
expected norm, w''[n,o,i,k] = w'[n,o,i,k] / sqrt(sum_{i,k} w'[n,o,i,k]^2 + 1e-8).

Two ways to compute it, mathematically the same:

- fused (`fused_modconv=True`): build every sample's kernel and run one grouped convolution
  (groups = batch size). What stylegan2-ada-pytorch uses at inference in fp32;
- per-sample activations (`fused_modconv=False`): scale the input by s, convolve with the shared
  kernel, scale the output by the demodulation coefficients. What it uses in training and in fp16
  (the kernel stays shared, so the weight gradient is one ordinary convolution).

The demodulation coefficients are computed without building the per-sample kernels:
sum_{i,k} (s_i w_oik)^2 = sum_i s_i^2 (sum_k w_oik^2), one [N, I] x [I, O] product.

`gain` and `bias` let a layer fold its epilogue in: the output is conv * gain + bias (+ noise * gain),
which the layer then passes through a positively homogeneous activation (see `nn.bias_act`), so that
act(conv + b + noise) * gain == act(conv * gain + b * gain + noise * gain).
"""

from __future__ import annotations

import math

import torch

from facegan.nn.conv_resample import conv2d_resample


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """1 / sqrt(sum_{i,k} (styles[n,i] * weight[o,i,k])^2 + eps), shape [N, O]."""
    wsq = weight.square().sum(dim=[2, 3])                          # [OI]
    return (styles.square() @ wsq.t() + eps).rsqrt()                # [NO]


def modulated_conv2d(
    x: torch.Tensor,                         # Input [N, I, H, W].
    weight: torch.Tensor,                    # Shared kernel [O, I, kh, kw] (fp32 parameter).
    styles: torch.Tensor,                    # Modulation coefficients [N, I].
    noise: torch.Tensor | None = None,       # Added to the output (after demodulation), broadcastable.
    up: int = 1,                             # Integer upsampling factor.
    padding: int = 0,                        # Padding with respect to the upsampled image.
    resample_filter: torch.Tensor | None = None,  # FIR filter for upsampling (from setup_filter).
    demodulate: bool = True,                 # Apply weight demodulation?
    flip_weight: bool = True,                # False = convolution, True = correlation (F.conv2d).
    fused_modconv: bool = True,              # One grouped convolution (True) or per-sample activations (False)?
    gain: float = 1.0,                       # Multiply the convolution output (and the noise) by this.
    bias: torch.Tensor | None = None,        # Per-channel [O] bias added after the gain, in x's dtype.
) -> torch.Tensor:
    N, I = x.shape[0], x.shape[1]
    O, wi, kh, kw = weight.shape
    if wi != I or styles.shape != (N, I):
        raise ValueError(f"modulated_conv2d: input {tuple(x.shape)}, weight {tuple(weight.shape)} and styles "
                         f"{tuple(styles.shape)} do not fit together")
    # Styles, kernels and demodulation in fp32 (fp64 if given), whatever the activations' precision.
    precise = torch.float64 if weight.dtype == torch.float64 else torch.float32
    styles = styles.to(precise)
    weight = weight.to(precise)

    # In reduced precision, pre-normalise the kernel and the styles so that the modulated kernel stays
    # far from overflow; demodulation removes the scale again (as stylegan2-ada-pytorch does for fp16).
    if x.dtype in (torch.float16, torch.bfloat16) and demodulate:
        weight = weight * (1 / math.sqrt(I * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    dcoefs = demodulation_coefficients(weight, styles) if demodulate else None  # [NO]
    if noise is not None:
        noise = (noise * gain if gain != 1 else noise).to(x.dtype)
    # Without autograd the epilogue may overwrite the convolution's output instead of copying it.
    inplace = not torch.is_grad_enabled()

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(N, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        scale = (dcoefs * gain if demodulate else torch.full([N, O], gain, device=x.device)).to(x.dtype)
        scale = scale.reshape(N, O, 1, 1)
        if bias is not None:  # x * scale + bias in one pass
            x = torch.addcmul(bias.to(x.dtype).reshape(1, -1, 1, 1), x, scale)
        else:
            x = x.mul_(scale) if inplace else x * scale
        if noise is not None:
            x = x.add_(noise) if inplace else x + noise
        return x

    # Fused: every sample's kernel, one grouped convolution over the batch folded into channels; the
    # bias rides along in the (last) convolution.
    scale = styles.reshape(N, 1, I) * gain                                  # [N1I]
    if demodulate:
        scale = scale * dcoefs.reshape(N, O, 1)                             # [NOI]
    w = weight.unsqueeze(0) * scale.reshape(*scale.shape, 1, 1)             # [NOIkk]
    w = w.reshape(N * O, I, kh, kw).to(x.dtype)
    x = x.reshape(1, N * I, *x.shape[2:])
    x = conv2d_resample(x, w, f=resample_filter, up=up, padding=padding, groups=N, flip_weight=flip_weight,
                        bias=None if bias is None else bias.repeat(N))
    x = x.reshape(N, O, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise) if inplace else x + noise
    return x
