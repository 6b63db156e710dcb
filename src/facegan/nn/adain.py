"""Normalisation and style of StyleGAN (v1): pixel norm, instance norm and the style modulation
that together form AdaIN (Huang & Belongie 2017; Karras et al. 2018, section 2).

- `pixel_norm(x)`: x / sqrt(mean(x^2 over features) + eps), eps = 1e-8 (the latent z, ProGAN's G).
- `instance_norm(x)`: per sample and channel, subtract the spatial mean and divide by the spatial
  standard deviation (biased, + eps 1e-8 inside the square root); statistics in float32.
- `style_modulate(x, style)`: the style [N, 2C] from the layer's own affine map of w is split into
  (scale, shift) and applied as x * (scale + 1) + shift; the +1 is applied here, at run time, so the
  stored affine bias keeps the official meaning (zero = identity scale).
- `adain(x, style)`: instance norm then style modulation, folded into one multiply-add per element
  after centring ((x - m) * a + b with a, b per sample and channel): the same arithmetic, regrouped.
"""

from __future__ import annotations

import torch


def pixel_norm(x: torch.Tensor, eps: float = 1e-8, dim: int = 1) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


def _may_overwrite(x: torch.Tensor) -> bool:
    """Whether an in-place update of x is invisible to autograd (nothing will differentiate through x)."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def _centered(x: torch.Tensor, inplace: bool) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(x - spatial mean) in float32 (or float64), the biased spatial variance [N, C, 1, 1], and whether the
    returned tensor is ours to overwrite.

    Two passes, as the official code: the mean, then the mean square of the centred values. (The
    one-pass E[x^2] - E[x]^2 loses digits when the mean is large; torch.var_mean's Welford loop is
    ~20x slower on CPU.) With `inplace` the centring overwrites x, saving an allocation.
    """
    xf = x.to(torch.promote_types(x.dtype, torch.float32))  # float16/bfloat16 -> float32
    own = xf is not x or (inplace and _may_overwrite(x))
    mean = xf.mean(dim=(2, 3), keepdim=True)
    xc = xf.sub_(mean) if own else xf - mean
    var = torch.linalg.vector_norm(xc, dim=(2, 3), keepdim=True).square() / (x.shape[2] * x.shape[3])
    return xc, var, own


def _scale_shift(xc: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None, own: bool) -> torch.Tensor:
    """xc * a + b, overwriting xc when it is ours and nothing differentiates through it."""
    if own and _may_overwrite(xc) and _may_overwrite(a):
        xc = xc.mul_(a)
        return xc if b is None else xc.add_(b)
    return xc * a if b is None else torch.addcmul(b, xc, a)


def instance_norm(x: torch.Tensor, eps: float = 1e-8, inplace: bool = False) -> torch.Tensor:
    """Normalise every [H, W] map of an NCHW tensor to zero mean and unit variance (float32 inside).

    `inplace=True` may overwrite x (never when a gradient flows through it).
    """
    xc, var, own = _centered(x, inplace)
    return _scale_shift(xc, torch.rsqrt(var + eps), None, own).to(x.dtype)


def style_modulate(x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """x [N, C, H, W], style [N, 2C] = (scale, shift) -> x * (scale + 1) + shift."""
    scale, shift = style.to(x.dtype).unflatten(1, (2, -1)).unbind(1)
    return torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None] + 1)


def adain(x: torch.Tensor, style: torch.Tensor, eps: float = 1e-8, inplace: bool = False) -> torch.Tensor:
    """style_modulate(instance_norm(x), style) with one multiply-add after the centring.

    (x - m) / sqrt(v + eps) * (s + 1) + b = (x - m) * a + b with a = (s + 1) / sqrt(v + eps), all in
    float32, then cast back to x's dtype. `inplace=True` may overwrite x (never when a gradient
    flows through it).
    """
    xc, var, own = _centered(x, inplace)
    scale, shift = style.to(xc.dtype).unflatten(1, (2, -1)).unbind(1)
    a = (scale[:, :, None, None] + 1) * torch.rsqrt(var + eps)
    return _scale_shift(xc, a, shift[:, :, None, None], own).to(x.dtype)
